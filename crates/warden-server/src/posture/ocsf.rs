//! Findings as OCSF Detection Findings (class 2004, category 2 "Findings"), one JSON object
//! per line, for a SIEM.
//!
//! The activity says where the finding is in its life (1 Create while open, 3 Close once
//! resolved), `status_id` says the same in OCSF's words (1 New, 3 Suppressed, 4 Resolved),
//! the OWASP risk goes in `finding_info.types`, the rule in `finding_info.analytic`, and the
//! affected identity and credential in `resources`.

use serde_json::{Value, json};
use warden_store::findings::{FindingStatus, StoredFinding};

/// The OCSF schema version the records follow.
pub const OCSF_VERSION: &str = "1.3.0";
const CLASS_UID: u64 = 2004;
const CATEGORY_UID: u64 = 2;

/// One finding as an OCSF Detection Finding.
pub fn detection_finding(finding: &StoredFinding) -> Value {
    let (activity_id, activity_name) = match finding.status {
        FindingStatus::Resolved => (3, "Close"),
        FindingStatus::Open | FindingStatus::Suppressed => (1, "Create"),
    };
    let (status_id, status) = match finding.status {
        FindingStatus::Open => (1, "New"),
        FindingStatus::Suppressed => (3, "Suppressed"),
        FindingStatus::Resolved => (4, "Resolved"),
    };
    let (severity_id, severity) = match finding.severity.as_str() {
        "critical" => (5, "Critical"),
        "high" => (4, "High"),
        "medium" => (3, "Medium"),
        _ => (2, "Low"),
    };
    let mut resources = Vec::new();
    if let Some(identity) = &finding.identity {
        resources.push(json!({
            "uid": identity.id.clone().unwrap_or_else(|| finding.subject.clone()),
            "name": identity.name,
            "type": identity.kind,
        }));
    } else {
        resources.push(json!({"uid": finding.subject, "type": finding.subject.split(':').next().unwrap_or("record")}));
    }
    if let Some(credential) = &finding.credential {
        resources.push(json!({"uid": credential, "type": "credential"}));
    }
    let time = match finding.status {
        FindingStatus::Resolved => finding.resolved_at.unwrap_or(finding.last_seen),
        _ => finding.last_seen,
    };
    let mut record = json!({
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": CLASS_UID * 100 + activity_id,
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status_id,
        "status": status,
        "time": time.as_millis(),
        "message": finding.evidence,
        "finding_info": {
            "uid": finding.id,
            "title": format!("{} ({})", finding.rule, finding.owasp),
            "desc": finding.evidence,
            "types": [finding.owasp],
            "first_seen_time": finding.first_seen.as_millis(),
            "last_seen_time": finding.last_seen.as_millis(),
            "analytic": {"uid": finding.rule, "name": finding.rule, "type_id": 1, "type": "Rule"},
        },
        "resources": resources,
        "remediation": {"desc": finding.remediation},
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": "Warden", "vendor_name": "Warden"},
        },
    });
    if let Some(suppression) = &finding.suppression
        && finding.status == FindingStatus::Suppressed
    {
        record["comment"] = json!(format!(
            "suppressed by {} until {}: {}",
            suppression.by,
            suppression.until.to_rfc3339(),
            suppression.reason
        ));
    }
    record
}

#[cfg(test)]
mod tests {
    use warden_core::Timestamp;
    use warden_store::findings::FindingIdentity;

    use super::*;

    fn finding(status: FindingStatus) -> StoredFinding {
        StoredFinding {
            id: "0190".into(),
            rule: "secret-too-old".into(),
            owasp: "NHI7:2025".into(),
            severity: "medium".into(),
            status,
            subject: "id-1".into(),
            identity: Some(FindingIdentity {
                id: Some("id-1".into()),
                kind: "service_account".into(),
                name: "ci-deployer".into(),
            }),
            credential: Some("AKIAEXAMPLE".into()),
            evidence: "120 days since it was created or rotated (limit 90)".into(),
            remediation: "rotate the secret, then deactivate the old one".into(),
            first_seen: Timestamp::from_millis(1_000),
            last_seen: Timestamp::from_millis(2_000),
            resolved_at: None,
            suppression: None,
        }
    }

    #[test]
    fn an_open_finding_is_a_new_detection_with_its_risk_rule_and_resources() {
        let record = detection_finding(&finding(FindingStatus::Open));
        assert_eq!(record["class_uid"], 2004);
        assert_eq!(record["type_uid"], 200401);
        assert_eq!(record["status_id"], 1);
        assert_eq!(record["severity_id"], 3);
        assert_eq!(record["finding_info"]["types"][0], "NHI7:2025");
        assert_eq!(record["finding_info"]["analytic"]["uid"], "secret-too-old");
        assert_eq!(record["resources"][0]["name"], "ci-deployer");
        assert_eq!(record["resources"][1]["uid"], "AKIAEXAMPLE");
    }

    #[test]
    fn a_resolved_finding_closes() {
        let mut resolved = finding(FindingStatus::Resolved);
        resolved.resolved_at = Some(Timestamp::from_millis(3_000));
        let record = detection_finding(&resolved);
        assert_eq!(record["activity_id"], 3);
        assert_eq!(record["type_uid"], 200403);
        assert_eq!(record["status_id"], 4);
        assert_eq!(record["time"], 3_000);
    }
}
