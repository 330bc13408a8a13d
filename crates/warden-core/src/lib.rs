//! Warden's domain core: owners, identities, approvals, their lifecycle rules and the clock.
//!
//! Architecture invariant: this crate does no I/O. It holds the types every other layer
//! speaks and the rules that decide whether a change is allowed; the store applies those
//! rules inside its transactions and the server turns their errors into responses.

pub mod access_label;
pub mod approval;
pub mod clock;
pub mod error;
pub mod identity;
pub mod owner;
pub mod page;
pub mod policy;
pub mod time_format;
pub mod upstream;
pub mod validate;

pub use approval::{
    Approval, ApprovalBinding, ApprovalDecision, ApprovalFilter, ApprovalStatus, BodyEncoding,
    HeldBody, HeldRequest, HeldToolCall, NewApproval,
};
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use error::{DomainError, DomainResult};
pub use identity::{
    Environment, Identity, IdentityFilter, IdentityId, IdentityKind, IdentityPatch, IdentityRef,
    IdentityStatus, Labels, NewIdentity, Source, SuspensionReason,
};
pub use owner::{NewOwner, Owner, OwnerFilter, OwnerId, OwnerPatch, OwnerRef, OwnerStatus};
pub use page::{Page, PageRequest};
pub use policy::StoredPolicy;
pub use upstream::{
    BindingSource, InjectAuth, NewUpstream, StdioCommand, Upstream, UpstreamId, UpstreamIdentity,
    UpstreamKind, UpstreamPatch,
};
