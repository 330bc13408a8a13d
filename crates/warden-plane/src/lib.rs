//! The credential plane: everything that decides whether a credential is good right now.
//!
//! - `tokens`: the token service (issuing and verifying access tokens) and the key ring
//!   that signs them, sealed under the data key in the store.
//! - `revocation`: which identities, credentials, tokens and tasks are switched off, held
//!   in memory so verification reads no database.
//! - `delegation`: the rules of RFC 8693 token exchange (who may act for whom, how deep).
//! - `ratelimit`: the failed-authentication limiter.
//! - `freshness`: whether this node still knows it is current with the others.
//! - `plane`: the pieces put together, with the background refresh that keeps every node
//!   current.
//!
//! The plane knows nothing of HTTP: the OAuth endpoints (in `warden-server`) and the
//! gateway (in `warden-proxy`) call it.

pub mod config;
pub mod delegation;
pub mod freshness;
pub mod plane;
pub mod ratelimit;
pub mod revocation;
pub mod tokens;

pub use config::{CredentialConfig, TrustedIssuerConfig};
pub use freshness::{Freshness, Stale};
pub use plane::{CredentialPlane, PlaneSettings, TrustedIssuer};
