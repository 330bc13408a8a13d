//! Whether this node still knows it is current with every other node on the same
//! database. A node that has not confirmed for longer than its bound that the change feed
//! reaches it could be allowing an agent that another node killed, so the gateway and the
//! token endpoint refuse while `check` says it is stale. `warden-server`'s cluster module
//! confirms; the gateway and the token endpoint check.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// When this node last knew it was current, and if not, why.
#[derive(Debug)]
pub struct Freshness {
    origin: Instant,
    /// Milliseconds after `origin` of the last confirmation.
    confirmed: AtomicU64,
    bound: Duration,
    problem: Mutex<Option<String>>,
}

/// Why a node refuses: it has not been able to confirm it is current for too long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    pub silent_for: Duration,
    pub bound: Duration,
    pub problem: Option<String>,
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "this node has not heard the change feed for {} ms (the bound is {} ms), so it \
             cannot know what other nodes revoked",
            self.silent_for.as_millis(),
            self.bound.as_millis()
        )?;
        if let Some(problem) = &self.problem {
            write!(f, ": {problem}")?;
        }
        Ok(())
    }
}

impl Freshness {
    /// A node that is current now (it has just read everything at start).
    pub fn new(bound: Duration) -> Self {
        Self {
            origin: Instant::now(),
            confirmed: AtomicU64::new(0),
            bound,
            problem: Mutex::new(None),
        }
    }

    fn elapsed_millis(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The node is current as of now.
    pub fn confirm(&self) {
        self.confirmed
            .fetch_max(self.elapsed_millis(), Ordering::Relaxed);
        *self.problem.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Something stands in the way of confirming; kept to explain a refusal.
    pub fn trouble(&self, problem: String) {
        *self.problem.lock().unwrap_or_else(|p| p.into_inner()) = Some(problem);
    }

    /// What last stood in the way of confirming, if it has not been cleared since.
    pub fn problem(&self) -> Option<String> {
        self.problem
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// `Err` once the last confirmation is older than the bound.
    pub fn check(&self) -> Result<(), Stale> {
        let silent_for = Duration::from_millis(
            self.elapsed_millis()
                .saturating_sub(self.confirmed.load(Ordering::Relaxed)),
        );
        if silent_for <= self.bound {
            return Ok(());
        }
        Err(Stale {
            silent_for,
            bound: self.bound,
            problem: self
                .problem
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_node_is_current_and_goes_stale_after_the_bound() {
        let freshness = Freshness::new(Duration::from_millis(30));
        assert!(freshness.check().is_ok());
        freshness.trouble("the listening connection was lost".into());
        std::thread::sleep(Duration::from_millis(60));
        let stale = freshness.check().err();
        let text = stale.as_ref().map(ToString::to_string).unwrap_or_default();
        assert!(text.contains("bound is 30 ms"), "{text}");
        assert!(text.contains("the listening connection was lost"), "{text}");
        freshness.confirm();
        assert!(freshness.check().is_ok());
        // A confirmation clears the problem it answered.
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(freshness.check().err().and_then(|s| s.problem), None);
    }
}
