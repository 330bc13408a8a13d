//! When a failed delivery is tried again: exponential backoff with full jitter, capped, and
//! a dead letter after a fixed number of attempts.

use std::time::Duration;

/// How deliveries are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule {
    /// The wait before the second attempt, doubled for each attempt after it.
    pub base: Duration,
    /// The longest wait between two attempts.
    pub cap: Duration,
    /// How many attempts a delivery gets before it becomes a dead letter.
    pub max_attempts: u32,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(5),
            cap: Duration::from_secs(3600),
            max_attempts: 8,
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again after this long.
    RetryIn(Duration),
    /// No attempts left: the delivery is a dead letter.
    DeadLetter,
}

impl RetrySchedule {
    /// What follows the failure of attempt number `attempts` (1 for the first). `jitter`
    /// is a random value in `0.0..1.0`: the wait is spread over the upper half of the
    /// backoff window, so receivers that failed together are not retried together, and a
    /// retry never comes sooner than half the window.
    pub fn after_failure(&self, attempts: u32, jitter: f64) -> AfterFailure {
        if attempts >= self.max_attempts {
            return AfterFailure::DeadLetter;
        }
        let exponent = attempts.saturating_sub(1).min(30);
        let window = self
            .base
            .saturating_mul(1u32 << exponent)
            .min(self.cap)
            .as_millis();
        let window = u64::try_from(window).unwrap_or(u64::MAX);
        let jitter = jitter.clamp(0.0, 1.0);
        // The window is at most the cap (an hour in milliseconds), well inside f64's exact
        // integers, so the conversions lose nothing.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let spread = ((window / 2) as f64 * jitter) as u64;
        AfterFailure::RetryIn(Duration::from_millis(window / 2 + spread))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn waits_double_until_the_cap_and_the_last_attempt_is_a_dead_letter() {
        let schedule = RetrySchedule {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(10),
            max_attempts: 5,
        };
        let waits: Vec<AfterFailure> = (1..=5).map(|n| schedule.after_failure(n, 1.0)).collect();
        assert_eq!(
            waits,
            vec![
                AfterFailure::RetryIn(Duration::from_secs(2)),
                AfterFailure::RetryIn(Duration::from_secs(4)),
                AfterFailure::RetryIn(Duration::from_secs(8)),
                AfterFailure::RetryIn(Duration::from_secs(10)),
                AfterFailure::DeadLetter,
            ]
        );
        assert_eq!(
            schedule.after_failure(1, 0.0),
            AfterFailure::RetryIn(Duration::from_secs(1))
        );
    }

    proptest! {
        #[test]
        fn a_wait_stays_inside_the_upper_half_of_its_window(attempts in 1u32..100, jitter in -1.0f64..2.0) {
            let schedule = RetrySchedule::default();
            match schedule.after_failure(attempts, jitter) {
                AfterFailure::RetryIn(wait) => {
                    prop_assert!(attempts < schedule.max_attempts);
                    prop_assert!(wait <= schedule.cap);
                    prop_assert!(wait >= schedule.base / 2);
                }
                AfterFailure::DeadLetter => prop_assert!(attempts >= schedule.max_attempts),
            }
        }
    }
}
