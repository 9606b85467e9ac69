//! The websocket transport (PROTOCOL.md §7.10): one text frame per SockJS
//! frame, a JSON array per text frame sent.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use http::header::{HeaderMap, HeaderValue, COOKIE};
use http::Uri;
use tokio::net::TcpStream;
use tokio::task::AbortHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::frame::{encode_messages, Frame};
use crate::session::{close_now, run_receiver, Command, Inbound, Limits, Next, Outbox, Parts, Shared};
use crate::socket::{Io, Tls};
use crate::{Close, Error};

type Ws = WebSocketStream<Io>;

/// Connects (over TLS for `wss://`) and makes the handshake, with the
/// caller's headers and the cookies (bounded by the caller's open
/// timeout).
pub(crate) async fn connect(
    uri: Uri,
    headers: &HeaderMap,
    cookies: Option<HeaderValue>,
    tls: Option<&Tls>,
    limits: Limits,
) -> Result<Ws, Error> {
    let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
    let tls = if uri.scheme_str() == Some("wss") { tls } else { None };
    let socket_uri = uri.clone();
    let mut request = uri.into_client_request()?;
    for (name, value) in headers {
        request.headers_mut().append(name, value.clone());
    }
    if let Some(cookies) = cookies {
        request.headers_mut().insert(COOKIE, cookies);
    }
    let tcp =
        TcpStream::connect(&authority).await.map_err(|e| Error::WebSocket(format!("connect {authority}: {e}")))?;
    tcp.set_nodelay(true).map_err(|e| Error::WebSocket(e.to_string()))?;
    let io = crate::socket::connect(tcp, &socket_uri, tls).await.map_err(|e| Error::WebSocket(e.to_string()))?;
    let config =
        WebSocketConfig::default().max_message_size(Some(limits.max_frame)).max_frame_size(Some(limits.max_frame));
    let (ws, _response) = tokio_tungstenite::client_async_with_config(request, io, Some(config)).await?;
    Ok(ws)
}

/// Starts the reading and the writing task of an open websocket.
pub(crate) fn spawn(ws: Ws, parts: Parts) -> Vec<AbortHandle> {
    let Parts { shared, inbound, outbox, limits } = parts;
    let (sink, stream) = ws.split();
    shared.receive_requests.fetch_add(1, Ordering::Relaxed);
    let receiver = tokio::spawn(run_receiver(shared.clone(), receive(stream, inbound, shared.clone(), limits)));
    let sender = tokio::spawn(send(sink, outbox, shared, limits));
    vec![receiver.abort_handle(), sender.abort_handle()]
}

async fn receive(
    mut stream: SplitStream<Ws>,
    mut inbound: Inbound,
    shared: Arc<Shared>,
    limits: Limits,
) -> Result<(), Error> {
    let idle = limits.idle_timeout;
    loop {
        let next = tokio::time::timeout(idle, stream.next())
            .await
            .map_err(|_| Error::Timeout { waiting_for: "a websocket frame", after: idle })?;
        match next {
            Some(Ok(Message::Text(text))) => {
                if !inbound.take(Frame::parse(text.as_str())?).await? {
                    return Ok(());
                }
            }
            Some(Ok(Message::Binary(_))) => return Err(Error::Protocol("a binary websocket message".into())),
            // Pings are answered by tungstenite; they still show the
            // server is alive (sockjs-node's heartbeat is a ping).
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            Some(Ok(Message::Close(frame))) => {
                // Closed without a c frame (sockjs-node: 3000 "Broken
                // framing." on bad JSON): sockjs-client reports the
                // websocket's code and reason.
                let (code, reason) = frame.map_or((1005, String::new()), |f| (u16::from(f.code), f.reason.to_string()));
                shared.finish(Close { code, reason, was_clean: false, error: None });
                return Ok(());
            }
            Some(Err(e)) => return Err(e.into()),
            None => {
                shared.finish(Close {
                    code: 1006,
                    reason: "WebSocket connection broken".into(),
                    was_clean: false,
                    error: None,
                });
                return Ok(());
            }
        }
    }
}

async fn send(mut sink: SplitSink<Ws, Message>, mut outbox: Outbox, shared: Arc<Shared>, limits: Limits) {
    let limit = limits.request_timeout;
    loop {
        match outbox.next(&shared).await {
            Next::Stop => return,
            Next::Close(command) => return close(&mut sink, command, &shared, limits).await,
            Next::Batch { messages, permits, then_close } => {
                shared.send_requests.fetch_add(1, Ordering::Relaxed);
                let frame = Message::text(encode_messages(&messages));
                let result = tokio::select! {
                    () = shared.ended() => return,
                    r = tokio::time::timeout(limit, sink.send(frame)) => match r {
                        Ok(r) => r.map_err(Error::from),
                        Err(_) => Err(Error::Timeout { waiting_for: "a websocket write", after: limit }),
                    },
                };
                if let Err(e) = result {
                    return shared.finish(Close::sending_error(e));
                }
                shared.messages_sent.fetch_add(messages.len() as u64, Ordering::Relaxed);
                drop(permits);
                if let Some(command) = then_close {
                    return close(&mut sink, command, &shared, limits).await;
                }
            }
        }
    }
}

/// The application's close: a websocket close frame with its code and
/// reason, then the connection ends.
async fn close(sink: &mut SplitSink<Ws, Message>, command: Command, shared: &Shared, limits: Limits) {
    if let Command::Close { code, reason, .. } = &command {
        let frame = CloseFrame { code: (*code).into(), reason: reason.as_str().into() };
        let _ = tokio::time::timeout(limits.request_timeout, sink.send(Message::Close(Some(frame)))).await;
    }
    close_now(shared, command);
}
