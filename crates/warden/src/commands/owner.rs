//! `warden owner …`: the accountable humans.

use serde_json::json;

use crate::cli::{OutputFormat, OwnerCommand};
use crate::client::{Client, Failure, segment};
use crate::output;

pub const OWNER_FIELDS: &[&str] = &[
    "email",
    "name",
    "status",
    "id",
    "created_at",
    "offboarded_at",
];
const OWNER_COLUMNS: &[&str] = &["email", "name", "status", "created_at"];
const MOVED_COLUMNS: &[&str] = &["kind", "name", "status", "owner"];

pub async fn run(
    client: &Client,
    format: OutputFormat,
    command: OwnerCommand,
) -> Result<(), Failure> {
    match command {
        OwnerCommand::Add { email, name } => {
            let owner = client
                .post("/v1/owners", Some(json!({ "email": email, "name": name })))
                .await?;
            output::record(format, &owner, OWNER_FIELDS);
        }
        OwnerCommand::List { status, page } => {
            let mut query = Vec::new();
            if let Some(status) = status {
                query.push(("status".to_string(), status));
            }
            super::identity::push_page(&mut query, &page);
            let found = client.get("/v1/owners", &query).await?;
            output::page(format, &found, OWNER_COLUMNS);
        }
        OwnerCommand::Show { owner } => {
            let owner = client
                .get(&format!("/v1/owners/{}", segment(&owner)), &[])
                .await?;
            output::record(format, &owner, OWNER_FIELDS);
        }
        OwnerCommand::Offboard { owner } => {
            let result = client
                .post(&format!("/v1/owners/{}/offboard", segment(&owner)), None)
                .await?;
            match format {
                OutputFormat::Json => output::json(&result),
                OutputFormat::Table => {
                    let suspended = result["suspended"].as_array().cloned().unwrap_or_default();
                    output::line(&format!(
                        "offboarded {}; {} identities suspended until reassigned (warden owner reassign {owner} --to NEW_OWNER)",
                        output::cell(result["owner"].get("email")),
                        suspended.len()
                    ));
                    if !suspended.is_empty() {
                        output::rows(&suspended, MOVED_COLUMNS);
                    }
                }
            }
        }
        OwnerCommand::Reassign { owner, to } => {
            let result = client
                .post(
                    &format!("/v1/owners/{}/reassign", segment(&owner)),
                    Some(json!({ "to": to })),
                )
                .await?;
            match format {
                OutputFormat::Json => output::json(&result),
                OutputFormat::Table => {
                    let moved = result["moved"].as_array().cloned().unwrap_or_default();
                    output::line(&format!(
                        "moved {} identities from {owner} to {to}",
                        moved.len()
                    ));
                    if !moved.is_empty() {
                        output::rows(&moved, MOVED_COLUMNS);
                    }
                }
            }
        }
    }
    Ok(())
}
