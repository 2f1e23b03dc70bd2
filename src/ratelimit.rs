//! Keyed rate limits (log-in attempts per account and per address, e-mails per
//! address), on governor's GCRA: each key has a bucket of `n` attempts refilled evenly
//! over the window. In memory and per node: a limit is a brake on guessing and flooding,
//! not an accounting record.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock as _;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct Limiter<K: Hash + Eq + Clone> {
    inner: DefaultKeyedRateLimiter<K>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    /// At most `n` events per `window` for each key.
    pub fn per_window(n: u32, window: Duration) -> Limiter<K> {
        let n = NonZeroU32::new(n.max(1)).expect("n >= 1");
        let quota = Quota::with_period(window / n.get()).expect("a positive period").allow_burst(n);
        Limiter { inner: RateLimiter::keyed(quota) }
    }

    /// Counts one event for `key`; `Err(wait)` if the key is over its limit.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        self.inner.check_key(key).map_err(|not_until| not_until.wait_time_from(self.inner.clock().now()))
    }

    /// Counts `n` events for `key` at once, all or none; `Err(wait)` if they do not fit
    /// (a request larger than the whole bucket waits a full window).
    pub fn check_n(&self, key: &K, n: u32) -> Result<(), Duration> {
        let Some(n) = NonZeroU32::new(n) else { return Ok(()) };
        match self.inner.check_key_n(key, n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(self.inner.clock().now())),
            Err(_) => Err(Duration::from_secs(3600)),
        }
    }

    /// Forgets keys whose bucket is full again, so memory follows recent activity only.
    pub fn forget_idle(&self) {
        self.inner.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_burst_then_refuses_per_key() {
        let limiter = Limiter::per_window(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(limiter.check(&"a").is_ok());
        }
        let wait = limiter.check(&"a").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(20));
        assert!(limiter.check(&"b").is_ok(), "keys are independent");
    }
}
