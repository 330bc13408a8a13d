//! Owners: the accountable humans (or team mailboxes) every identity answers to.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::clock::Timestamp;
use crate::error::{DomainError, DomainResult};
use crate::validate::{normalize_email, validate_owner_name};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(transparent)]
#[schema(value_type = String, format = Uuid)]
pub struct OwnerId(pub Uuid);

impl OwnerId {
    pub fn new_v7() -> Self {
        Self(Uuid::now_v7())
    }
}

impl fmt::Display for OwnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OwnerStatus {
    Active,
    Offboarded,
}

impl OwnerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Offboarded => "offboarded",
        }
    }
}

impl FromStr for OwnerStatus {
    type Err = DomainError;

    fn from_str(text: &str) -> DomainResult<Self> {
        match text {
            "active" => Ok(Self::Active),
            "offboarded" => Ok(Self::Offboarded),
            other => Err(DomainError::invalid(
                "status",
                format!("`{other}` is not an owner status; use active or offboarded"),
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Owner {
    pub id: OwnerId,
    pub email: String,
    pub name: String,
    pub status: OwnerStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub offboarded_at: Option<Timestamp>,
}

impl Owner {
    /// A new, active owner from a validated request.
    pub fn create(new: NewOwner, id: OwnerId, now: Timestamp) -> Self {
        Self {
            id,
            email: new.email,
            name: new.name,
            status: OwnerStatus::Active,
            created_at: now,
            updated_at: now,
            offboarded_at: None,
        }
    }

    pub fn is_active(&self) -> bool {
        self.status == OwnerStatus::Active
    }

    /// Fails unless this owner can be accountable for identities.
    pub fn ensure_active(&self) -> DomainResult<()> {
        if self.is_active() {
            Ok(())
        } else {
            Err(DomainError::OwnerNotActive(self.email.clone()))
        }
    }

    /// Marks the owner offboarded. The caller suspends the identities they own in the same
    /// transaction (see `Identity::on_owner_offboarded`).
    pub fn offboard(&mut self, now: Timestamp) -> DomainResult<()> {
        if !self.is_active() {
            return Err(DomainError::InvalidState(format!(
                "owner `{}` is already offboarded",
                self.email
            )));
        }
        self.status = OwnerStatus::Offboarded;
        self.offboarded_at = Some(now);
        self.updated_at = now;
        Ok(())
    }

    pub fn apply(&mut self, patch: OwnerPatch, now: Timestamp) -> DomainResult<()> {
        if let Some(name) = patch.name {
            validate_owner_name(&name)?;
            self.name = name;
        }
        self.updated_at = now;
        Ok(())
    }
}

/// A request to register an owner; construct with `NewOwner::new` to validate it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOwner {
    pub email: String,
    pub name: String,
}

impl NewOwner {
    pub fn new(email: &str, name: &str) -> DomainResult<Self> {
        let email = normalize_email(email)?;
        validate_owner_name(name)?;
        Ok(Self {
            email,
            name: name.trim().to_string(),
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnerPatch {
    pub name: Option<String>,
}

/// How an owner is named in requests: by id or by email.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OwnerRef {
    Id(OwnerId),
    Email(String),
}

impl OwnerRef {
    pub fn parse(text: &str) -> DomainResult<Self> {
        if let Ok(id) = Uuid::parse_str(text) {
            return Ok(Self::Id(OwnerId(id)));
        }
        normalize_email(text).map(Self::Email)
    }
}

impl fmt::Display for OwnerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => id.fmt(f),
            Self::Email(email) => f.write_str(email),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerFilter {
    pub status: Option<OwnerStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Owner {
        let new = NewOwner::new("Alice@Example.com", "Alice").unwrap_or_else(|e| panic!("{e}"));
        Owner::create(new, OwnerId::new_v7(), Timestamp::from_millis(1))
    }

    #[test]
    fn a_new_owner_is_active_with_a_normalized_email() {
        let owner = alice();
        assert_eq!(owner.email, "alice@example.com");
        assert!(owner.is_active());
        assert_eq!(owner.ensure_active(), Ok(()));
    }

    #[test]
    fn offboarding_happens_once() {
        let mut owner = alice();
        owner
            .offboard(Timestamp::from_millis(5))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(owner.status, OwnerStatus::Offboarded);
        assert_eq!(owner.offboarded_at, Some(Timestamp::from_millis(5)));
        assert!(matches!(
            owner.offboard(Timestamp::from_millis(6)),
            Err(DomainError::InvalidState(_))
        ));
        assert_eq!(
            owner.ensure_active(),
            Err(DomainError::OwnerNotActive("alice@example.com".into()))
        );
    }

    #[test]
    fn owner_refs_are_ids_or_emails() {
        let id = Uuid::now_v7();
        assert_eq!(
            OwnerRef::parse(&id.to_string()),
            Ok(OwnerRef::Id(OwnerId(id)))
        );
        assert_eq!(
            OwnerRef::parse("Bob@x.io"),
            Ok(OwnerRef::Email("bob@x.io".into()))
        );
        assert!(OwnerRef::parse("bob").is_err());
    }

    #[test]
    fn blank_names_are_refused() {
        assert!(matches!(
            NewOwner::new("a@b.co", "  "),
            Err(DomainError::InvalidField { field: "name", .. })
        ));
    }
}
