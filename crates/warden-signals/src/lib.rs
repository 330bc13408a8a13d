//! Signals: what Warden tells people and other systems about what happened in it.
//!
//! - `webhook`: which audit events a webhook may subscribe to, the JSON body it receives,
//!   the HMAC-SHA256 signature over a timestamp and that body, and the URL rules;
//! - `retry`: when a failed delivery is tried again (exponential backoff with jitter) and
//!   when it becomes a dead letter;
//! - `set`: Security Event Tokens (RFC 8417) for the OpenID Shared Signals Framework: which
//!   audit events become CAEP `session-revoked`, CAEP `credential-change` and RISC
//!   `account-disabled`, their subjects (RFC 9493), and the claims;
//! - `ssf`: the transmitter configuration document, stream configurations and the parsers
//!   of what receivers send (stream bodies, subjects, poll requests per RFC 8936).
//!
//! Architecture invariant: this crate does no I/O. The server reads the audit trail, calls
//! these functions, stores the results through the store and delivers them.

pub mod retry;
pub mod set;
pub mod ssf;
pub mod webhook;
