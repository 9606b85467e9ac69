//! `sockjs_core::route` on arbitrary prefixes and paths: it never panics,
//! and every route it returns is consistent with the path it came from.

#![no_main]

use http::Method;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use sockjs_core::internals::{route, Route, SessionUrl};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    /// Which prefix to route under: a fixed one (so the fuzzer spends its
    /// effort on the part after the prefix) or `raw_prefix`.
    prefix: u8,
    raw_prefix: &'a str,
    path: &'a str,
}

const PREFIXES: [&str; 4] = ["/echo", "", "/a/b", "/"];

const METHODS: [Method; 6] = [Method::GET, Method::POST, Method::OPTIONS, Method::PUT, Method::DELETE, Method::HEAD];

fn segment(kind: SessionUrl) -> &'static str {
    match kind {
        SessionUrl::Xhr => "xhr",
        SessionUrl::XhrSend => "xhr_send",
        SessionUrl::XhrStreaming => "xhr_streaming",
        SessionUrl::EventSource => "eventsource",
        SessionUrl::HtmlFile => "htmlfile",
        SessionUrl::Jsonp => "jsonp",
        SessionUrl::JsonpSend => "jsonp_send",
        SessionUrl::WebSocket => "websocket",
    }
}

fn is_id(id: &str) -> bool {
    !id.is_empty() && !id.contains('/') && !id.contains('.')
}

fn check(prefix: &str, path: &str) {
    let Some(found) = route(prefix, path) else { return };
    let rest = path.strip_prefix(prefix).expect("a route's path starts with the prefix");

    // `allow` and `allows` agree for every method.
    for method in &METHODS {
        let listed = found.allow().split(", ").any(|m| m == method.as_str());
        assert_eq!(found.allows(method), listed, "{found:?} {method}");
    }

    match found {
        Route::Session { server_id, session_id, kind } => {
            assert!(is_id(session_id), "bad session id {session_id:?} from {path:?}");
            assert!(is_id(server_id), "bad server id {server_id:?} from {path:?}");
            // Round trip: the canonical path of the route routes to it.
            let canonical = format!("/{server_id}/{session_id}/{}", segment(kind));
            assert!(
                rest == canonical || rest.strip_suffix('/') == Some(canonical.as_str()),
                "{path:?} under {prefix:?} routed to {found:?}"
            );
            let rebuilt = format!("{prefix}{canonical}");
            assert_eq!(route(prefix, &rebuilt), Some(found), "{rebuilt:?}");
        }
        Route::Greeting => assert!(rest.is_empty() || rest == "/", "{path:?} under {prefix:?}"),
        Route::Info => assert!(rest == "/info" || rest == "/info/", "{path:?} under {prefix:?}"),
        Route::RawWebSocket => assert!(rest == "/websocket" || rest == "/websocket/", "{path:?} under {prefix:?}"),
        Route::Iframe => {
            let name = rest.trim_start_matches('/');
            let name = name.strip_suffix('/').unwrap_or(name);
            assert!(name.starts_with("iframe") && name.ends_with(".html"), "{path:?} under {prefix:?}");
            assert!(!name.contains('/'), "{path:?} under {prefix:?}");
        }
    }
}

fuzz_target!(|input: Input<'_>| {
    let prefix = match PREFIXES.get(usize::from(input.prefix)) {
        Some(prefix) => *prefix,
        None => input.raw_prefix,
    };
    check(prefix, input.path);
    // The path is also routed as the whole input under the default prefix.
    check("/echo", input.raw_prefix);
});
