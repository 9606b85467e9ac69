//! Serving endpoints with warp, on a thread and runtime of its own.

use std::net::TcpListener;
use std::path::PathBuf;

use sockjs_core::Endpoint;

use crate::{ServeOptions, WarpServer};
use warp::{Filter, Reply};

/// Serves `endpoints` with warp on `listener`, using `workers` threads.
pub fn serve_warp(listener: TcpListener, endpoints: Vec<Endpoint>, workers: usize) -> std::io::Result<WarpServer> {
    serve_warp_with_static(listener, endpoints, workers, None)
}

/// Like [`serve_warp`], and when `static_dir` is given also serves the files
/// under it at `/static/...` (the browser tests' same-origin page).
pub fn serve_warp_with_static(
    listener: TcpListener,
    endpoints: Vec<Endpoint>,
    workers: usize,
    static_dir: Option<PathBuf>,
) -> std::io::Result<WarpServer> {
    serve_warp_with(listener, endpoints, ServeOptions { static_dir, ..ServeOptions::new(workers) })
}

/// Serves `endpoints` with warp on `listener` as `options` say.
pub fn serve_warp_with(
    listener: TcpListener,
    endpoints: Vec<Endpoint>,
    options: ServeOptions,
) -> std::io::Result<WarpServer> {
    let ServeOptions { workers, static_dir, request_timeout, tls } = options;
    WarpServer::spawn(listener, workers, move |listener| async move {
        let mut filters = endpoints.into_iter().map(|e| sockjs_warp::filter(e).boxed());
        let first = filters.next().ok_or_else(|| std::io::Error::other("no endpoints"))?;
        let mut routes = filters.fold(first, |routes, next| routes.or(next).unify().boxed());
        if let Some(dir) = static_dir {
            let files = warp::path("static")
                .and(warp::fs::dir(dir))
                .map(|file: warp::fs::File| warp::reply::with_header(file, "cache-control", "no-store").into_response())
                .boxed();
            routes = routes.or(files).unify().boxed();
        }
        match tls {
            None => sockjs_warp::serve(routes, listener, request_timeout).await,
            Some(config) => crate::tls::serve_warp_tls(routes, listener, &config, request_timeout).await,
        }
        Ok(())
    })
}
