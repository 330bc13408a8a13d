//! Held requests: a `permit` annotated `@approval` lets a request through only once a
//! human has approved that exact request.
//!
//! The first time, the gateway records a pending approval bound to the request (agent,
//! upstream, method, path, a keyed digest of query, content type and body, task), with the
//! request itself as the approver will see it sealed beside it (see `held_view`), and answers 403
//! `approval_required` with the approval's id and URL, or, when the agent sent
//! `Prefer: wait=N`, waits up to N seconds for the decision. The agent retries with
//! `Warden-Approval: ID`; the store spends the approval (once, and only on the request it
//! was granted for) and the request goes on as approved. A kill or revocation ends a wait.
//! An agent with `max_pending_approvals_per_agent` approvals already pending is refused
//! (429) instead of being given another, so it cannot flood the approvers.

use std::time::{Duration, Instant};

use http::HeaderMap;
use warden_audit::{Actor, NewEvent};
use warden_core::{ApprovalBinding, ApprovalStatus, DomainError, NewApproval, Timestamp};
use warden_gateway::{Refusal, RefusalCode};
use warden_store::StoreError;

use super::Gateway;
use super::body::KillWatch;
use super::decide::{Ask, Caller, Verdict};
use super::held_view::{self, RawRequest};
use super::pipeline::Refused;

/// The header a retried request names its approval in.
pub const APPROVAL_HEADER: &str = "warden-approval";
/// How often a waiting request looks at the store anyway, for decisions made on other
/// nodes (decisions on this node wake it at once).
const POLL: Duration = Duration::from_millis(500);

/// A held request that a human approved; it may go on.
#[derive(Debug, Clone)]
pub struct Approved {
    pub approval_id: String,
    pub approved_by: Option<String>,
}

/// Everything about the held request that an approval is made of.
pub struct Held<'a> {
    pub caller: &'a Caller,
    pub upstream: &'a str,
    pub binding: ApprovalBinding,
    pub verdict: &'a Verdict,
    pub asks: &'a [Ask],
    pub reason: Option<&'a str>,
    pub token_jti: &'a str,
    /// The decision record to write (as a hold) when a new approval is requested.
    pub hold_event: NewEvent,
    /// The request as sent, for the approver to see.
    pub request: HeldRaw<'a>,
}

/// The parts of a held request an approver is shown, as they came in.
pub struct HeldRaw<'a> {
    pub query: Option<&'a str>,
    pub content_type: Option<String>,
    pub body: &'a [u8],
    /// The agent's bearer token, redacted wherever the agent put it.
    pub agent_token: &'a str,
    /// The upstream's sealed secret, redacted too if the agent somehow sent it.
    pub upstream_secret: Option<&'a warden_store::SealedSecret>,
    pub upstream_id: String,
}

/// The request's `Content-Type` exactly as sent (several values joined by `, `), which an
/// approval is bound to as well.
pub fn content_type(headers: &HeaderMap) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(http::header::CONTENT_TYPE)
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// `Prefer: wait=N` (RFC 7240), if present and well formed.
pub fn preferred_wait(headers: &HeaderMap) -> Option<u64> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split([',', ';']))
        .find_map(|preference| {
            let (name, value) = preference.trim().split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("wait")
                .then(|| value.trim().trim_matches('"').parse().ok())
                .flatten()
        })
}

fn store_failure(error: &StoreError) -> Refused {
    tracing::error!(%error, "the approval store failed; refusing");
    Refused::from(
        Refusal::new(
            RefusalCode::Unavailable,
            "approvals cannot be read or written, so the request is refused",
        )
        .with_rule("fail_closed"),
    )
}

impl Gateway {
    fn approval_url(&self, id: &str) -> String {
        format!(
            "{}/v1/approvals/{id}",
            self.deps.credentials.settings.tokens.issuer
        )
    }

    fn approval_required(&self, id: &str, verdict: &Verdict, message: &str) -> Refused {
        Refused::from(Refusal {
            policy_ids: verdict.policy_ids.clone(),
            ..Refusal::new(RefusalCode::ApprovalRequired, message)
                .with_rule("approval_required")
                .with_approval_id(id)
                .with_approval_url(self.approval_url(id))
        })
    }

    /// Resolves a held request: spends the approval it carries, or asks for one (and
    /// waits, if the agent prefers). `Ok` means a human approved exactly this request.
    pub async fn resolve_hold(
        &self,
        held: Held<'_>,
        headers: &HeaderMap,
        kill: &mut KillWatch,
        now: Timestamp,
    ) -> Result<Approved, Refused> {
        let wait = preferred_wait(headers).map(|secs| secs.min(self.settings.max_wait_secs));
        let presented = headers
            .get(APPROVAL_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_string);
        let id = match presented {
            Some(id) => id,
            None => self.request_approval(&held, now).await?,
        };
        match self.spend(&id, &held, now).await {
            Err(Spend::Pending) => {}
            other => return other.map_err(|spend| self.refuse_spend(spend, &id, held.verdict)),
        }
        let Some(wait) = wait.filter(|secs| *secs > 0) else {
            return Err(self.approval_required(
                &id,
                held.verdict,
                "this request needs a human's approval; retry it with the header Warden-Approval: ID once approved",
            ));
        };
        self.wait_for_decision(&id, &held, Duration::from_secs(wait), kill)
            .await?;
        self.spend(&id, &held, self.deps.clock.now())
            .await
            .map_err(|spend| self.refuse_spend(spend, &id, held.verdict))
    }

    /// Records a pending approval and the hold decision; returns the approval's id.
    async fn request_approval(&self, held: &Held<'_>, now: Timestamp) -> Result<String, Refused> {
        let resource = match held.asks {
            [one] => one.resource_text(),
            many => many
                .iter()
                .map(Ask::resource_text)
                .collect::<Vec<_>>()
                .join(", "),
        };
        let action = match held.asks {
            [one] => one.action.clone(),
            many => many
                .iter()
                .map(|ask| ask.action.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        };
        let ttl_millis = self.settings.approval_ttl_secs.saturating_mul(1000);
        let id = uuid::Uuid::now_v7().to_string();
        let sealed = self.seal_request(&id, held)?;
        let new = NewApproval {
            binding: held.binding.clone(),
            agent_name: held.caller.agent_name.clone(),
            owner_email: held.caller.owner_email.clone(),
            on_behalf_of: held.caller.on_behalf_of.clone(),
            action,
            resource,
            reason: held.reason.map(str::to_string),
            policy_ids: held.verdict.policy_ids.clone(),
            token_jti: Some(held.token_jti.to_string()),
            expires_at: Timestamp::from_millis(now.as_millis().saturating_add(ttl_millis)),
            max_pending_for_agent: self.settings.max_pending_approvals_per_agent,
        };
        let actor = Actor::agent(held.caller.agent_id.clone(), held.caller.agent_name.clone());
        let approval = match self
            .deps
            .store
            .create_approval(&actor, new, Some(sealed), now)
            .await
        {
            Ok(approval) => approval,
            Err(StoreError::Domain(error @ DomainError::TooManyPendingApprovals { .. })) => {
                // A flood is worth seeing in the audit trail: recorded as a denial.
                let refused = held
                    .hold_event
                    .clone()
                    .decision(
                        warden_audit::Decision::Deny,
                        held.verdict.policy_ids.iter().cloned(),
                    )
                    .detail("rule", "approval_cap");
                self.deps
                    .store
                    .record(refused, now)
                    .await
                    .map_err(|error| store_failure(&error))?;
                return Err(Refused::from(Refusal {
                    policy_ids: held.verdict.policy_ids.clone(),
                    ..Refusal::new(RefusalCode::TooManyPendingApprovals, error.to_string())
                        .with_rule("approval_cap")
                }));
            }
            Err(error) => return Err(store_failure(&error)),
        };
        let event = held.hold_event.clone().approval(approval.id.clone());
        self.deps
            .store
            .record(event, now)
            .await
            .map_err(|error| store_failure(&error))?;
        metrics::counter!("warden_gateway_decisions_total", "upstream" => held.upstream.to_string(), "decision" => "hold")
            .increment(1);
        Ok(approval.id)
    }

    /// The held request as an approver will see it, sealed under the data key and bound
    /// to approval `id`. Failing to seal fails closed: no approval without its request.
    fn seal_request(
        &self,
        id: &str,
        held: &Held<'_>,
    ) -> Result<warden_store::SealedRequest, Refused> {
        let raw = &held.request;
        let upstream_secret = raw.upstream_secret.and_then(|sealed| {
            let version = u64::try_from(sealed.version).ok()?;
            let associated = warden_crypto::seal::associated_data(&raw.upstream_id, version);
            warden_crypto::seal::open(&self.deps.data_key, &sealed.bytes, &associated).ok()
        });
        let upstream_secret = upstream_secret
            .as_deref()
            .and_then(|bytes| std::str::from_utf8(bytes).ok());
        let mut hidden = vec![raw.agent_token];
        hidden.extend(upstream_secret);
        let prefix = format!("{}/", held.upstream);
        let tool_calls = held
            .asks
            .iter()
            .filter(|ask| ask.action == warden_policy::mcp::CALL_TOOL)
            .filter_map(|ask| {
                let arguments = ask.arguments.clone()?;
                let name = ask.resource_id.strip_prefix(&prefix)?.to_string();
                Some((name, serde_json::Value::Object(arguments)))
            })
            .collect();
        let view = held_view::held_request(
            RawRequest {
                method: &held.binding.method,
                path: &held.binding.path,
                query: raw.query,
                content_type: raw.content_type.as_deref(),
                body: raw.body,
                tool_calls,
            },
            &hidden,
        );
        let failed = |what: &str| {
            tracing::error!(what, "cannot seal a held request; refusing");
            Refused::from(
                Refusal::new(
                    RefusalCode::Unavailable,
                    "the held request cannot be kept for its approver, so it is refused",
                )
                .with_rule("fail_closed"),
            )
        };
        let plain =
            zeroize::Zeroizing::new(serde_json::to_vec(&view).map_err(|_| failed("serialize"))?);
        let bytes =
            warden_crypto::seal::seal(&self.deps.data_key, &plain, &held_view::associated_data(id))
                .map_err(|_| failed("seal"))?;
        Ok(warden_store::SealedRequest {
            approval_id: id.to_string(),
            bytes,
        })
    }

    async fn spend(&self, id: &str, held: &Held<'_>, now: Timestamp) -> Result<Approved, Spend> {
        match self
            .deps
            .store
            .consume_approval(id, &held.binding, now)
            .await
        {
            Ok(approval) => Ok(Approved {
                approval_id: approval.id,
                approved_by: approval.decided_by,
            }),
            Err(StoreError::Domain(DomainError::ApprovalPending(_))) => Err(Spend::Pending),
            Err(StoreError::Domain(DomainError::ApprovalDenied(_))) => Err(Spend::Denied),
            Err(StoreError::Domain(error)) => Err(Spend::Invalid(error.code(), error.to_string())),
            Err(error) => Err(Spend::Failed(store_failure(&error))),
        }
    }

    fn refuse_spend(&self, spend: Spend, id: &str, verdict: &Verdict) -> Refused {
        match spend {
            Spend::Pending => self.approval_required(
                id,
                verdict,
                "the approval is still pending; retry once a human has approved it",
            ),
            Spend::Denied => Refused::from(
                Refusal::new(RefusalCode::ApprovalDenied, "a human denied this request")
                    .with_rule("approval_denied")
                    .with_approval_id(id),
            ),
            Spend::Invalid(rule, message) => Refused::from(
                Refusal::new(RefusalCode::ApprovalInvalid, message)
                    .with_rule(rule)
                    .with_approval_id(id),
            ),
            Spend::Failed(refused) => refused,
        }
    }

    /// Waits until the approval is decided, the wait is over, or the agent is stopped.
    async fn wait_for_decision(
        &self,
        id: &str,
        held: &Held<'_>,
        wait: Duration,
        kill: &mut KillWatch,
    ) -> Result<(), Refused> {
        let deadline = Instant::now() + wait;
        loop {
            // Registered before looking, so a decision made in between still wakes us.
            let changed = self.deps.approvals_changed.notified();
            let approval = self
                .deps
                .store
                .get_approval(id, self.deps.clock.now())
                .await
                .map_err(|error| store_failure(&error))?;
            match approval.status {
                ApprovalStatus::Pending => {}
                ApprovalStatus::Approved
                | ApprovalStatus::Denied
                | ApprovalStatus::Used
                | ApprovalStatus::Expired => {
                    return Ok(());
                }
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(self.approval_required(
                    id,
                    held.verdict,
                    "no human decided within the wait; retry with the header Warden-Approval: ID once approved",
                ));
            }
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep(POLL.min(remaining)) => {}
                () = kill.revoked() => {
                    return Err(Refused::from(
                        Refusal::new(RefusalCode::Revoked, "the agent's access was revoked while it waited for approval")
                            .with_rule("authentication"),
                    ));
                }
            }
        }
    }
}

/// Why an approval could not be spent.
enum Spend {
    Pending,
    Denied,
    /// The store's code (`approval_used`, `approval_mismatch`, …) and message.
    Invalid(&'static str, String),
    Failed(Refused),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefer_wait_is_read_among_other_preferences() {
        let mut headers = HeaderMap::new();
        assert_eq!(preferred_wait(&headers), None);
        headers.insert(
            "prefer",
            "respond-async, wait=10"
                .parse()
                .unwrap_or_else(|e| panic!("{e}")),
        );
        assert_eq!(preferred_wait(&headers), Some(10));
        headers.insert(
            "prefer",
            "WAIT = 3".parse().unwrap_or_else(|e| panic!("{e}")),
        );
        assert_eq!(preferred_wait(&headers), Some(3));
        headers.insert(
            "prefer",
            "wait=soon".parse().unwrap_or_else(|e| panic!("{e}")),
        );
        assert_eq!(preferred_wait(&headers), None);
    }
}
