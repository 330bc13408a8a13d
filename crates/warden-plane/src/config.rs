//! `[credentials]` in the settings file: what an operator may set about the credential
//! plane. Every field is optional; `PlaneSettings::resolve` fills the gaps and checks the
//! bounds.

use std::path::PathBuf;

use serde::Deserialize;

/// `[credentials]` in the settings file. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    /// The URL clients reach the API at: the tokens' `iss` and the base of the OAuth
    /// endpoints [default: http://API_LISTEN].
    pub public_url: Option<String>,
    /// The URL agents reach the gateway at; a token's audience is `GATEWAY_URL/UPSTREAM`
    /// [default: http://GATEWAY_LISTEN].
    pub gateway_url: Option<String>,
    /// Lifetime of an access token when the client asks for none [default: 300].
    pub token_ttl_secs: Option<i64>,
    /// The longest lifetime a client may ask for [default: 3600].
    pub token_max_ttl_secs: Option<i64>,
    /// The longest a client credential may live (the ceiling) [default: 90].
    pub credential_max_ttl_days: Option<i64>,
    /// How long a rotated-out secret keeps working [default: 86400, one day].
    pub rotation_overlap_secs: Option<i64>,
    /// External issuers whose users' tokens may be exchanged (RFC 8693).
    #[serde(default)]
    pub trusted_issuers: Vec<TrustedIssuerConfig>,
    /// Tolerated clock skew between nodes and clients on `exp`, `nbf` and `iat` of tokens
    /// and client assertions, in seconds [default: 5; 0-300].
    pub clock_leeway_secs: Option<i64>,
    /// How many actors a token's delegation chain (`act`) may hold: how many times it may
    /// be exchanged in a row [default: 3; 1-16].
    pub max_delegation_depth: Option<u32>,
    /// Clients that may introspect tokens issued to other clients, as `KIND:NAME` or ids.
    /// Every other client is told `active: false` about any token not issued to it.
    #[serde(default)]
    pub introspectors: Vec<String>,
}

/// One trusted external issuer: its `iss` and a file holding its JWKS.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuerConfig {
    pub issuer: String,
    pub jwks_file: PathBuf,
}
