//! The errors the domain rules raise. Each names the problem and what to do about it.

use thiserror::Error;

pub type DomainResult<T> = Result<T, DomainError>;

/// A request that breaks one of the domain's rules. Nothing has been changed when one is
/// returned; the server maps every variant to a status code in one exhaustive `match`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("`{field}` is invalid: {message}")]
    InvalidField {
        field: &'static str,
        message: String,
    },

    #[error("`{0}` is not a valid email address; use the form name@example.com")]
    InvalidEmail(String),

    #[error(
        "unknown owner `{0}`; list owners with `warden owner list` or add one with `warden owner add`"
    )]
    UnknownOwner(String),

    #[error(
        "unknown identity `{0}`; refer to an identity by its id or as KIND:NAME (for example agent:support-bot)"
    )]
    UnknownIdentity(String),

    #[error(
        "unknown parent `{0}`; the parent must be an existing identity, referred to by id or as KIND:NAME"
    )]
    UnknownParent(String),

    #[error("an owner with email `{0}` already exists")]
    DuplicateOwner(String),

    #[error("an identity of kind {kind} named `{name}` already exists; names are unique per kind")]
    DuplicateName { kind: String, name: String },

    #[error("`{child}` cannot have `{parent}` as its parent: that would form a cycle")]
    CyclicParent { child: String, parent: String },

    #[error(
        "owner `{0}` is offboarded; identities need an active owner, so choose another with --owner or reassign"
    )]
    OwnerNotActive(String),

    #[error("{0}")]
    InvalidState(String),

    #[error("identity `{0}` is revoked; revocation is permanent, create a new identity instead")]
    Revoked(String),

    #[error(
        "unknown credential `{0}`; list an identity's credentials with `warden credential list IDENTITY`"
    )]
    UnknownCredential(String),
    #[error("unknown upstream `{0}`; list upstreams with `warden upstream list`")]
    UnknownUpstream(String),

    #[error("an upstream named `{0}` already exists")]
    DuplicateUpstream(String),

    #[error("unknown policy `{0}`; list policies with `warden policy list`")]
    UnknownPolicy(String),

    #[error("a policy with id `{0}` already exists; use --replace to change it")]
    DuplicatePolicy(String),

    /// A policy set, route map or schema that does not validate; the message is the
    /// validator's.
    #[error("{0}")]
    InvalidPolicy(String),

    #[error("unknown finding `{0}`; list findings with `warden findings list`")]
    UnknownFinding(String),

    #[error("unknown leak report `{0}`; list them with `warden leaks list`")]
    UnknownLeak(String),

    #[error("unknown webhook `{0}`; list webhooks with `warden webhook list`")]
    UnknownWebhook(String),

    #[error("unknown webhook delivery `{0}`; list them with `warden webhook deliveries`")]
    UnknownDelivery(String),

    #[error("unknown stream `{0}`; a receiver reads its streams at /ssf/stream")]
    UnknownStream(String),

    #[error("a Shared Signals receiver named `{0}` already exists")]
    DuplicateReceiver(String),

    #[error("unknown Shared Signals receiver `{0}`; list them with `warden ssf receivers`")]
    UnknownReceiver(String),

    #[error(
        "upstream `{upstream}` has no tool `{tool}` the gateway has seen; list them with `warden upstream tools {upstream}`"
    )]
    UnknownTool { upstream: String, tool: String },

    #[error("unknown approval `{0}`; list approvals with `warden approvals list`")]
    UnknownApproval(String),

    #[error(
        "approval `{id}` is already {status}; only a pending approval can be decided, so the agent must make its request again for a new one"
    )]
    ApprovalDecided { id: String, status: &'static str },

    #[error(
        "approval `{0}` has expired; the agent must make its request again to ask for a new approval"
    )]
    ApprovalExpired(String),

    #[error(
        "`{0}` made or benefits from this request and cannot approve it; another owner or an administrator must decide"
    )]
    SelfApproval(String),

    #[error(
        "approval `{0}` is still pending; retry once a human has approved it (`warden approvals show ID`)"
    )]
    ApprovalPending(String),

    #[error("approval `{0}` was denied; the request must not be retried with it")]
    ApprovalDenied(String),

    #[error(
        "approval `{0}` has already been used; an approval lets one request through once, so ask for a new one"
    )]
    ApprovalUsed(String),

    /// The retried request is not the one that was approved; names the field, never its
    /// value (the body digest must not be echoed).
    #[error(
        "approval `{id}` was granted for a different request (the {field} differs); retry exactly the approved request, or make this one to ask for a new approval"
    )]
    ApprovalMismatch { id: String, field: &'static str },

    /// The agent already has as many approvals waiting for a human as it may; a flood of
    /// held requests must not bury the approvers.
    #[error(
        "agent `{agent}` already has {limit} approvals waiting for a human; wait until some are decided or expire before making more requests that need approval"
    )]
    TooManyPendingApprovals { agent: String, limit: u32 },

    /// An upstream's URL would move to another scheme, host or port while its secret,
    /// registered for the old one, stayed: the secret would go to a host it was not meant for.
    #[error(
        "changing the scheme, host or port of upstream `{0}` would send its secret to a host it was not registered for; send the new host's secret in the same update (`warden upstream update {0} --url URL --secret-env VAR`, or `secret` in the PATCH body)"
    )]
    SecretBoundToOrigin(String),
}

impl DomainError {
    /// The machine-readable code clients can branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidField { .. } => "invalid_field",
            Self::InvalidEmail(_) => "invalid_email",
            Self::UnknownOwner(_) => "unknown_owner",
            Self::UnknownIdentity(_) => "unknown_identity",
            Self::UnknownParent(_) => "unknown_parent",
            Self::DuplicateOwner(_) => "duplicate_owner",
            Self::DuplicateName { .. } => "duplicate_name",
            Self::CyclicParent { .. } => "cyclic_parent",
            Self::OwnerNotActive(_) => "owner_offboarded",
            Self::InvalidState(_) => "invalid_state",
            Self::Revoked(_) => "identity_revoked",
            Self::UnknownCredential(_) => "unknown_credential",
            Self::UnknownUpstream(_) => "unknown_upstream",
            Self::DuplicateUpstream(_) => "duplicate_upstream",
            Self::UnknownPolicy(_) => "unknown_policy",
            Self::DuplicatePolicy(_) => "duplicate_policy",
            Self::InvalidPolicy(_) => "invalid_policy",
            Self::UnknownFinding(_) => "unknown_finding",
            Self::UnknownLeak(_) => "unknown_leak",
            Self::UnknownWebhook(_) => "unknown_webhook",
            Self::UnknownDelivery(_) => "unknown_delivery",
            Self::UnknownStream(_) => "unknown_stream",
            Self::DuplicateReceiver(_) => "duplicate_receiver",
            Self::UnknownReceiver(_) => "unknown_receiver",
            Self::UnknownTool { .. } => "unknown_tool",
            Self::UnknownApproval(_) => "unknown_approval",
            Self::ApprovalDecided { .. } => "approval_decided",
            Self::ApprovalExpired(_) => "approval_expired",
            Self::SelfApproval(_) => "self_approval",
            Self::ApprovalPending(_) => "approval_pending",
            Self::ApprovalDenied(_) => "approval_denied",
            Self::ApprovalUsed(_) => "approval_used",
            Self::ApprovalMismatch { .. } => "approval_mismatch",
            Self::TooManyPendingApprovals { .. } => "too_many_pending_approvals",
            Self::SecretBoundToOrigin(_) => "secret_bound_to_origin",
        }
    }

    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidField {
            field,
            message: message.into(),
        }
    }
}
