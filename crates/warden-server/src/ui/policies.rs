//! `/ui/policies`: the stored Cedar policies with their text, read through `GET
//! /v1/policies`'s handler, and the `policy test` form: a hypothetical request decided by
//! the handler of `POST /v1/policies/test` (the code `warden policy test` reaches), which
//! answers allow, deny or hold with the reason and the policies that decided, and changes
//! nothing. A request the handler cannot decide (an unknown agent or upstream, a path no
//! route matches) is shown on the page with the handler's message, the form kept as sent.

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use warden_core::{DomainError, Environment, IdentityKind};

use super::guard::{CheckedForm, SignedIn};
use super::view::when;
use super::{Chrome, render};
use crate::api::policies::{self, PolicyTest, PolicyVerdict};
use crate::api::upstreams;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "ui/policies.html")]
struct PoliciesPage {
    chrome: Chrome,
    policies: Vec<PolicyRow>,
    upstreams: Vec<Choice>,
    kinds: Vec<Choice>,
    environments: Vec<Choice>,
    form: TestForm,
    verdict: Option<Verdict>,
    problem: Option<String>,
}

struct PolicyRow {
    id: String,
    version: i64,
    updated: String,
    text: String,
}

struct Choice {
    value: String,
    selected: bool,
}

/// The decision as a reader takes it in.
#[derive(Debug, PartialEq, Eq)]
struct Verdict {
    decision: String,
    reason: String,
    policies: String,
    action: String,
    resource: String,
    errors: Vec<String>,
}

impl From<PolicyVerdict> for Verdict {
    fn from(verdict: PolicyVerdict) -> Self {
        Self {
            decision: verdict.decision,
            reason: verdict.reason,
            policies: if verdict.policies.is_empty() {
                "none".into()
            } else {
                verdict.policies.join(", ")
            },
            action: verdict.action,
            resource: verdict.resource,
            errors: verdict.errors,
        }
    }
}

/// The test form as sent: every field text, an empty one meaning "not given".
#[derive(Debug, Default, Deserialize)]
pub struct TestForm {
    #[serde(default)]
    agent: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    upstream: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    tool: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    resource: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    task: String,
    #[serde(default)]
    task_actions: String,
    #[serde(default)]
    task_labels: String,
    #[serde(default)]
    task_tools: String,
    #[serde(default)]
    scopes: String,
    #[serde(default)]
    environment: String,
    #[serde(default)]
    arguments: String,
    #[serde(default)]
    approved: Option<String>,
}

fn given(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// A list field: items separated by commas or white space.
fn items(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

/// The API's request for the form, or what is wrong with the form.
fn policy_test(form: &TestForm) -> Result<PolicyTest, ApiError> {
    let agent = given(&form.agent).ok_or_else(|| {
        DomainError::invalid("agent", "name the identity whose request is to be decided")
    })?;
    let upstream = given(&form.upstream).ok_or_else(|| {
        DomainError::invalid("upstream", "choose the upstream the request is for")
    })?;
    let kind = given(&form.kind)
        .map(|kind| kind.parse::<IdentityKind>())
        .transpose()?;
    let arguments = given(&form.arguments)
        .map(|text| {
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&text).map_err(
                |error| {
                    DomainError::invalid(
                        "arguments",
                        format!(
                            "give the tool's arguments as a JSON object, e.g. {{\"to\": \"a@example.com\"}} ({error})"
                        ),
                    )
                },
            )
        })
        .transpose()?;
    Ok(PolicyTest {
        agent,
        kind,
        scopes: items(&form.scopes),
        upstream,
        method: given(&form.method),
        path: given(&form.path),
        tool: given(&form.tool),
        action: given(&form.action),
        resource: given(&form.resource),
        user: given(&form.user),
        reason: given(&form.reason),
        task: given(&form.task),
        task_actions: items(&form.task_actions),
        task_labels: items(&form.task_labels),
        task_tools: items(&form.task_tools),
        environment: given(&form.environment),
        arguments,
        approved: form.approved.is_some(),
    })
}

async fn show(
    state: &AppState,
    signed_in: &SignedIn,
    form: TestForm,
    verdict: Option<Verdict>,
    problem: Option<String>,
) -> Result<Response, ApiError> {
    let Json(stored) = policies::list_policies(State(state.clone())).await?;
    let Json(known) = upstreams::list_upstreams(State(state.clone())).await?;
    let chosen_upstream = form.upstream.trim().to_string();
    let chosen_kind = form.kind.trim().to_string();
    let chosen_environment = form.environment.trim().to_string();
    render(&PoliciesPage {
        chrome: Chrome::new(signed_in, "policies"),
        policies: stored
            .into_iter()
            .map(|policy| PolicyRow {
                id: policy.id,
                version: policy.version,
                updated: when(policy.updated_at),
                text: policy.text,
            })
            .collect(),
        upstreams: known
            .iter()
            .map(|upstream| Choice {
                selected: upstream.name == chosen_upstream,
                value: upstream.name.clone(),
            })
            .collect(),
        kinds: IdentityKind::ALL
            .iter()
            .map(|kind| Choice {
                value: kind.as_str().to_string(),
                selected: kind.as_str() == chosen_kind,
            })
            .collect(),
        environments: Environment::ALL
            .iter()
            .map(|environment| Choice {
                value: environment.as_str().to_string(),
                selected: environment.as_str() == chosen_environment,
            })
            .collect(),
        form,
        verdict,
        problem,
    })
}

/// `GET /ui/policies`.
pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Response, ApiError> {
    show(&state, &signed_in, TestForm::default(), None, None).await
}

/// `POST /ui/policies/test`: decides the request the form describes and shows the decision
/// under the form. It changes nothing, so it is answered with the page itself, not a
/// redirect; it is still a POST with the session's CSRF token, as every form here is.
pub async fn test(
    State(state): State<AppState>,
    CheckedForm { signed_in, form }: CheckedForm<TestForm>,
) -> Result<Response, ApiError> {
    let decided = match policy_test(&form) {
        Ok(request) => policies::test_policy(State(state.clone()), ApiJson(request))
            .await
            .map(|Json(verdict)| verdict),
        Err(error) => Err(error),
    };
    match decided {
        Ok(verdict) => show(&state, &signed_in, form, Some(verdict.into()), None).await,
        Err(error) => {
            let message = error.to_string();
            let refused = error.into_response();
            let status = refused.status();
            if !status.is_client_error() {
                // A fault, not bad input: the error page says so (`super::as_error_page`).
                return Ok(refused);
            }
            let mut page = show(&state, &signed_in, form, None, Some(message)).await?;
            // The page carries the status the API would have answered.
            *page.status_mut() = status;
            Ok(page)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(fields: &[(&str, &str)]) -> TestForm {
        let encoded = serde_urlencoded::to_string(fields).unwrap_or_default();
        serde_urlencoded::from_str(&encoded).unwrap_or_default()
    }

    #[test]
    fn empty_fields_are_not_given_and_lists_split_on_commas_and_spaces() {
        let request = policy_test(&form(&[
            ("csrf", "ignored"),
            ("agent", " support-bot "),
            ("upstream", "crm"),
            ("method", "POST"),
            ("path", "/tickets/42/refund"),
            ("tool", ""),
            ("action", "  "),
            ("scopes", "crm.read, crm.write  tickets"),
            ("task", "t-1"),
            ("task_labels", "pii,external"),
            ("approved", "on"),
        ]));
        let request = request.unwrap_or_else(|error| panic!("the form was refused: {error}"));
        assert_eq!(request.agent, "support-bot");
        assert_eq!(request.kind, None);
        assert_eq!(request.method.as_deref(), Some("POST"));
        assert_eq!(request.tool, None);
        assert_eq!(request.action, None);
        assert_eq!(request.scopes, ["crm.read", "crm.write", "tickets"]);
        assert_eq!(request.task_labels, ["pii", "external"]);
        assert!(request.task_actions.is_empty());
        assert!(request.approved);
        let unapproved = policy_test(&form(&[("agent", "a"), ("upstream", "crm")]));
        assert!(unapproved.is_ok_and(|request| !request.approved));
    }

    #[test]
    fn a_form_without_agent_or_upstream_or_with_a_bad_kind_or_arguments_is_refused_by_name() {
        for (fields, named) in [
            (vec![("upstream", "crm")], "agent"),
            (vec![("agent", "a")], "upstream"),
            (
                vec![("agent", "a"), ("upstream", "crm"), ("kind", "robot")],
                "`robot` is not one of",
            ),
            (
                vec![("agent", "a"), ("upstream", "crm"), ("arguments", "[1, 2]")],
                "JSON object",
            ),
        ] {
            let refused = policy_test(&form(&fields)).err().map(|e| e.to_string());
            assert!(
                refused.as_deref().is_some_and(|m| m.contains(named)),
                "{fields:?}: {refused:?}"
            );
        }
        let arguments = policy_test(&form(&[
            ("agent", "a"),
            ("upstream", "mail"),
            ("tool", "send"),
            ("arguments", r#"{"to": "x@example.com"}"#),
            ("kind", "service_account"),
        ]));
        let arguments = arguments.unwrap_or_else(|error| panic!("refused: {error}"));
        assert_eq!(arguments.kind, Some(IdentityKind::ServiceAccount));
        assert_eq!(
            arguments.arguments.and_then(|map| map.get("to").cloned()),
            Some(serde_json::json!("x@example.com"))
        );
    }

    #[test]
    fn a_verdict_names_the_deciding_policies_or_none() {
        let verdict = Verdict::from(PolicyVerdict {
            decision: "hold".into(),
            reason: "approval_required".into(),
            policies: vec!["policy1".into(), "policy2".into()],
            action: "tickets.refund".into(),
            resource: "Ticket::\"42\"".into(),
            errors: vec![],
        });
        assert_eq!(verdict.policies, "policy1, policy2");
        let denied = Verdict::from(PolicyVerdict {
            decision: "deny".into(),
            reason: "no_permit".into(),
            policies: vec![],
            action: "tickets.read".into(),
            resource: "Ticket::\"1\"".into(),
            errors: vec![],
        });
        assert_eq!(denied.policies, "none");
    }
}
