//! What the server spends: its CPU time and resident memory read from
//! `/proc`, and the per-unit figures made from them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

/// The server's CPU time so far, in microseconds (`utime + stime`).
pub fn server_cpu_us(pid: u32) -> Option<u64> {
    server_times_us(pid).map(|(user, sys)| user + sys)
}

/// The server's user and system (kernel) CPU time so far, in microseconds
/// (`utime`, `stime`).
pub fn server_times_us(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime * 1_000_000 / clock_ticks(), stime * 1_000_000 / clock_ticks()))
}

/// The server's resident set size in KiB (`VmRSS`).
pub fn server_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

#[derive(Clone, Copy)]
pub(crate) struct CpuMark {
    pub(crate) at: Instant,
    /// User and system CPU-µs of the server so far.
    pub(crate) times_us: Option<(u64, u64)>,
}

/// Server CPU used between two marks.
#[derive(Clone, Copy)]
pub(crate) struct CpuUsed {
    /// User + system CPU-µs.
    pub(crate) total_us: u64,
    /// System (kernel) CPU-µs: the syscalls and what the kernel does for
    /// them (on loopback, both ends' TCP work), which any server pays.
    pub(crate) sys_us: u64,
    /// `total_us` as % of one core over the wall time.
    pub(crate) pct: f64,
}

impl CpuMark {
    pub(crate) fn take(pid: Option<u32>) -> CpuMark {
        CpuMark { at: Instant::now(), times_us: pid.and_then(server_times_us) }
    }

    /// Server CPU spent since `self`.
    pub(crate) fn until(self, later: CpuMark) -> Option<CpuUsed> {
        let (user0, sys0) = self.times_us?;
        let (user1, sys1) = later.times_us?;
        let total_us = (user1 + sys1).checked_sub(user0 + sys0)?;
        let sys_us = sys1.saturating_sub(sys0);
        let wall = later.at.duration_since(self.at).as_secs_f64();
        Some(CpuUsed { total_us, sys_us, pct: if wall > 0.0 { total_us as f64 / (wall * 1e4) } else { 0.0 } })
    }
}

/// `server_cpu_us_per_<unit>` and `server_sys_us_per_<unit>` for `count`
/// units of work.
pub(crate) fn insert_cpu_per(out: &mut Map<String, Value>, unit: &str, used: CpuUsed, count: u64) {
    if count > 0 {
        out.insert(format!("server_cpu_us_per_{unit}"), json!(round3(used.total_us as f64 / count as f64)));
        out.insert(format!("server_sys_us_per_{unit}"), json!(round3(used.sys_us as f64 / count as f64)));
    }
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// How often the server's RSS is sampled during a flood, for its peak.
const RSS_SAMPLE: Duration = Duration::from_millis(100);

/// The server's RSS around a load: before it, its peak during it (sampled
/// every [`RSS_SAMPLE`]), at its end, and after a pause.
pub(crate) struct RssWatch {
    pub(crate) pid: Option<u32>,
    pub(crate) before: Option<u64>,
    pub(crate) end: Option<u64>,
    pub(crate) peak: Arc<AtomicU64>,
    pub(crate) sampler: Option<tokio::task::JoinHandle<()>>,
}

impl RssWatch {
    /// Reads the RSS now and samples it until [`RssWatch::end`].
    pub(crate) fn start(pid: Option<u32>) -> RssWatch {
        let before = pid.and_then(server_rss_kib);
        let peak = Arc::new(AtomicU64::new(before.unwrap_or(0)));
        let sampler = pid.map(|pid| {
            let peak = peak.clone();
            tokio::spawn(async move {
                loop {
                    if let Some(kib) = server_rss_kib(pid) {
                        peak.fetch_max(kib, Ordering::Relaxed);
                    }
                    tokio::time::sleep(RSS_SAMPLE).await;
                }
            })
        });
        RssWatch { pid, before, end: None, peak, sampler }
    }

    /// The end of the load: reads the RSS and stops sampling.
    pub(crate) fn end(&mut self) {
        if let Some(sampler) = self.sampler.take() {
            sampler.abort();
        }
        self.end = self.pid.and_then(server_rss_kib);
        if let Some(kib) = self.end {
            self.peak.fetch_max(kib, Ordering::Relaxed);
        }
    }

    /// Waits `pause` (the clients are gone by then), reads the RSS again
    /// and writes every figure into `out`.
    pub(crate) async fn finish(mut self, pause: Duration, out: &mut Map<String, Value>) {
        if self.sampler.is_some() {
            self.end();
        }
        tokio::time::sleep(pause).await;
        let after = self.pid.and_then(server_rss_kib);
        out.insert("pause_s".into(), json!(round3(pause.as_secs_f64())));
        let (Some(before), Some(end), Some(after)) = (self.before, self.end, after) else {
            return;
        };
        let peak = self.peak.load(Ordering::Relaxed);
        out.insert("rss_before_kib".into(), json!(before));
        out.insert("rss_end_kib".into(), json!(end));
        out.insert("rss_peak_kib".into(), json!(peak));
        out.insert("rss_after_pause_kib".into(), json!(after));
        out.insert("rss_growth_kib".into(), json!(end as i64 - before as i64));
        out.insert("rss_peak_growth_kib".into(), json!(peak as i64 - before as i64));
        out.insert("rss_kept_kib".into(), json!(after as i64 - before as i64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_of_this_process_parses() {
        let pid = std::process::id();
        assert!(server_cpu_us(pid).is_some());
        assert!(server_rss_kib(pid).unwrap() > 0);
    }
}
