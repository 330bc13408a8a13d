//! `warden approvals …`: the requests the gateway held for a human, and the decisions on them.

use serde_json::{Map, Value};

use crate::cli::{ApprovalsCommand, DecisionArgs, OutputFormat};
use crate::client::{Client, Failure, segment};
use crate::output;

const FIELDS: &[&str] = &[
    "id",
    "status",
    "agent_name",
    "agent_id",
    "owner_email",
    "on_behalf_of",
    "upstream",
    "method",
    "path",
    "task_id",
    "action",
    "resource",
    "reason",
    "policy_ids",
    "requested_at",
    "expires_at",
    "decided_by",
    "decided_at",
    "comment",
    "used_at",
];
const COLUMNS: &[&str] = &[
    "id",
    "status",
    "agent_name",
    "action",
    "resource",
    "expires_at",
];

/// Prints the held request under the approval's fields: what the agent actually sent,
/// body whole, so the approver decides on that and not on the agent's reason.
fn print_request(approval: &Value) {
    let Some(request) = approval.get("request").filter(|request| !request.is_null()) else {
        output::note("the request is no longer kept: the approval was used, denied or has expired");
        return;
    };
    let text = |field: &str| output::cell(request.get(field));
    output::line("request:");
    output::line(&format!("  method        {}", text("method")));
    output::line(&format!("  path          {}", text("path")));
    output::line(&format!("  query         {}", text("query")));
    output::line(&format!("  content type  {}", text("content_type")));
    let body = request.get("body");
    let field = |name: &str| output::cell(body.and_then(|body| body.get(name)));
    output::line(&format!(
        "  body          {} bytes, {}:",
        field("size"),
        field("encoding")
    ));
    output::line(&field("content"));
    for call in request
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let arguments = call
            .get("arguments")
            .and_then(|arguments| serde_json::to_string_pretty(arguments).ok())
            .unwrap_or_default();
        output::line(&format!(
            "  tool call     {}, arguments:",
            output::cell(call.get("name"))
        ));
        output::line(&arguments);
    }
    if let Some(redacted) = request
        .get("redacted")
        .and_then(Value::as_array)
        .filter(|redacted| !redacted.is_empty())
    {
        let names: Vec<String> = redacted
            .iter()
            .map(|name| output::cell(Some(name)))
            .collect();
        output::line(&format!("  redacted      {}", names.join(", ")));
    }
}

/// The request body of a decision; none at all when neither flag is given, so the server
/// records the admin as the one who decided.
fn decision_body(decision: DecisionArgs) -> Option<Value> {
    let mut body = Map::new();
    if let Some(approver) = decision.approver {
        body.insert("approver".into(), Value::String(approver));
    }
    if let Some(comment) = decision.comment {
        body.insert("comment".into(), Value::String(comment));
    }
    (!body.is_empty()).then_some(Value::Object(body))
}

pub async fn run(
    client: &Client,
    format: OutputFormat,
    command: ApprovalsCommand,
) -> Result<(), Failure> {
    match command {
        ApprovalsCommand::List {
            status,
            agent,
            page,
        } => {
            let mut query = Vec::new();
            if let Some(status) = status {
                query.push(("status".to_string(), status));
            }
            if let Some(agent) = agent {
                query.push(("agent".to_string(), agent));
            }
            super::identity::push_page(&mut query, &page);
            let found = client.get("/v1/approvals", &query).await?;
            output::page(format, &found, COLUMNS);
        }
        ApprovalsCommand::Show { id } => {
            let approval = client
                .get(&format!("/v1/approvals/{}", segment(&id)), &[])
                .await?;
            output::record(format, &approval, FIELDS);
            if format == OutputFormat::Table {
                print_request(&approval);
            }
        }
        ApprovalsCommand::Approve { id, decision } => {
            let approval = client
                .post(
                    &format!("/v1/approvals/{}/approve", segment(&id)),
                    decision_body(decision),
                )
                .await?;
            output::record(format, &approval, FIELDS);
        }
        ApprovalsCommand::Deny { id, decision } => {
            let approval = client
                .post(
                    &format!("/v1/approvals/{}/deny", segment(&id)),
                    decision_body(decision),
                )
                .await?;
            output::record(format, &approval, FIELDS);
        }
    }
    Ok(())
}
