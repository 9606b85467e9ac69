//! The reference SockJS service (PROTOCOL.md §1) for conformance tests,
//! and the services the benchmarks use besides: `/push` (push-only, for
//! the floods), `/rooms` and `/multiplex` (rooms).
//!
//! ```text
//! cargo run --release -p sockjs-examples --bin test-server -- \
//!     --framework actix|warp|axum --listen 127.0.0.1:8081 [--sockjs-url URL] \
//!     [--heartbeat-ms MS] [--request-timeout-ms MS] [--metrics-listen ADDR] \
//!     [--tls-cert PEM --tls-key PEM] [--ws-deflate] \
//!     [--redis URL | --redis-cluster URL[,URL...] | --nats URL]
//! ```
//!
//! `--heartbeat-ms` changes every service's heartbeat delay (default 25 s);
//! the benchmarks use it to measure idle sessions across heartbeats.
//! `--request-timeout-ms` is how long a connection may take to send a whole
//! request head, from its opening or the end of its previous response,
//! before the server closes it (default 10 s).
//!
//! `--metrics-listen ADDR` serves the endpoints' `sockjs_*` series in
//! Prometheus text format at `http://ADDR/metrics` (sockjs-core's `metrics`
//! feature with metrics-exporter-prometheus's recorder).
//!
//! `axum` serves every endpoint through an axum `Router` with sockjs-tower,
//! on hyper-util's auto builder (HTTP/1.1 and h2c, websockets over HTTP/2
//! extended CONNECT too).
//!
//! `--ws-deflate` offers permessage-deflate (RFC 7692) on every endpoint's
//! websockets, with the default [`sockjs_core::Deflate`] settings.
//!
//! `--redis URL` (a standalone Redis) or `--redis-cluster URL,...` (any
//! nodes of a Redis Cluster 7) give every endpoint one rooms registry with
//! a `sockjs_redis::RedisBroker` (prefix `sockjs-test`): rooms then span
//! every test-server on that Redis. Without them rooms are per process.
//!
//! `--nats URL` does the same over NATS, with a `sockjs_nats::NatsBroker`
//! (subjects under `sockjs-test`). One broker at a time.
//!
//! `/rooms` is what the rooms benchmarks talk to (`sockjs_examples::rooms`):
//! a session's first message names the room it joins, and the server
//! answers `joined`; each later message goes to every other member of that
//! room (with `--redis` or `--nats`, on every test-server on that broker).
//! A benchmark opens its receivers, has each send its room's name and wait
//! for `joined`, then sends into each room from one more session of it.
//!
//! `--tls-cert` and `--tls-key` (PEM files: the chain, leaf first, and its
//! private key) serve HTTPS and WSS instead, through rustls: HTTP/2 by ALPN
//! with axum and actix, HTTP/1.1 with warp (`sockjs_examples::tls`).

use std::net::TcpListener;
use std::process::ExitCode;
use std::time::Duration;

enum Server {
    Actix(sockjs_examples::ActixServer),
    Warp(sockjs_examples::WarpServer),
    Axum(sockjs_examples::AxumServer),
}

fn main() -> ExitCode {
    let mut framework = "actix".to_string();
    let mut listen = "127.0.0.1:8081".to_string();
    let mut sockjs_url = sockjs_core::DEFAULT_SOCKJS_URL.to_string();
    let mut heartbeat = None;
    let (mut tls_cert, mut tls_key) = (None, None);
    let mut metrics_listen = None;
    let mut deflate = false;
    let mut redis = None;
    let mut nats = None;
    let mut options = sockjs_examples::ServeOptions::new(2);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--ws-deflate" {
            deflate = true;
            continue;
        }
        let value = args.next();
        match (arg.as_str(), value) {
            ("--framework", Some(v)) => framework = v,
            ("--listen", Some(v)) => listen = v,
            ("--sockjs-url", Some(v)) => sockjs_url = v,
            ("--metrics-listen", Some(v)) => metrics_listen = Some(v),
            ("--nats", Some(v)) => nats = Some(v),
            ("--heartbeat-ms", Some(v)) if v.parse::<u64>().is_ok_and(|ms| ms > 0) => {
                heartbeat = v.parse().ok().map(Duration::from_millis);
            }
            ("--request-timeout-ms", Some(v)) if v.parse::<u64>().is_ok_and(|ms| ms > 0) => {
                options.request_timeout = v.parse().map(Duration::from_millis).unwrap_or(options.request_timeout);
            }
            ("--redis", Some(v)) => redis = Some(sockjs_redis::RedisConfig::standalone(&v)),
            ("--redis-cluster", Some(v)) => {
                redis = Some(sockjs_redis::RedisConfig::cluster(&v.split(',').collect::<Vec<_>>()));
            }
            ("--tls-cert", Some(v)) => tls_cert = Some(std::path::PathBuf::from(v)),
            ("--tls-key", Some(v)) => tls_key = Some(std::path::PathBuf::from(v)),
            _ => {
                eprintln!(
                    "usage: test-server [--framework actix|warp|axum] [--listen ADDR] [--sockjs-url URL] [--heartbeat-ms MS] \
                     [--request-timeout-ms MS] [--metrics-listen ADDR] [--tls-cert PEM --tls-key PEM] [--ws-deflate] \
                     [--redis URL | --redis-cluster URL[,URL...] | --nats URL]"
                );
                return ExitCode::from(2);
            }
        }
    }
    match (tls_cert, tls_key) {
        (None, None) => {}
        (Some(cert), Some(key)) => match sockjs_examples::tls::server_config_from_pem(&cert, &key) {
            Ok(config) => options.tls = Some(config),
            Err(e) => {
                eprintln!("cannot use the TLS certificate: {e}");
                return ExitCode::FAILURE;
            }
        },
        _ => {
            eprintln!("--tls-cert and --tls-key go together");
            return ExitCode::from(2);
        }
    }
    let listener = match TcpListener::bind(&listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The recorder goes in before the endpoints serve anything.
    let _metrics = match metrics_listen.map(|addr| serve_metrics(&addr)).transpose() {
        Ok(server) => server,
        Err(e) => {
            eprintln!("cannot serve metrics: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The broker's tasks run on a runtime of their own, for the process's life.
    let rooms = match (redis, nats) {
        (Some(_), Some(_)) => {
            eprintln!("--redis, --redis-cluster and --nats: one broker at a time");
            return ExitCode::from(2);
        }
        (redis, nats) => redis.map(rooms_with_redis).or_else(|| nats.map(|url| rooms_with_nats(&url))).transpose(),
    };
    let rooms = match rooms {
        Ok(rooms) => rooms,
        Err(e) => {
            eprintln!("cannot use the broker: {e}");
            return ExitCode::from(2);
        }
    };
    let endpoints = sockjs_examples::reference_endpoints_with(|options| {
        let mut options = options.sockjs_url(&sockjs_url);
        if let Some((rooms, _)) = &rooms {
            options = options.rooms(rooms.clone());
        }
        if deflate {
            options = options.websocket_deflate(sockjs_core::Deflate::new());
        }
        match heartbeat {
            Some(delay) => options.heartbeat_delay(delay),
            None => options,
        }
    });
    let server = match framework.as_str() {
        "actix" => {
            sockjs_examples::serve_actix_with(listener, endpoints, options).map(|s| (s.addr(), Server::Actix(s)))
        }
        "warp" => sockjs_examples::serve_warp_with(listener, endpoints, options).map(|s| (s.addr(), Server::Warp(s))),
        "axum" => sockjs_examples::serve_axum_with(listener, endpoints, options).map(|s| (s.addr(), Server::Axum(s))),
        other => {
            eprintln!("unknown framework {other:?} (expected actix, warp or axum)");
            return ExitCode::from(2);
        }
    };
    match server {
        Ok((addr, server)) => {
            println!("test-server ({framework}) listening on {addr}");
            let result = match server {
                Server::Actix(s) => s.wait(),
                Server::Warp(s) => s.wait(),
                Server::Axum(s) => s.wait(),
            };
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("server error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("cannot start the server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A rooms registry whose broker is Redis, and the runtime its tasks run on.
fn rooms_with_redis(
    config: sockjs_redis::RedisConfig,
) -> Result<(sockjs_core::rooms::Rooms, tokio::runtime::Runtime), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("redis-broker")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let broker = {
        let _in_runtime = runtime.enter();
        sockjs_redis::RedisBroker::connect(config.prefix("sockjs-test")).map_err(|e| e.to_string())?
    };
    let entropy = sockjs_driver::entropy;
    let node = sockjs_core::rooms::NodeId::new(u64::from(entropy()) << 32 | u64::from(entropy()));
    let rooms = sockjs_core::rooms::Rooms::builder().broker(broker, node).label("test-server").build();
    Ok((rooms, runtime))
}

/// A rooms registry whose broker is NATS, and the runtime its tasks run on.
fn rooms_with_nats(url: &str) -> Result<(sockjs_core::rooms::Rooms, tokio::runtime::Runtime), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("nats-broker")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let broker = runtime.block_on(sockjs_nats::NatsBroker::connect(url, "sockjs-test")).map_err(|e| e.to_string())?;
    let entropy = sockjs_driver::entropy;
    let node = sockjs_core::rooms::NodeId::new(u64::from(entropy()) << 32 | u64::from(entropy()));
    let rooms = sockjs_core::rooms::Rooms::builder().broker(broker, node).label("test-server").build();
    Ok((rooms, runtime))
}

/// Installs the Prometheus recorder and serves it at `http://ADDR/metrics`.
fn serve_metrics(addr: &str) -> Result<sockjs_examples::AxumServer, String> {
    let listener = TcpListener::bind(addr).map_err(|e| format!("{addr}: {e}"))?;
    let handle = sockjs_examples::install_recorder()?;
    let server = sockjs_examples::serve_metrics(listener, handle).map_err(|e| e.to_string())?;
    println!("test-server metrics on http://{}/metrics", server.addr());
    Ok(server)
}
