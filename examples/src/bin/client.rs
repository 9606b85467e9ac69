//! A command-line SockJS client (sockjs-client crate).
//!
//! ```text
//! cargo run -p sockjs-examples --bin client -- [--transport NAME] [--ca PEM] URL
//! ```
//!
//! Connects to the SockJS service at URL (`http://host:port/prefix`, or
//! `https://`: trusting Mozilla's roots, or with `--ca` the certificates
//! of that PEM file alone, e.g. a self-signed test certificate), with
//! NAME (`websocket`, `xhr-streaming`, `eventsource` or `xhr-polling`) or
//! else the first transport that works, and prints `open NAME`. Each line
//! of standard input is sent as one message; each message received is
//! printed as a JSON string on its own line. When the session ends it
//! prints `close CODE REASON`; the end of standard input closes it with
//! 1000 first. Exit status: 0 once closed, 1 when it could not connect,
//! 2 on bad usage.

use std::io::Write;
use std::process::ExitCode;

use sockjs_client::{Client, Transport};
use tokio::io::AsyncBufReadExt;

fn usage() -> ExitCode {
    eprintln!("usage: client [--transport websocket|xhr-streaming|eventsource|xhr-polling] [--ca PEM] URL");
    ExitCode::from(2)
}

fn print(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// A TLS client configuration trusting the certificates in `path` alone.
fn roots(path: &str) -> Result<std::sync::Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls::pki_types::CertificateDer::pem_file_iter(path).map_err(|e| format!("{path}: {e}"))? {
        roots.add(certificate.map_err(|e| format!("{path}: {e}"))?).map_err(|e| format!("{path}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("{path}: no CERTIFICATE in this PEM file"));
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(std::sync::Arc::new(config))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut transport = None;
    let mut ca = None;
    let mut url = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--transport" => match args.next().map(|name| name.parse::<Transport>()) {
                Some(Ok(t)) => transport = Some(t),
                Some(Err(e)) => {
                    eprintln!("{e}");
                    return usage();
                }
                None => return usage(),
            },
            "--ca" => match args.next() {
                Some(path) => ca = Some(path),
                None => return usage(),
            },
            _ if url.is_none() && !arg.starts_with("--") => url = Some(arg),
            _ => return usage(),
        }
    }
    let Some(url) = url else { return usage() };
    let client = match Client::new(&url) {
        Ok(client) => {
            let client = match transport {
                Some(t) => client.transport(t),
                None => client,
            };
            match ca.as_deref().map(roots) {
                None => client,
                Some(Ok(config)) => client.tls_config(config),
                Some(Err(e)) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        Err(e) => {
            eprintln!("{e}");
            return usage();
        }
    };
    let mut connection = match client.connect().await {
        Ok(connection) => connection,
        Err(e) => {
            eprintln!("cannot connect: {e}");
            return ExitCode::FAILURE;
        }
    };
    print(&format!("open {}", connection.transport()));

    let sender = connection.sender();
    let input = tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        // An unreadable input ends like the end of input.
        while let Ok(Some(line)) = lines.next_line().await {
            if sender.send(line).await.is_err() {
                return; // closed meanwhile
            }
        }
        let _ = sender.close(1000, "Normal closure").await;
    });
    while let Some(message) = connection.recv().await {
        print(&serde_json::Value::String(message).to_string());
    }
    let close = connection.closed().await;
    input.abort();
    print(&format!("close {} {}", close.code, close.reason));
    ExitCode::SUCCESS
}
