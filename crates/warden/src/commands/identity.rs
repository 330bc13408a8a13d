//! `warden agent …` and `warden identity …`: the same operations, the first fixed to kind
//! `agent` and naming agents by name, the second for every kind, naming identities by id or
//! `KIND:NAME`.

use serde_json::{Map, Value, json};

use crate::cli::{
    AgentCommand, CreateArgs, IdentityCommand, ListArgs, OutputFormat, PageArgs, UpdateArgs,
};
use crate::client::{Client, Failure, segment};
use crate::output;

pub const IDENTITY_FIELDS: &[&str] = &[
    "kind",
    "name",
    "id",
    "owner",
    "status",
    "suspension_reason",
    "environment",
    "purpose",
    "labels",
    "parent_id",
    "source",
    "source_detail",
    "created_at",
    "expires_at",
    "last_used_at",
];
const IDENTITY_COLUMNS: &[&str] = &[
    "kind",
    "name",
    "owner",
    "status",
    "environment",
    "labels",
    "created_at",
];

pub async fn run_agent(
    client: &Client,
    format: OutputFormat,
    command: AgentCommand,
) -> Result<(), Failure> {
    let agent = |name: &str| format!("agent:{name}");
    match command {
        AgentCommand::Create {
            name,
            fields,
            scope,
        } => {
            let identity = create_identity(client, "agent", &name, fields, None).await?;
            crate::commands::credential::issue_for_new_agent(client, format, identity, scope).await
        }
        AgentCommand::List { filters } => list(client, format, Some("agent".into()), filters).await,
        AgentCommand::Show { name } => show(client, format, &agent(&name)).await,
        AgentCommand::Update { name, fields } => {
            update(client, format, &agent(&name), fields).await
        }
        AgentCommand::Suspend { name } => {
            transition(client, format, &agent(&name), "suspend", None).await
        }
        AgentCommand::Restore { name } => {
            transition(client, format, &agent(&name), "restore", None).await
        }
        AgentCommand::Revoke { name } => {
            transition(client, format, &agent(&name), "revoke", None).await
        }
        AgentCommand::Reassign { name, owner } => {
            transition(
                client,
                format,
                &agent(&name),
                "reassign",
                Some(json!({ "owner": owner })),
            )
            .await
        }
    }
}

pub async fn run_identity(
    client: &Client,
    format: OutputFormat,
    command: IdentityCommand,
) -> Result<(), Failure> {
    match command {
        IdentityCommand::Create {
            kind,
            name,
            fields,
            imported_from,
        } => create(client, format, &kind, &name, fields, imported_from).await,
        IdentityCommand::List { kind, filters } => list(client, format, kind, filters).await,
        IdentityCommand::Show { identity } => show(client, format, &identity).await,
        IdentityCommand::Update { identity, fields } => {
            update(client, format, &identity, fields).await
        }
        IdentityCommand::Suspend { identity } => {
            transition(client, format, &identity, "suspend", None).await
        }
        IdentityCommand::Restore { identity } => {
            transition(client, format, &identity, "restore", None).await
        }
        IdentityCommand::Revoke { identity } => {
            transition(client, format, &identity, "revoke", None).await
        }
        IdentityCommand::Reassign { identity, owner } => {
            let issued = transition(
                client,
                format,
                &identity,
                "reassign",
                Some(json!({ "owner": owner })),
            )
            .await;
            // An id Warden did not issue may be an imported identity's (an orphan's, say).
            match issued {
                Err(failure)
                    if failure.message.starts_with("unknown_identity") && uuid_like(&identity) =>
                {
                    crate::commands::import::reassign(client, format, &identity, &owner).await
                }
                other => other,
            }
        }
    }
}

fn uuid_like(text: &str) -> bool {
    text.len() == 36 && text.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// `KEY=VALUE` flags as a JSON object, refusing malformed ones before anything is sent.
fn labels(pairs: &[String]) -> Result<Map<String, Value>, Failure> {
    let mut labels = Map::new();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(Failure::refused(format!(
                "--label `{pair}` must be KEY=VALUE, e.g. --label team=support"
            )));
        };
        labels.insert(key.to_string(), Value::String(value.to_string()));
    }
    Ok(labels)
}

pub fn push_page(query: &mut Vec<(String, String)>, page: &PageArgs) {
    if let Some(limit) = page.limit {
        query.push(("limit".into(), limit.to_string()));
    }
    if let Some(cursor) = &page.cursor {
        query.push(("cursor".into(), cursor.clone()));
    }
}

async fn create(
    client: &Client,
    format: OutputFormat,
    kind: &str,
    name: &str,
    fields: CreateArgs,
    imported_from: Option<String>,
) -> Result<(), Failure> {
    let identity = create_identity(client, kind, name, fields, imported_from).await?;
    output::record(format, &identity, IDENTITY_FIELDS);
    Ok(())
}

/// Registers an identity and returns it as the API answered.
async fn create_identity(
    client: &Client,
    kind: &str,
    name: &str,
    fields: CreateArgs,
    imported_from: Option<String>,
) -> Result<Value, Failure> {
    let mut body = json!({ "kind": kind, "name": name, "owner": fields.owner, "labels": labels(&fields.labels)? });
    let optional = [
        ("environment", fields.environment),
        ("purpose", fields.purpose),
        ("parent", fields.parent),
        ("expires_at", fields.expires_at),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            body[key] = Value::String(value);
        }
    }
    if let Some(origin) = imported_from {
        body["source"] = json!("imported");
        body["source_detail"] = Value::String(origin);
    }
    client.post("/v1/identities", Some(body)).await
}

async fn list(
    client: &Client,
    format: OutputFormat,
    kind: Option<String>,
    filters: ListArgs,
) -> Result<(), Failure> {
    let mut query: Vec<(String, String)> = Vec::new();
    let single = [
        ("kind", kind),
        ("owner", filters.owner),
        ("status", filters.status),
        ("environment", filters.environment),
        ("parent", filters.parent),
    ];
    for (key, value) in single {
        if let Some(value) = value {
            query.push((key.into(), value));
        }
    }
    for label in filters.labels {
        query.push(("label".into(), label));
    }
    push_page(&mut query, &filters.page);
    let found = client.get("/v1/identities", &query).await?;
    output::page(format, &found, IDENTITY_COLUMNS);
    Ok(())
}

async fn show(client: &Client, format: OutputFormat, identity: &str) -> Result<(), Failure> {
    let found = client
        .get(&format!("/v1/identities/{}", segment(identity)), &[])
        .await?;
    output::record(format, &found, IDENTITY_FIELDS);
    Ok(())
}

async fn update(
    client: &Client,
    format: OutputFormat,
    identity: &str,
    fields: UpdateArgs,
) -> Result<(), Failure> {
    let mut patch = Map::new();
    if let Some(purpose) = fields.purpose {
        patch.insert("purpose".into(), Value::String(purpose));
    }
    if let Some(environment) = fields.environment {
        patch.insert("environment".into(), Value::String(environment));
    }
    if fields.clear_labels {
        patch.insert("labels".into(), json!({}));
    } else if !fields.labels.is_empty() {
        patch.insert("labels".into(), Value::Object(labels(&fields.labels)?));
    }
    if fields.no_parent {
        patch.insert("parent".into(), Value::Null);
    } else if let Some(parent) = fields.parent {
        patch.insert("parent".into(), Value::String(parent));
    }
    if fields.no_expiry {
        patch.insert("expires_at".into(), Value::Null);
    } else if let Some(expires_at) = fields.expires_at {
        patch.insert("expires_at".into(), Value::String(expires_at));
    }
    if patch.is_empty() {
        return Err(Failure::refused(
            "nothing to change: pass at least one of --purpose, --env, --label, --clear-labels, --parent, --no-parent, --expires-at, --no-expiry",
        ));
    }
    let updated = client
        .patch(
            &format!("/v1/identities/{}", segment(identity)),
            Value::Object(patch),
        )
        .await?;
    output::record(format, &updated, IDENTITY_FIELDS);
    Ok(())
}

async fn transition(
    client: &Client,
    format: OutputFormat,
    identity: &str,
    verb: &str,
    body: Option<Value>,
) -> Result<(), Failure> {
    let changed = client
        .post(
            &format!("/v1/identities/{}/{verb}", segment(identity)),
            body,
        )
        .await?;
    output::record(format, &changed, IDENTITY_FIELDS);
    Ok(())
}
