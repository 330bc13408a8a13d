//! The SQL implementation of `Store`, one code path for SQLite and PostgreSQL through
//! sqlx's `Any` driver. The dialects differ only in how they are opened, how a write
//! transaction locks, and their migrations.

mod approvals;
mod audit;
mod checkpointer;
mod credentials;
mod evaluation;
mod feed;
mod findings;
mod identities;
mod inventory;
mod leaks;
mod owners;
mod query;
mod rows;
mod settings;
mod signals;
mod tool_pins;
mod upstreams;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Transaction};
use warden_core::{
    Identity, IdentityFilter, IdentityPatch, IdentityRef, NewIdentity, NewOwner, Owner,
    OwnerFilter, OwnerPatch, OwnerRef, Page, PageRequest, Timestamp,
};

use warden_audit::verify::VerifyReport;
use warden_audit::{Actor, AuditEvent, AuditPublicKey, Checkpoint, NewEvent};

use crate::audit::{AuditQuery, AuditSettings, AuditVerifyError};
use crate::credentials::{
    Credential, NewCredential, ResealedData, RevocationSnapshot, StoredSigningKey, TokenRevocation,
};
use crate::error::{StoreError, StoreResult};
use crate::findings::{
    EvaluationScope, FindingDraft, FindingFilter, PostureSummary, ReconcileOutcome, StoredFinding,
    Suppression,
};
use crate::inventory::{
    EvaluatedSubject, ImportOptions, ImportSummary, ImportedFilter, ImportedRecord, InventoryItem,
};
use crate::leaks::{CredentialHolder, LeakReport, LeakResponse, NewLeakReport, RecordedLeak};
use crate::store::{ApprovalVerdict, IdentityChange, Offboarding, Store};
use crate::tool_pins::ToolPin;
use crate::upstreams::{PolicySetCheck, SealedRequest, SealedSecret};
use warden_core::{
    Approval, ApprovalBinding, ApprovalFilter, NewApproval, NewUpstream, StoredPolicy, Upstream,
    UpstreamId, UpstreamPatch,
};
use warden_import::ImportBatch;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn from_url(url: &str) -> StoreResult<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::Unavailable(
                "unsupported database URL: use sqlite://PATH or postgres://USER@HOST/DB".into(),
            ))
        }
    }

    /// The clause that locks the rows a write transaction reads, where the dialect needs
    /// one. SQLite has a single writer (see `SqlStore::writer`), so it needs none.
    pub(crate) fn for_update(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => " FOR UPDATE",
        }
    }

    /// The clause that keeps a row a write transaction depends on (but does not change)
    /// from changing until it commits, without blocking others that only depend on it too.
    pub(crate) fn for_share(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => " FOR SHARE",
        }
    }
}

/// A store on SQLite or PostgreSQL.
///
/// SQLite allows one writer at a time; rather than let concurrent write transactions fail
/// with "database is locked", writes go through a pool of exactly one connection and reads
/// through a separate pool (WAL mode lets them run beside the writer). On PostgreSQL both
/// are the same pool and write transactions lock the rows they depend on.
#[derive(Debug, Clone)]
pub struct SqlStore {
    dialect: Dialect,
    reader: AnyPool,
    writer: AnyPool,
    audit: Arc<AuditSettings>,
    group_commit: audit::GroupCommit,
    feed: Arc<feed::FeedHub>,
    /// Held by every clone; the SQLite checkpointer stops when the last one is gone.
    #[expect(
        dead_code,
        reason = "held, never read: its count is what the checkpointer watches"
    )]
    alive: Arc<()>,
    /// The SQLite checkpointer's own connection (see `checkpointer`).
    checkpoints: Option<AnyPool>,
}

/// A stable key for the PostgreSQL advisory lock that serialises changes to the identity
/// hierarchy, so two concurrent re-parentings cannot close a cycle between them.
const HIERARCHY_LOCK: i64 = 0x5741_5244_454e_0001;

impl SqlStore {
    /// Opens (creating if needed) the SQLite database at `path` and migrates it.
    pub async fn open_sqlite(path: &Path, audit: AuditSettings) -> StoreResult<Self> {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Self::connect(&url, audit).await
    }

    /// Connects to `sqlite://…` or `postgres://…`, brings the schema up to date and starts
    /// the audit trail's group-commit writer.
    pub async fn connect(url: &str, audit: AuditSettings) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::from_url(url)?;
        let options = AnyConnectOptions::from_str(url)?;
        let (reader, writer, checkpoints) = match dialect {
            Dialect::Sqlite => {
                let writer = sqlite_pool(1, Some(checkpointer::WAL_BOUND_PAGES))
                    .connect_with(options.clone())
                    .await?;
                let checkpoints = sqlite_pool(1, None).connect_with(options.clone()).await?;
                let reader = sqlite_pool(8, None).connect_with(options).await?;
                (reader, writer, Some(checkpoints))
            }
            Dialect::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await?;
                (pool.clone(), pool, None)
            }
        };
        let migrator = match dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&writer).await?;
        let audit = Arc::new(audit);
        let group_commit = audit::GroupCommit::spawn(writer.clone(), dialect, audit.clone());
        let alive = Arc::new(());
        if let Some(pool) = &checkpoints {
            checkpointer::spawn(pool.clone(), &alive);
        }
        Ok(Self {
            dialect,
            reader,
            writer,
            audit,
            group_commit,
            feed: feed::FeedHub::new(dialect, url),
            alive,
            checkpoints,
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Closes the pools (and so stops the SQLite checkpointer), waiting for connections in
    /// use to be returned.
    pub async fn close(&self) {
        self.feed.stop();
        if let Some(checkpoints) = &self.checkpoints {
            checkpoints.close().await;
        }
        self.reader.close().await;
        self.writer.close().await;
    }

    pub(crate) async fn begin_write(&self) -> StoreResult<Transaction<'static, Any>> {
        begin_write(&self.writer, self.dialect).await
    }

    /// Commits `tx` and announces `topics` on the change feed with it.
    pub(crate) async fn commit(
        &self,
        tx: Transaction<'static, Any>,
        topics: &[crate::feed::Topic],
    ) -> StoreResult<()> {
        self.feed.commit(tx, topics).await
    }

    /// Appends `events` to the audit chain inside `tx`, so they commit with the change.
    pub(crate) async fn audit_in_tx(
        &self,
        tx: &mut Transaction<'static, Any>,
        events: Vec<NewEvent>,
        now: Timestamp,
    ) -> StoreResult<Vec<AuditEvent>> {
        audit::append_in_tx(tx, self.dialect, &self.audit, events, now).await
    }

    /// Serialises hierarchy changes on PostgreSQL until the transaction ends.
    pub(crate) async fn lock_hierarchy(
        &self,
        tx: &mut Transaction<'static, Any>,
    ) -> StoreResult<()> {
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(HIERARCHY_LOCK)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }
}

/// Opens a write transaction. On SQLite it takes the write lock up front (`BEGIN
/// IMMEDIATE`): a deferred transaction that reads and then writes cannot wait for a lock
/// another connection holds and fails with "database is locked" instead.
pub(crate) async fn begin_write(
    pool: &AnyPool,
    dialect: Dialect,
) -> StoreResult<Transaction<'static, Any>> {
    Ok(match dialect {
        Dialect::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
        Dialect::Postgres => pool.begin().await?,
    })
}

/// A SQLite pool; `wal_autocheckpoint` only for the pool that writes.
fn sqlite_pool(max_connections: u32, wal_autocheckpoint: Option<u32>) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        // A commit that fails (a full disk: SQLITE_FULL) can leave a connection that still
        // counts itself inside a transaction, and every later `BEGIN` on it fails. Such a
        // connection is closed instead of handed out (closing rolls back whatever SQLite
        // kept open), so the store recovers by itself once the cause is gone.
        .before_acquire(|connection, _| {
            Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(connection)) })
        })
        .after_connect(move |connection, _| {
            Box::pin(async move {
                // WAL lets readers proceed beside the one writer; FULL makes every commit
                // durable (an fsync per commit, which the audit writer batches); the busy
                // timeout covers the moments another process holds the lock.
                connection.execute("PRAGMA journal_mode = WAL").await?;
                connection.execute("PRAGMA synchronous = FULL").await?;
                connection.execute("PRAGMA busy_timeout = 5000").await?;
                connection.execute("PRAGMA foreign_keys = ON").await?;
                if let Some(pages) = wal_autocheckpoint {
                    connection
                        .execute(sqlx::AssertSqlSafe(format!(
                            "PRAGMA wal_autocheckpoint = {pages}"
                        )))
                        .await?;
                }
                Ok(())
            })
        })
}

#[async_trait]
impl Store for SqlStore {
    fn signals(&self) -> &dyn crate::signals::SignalStore {
        self
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    fn changes(&self) -> crate::feed::ChangeFeed {
        self.feed.subscribe()
    }

    async fn beat(&self) -> StoreResult<()> {
        self.feed.beat(&self.writer, &self.reader).await
    }

    async fn create_owner(
        &self,
        actor: &Actor,
        new: NewOwner,
        now: Timestamp,
    ) -> StoreResult<Owner> {
        owners::create(self, actor, new, now).await
    }

    async fn get_owner(&self, owner: &OwnerRef) -> StoreResult<Owner> {
        let mut connection = self.reader.acquire().await?;
        owners::fetch(&mut connection, owner, "").await
    }

    async fn list_owners(
        &self,
        filter: &OwnerFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Owner>> {
        owners::list(&self.reader, filter, page).await
    }

    async fn update_owner(
        &self,
        actor: &Actor,
        owner: &OwnerRef,
        patch: OwnerPatch,
        now: Timestamp,
    ) -> StoreResult<Owner> {
        owners::update(self, actor, owner, patch, now).await
    }

    async fn offboard_owner(
        &self,
        actor: &Actor,
        owner: &OwnerRef,
        now: Timestamp,
    ) -> StoreResult<Offboarding> {
        owners::offboard(self, actor, owner, now).await
    }

    async fn reassign_identities(
        &self,
        actor: &Actor,
        from: &OwnerRef,
        to: &OwnerRef,
        now: Timestamp,
    ) -> StoreResult<Vec<Identity>> {
        owners::reassign_all(self, actor, from, to, now).await
    }

    async fn create_identity(
        &self,
        actor: &Actor,
        new: NewIdentity,
        owner: &OwnerRef,
        parent: Option<&IdentityRef>,
        now: Timestamp,
    ) -> StoreResult<Identity> {
        identities::create(self, actor, new, owner, parent, now).await
    }

    async fn get_identity(&self, identity: &IdentityRef) -> StoreResult<Identity> {
        let mut connection = self.reader.acquire().await?;
        identities::fetch(&mut connection, identity, "").await
    }

    async fn list_identities(
        &self,
        filter: &IdentityFilter,
        page: &PageRequest,
        now: Timestamp,
    ) -> StoreResult<Page<Identity>> {
        identities::list(&self.reader, filter, page, now).await
    }

    async fn update_identity(
        &self,
        actor: &Actor,
        identity: &IdentityRef,
        patch: IdentityPatch,
        now: Timestamp,
    ) -> StoreResult<Identity> {
        identities::update(self, actor, identity, patch, now).await
    }

    async fn change_identity(
        &self,
        actor: &Actor,
        identity: &IdentityRef,
        change: IdentityChange,
        now: Timestamp,
    ) -> StoreResult<Identity> {
        identities::change(self, actor, identity, change, now).await
    }

    async fn kill_identity(
        &self,
        actor: &Actor,
        identity: &IdentityRef,
        reached: usize,
        now: Timestamp,
    ) -> StoreResult<Identity> {
        identities::kill(self, actor, identity, reached, now).await
    }

    async fn restore_identity(
        &self,
        actor: &Actor,
        identity: &IdentityRef,
        now: Timestamp,
    ) -> StoreResult<Identity> {
        identities::restore(self, actor, identity, now).await
    }

    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>> {
        settings::get(&self.reader, key).await
    }

    async fn put_setting_if_absent(&self, key: &str, value: &str) -> StoreResult<String> {
        settings::put_if_absent(self, key, value).await
    }

    async fn record(&self, event: NewEvent, now: Timestamp) -> StoreResult<AuditEvent> {
        self.group_commit.record(event, now).await
    }

    fn record_detached(&self, event: NewEvent, now: Timestamp) {
        self.group_commit.record_detached(event, now);
    }

    async fn audit_events(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        audit::query(&self.reader, query).await
    }

    async fn audit_checkpoints(&self) -> StoreResult<Vec<Checkpoint>> {
        audit::checkpoints(&self.reader).await
    }

    async fn checkpoint_audit(&self, now: Timestamp) -> StoreResult<Option<Checkpoint>> {
        audit::checkpoint_tail(
            &self.writer,
            self.dialect,
            &self.audit,
            now,
            audit::Anchor::WhenDue,
        )
        .await
    }

    async fn seal_audit(&self, now: Timestamp) -> StoreResult<Option<Checkpoint>> {
        self.group_commit.seal(now).await
    }

    async fn verify_audit(&self, key: &AuditPublicKey) -> Result<VerifyReport, AuditVerifyError> {
        audit::verify(&self.reader, key).await
    }

    async fn create_upstream(
        &self,
        actor: &Actor,
        id: UpstreamId,
        new: NewUpstream,
        secret: Option<SealedSecret>,
        check: &dyn PolicySetCheck,
        now: Timestamp,
    ) -> StoreResult<Upstream> {
        upstreams::create(self, actor, id, new, secret, check, now).await
    }

    async fn get_upstream(&self, name: &str) -> StoreResult<Upstream> {
        upstreams::get(&self.reader, name).await
    }

    async fn list_upstreams(&self) -> StoreResult<Vec<Upstream>> {
        upstreams::list(&self.reader).await
    }

    async fn update_upstream(
        &self,
        actor: &Actor,
        name: &str,
        patch: UpstreamPatch,
        secret: Option<SealedSecret>,
        check: &dyn PolicySetCheck,
        now: Timestamp,
    ) -> StoreResult<Upstream> {
        upstreams::update(self, actor, name, patch, secret, check, now).await
    }

    async fn set_upstream_secret(
        &self,
        actor: &Actor,
        name: &str,
        secret: SealedSecret,
        now: Timestamp,
    ) -> StoreResult<Upstream> {
        upstreams::set_secret(self, actor, name, secret, now).await
    }

    async fn upstream_secret(&self, name: &str) -> StoreResult<Option<SealedSecret>> {
        upstreams::sealed_secret(&self.reader, name).await
    }

    async fn delete_upstream(
        &self,
        actor: &Actor,
        name: &str,
        check: &dyn PolicySetCheck,
        now: Timestamp,
    ) -> StoreResult<Upstream> {
        upstreams::delete(self, actor, name, check, now).await
    }

    async fn list_policies(&self) -> StoreResult<Vec<StoredPolicy>> {
        upstreams::list_policies(&self.reader).await
    }

    async fn get_policy(&self, id: &str) -> StoreResult<StoredPolicy> {
        upstreams::get_policy(&self.reader, id).await
    }

    async fn put_policy(
        &self,
        actor: &Actor,
        id: &str,
        text: &str,
        replace: bool,
        check: &dyn PolicySetCheck,
        now: Timestamp,
    ) -> StoreResult<StoredPolicy> {
        upstreams::put_policy(self, actor, id, text, replace, check, now).await
    }

    async fn delete_policy(
        &self,
        actor: &Actor,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<StoredPolicy> {
        upstreams::delete_policy(self, actor, id, now).await
    }

    async fn create_credential(
        &self,
        actor: &Actor,
        identity: &IdentityRef,
        new: NewCredential,
        now: Timestamp,
    ) -> StoreResult<Credential> {
        credentials::create(self, actor, identity, new, now).await
    }

    async fn list_credentials(&self, identity: &IdentityRef) -> StoreResult<Vec<Credential>> {
        credentials::list(&self.reader, identity).await
    }

    async fn get_credential(&self, id: &str) -> StoreResult<Credential> {
        credentials::get(&self.reader, id).await
    }

    async fn credential_by_secret_hash(&self, hash: &str) -> StoreResult<Option<Credential>> {
        credentials::by_secret_hash(&self.reader, hash).await
    }

    async fn rotate_credential(
        &self,
        actor: &Actor,
        identity: &IdentityRef,
        new: NewCredential,
        overlap_until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<(Credential, Vec<Credential>)> {
        credentials::rotate(self, actor, identity, new, overlap_until, now).await
    }

    async fn revoke_credential(
        &self,
        actor: &Actor,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<Credential> {
        credentials::revoke(self, actor, id, now).await
    }

    async fn revoke_token(
        &self,
        actor: &Actor,
        revocation: TokenRevocation,
        now: Timestamp,
    ) -> StoreResult<()> {
        credentials::revoke_token(self, actor, revocation, now).await
    }

    async fn use_client_assertion(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        credentials::use_client_assertion(self, client_id, jti, expires_at, now).await
    }

    async fn purge_client_assertions(&self, now: Timestamp) -> StoreResult<u64> {
        credentials::purge_client_assertions(self, now).await
    }

    async fn revocation_snapshot(&self, now: Timestamp) -> StoreResult<RevocationSnapshot> {
        credentials::snapshot(&self.reader, now).await
    }

    async fn kill_owner(
        &self,
        actor: &Actor,
        owner: &OwnerRef,
        permanent: bool,
        now: Timestamp,
    ) -> StoreResult<Vec<Identity>> {
        credentials::kill_owner(self, actor, owner, permanent, now).await
    }

    async fn restore_owner(
        &self,
        actor: &Actor,
        owner: &OwnerRef,
        now: Timestamp,
    ) -> StoreResult<Vec<Identity>> {
        credentials::restore_owner(self, actor, owner, now).await
    }

    async fn reseal_data(
        &self,
        actor: &Actor,
        resealed: ResealedData,
        now: Timestamp,
    ) -> StoreResult<()> {
        credentials::reseal_data(self, actor, resealed, now).await
    }

    async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        credentials::signing_keys(&self.reader).await
    }

    async fn init_signing_keys(&self, keys: Vec<StoredSigningKey>) -> StoreResult<bool> {
        credentials::init_signing_keys(self, keys).await
    }

    async fn replace_signing_keys(
        &self,
        actor: &Actor,
        keys: Vec<StoredSigningKey>,
        now: Timestamp,
    ) -> StoreResult<()> {
        credentials::replace_signing_keys(self, actor, keys, now).await
    }

    async fn create_approval(
        &self,
        actor: &Actor,
        new: NewApproval,
        request: Option<SealedRequest>,
        now: Timestamp,
    ) -> StoreResult<Approval> {
        approvals::create(self, actor, new, request, now).await
    }

    async fn approval_request(&self, id: &str, now: Timestamp) -> StoreResult<Option<Vec<u8>>> {
        approvals::sealed_request(&self.reader, id, now).await
    }

    async fn purge_approval_requests(&self, now: Timestamp) -> StoreResult<u64> {
        approvals::purge_requests(self, now).await
    }

    async fn sealed_approval_requests(&self) -> StoreResult<Vec<SealedRequest>> {
        approvals::all_sealed_requests(&self.reader).await
    }

    async fn get_approval(&self, id: &str, now: Timestamp) -> StoreResult<Approval> {
        approvals::get(&self.reader, id, now).await
    }

    async fn list_approvals(
        &self,
        filter: &ApprovalFilter,
        now: Timestamp,
    ) -> StoreResult<Page<Approval>> {
        approvals::list(&self.reader, filter, now).await
    }

    async fn decide_approval(
        &self,
        actor: &Actor,
        id: &str,
        verdict: ApprovalVerdict,
        now: Timestamp,
    ) -> StoreResult<Approval> {
        approvals::decide(self, actor, id, verdict, now).await
    }

    async fn consume_approval(
        &self,
        id: &str,
        binding: &ApprovalBinding,
        now: Timestamp,
    ) -> StoreResult<Approval> {
        approvals::consume(self, id, binding, now).await
    }

    async fn apply_import(
        &self,
        actor: &Actor,
        batches: Vec<ImportBatch>,
        options: ImportOptions,
        now: Timestamp,
    ) -> StoreResult<ImportSummary> {
        inventory::apply(self, actor, batches, options, now).await
    }

    async fn get_imported(&self, id: &str) -> StoreResult<ImportedRecord> {
        inventory::get(&self.reader, id).await
    }

    async fn list_imported(
        &self,
        filter: &ImportedFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<ImportedRecord>> {
        inventory::list(&self.reader, filter, page).await
    }

    async fn reassign_imported(
        &self,
        actor: &Actor,
        id: &str,
        owner: &OwnerRef,
        now: Timestamp,
    ) -> StoreResult<ImportedRecord> {
        inventory::reassign(self, actor, id, owner, now).await
    }

    async fn scan_inventory(
        &self,
        visit: &mut (dyn FnMut(InventoryItem) + Send),
    ) -> StoreResult<()> {
        inventory::scan(&self.reader, visit).await
    }

    async fn inventory_with_peers(&self, ids: &[String]) -> StoreResult<Vec<InventoryItem>> {
        inventory::with_peers(&self.reader, self.dialect, ids).await
    }

    async fn record_leak(
        &self,
        actor: &Actor,
        report: NewLeakReport,
        now: Timestamp,
    ) -> StoreResult<RecordedLeak> {
        leaks::record(self, actor, report, now).await
    }

    async fn respond_to_leak(
        &self,
        actor: &Actor,
        id: &str,
        response: LeakResponse,
        now: Timestamp,
    ) -> StoreResult<LeakReport> {
        leaks::respond(self, actor, id, response, now).await
    }

    async fn get_leak(&self, id: &str) -> StoreResult<LeakReport> {
        leaks::get(&self.reader, id).await
    }

    async fn list_leaks(&self, page: &PageRequest) -> StoreResult<Page<LeakReport>> {
        leaks::list(&self.reader, page).await
    }

    async fn matched_leaks(&self) -> StoreResult<Vec<LeakReport>> {
        leaks::matched(&self.reader).await
    }

    async fn leaked_credential_holders(
        &self,
        id_or_fingerprint: &str,
    ) -> StoreResult<Vec<CredentialHolder>> {
        leaks::credential_holders(&self.reader, id_or_fingerprint).await
    }

    async fn upstream_by_leak_fingerprint(&self, hash: &str) -> StoreResult<Option<(String, i64)>> {
        leaks::upstream_by_leak_fingerprint(&self.reader, hash).await
    }

    async fn upstreams_missing_leak_fingerprint(&self) -> StoreResult<Vec<String>> {
        leaks::upstreams_missing_leak_fingerprint(&self.reader).await
    }

    async fn set_upstream_leak_fingerprint(
        &self,
        name: &str,
        version: i64,
        hash: &str,
    ) -> StoreResult<bool> {
        leaks::set_upstream_leak_fingerprint(self, name, version, hash).await
    }

    async fn tool_pins(&self, upstream: Option<&str>) -> StoreResult<Vec<ToolPin>> {
        tool_pins::list(&self.reader, upstream).await
    }

    async fn observe_tool_definitions(
        &self,
        upstream: &str,
        seen: &[(String, String)],
        now: Timestamp,
    ) -> StoreResult<Vec<ToolPin>> {
        tool_pins::observe(self, upstream, seen, now).await
    }

    async fn accept_tool_definition(
        &self,
        actor: &Actor,
        upstream: &str,
        tool: &str,
        now: Timestamp,
    ) -> StoreResult<ToolPin> {
        tool_pins::accept(self, actor, upstream, tool, now).await
    }

    async fn scan_inventory_against(
        &self,
        basis: &str,
        now: Timestamp,
        visit: &mut (dyn FnMut(InventoryItem, bool) + Send),
    ) -> StoreResult<()> {
        evaluation::scan(&self.reader, basis, now, visit).await
    }

    async fn inventory_due(
        &self,
        basis: &str,
        now: Timestamp,
        limit: usize,
    ) -> StoreResult<Option<Vec<String>>> {
        evaluation::due(&self.reader, basis, now, limit).await
    }

    async fn visit_inventory(
        &self,
        ids: &[String],
        visit: &mut (dyn FnMut(InventoryItem) + Send),
    ) -> StoreResult<()> {
        inventory::visit(&self.reader, self.dialect, ids, visit).await
    }

    async fn credential_holders(&self, credentials: &[String]) -> StoreResult<Vec<String>> {
        inventory::holders(&self.reader, self.dialect, credentials).await
    }

    async fn finding_credentials(
        &self,
        rules: &[String],
        subjects: &[String],
    ) -> StoreResult<Vec<String>> {
        findings::credentials_of(&self.reader, self.dialect, rules, subjects).await
    }

    async fn record_evaluated(
        &self,
        basis: &str,
        evaluated_at: Timestamp,
        subjects: &[EvaluatedSubject],
    ) -> StoreResult<()> {
        evaluation::record(self, basis, evaluated_at, subjects).await
    }

    async fn reconcile_findings(
        &self,
        actor: &Actor,
        scope: &EvaluationScope,
        drafts: Vec<FindingDraft>,
        now: Timestamp,
    ) -> StoreResult<ReconcileOutcome> {
        findings::reconcile(self, actor, scope, drafts, now).await
    }

    async fn get_finding(&self, id: &str, now: Timestamp) -> StoreResult<StoredFinding> {
        findings::get(&self.reader, id, now).await
    }

    async fn list_findings(
        &self,
        filter: &FindingFilter,
        page: &PageRequest,
        now: Timestamp,
    ) -> StoreResult<Page<StoredFinding>> {
        findings::list(&self.reader, filter, page, now).await
    }

    async fn all_findings(&self, now: Timestamp) -> StoreResult<Vec<StoredFinding>> {
        findings::all(&self.reader, now).await
    }

    async fn suppress_finding(
        &self,
        actor: &Actor,
        id: &str,
        suppression: Option<Suppression>,
        now: Timestamp,
    ) -> StoreResult<StoredFinding> {
        findings::suppress(self, actor, id, suppression, now).await
    }

    async fn posture_summary(&self, now: Timestamp) -> StoreResult<PostureSummary> {
        let counts = inventory::counts(&self.reader).await?;
        findings::summary(&self.reader, now, counts).await
    }
}
