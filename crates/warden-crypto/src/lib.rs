//! Warden's cryptography: the format of the secrets Warden issues, keyed hashes that are
//! the only form in which those secrets are stored, the one source of randomness, the
//! key ring that signs access tokens, the tokens themselves, and the sealing of upstream
//! secrets at rest; also a bounded cache of verified tokens.
//!
//! Architecture invariant: this crate does no I/O and reads no clock. Key files are read and
//! written by the server's bootstrap, and the current time is passed in as unix seconds;
//! this crate only turns bytes into keys and back.

pub mod cache;
pub mod hash;
pub mod jwt;
pub mod random;
pub mod seal;
pub mod secret;
pub mod signing;

pub use cache::VerifiedCache;
pub use hash::{KeyedHash, Pepper, sha256};
pub use jwt::{
    AccessClaims, Actor, Ancestor, AuthorizationDetail, Expectations, ExternalClaims,
    ExternalVerifier, IssueError, JwksError, TaskDetail, TokenError,
};
pub use seal::{DataKey, SealError};
pub use secret::{Secret, SecretFormatError, SecretKind};
pub use signing::{KeyError, KeyRing, SigningKey};
