//! Shared pieces of Warden's benchmark tools: the fixed response body, and the analysis of
//! a kill-switch run (which responses were allowed relative to the moment the kill call
//! returned). The analysis is pure so that it can be tested without a server.

use std::collections::BTreeMap;
use std::time::Duration;

/// The body every benchmark upstream answers with. The nginx static server in
/// `bench/load.sh` answers with the same bytes, so every leg moves the same payload.
pub const BODY: &str = "{\"ok\":true,\"item\":\"bench\"}\n";

/// How one request through the gateway ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer: the gateway let the request through.
    Allowed,
    /// A refusal: the status and the `error` code of the JSON body (empty when the body
    /// carried none).
    Refused { status: u16, code: String },
    /// No HTTP answer at all (connection refused or reset, timeout).
    Failed(String),
}

impl Outcome {
    /// A short label for tallies: `2xx`, `401 revoked`, `failed: …`.
    pub fn label(&self) -> String {
        match self {
            Self::Allowed => "2xx".to_owned(),
            Self::Refused { status, code } if code.is_empty() => status.to_string(),
            Self::Refused { status, code } => format!("{status} {code}"),
            Self::Failed(reason) => format!("failed: {reason}"),
        }
    }

    fn is_revoked(&self) -> bool {
        matches!(self, Self::Refused { status: 401, code } if code == "revoked")
    }
}

/// One request: when it was sent and when its answer arrived, both measured from the same
/// origin as the kill call's instants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub sent: Duration,
    pub received: Duration,
    pub outcome: Outcome,
}

/// What a kill-switch run shows.
#[derive(Debug, Clone, PartialEq)]
pub struct KillReport {
    /// Every request the clients made.
    pub requests: usize,
    /// Allowed responses before the kill call started: the load the gateway carried.
    pub allowed_before_kill: usize,
    /// How long `POST /v1/kill` took, from sending to its answer.
    pub kill_call: Duration,
    /// Allowed responses that arrived after the kill call returned (requests in flight).
    pub allowed_received_after_return: usize,
    /// Allowed responses to requests *sent* after the kill call returned. Must be zero.
    pub allowed_sent_after_return: usize,
    /// Allowed responses to requests sent while the kill call was in flight.
    pub allowed_sent_during_call: usize,
    /// Milliseconds from the kill call returning to the last allowed response; negative
    /// when the last allowed response arrived before the call returned.
    pub last_allowed_after_return_ms: Option<f64>,
    /// Milliseconds from the kill call starting to the sending of the first request that
    /// was refused as revoked: when the kill took effect at the gateway.
    pub first_revoked_sent_after_start_ms: Option<f64>,
    /// Milliseconds from the kill call starting to the arrival of the first refusal as
    /// revoked: for a leak report, the leak-to-refusal time.
    pub first_revoked_received_after_start_ms: Option<f64>,
    /// Requests sent after the kill call returned.
    pub sent_after_return: usize,
    /// How those requests ended, by label (`401 revoked` is the only right answer).
    pub after_return_outcomes: BTreeMap<String, usize>,
}

impl KillReport {
    /// True when nothing was allowed after the kill call returned and every later request
    /// was refused as revoked.
    pub fn holds(&self) -> bool {
        self.allowed_sent_after_return == 0
            && self.sent_after_return > 0
            && self.after_return_outcomes.len() == 1
            && self.after_return_outcomes.contains_key("401 revoked")
    }
}

/// `later - earlier` in milliseconds, negative when `later` is the earlier instant.
fn signed_ms(later: Duration, earlier: Duration) -> f64 {
    if later >= earlier {
        (later - earlier).as_secs_f64() * 1000.0
    } else {
        -((earlier - later).as_secs_f64() * 1000.0)
    }
}

/// Sorts the records of a run against the kill call's start and return instants.
pub fn analyse(records: &[Record], kill_started: Duration, kill_returned: Duration) -> KillReport {
    let mut report = KillReport {
        requests: records.len(),
        allowed_before_kill: 0,
        kill_call: kill_returned.saturating_sub(kill_started),
        allowed_received_after_return: 0,
        allowed_sent_after_return: 0,
        allowed_sent_during_call: 0,
        last_allowed_after_return_ms: None,
        first_revoked_sent_after_start_ms: None,
        first_revoked_received_after_start_ms: None,
        sent_after_return: 0,
        after_return_outcomes: BTreeMap::new(),
    };
    let mut last_allowed: Option<Duration> = None;
    let mut first_revoked: Option<Duration> = None;
    let mut first_refusal: Option<Duration> = None;
    for record in records {
        if record.outcome == Outcome::Allowed {
            last_allowed = Some(last_allowed.map_or(record.received, |l| l.max(record.received)));
            if record.received < kill_started {
                report.allowed_before_kill += 1;
            }
            if record.received > kill_returned {
                report.allowed_received_after_return += 1;
            }
            if record.sent > kill_returned {
                report.allowed_sent_after_return += 1;
            } else if record.sent >= kill_started {
                report.allowed_sent_during_call += 1;
            }
        }
        if record.outcome.is_revoked() {
            first_revoked = Some(first_revoked.map_or(record.sent, |f| f.min(record.sent)));
            first_refusal = Some(first_refusal.map_or(record.received, |f| f.min(record.received)));
        }
        if record.sent > kill_returned {
            report.sent_after_return += 1;
            *report
                .after_return_outcomes
                .entry(record.outcome.label())
                .or_default() += 1;
        }
    }
    report.last_allowed_after_return_ms = last_allowed.map(|at| signed_ms(at, kill_returned));
    report.first_revoked_sent_after_start_ms = first_revoked.map(|at| signed_ms(at, kill_started));
    report.first_revoked_received_after_start_ms =
        first_refusal.map(|at| signed_ms(at, kill_started));
    report
}

/// When a kill made on one node took hold on another: the delay from the kill call
/// returning to the sending of the first request after which every request sent before
/// `until` was refused as revoked (zero when that point came before the return). `None`
/// when it never took hold before `until`. The records are those of the other node.
pub fn took_hold_after(
    records: &[Record],
    kill_started: Duration,
    kill_returned: Duration,
    until: Duration,
) -> Option<Duration> {
    let window = || {
        records
            .iter()
            .filter(move |r| r.sent >= kill_started && r.sent < until)
    };
    let last_not_refused = window()
        .filter(|r| !r.outcome.is_revoked())
        .map(|r| r.sent)
        .max();
    let settled = window()
        .filter(|r| r.outcome.is_revoked() && last_not_refused.is_none_or(|last| r.sent > last))
        .map(|r| r.sent)
        .min()?;
    Some(settled.saturating_sub(kill_returned))
}

/// The `p`-th percentile (0 to 100, nearest rank) of `values`, which it sorts.
pub fn percentile(values: &mut [Duration], p: f64) -> Option<Duration> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn record(sent: u64, received: u64, outcome: Outcome) -> Record {
        Record {
            sent: ms(sent),
            received: ms(received),
            outcome,
        }
    }

    fn revoked() -> Outcome {
        Outcome::Refused {
            status: 401,
            code: "revoked".into(),
        }
    }

    #[test]
    fn a_clean_kill_holds() {
        // Kill call from 100 ms to 110 ms.
        let records = [
            record(10, 20, Outcome::Allowed),
            record(95, 105, Outcome::Allowed),
            record(104, 112, Outcome::Allowed),
            record(106, 107, revoked()),
            record(111, 113, revoked()),
            record(120, 121, revoked()),
        ];
        let report = analyse(&records, ms(100), ms(110));
        assert_eq!(report.requests, 6);
        assert_eq!(report.allowed_before_kill, 1);
        assert_eq!(report.kill_call, ms(10));
        assert_eq!(report.allowed_received_after_return, 1);
        assert_eq!(report.allowed_sent_after_return, 0);
        assert_eq!(report.allowed_sent_during_call, 1);
        assert_eq!(report.last_allowed_after_return_ms, Some(2.0));
        assert_eq!(report.first_revoked_sent_after_start_ms, Some(6.0));
        assert_eq!(report.sent_after_return, 2);
        assert!(report.holds());
    }

    #[test]
    fn an_allowed_request_sent_after_the_kill_returned_breaks_it() {
        let records = [
            record(10, 20, Outcome::Allowed),
            record(111, 113, Outcome::Allowed),
            record(120, 121, revoked()),
        ];
        let report = analyse(&records, ms(100), ms(110));
        assert_eq!(report.allowed_sent_after_return, 1);
        assert!(!report.holds());
    }

    #[test]
    fn any_other_refusal_after_the_kill_breaks_it() {
        let records = [
            record(10, 20, Outcome::Allowed),
            record(111, 113, revoked()),
            record(
                120,
                121,
                Outcome::Refused {
                    status: 503,
                    code: "unavailable".into(),
                },
            ),
        ];
        let report = analyse(&records, ms(100), ms(110));
        assert_eq!(
            report.after_return_outcomes.get("503 unavailable"),
            Some(&1)
        );
        assert!(!report.holds());
    }

    #[test]
    fn the_last_allowed_response_may_precede_the_return() {
        let records = [
            record(10, 99, Outcome::Allowed),
            record(111, 113, revoked()),
        ];
        let report = analyse(&records, ms(100), ms(110));
        assert_eq!(report.last_allowed_after_return_ms, Some(-11.0));
        assert!(report.holds());
    }

    #[test]
    fn a_run_with_no_request_after_the_kill_proves_nothing() {
        let records = [record(10, 20, Outcome::Allowed)];
        assert!(!analyse(&records, ms(100), ms(110)).holds());
    }

    #[test]
    fn a_kill_takes_hold_where_refusals_stop_being_interrupted() {
        // Kill on one node from 100 to 110 ms; the other node still allows a request sent
        // at 115, refuses one at 118, allows one at 120, and refuses everything from 125.
        let records = [
            record(90, 95, Outcome::Allowed),
            record(115, 116, Outcome::Allowed),
            record(118, 119, revoked()),
            record(120, 121, Outcome::Allowed),
            record(125, 126, revoked()),
            record(130, 131, revoked()),
            // After `until` (a restore): allowed again, and not counted.
            record(200, 201, Outcome::Allowed),
        ];
        assert_eq!(
            took_hold_after(&records, ms(100), ms(110), ms(150)),
            Some(ms(15))
        );
        // Refused before the call even returned: it took hold at once.
        let early = [record(105, 106, revoked()), record(112, 113, revoked())];
        assert_eq!(
            took_hold_after(&early, ms(100), ms(110), ms(150)),
            Some(Duration::ZERO)
        );
        // Never refused in the window.
        let never = [record(120, 121, Outcome::Allowed)];
        assert_eq!(took_hold_after(&never, ms(100), ms(110), ms(150)), None);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut values: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(percentile(&mut values, 50.0), Some(ms(50)));
        assert_eq!(percentile(&mut values, 99.0), Some(ms(99)));
        assert_eq!(percentile(&mut values, 100.0), Some(ms(100)));
        let mut one = vec![ms(7)];
        assert_eq!(percentile(&mut one, 99.0), Some(ms(7)));
        assert_eq!(percentile(&mut [], 50.0), None);
    }
}
