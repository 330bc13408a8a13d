//! `warden policy …`: add, inspect and remove Cedar policies, print the generated schema,
//! and dry-run a decision.

use serde_json::{Value, json};

use crate::cli::{OutputFormat, PolicyCommand};
use crate::client::{Client, Failure, segment};
use crate::output;

const COLUMNS: &[&str] = &["id", "version", "updated_at"];

pub async fn run(
    client: &Client,
    format: OutputFormat,
    command: PolicyCommand,
) -> Result<(), Failure> {
    match command {
        PolicyCommand::Add { file, id, replace } => {
            let text = std::fs::read_to_string(&file).map_err(|error| {
                Failure::refused(format!("cannot read {}: {error}", file.display()))
            })?;
            let id = match id {
                Some(id) => id,
                None => file
                    .file_stem()
                    .and_then(|stem| stem.to_str())
                    .map(str::to_string)
                    .ok_or_else(|| {
                        Failure::refused("cannot derive a policy id from the file name; pass --id")
                    })?,
            };
            let stored = client
                .post(
                    "/v1/policies",
                    Some(json!({ "id": id, "text": text, "replace": replace })),
                )
                .await?;
            match format {
                OutputFormat::Json => output::json(&stored),
                OutputFormat::Table => output::line(&format!(
                    "policy {} stored (policy set version {})",
                    output::cell(stored.get("id")),
                    output::cell(stored.get("version"))
                )),
            }
        }
        PolicyCommand::List => {
            let all = client.get("/v1/policies", &[]).await?;
            match format {
                OutputFormat::Json => output::json(&all),
                OutputFormat::Table => {
                    output::rows(all.as_array().map_or(&[][..], Vec::as_slice), COLUMNS)
                }
            }
        }
        PolicyCommand::Show { id } => {
            let policy = client
                .get(&format!("/v1/policies/{}", segment(&id)), &[])
                .await?;
            match format {
                OutputFormat::Json => output::json(&policy),
                OutputFormat::Table => output::line(
                    policy
                        .get("text")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                ),
            }
        }
        PolicyCommand::Remove { id } => {
            let removed = client
                .delete(&format!("/v1/policies/{}", segment(&id)))
                .await?;
            match format {
                OutputFormat::Json => output::json(&removed),
                OutputFormat::Table => output::line(&format!("removed policy {id}")),
            }
        }
        PolicyCommand::Schema => {
            let schema = client.get_bytes("/v1/policies/schema", &[]).await?;
            output::line(String::from_utf8_lossy(&schema).trim_end());
        }
        PolicyCommand::Test {
            agent,
            kind,
            scopes,
            upstream,
            method,
            path,
            tool,
            action,
            resource,
            user,
            reason,
            task,
            task_actions,
            task_labels,
            task_tools,
            environment,
            approved,
        } => {
            let mut body = json!({
                "agent": agent,
                "upstream": upstream,
                "approved": approved,
                "scopes": scopes,
                "task_actions": task_actions,
                "task_labels": task_labels,
                "task_tools": task_tools,
            });
            let optional = [
                ("kind", kind),
                ("method", method),
                ("path", path),
                ("tool", tool),
                ("action", action),
                ("resource", resource),
                ("user", user),
                ("reason", reason),
                ("task", task),
                ("environment", environment),
            ];
            for (key, value) in optional {
                if let Some(value) = value {
                    body[key] = Value::String(value);
                }
            }
            let verdict = client.post("/v1/policies/test", Some(body)).await?;
            match format {
                OutputFormat::Json => output::json(&verdict),
                OutputFormat::Table => {
                    let policies: Vec<String> = verdict["policies"]
                        .as_array()
                        .map(|ids| {
                            ids.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default();
                    output::line(&format!(
                        "{} ({}) for {} on {}{}",
                        output::cell(verdict.get("decision")),
                        output::cell(verdict.get("reason")),
                        output::cell(verdict.get("action")),
                        output::cell(verdict.get("resource")),
                        if policies.is_empty() {
                            String::new()
                        } else {
                            format!("; decided by {}", policies.join(", "))
                        }
                    ));
                }
            }
        }
    }
    Ok(())
}
