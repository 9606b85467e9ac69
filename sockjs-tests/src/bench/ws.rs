//! The websocket client: connecting (from chosen local addresses), the
//! handshake and open frame, and splitting SockJS frames into messages.

use std::net::SocketAddr;

use futures_util::StreamExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

use super::{session_id, Config};

pub(crate) type Ws = WebSocketStream<TcpStream>;

async fn tcp_connect(config: &Config, i: usize) -> Result<TcpStream, String> {
    let stream = if config.source_ips.is_empty() {
        TcpStream::connect(&config.addr).await.map_err(|e| format!("connect: {e}"))?
    } else {
        let server: SocketAddr = config.addr.parse().map_err(|e| format!("address {}: {e}", config.addr))?;
        let local = config.source_ips[i % config.source_ips.len()];
        let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
        socket.bind(SocketAddr::new(local.into(), 0)).map_err(|e| format!("bind {local}: {e}"))?;
        socket.connect(server).await.map_err(|e| format!("connect from {local}: {e}"))?
    };
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok(stream)
}

/// Opens a websocket on `path`; with `sockjs`, also waits for the `o`
/// frame. `small` keeps client buffers small (idle sessions by thousands).
pub(crate) async fn ws_open(config: &Config, i: usize, path: &str, sockjs: bool, small: bool) -> Result<Ws, String> {
    let stream = tcp_connect(config, i).await?;
    let mut ws_config = WebSocketConfig::default();
    if small {
        ws_config = ws_config.read_buffer_size(4096).write_buffer_size(0);
    }
    let url = format!("ws://{}{}", config.addr, path);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(ws_config))
        .await
        .map_err(|e| format!("websocket handshake: {e}"))?;
    if sockjs {
        match ws.next().await {
            Some(Ok(WsMessage::Text(t))) if t.as_str() == "o" => {}
            other => return Err(format!("expected the open frame, got {other:?}")),
        }
    }
    Ok(ws)
}

pub(crate) fn sockjs_ws_path(prefix: &str, i: usize) -> String {
    format!("{prefix}/{:03}/{}/websocket", i % 1000, session_id(i))
}

/// Messages in one text frame: a SockJS frame (`a[...]` gives its
/// messages, `o`/`h` none, `c[...]` an error) or a raw message.
pub(crate) fn ws_messages(text: &str, sockjs: bool) -> Result<Vec<String>, String> {
    if !sockjs {
        return Ok(vec![text.to_owned()]);
    }
    match text.as_bytes().first() {
        Some(b'a') => serde_json::from_str(&text[1..]).map_err(|e| format!("bad frame {text:?}: {e}")),
        Some(b'h' | b'o') => Ok(Vec::new()),
        _ => Err(format!("unexpected frame {:?}", text.chars().take(80).collect::<String>())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_into_messages() {
        assert_eq!(ws_messages("a[\"x\"]", true).unwrap(), vec!["x"]);
        assert_eq!(ws_messages("a[\"x\"]", false).unwrap(), vec!["a[\"x\"]"]);
    }
}
