//! A server running on a tokio runtime and thread of its own (the warp and
//! axum reference servers).

use std::future::Future;
use std::net::{SocketAddr, TcpListener};

/// A running server; stopped (with every connection) when dropped.
pub struct TokioServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

/// The warp reference server.
pub type WarpServer = TokioServer;
/// The axum reference server.
pub type AxumServer = TokioServer;

impl TokioServer {
    /// Runs `serve` on `listener` in a runtime of `workers` threads, on a
    /// thread of its own, until the server is dropped.
    pub(crate) fn spawn<F, Fut>(listener: TcpListener, workers: usize, serve: F) -> std::io::Result<TokioServer>
    where
        F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
        Fut: Future<Output = std::io::Result<()>>,
    {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(workers.max(1)).enable_all().build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                tokio::select! {
                    served = serve(listener) => served,
                    _ = stopped => Ok(()),
                }
            })
        });
        Ok(TokioServer { addr, stop: Some(stop), thread: Some(thread) })
    }

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

impl Drop for TokioServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
