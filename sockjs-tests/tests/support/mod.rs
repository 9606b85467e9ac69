//! Helpers shared by the multi-instance tests (scaling.rs, rooms_redis.rs,
//! browser.rs) and the Autobahn run (autobahn.rs): external processes that
//! are always stopped (redis-server and HAProxy started one way for every
//! test), free loopback ports, bounded waits; and the TLS tests'
//! certificate (tls.rs, browser.rs).

#![allow(dead_code, unreachable_pub)]

pub mod rooms_suite;
pub mod tls;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A child process killed (and reaped) when dropped: on success, on a
/// failed assertion and on a panic alike.
pub struct ProcessGuard {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl ProcessGuard {
    /// Starts `program` with `args` (and extra environment), stdout and
    /// stderr going to a log file that [`ProcessGuard::log`] reads back.
    /// Fails with a clear message when the program is missing.
    pub fn spawn(name: &str, program: &str, args: &[&str], env: &[(&str, String)]) -> ProcessGuard {
        assert!(
            Path::new(program).exists(),
            "{program} is missing: the {name} test needs it and never skips. \
             Install it with sockjs-tests/scaling/setup.sh (apt-get install haproxy nginx redis-server), \
             which ./test.sh runs before cargo test"
        );
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let log = std::env::temp_dir().join(format!("sockjs-{name}-{}-{n}.log", std::process::id()));
        let out = std::fs::File::create(&log).expect("create the process log");
        let err = out.try_clone().expect("clone the log file");
        let mut command = Command::new(program);
        command.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("could not start {program}: {e}"));
        ProcessGuard { name: name.to_owned(), child: Some(child), log }
    }

    /// What the process has written so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process has exited already.
    pub fn exited(&mut self) -> bool {
        self.child.as_mut().is_none_or(|c| matches!(c.try_wait(), Ok(Some(_))))
    }

    /// Waits until `addr` accepts TCP connections (bounded); the error
    /// carries the process log if it exits or does not listen in time.
    pub fn wait_listening(&mut self, addr: SocketAddr) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if self.exited() {
                return Err(format!("{} exited before listening on {addr}:\n{}", self.name, self.log()));
            }
            if Instant::now() >= deadline {
                return Err(format!("{} did not listen on {addr} within 10 s:\n{}", self.name, self.log()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (bounded by `limit`) for the process to exit and returns how
    /// it exited; `None` when it is still running at the limit (it then
    /// keeps running until dropped or killed).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        let child = self.child.as_mut()?;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Kills the process now (as dropping does).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A loopback port that was free a moment ago (for programs that cannot be
/// handed a listening socket and do not accept port 0).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("bind 127.0.0.1:0")
}

/// Debian's redis-server (package redis-server).
pub const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// Debian's HAProxy (package haproxy).
pub const HAPROXY: &str = "/usr/sbin/haproxy";

/// A standalone redis-server on `127.0.0.1:port`, without persistence,
/// listening when this returns.
pub fn redis_server(port: u16) -> ProcessGuard {
    let port_arg = port.to_string();
    let args = ["--port", &port_arg, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
    let mut redis = ProcessGuard::spawn("redis-server", REDIS_SERVER, &args, &[]);
    redis.wait_listening(SocketAddr::from(([127, 0, 0, 1], port))).unwrap_or_else(|e| panic!("{e}"));
    redis
}

/// HAProxy with examples/haproxy/haproxy.cfg (the README's configuration,
/// which reads its addresses from the environment) on `listen`, in front of
/// `backends`. Not yet listening when this returns: see [`on_free_port`].
pub fn haproxy(listen: SocketAddr, backends: [SocketAddr; 2]) -> ProcessGuard {
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/haproxy/haproxy.cfg");
    let env = [
        ("SOCKJS_HAPROXY_BIND", listen.to_string()),
        ("SOCKJS_BACKEND_A", backends[0].to_string()),
        ("SOCKJS_BACKEND_B", backends[1].to_string()),
    ];
    ProcessGuard::spawn("haproxy", HAPROXY, &["-f", config.to_str().unwrap(), "-db"], &env)
}

/// Starts a program that cannot be handed a listening socket and refuses
/// port 0 (a proxy) on a port that was free a moment ago, and waits until
/// it listens there; tries three ports in all, in case another process
/// takes one in between. `start` returns the process and whatever else it
/// made (a scratch directory, say).
pub fn on_free_port<T>(
    name: &str,
    mut start: impl FnMut(SocketAddr) -> (ProcessGuard, T),
) -> (ProcessGuard, T, SocketAddr) {
    let mut last_error = String::new();
    for _ in 0..3 {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let (mut process, made) = start(addr);
        match process.wait_listening(addr) {
            Ok(()) => return (process, made, addr),
            Err(e) => last_error = e,
        }
    }
    panic!("{name} did not start: {last_error}");
}

/// A listener on an ephemeral loopback port.
pub fn loopback_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

/// Polls `condition` every 10 ms until it holds or `limit` passes; returns
/// whether it held.
pub async fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Splits the SockJS frames out of `buffer` (one per line), leaving an
/// incomplete last line in place.
pub fn take_frames(buffer: &mut String) -> Vec<String> {
    let mut frames = Vec::new();
    while let Some(end) = buffer.find('\n') {
        let line: String = buffer.drain(..=end).collect();
        frames.push(line.trim_end_matches('\n').to_owned());
    }
    frames
}

/// The messages of an `a[...]` frame (empty for any other frame).
pub fn messages_of(frame: &str) -> Vec<String> {
    frame.strip_prefix('a').and_then(|json| serde_json::from_str::<Vec<String>>(json).ok()).unwrap_or_default()
}
