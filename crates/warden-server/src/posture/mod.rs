//! Posture evaluation: reads the inventory and Warden's own records from the store, runs the
//! pure rules of `warden-posture` over them, and reconciles the findings with the stored ones.
//!
//! Three ways in: a full evaluation (every imported identity, the reuse rules across all of
//! them, and the rules over upstreams and permits), run on a timer and on request; a targeted
//! one after an import or a reassignment, over the identities that changed and those sharing
//! a credential with them; and a records-only one when upstreams or policies change.
//! Evaluations are serialised on a node so two never reconcile at once.
//!
//! A full evaluation reads again only the identities whose findings can have changed. After
//! reconciling, every evaluation records per identity what it read (its revision and owner)
//! and until when its findings hold (the first instant at which a rule reading the clock
//! could answer differently), under a basis that fingerprints the rules and thresholds. The
//! store compares that record with the inventory; an identity whose record still holds keeps
//! its findings as they are, unread. Those due are evaluated like a targeted evaluation: the
//! per-identity rules over them, and the reuse rules over every credential they hold or
//! held, with all the holders of those credentials. When too many are due (the first
//! evaluation, a change of thresholds or rules), it reads everything in one pass instead.

mod leaks;
pub mod ocsf;
pub mod paths;

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
    evaluate_subject_until, evaluation_basis, rules::shared_credentials,
};
use warden_store::findings::{EvaluationScope, FindingDraft, FindingIdentity, ReconcileOutcome};
use warden_store::inventory::{EvaluatedSubject, InventoryItem};
use warden_store::{Store, StoreResult};

/// Above this many changed identities an import re-evaluates everything: one pass over the
/// inventory is cheaper than thousands of targeted lookups.
const TARGETED_LIMIT: usize = 1_000;

/// Above this many identities due, a full evaluation reads the whole inventory in one pass:
/// reading hundreds of thousands by id, and their findings by subject, costs more than that.
const DUE_LIMIT: usize = 200_000;

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
    /// What the evaluated-subject records are only valid under: the rules, the thresholds
    /// and this module's mapping of findings to drafts.
    basis: String,
    interval: Duration,
    /// Held while an evaluation reconciles.
    running: Mutex<()>,
    /// Held while the leak findings reconcile. Apart from `running`: leak findings are a
    /// scope no other evaluation touches, and a leak report must not wait for a full
    /// evaluation of a large inventory before it switches the secret off.
    leaks_running: Mutex<()>,
    /// Wakes the background loop for a full evaluation.
    wanted: Notify,
    actor: Actor,
    /// The issuers whose users' tokens agents may exchange: part of every access path.
    trusted_issuers: Vec<String>,
    /// The gateway's compiled engine, reused for the access paths when it was compiled from
    /// what the store holds (compiling a large catalog's policies takes a while).
    catalog: Option<Arc<warden_proxy::CatalogState>>,
    /// The toxic-combination rules judged over every agent's path; none until configured.
    toxic_rules: &'static [warden_posture::toxic::ToxicRule],
}

/// Which evaluation a re-evaluation of some identities is part of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coverage {
    /// A full one: everything else is carried forward, and the records are evaluated too.
    Full,
    /// A targeted one, over these identities only.
    Targeted,
}

impl Posture {
    pub fn new(thresholds: Thresholds, interval: Duration) -> Self {
        let basis = basis(&thresholds);
        Self {
            thresholds,
            basis,
            interval,
            running: Mutex::new(()),
            leaks_running: Mutex::new(()),
            wanted: Notify::new(),
            actor: Actor::system("posture"),
            trusted_issuers: Vec::new(),
            catalog: None,
            toxic_rules: &[],
        }
    }

    /// The toxic-combination rules judged over every agent's access path, the trusted
    /// issuers the paths are drawn with, and the gateway's catalog whose engine they reuse.
    pub fn with_paths(
        mut self,
        rules: &'static [warden_posture::toxic::ToxicRule],
        issuers: Vec<String>,
        catalog: Arc<warden_proxy::CatalogState>,
    ) -> Self {
        self.toxic_rules = rules;
        self.trusted_issuers = issuers;
        self.catalog = Some(catalog);
        self
    }

    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    /// The fingerprint of the rules and thresholds this evaluator records evaluations under.
    pub fn basis(&self) -> &str {
        &self.basis
    }

    /// Asks the background loop for a full evaluation soon (after an owner change, say).
    pub fn request_full(&self) {
        self.wanted.notify_one();
    }

    /// Every rule over everything: identities whose findings cannot have changed since their
    /// last evaluation keep them; the others are evaluated again.
    pub async fn evaluate_all(
        &self,
        store: &dyn Store,
        now: Timestamp,
    ) -> StoreResult<ReconcileOutcome> {
        let _running = self.running.lock().await;
        match store.inventory_due(&self.basis, now, DUE_LIMIT).await? {
            Some(due) => self.reevaluate(store, &due, Coverage::Full, now).await,
            None => self.evaluate_everything(store, now).await,
        }
    }

    /// Every rule over every identity, read in one pass, whatever was recorded of them.
    async fn evaluate_everything(
        &self,
        store: &dyn Store,
        now: Timestamp,
    ) -> StoreResult<ReconcileOutcome> {
        let mut drafts = Vec::new();
        let mut evaluated = Vec::new();
        let mut slims: Vec<(String, ImportedIdentity)> = Vec::new();
        store
            .scan_inventory_against(&self.basis, now, &mut |item: InventoryItem, holds| {
                let subject = self.push_subject_findings(&item, now, &mut drafts);
                // What still holds would be recorded again as it is.
                if !holds {
                    evaluated.push(subject);
                }
                slims.push((item.id.clone(), slim(item.identity)));
            })
            .await?;
        slims.sort_by(|a, b| a.0.cmp(&b.0));
        let holders: Vec<&ImportedIdentity> = slims.iter().map(|(_, i)| i).collect();
        for (index, finding) in shared_credentials(&holders) {
            let (id, identity) = &slims[index];
            drafts.push(draft(id, Some(identity_of(id, identity)), finding));
        }
        drop(holders);
        drop(slims);
        drafts.extend(self.record_drafts(store, now).await?);
        let scope = EvaluationScope {
            all: true,
            ..EvaluationScope::default()
        };
        let outcome = store
            .reconcile_findings(&self.actor, &scope, drafts, now)
            .await?;
        store.record_evaluated(&self.basis, now, &evaluated).await?;
        Ok(outcome)
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
        self.reevaluate(store, ids, Coverage::Targeted, now).await
    }

    /// The per-identity rules over `ids`, and the reuse rules over every credential they
    /// hold or are on record as holding (a credential dropped since still has findings on
    /// its other holders), with every holder of those credentials.
    async fn reevaluate(
        &self,
        store: &dyn Store,
        ids: &[String],
        coverage: Coverage,
        now: Timestamp,
    ) -> StoreResult<ReconcileOutcome> {
        let mut drafts = Vec::new();
        let mut evaluated = Vec::new();
        let mut group: Vec<(String, ImportedIdentity)> = Vec::new();
        let mut credentials = BTreeSet::new();
        store
            .visit_inventory(ids, &mut |item: InventoryItem| {
                evaluated.push(self.push_subject_findings(&item, now, &mut drafts));
                for credential in &item.identity.credentials {
                    credentials.insert(credential.id.clone());
                    if let Some(fingerprint) = &credential.fingerprint {
                        credentials.insert(fingerprint.clone());
                    }
                }
                group.push((item.id.clone(), slim(item.identity)));
            })
            .await?;
        let reuse_rules: Vec<String> = REUSE_RULES.iter().map(|r| r.to_string()).collect();
        credentials.extend(store.finding_credentials(&reuse_rules, ids).await?);
        let credentials: Vec<String> = credentials.into_iter().collect();
        let read: BTreeSet<&str> = group.iter().map(|(id, _)| id.as_str()).collect();
        let peers: Vec<String> = store
            .credential_holders(&credentials)
            .await?
            .into_iter()
            .filter(|id| !read.contains(id.as_str()))
            .collect();
        drop(read);
        store
            .visit_inventory(&peers, &mut |item: InventoryItem| {
                group.push((item.id.clone(), slim(item.identity)));
            })
            .await?;
        // In id order, as a full pass reads them, so both pick the same holder of two that
        // sources list under one external id.
        group.sort_by(|a, b| a.0.cmp(&b.0));
        let holders: Vec<&ImportedIdentity> = group.iter().map(|(_, i)| i).collect();
        for (index, finding) in shared_credentials(&holders) {
            let in_scope = finding
                .credential
                .as_ref()
                .is_some_and(|c| credentials.binary_search(c).is_ok());
            if in_scope {
                let (id, identity) = &group[index];
                drafts.push(draft(id, Some(identity_of(id, identity)), finding));
            }
        }
        drop(holders);
        drop(group);
        let full = coverage == Coverage::Full;
        if full {
            drafts.extend(self.record_drafts(store, now).await?);
        }
        let scope = EvaluationScope {
            subjects: ids.to_vec(),
            rules_on_credentials: reuse_rules,
            credentials,
            records: full,
            full_evaluation: full,
            ..EvaluationScope::default()
        };
        let outcome = store
            .reconcile_findings(&self.actor, &scope, drafts, now)
            .await?;
        store.record_evaluated(&self.basis, now, &evaluated).await?;
        Ok(outcome)
    }

    /// The per-identity rules over one identity, into `drafts`; returns what was read of
    /// it and until when its findings hold.
    fn push_subject_findings(
        &self,
        item: &InventoryItem,
        now: Timestamp,
        drafts: &mut Vec<FindingDraft>,
    ) -> EvaluatedSubject {
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
        let evaluation = evaluate_subject_until(&subject, now, &self.thresholds);
        for finding in evaluation.findings {
            drafts.push(draft(&item.id, Some(identity.clone()), finding));
        }
        EvaluatedSubject {
            id: item.id.clone(),
            revision: item.revision,
            owner_email: item.owner_email.clone(),
            owner_offboarded: item.owner_offboarded,
            stable_until: evaluation.stable_until,
        }
    }

    /// The rules over Warden's own records: the upstreams and permits, and every agent's
    /// access path.
    async fn record_drafts(
        &self,
        store: &dyn Store,
        now: Timestamp,
    ) -> StoreResult<Vec<FindingDraft>> {
        let mut drafts = record_drafts(store).await?;
        drafts.extend(
            paths::path_drafts(
                store,
                self.toxic_rules,
                self.catalog.as_deref(),
                &self.trusted_issuers,
                self.thresholds.unused_days,
                now,
            )
            .await?,
        );
        Ok(drafts)
    }

    /// The rules over upstreams, permits and agents' access paths only.
    pub async fn evaluate_records(
        &self,
        store: &dyn Store,
        now: Timestamp,
    ) -> StoreResult<ReconcileOutcome> {
        let _running = self.running.lock().await;
        let drafts = self.record_drafts(store, now).await?;
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

/// What, of the upstreams and policies, the record and path rules read. A new agent, or
/// a change to one, shows in its path findings at the next full evaluation (hourly, or
/// `POST /v1/posture/evaluate`).
async fn records_fingerprint(store: &dyn Store) -> StoreResult<Vec<String>> {
    let mut parts: Vec<String> = store
        .list_upstreams()
        .await?
        .into_iter()
        .map(|u| {
            format!(
                "u {} {} {} {:?} {:?} {:?} {:?}",
                u.name,
                u.auth.as_text(),
                u.has_secret,
                u.labels,
                u.tool_labels,
                u.routes,
                u.identity.as_ref().map(|bound| &bound.id)
            )
        })
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

/// The rules' basis, and this module's: how findings become drafts is part of what a
/// recorded evaluation stands for.
fn basis(thresholds: &Thresholds) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    evaluation_basis(thresholds).hash(&mut hasher);
    include_str!("mod.rs").hash(&mut hasher);
    format!("{:016x}", hasher.finish())
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
