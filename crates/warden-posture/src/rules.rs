//! The rules. Each is a function from an identity (with "now" and the thresholds) to the
//! findings it raises; [`RULES`] lists them with their ids, and [`evaluate`] runs them all,
//! plus the one rule that looks across identities (a credential shared by several).
//!
//! Rules read the clock only through [`Context`], in whole days since (or until) an instant.
//! The context notes, for every such reading, the first instant at which the rule's outcome
//! or evidence would read differently; [`Context::stable_until`] is the earliest of them, so
//! an evaluator may carry an identity's findings forward unchanged until then.

use std::cell::Cell;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use warden_core::Timestamp;
use warden_import::{
    AttributeValue, CredentialKind, ImportedCredential, ImportedIdentity, ManagedBy, attribute,
};

use crate::finding::{Finding, OwaspNhi, Severity};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The numbers the rules compare with; the defaults follow common rotation guidance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// A credential unused for longer than this is stale.
    pub unused_days: i64,
    /// A secret older than this should have been rotated.
    pub max_secret_age_days: i64,
    /// An expiry further away than this is as good as none.
    pub max_expiry_days: i64,
    /// After a rotation, how long the old key may stay active beside the new one.
    pub rotation_overlap_days: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            unused_days: 90,
            max_secret_age_days: 90,
            max_expiry_days: 3650,
            rotation_overlap_days: 7,
        }
    }
}

/// What every per-identity rule is given: the thresholds, and the clock in whole days.
pub struct Context<'a> {
    now: Timestamp,
    pub thresholds: &'a Thresholds,
    /// The earliest instant, of those noted so far, at which a reading of the clock changes.
    changes_at: Cell<Option<i64>>,
}

impl<'a> Context<'a> {
    pub fn new(now: Timestamp, thresholds: &'a Thresholds) -> Self {
        Self {
            now,
            thresholds,
            changes_at: Cell::new(None),
        }
    }

    /// Until when (exclusive) every rule run with this context answers as it did: the first
    /// instant at which one of the clock readings it made would differ. `None`: no reading
    /// can change (no rule looked at the clock, or only at expiries that do not matter).
    pub fn stable_until(&self) -> Option<Timestamp> {
        self.changes_at.get().map(Timestamp::from_millis)
    }

    /// Whole days from `at` to now (negative before it).
    fn days_since(&self, at: Timestamp) -> i64 {
        (self.now.as_millis() - at.as_millis()).div_euclid(DAY_MS)
    }

    fn note_change_at(&self, millis: i64) {
        let earliest = match self.changes_at.get() {
            Some(noted) => noted.min(millis),
            None => millis,
        };
        self.changes_at.set(Some(earliest));
    }

    /// The whole days since `at` when they exceed `limit`, for evidence that shows them.
    ///
    /// Notes when the answer next changes: over the limit, the day count shown goes up at the
    /// next whole day since `at`; within it, the answer turns at the first day past the limit.
    fn days_since_over(&self, at: Timestamp, limit: i64) -> Option<i64> {
        let days = self.days_since(at);
        let next_day = |days: i64| {
            at.as_millis()
                .saturating_add(days.saturating_add(1).saturating_mul(DAY_MS))
        };
        if days > limit {
            self.note_change_at(next_day(days));
            Some(days)
        } else {
            self.note_change_at(next_day(limit));
            None
        }
    }

    /// The whole days until `at` when they exceed `limit`, for evidence that shows them.
    ///
    /// Days until an instant only go down as time passes, so an answer within the limit never
    /// changes; one over it shows a count that changes at the next whole day.
    fn days_until_over(&self, at: Timestamp, limit: i64) -> Option<i64> {
        let since = self.days_since(at);
        let days = -since;
        if days > limit {
            self.note_change_at(
                at.as_millis()
                    .saturating_add(since.saturating_add(1).saturating_mul(DAY_MS)),
            );
            Some(days)
        } else {
            None
        }
    }
}

/// A rule's fixed facts and its check.
pub struct Rule {
    pub id: &'static str,
    pub owasp: OwaspNhi,
    pub severity: Severity,
    pub remediation: &'static str,
    pub check: fn(&Rule, &Context<'_>, &ImportedIdentity, &mut Vec<Finding>),
}

impl Rule {
    fn raise(
        &self,
        identity: &ImportedIdentity,
        credential: Option<&ImportedCredential>,
        evidence: String,
    ) -> Finding {
        self.raise_with(identity, credential, self.severity, evidence)
    }

    fn raise_with(
        &self,
        identity: &ImportedIdentity,
        credential: Option<&ImportedCredential>,
        severity: Severity,
        evidence: String,
    ) -> Finding {
        Finding {
            rule: self.id,
            owasp: self.owasp,
            severity,
            identity: identity.external_id.clone(),
            credential: credential.map(|c| c.id.clone()),
            evidence,
            remediation: self.remediation,
        }
    }
}

pub static RULES: &[Rule] = &[
    Rule {
        id: "credential-unused",
        owasp: OwaspNhi::ImproperOffboarding,
        severity: Severity::Medium,
        remediation: "deactivate the credential, and offboard the identity if nothing uses it",
        check: credential_unused,
    },
    Rule {
        id: "credential-never-used",
        owasp: OwaspNhi::ImproperOffboarding,
        severity: Severity::Medium,
        remediation: "delete a credential nothing has used since it was created",
        check: credential_never_used,
    },
    Rule {
        id: "owner-missing",
        owasp: OwaspNhi::ImproperOffboarding,
        severity: Severity::Medium,
        remediation: "assign an owner (an `owner` label or annotation at the source, or in Warden)",
        check: owner_missing,
    },
    Rule {
        id: "secret-too-old",
        owasp: OwaspNhi::LongLivedSecrets,
        severity: Severity::Medium,
        remediation: "rotate the secret, then deactivate the old one",
        check: secret_too_old,
    },
    Rule {
        id: "secret-no-expiry",
        owasp: OwaspNhi::LongLivedSecrets,
        severity: Severity::Low,
        remediation: "reissue the credential with an expiry",
        check: secret_no_expiry,
    },
    Rule {
        id: "secret-expiry-too-far",
        owasp: OwaspNhi::LongLivedSecrets,
        severity: Severity::Low,
        remediation: "reissue the credential with an expiry within the rotation policy",
        check: secret_expiry_too_far,
    },
    Rule {
        id: "keys-overlap-after-rotation",
        owasp: OwaspNhi::LongLivedSecrets,
        severity: Severity::Medium,
        remediation: "deactivate the older key now that its replacement is in use",
        check: keys_overlap,
    },
    Rule {
        id: "k8s-legacy-token-secret",
        owasp: OwaspNhi::LongLivedSecrets,
        severity: Severity::Medium,
        remediation: "delete the token Secret and use projected, expiring tokens (TokenRequest)",
        check: legacy_token_secret,
    },
    Rule {
        id: "k8s-cluster-admin",
        owasp: OwaspNhi::OverprivilegedNhi,
        severity: Severity::Critical,
        remediation: "bind a role with only the verbs and resources the workload needs",
        check: cluster_admin,
    },
    Rule {
        id: "wildcard-entitlement",
        owasp: OwaspNhi::OverprivilegedNhi,
        severity: Severity::High,
        remediation: "replace `*` in the role's rules with the groups, resources and verbs needed",
        check: wildcard_entitlement,
    },
    Rule {
        id: "github-all-repositories-write",
        owasp: OwaspNhi::OverprivilegedNhi,
        severity: Severity::High,
        remediation: "limit the token to the repositories it needs, or to read access",
        check: github_all_repositories_write,
    },
    Rule {
        id: "admin-permission",
        owasp: OwaspNhi::OverprivilegedNhi,
        severity: Severity::High,
        remediation: "grant the narrower permission the task needs instead of administration",
        check: admin_permission,
    },
    Rule {
        id: "static-key-in-ci",
        owasp: OwaspNhi::InsecureCloudDeploymentConfigurations,
        severity: Severity::High,
        remediation: "let the pipeline federate (OIDC) for short-lived credentials, then delete the static key",
        check: static_key_in_ci,
    },
    Rule {
        id: "console-password-on-service-user",
        owasp: OwaspNhi::HumanUseOfNhi,
        severity: Severity::High,
        remediation: "remove the console password; people sign in as themselves, machines use keys",
        check: console_password,
    },
];

/// The reuse rule, which looks across identities.
pub static SHARED_CREDENTIAL: Rule = Rule {
    id: "credential-shared",
    owasp: OwaspNhi::NhiReuse,
    severity: Severity::High,
    remediation: "issue each workload its own credential, then revoke the shared one",
    check: |_, _, _, _| {},
};

/// The reuse rule across environments: one credential held in more than one environment.
pub static SHARED_ACROSS_ENVIRONMENTS: Rule = Rule {
    id: "credential-shared-across-environments",
    owasp: OwaspNhi::EnvironmentIsolation,
    severity: Severity::High,
    remediation: "give each environment its own credential so a breach of one cannot reach another",
    check: |_, _, _, _| {},
};

/// Runs every rule over every identity, then the reuse rules over all of them.
pub fn evaluate(
    identities: &[ImportedIdentity],
    now: Timestamp,
    thresholds: &Thresholds,
) -> Vec<Finding> {
    let context = Context::new(now, thresholds);
    let mut findings = Vec::new();
    for identity in identities {
        for rule in RULES {
            (rule.check)(rule, &context, identity, &mut findings);
        }
    }
    let all: Vec<&ImportedIdentity> = identities.iter().collect();
    findings.extend(shared_credentials(&all).into_iter().map(|(_, f)| f));
    findings
}

fn active(identity: &ImportedIdentity) -> impl Iterator<Item = &ImportedCredential> {
    identity.credentials.iter().filter(|c| c.active)
}

/// Kinds whose exports say when they were last used; for the others, "never used" is unknown.
fn usage_is_reported(credential: &ImportedCredential) -> bool {
    matches!(
        credential.kind,
        CredentialKind::AccessKey | CredentialKind::PersonalAccessToken
    )
}

/// When the secret in use was made: its last rotation, else its creation.
fn secret_born(credential: &ImportedCredential) -> Option<Timestamp> {
    credential.last_rotated_at.or(credential.created_at)
}

fn credential_unused(
    rule: &Rule,
    cx: &Context<'_>,
    identity: &ImportedIdentity,
    out: &mut Vec<Finding>,
) {
    for credential in active(identity) {
        if let Some(used) = credential.last_used_at
            && let Some(days) = cx.days_since_over(used, cx.thresholds.unused_days)
        {
            out.push(rule.raise(
                identity,
                Some(credential),
                format!(
                    "last used {days} days ago (limit {})",
                    cx.thresholds.unused_days
                ),
            ));
        }
    }
}

fn credential_never_used(
    rule: &Rule,
    cx: &Context<'_>,
    identity: &ImportedIdentity,
    out: &mut Vec<Finding>,
) {
    for credential in active(identity).filter(|c| usage_is_reported(c)) {
        if credential.last_used_at.is_none()
            && let Some(created) = credential.created_at
            && let Some(days) = cx.days_since_over(created, cx.thresholds.unused_days)
        {
            out.push(rule.raise(
                identity,
                Some(credential),
                format!(
                    "never used since it was created {days} days ago (limit {})",
                    cx.thresholds.unused_days
                ),
            ));
        }
    }
}

fn owner_missing(
    rule: &Rule,
    _: &Context<'_>,
    identity: &ImportedIdentity,
    out: &mut Vec<Finding>,
) {
    if identity.owner_hint.is_none() {
        out.push(rule.raise(identity, None, "the source names no owner".to_string()));
    }
}

fn secret_too_old(
    rule: &Rule,
    cx: &Context<'_>,
    identity: &ImportedIdentity,
    out: &mut Vec<Finding>,
) {
    // System-managed keys are rotated by their platform.
    for credential in active(identity).filter(|c| c.managed_by != Some(ManagedBy::System)) {
        if let Some(born) = secret_born(credential)
            && let Some(days) = cx.days_since_over(born, cx.thresholds.max_secret_age_days)
        {
            out.push(rule.raise(
                identity,
                Some(credential),
                format!(
                    "{days} days since it was created or rotated (limit {})",
                    cx.thresholds.max_secret_age_days
                ),
            ));
        }
    }
}

/// Kinds that can be issued with an expiry, so a missing one is a choice.
fn expiry_is_possible(credential: &ImportedCredential) -> bool {
    match credential.kind {
        CredentialKind::PersonalAccessToken | CredentialKind::Other => true,
        CredentialKind::ServiceAccountKey => credential.managed_by != Some(ManagedBy::System),
        CredentialKind::AccessKey | CredentialKind::Certificate | CredentialKind::TokenSecret => {
            false
        }
    }
}

fn secret_no_expiry(
    rule: &Rule,
    _: &Context<'_>,
    identity: &ImportedIdentity,
    out: &mut Vec<Finding>,
) {
    for credential in active(identity).filter(|c| expiry_is_possible(c)) {
        if credential.expires_at.is_none() {
            out.push(rule.raise(identity, Some(credential), "it never expires".to_string()));
        }
    }
}

fn secret_expiry_too_far(
    rule: &Rule,
    cx: &Context<'_>,
    identity: &ImportedIdentity,
    out: &mut Vec<Finding>,
) {
    for credential in active(identity) {
        if let Some(expires) = credential.expires_at
            && let Some(days) = cx.days_until_over(expires, cx.thresholds.max_expiry_days)
        {
            out.push(rule.raise(
                identity,
                Some(credential),
                format!(
                    "expires in {days} days (limit {})",
                    cx.thresholds.max_expiry_days
                ),
            ));
        }
    }
}

fn keys_overlap(
    rule: &Rule,
    cx: &Context<'_>,
    identity: &ImportedIdentity,
    out: &mut Vec<Finding>,
) {
    let mut keys: Vec<(&ImportedCredential, Timestamp)> = active(identity)
        .filter(|c| c.kind == CredentialKind::AccessKey)
        .filter_map(|c| secret_born(c).map(|born| (c, born)))
        .collect();
    keys.sort_by_key(|(_, born)| *born);
    if let [.., (older, older_born), (_, newer_born)] = keys.as_slice() {
        let gap_ok = newer_born > older_born;
        if gap_ok
            && let Some(overlap) =
                cx.days_since_over(*newer_born, cx.thresholds.rotation_overlap_days)
        {
            out.push(rule.raise(
                identity,
                Some(older),
                format!(
                    "still active {overlap} days after a newer key was created (limit {})",
                    cx.thresholds.rotation_overlap_days
                ),
            ));
        }
    }
}

fn legacy_token_secret(
    rule: &Rule,
    _: &Context<'_>,
    identity: &ImportedIdentity,
    out: &mut Vec<Finding>,
) {
    for credential in active(identity).filter(|c| c.kind == CredentialKind::TokenSecret) {
        out.push(rule.raise(
            identity,
            Some(credential),
            "a long-lived service-account token stored in a Secret".to_string(),
        ));
    }
}

fn cluster_admin(
    rule: &Rule,
    _: &Context<'_>,
    identity: &ImportedIdentity,
    out: &mut Vec<Finding>,
) {
    for entitlement in &identity.entitlements {
        if entitlement.value == "k8s:clusterrole/cluster-admin" {
            // Bound in one namespace by a RoleBinding it is that namespace's admin: still high.
            let severity = match entitlement.scope {
                None => Severity::Critical,
                Some(_) => Severity::High,
            };
            let via = entitlement
                .provenance
                .via
                .as_deref()
                .unwrap_or("the export");
            let scope = entitlement.scope.as_deref().unwrap_or("the whole cluster");
            out.push(rule.raise_with(
                identity,
                None,
                severity,
                format!("cluster-admin over {scope}, granted by {via}"),
            ));
        }
    }
}

fn wildcard_entitlement(
    rule: &Rule,
    _: &Context<'_>,
    identity: &ImportedIdentity,
    out: &mut Vec<Finding>,
) {
    let wildcards: Vec<&str> = identity
        .entitlements
        .iter()
        .map(|e| e.value.as_str())
        .filter(|value| {
            (value.starts_with("k8s:rule/") || value.starts_with("k8s:nonresource/"))
                && value.contains('*')
        })
        .collect();
    if !wildcards.is_empty() {
        out.push(rule.raise(
            identity,
            None,
            format!("wildcard grants: {}", wildcards.join(", ")),
        ));
    }
}

fn github_all_repositories_write(
    rule: &Rule,
    _: &Context<'_>,
    identity: &ImportedIdentity,
    out: &mut Vec<Finding>,
) {
    let values: Vec<&str> = identity
        .entitlements
        .iter()
        .map(|e| e.value.as_str())
        .collect();
    if !values.contains(&"github:repository_selection/all") {
        return;
    }
    let writes: Vec<&str> = values
        .iter()
        .copied()
        .filter(|v| {
            v.starts_with("github:repository/") && (v.ends_with(":write") || v.ends_with(":admin"))
        })
        .collect();
    if !writes.is_empty() {
        out.push(rule.raise(
            identity,
            None,
            format!("every repository, with {}", writes.join(", ")),
        ));
    }
}

fn admin_permission(
    rule: &Rule,
    _: &Context<'_>,
    identity: &ImportedIdentity,
    out: &mut Vec<Finding>,
) {
    let admin: Vec<&str> = identity
        .entitlements
        .iter()
        .map(|e| e.value.as_str())
        .filter(|v| {
            v.starts_with("github:")
                && (v.ends_with(":admin") || v.contains("/administration:write"))
        })
        .collect();
    if !admin.is_empty() {
        out.push(rule.raise(
            identity,
            None,
            format!("administration: {}", admin.join(", ")),
        ));
    }
}

fn console_password(
    rule: &Rule,
    _: &Context<'_>,
    identity: &ImportedIdentity,
    out: &mut Vec<Finding>,
) {
    let password =
        identity.attributes.get(attribute::PASSWORD_ENABLED) == Some(&AttributeValue::Flag(true));
    // A user with access keys is used by a machine; a password on it means people use it too.
    let has_keys = identity
        .credentials
        .iter()
        .any(|c| c.kind == CredentialKind::AccessKey);
    if password && has_keys {
        out.push(rule.raise(
            identity,
            None,
            "a console password on a user that also has access keys".to_string(),
        ));
    }
}

/// The reuse rules over a set of identities: each finding with the index of its holder.
///
/// Several holders of one credential id or fingerprint raise `credential-shared` on each of
/// them; holders in different environments also raise `credential-shared-across-environments`.
pub fn shared_credentials(identities: &[&ImportedIdentity]) -> Vec<(usize, Finding)> {
    let mut holders: BTreeMap<(&'static str, &str), Vec<usize>> = BTreeMap::new();
    for (index, identity) in identities.iter().enumerate() {
        for credential in identity.credentials.iter().filter(|c| !c.is_report_slot()) {
            holders
                .entry(("id", credential.id.as_str()))
                .or_default()
                .push(index);
            if let Some(fingerprint) = credential.fingerprint.as_deref() {
                holders
                    .entry(("fingerprint", fingerprint))
                    .or_default()
                    .push(index);
            }
        }
    }
    let mut out = Vec::new();
    for ((what, value), mut sharing) in holders {
        // By external id, so one identity listed by two sources counts once and the evidence
        // names the holders in the same order however they were read.
        sharing.sort_unstable_by(|a, b| {
            (identities[*a].external_id.as_str(), *a)
                .cmp(&(identities[*b].external_id.as_str(), *b))
        });
        sharing.dedup_by(|a, b| identities[*a].external_id == identities[*b].external_id);
        if sharing.len() < 2 {
            continue;
        }
        let names: Vec<&str> = sharing
            .iter()
            .map(|i| identities[*i].external_id.as_str())
            .collect();
        // Each holder's findings in the order the holders were given.
        sharing.sort_unstable();
        let mut environments: Vec<&str> = sharing
            .iter()
            .filter_map(|i| identities[*i].environment_hint.map(|e| e.as_str()))
            .collect();
        environments.sort_unstable();
        environments.dedup();
        for index in &sharing {
            let identity = identities[*index];
            let rule = &SHARED_CREDENTIAL;
            out.push((
                *index,
                Finding {
                    rule: rule.id,
                    owasp: rule.owasp,
                    severity: rule.severity,
                    identity: identity.external_id.clone(),
                    credential: Some(value.to_string()),
                    evidence: format!("the same credential {what} is held by {}", names.join(", ")),
                    remediation: rule.remediation,
                },
            ));
            if environments.len() > 1 {
                let rule = &SHARED_ACROSS_ENVIRONMENTS;
                out.push((
                    *index,
                    Finding {
                        rule: rule.id,
                        owasp: rule.owasp,
                        severity: rule.severity,
                        identity: identity.external_id.clone(),
                        credential: Some(value.to_string()),
                        evidence: format!(
                            "the same credential {what} is used in {}",
                            environments.join(", ")
                        ),
                        remediation: rule.remediation,
                    },
                ));
            }
        }
    }
    out
}

/// Words that name a CI system in an identity's name or labels.
const CI_WORDS: &[&str] = &[
    "ci",
    "cd",
    "cicd",
    "pipeline",
    "jenkins",
    "gitlab",
    "github",
    "actions",
    "circleci",
    "travis",
    "buildkite",
    "teamcity",
    "bamboo",
    "drone",
    "argo",
    "tekton",
    "build",
];

fn names_ci(text: &str) -> bool {
    text.to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| CI_WORDS.contains(&word))
}

/// Static cloud keys held by a CI system: the pipeline can federate instead.
fn static_key_in_ci(
    rule: &Rule,
    _: &Context<'_>,
    identity: &ImportedIdentity,
    out: &mut Vec<Finding>,
) {
    let ci = names_ci(&identity.name)
        || identity
            .labels
            .iter()
            .any(|(key, value)| names_ci(key) && !value.is_empty() || names_ci(value));
    if !ci {
        return;
    }
    let static_key = |c: &&ImportedCredential| match c.kind {
        CredentialKind::AccessKey => true,
        CredentialKind::ServiceAccountKey => c.managed_by != Some(ManagedBy::System),
        _ => false,
    };
    for credential in active(identity).filter(static_key) {
        out.push(rule.raise(
            identity,
            Some(credential),
            format!(
                "`{}` looks like a CI identity and holds a static key",
                identity.name
            ),
        ));
    }
}
