//! The `Store` trait: the operations the rest of Warden may ask of its database.

use async_trait::async_trait;
use warden_audit::verify::VerifyReport;
use warden_audit::{Actor, AuditEvent, AuditPublicKey, Checkpoint, NewEvent};
use warden_core::{
    Approval, ApprovalBinding, ApprovalFilter, Identity, IdentityFilter, IdentityPatch,
    IdentityRef, NewApproval, NewIdentity, NewOwner, NewUpstream, Owner, OwnerFilter, OwnerPatch,
    OwnerRef, Page, PageRequest, StoredPolicy, SuspensionReason, Timestamp, Upstream, UpstreamId,
    UpstreamPatch,
};

use crate::audit::{AuditQuery, AuditVerifyError};
use crate::credentials::{
    Credential, NewCredential, ResealedData, RevocationSnapshot, StoredSigningKey, TokenRevocation,
};
use crate::error::StoreResult;
use crate::findings::{
    EvaluationScope, FindingDraft, FindingFilter, PostureSummary, ReconcileOutcome, StoredFinding,
    Suppression,
};
use crate::inventory::{
    EvaluatedSubject, ImportOptions, ImportSummary, ImportedFilter, ImportedRecord, InventoryItem,
};
use crate::leaks::{CredentialHolder, LeakReport, LeakResponse, NewLeakReport, RecordedLeak};
use crate::tool_pins::ToolPin;
use crate::upstreams::{PolicySetCheck, SealedRequest, SealedSecret};
use warden_import::ImportBatch;

/// A lifecycle change to one identity, applied under the rules in `warden_core::Identity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityChange {
    Suspend(SuspensionReason),
    Restore,
    Revoke,
    Reassign(OwnerRef),
}

/// Who decides an approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approver {
    /// An owner, by email or id: read in the decision's own transaction (locked against a
    /// concurrent offboarding), refused unless active, and recorded by email.
    Owner(OwnerRef),
    /// The caller deciding in its own name (the admin, when no owner is named).
    Caller(String),
}

/// A decision on an approval, as the API asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalVerdict {
    pub approver: Approver,
    pub approve: bool,
    pub comment: Option<String>,
}

/// What offboarding an owner did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offboarding {
    pub owner: Owner,
    /// The identities this offboarding suspended (those already suspended or revoked keep
    /// their state and are not listed).
    pub suspended: Vec<Identity>,
}

/// Everything Warden persists. Every method that changes several rows does so in one
/// transaction; a method that returns an error has changed nothing. Every change to owners
/// and identities appends its audit event, performed by `actor`, in that same transaction.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Webhooks, Shared Signals streams and their queues.
    fn signals(&self) -> &dyn crate::signals::SignalStore;

    /// Succeeds when the database answers a trivial query.
    async fn ping(&self) -> StoreResult<()>;

    /// Subscribes to the change feed (see `feed`): every change to what a node holds in
    /// memory, made by any node, from now on.
    fn changes(&self) -> crate::feed::ChangeFeed;

    /// Sends this node's beat through the feed; subscribers hear `Heard::Beat` when it has
    /// gone through the database and back.
    async fn beat(&self) -> StoreResult<()>;

    async fn create_owner(
        &self,
        actor: &Actor,
        new: NewOwner,
        now: Timestamp,
    ) -> StoreResult<Owner>;
    async fn get_owner(&self, owner: &OwnerRef) -> StoreResult<Owner>;
    async fn list_owners(
        &self,
        filter: &OwnerFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Owner>>;
    async fn update_owner(
        &self,
        actor: &Actor,
        owner: &OwnerRef,
        patch: OwnerPatch,
        now: Timestamp,
    ) -> StoreResult<Owner>;
    /// Offboards the owner and suspends every active identity they own.
    async fn offboard_owner(
        &self,
        actor: &Actor,
        owner: &OwnerRef,
        now: Timestamp,
    ) -> StoreResult<Offboarding>;
    /// Moves every identity of `from` (revoked ones excepted) to the active owner `to`,
    /// lifting suspensions that were due only to `from` being offboarded.
    async fn reassign_identities(
        &self,
        actor: &Actor,
        from: &OwnerRef,
        to: &OwnerRef,
        now: Timestamp,
    ) -> StoreResult<Vec<Identity>>;

    async fn create_identity(
        &self,
        actor: &Actor,
        new: NewIdentity,
        owner: &OwnerRef,
        parent: Option<&IdentityRef>,
        now: Timestamp,
    ) -> StoreResult<Identity>;
    async fn get_identity(&self, identity: &IdentityRef) -> StoreResult<Identity>;
    async fn list_identities(
        &self,
        filter: &IdentityFilter,
        page: &PageRequest,
        now: Timestamp,
    ) -> StoreResult<Page<Identity>>;
    async fn update_identity(
        &self,
        actor: &Actor,
        identity: &IdentityRef,
        patch: IdentityPatch,
        now: Timestamp,
    ) -> StoreResult<Identity>;
    async fn change_identity(
        &self,
        actor: &Actor,
        identity: &IdentityRef,
        change: IdentityChange,
        now: Timestamp,
    ) -> StoreResult<Identity>;

    /// The kill switch for one identity: suspends it (`killed`), with its
    /// `identity.suspended` and `kill.applied` events (the latter noting `reached`, how many
    /// identities the kill stops with its sub-agents) in the same transaction.
    async fn kill_identity(
        &self,
        actor: &Actor,
        identity: &IdentityRef,
        reached: usize,
        now: Timestamp,
    ) -> StoreResult<Identity>;
    /// Lifts a suspension of one identity, with its `identity.restored` and `kill.restored`
    /// events in the same transaction.
    async fn restore_identity(
        &self,
        actor: &Actor,
        identity: &IdentityRef,
        now: Timestamp,
    ) -> StoreResult<Identity>;

    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>>;
    /// Stores `value` under `key` unless a value is already there; returns the value that
    /// is stored afterwards (so the first of several racing nodes wins).
    async fn put_setting_if_absent(&self, key: &str, value: &str) -> StoreResult<String>;

    /// Appends one event through the group-commit writer; returns once it is durable.
    async fn record(&self, event: NewEvent, now: Timestamp) -> StoreResult<AuditEvent>;
    /// Queues one event for the group-commit writer and returns at once, for records
    /// nothing waits on (a gateway outcome, written after the agent has its answer). The
    /// event joins the same chain and batches as `record`'s, in queue order, so a later
    /// `seal_audit` covers it (when the queue is full, the event waits for room on a task
    /// of its own and may land after it); a batch that cannot be written is logged.
    fn record_detached(&self, event: NewEvent, now: Timestamp);
    /// Reads audit events in sequence order.
    async fn audit_events(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>>;
    async fn audit_checkpoints(&self) -> StoreResult<Vec<Checkpoint>>;
    /// Signs a checkpoint over the head when records are unanchored and one is due.
    async fn checkpoint_audit(&self, now: Timestamp) -> StoreResult<Option<Checkpoint>>;
    /// Signs a checkpoint over the head whenever records are unanchored, whatever the
    /// checkpoint policy says, after every event already queued by `record` is written:
    /// the last thing a node does to the trail before it stops, so that a cut tail after
    /// a clean stop is caught. `None` when nothing was unanchored (or no key signs).
    async fn seal_audit(&self, now: Timestamp) -> StoreResult<Option<Checkpoint>>;
    /// Verifies the stored chain against its checkpoints and `key`.
    async fn verify_audit(&self, key: &AuditPublicKey) -> Result<VerifyReport, AuditVerifyError>;

    // Changes that alter what the policy set is compiled against (creating, changing or
    // removing an upstream; adding or changing a policy) take `check` and run it on the
    // set they would leave, inside their transaction (see `PolicySetCheck`).

    /// Registers an upstream under `id` (the id its secret is sealed against).
    async fn create_upstream(
        &self,
        actor: &Actor,
        id: UpstreamId,
        new: NewUpstream,
        secret: Option<SealedSecret>,
        check: &dyn PolicySetCheck,
        now: Timestamp,
    ) -> StoreResult<Upstream>;
    async fn get_upstream(&self, name: &str) -> StoreResult<Upstream>;
    async fn list_upstreams(&self) -> StoreResult<Vec<Upstream>>;
    /// Applies `patch`, and `secret` (sealed at the current version plus one) with it in
    /// the same transaction. The rules of `Upstream::check_patch` are applied to the row
    /// as locked: a URL moving to another scheme, host or port needs a new secret.
    async fn update_upstream(
        &self,
        actor: &Actor,
        name: &str,
        patch: UpstreamPatch,
        secret: Option<SealedSecret>,
        check: &dyn PolicySetCheck,
        now: Timestamp,
    ) -> StoreResult<Upstream>;
    /// Replaces the sealed secret; `secret.version` must be the current version plus one.
    async fn set_upstream_secret(
        &self,
        actor: &Actor,
        name: &str,
        secret: SealedSecret,
        now: Timestamp,
    ) -> StoreResult<Upstream>;
    /// The sealed secret, for the gateway to open; `None` when none is set.
    async fn upstream_secret(&self, name: &str) -> StoreResult<Option<SealedSecret>>;
    async fn delete_upstream(
        &self,
        actor: &Actor,
        name: &str,
        check: &dyn PolicySetCheck,
        now: Timestamp,
    ) -> StoreResult<Upstream>;

    async fn list_policies(&self) -> StoreResult<Vec<StoredPolicy>>;
    async fn get_policy(&self, id: &str) -> StoreResult<StoredPolicy>;
    /// Writes one policy (refusing an existing id unless `replace`), bumping the set's version.
    async fn put_policy(
        &self,
        actor: &Actor,
        id: &str,
        text: &str,
        replace: bool,
        check: &dyn PolicySetCheck,
        now: Timestamp,
    ) -> StoreResult<StoredPolicy>;
    /// Removes one policy, bumping the set's version. It takes the same lock as the changes
    /// above; removing a policy cannot make a set that compiled stop compiling.
    async fn delete_policy(
        &self,
        actor: &Actor,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<StoredPolicy>;

    // The credential plane (see `credentials`).

    /// Issues a credential to an active identity.
    async fn create_credential(
        &self,
        actor: &Actor,
        identity: &IdentityRef,
        new: NewCredential,
        now: Timestamp,
    ) -> StoreResult<Credential>;
    async fn list_credentials(&self, identity: &IdentityRef) -> StoreResult<Vec<Credential>>;
    async fn get_credential(&self, id: &str) -> StoreResult<Credential>;
    /// The credential whose secret has this keyed hash (hex), through the unique index.
    async fn credential_by_secret_hash(&self, hash: &str) -> StoreResult<Option<Credential>>;
    /// Issues `new` and marks the identity's active credentials of the same kind rotated,
    /// valid until `overlap_until` at the latest. Returns the new and the rotated ones.
    async fn rotate_credential(
        &self,
        actor: &Actor,
        identity: &IdentityRef,
        new: NewCredential,
        overlap_until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<(Credential, Vec<Credential>)>;
    async fn revoke_credential(
        &self,
        actor: &Actor,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<Credential>;
    /// Records an access token as revoked (idempotent).
    async fn revoke_token(
        &self,
        actor: &Actor,
        revocation: TokenRevocation,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Marks an RFC 7523 client assertion (`client_id`, `jti`) as used until `expires_at`
    /// (its `exp` plus the clock leeway). `true` the first time; `false` when the same
    /// assertion was used before and could still be valid: a replay, on any node. A row
    /// past its expiry is taken over, so a reused `jti` of a long-dead assertion is not
    /// mistaken for a replay.
    async fn use_client_assertion(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Forgets used client assertions that expired before `now`; returns how many.
    async fn purge_client_assertions(&self, now: Timestamp) -> StoreResult<u64>;
    /// Everything token verification needs to know about revocation, read at `now`.
    async fn revocation_snapshot(&self, now: Timestamp) -> StoreResult<RevocationSnapshot>;
    /// The kill switch for an owner's fleet: suspends (or, `permanent`, revokes) every
    /// identity they own that is not already stopped. Returns those it changed.
    async fn kill_owner(
        &self,
        actor: &Actor,
        owner: &OwnerRef,
        permanent: bool,
        now: Timestamp,
    ) -> StoreResult<Vec<Identity>>;
    /// Lifts the kill-switch suspensions of an owner's identities.
    async fn restore_owner(
        &self,
        actor: &Actor,
        owner: &OwnerRef,
        now: Timestamp,
    ) -> StoreResult<Vec<Identity>>;
    async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>>;
    /// Stores the first key ring unless there is one; returns whether `keys` were stored.
    async fn init_signing_keys(&self, keys: Vec<StoredSigningKey>) -> StoreResult<bool>;
    /// Replaces the key ring after a rotation, recording the rotation.
    async fn replace_signing_keys(
        &self,
        actor: &Actor,
        keys: Vec<StoredSigningKey>,
        now: Timestamp,
    ) -> StoreResult<()>;

    /// Swaps every sealed value for its re-sealing under a new data key, and the recorded
    /// key fingerprint, in one transaction with its `key.rotated` event.
    async fn reseal_data(
        &self,
        actor: &Actor,
        resealed: ResealedData,
        now: Timestamp,
    ) -> StoreResult<()>;

    // Human approvals (see `warden_core::approval`).

    /// Records a held request as a pending approval, with its `approval.requested` event,
    /// and the request itself sealed (its `approval_id` becomes the approval's id; without
    /// one a new id is made). Refused with `TooManyPendingApprovals` when the agent already
    /// has `new.max_pending_for_agent` approvals pending.
    async fn create_approval(
        &self,
        actor: &Actor,
        new: NewApproval,
        request: Option<SealedRequest>,
        now: Timestamp,
    ) -> StoreResult<Approval>;
    /// The sealed held request of an approval that can still be used at `now`; `None` for
    /// one used, denied or expired, or held without one.
    async fn approval_request(&self, id: &str, now: Timestamp) -> StoreResult<Option<Vec<u8>>>;
    /// Clears the held requests of approvals that can no longer be used at `now` (those
    /// that expired); returns how many.
    async fn purge_approval_requests(&self, now: Timestamp) -> StoreResult<u64>;
    /// Every held request still kept, for a data key rotation to seal again.
    async fn sealed_approval_requests(&self) -> StoreResult<Vec<SealedRequest>>;
    /// One approval, its status as seen at `now`.
    async fn get_approval(&self, id: &str, now: Timestamp) -> StoreResult<Approval>;
    /// Approvals oldest first, statuses as seen at `now`.
    async fn list_approvals(
        &self,
        filter: &ApprovalFilter,
        now: Timestamp,
    ) -> StoreResult<Page<Approval>>;
    /// Approves or denies a pending approval, with its `approval.granted` or
    /// `approval.denied` event. An owner deciding must be active, checked in the same
    /// transaction. One found expired is recorded as expired (with its `approval.expired`
    /// event) and the decision refused.
    async fn decide_approval(
        &self,
        actor: &Actor,
        id: &str,
        verdict: ApprovalVerdict,
        now: Timestamp,
    ) -> StoreResult<Approval>;
    /// Spends an approved, unexpired, unused approval on the request `binding` describes,
    /// which must equal the one it was granted for. Of concurrent callers, one wins.
    async fn consume_approval(
        &self,
        id: &str,
        binding: &ApprovalBinding,
        now: Timestamp,
    ) -> StoreResult<Approval>;

    /// Applies parsed exports in one transaction: creates, updates or leaves each identity,
    /// marks those missing from a full export as gone, matches owners, and appends one
    /// `import.applied` event per source. A dry run counts and changes nothing.
    async fn apply_import(
        &self,
        actor: &Actor,
        batches: Vec<ImportBatch>,
        options: ImportOptions,
        now: Timestamp,
    ) -> StoreResult<ImportSummary>;
    async fn get_imported(&self, id: &str) -> StoreResult<ImportedRecord>;
    async fn list_imported(
        &self,
        filter: &ImportedFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<ImportedRecord>>;
    /// Assigns an owner to an imported identity (an orphan's, or a replacement), with its
    /// `identity.reassigned` event; later imports keep it.
    async fn reassign_imported(
        &self,
        actor: &Actor,
        id: &str,
        owner: &OwnerRef,
        now: Timestamp,
    ) -> StoreResult<ImportedRecord>;
    /// Streams every imported identity to `visit`, for a full evaluation.
    async fn scan_inventory(
        &self,
        visit: &mut (dyn FnMut(InventoryItem) + Send),
    ) -> StoreResult<()>;
    /// The given imported identities and every one sharing a credential with them.
    async fn inventory_with_peers(&self, ids: &[String]) -> StoreResult<Vec<InventoryItem>>;
    /// Streams every imported identity to `visit`, with whether its last recorded
    /// evaluation under `basis` still holds at `now` (see [`Store::record_evaluated`]).
    async fn scan_inventory_against(
        &self,
        basis: &str,
        now: Timestamp,
        visit: &mut (dyn FnMut(InventoryItem, bool) + Send),
    ) -> StoreResult<()>;
    /// The imported identities whose last recorded evaluation under `basis` no longer holds
    /// at `now`, or that were never evaluated; `None` when there are more than `limit`.
    async fn inventory_due(
        &self,
        basis: &str,
        now: Timestamp,
        limit: usize,
    ) -> StoreResult<Option<Vec<String>>>;
    /// Hands the given imported identities to `visit`, a few at a time.
    async fn visit_inventory(
        &self,
        ids: &[String],
        visit: &mut (dyn FnMut(InventoryItem) + Send),
    ) -> StoreResult<()>;
    /// The imported identities holding a credential whose id or fingerprint is one of these.
    async fn credential_holders(&self, credentials: &[String]) -> StoreResult<Vec<String>>;
    /// The credentials named by stored findings (open or resolved) of these rules about
    /// these subjects.
    async fn finding_credentials(
        &self,
        rules: &[String],
        subjects: &[String],
    ) -> StoreResult<Vec<String>>;
    /// Records what an evaluation at `evaluated_at` under `basis` read of these identities, once its findings
    /// are reconciled, so a later full evaluation may carry them forward.
    async fn record_evaluated(
        &self,
        basis: &str,
        evaluated_at: Timestamp,
        subjects: &[EvaluatedSubject],
    ) -> StoreResult<()>;
    /// Reconciles an evaluation's findings with the stored ones in `scope`, in one
    /// transaction, with `finding.opened` and `finding.resolved` events.
    async fn reconcile_findings(
        &self,
        actor: &Actor,
        scope: &EvaluationScope,
        drafts: Vec<FindingDraft>,
        now: Timestamp,
    ) -> StoreResult<ReconcileOutcome>;
    async fn get_finding(&self, id: &str, now: Timestamp) -> StoreResult<StoredFinding>;
    async fn list_findings(
        &self,
        filter: &FindingFilter,
        page: &PageRequest,
        now: Timestamp,
    ) -> StoreResult<Page<StoredFinding>>;
    /// Every finding, oldest first.
    async fn all_findings(&self, now: Timestamp) -> StoreResult<Vec<StoredFinding>>;
    /// Suppresses an open finding until a time, or lifts a suppression (`None`), with its
    /// `finding.suppressed` or `finding.unsuppressed` event.
    async fn suppress_finding(
        &self,
        actor: &Actor,
        id: &str,
        suppression: Option<Suppression>,
        now: Timestamp,
    ) -> StoreResult<StoredFinding>;
    async fn posture_summary(&self, now: Timestamp) -> StoreResult<PostureSummary>;

    // Leaked secrets (see `leaks`).

    /// Records a report of a leaked secret with its `leak.reported` event; a secret
    /// reported before (the same fingerprint hash) gains a count and a place instead.
    async fn record_leak(
        &self,
        actor: &Actor,
        report: NewLeakReport,
        now: Timestamp,
    ) -> StoreResult<RecordedLeak>;
    /// Records what was done about a leak, with its `leak.responded` event, unless it was
    /// already answered; `Suspended` marks the imported identity suspended.
    async fn respond_to_leak(
        &self,
        actor: &Actor,
        id: &str,
        response: LeakResponse,
        now: Timestamp,
    ) -> StoreResult<LeakReport>;
    async fn get_leak(&self, id: &str) -> StoreResult<LeakReport>;
    async fn list_leaks(&self, page: &PageRequest) -> StoreResult<Page<LeakReport>>;
    /// Every report matched to something Warden knows.
    async fn matched_leaks(&self) -> StoreResult<Vec<LeakReport>>;
    /// The imported identities holding a credential with this id or recorded fingerprint.
    async fn leaked_credential_holders(
        &self,
        id_or_fingerprint: &str,
    ) -> StoreResult<Vec<CredentialHolder>>;
    /// The upstream whose secret has this keyed leak fingerprint: its name and version.
    async fn upstream_by_leak_fingerprint(&self, hash: &str) -> StoreResult<Option<(String, i64)>>;
    /// Upstreams whose secret has no leak fingerprint yet.
    async fn upstreams_missing_leak_fingerprint(&self) -> StoreResult<Vec<String>>;
    /// Stores the leak fingerprint of an upstream's secret at `version`; `false` when the
    /// secret has moved on.
    async fn set_upstream_leak_fingerprint(
        &self,
        name: &str,
        version: i64,
        hash: &str,
    ) -> StoreResult<bool>;

    // --- Pinned MCP tool definitions ---

    /// The pinned tools of one upstream, or of every upstream.
    async fn tool_pins(&self, upstream: Option<&str>) -> StoreResult<Vec<ToolPin>>;
    /// Records the tool definitions (name, SHA-256 of the definition) one answer of
    /// `upstream` carried; returns the pins whose state this moved, each change audited.
    async fn observe_tool_definitions(
        &self,
        upstream: &str,
        seen: &[(String, String)],
        now: Timestamp,
    ) -> StoreResult<Vec<ToolPin>>;
    /// Accepts the definition last seen of `tool`, audited as `actor`'s.
    async fn accept_tool_definition(
        &self,
        actor: &Actor,
        upstream: &str,
        tool: &str,
        now: Timestamp,
    ) -> StoreResult<ToolPin>;
}
