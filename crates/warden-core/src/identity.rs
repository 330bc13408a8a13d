//! Identities: every non-human identity Warden knows, and the rules of their lifecycle.
//!
//! The lifecycle: `active` ⇄ `suspended` (by hand, by a kill, or because the owner was
//! offboarded), and from either to `revoked`, which is final. `expired` is not stored: an
//! identity whose `expires_at` has passed reads as expired.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::clock::Timestamp;
use crate::error::{DomainError, DomainResult};
use crate::owner::{Owner, OwnerId, OwnerRef};
use crate::validate::{validate_labels, validate_name, validate_purpose};

pub type Labels = BTreeMap<String, String>;

/// Parent chains deeper than this are refused; real agent hierarchies are a few levels deep.
pub const MAX_PARENT_DEPTH: usize = 32;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(transparent)]
#[schema(value_type = String, format = Uuid)]
pub struct IdentityId(pub Uuid);

impl IdentityId {
    pub fn new_v7() -> Self {
        Self(Uuid::now_v7())
    }
}

impl fmt::Display for IdentityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Generates a string enum with `as_str`, `ALL`, `FromStr` (with a message that lists the
/// accepted values) and `Display`, so the wire, the database and the CLI spell it alike.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = DomainError;

            fn from_str(text: &str) -> DomainResult<Self> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    other => Err(DomainError::invalid(
                        $field,
                        format!(
                            "`{other}` is not one of: {}",
                            [$($text),+].join(", ")
                        ),
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use text_enum;

text_enum!(
    /// What kind of non-human identity this is.
    IdentityKind, "kind", {
        Agent => "agent",
        ServiceAccount => "service_account",
        ApiKey => "api_key",
        OauthApp => "oauth_app",
        Token => "token",
        Certificate => "certificate",
        Webhook => "webhook",
        Workload => "workload",
    }
);

text_enum!(
    /// The lifecycle state as seen by callers; `Expired` is derived from `expires_at`.
    IdentityStatus, "status", {
        Active => "active",
        Suspended => "suspended",
        Revoked => "revoked",
        Expired => "expired",
    }
);

text_enum!(
    /// Why a suspended identity is suspended; decides what lifts the suspension.
    SuspensionReason, "suspension_reason", {
        Manual => "manual",
        OwnerOffboarded => "owner_offboarded",
        Killed => "killed",
    }
);

text_enum!(
    /// The deployment environment an identity belongs to.
    Environment, "environment", {
        Prod => "prod",
        Staging => "staging",
        Dev => "dev",
    }
);

text_enum!(
    /// Whether Warden issued the identity or learned of it from elsewhere.
    Source, "source", {
        Issued => "issued",
        Imported => "imported",
    }
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Identity {
    pub id: IdentityId,
    pub kind: IdentityKind,
    pub name: String,
    pub owner_id: OwnerId,
    /// The owner's email, for people reading the record.
    pub owner: String,
    pub purpose: Option<String>,
    pub environment: Option<Environment>,
    pub labels: Labels,
    pub status: IdentityStatus,
    pub suspension_reason: Option<SuspensionReason>,
    pub source: Source,
    /// Where an imported identity came from (for example `aws-iam:arn:…`).
    pub source_detail: Option<String>,
    pub parent_id: Option<IdentityId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

impl Identity {
    /// Builds a new identity from a validated request, its resolved owner and parent.
    pub fn create(
        new: NewIdentity,
        id: IdentityId,
        owner: &Owner,
        parent: Option<&Identity>,
        now: Timestamp,
    ) -> DomainResult<Self> {
        new.validate(now)?;
        owner.ensure_active()?;
        if let Some(parent) = parent
            && parent.status == IdentityStatus::Revoked
        {
            return Err(DomainError::InvalidState(format!(
                "parent `{}` is revoked; a revoked identity cannot have new children",
                parent.reference()
            )));
        }
        Ok(Self {
            id,
            kind: new.kind,
            name: new.name,
            owner_id: owner.id,
            owner: owner.email.clone(),
            purpose: new.purpose.filter(|p| !p.is_empty()),
            environment: new.environment,
            labels: new.labels,
            status: IdentityStatus::Active,
            suspension_reason: None,
            source: new.source,
            source_detail: new.source_detail,
            parent_id: parent.map(|p| p.id),
            created_at: now,
            updated_at: now,
            expires_at: new.expires_at,
            last_used_at: None,
        })
    }

    /// `KIND:NAME`, the form people use to refer to an identity.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.kind, self.name)
    }

    /// The status a caller sees at `now`: an active identity past its expiry reads expired.
    pub fn effective_status(&self, now: Timestamp) -> IdentityStatus {
        match (self.status, self.expires_at) {
            (IdentityStatus::Active, Some(expiry)) if expiry <= now => IdentityStatus::Expired,
            (status, _) => status,
        }
    }

    /// This identity with `status` replaced by the effective status at `now`.
    pub fn as_seen_at(mut self, now: Timestamp) -> Self {
        self.status = self.effective_status(now);
        self
    }

    fn ensure_not_revoked(&self) -> DomainResult<()> {
        if self.status == IdentityStatus::Revoked {
            Err(DomainError::Revoked(self.reference()))
        } else {
            Ok(())
        }
    }

    pub fn suspend(&mut self, reason: SuspensionReason, now: Timestamp) -> DomainResult<()> {
        self.ensure_not_revoked()?;
        if self.status == IdentityStatus::Suspended {
            return Err(DomainError::InvalidState(format!(
                "`{}` is already suspended ({}); restore it first to change why",
                self.reference(),
                self.suspension_reason.unwrap_or(SuspensionReason::Manual)
            )));
        }
        self.status = IdentityStatus::Suspended;
        self.suspension_reason = Some(reason);
        self.updated_at = now;
        Ok(())
    }

    /// Lifts a suspension. The owner must be active: an identity suspended because its
    /// owner left comes back only through reassignment to an active owner.
    pub fn restore(&mut self, owner: &Owner, now: Timestamp) -> DomainResult<()> {
        self.ensure_not_revoked()?;
        if self.status != IdentityStatus::Suspended {
            return Err(DomainError::InvalidState(format!(
                "`{}` is not suspended, so there is nothing to restore",
                self.reference()
            )));
        }
        owner.ensure_active().map_err(|_| {
            DomainError::InvalidState(format!(
                "`{}` belongs to offboarded owner `{}`; reassign it to an active owner, which also restores it",
                self.reference(),
                owner.email
            ))
        })?;
        self.status = IdentityStatus::Active;
        self.suspension_reason = None;
        self.updated_at = now;
        Ok(())
    }

    /// Revokes for good.
    pub fn revoke(&mut self, now: Timestamp) -> DomainResult<()> {
        self.ensure_not_revoked()?;
        self.status = IdentityStatus::Revoked;
        self.suspension_reason = None;
        self.updated_at = now;
        Ok(())
    }

    /// Called for each identity of an owner being offboarded. Returns whether it changed:
    /// active identities are suspended; suspended and revoked ones keep their state.
    pub fn on_owner_offboarded(&mut self, now: Timestamp) -> bool {
        if self.status != IdentityStatus::Active {
            return false;
        }
        self.status = IdentityStatus::Suspended;
        self.suspension_reason = Some(SuspensionReason::OwnerOffboarded);
        self.updated_at = now;
        true
    }

    /// Moves the identity to another, active owner. A suspension that existed only because
    /// the previous owner was offboarded ends here; any other suspension stays.
    pub fn reassign(&mut self, owner: &Owner, now: Timestamp) -> DomainResult<()> {
        self.ensure_not_revoked()?;
        owner.ensure_active()?;
        self.owner_id = owner.id;
        self.owner = owner.email.clone();
        if self.suspension_reason == Some(SuspensionReason::OwnerOffboarded) {
            self.status = IdentityStatus::Active;
            self.suspension_reason = None;
        }
        self.updated_at = now;
        Ok(())
    }

    /// Applies the editable fields of a patch. The parent, if it changes, has already been
    /// resolved and checked for cycles by the caller and arrives as `new_parent`.
    pub fn apply(
        &mut self,
        patch: &IdentityPatch,
        new_parent: Option<Option<&Identity>>,
        now: Timestamp,
    ) -> DomainResult<()> {
        self.ensure_not_revoked()?;
        if let Some(purpose) = &patch.purpose {
            if let Some(text) = purpose {
                validate_purpose(text)?;
            }
            self.purpose = purpose.clone().filter(|p| !p.is_empty());
        }
        if let Some(environment) = patch.environment {
            self.environment = environment;
        }
        if let Some(labels) = &patch.labels {
            validate_labels(labels)?;
            self.labels = labels.clone();
        }
        if let Some(expires_at) = patch.expires_at {
            if let Some(at) = expires_at
                && at <= now
            {
                return Err(DomainError::invalid("expires_at", "must be in the future"));
            }
            self.expires_at = expires_at;
        }
        if let Some(parent) = new_parent {
            if let Some(parent) = parent {
                if parent.id == self.id {
                    return Err(DomainError::CyclicParent {
                        child: self.reference(),
                        parent: parent.reference(),
                    });
                }
                parent.ensure_not_revoked()?;
            }
            self.parent_id = parent.map(|p| p.id);
        }
        self.updated_at = now;
        Ok(())
    }
}

/// Whether making `new_parent` the parent of `child` would close a loop. `parent_of` reads
/// one step of the existing hierarchy; chains longer than `MAX_PARENT_DEPTH` are refused as
/// if they were cycles, so a corrupt hierarchy cannot make this loop forever.
pub fn check_parent_chain(
    child: &Identity,
    new_parent: &Identity,
    mut parent_of: impl FnMut(IdentityId) -> Option<IdentityId>,
) -> DomainResult<()> {
    let cyclic = || DomainError::CyclicParent {
        child: child.reference(),
        parent: new_parent.reference(),
    };
    let mut cursor = Some(new_parent.id);
    for _ in 0..=MAX_PARENT_DEPTH {
        match cursor {
            None => return Ok(()),
            Some(id) if id == child.id => return Err(cyclic()),
            Some(id) => cursor = parent_of(id),
        }
    }
    Err(DomainError::invalid(
        "parent",
        format!("parent chains are limited to {MAX_PARENT_DEPTH} levels"),
    ))
}

/// The identity-specific part of a request to register an identity of any kind; the owner
/// and parent are resolved separately by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIdentity {
    pub kind: IdentityKind,
    pub name: String,
    pub purpose: Option<String>,
    pub environment: Option<Environment>,
    pub labels: Labels,
    pub expires_at: Option<Timestamp>,
    pub source: Source,
    pub source_detail: Option<String>,
}

impl NewIdentity {
    pub fn validate(&self, now: Timestamp) -> DomainResult<()> {
        validate_name(&self.name)?;
        if let Some(purpose) = &self.purpose {
            validate_purpose(purpose)?;
        }
        validate_labels(&self.labels)?;
        if let Some(expiry) = self.expires_at
            && expiry <= now
        {
            return Err(DomainError::invalid("expires_at", "must be in the future"));
        }
        if let Some(detail) = &self.source_detail
            && (detail.len() > 1024 || detail.chars().any(char::is_control))
        {
            return Err(DomainError::invalid(
                "source_detail",
                "at most 1024 printable characters",
            ));
        }
        Ok(())
    }
}

/// The editable fields of an identity. An absent field stays as it is; `null` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityPatch {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub purpose: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Environment>)]
    pub environment: Option<Option<Environment>>,
    /// Replaces all labels.
    #[serde(default)]
    pub labels: Option<Labels>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Option<Timestamp>>,
    /// The new parent's id or `KIND:NAME`; `null` makes the identity top-level.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub parent: Option<Option<String>>,
}

/// Distinguishes a field sent as `null` (`Some(None)`) from one left out (`None`).
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// How an identity is named in requests: by id, or as `KIND:NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IdentityRef {
    Id(IdentityId),
    Name { kind: IdentityKind, name: String },
}

impl IdentityRef {
    pub fn parse(text: &str) -> DomainResult<Self> {
        if let Ok(id) = Uuid::parse_str(text) {
            return Ok(Self::Id(IdentityId(id)));
        }
        let Some((kind, name)) = text.split_once(':') else {
            return Err(DomainError::UnknownIdentity(text.to_string()));
        };
        Ok(Self::Name {
            kind: kind.parse()?,
            name: name.to_string(),
        })
    }
}

impl fmt::Display for IdentityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => id.fmt(f),
            Self::Name { kind, name } => write!(f, "{kind}:{name}"),
        }
    }
}

/// Which identities a listing returns; every field narrows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityFilter {
    pub kind: Option<IdentityKind>,
    pub owner: Option<OwnerRef>,
    pub status: Option<IdentityStatus>,
    pub environment: Option<Environment>,
    pub source: Option<Source>,
    pub parent: Option<IdentityRef>,
    pub name: Option<String>,
    /// Every `(key, value)` pair must be among the identity's labels.
    pub labels: Vec<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::owner::NewOwner;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_millis(secs * 1000)
    }

    fn owner(email: &str) -> Owner {
        let new = NewOwner::new(email, "Someone").unwrap_or_else(|e| panic!("{e}"));
        Owner::create(new, OwnerId::new_v7(), at(0))
    }

    fn new_agent(name: &str) -> NewIdentity {
        NewIdentity {
            kind: IdentityKind::Agent,
            name: name.to_string(),
            purpose: Some("answers tickets".into()),
            environment: Some(Environment::Prod),
            labels: Labels::new(),
            expires_at: None,
            source: Source::Issued,
            source_detail: None,
        }
    }

    fn agent(name: &str, owner: &Owner) -> Identity {
        Identity::create(new_agent(name), IdentityId::new_v7(), owner, None, at(1))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn no_identity_without_an_active_owner() {
        let mut alice = owner("alice@example.com");
        alice.offboard(at(1)).unwrap_or_else(|e| panic!("{e}"));
        let refused = Identity::create(new_agent("bot"), IdentityId::new_v7(), &alice, None, at(2));
        assert_eq!(
            refused,
            Err(DomainError::OwnerNotActive("alice@example.com".into()))
        );
    }

    #[test]
    fn invalid_names_and_past_expiry_are_refused_at_creation() {
        let alice = owner("alice@example.com");
        let bad_name = Identity::create(
            new_agent("Bad Name"),
            IdentityId::new_v7(),
            &alice,
            None,
            at(1),
        );
        assert!(matches!(
            bad_name,
            Err(DomainError::InvalidField { field: "name", .. })
        ));
        let mut expired = new_agent("bot");
        expired.expires_at = Some(at(1));
        let refused = Identity::create(expired, IdentityId::new_v7(), &alice, None, at(5));
        assert!(matches!(
            refused,
            Err(DomainError::InvalidField {
                field: "expires_at",
                ..
            })
        ));
    }

    #[test]
    fn suspend_and_restore_round_trip() {
        let alice = owner("alice@example.com");
        let mut bot = agent("bot", &alice);
        bot.suspend(SuspensionReason::Manual, at(2))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bot.status, IdentityStatus::Suspended);
        assert!(matches!(
            bot.suspend(SuspensionReason::Killed, at(3)),
            Err(DomainError::InvalidState(_))
        ));
        bot.restore(&alice, at(4)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bot.status, IdentityStatus::Active);
        assert_eq!(bot.suspension_reason, None);
        assert!(matches!(
            bot.restore(&alice, at(5)),
            Err(DomainError::InvalidState(_))
        ));
    }

    #[test]
    fn a_revoked_identity_is_never_restored_or_changed() {
        let alice = owner("alice@example.com");
        let mut bot = agent("bot", &alice);
        bot.revoke(at(2)).unwrap_or_else(|e| panic!("{e}"));
        let revoked = Err(DomainError::Revoked("agent:bot".into()));
        assert_eq!(bot.restore(&alice, at(3)), revoked);
        assert_eq!(bot.suspend(SuspensionReason::Manual, at(3)), revoked);
        assert_eq!(bot.revoke(at(3)), revoked);
        assert_eq!(bot.reassign(&owner("bob@example.com"), at(3)), revoked);
        assert_eq!(bot.apply(&IdentityPatch::default(), None, at(3)), revoked);
        assert_eq!(bot.status, IdentityStatus::Revoked);
    }

    #[test]
    fn offboarding_suspends_until_reassigned() {
        let mut alice = owner("alice@example.com");
        let bob = owner("bob@example.com");
        let mut bot = agent("bot", &alice);
        let mut paused = agent("paused", &alice);
        paused
            .suspend(SuspensionReason::Manual, at(2))
            .unwrap_or_else(|e| panic!("{e}"));

        alice.offboard(at(3)).unwrap_or_else(|e| panic!("{e}"));
        assert!(bot.on_owner_offboarded(at(3)));
        assert!(!paused.on_owner_offboarded(at(3)));
        assert_eq!(
            bot.suspension_reason,
            Some(SuspensionReason::OwnerOffboarded)
        );

        // Restoring under the departed owner is refused; reassignment is the way back.
        assert!(matches!(
            bot.restore(&alice, at(4)),
            Err(DomainError::InvalidState(_))
        ));
        bot.reassign(&bob, at(5)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (bot.status, bot.owner.as_str()),
            (IdentityStatus::Active, "bob@example.com")
        );

        // A suspension for another reason survives reassignment.
        paused
            .reassign(&bob, at(5))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(paused.status, IdentityStatus::Suspended);
    }

    #[test]
    fn reassignment_needs_an_active_owner() {
        let alice = owner("alice@example.com");
        let mut carol = owner("carol@example.com");
        carol.offboard(at(1)).unwrap_or_else(|e| panic!("{e}"));
        let mut bot = agent("bot", &alice);
        assert_eq!(
            bot.reassign(&carol, at(2)),
            Err(DomainError::OwnerNotActive("carol@example.com".into()))
        );
        assert_eq!(bot.owner, "alice@example.com");
    }

    #[test]
    fn expiry_is_read_from_the_clock() {
        let alice = owner("alice@example.com");
        let mut new = new_agent("bot");
        new.expires_at = Some(at(100));
        let bot = Identity::create(new, IdentityId::new_v7(), &alice, None, at(1))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bot.effective_status(at(99)), IdentityStatus::Active);
        assert_eq!(bot.effective_status(at(100)), IdentityStatus::Expired);
        assert_eq!(
            bot.clone().as_seen_at(at(200)).status,
            IdentityStatus::Expired
        );
    }

    #[test]
    fn parent_cycles_are_detected() {
        let alice = owner("alice@example.com");
        let root = agent("root", &alice);
        let mut child = agent("child", &alice);
        child.parent_id = Some(root.id);
        let mut grandchild = agent("grandchild", &alice);
        grandchild.parent_id = Some(child.id);
        let all = [root.clone(), child.clone(), grandchild.clone()];
        let parent_of = |id: IdentityId| all.iter().find(|i| i.id == id).and_then(|i| i.parent_id);

        // root under grandchild would loop root → grandchild → child → root.
        assert!(matches!(
            check_parent_chain(&root, &grandchild, parent_of),
            Err(DomainError::CyclicParent { .. })
        ));
        // A fresh identity under grandchild is fine.
        let other = agent("other", &alice);
        assert_eq!(check_parent_chain(&other, &grandchild, parent_of), Ok(()));
        // Self-parenting is caught by `apply` as well.
        let mut alone = agent("alone", &alice);
        let patch = IdentityPatch::default();
        let snapshot = alone.clone();
        assert!(matches!(
            alone.apply(&patch, Some(Some(&snapshot)), at(2)),
            Err(DomainError::CyclicParent { .. })
        ));
    }

    #[test]
    fn overlong_parent_chains_are_refused() {
        let alice = owner("alice@example.com");
        let child = agent("child", &alice);
        let parent = agent("parent", &alice);
        // A hierarchy that never ends (corrupt data) must not loop forever.
        let endless = |_: IdentityId| Some(IdentityId::new_v7());
        assert!(matches!(
            check_parent_chain(&child, &parent, endless),
            Err(DomainError::InvalidField {
                field: "parent",
                ..
            })
        ));
    }

    #[test]
    fn identity_refs_are_ids_or_kind_name() {
        assert_eq!(
            IdentityRef::parse("agent:support-bot"),
            Ok(IdentityRef::Name {
                kind: IdentityKind::Agent,
                name: "support-bot".into()
            })
        );
        assert!(matches!(
            IdentityRef::parse("robot:x"),
            Err(DomainError::InvalidField { field: "kind", .. })
        ));
        assert!(matches!(
            IdentityRef::parse("support-bot"),
            Err(DomainError::UnknownIdentity(_))
        ));
    }

    #[test]
    fn patches_tell_null_from_absent() {
        let patch: IdentityPatch =
            serde_json::from_str(r#"{"purpose": null}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(patch.purpose, Some(None));
        assert_eq!(patch.environment, None);
        let unknown = serde_json::from_str::<IdentityPatch>(r#"{"colour": "red"}"#);
        assert!(unknown.is_err());
    }
}
