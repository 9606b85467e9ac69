//! The echo scenarios' counts and latency samples, and their JSON figures.

use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::measure::{insert_cpu_per, round3, CpuUsed};

/// The most latency samples kept (memory bound).
const MAX_SAMPLES: usize = 4_000_000;

#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) messages: u64,
    pub(crate) errors: u64,
    pub(crate) unechoed: u64,
    pub(crate) mismatched: u64,
    pub(crate) reconnects: u64,
    pub(crate) latencies_us: Vec<u32>,
    pub(crate) first_error: Option<String>,
}

impl Tally {
    /// A tally that starts with the sessions that could not be opened
    /// (`open_all`'s failure count and first message).
    pub(crate) fn with_open_failures(failed: u64, first: Option<String>) -> Tally {
        Tally { errors: failed, first_error: first.filter(|_| failed > 0), ..Tally::default() }
    }

    /// Adds every session's tally as its task ends (a task that panicked
    /// or was cancelled counts as an error).
    pub(crate) async fn join(&mut self, mut sessions: tokio::task::JoinSet<Tally>) {
        while let Some(joined) = sessions.join_next().await {
            match joined {
                Ok(t) => self.merge(t),
                Err(e) => self.error(e.to_string()),
            }
        }
    }

    pub(crate) fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }

    pub(crate) fn merge(&mut self, other: Tally) {
        self.messages += other.messages;
        self.errors += other.errors;
        self.unechoed += other.unechoed;
        self.mismatched += other.mismatched;
        self.reconnects += other.reconnects;
        let room = MAX_SAMPLES.saturating_sub(self.latencies_us.len());
        self.latencies_us.extend(other.latencies_us.into_iter().take(room));
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    pub(crate) fn record(&mut self, sent: Instant) {
        self.messages += 1;
        if self.latencies_us.len() < MAX_SAMPLES {
            self.latencies_us.push(sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        }
    }

    pub(crate) fn into_json(mut self, out: &mut Map<String, Value>, elapsed: Duration, cpu: Option<CpuUsed>) {
        self.latencies_us.sort_unstable();
        let pct = |p: f64| -> Value {
            if self.latencies_us.is_empty() {
                return Value::Null;
            }
            let i = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
            json!(round3(f64::from(self.latencies_us[i]) / 1000.0))
        };
        out.insert("messages".into(), json!(self.messages));
        out.insert("errors".into(), json!(self.errors));
        out.insert("unechoed".into(), json!(self.unechoed));
        out.insert("mismatched".into(), json!(self.mismatched));
        out.insert("reconnects".into(), json!(self.reconnects));
        out.insert("elapsed_s".into(), json!(round3(elapsed.as_secs_f64())));
        let rate = self.messages as f64 / elapsed.as_secs_f64().max(1e-9);
        out.insert("msgs_per_s".into(), json!(rate.round()));
        out.insert("p50_ms".into(), pct(0.50));
        out.insert("p99_ms".into(), pct(0.99));
        if let Some(used) = cpu {
            out.insert("server_cpu_pct".into(), json!(round3(used.pct)));
            insert_cpu_per(out, "msg", used, self.messages);
        }
        if let Some(e) = self.first_error {
            out.insert("first_error".into(), json!(e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sessions that failed to open count as errors, with their first
    /// message; none failed, none counted (and no stray message).
    #[test]
    fn open_failures_start_the_tally() {
        let t = Tally::with_open_failures(2, Some("refused".into()));
        assert_eq!((t.errors, t.first_error.as_deref()), (2, Some("refused")));
        let t = Tally::with_open_failures(0, Some("stale".into()));
        assert_eq!((t.errors, t.first_error), (0, None));
    }

    /// Every session's tally is added; a session task that panicked counts
    /// as one error.
    #[tokio::test]
    async fn sessions_join_into_one_tally() {
        let mut sessions = tokio::task::JoinSet::new();
        sessions.spawn(async { Tally { messages: 3, ..Tally::default() } });
        sessions.spawn(async { Tally { messages: 4, unechoed: 1, ..Tally::default() } });
        sessions.spawn(async { panic!("a session task panicked") });
        let mut tally = Tally::with_open_failures(1, Some("refused".into()));
        tally.join(sessions).await;
        assert_eq!((tally.messages, tally.unechoed, tally.errors), (7, 1, 2));
        assert_eq!(tally.first_error.as_deref(), Some("refused"), "the first error stays first");
    }
}
