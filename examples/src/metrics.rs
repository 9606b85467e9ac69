//! The endpoints' `sockjs_*` series (sockjs-core's `metrics` feature) in
//! Prometheus text format at `/metrics`: what `test-server
//! --metrics-listen ADDR` serves.
//!
//! An application needs the `metrics` feature of sockjs-core and these
//! lines, before its endpoints serve their first request (the README's
//! example, compiled here):
//!
//! ```rust,no_run
//! // sockjs-core = { version = "0.1", features = ["metrics"] }
//! // metrics-exporter-prometheus = "0.18"
//! metrics_exporter_prometheus::PrometheusBuilder::new()
//!     .with_http_listener(([127, 0, 0, 1], 9091))
//!     .install()
//!     .expect("the Prometheus exporter starts");
//! ```

use std::net::TcpListener;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::{AxumServer, REQUEST_TIMEOUT};

/// Upper bounds of the session-duration histogram's buckets, in seconds.
pub const SESSION_DURATION_BUCKETS: &[f64] = &[0.1, 1.0, 10.0, 60.0, 300.0, 1800.0, 3600.0, 14400.0, 86400.0];

/// Installs the Prometheus recorder as the process's `metrics` recorder
/// (fails if one is installed already). Install it before the endpoints
/// serve their first sessions: series begin at the first event after it.
pub fn install_recorder() -> Result<PrometheusHandle, String> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full("sockjs_session_duration_seconds".into()), SESSION_DURATION_BUCKETS)
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| e.to_string())
}

/// Serves `handle`'s exposition at `http://<listener>/metrics` on a thread
/// of its own, until the returned server is dropped. It also runs the
/// recorder's upkeep every 5 s, which folds the histogram samples recorded
/// since into their buckets: samples wait in a queue until a scrape or an
/// upkeep takes them, so without it an unscraped process would grow.
pub fn serve_metrics(listener: TcpListener, handle: PrometheusHandle) -> std::io::Result<AxumServer> {
    let upkeep = handle.clone();
    let router = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let handle = handle.clone();
            async move { handle.render() }
        }),
    );
    AxumServer::spawn(listener, 1, move |listener| async move {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                upkeep.run_upkeep();
            }
        });
        crate::axum_server::accept(listener, router, REQUEST_TIMEOUT, None).await;
        Ok(())
    })
}
