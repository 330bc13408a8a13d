//! Rate limiting of failed client authentication, per client id and per source address.
//!
//! A token bucket per key: each failure takes a token; tokens come back at a steady rate.
//! Once a bucket is empty, authentication from that client or address is refused before it
//! is attempted (so a guesser learns nothing more) until the bucket refills. Successes cost
//! nothing. Buckets live in memory, per node; the map is bounded by dropping full buckets.

use std::collections::HashMap;
use std::sync::Mutex;

/// How many failures a client or address may have in a burst.
pub const DEFAULT_BURST: u32 = 10;
/// How many seconds it takes to earn back one failure.
pub const DEFAULT_REFILL_SECS: f64 = 6.0;
/// Above this many tracked keys, buckets that have refilled are dropped.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    /// Milliseconds.
    updated: i64,
}

#[derive(Debug)]
pub struct FailureLimiter {
    burst: f64,
    refill_per_ms: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Default for FailureLimiter {
    fn default() -> Self {
        Self::new(DEFAULT_BURST, DEFAULT_REFILL_SECS)
    }
}

impl FailureLimiter {
    pub fn new(burst: u32, refill_secs: f64) -> Self {
        Self {
            burst: f64::from(burst.max(1)),
            refill_per_ms: 1.0 / (refill_secs.max(0.001) * 1000.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refilled(&self, bucket: Bucket, now_ms: i64) -> Bucket {
        let elapsed = (now_ms - bucket.updated).max(0) as f64;
        Bucket {
            tokens: (bucket.tokens + elapsed * self.refill_per_ms).min(self.burst),
            updated: now_ms,
        }
    }

    /// `None` when every key may try; otherwise how many seconds until they all may.
    pub fn retry_after(&self, keys: &[&str], now_ms: i64) -> Option<u64> {
        let buckets = match self.buckets.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut wait: Option<f64> = None;
        for key in keys {
            if let Some(bucket) = buckets.get(*key) {
                let bucket = self.refilled(*bucket, now_ms);
                if bucket.tokens < 1.0 {
                    let ms = (1.0 - bucket.tokens) / self.refill_per_ms;
                    wait = Some(wait.map_or(ms, |current: f64| current.max(ms)));
                }
            }
        }
        wait.map(|ms| (ms / 1000.0).ceil().max(1.0) as u64)
    }

    /// Records one failure against every key.
    pub fn fail(&self, keys: &[&str], now_ms: i64) {
        let mut buckets = match self.buckets.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if buckets.len() > MAX_TRACKED {
            let burst = self.burst;
            let snapshot: Vec<(String, Bucket)> =
                buckets.iter().map(|(k, b)| (k.clone(), *b)).collect();
            for (key, bucket) in snapshot {
                if self.refilled(bucket, now_ms).tokens >= burst {
                    buckets.remove(&key);
                }
            }
        }
        for key in keys {
            let bucket = buckets.get(*key).copied().unwrap_or(Bucket {
                tokens: self.burst,
                updated: now_ms,
            });
            let mut bucket = self.refilled(bucket, now_ms);
            bucket.tokens = (bucket.tokens - 1.0).max(0.0);
            buckets.insert((*key).to_string(), bucket);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_failures_blocks_until_the_bucket_refills() {
        let limiter = FailureLimiter::new(3, 10.0);
        let keys = ["client:a", "ip:1.2.3.4"];
        for _ in 0..3 {
            assert_eq!(limiter.retry_after(&keys, 0), None);
            limiter.fail(&keys, 0);
        }
        assert_eq!(limiter.retry_after(&keys, 0), Some(10));
        // Another client from the same address is blocked too; another address is not.
        assert!(
            limiter
                .retry_after(&["client:b", "ip:1.2.3.4"], 0)
                .is_some()
        );
        assert_eq!(limiter.retry_after(&["client:b", "ip:5.6.7.8"], 0), None);
        assert_eq!(limiter.retry_after(&keys, 10_000), None);
    }
}
