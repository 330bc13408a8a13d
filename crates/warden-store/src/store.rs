//! The `Store` trait: the operations the rest of Warden may ask of its database.

use async_trait::async_trait;
use warden_audit::verify::VerifyReport;
use warden_audit::{Actor, AuditEvent, AuditPublicKey, Checkpoint, NewEvent};
use warden_core::{
    Identity, IdentityFilter, IdentityPatch, IdentityRef, NewIdentity, NewOwner, Owner,
    OwnerFilter, OwnerPatch, OwnerRef, Page, PageRequest, SuspensionReason, Timestamp,
};

use crate::audit::{AuditQuery, AuditVerifyError};
use crate::error::StoreResult;

/// A lifecycle change to one identity, applied under the rules in `warden_core::Identity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityChange {
    Suspend(SuspensionReason),
    Restore,
    Revoke,
    Reassign(OwnerRef),
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
    /// Succeeds when the database answers a trivial query.
    async fn ping(&self) -> StoreResult<()>;

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

    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>>;
    /// Stores `value` under `key` unless a value is already there; returns the value that
    /// is stored afterwards (so the first of several racing nodes wins).
    async fn put_setting_if_absent(&self, key: &str, value: &str) -> StoreResult<String>;

    /// Appends one event through the group-commit writer; returns once it is durable.
    async fn record(&self, event: NewEvent, now: Timestamp) -> StoreResult<AuditEvent>;
    /// Reads audit events in sequence order.
    async fn audit_events(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>>;
    async fn audit_checkpoints(&self) -> StoreResult<Vec<Checkpoint>>;
    /// Signs a checkpoint over the head when records are unanchored and one is due.
    async fn checkpoint_audit(&self, now: Timestamp) -> StoreResult<Option<Checkpoint>>;
    /// Verifies the stored chain against its checkpoints and `key`.
    async fn verify_audit(&self, key: &AuditPublicKey) -> Result<VerifyReport, AuditVerifyError>;
}
