//! The leak evaluation: every matched leak report against the current state of what
//! leaked, reconciled in the leak scope (the only one that speaks for leak findings).
//!
//! It runs after every report, after every import (a source may now list the key
//! inactive) and with every full evaluation, serialised with other leak evaluations only.

use warden_core::{IdentityRef, IdentityStatus, Timestamp};
use warden_posture::{LeakFacts, LeakedCredential, SECRET_LEAKED, evaluate_leak};
use warden_store::findings::{EvaluationScope, FindingDraft, FindingIdentity, ReconcileOutcome};
use warden_store::leaks::{LeakMatch, LeakReport};
use warden_store::{Store, StoreError, StoreResult};

use super::Posture;

impl Posture {
    /// The leak rule over every matched report.
    pub async fn evaluate_leaks(
        &self,
        store: &dyn Store,
        now: Timestamp,
    ) -> StoreResult<ReconcileOutcome> {
        let _running = self.leaks_running.lock().await;
        let mut drafts = Vec::new();
        for report in store.matched_leaks().await? {
            if let Some(draft) = leak_draft(store, &report, now).await? {
                drafts.push(draft);
            }
        }
        let scope = EvaluationScope {
            leaks: true,
            ..EvaluationScope::default()
        };
        store
            .reconcile_findings(&self.actor, &scope, drafts, now)
            .await
    }
}

/// What leaked and whether it still works, read from the store.
async fn leaked_credential(
    store: &dyn Store,
    report: &LeakReport,
    now: Timestamp,
) -> StoreResult<Option<LeakedCredential>> {
    let subject = &report.subject;
    let (Some(subject_id), Some(credential_id)) = (&subject.subject_id, &subject.credential_id)
    else {
        return Ok(None);
    };
    let name = subject.identity_name.clone().unwrap_or_default();
    Ok(Some(match subject.matched {
        LeakMatch::ClientSecret => {
            let usable = match store.get_credential(credential_id).await {
                Ok(credential) => credential.is_usable(now),
                Err(StoreError::Domain(_)) => false,
                Err(error) => return Err(error),
            };
            // A Warden identity that is revoked takes its credentials with it.
            let identity_live = match IdentityRef::parse(subject_id) {
                Ok(reference) => match store.get_identity(&reference).await {
                    Ok(identity) => identity.status != IdentityStatus::Revoked,
                    Err(StoreError::Domain(_)) => false,
                    Err(error) => return Err(error),
                },
                Err(_) => false,
            };
            LeakedCredential::ClientSecret {
                credential_id: credential_id.clone(),
                identity_name: name,
                usable: usable && identity_live,
            }
        }
        LeakMatch::ImportedCredential => {
            let holders = store.leaked_credential_holders(credential_id).await?;
            let holder = holders
                .iter()
                .find(|holder| &holder.identity_id == subject_id);
            LeakedCredential::Imported {
                credential_kind: holder
                    .map(|h| h.credential_kind.clone())
                    .unwrap_or_default(),
                credential_id: credential_id.clone(),
                identity_name: name,
                active: holder.is_some_and(|h| h.active && h.presence == "present"),
            }
        }
        LeakMatch::UpstreamSecret => {
            let current_version = match store.get_upstream(&name).await {
                Ok(upstream) => upstream.has_secret.then_some(upstream.secret_version),
                Err(StoreError::Domain(_)) => None,
                Err(error) => return Err(error),
            };
            LeakedCredential::UpstreamSecret {
                upstream: name,
                leaked_version: subject.secret_version.unwrap_or_default(),
                current_version,
            }
        }
        LeakMatch::Unknown => return Ok(None),
    }))
}

async fn leak_draft(
    store: &dyn Store,
    report: &LeakReport,
    now: Timestamp,
) -> StoreResult<Option<FindingDraft>> {
    let Some(credential) = leaked_credential(store, report, now).await? else {
        return Ok(None);
    };
    let facts = LeakFacts {
        credential,
        secret_kind: report.secret_kind.clone(),
        locations: report.locations.iter().map(|l| l.describe()).collect(),
        report_count: report.report_count,
        response: report.response.as_str().to_string(),
    };
    let Some(finding) = evaluate_leak(&facts) else {
        return Ok(None);
    };
    let subject = &report.subject;
    let subject_id = subject.subject_id.clone().unwrap_or_default();
    let identity = FindingIdentity {
        id: (subject.matched != LeakMatch::UpstreamSecret).then(|| subject_id.clone()),
        kind: subject.identity_kind.clone().unwrap_or_default(),
        name: subject.identity_name.clone().unwrap_or_default(),
    };
    Ok(Some(FindingDraft {
        rule: SECRET_LEAKED.id.to_string(),
        owasp: SECRET_LEAKED.owasp.id().to_string(),
        severity: finding.severity.as_str().to_string(),
        severity_rank: finding.severity.rank(),
        subject: subject_id,
        identity: Some(identity),
        credential: Some(finding.credential),
        evidence: finding.evidence,
        remediation: finding.remediation,
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_store_and_the_rule_agree_on_the_leak_rule_id() {
        assert_eq!(
            warden_posture::SECRET_LEAKED.id,
            warden_store::findings::LEAK_RULE
        );
    }
}
