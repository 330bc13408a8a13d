//! Rate limiting of failed client authentication, per source address and per (client id,
//! source address): never per client id alone.
//!
//! A token bucket per key: each failure takes a token; tokens come back at a steady rate.
//! Once a bucket is empty, authentication from that address (or by that client from that
//! address) is refused before it is attempted, so a guesser learns nothing more, until the
//! bucket refills. Successes cost nothing. A bucket keyed by the client id alone would let
//! anyone lock a client out by failing in its name; keyed as here, failures throttle the
//! guesser, and the holder of the right credential, from an address without failures, is
//! never held back. (Client secrets are 256-bit random values: spreading guesses over many
//! addresses gains an attacker nothing.)
//!
//! IPv6 sources are counted by their /64, the block one host is usually given, so cycling
//! through one's own addresses does not reset the count. Memory is bounded: client ids are
//! cut to `MAX_CLIENT_ID_CHARS` in keys, and at most `capacity` buckets are kept. Past
//! that, buckets that have refilled are dropped, and if that is not enough, the fullest
//! (the least suspicious) go, down to seven eighths of the capacity, so the sorting is paid
//! once per many failures. Buckets live in memory, per node.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// How many failures an address, or a client from one address, may have in a burst.
pub const DEFAULT_BURST: u32 = 10;
/// How many seconds it takes to earn back one failure.
pub const DEFAULT_REFILL_SECS: f64 = 6.0;
/// The most buckets kept.
pub const DEFAULT_CAPACITY: usize = 100_000;
/// Client ids are Warden ids (36 characters); anything longer is cut in keys.
const MAX_CLIENT_ID_CHARS: usize = 64;

/// The keys one authentication attempt counts against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureKeys {
    source: String,
    client_at_source: String,
}

impl FailureKeys {
    pub fn new(client_id: &str, source: Option<IpAddr>) -> Self {
        let source = match source {
            Some(IpAddr::V4(address)) => format!("ip:{address}"),
            Some(IpAddr::V6(address)) => match address.to_ipv4_mapped() {
                Some(v4) => format!("ip:{v4}"),
                None => {
                    let segments = address.segments();
                    format!(
                        "ip:{:x}:{:x}:{:x}:{:x}::/64",
                        segments[0], segments[1], segments[2], segments[3]
                    )
                }
            },
            None => "ip:unknown".to_string(),
        };
        let client: String = client_id.chars().take(MAX_CLIENT_ID_CHARS).collect();
        Self {
            client_at_source: format!("client:{client}@{source}"),
            source,
        }
    }

    fn all(&self) -> [&str; 2] {
        [&self.source, &self.client_at_source]
    }
}

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
    capacity: usize,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Default for FailureLimiter {
    fn default() -> Self {
        Self::new(DEFAULT_BURST, DEFAULT_REFILL_SECS)
    }
}

impl FailureLimiter {
    pub fn new(burst: u32, refill_secs: f64) -> Self {
        Self::with_capacity(burst, refill_secs, DEFAULT_CAPACITY)
    }

    pub fn with_capacity(burst: u32, refill_secs: f64, capacity: usize) -> Self {
        Self {
            burst: f64::from(burst.max(1)),
            refill_per_ms: 1.0 / (refill_secs.max(0.001) * 1000.0),
            capacity: capacity.max(8),
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

    /// `None` when the attempt may go ahead; otherwise how many seconds until it may.
    pub fn retry_after(&self, keys: &FailureKeys, now_ms: i64) -> Option<u64> {
        let buckets = match self.buckets.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut wait: Option<f64> = None;
        for key in keys.all() {
            if let Some(bucket) = buckets.get(key) {
                let bucket = self.refilled(*bucket, now_ms);
                if bucket.tokens < 1.0 {
                    let ms = (1.0 - bucket.tokens) / self.refill_per_ms;
                    wait = Some(wait.map_or(ms, |current: f64| current.max(ms)));
                }
            }
        }
        wait.map(|ms| (ms / 1000.0).ceil().max(1.0) as u64)
    }

    /// Records one failure against every key of the attempt.
    pub fn fail(&self, keys: &FailureKeys, now_ms: i64) {
        let mut buckets = match self.buckets.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if buckets.len() + 2 > self.capacity {
            self.make_room(&mut buckets, now_ms);
        }
        for key in keys.all() {
            let bucket = buckets.get(key).copied().unwrap_or(Bucket {
                tokens: self.burst,
                updated: now_ms,
            });
            let mut bucket = self.refilled(bucket, now_ms);
            bucket.tokens = (bucket.tokens - 1.0).max(0.0);
            buckets.insert(key.to_string(), bucket);
        }
    }

    /// How many buckets are kept now.
    pub fn tracked(&self) -> usize {
        match self.buckets.lock() {
            Ok(guard) => guard.len(),
            Err(poisoned) => poisoned.into_inner().len(),
        }
    }

    fn make_room(&self, buckets: &mut HashMap<String, Bucket>, now_ms: i64) {
        let burst = self.burst;
        buckets.retain(|_, bucket| self.refilled(*bucket, now_ms).tokens < burst);
        let target = self.capacity - self.capacity / 8;
        if buckets.len() <= target {
            return;
        }
        let mut by_fullness: Vec<(f64, String)> = buckets
            .iter()
            .map(|(key, bucket)| (self.refilled(*bucket, now_ms).tokens, key.clone()))
            .collect();
        by_fullness.sort_by(|a, b| b.0.total_cmp(&a.0));
        let excess = buckets.len() - target;
        for (_, key) in by_fullness.into_iter().take(excess) {
            buckets.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> Option<IpAddr> {
        text.parse().ok()
    }

    #[test]
    fn failures_throttle_the_guesser_not_the_client_they_name() {
        let limiter = FailureLimiter::new(3, 10.0);
        let guesser = FailureKeys::new("victim", address("10.0.0.1"));
        for _ in 0..3 {
            assert_eq!(limiter.retry_after(&guesser, 0), None);
            limiter.fail(&guesser, 0);
        }
        assert_eq!(limiter.retry_after(&guesser, 0), Some(10));
        // The guesser's address is throttled whatever client it names next.
        assert!(
            limiter
                .retry_after(&FailureKeys::new("other", address("10.0.0.1")), 0)
                .is_some()
        );
        // The victim, from its own address, is not.
        let holder = FailureKeys::new("victim", address("10.0.0.2"));
        assert_eq!(limiter.retry_after(&holder, 0), None);
        assert_eq!(limiter.retry_after(&guesser, 10_000), None);
    }

    #[test]
    fn an_address_failing_for_many_clients_is_throttled_for_all() {
        let limiter = FailureLimiter::new(3, 10.0);
        for client in ["a", "b", "c"] {
            limiter.fail(&FailureKeys::new(client, address("10.0.0.9")), 0);
        }
        assert!(
            limiter
                .retry_after(&FailureKeys::new("d", address("10.0.0.9")), 0)
                .is_some()
        );
    }

    #[test]
    fn ipv6_sources_count_by_their_64_block() {
        let one = FailureKeys::new("c", address("2001:db8:1:2::1"));
        let same_block = FailureKeys::new("c", address("2001:db8:1:2:ffff::9"));
        let other_block = FailureKeys::new("c", address("2001:db8:1:3::1"));
        assert_eq!(one, same_block);
        assert_ne!(one, other_block);
        assert_eq!(
            FailureKeys::new("c", address("::ffff:10.0.0.1")),
            FailureKeys::new("c", address("10.0.0.1"))
        );
    }

    #[test]
    fn a_spray_of_addresses_and_client_ids_stays_within_capacity() {
        let limiter = FailureLimiter::with_capacity(10, 6.0, 1000);
        let long_id = "x".repeat(10_000);
        for index in 0..20_000u32 {
            let [a, b, c, d] = index.to_be_bytes();
            let keys = FailureKeys::new(
                &format!("{long_id}{index}"),
                Some(IpAddr::from([a.wrapping_add(1), b, c, d])),
            );
            limiter.fail(&keys, i64::from(index));
            assert!(limiter.tracked() <= 1000);
        }
        // A guesser that keeps failing is among those kept.
        let guesser = FailureKeys::new("victim", address("10.9.9.9"));
        for _ in 0..10 {
            limiter.fail(&guesser, 20_000);
        }
        for index in 0..500u32 {
            let keys = FailureKeys::new("spray", Some(IpAddr::from(index.to_be_bytes())));
            limiter.fail(&keys, 20_000);
        }
        assert!(limiter.retry_after(&guesser, 20_000).is_some());
    }
}
