//! `warden import FILE…` and `warden inventory …`: hand Warden the exports of other systems,
//! then read what they held.
//!
//! The files are read here and sent whole to `POST /v1/imports`; the server parses them, so
//! the CLI and `curl` get the same checks and the same errors.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::cli::{ImportArgs, InventoryCommand, OutputFormat};
use crate::client::{Client, Failure, segment};
use crate::output;

/// A large export takes a while to parse and store; the default request timeout is shorter.
const IMPORT_TIMEOUT: Duration = Duration::from_secs(900);

const RECORD_FIELDS: &[&str] = &[
    "id",
    "kind",
    "name",
    "external_id",
    "source",
    "format",
    "owner",
    "orphaned",
    "owner_assigned",
    "environment",
    "status",
    "first_seen",
    "last_seen",
    "gone_at",
];
const RECORD_COLUMNS: &[&str] = &[
    "id",
    "kind",
    "name",
    "source",
    "owner",
    "status",
    "last_seen",
];
const SUMMARY_COLUMNS: &[&str] = &[
    "source",
    "format",
    "identities",
    "credentials",
    "created",
    "updated",
    "unchanged",
    "gone",
    "orphaned",
];

pub async fn run(client: &Client, format: OutputFormat, args: ImportArgs) -> Result<(), Failure> {
    let mut files = Vec::with_capacity(args.files.len());
    for path in &args.files {
        let bytes = std::fs::read(path).map_err(|error| {
            Failure::refused(format!("cannot read {}: {error}", path.display()))
        })?;
        let mut file = Map::new();
        file.insert("name".into(), Value::String(path.display().to_string()));
        if let Some(format) = &args.format {
            file.insert("format".into(), Value::String(format.clone()));
        }
        match String::from_utf8(bytes) {
            Ok(text) => file.insert("content".into(), Value::String(text)),
            Err(error) => file.insert(
                "content_base64".into(),
                Value::String(base64::engine::general_purpose::STANDARD.encode(error.into_bytes())),
            ),
        };
        files.push(Value::Object(file));
    }
    let mut body = json!({ "files": files, "dry_run": args.dry_run });
    if let Some(source) = args.source {
        body["source"] = Value::String(source);
    }
    if let Some(owner) = args.owner {
        body["owner"] = Value::String(owner);
    }
    if let Some(environment) = args.environment {
        body["environment"] = Value::String(environment);
    }
    if args.full {
        body["full_export"] = Value::Bool(true);
    } else if args.partial {
        body["full_export"] = Value::Bool(false);
    }
    let answer = client
        .post_slow("/v1/imports", body, IMPORT_TIMEOUT)
        .await?;
    match format {
        OutputFormat::Json => output::json(&answer),
        OutputFormat::Table => {
            let sources = answer
                .get("sources")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            output::rows(&sources, SUMMARY_COLUMNS);
            if answer.get("dry_run").and_then(Value::as_bool) == Some(true) {
                output::note("dry run: nothing was changed");
            } else if let Some(findings) = answer.get("findings").filter(|f| !f.is_null()) {
                let count = |name: &str| findings.get(name).and_then(Value::as_u64).unwrap_or(0);
                output::note(&format!(
                    "findings: {} opened, {} resolved; see `warden findings list` and `warden posture`",
                    count("opened") + count("reopened"),
                    count("resolved")
                ));
            }
        }
    }
    Ok(())
}

pub async fn inventory(
    client: &Client,
    format: OutputFormat,
    command: InventoryCommand,
) -> Result<(), Failure> {
    match command {
        InventoryCommand::List {
            source,
            kind,
            status,
            orphaned,
            owner,
            page,
        } => {
            let mut query = Vec::new();
            for (key, value) in [
                ("source", source),
                ("kind", kind),
                ("status", status),
                ("owner", owner),
            ] {
                if let Some(value) = value {
                    query.push((key.to_string(), value));
                }
            }
            if orphaned {
                query.push(("orphaned".into(), "true".into()));
            }
            super::identity::push_page(&mut query, &page);
            let found = client.get("/v1/imported-identities", &query).await?;
            output::page(format, &found, RECORD_COLUMNS);
        }
        InventoryCommand::Show { id } => {
            let record = client
                .get(&format!("/v1/imported-identities/{}", segment(&id)), &[])
                .await?;
            output::record(format, &record, RECORD_FIELDS);
            if format == OutputFormat::Table {
                print_details(&record);
            }
        }
    }
    Ok(())
}

/// The credentials and entitlements under an imported identity's fields.
fn print_details(record: &Value) {
    let inner = record.get("record");
    let list = |name: &str| {
        inner
            .and_then(|r| r.get(name))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let credentials = list("credentials");
    if !credentials.is_empty() {
        output::line("credentials:");
        output::rows(
            &credentials,
            &[
                "kind",
                "id",
                "active",
                "created_at",
                "last_rotated_at",
                "last_used_at",
                "expires_at",
            ],
        );
    }
    let entitlements = list("entitlements");
    if !entitlements.is_empty() {
        output::line("entitlements:");
        output::rows(&entitlements, &["value", "scope"]);
    }
}

/// `warden identity reassign` for an imported identity.
pub async fn reassign(
    client: &Client,
    format: OutputFormat,
    id: &str,
    owner: &str,
) -> Result<(), Failure> {
    let record = client
        .post(
            &format!("/v1/imported-identities/{}/reassign", segment(id)),
            Some(json!({ "owner": owner })),
        )
        .await?;
    output::record(format, &record, RECORD_FIELDS);
    Ok(())
}
