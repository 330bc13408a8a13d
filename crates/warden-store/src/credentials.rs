//! The credential plane's records: client credentials, revoked tokens, sealed signing keys,
//! and the snapshot of everything token verification must know about revocation.
//!
//! These are plain values; the rules that produce them live in the server (which knows
//! tokens) and in `warden-core` (which knows identities). The store only keeps them.

use serde::Serialize;
use warden_core::{DomainError, Timestamp};

/// How a client proves who it is at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// A Warden client secret, stored only as its keyed hash.
    ClientSecret,
    /// A registered public key; the client signs an RFC 7523 assertion.
    PrivateKeyJwt,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecret => "client_secret",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }

    pub fn parse(text: &str) -> Result<Self, DomainError> {
        match text {
            "client_secret" => Ok(Self::ClientSecret),
            "private_key_jwt" => Ok(Self::PrivateKeyJwt),
            other => Err(DomainError::invalid(
                "kind",
                format!("`{other}` is not one of: client_secret, private_key_jwt"),
            )),
        }
    }
}

/// Where a credential is in its life. A rotated credential still works until its
/// `expires_at`, which rotation brings forward to the end of the overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialStatus {
    Active,
    Rotated,
    Revoked,
}

impl CredentialStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Rotated => "rotated",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(Self::Active),
            "rotated" => Some(Self::Rotated),
            "revoked" => Some(Self::Revoked),
            _ => None,
        }
    }
}

/// A stored client credential. It never holds a secret: only the secret's keyed hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credential {
    pub id: String,
    /// The identity this credential belongs to; also its OAuth `client_id`.
    pub identity_id: String,
    pub kind: CredentialKind,
    /// Hex keyed hash of the client secret; never shown.
    #[serde(skip)]
    pub secret_hash: Option<String>,
    /// The registered public key (a JWK), for `private_key_jwt`.
    pub public_jwk: Option<serde_json::Value>,
    /// Space-separated scopes tokens obtained with this credential may carry; `None`
    /// leaves scopes unrestricted.
    pub scope: Option<String>,
    pub status: CredentialStatus,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl Credential {
    /// Whether the credential authenticates a client at `now`.
    pub fn is_usable(&self, now: Timestamp) -> bool {
        self.status != CredentialStatus::Revoked && self.expires_at > now
    }
}

/// What the server decided for a new credential; the store adds nothing but the row.
#[derive(Debug, Clone)]
pub struct NewCredential {
    pub id: String,
    pub kind: CredentialKind,
    pub secret_hash: Option<String>,
    pub public_jwk: Option<serde_json::Value>,
    pub scope: Option<String>,
    pub expires_at: Timestamp,
}

/// A token-signing key as stored: the private key sealed under the data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub kid: String,
    /// Hex of the sealed PKCS#8 document.
    pub sealed: String,
    /// Unix seconds, as the key ring counts.
    pub created_at: i64,
    pub retired_at: Option<i64>,
    pub not_after: Option<i64>,
}

/// Every value sealed under the data key, sealed again under a new one
/// ([`crate::Store::reseal_data`]).
#[derive(Debug, Clone)]
pub struct ResealedData {
    /// The fingerprint recorded for the key everything was sealed under until now.
    pub old_fingerprint: String,
    pub new_fingerprint: String,
    /// Each upstream's secret, at the version it was read at.
    pub upstream_secrets: Vec<(warden_core::UpstreamId, crate::SealedSecret)>,
    pub signing_keys: Vec<StoredSigningKey>,
    /// Each held request still kept for an open approval.
    pub approval_requests: Vec<crate::SealedRequest>,
    /// Each Shared Signals stream's push authorization header: (stream id, sealed, base64).
    pub stream_authorizations: Vec<(String, String)>,
}

/// The setting that records the data key's fingerprint.
pub const DATA_KEY_FINGERPRINT_SETTING: &str = "data_key_fingerprint";

/// The lifecycle facts about one identity that token verification needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityState {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub owner_id: String,
    pub owner_email: String,
    pub parent_id: Option<String>,
    /// `active`, `suspended` or `revoked`, as stored.
    pub status: String,
    pub suspension_reason: Option<String>,
    pub expires_at: Option<Timestamp>,
    /// `prod`, `staging` or `dev`, when set: the gateway passes it to policies.
    pub environment: Option<String>,
}

/// Everything revocation depends on, read in one go so that verification can answer from
/// memory.
#[derive(Debug, Clone, Default)]
pub struct RevocationSnapshot {
    pub identities: Vec<IdentityState>,
    /// Ids of owners who are offboarded.
    pub offboarded_owners: Vec<String>,
    pub revoked_credentials: Vec<String>,
    /// (jti, expires_at) of revoked tokens not yet expired.
    pub revoked_tokens: Vec<(String, Timestamp)>,
}

/// A revoked token, as recorded.
#[derive(Debug, Clone)]
pub struct TokenRevocation {
    pub jti: String,
    /// The identity the token was issued to, if known.
    pub identity_id: Option<String>,
    pub expires_at: Timestamp,
}
