//! The `Store` trait: the operations the rest of Warden may ask of its database.

use async_trait::async_trait;
use warden_core::{
    Identity, IdentityFilter, IdentityPatch, IdentityRef, NewIdentity, NewOwner, Owner,
    OwnerFilter, OwnerPatch, OwnerRef, Page, PageRequest, SuspensionReason, Timestamp,
};

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
/// transaction; a method that returns an error has changed nothing.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Succeeds when the database answers a trivial query.
    async fn ping(&self) -> StoreResult<()>;

    async fn create_owner(&self, new: NewOwner, now: Timestamp) -> StoreResult<Owner>;
    async fn get_owner(&self, owner: &OwnerRef) -> StoreResult<Owner>;
    async fn list_owners(
        &self,
        filter: &OwnerFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Owner>>;
    async fn update_owner(
        &self,
        owner: &OwnerRef,
        patch: OwnerPatch,
        now: Timestamp,
    ) -> StoreResult<Owner>;
    /// Offboards the owner and suspends every active identity they own.
    async fn offboard_owner(&self, owner: &OwnerRef, now: Timestamp) -> StoreResult<Offboarding>;
    /// Moves every identity of `from` (revoked ones excepted) to the active owner `to`,
    /// lifting suspensions that were due only to `from` being offboarded.
    async fn reassign_identities(
        &self,
        from: &OwnerRef,
        to: &OwnerRef,
        now: Timestamp,
    ) -> StoreResult<Vec<Identity>>;

    async fn create_identity(
        &self,
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
        identity: &IdentityRef,
        patch: IdentityPatch,
        now: Timestamp,
    ) -> StoreResult<Identity>;
    async fn change_identity(
        &self,
        identity: &IdentityRef,
        change: IdentityChange,
        now: Timestamp,
    ) -> StoreResult<Identity>;

    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>>;
    /// Stores `value` under `key` unless a value is already there; returns the value that
    /// is stored afterwards (so the first of several racing nodes wins).
    async fn put_setting_if_absent(&self, key: &str, value: &str) -> StoreResult<String>;
}
