//! Rules over Warden's own records: the secrets it injects into upstreams and the Cedar
//! permits it decides with.
//!
//! The facts are extracted by their owners (the store lists upstreams; `warden-policy` reads
//! a permit's scope) and handed in as plain values, so these rules stay free of Cedar and I/O.
//! Each finding names its subject as `upstream:NAME` or `policy:ID`.

use crate::finding::{Finding, OwaspNhi, Severity};
use crate::rules::Rule;

/// What the rules need to know of one upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamFacts {
    pub name: String,
    /// The secret is injected as HTTP Basic credentials: a static password on every request.
    pub basic_auth: bool,
    pub has_secret: bool,
}

/// A Cedar permit that allows every action (no action constraint) on an upstream or on
/// everything, as `warden-policy` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadPermit {
    pub policy_id: String,
    /// The principal it names (`Agent::"etl-bot"`), or `None` for any principal.
    pub principal: Option<String>,
    /// When the principal is one identity: its kind (`agent`) and name.
    pub identity: Option<(String, String)>,
    /// The upstream it is scoped to, or `None` for every resource.
    pub upstream: Option<String>,
    /// It carries `when`/`unless` conditions, which may narrow it.
    pub conditional: bool,
}

pub static UPSTREAM_BASIC_AUTH: Rule = Rule {
    id: "upstream-basic-auth",
    owasp: OwaspNhi::InsecureAuthentication,
    severity: Severity::Medium,
    remediation: "switch the upstream to a token it can scope and expire (bearer or an API key header), then retire the password",
    check: |_, _, _, _| {},
};

pub static POLICY_EVERY_ACTION: Rule = Rule {
    id: "policy-every-action",
    owasp: OwaspNhi::OverprivilegedNhi,
    severity: Severity::High,
    remediation: "name the actions the agent needs in the permit (`action in [...]`) instead of allowing every action",
    check: |_, _, _, _| {},
};

/// A finding over one of Warden's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFinding {
    /// `upstream:NAME` or `policy:ID`.
    pub subject: String,
    /// The identity it is about, when the record names one: kind and name.
    pub identity: Option<(String, String)>,
    pub finding: Finding,
}

/// Findings over the upstreams and the broad permits.
pub fn evaluate_records(
    upstreams: &[UpstreamFacts],
    permits: &[BroadPermit],
) -> Vec<RecordFinding> {
    let mut out = Vec::new();
    for upstream in upstreams.iter().filter(|u| u.basic_auth && u.has_secret) {
        let rule = &UPSTREAM_BASIC_AUTH;
        out.push(RecordFinding {
            subject: format!("upstream:{}", upstream.name),
            identity: None,
            finding: Finding {
                rule: rule.id,
                owasp: rule.owasp,
                severity: rule.severity,
                identity: format!("upstream/{}", upstream.name),
                credential: Some(format!("upstream:{}", upstream.name)),
                evidence: format!(
                    "the secret of upstream `{}` is a password sent as HTTP Basic on every request",
                    upstream.name
                ),
                remediation: rule.remediation,
            },
        });
    }
    for permit in permits {
        let rule = &POLICY_EVERY_ACTION;
        let who = permit.principal.as_deref().unwrap_or("every principal");
        let on = match &permit.upstream {
            Some(upstream) => format!("upstream `{upstream}`"),
            None => "every upstream".to_string(),
        };
        let severity = match (&permit.principal, &permit.upstream, permit.conditional) {
            (None, None, false) => Severity::Critical,
            (_, _, true) => Severity::Medium,
            _ => rule.severity,
        };
        let conditions = if permit.conditional {
            " (with conditions)"
        } else {
            ""
        };
        out.push(RecordFinding {
            subject: format!("policy:{}", permit.policy_id),
            identity: permit.identity.clone(),
            finding: Finding {
                rule: rule.id,
                owasp: rule.owasp,
                severity,
                identity: format!("policy/{}", permit.policy_id),
                credential: None,
                evidence: format!(
                    "policy `{}` permits {who} every action on {on}{conditions}",
                    permit.policy_id
                ),
                remediation: rule.remediation,
            },
        });
    }
    out
}
