//! `warden audit …`: tail, query, verify (online or offline) and export the audit trail.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;

use crate::cli::{AuditCommand, AuditFilterArgs, ExportFormat, Global, OutputFormat};
use crate::client::{Client, Failure};
use crate::output;

const COLUMNS: &[&str] = &[
    "sequence", "time", "kind", "actor", "owner", "target", "upstream", "action", "decision",
];
/// How often `tail --follow` asks for new events.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(500);

pub async fn run(
    global: &Global,
    format: OutputFormat,
    command: AuditCommand,
) -> Result<(), Failure> {
    match command {
        AuditCommand::Verify {
            export: Some(export),
            public_key: Some(public_key),
        } => verify_offline(format, &export, &public_key),
        AuditCommand::Verify { .. } => verify_online(&client(global)?, format).await,
        AuditCommand::Tail {
            lines,
            follow,
            filter,
        } => tail(&client(global)?, format, lines, follow, &filter).await,
        AuditCommand::Query {
            filter,
            limit,
            after,
        } => {
            let mut query = filter_query(&filter);
            query.push(("limit".into(), limit.to_string()));
            if let Some(after) = after {
                query.push(("after".into(), after.to_string()));
            }
            let page = client(global)?.get("/v1/audit/events", &query).await?;
            print_events(format, &items(&page));
            Ok(())
        }
        AuditCommand::Export {
            format: export_format,
            out,
        } => {
            let name = match export_format {
                ExportFormat::Jsonl => "jsonl",
                ExportFormat::Ocsf => "ocsf",
            };
            let body = client(global)?
                .get_bytes("/v1/audit/export", &[("format".into(), name.into())])
                .await?;
            write_out(out.as_deref(), &body)
        }
        AuditCommand::PublicKey => {
            let pem = client(global)?
                .get_bytes("/v1/audit/public-key", &[])
                .await?;
            write_out(None, &pem)
        }
    }
}

fn client(global: &Global) -> Result<Client, Failure> {
    Client::new(&global.addr, global.token.clone())
}

fn write_out(path: Option<&std::path::Path>, body: &[u8]) -> Result<(), Failure> {
    let written = match path {
        Some(path) => std::fs::write(path, body),
        None => std::io::stdout().write_all(body),
    };
    written.map_err(|error| Failure::refused(format!("cannot write the output: {error}")))
}

fn filter_query(filter: &AuditFilterArgs) -> Vec<(String, String)> {
    let actor = filter.agent.clone().or_else(|| filter.actor.clone());
    let pairs = [
        ("kind", filter.kind.clone()),
        ("actor", actor),
        ("owner", filter.owner.clone()),
        ("user", filter.user.clone()),
        ("upstream", filter.upstream.clone()),
        ("action", filter.action.clone()),
        ("decision", filter.decision.clone()),
        ("task", filter.task.clone()),
        ("since", filter.since.clone()),
        ("until", filter.until.clone()),
    ];
    pairs
        .into_iter()
        .filter_map(|(key, value)| value.map(|value| (key.to_string(), value)))
        .collect()
}

fn items(page: &Value) -> Vec<Value> {
    page.get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Flattens the nested fields people scan for (actor name, target) into table cells.
fn row(event: &Value) -> Value {
    let mut flat = event.clone();
    let actor = &event["actor"];
    let actor_name = actor
        .get("name")
        .or_else(|| actor.get("component"))
        .cloned()
        .unwrap_or(Value::Null);
    flat["actor"] = actor_name;
    if let Some(target) = event.get("target") {
        let kind = target.get("kind").and_then(Value::as_str).unwrap_or("?");
        let name = target
            .get("name")
            .and_then(Value::as_str)
            .or_else(|| target.get("id").and_then(Value::as_str));
        flat["target"] = Value::String(format!("{kind}:{}", name.unwrap_or("?")));
    }
    flat
}

fn print_events(format: OutputFormat, events: &[Value]) {
    match format {
        OutputFormat::Json => {
            for event in events {
                output::line(&event.to_string());
            }
        }
        OutputFormat::Table => output::rows(&events.iter().map(row).collect::<Vec<_>>(), COLUMNS),
    }
}

async fn tail(
    client: &Client,
    format: OutputFormat,
    lines: u32,
    follow: bool,
    filter: &AuditFilterArgs,
) -> Result<(), Failure> {
    let base = filter_query(filter);
    let mut query = base.clone();
    query.push(("limit".into(), lines.clamp(1, 1000).to_string()));
    query.push(("newest".into(), "true".into()));
    let first = items(&client.get("/v1/audit/events", &query).await?);
    let mut last = first.last().and_then(|event| event["sequence"].as_u64());
    print_events(format, &first);
    if !follow {
        return Ok(());
    }
    // Follows until interrupted, like `tail -f`.
    loop {
        tokio::time::sleep(FOLLOW_INTERVAL).await;
        let mut query = base.clone();
        query.push(("limit".into(), "1000".into()));
        if let Some(last) = last {
            query.push(("after".into(), last.to_string()));
        }
        let new = items(&client.get("/v1/audit/events", &query).await?);
        if let Some(sequence) = new.last().and_then(|event| event["sequence"].as_u64()) {
            last = Some(sequence);
        }
        if !new.is_empty() {
            // In a table each batch stands alone; JSON lines continue seamlessly.
            print_events(format, &new);
        }
    }
}

async fn verify_online(client: &Client, format: OutputFormat) -> Result<(), Failure> {
    let verdict = client.get("/v1/audit/verify", &[]).await?;
    if format == OutputFormat::Json {
        output::json(&verdict);
    }
    if verdict["intact"].as_bool() == Some(true) {
        if format == OutputFormat::Table {
            let report = &verdict["report"];
            let unanchored = report["unanchored_events"].as_u64().unwrap_or(0);
            output::line(&format!(
                "audit trail intact: {} events, {}, {unanchored} records no checkpoint covers",
                output::cell(report.get("events_verified")),
                checkpoints_text(
                    report["checkpoints_verified"].as_u64().unwrap_or(0),
                    report["last_checkpoint"].as_u64()
                ),
            ));
            warn_unanchored(unanchored);
        }
        Ok(())
    } else {
        let message = verdict["failure"]["message"]
            .as_str()
            .unwrap_or("the audit trail is not intact")
            .to_string();
        Err(Failure::refused(message))
    }
}

fn verify_offline(
    format: OutputFormat,
    export: &std::path::Path,
    public_key: &std::path::Path,
) -> Result<(), Failure> {
    let key_text = std::fs::read_to_string(public_key).map_err(|error| {
        Failure::refused(format!(
            "cannot read the public key {}: {error}",
            public_key.display()
        ))
    })?;
    let key = warden_audit::AuditPublicKey::from_text(&key_text).map_err(|error| {
        Failure::refused(format!(
            "{} is not an audit public key: {error}",
            public_key.display()
        ))
    })?;
    let file = std::fs::File::open(export).map_err(|error| {
        Failure::refused(format!(
            "cannot open the export {}: {error}",
            export.display()
        ))
    })?;
    let verified = warden_audit::verify_export(std::io::BufReader::new(file), &key)
        .map_err(|error| Failure::refused(format!("{}: {error}", export.display())))?;
    let report = &verified.report;
    match format {
        OutputFormat::Json => match serde_json::to_value(report) {
            Ok(value) => output::json(&serde_json::json!({ "intact": true, "report": value })),
            Err(error) => return Err(Failure::refused(error.to_string())),
        },
        OutputFormat::Table => {
            output::line(&format!(
                "export intact: {} events, {}, {} records no checkpoint covers",
                report.events_verified,
                checkpoints_text(report.checkpoints_verified, report.last_checkpoint),
                report.unanchored_events
            ));
            warn_unanchored(report.unanchored_events);
        }
    }
    Ok(())
}

fn checkpoints_text(verified: u64, last: Option<u64>) -> String {
    match last {
        Some(last) => format!("{verified} signed checkpoints (last at sequence {last})"),
        None => "no signed checkpoint".to_string(),
    }
}

/// Says what an unanchored tail means: verification cannot see it cut off.
fn warn_unanchored(unanchored: u64) {
    if unanchored > 0 {
        output::note(&format!(
            "warden: the last {unanchored} records are protected by the hash chain alone: \
             if they were cut off the end, verification could not tell; a running node \
             signs a checkpoint over them within its checkpoint interval, and a node signs \
             one when it stops cleanly"
        ));
    }
}
