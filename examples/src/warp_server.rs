//! Serving endpoints with warp, on a thread and runtime of its own.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;

use sockjs_core::Endpoint;

use crate::ServeOptions;
use warp::{Filter, Reply};

/// A running warp server; stopped (with every connection) when dropped.
pub struct WarpServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl WarpServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Runs until the server stops.
    pub fn wait(mut self) -> std::io::Result<()> {
        // Holding the sender keeps the server running.
        let _stop = self.stop.take();
        self.thread.take().map_or(Ok(()), |t| t.join().unwrap_or(Ok(())))
    }
}

impl Drop for WarpServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

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
    let ServeOptions { workers, static_dir, request_timeout } = options;
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(workers.max(1)).enable_all().build()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let mut filters = endpoints.into_iter().map(|e| sockjs_warp::filter(e).boxed());
            let first = filters.next().ok_or_else(|| std::io::Error::other("no endpoints"))?;
            let mut routes = filters.fold(first, |routes, next| routes.or(next).unify().boxed());
            if let Some(dir) = static_dir {
                let files = warp::path("static")
                    .and(warp::fs::dir(dir))
                    .map(|file: warp::fs::File| {
                        warp::reply::with_header(file, "cache-control", "no-store").into_response()
                    })
                    .boxed();
                routes = routes.or(files).unify().boxed();
            }
            tokio::select! {
                () = sockjs_warp::serve(routes, listener, request_timeout) => {}
                _ = stopped => {}
            }
            Ok(())
        })
    });
    Ok(WarpServer { addr, stop: Some(stop), thread: Some(thread) })
}
