//! Values as people read them on a page: times, ages, audit events. Everything here is
//! shaped from what the API's code paths return, and holds no secret because they hold
//! none.

use serde_json::Value;
use warden_core::Timestamp;

use crate::api::audit::AuditVerification;

/// A time as RFC 3339 to the second, in UTC.
pub fn when(at: Timestamp) -> String {
    let text = at.to_rfc3339();
    // `2026-12-03T14:00:00.123Z` reads as `2026-12-03 14:00:00 UTC`.
    match text.split_once('.') {
        Some((seconds, _)) => format!("{} UTC", seconds.replacen('T', " ", 1)),
        None => text,
    }
}

/// How long ago `then` was at `now`, in the largest whole unit.
pub fn age(then: Timestamp, now: Timestamp) -> String {
    let secs = now.as_secs().saturating_sub(then.as_secs());
    if secs < 0 {
        return "in the future".into();
    }
    let (amount, unit) = if secs < 60 {
        (secs, "s")
    } else if secs < 3600 {
        (secs / 60, "min")
    } else if secs < 86_400 {
        (secs / 3600, "h")
    } else {
        (secs / 86_400, "d")
    };
    format!("{amount} {unit}")
}

/// A time read from a JSON field, shown with [`when`]; empty when absent.
pub fn json_when(value: &Value) -> String {
    value
        .as_str()
        .and_then(|text| Timestamp::parse_rfc3339(text).ok())
        .map(when)
        .unwrap_or_default()
}

/// A JSON string field, or empty.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// One audit event as a table row.
#[derive(Debug)]
pub struct EventRow {
    pub sequence: String,
    pub time: String,
    pub kind: String,
    pub actor: String,
    pub target: String,
    pub outcome: String,
}

impl EventRow {
    /// Shapes an event as `/v1/audit/events` returns it.
    pub fn from_json(event: &Value) -> Self {
        let target = &event["target"];
        let target = match (target["kind"].as_str(), target["name"].as_str()) {
            (Some(kind), Some(name)) => format!("{kind} {name}"),
            (Some(kind), None) => format!("{kind} {}", text(&target["id"])),
            _ => text(&event["upstream"]),
        };
        let mut outcome = Vec::new();
        for key in ["decision", "action", "approved_by"] {
            let value = text(&event[key]);
            if !value.is_empty() {
                outcome.push(value);
            }
        }
        if let Some(rule) = event["details"]["rule"].as_str() {
            outcome.push(rule.to_string());
        }
        Self {
            sequence: text(&event["sequence"]),
            time: json_when(&event["time"]),
            kind: text(&event["kind"]),
            actor: text(&event["actor"]["name"]),
            target,
            outcome: outcome.join(" · "),
        }
    }
}

/// Whether the audit chain verifies, as `GET /v1/audit/verify` answers, in a sentence.
#[derive(Debug)]
pub struct Chain {
    pub intact: bool,
    pub summary: String,
}

impl Chain {
    pub fn of(verification: &AuditVerification) -> Self {
        match (&verification.report, &verification.failure) {
            (Some(report), _) if verification.intact => Self {
                intact: true,
                summary: format!(
                    "{} events verified, {} signed checkpoints, {} events after the last checkpoint",
                    report.events_verified, report.checkpoints_verified, report.unanchored_events
                ),
            },
            (_, Some(failure)) => Self {
                intact: false,
                summary: failure.message.clone(),
            },
            _ => Self {
                intact: false,
                summary: "the verification gave no report".into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_to_the_second_in_utc() {
        let at = Timestamp::parse_rfc3339("2026-12-03T14:05:09.250Z")
            .unwrap_or(Timestamp::from_millis(0));
        assert_eq!(when(at), "2026-12-03 14:05:09 UTC");
    }

    #[test]
    fn ages_use_the_largest_whole_unit() {
        let now = Timestamp::from_millis(10_000_000_000);
        assert_eq!(age(now.plus_secs(-59), now), "59 s");
        assert_eq!(age(now.plus_secs(-60), now), "1 min");
        assert_eq!(age(now.plus_secs(-7200), now), "2 h");
        assert_eq!(age(now.plus_secs(-3 * 86_400), now), "3 d");
        assert_eq!(age(now.plus_secs(5), now), "in the future");
    }

    #[test]
    fn an_event_row_names_actor_target_and_outcome() {
        let event = serde_json::json!({
            "sequence": 7,
            "time": "2026-12-03T14:05:09.250Z",
            "kind": "kill.applied",
            "actor": {"type": "admin", "id": "dashboard", "name": "alice@example.com"},
            "target": {"kind": "identity", "id": "x", "name": "support-bot"},
        });
        let row = EventRow::from_json(&event);
        assert_eq!(row.sequence, "7");
        assert_eq!(row.kind, "kill.applied");
        assert_eq!(row.actor, "alice@example.com");
        assert_eq!(row.target, "identity support-bot");
    }

    #[test]
    fn a_chain_reads_intact_only_with_a_report_and_broken_with_the_first_problem() {
        use crate::api::audit::{AuditFailure, AuditVerifyReport};
        let intact = Chain::of(&AuditVerification {
            intact: true,
            report: Some(AuditVerifyReport {
                events_verified: 12,
                first_sequence: Some(1),
                last_sequence: 12,
                last_hash: "00".into(),
                checkpoints_verified: 2,
                last_checkpoint: Some(10),
                unanchored_events: 2,
            }),
            failure: None,
        });
        assert!(intact.intact);
        assert_eq!(
            intact.summary,
            "12 events verified, 2 signed checkpoints, 2 events after the last checkpoint"
        );
        let broken = Chain::of(&AuditVerification {
            intact: false,
            report: None,
            failure: Some(AuditFailure {
                sequence: 4,
                problem: "edited".into(),
                message: "sequence 4 was edited".into(),
            }),
        });
        assert!(!broken.intact);
        assert_eq!(broken.summary, "sequence 4 was edited");
        let silent = Chain::of(&AuditVerification {
            intact: true,
            report: None,
            failure: None,
        });
        assert!(!silent.intact, "no report is not intact");
    }
}
