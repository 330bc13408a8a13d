//! Posture evaluation: reads the inventory and Warden's own records from the store, runs the
//! pure rules of `warden-posture` over them, and reconciles the findings with the stored ones.
//!
//! Three ways in: a full evaluation (every imported identity, the reuse rules across all of
//! them, and the rules over upstreams and permits), run on a timer and on request; a targeted
//! one after an import or a reassignment, over the identities that changed and those sharing
//! a credential with them; and a records-only one when upstreams or policies change.
//! Evaluations are serialised on a node so two never reconcile at once.

mod leaks;
pub mod ocsf;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, Notify};
use warden_audit::Actor;
use warden_core::Timestamp;
use warden_import::{ImportedCredential, ImportedIdentity};
use warden_policy::{PolicyDocument, every_action_permits};
use warden_posture::{
    BroadPermit, Finding, OwnerState, Subject, Thresholds, UpstreamFacts, evaluate_records,
    evaluate_subject, rules::shared_credentials,
};
use warden_store::findings::{EvaluationScope, FindingDraft, FindingIdentity, ReconcileOutcome};
use warden_store::inventory::InventoryItem;
use warden_store::{Store, StoreResult};

/// Above this many changed identities an import re-evaluates everything: one pass over the
/// inventory is cheaper than thousands of targeted lookups.
const TARGETED_LIMIT: usize = 1_000;

/// The reuse rules: their findings sit on every holder of a shared credential.
const REUSE_RULES: [&str; 2] = [
    warden_posture::rules::SHARED_CREDENTIAL.id,
    warden_posture::rules::SHARED_ACROSS_ENVIRONMENTS.id,
];

pub const DEFAULT_EVALUATE_INTERVAL_SECS: u64 = 3_600;

/// The evaluator a node runs.
#[derive(Debug)]
pub struct Posture {
    thresholds: Thresholds,
    interval: Duration,
    /// Held while an evaluation reconciles.
    running: Mutex<()>,
    /// Wakes the background loop for a full evaluation.
    wanted: Notify,
    actor: Actor,
}

impl Posture {
    pub fn new(thresholds: Thresholds, interval: Duration) -> Self {
        Self {
            thresholds,
            interval,
            running: Mutex::new(()),
            wanted: Notify::new(),
            actor: Actor::system("posture"),
        }
    }

    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    /// Asks the background loop for a full evaluation soon (after an owner change, say).
    pub fn request_full(&self) {
        self.wanted.notify_one();
    }

    /// Every rule over everything.
    pub async fn evaluate_all(
        &self,
        store: &dyn Store,
        now: Timestamp,
    ) -> StoreResult<ReconcileOutcome> {
        let _running = self.running.lock().await;
        let thresholds = &self.thresholds;
        let mut drafts = Vec::new();
        let mut slims: Vec<(String, ImportedIdentity)> = Vec::new();
        store
            .scan_inventory(&mut |item: InventoryItem| {
                push_subject_findings(&item, now, thresholds, &mut drafts);
                slims.push((item.id.clone(), slim(item.identity)));
            })
            .await?;
        let holders: Vec<&ImportedIdentity> = slims.iter().map(|(_, i)| i).collect();
        for (index, finding) in shared_credentials(&holders) {
            let (id, identity) = &slims[index];
            drafts.push(draft(id, Some(identity_of(id, identity)), finding));
        }
        drop(holders);
        drop(slims);
        drafts.extend(record_drafts(store).await?);
        let scope = EvaluationScope {
            all: true,
            ..EvaluationScope::default()
        };
        store
            .reconcile_findings(&self.actor, &scope, drafts, now)
            .await
    }

    /// The rules over the given imported identities, and the reuse rules over them and the
    /// identities sharing a credential with them.
    pub async fn evaluate_identities(
        &self,
        store: &dyn Store,
        ids: &[String],
        now: Timestamp,
    ) -> StoreResult<ReconcileOutcome> {
        if ids.len() > TARGETED_LIMIT {
            return self.evaluate_all(store, now).await;
        }
        if ids.is_empty() {
            return Ok(ReconcileOutcome::default());
        }
        let _running = self.running.lock().await;
        let group = store.inventory_with_peers(ids).await?;
        let changed: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
        let mut credentials = BTreeSet::new();
        let mut drafts = Vec::new();
        for item in group
            .iter()
            .filter(|item| changed.contains(item.id.as_str()))
        {
            push_subject_findings(item, now, &self.thresholds, &mut drafts);
            for credential in &item.identity.credentials {
                credentials.insert(credential.id.clone());
                if let Some(fingerprint) = &credential.fingerprint {
                    credentials.insert(fingerprint.clone());
                }
            }
        }
        let holders: Vec<&ImportedIdentity> = group.iter().map(|item| &item.identity).collect();
        for (index, finding) in shared_credentials(&holders) {
            let in_scope = finding
                .credential
                .as_ref()
                .is_some_and(|c| credentials.contains(c));
            if in_scope {
                let item = &group[index];
                drafts.push(draft(
                    &item.id,
                    Some(identity_of(&item.id, &item.identity)),
                    finding,
                ));
            }
        }
        let scope = EvaluationScope {
            subjects: ids.to_vec(),
            rules_on_credentials: REUSE_RULES.iter().map(|r| r.to_string()).collect(),
            credentials: credentials.into_iter().collect(),
            ..EvaluationScope::default()
        };
        store
            .reconcile_findings(&self.actor, &scope, drafts, now)
            .await
    }

    /// The rules over upstreams and permits only.
    pub async fn evaluate_records(
        &self,
        store: &dyn Store,
        now: Timestamp,
    ) -> StoreResult<ReconcileOutcome> {
        let _running = self.running.lock().await;
        let drafts = record_drafts(store).await?;
        let scope = EvaluationScope {
            records: true,
            ..EvaluationScope::default()
        };
        store
            .reconcile_findings(&self.actor, &scope, drafts, now)
            .await
    }

    /// Until `stop`: a full evaluation at start, on every interval and on request, and a
    /// records-only one when the upstreams or policies change.
    pub async fn run(
        self: Arc<Self>,
        store: Arc<dyn Store>,
        clock: Arc<dyn warden_core::Clock>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut records_seen = None;
        let mut next_full = tokio::time::Instant::now();
        loop {
            let full_due = tokio::time::Instant::now() >= next_full;
            if full_due {
                match self.evaluate_all(&*store, clock.now()).await {
                    Ok(outcome) => tracing::info!(
                        opened = outcome.opened + outcome.reopened,
                        resolved = outcome.resolved,
                        "posture evaluated"
                    ),
                    Err(error) => tracing::warn!(%error, "the posture evaluation failed"),
                }
                if let Err(error) = self.evaluate_leaks(&*store, clock.now()).await {
                    tracing::warn!(%error, "the evaluation of leak findings failed");
                }
                next_full = tokio::time::Instant::now() + self.interval;
                records_seen = records_fingerprint(&*store).await.ok();
            } else if let Ok(fingerprint) = records_fingerprint(&*store).await
                && records_seen.as_ref() != Some(&fingerprint)
            {
                if let Err(error) = self.evaluate_records(&*store, clock.now()).await {
                    tracing::warn!(%error, "the posture evaluation of upstreams and policies failed");
                }
                records_seen = Some(fingerprint);
            }
            tokio::select! {
                _ = stop.wait_for(|stop| *stop) => return,
                () = self.wanted.notified() => next_full = tokio::time::Instant::now(),
                () = tokio::time::sleep(RECORDS_TICK) => {}
            }
        }
    }
}

/// How often the loop looks for changed upstreams and policies.
const RECORDS_TICK: Duration = Duration::from_secs(2);

/// What, of the upstreams and policies, the record rules read.
async fn records_fingerprint(store: &dyn Store) -> StoreResult<Vec<String>> {
    let mut parts: Vec<String> = store
        .list_upstreams()
        .await?
        .into_iter()
        .map(|u| format!("u {} {} {}", u.name, u.auth.as_text(), u.has_secret))
        .collect();
    parts.extend(
        store
            .list_policies()
            .await?
            .into_iter()
            .map(|p| format!("p {} {}", p.id, p.text)),
    );
    parts.sort();
    Ok(parts)
}

fn push_subject_findings(
    item: &InventoryItem,
    now: Timestamp,
    thresholds: &Thresholds,
    drafts: &mut Vec<FindingDraft>,
) {
    let owner = match (&item.owner_email, item.owner_offboarded) {
        (None, _) => OwnerState::Missing,
        (Some(_), true) => OwnerState::Offboarded,
        (Some(_), false) => OwnerState::Active,
    };
    let subject = Subject {
        identity: &item.identity,
        owner,
        owner_email: item.owner_email.as_deref(),
        present: item.present,
        gone_at: item.gone_at,
    };
    let identity = identity_of(&item.id, &item.identity);
    for finding in evaluate_subject(&subject, now, thresholds) {
        drafts.push(draft(&item.id, Some(identity.clone()), finding));
    }
}

/// What the reuse rules need of an identity: its external id, environment and credentials'
/// ids and fingerprints.
fn slim(identity: ImportedIdentity) -> ImportedIdentity {
    ImportedIdentity {
        credentials: identity
            .credentials
            .into_iter()
            .map(|c| {
                let mut slim = ImportedCredential::new(c.kind, c.id, c.active);
                slim.fingerprint = c.fingerprint;
                slim
            })
            .collect(),
        entitlements: Vec::new(),
        attributes: Default::default(),
        labels: Default::default(),
        ..identity
    }
}

fn identity_of(id: &str, identity: &ImportedIdentity) -> FindingIdentity {
    FindingIdentity {
        id: Some(id.to_string()),
        kind: identity.kind.as_str().to_string(),
        name: identity.name.clone(),
    }
}

fn draft(subject: &str, identity: Option<FindingIdentity>, finding: Finding) -> FindingDraft {
    FindingDraft {
        rule: finding.rule.to_string(),
        owasp: finding.owasp.id().to_string(),
        severity: finding.severity.as_str().to_string(),
        severity_rank: finding.severity.rank(),
        subject: subject.to_string(),
        identity,
        credential: finding.credential,
        evidence: finding.evidence,
        remediation: finding.remediation.to_string(),
    }
}

async fn record_drafts(store: &dyn Store) -> StoreResult<Vec<FindingDraft>> {
    let upstreams: Vec<UpstreamFacts> = store
        .list_upstreams()
        .await?
        .into_iter()
        .map(|u| UpstreamFacts {
            basic_auth: u.auth == warden_core::InjectAuth::Basic,
            has_secret: u.has_secret,
            name: u.name,
        })
        .collect();
    let documents: Vec<PolicyDocument> = store
        .list_policies()
        .await?
        .into_iter()
        .map(|p| PolicyDocument::new(p.id, p.text))
        .collect();
    let permits: Vec<BroadPermit> = every_action_permits(&documents)
        .into_iter()
        .map(|p| BroadPermit {
            policy_id: p.policy_id,
            principal: p.principal,
            identity: p.identity,
            upstream: p.upstream,
            conditional: p.conditional,
        })
        .collect();
    Ok(evaluate_records(&upstreams, &permits)
        .into_iter()
        .map(|record| {
            let identity = record.identity.map(|(kind, name)| FindingIdentity {
                id: None,
                kind,
                name,
            });
            draft(&record.subject, identity, record.finding)
        })
        .collect())
}
