//! Human approvals: a request the policy held (a `permit` annotated `@approval`) waits for a
//! person to approve or deny it, and an approval, once granted, lets exactly that request
//! through exactly once.
//!
//! The lifecycle: `pending` → `approved` or `denied` by a human; `approved` → `used` when the
//! gateway forwards the request it is bound to. `expired` is stored only when a late decision
//! finds it so; otherwise a pending or approved approval past its `expires_at` reads as
//! expired. The rules are here; the store applies them inside the transaction that locks the
//! row.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::Timestamp;
use crate::error::{DomainError, DomainResult};
use crate::identity::text_enum;
use crate::page::DEFAULT_PAGE_LIMIT;

/// The longest reason or comment kept with an approval.
pub const MAX_APPROVAL_TEXT_LEN: usize = 1000;
/// How many approvals one agent may have waiting for a human at once, unless configured.
pub const DEFAULT_MAX_PENDING_APPROVALS_PER_AGENT: u32 = 20;

text_enum!(
    /// Where an approval is in its life, as callers see it at a given time.
    ApprovalStatus, "status", {
        Pending => "pending",
        Approved => "approved",
        Denied => "denied",
        Used => "used",
        Expired => "expired",
    }
);

/// What an approval is bound to: the exact request that was held. The gateway lets a retry
/// through only when every field is equal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalBinding {
    /// The identity id of the agent that made the request.
    pub agent_id: String,
    /// The upstream's name.
    pub upstream: String,
    /// The HTTP method, upper case.
    pub method: String,
    /// The forwarded path without its query, e.g. `/tickets/42`.
    pub path: String,
    /// A keyed digest of the query, content type and body, computed by the gateway; only
    /// ever compared for equality.
    pub body_digest: String,
    pub task_id: Option<String>,
}

impl ApprovalBinding {
    /// The name of the first field in which `other` differs from this binding, if any. The
    /// name, never the values, so a refusal can say what differs without echoing a digest.
    pub fn first_difference(&self, other: &Self) -> Option<&'static str> {
        if self.agent_id != other.agent_id {
            Some("agent")
        } else if self.upstream != other.upstream {
            Some("upstream")
        } else if self.method != other.method {
            Some("method")
        } else if self.path != other.path {
            Some("path")
        } else if self.body_digest != other.body_digest {
            Some("query, content type or body")
        } else if self.task_id != other.task_id {
            Some("task")
        } else {
            None
        }
    }

    fn validate(&self) -> DomainResult<()> {
        required("agent_id", &self.agent_id)?;
        required("upstream", &self.upstream)?;
        required("body_digest", &self.body_digest)?;
        let method_ok = !self.method.is_empty()
            && self.method.len() <= 16
            && self.method.bytes().all(|b| b.is_ascii_uppercase());
        if !method_ok {
            return Err(DomainError::invalid(
                "method",
                format!(
                    "`{}` is not an upper-case HTTP method such as POST",
                    self.method
                ),
            ));
        }
        if !self.path.starts_with('/') || self.path.contains('?') {
            return Err(DomainError::invalid(
                "path",
                "must start with `/` and carry no query string",
            ));
        }
        if let Some(task) = &self.task_id {
            required("task_id", task)?;
        }
        Ok(())
    }
}

/// How a held request's body is written out for an approver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BodyEncoding {
    /// The body is UTF-8 text, shown as it is.
    Text,
    /// The body is not UTF-8 text; `content` is its standard base64.
    Base64,
}

/// A held request's body, whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HeldBody {
    /// The body's size in bytes as it was sent.
    pub size: u64,
    pub encoding: BodyEncoding,
    /// The body itself (credentials redacted, see `HeldRequest::redacted`), or its base64.
    pub content: String,
}

/// One MCP tool call in a held request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HeldToolCall {
    pub name: String,
    /// The call's arguments exactly as sent (credentials redacted).
    #[schema(value_type = Object)]
    pub arguments: serde_json::Value,
}

/// The exact request an approval is about, as an approver sees it: what the agent sent,
/// not what it says it sent. Never the agent's `Authorization` nor the upstream's secret
/// (headers are not kept), and any value that looks like a credential is replaced by
/// `[redacted]`. Kept sealed at rest, and only while the approval can still be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HeldRequest {
    /// The HTTP method.
    pub method: String,
    /// The path forwarded to the upstream, without the query.
    pub path: String,
    /// The query string, without the `?`.
    pub query: Option<String>,
    /// The `Content-Type` header as sent.
    pub content_type: Option<String>,
    pub body: HeldBody,
    /// For an MCP request, each tool call with its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<HeldToolCall>,
    /// Where a credential was replaced by `[redacted]`: `query:NAME`, `body:PATH` or
    /// `body:token` (the agent's own token or the upstream's secret found in the text).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redacted: Vec<String>,
}

fn required(field: &'static str, value: &str) -> DomainResult<()> {
    if value.trim().is_empty() {
        Err(DomainError::invalid(field, "must not be empty"))
    } else {
        Ok(())
    }
}

fn bounded_text(field: &'static str, value: Option<&str>) -> DomainResult<()> {
    match value {
        Some(text)
            if text.chars().count() > MAX_APPROVAL_TEXT_LEN
                || text.chars().any(|c| c.is_control() && c != '\n') =>
        {
            Err(DomainError::invalid(
                field,
                format!("at most {MAX_APPROVAL_TEXT_LEN} characters, no control characters"),
            ))
        }
        _ => Ok(()),
    }
}

/// A request the gateway held, to be recorded as a pending approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApproval {
    pub binding: ApprovalBinding,
    pub agent_name: String,
    pub owner_email: String,
    /// The user the agent acts for (token exchange), if any.
    pub on_behalf_of: Option<String>,
    /// The policy action, e.g. `tickets.refund` or `call_tool`.
    pub action: String,
    /// The policy resource, e.g. `Ticket::"42"`.
    pub resource: String,
    /// The agent's `Warden-Reason`.
    pub reason: Option<String>,
    /// The `@approval` permits that held the request.
    pub policy_ids: Vec<String>,
    pub token_jti: Option<String>,
    /// After this a pending or approved approval reads as expired.
    pub expires_at: Timestamp,
    /// How many unexpired pending approvals the agent may have; this one is refused when
    /// it already has that many.
    pub max_pending_for_agent: u32,
}

impl NewApproval {
    /// Refuses another approval for an agent that has `pending` (unexpired) approvals
    /// waiting already, so one agent cannot flood the approvers.
    pub fn check_pending_cap(&self, pending: u64) -> DomainResult<()> {
        if pending >= u64::from(self.max_pending_for_agent) {
            Err(DomainError::TooManyPendingApprovals {
                agent: self.agent_name.clone(),
                limit: self.max_pending_for_agent,
            })
        } else {
            Ok(())
        }
    }

    pub fn validate(&self, now: Timestamp) -> DomainResult<()> {
        self.binding.validate()?;
        required("agent_name", &self.agent_name)?;
        required("owner_email", &self.owner_email)?;
        required("action", &self.action)?;
        required("resource", &self.resource)?;
        bounded_text("reason", self.reason.as_deref())?;
        if self.expires_at <= now {
            return Err(DomainError::invalid(
                "expires_at",
                "must be in the future; an approval that is already expired can never be used",
            ));
        }
        Ok(())
    }
}

/// A held request and what a human decided about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Approval {
    /// UUIDv7, so ordering by id is ordering by when the request was held.
    pub id: String,
    pub status: ApprovalStatus,
    #[serde(flatten)]
    pub binding: ApprovalBinding,
    pub agent_name: String,
    pub owner_email: String,
    pub on_behalf_of: Option<String>,
    pub action: String,
    pub resource: String,
    /// The reason the agent gave.
    pub reason: Option<String>,
    pub policy_ids: Vec<String>,
    pub token_jti: Option<String>,
    pub requested_at: Timestamp,
    pub expires_at: Timestamp,
    /// Who approved or denied it.
    pub decided_by: Option<String>,
    pub decided_at: Option<Timestamp>,
    /// The approver's comment.
    pub comment: Option<String>,
    /// When the gateway let the request it is bound to through.
    pub used_at: Option<Timestamp>,
}

/// A human's verdict on a pending approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalDecision {
    pub approve: bool,
    /// The owner's email (or the admin's name) recorded as `decided_by`.
    pub approver: String,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalFilter {
    pub status: Option<ApprovalStatus>,
    /// Only approvals of this agent (its identity id).
    pub agent_id: Option<String>,
    /// Only approvals of agents this owner was accountable for when the request was held
    /// (their email, normalized).
    pub owner_email: Option<String>,
    /// Page size, 1 to `MAX_PAGE_LIMIT`.
    pub limit: u32,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl Default for ApprovalFilter {
    fn default() -> Self {
        Self {
            status: None,
            agent_id: None,
            owner_email: None,
            limit: DEFAULT_PAGE_LIMIT,
            cursor: None,
        }
    }
}

impl Approval {
    /// A pending approval for a held request.
    pub fn create(new: NewApproval, id: String, now: Timestamp) -> DomainResult<Self> {
        new.validate(now)?;
        Ok(Self {
            id,
            status: ApprovalStatus::Pending,
            binding: new.binding,
            agent_name: new.agent_name,
            owner_email: new.owner_email,
            on_behalf_of: new.on_behalf_of,
            action: new.action,
            resource: new.resource,
            reason: new.reason,
            policy_ids: new.policy_ids,
            token_jti: new.token_jti,
            requested_at: now,
            expires_at: new.expires_at,
            decided_by: None,
            decided_at: None,
            comment: None,
            used_at: None,
        })
    }

    /// Whether the approval can still let its request through at `now` (pending or
    /// approved, unexpired): only then is the held request kept.
    pub fn is_open_at(&self, now: Timestamp) -> bool {
        matches!(
            self.effective_status(now),
            ApprovalStatus::Pending | ApprovalStatus::Approved
        )
    }

    /// Whether this approval is past its expiry at `now` (only an undecided or unused
    /// approval can expire).
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        matches!(
            self.status,
            ApprovalStatus::Pending | ApprovalStatus::Approved
        ) && now >= self.expires_at
    }

    /// The status a caller sees at `now`.
    pub fn effective_status(&self, now: Timestamp) -> ApprovalStatus {
        if self.is_expired_at(now) {
            ApprovalStatus::Expired
        } else {
            self.status
        }
    }

    /// This approval with its status as seen at `now`.
    pub fn as_seen_at(mut self, now: Timestamp) -> Self {
        self.status = self.effective_status(now);
        self
    }

    /// Whether `who` is the requester: the agent (by id or name) or the user it acts for.
    /// Compared without regard to ASCII case, as emails and names are.
    pub fn is_requester(&self, who: &str) -> bool {
        let who = who.trim();
        who.eq_ignore_ascii_case(&self.binding.agent_id)
            || who.eq_ignore_ascii_case(&self.agent_name)
            || self
                .on_behalf_of
                .as_deref()
                .is_some_and(|user| who.eq_ignore_ascii_case(user))
    }

    /// Applies a human's decision. Refused unless the approval is pending and unexpired and
    /// the approver is not the requester. An expired approval is refused with
    /// `ApprovalExpired`; the caller records it as expired (see `expire`).
    pub fn decide(&mut self, decision: &ApprovalDecision, now: Timestamp) -> DomainResult<()> {
        required("approver", &decision.approver)?;
        bounded_text("comment", decision.comment.as_deref())?;
        match self.effective_status(now) {
            ApprovalStatus::Pending => {}
            ApprovalStatus::Expired => return Err(DomainError::ApprovalExpired(self.id.clone())),
            status => {
                return Err(DomainError::ApprovalDecided {
                    id: self.id.clone(),
                    status: status.as_str(),
                });
            }
        }
        if self.is_requester(&decision.approver) {
            return Err(DomainError::SelfApproval(decision.approver.clone()));
        }
        self.status = if decision.approve {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Denied
        };
        self.decided_by = Some(decision.approver.clone());
        self.decided_at = Some(now);
        self.comment = decision.comment.clone().filter(|text| !text.is_empty());
        Ok(())
    }

    /// Marks an approval found past its expiry as expired; returns whether it changed.
    pub fn expire(&mut self, now: Timestamp) -> bool {
        if self.is_expired_at(now) {
            self.status = ApprovalStatus::Expired;
            true
        } else {
            false
        }
    }

    /// Spends the approval on the request `binding` describes. Refused unless it is
    /// approved, unexpired, unused and bound to exactly that request.
    pub fn consume(&mut self, binding: &ApprovalBinding, now: Timestamp) -> DomainResult<()> {
        let id = self.id.clone();
        match self.effective_status(now) {
            ApprovalStatus::Approved => {}
            ApprovalStatus::Pending => return Err(DomainError::ApprovalPending(id)),
            ApprovalStatus::Denied => return Err(DomainError::ApprovalDenied(id)),
            ApprovalStatus::Used => return Err(DomainError::ApprovalUsed(id)),
            ApprovalStatus::Expired => return Err(DomainError::ApprovalExpired(id)),
        }
        if let Some(field) = self.binding.first_difference(binding) {
            return Err(DomainError::ApprovalMismatch { id, field });
        }
        self.status = ApprovalStatus::Used;
        self.used_at = Some(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A named change to one field of a binding.
    type BindingChange = (&'static str, fn(&mut ApprovalBinding));

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_millis(secs * 1000)
    }

    fn binding() -> ApprovalBinding {
        ApprovalBinding {
            agent_id: "0190a0a0-0000-7000-8000-000000000001".into(),
            upstream: "crm".into(),
            method: "POST".into(),
            path: "/tickets/42/refund".into(),
            body_digest: "digest-1".into(),
            task_id: Some("task-7".into()),
        }
    }

    fn held() -> Approval {
        let new = NewApproval {
            binding: binding(),
            agent_name: "support-bot".into(),
            owner_email: "alice@example.com".into(),
            on_behalf_of: Some("carol@example.com".into()),
            action: "tickets.refund".into(),
            resource: "Ticket::\"42\"".into(),
            reason: Some("customer asked".into()),
            policy_ids: vec!["refunds".into()],
            token_jti: Some("jti-1".into()),
            expires_at: at(100),
            max_pending_for_agent: 20,
        };
        Approval::create(new, "approval-1".into(), at(0)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn decision(approve: bool, approver: &str) -> ApprovalDecision {
        ApprovalDecision {
            approve,
            approver: approver.into(),
            comment: Some("fine".into()),
        }
    }

    #[test]
    fn an_approved_approval_lets_its_request_through_once() {
        let mut approval = held();
        assert_eq!(approval.status, ApprovalStatus::Pending);
        approval
            .decide(&decision(true, "alice@example.com"), at(10))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(approval.decided_by.as_deref(), Some("alice@example.com"));
        approval
            .consume(&binding(), at(20))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(approval.status, ApprovalStatus::Used);
        assert_eq!(approval.used_at, Some(at(20)));
        assert_eq!(
            approval.consume(&binding(), at(21)),
            Err(DomainError::ApprovalUsed("approval-1".into()))
        );
    }

    #[test]
    fn only_a_pending_unexpired_approval_can_be_decided() {
        let mut approval = held();
        approval
            .decide(&decision(false, "alice@example.com"), at(10))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(approval.status, ApprovalStatus::Denied);
        assert!(matches!(
            approval.decide(&decision(true, "alice@example.com"), at(11)),
            Err(DomainError::ApprovalDecided {
                status: "denied",
                ..
            })
        ));

        let mut late = held();
        assert_eq!(late.effective_status(at(100)), ApprovalStatus::Expired);
        assert_eq!(
            late.decide(&decision(true, "alice@example.com"), at(100)),
            Err(DomainError::ApprovalExpired("approval-1".into()))
        );
        assert!(late.expire(at(100)));
        assert_eq!(late.status, ApprovalStatus::Expired);
    }

    #[test]
    fn the_requester_cannot_approve_their_own_request() {
        for approver in [
            "support-bot",
            "SUPPORT-BOT",
            "0190a0a0-0000-7000-8000-000000000001",
            "Carol@Example.com",
        ] {
            let mut approval = held();
            assert_eq!(
                approval.decide(&decision(true, approver), at(1)),
                Err(DomainError::SelfApproval(approver.into())),
                "{approver}"
            );
            assert_eq!(approval.status, ApprovalStatus::Pending);
        }
    }

    #[test]
    fn consumption_needs_the_exact_request() {
        let mut approval = held();
        approval
            .decide(&decision(true, "alice@example.com"), at(1))
            .unwrap_or_else(|e| panic!("{e}"));
        let variants: [BindingChange; 6] = [
            ("agent", |b| b.agent_id = "other".into()),
            ("upstream", |b| b.upstream = "billing".into()),
            ("method", |b| b.method = "PUT".into()),
            ("path", |b| b.path = "/tickets/43/refund".into()),
            ("query, content type or body", |b| {
                b.body_digest = "digest-2".into();
            }),
            ("task", |b| b.task_id = None),
        ];
        for (field, change) in variants {
            let mut other = binding();
            change(&mut other);
            let refused = approval.consume(&other, at(2));
            assert_eq!(
                refused,
                Err(DomainError::ApprovalMismatch {
                    id: "approval-1".into(),
                    field
                })
            );
            let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(!message.contains("digest-"), "{message}");
        }
        assert_eq!(approval.status, ApprovalStatus::Approved);
    }

    #[test]
    fn pending_denied_and_expired_approvals_are_not_spent() {
        let mut pending = held();
        assert_eq!(
            pending.consume(&binding(), at(1)),
            Err(DomainError::ApprovalPending("approval-1".into()))
        );
        let mut denied = held();
        denied
            .decide(&decision(false, "alice@example.com"), at(1))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            denied.consume(&binding(), at(2)),
            Err(DomainError::ApprovalDenied("approval-1".into()))
        );
        let mut approved = held();
        approved
            .decide(&decision(true, "alice@example.com"), at(1))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            approved.consume(&binding(), at(100)),
            Err(DomainError::ApprovalExpired("approval-1".into()))
        );
        assert_eq!(
            approved.clone().as_seen_at(at(100)).status,
            ApprovalStatus::Expired
        );
    }

    #[test]
    fn held_requests_are_validated() {
        let mut new = NewApproval {
            binding: binding(),
            agent_name: "support-bot".into(),
            owner_email: "alice@example.com".into(),
            on_behalf_of: None,
            action: "tickets.refund".into(),
            resource: "Ticket::\"42\"".into(),
            reason: None,
            policy_ids: vec![],
            token_jti: None,
            expires_at: at(0),
            max_pending_for_agent: 20,
        };
        assert!(matches!(
            new.validate(at(0)),
            Err(DomainError::InvalidField {
                field: "expires_at",
                ..
            })
        ));
        new.expires_at = at(10);
        new.binding.method = "post".into();
        assert!(matches!(
            new.validate(at(0)),
            Err(DomainError::InvalidField {
                field: "method",
                ..
            })
        ));
        new.binding.method = "POST".into();
        new.binding.path = "/x?y=1".into();
        assert!(matches!(
            new.validate(at(0)),
            Err(DomainError::InvalidField { field: "path", .. })
        ));
    }

    #[test]
    fn an_agent_with_its_pending_cap_reached_is_refused_another_approval() {
        let new = NewApproval {
            binding: binding(),
            agent_name: "support-bot".into(),
            owner_email: "alice@example.com".into(),
            on_behalf_of: None,
            action: "tickets.refund".into(),
            resource: "Ticket::\"42\"".into(),
            reason: None,
            policy_ids: vec![],
            token_jti: None,
            expires_at: at(10),
            max_pending_for_agent: 2,
        };
        assert_eq!(new.check_pending_cap(1), Ok(()));
        assert_eq!(
            new.check_pending_cap(2),
            Err(DomainError::TooManyPendingApprovals {
                agent: "support-bot".into(),
                limit: 2
            })
        );
    }

    #[test]
    fn statuses_round_trip_as_text() {
        for status in ApprovalStatus::ALL {
            assert_eq!(status.as_str().parse::<ApprovalStatus>(), Ok(*status));
        }
        assert!("granted".parse::<ApprovalStatus>().is_err());
    }
}
