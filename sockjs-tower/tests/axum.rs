//! sockjs-tower in an axum Router, in each of the three forms the crate
//! docs describe: `nest_service` (axum strips the prefix from the URI it
//! hands on), `route_service` (whole paths) and the layer (which passes
//! other paths to the router). Each must route PROTOCOL.md §3's URLs the
//! same way, give the session its full URI, and report the client address
//! from axum's `ConnectInfo`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::connect_info::ConnectInfo;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use sockjs_tower::{Options, Session, SockJsService};

/// Sends the session's client address and URI, then echoes.
async fn whoami(mut session: Session) {
    let addr = session.remote_addr().map_or("none".to_string(), |a| a.ip().to_string());
    let _ = session.send(format!("{addr} {}", session.uri().path()));
    while let Some(message) = session.recv().await {
        let _ = session.send(message);
    }
}

fn service(prefix: &str) -> SockJsService {
    SockJsService::new(Options::new(prefix), whoami)
        .remote_addr(|extensions| extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0))
}

/// One HTTP/1.1 request on a new connection: status and body.
async fn fetch(addr: SocketAddr, method: &str, path: &str, body: &'static str) -> (u16, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[test]
fn nest_service_route_service_and_layer_serve_the_same_urls() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let route = service("/route");
        let app = Router::new()
            .route("/hello", get(|| async { "Hello!" }))
            .nest_service("/nest", service("/nest"))
            .route_service("/route", route.clone())
            .route_service("/route/", route.clone())
            .route_service("/route/{*rest}", route)
            .layer(service("/layer").layer());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
        });
        tokio::time::timeout(Duration::from_secs(20), async {
            assert_eq!(fetch(addr, "GET", "/hello", "").await, (200, "Hello!".into()), "the router's own route");
            for prefix in ["/nest", "/route", "/layer"] {
                let greeting = (200, "Welcome to SockJS!\n".to_string());
                assert_eq!(fetch(addr, "GET", prefix, "").await, greeting, "{prefix}: §7.1 greeting");
                assert_eq!(fetch(addr, "GET", &format!("{prefix}/"), "").await, greeting, "{prefix}/: §7.1");
                let (status, info) = fetch(addr, "GET", &format!("{prefix}/info"), "").await;
                assert_eq!(status, 200, "{prefix}/info: §7.2");
                assert!(info.starts_with(r#"{"websocket":true"#), "{prefix}/info: {info}");
                assert_eq!(fetch(addr, "GET", &format!("{prefix}/a/b/c/d"), "").await.0, 404, "{prefix}: §3 404");
                let poll = format!("{prefix}/000/s/xhr");
                assert_eq!(fetch(addr, "POST", &poll, "").await, (200, "o\n".into()), "{prefix}: §7.4 open");
                let first = format!("a[\"127.0.0.1 {poll}\"]\n");
                assert_eq!(fetch(addr, "POST", &poll, "").await, (200, first), "{prefix}: address and full URI");
                let send = format!("{prefix}/000/s/xhr_send");
                assert_eq!(fetch(addr, "POST", &send, r#"["x"]"#).await.0, 204, "{prefix}: §7.5 send");
                assert_eq!(fetch(addr, "POST", &poll, "").await, (200, "a[\"x\"]\n".into()), "{prefix}: echo");
            }
            assert_eq!(fetch(addr, "GET", "/elsewhere", "").await.0, 404, "the router's fallback");
        })
        .await
        .expect("the requests finish in time");
        server.abort();
    });
}
