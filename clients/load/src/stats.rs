//! What receivers saw, merged: latencies (percentiles) and, per receiver and
//! conversation, which numbers arrived — to count lost, duplicated and out-of-order
//! deliveries against what the senders sent.

use std::collections::HashMap;

/// One receiver's record.
#[derive(Default)]
pub struct Seen {
    pub latencies_us: Vec<u32>,
    /// Per conversation: the numbers received, in arrival order.
    pub numbers: HashMap<String, Vec<i64>>,
    /// Deliveries of a conversation after its `conversation_removed` (must be 0).
    pub after_removal: u64,
}

impl Seen {
    pub fn delivery(&mut self, key: String, n: i64, latency_us: i64) {
        self.latencies_us.push(latency_us.clamp(0, u32::MAX as i64) as u32);
        self.numbers.entry(key).or_default().push(n);
    }
}

/// Everything merged.
#[derive(Default)]
pub struct Report {
    pub deliveries: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub latencies_us: Vec<u32>,
    pub after_removal: u64,
}

impl Report {
    /// Adds a receiver's record, given how many messages each conversation had (numbers
    /// `1..=sent[key]` for Salon sequences and sender counters alike) and the first number
    /// counted (`from`: messages before the receiver joined are not its loss).
    pub fn add(&mut self, seen: Seen, sent: &HashMap<String, i64>, from: &HashMap<String, i64>) {
        self.latencies_us.extend_from_slice(&seen.latencies_us);
        self.after_removal += seen.after_removal;
        for (key, total) in sent {
            let first = from.get(key).copied().unwrap_or(1);
            let numbers = seen.numbers.get(key).map(Vec::as_slice).unwrap_or(&[]);
            let mut got = vec![false; (total - first + 1).max(0) as usize];
            let mut highest = i64::MIN;
            for &n in numbers {
                self.deliveries += 1;
                if n < first || n > *total {
                    continue;
                }
                let slot = &mut got[(n - first) as usize];
                if *slot {
                    self.duplicated += 1;
                } else {
                    *slot = true;
                    if n < highest {
                        self.out_of_order += 1;
                    }
                }
                highest = highest.max(n);
            }
            self.lost += got.iter().filter(|g| !**g).count() as u64;
        }
    }

    /// The latency at quantile `q` (0..1), in milliseconds.
    pub fn percentile_ms(&mut self, q: f64) -> f64 {
        percentile_ms(&mut self.latencies_us, q)
    }
}

pub fn percentile_ms(samples: &mut [u32], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_unstable();
    let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
    samples[i] as f64 / 1000.0
}

/// The server's resident memory, in MiB, summed over `pids` (Linux `/proc`).
pub fn rss_mib(pids: &[u32]) -> f64 {
    pids.iter().fold(0.0, |sum, pid| sum + rss_kib(*pid) as f64 / 1024.0)
}

pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// CPU time the server processes have used so far (user and system, every thread), in
/// seconds (Linux `/proc`, clock ticks of 1/100 s).
pub fn cpu_seconds(pids: &[u32]) -> f64 {
    let ticks: u64 = pids
        .iter()
        .map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // After the command name (which may hold spaces): state is field 3, utime 14, stime 15.
            let fields: Vec<&str> =
                stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
            let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            field(14) + field(15)
        })
        .sum();
    ticks as f64 / 100.0
}

/// A Prometheus histogram's cumulative buckets, `(upper bound in seconds, count)`, summed
/// over the nodes' texts; empty when no node has it.
pub fn histogram(texts: &[String], name: &str) -> Vec<(f64, u64)> {
    let prefix = format!("{name}_bucket{{le=\"");
    let mut sum: Vec<(f64, u64)> = Vec::new();
    for text in texts {
        let buckets = text.lines().filter_map(|line| {
            let (bound, count) = line.strip_prefix(&prefix)?.split_once("\"} ")?;
            let bound = if bound == "+Inf" { f64::INFINITY } else { bound.parse().ok()? };
            Some((bound, count.trim().parse::<u64>().ok()?))
        });
        for (i, (bound, count)) in buckets.enumerate() {
            match sum.get_mut(i) {
                Some(slot) => slot.1 += count,
                None => sum.push((bound, count)),
            }
        }
    }
    sum
}

/// What a histogram counted between two readings of it.
pub fn histogram_since(before: &[(f64, u64)], after: &[(f64, u64)]) -> Vec<(f64, u64)> {
    after.iter().enumerate().map(|(i, &(bound, n))| (bound, n - before.get(i).map_or(0, |b| b.1).min(n))).collect()
}

/// The smallest bucket bound (ms) under which a share `q` of the observations fell.
pub fn histogram_bound_ms(buckets: &[(f64, u64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    (total > 0).then(|| buckets.iter().find(|(_, n)| *n as f64 >= q * total as f64).map(|(b, _)| b * 1000.0))?
}

/// The percentage of the observations above `bound_ms` (a bucket bound).
pub fn histogram_over_pct(buckets: &[(f64, u64)], bound_ms: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    let under = buckets.iter().find(|(b, _)| (b * 1000.0 - bound_ms).abs() < 1e-9)?.1;
    (total > 0).then(|| 100.0 * (total - under) as f64 / total as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_losses_duplicates_and_disorder() {
        let mut seen = Seen::default();
        for n in [1, 2, 4, 3, 4, 6] {
            seen.delivery("c".into(), n, 1000);
        }
        let mut report = Report::default();
        report.add(seen, &HashMap::from([("c".to_owned(), 6)]), &HashMap::new());
        assert_eq!((report.lost, report.duplicated, report.out_of_order), (1, 1, 1));
        assert_eq!(report.deliveries, 6);
        assert_eq!(report.percentile_ms(0.99), 1.0);
    }

    #[test]
    fn histograms_are_summed_over_nodes_and_read_between_two_readings() {
        let node = |a: u64, b: u64, all: u64| {
            format!(
                "# TYPE x_seconds histogram\nx_seconds_bucket{{le=\"0.005\"}} {a}\nx_seconds_bucket{{le=\"0.01\"}} {b}\n\
                 x_seconds_bucket{{le=\"+Inf\"}} {all}\nx_seconds_count {all}\n"
            )
        };
        let before = histogram(&[node(1, 1, 1), node(0, 0, 0)], "x_seconds");
        let after = histogram(&[node(90, 95, 101), node(5, 6, 10)], "x_seconds");
        assert_eq!(after, vec![(0.005, 95), (0.01, 101), (f64::INFINITY, 111)]);
        let run = histogram_since(&before, &after);
        assert_eq!(run, vec![(0.005, 94), (0.01, 100), (f64::INFINITY, 110)]);
        assert_eq!(histogram_bound_ms(&run, 0.5), Some(5.0));
        assert_eq!(histogram_bound_ms(&run, 0.9), Some(10.0));
        assert_eq!(histogram_bound_ms(&run, 0.99), Some(f64::INFINITY));
        assert!((histogram_over_pct(&run, 10.0).unwrap() - 100.0 * 10.0 / 110.0).abs() < 1e-9);
        assert_eq!(histogram(&["nothing".to_owned()], "x_seconds"), vec![]);
        assert_eq!(histogram_bound_ms(&[], 0.99), None);
    }
}
