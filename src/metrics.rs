//! Metrics in the Prometheus text format (0.0.4): a lock-free latency histogram and the
//! writer `/metrics` uses. Hand-written on purpose: the hot paths (every socket write,
//! every event from Redis) only add to atomics, and the exposition is a few lines of
//! text; a metrics crate would bring a registry model this server does not need.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const LATENCY_BOUNDS: [f64; 14] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// A histogram of durations with fixed buckets.
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BOUNDS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn latency() -> Histogram {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, d: Duration) {
        self.observe_many(d, 1);
    }

    /// `n` observations of the same duration (a batch that took `d` for each of its items).
    pub fn observe_many(&self, d: Duration, n: u64) {
        if n == 0 {
            return;
        }
        let seconds = d.as_secs_f64();
        if let Some(i) = LATENCY_BOUNDS.iter().position(|b| seconds <= *b) {
            self.buckets[i].fetch_add(n, Ordering::Relaxed);
        }
        self.count.fetch_add(n, Ordering::Relaxed);
        self.sum_micros.fetch_add(n * d.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// Writes metrics in the text exposition format.
#[derive(Default)]
pub struct Exposition {
    pub text: String,
}

impl Exposition {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    pub fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.head(name, "counter", help);
        let _ = writeln!(self.text, "{name} {value}");
    }

    pub fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.head(name, "gauge", help);
        let _ = writeln!(self.text, "{name} {value}");
    }

    /// A gauge with one label, one line per value.
    pub fn labelled_gauge(&mut self, name: &str, help: &str, label: &str, values: &[(&str, f64)]) {
        self.head(name, "gauge", help);
        for (l, v) in values {
            let _ = writeln!(self.text, "{name}{{{label}=\"{l}\"}} {v}");
        }
    }

    pub fn histogram(&mut self, name: &str, help: &str, h: &Histogram) {
        self.head(name, "histogram", help);
        let mut cumulative = 0;
        for (bound, bucket) in LATENCY_BOUNDS.iter().zip(&h.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(self.text, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = h.count.load(Ordering::Relaxed);
        let _ = writeln!(self.text, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(self.text, "{name}_sum {sum}\n{name}_count {count}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_with_an_infinite_bucket() {
        let h = Histogram::latency();
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60));
        let mut out = Exposition::default();
        out.histogram("x_seconds", "test", &h);
        assert!(out.text.contains("x_seconds_bucket{le=\"0.0005\"} 1\n"), "{}", out.text);
        assert!(out.text.contains("x_seconds_bucket{le=\"0.005\"} 2\n"));
        assert!(out.text.contains("x_seconds_bucket{le=\"10\"} 2\n"));
        assert!(out.text.contains("x_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(out.text.contains("x_seconds_count 3\n"));
    }

    #[test]
    fn a_batch_counts_once_per_item() {
        let h = Histogram::latency();
        h.observe_many(Duration::from_millis(3), 4);
        h.observe_many(Duration::from_millis(3), 0);
        let mut out = Exposition::default();
        out.histogram("x_seconds", "test", &h);
        assert!(out.text.contains("x_seconds_bucket{le=\"0.002\"} 0\n"), "{}", out.text);
        assert!(out.text.contains("x_seconds_bucket{le=\"0.005\"} 4\n"));
        assert!(out.text.contains("x_seconds_sum 0.012\n"));
        assert!(out.text.contains("x_seconds_count 4\n"));
    }
}
