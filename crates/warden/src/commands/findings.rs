//! `warden findings …` and `warden posture`: what is wrong with the identities Warden knows.

use std::io::Write as _;

use serde_json::{Value, json};

use crate::cli::{FindingFilters, FindingsCommand, OutputFormat, PostureArgs};
use crate::client::{Client, Failure, segment};
use crate::output;

const FIELDS: &[&str] = &[
    "id",
    "rule",
    "owasp",
    "severity",
    "status",
    "subject",
    "identity",
    "credential",
    "evidence",
    "remediation",
    "first_seen",
    "last_seen",
    "resolved_at",
    "suppression",
];
const COLUMNS: &[&str] = &[
    "id",
    "owasp",
    "severity",
    "status",
    "rule",
    "identity",
    "credential",
];

fn push_filters(query: &mut Vec<(String, String)>, filters: FindingFilters) {
    for (key, value) in [
        ("owasp", filters.owasp),
        ("severity", filters.severity),
        ("status", filters.status),
        ("identity", filters.identity),
        ("rule", filters.rule),
    ] {
        if let Some(value) = value {
            query.push((key.to_string(), value));
        }
    }
}

/// The identity column: `kind:name`, or the subject when there is none.
fn flatten_identity(mut finding: Value) -> Value {
    let shown = match finding.get("identity") {
        Some(Value::Object(identity)) => format!(
            "{}:{}",
            output::cell(identity.get("kind")),
            output::cell(identity.get("name"))
        ),
        _ => output::cell(finding.get("subject")),
    };
    finding["identity"] = Value::String(shown);
    finding
}

pub async fn run(
    client: &Client,
    format: OutputFormat,
    command: FindingsCommand,
) -> Result<(), Failure> {
    match command {
        FindingsCommand::List { filters, page } => {
            let mut query = Vec::new();
            push_filters(&mut query, filters);
            super::identity::push_page(&mut query, &page);
            let mut found = client.get("/v1/findings", &query).await?;
            if format == OutputFormat::Table
                && let Some(items) = found.get_mut("items").and_then(Value::as_array_mut)
            {
                for item in items.iter_mut() {
                    *item = flatten_identity(item.take());
                }
            }
            output::page(format, &found, COLUMNS);
        }
        FindingsCommand::Show { id } => {
            let finding = client
                .get(&format!("/v1/findings/{}", segment(&id)), &[])
                .await?;
            output::record(format, &finding, FIELDS);
        }
        FindingsCommand::Suppress {
            id,
            reason,
            duration,
            until,
        } => {
            let until = match (duration, until) {
                (Some(duration), None) => suppression_end(&duration)?,
                (None, Some(until)) => until,
                _ => {
                    return Err(Failure::refused(
                        "say how long with --for DURATION (e.g. 30d) or --until RFC3339-TIME",
                    ));
                }
            };
            let finding = client
                .post(
                    &format!("/v1/findings/{}/suppress", segment(&id)),
                    Some(json!({ "reason": reason, "until": until })),
                )
                .await?;
            output::record(format, &finding, FIELDS);
        }
        FindingsCommand::Unsuppress { id } => {
            let finding = client
                .post(&format!("/v1/findings/{}/unsuppress", segment(&id)), None)
                .await?;
            output::record(format, &finding, FIELDS);
        }
        FindingsCommand::Export {
            format: export_format,
            filters,
        } => {
            let mut query = vec![("format".to_string(), export_format)];
            push_filters(&mut query, filters);
            let bytes = client.get_bytes("/v1/findings/export", &query).await?;
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(&bytes)
                .and_then(|()| stdout.flush())
                .map_err(|error| {
                    Failure::unavailable(format!("cannot write the export: {error}"))
                })?;
        }
    }
    Ok(())
}

/// `30d`, `12h`, `90m` from now, as RFC 3339.
fn suppression_end(duration: &str) -> Result<String, Failure> {
    let refuse = || {
        Failure::refused(format!(
            "--for `{duration}` must be a number followed by d, h or m, e.g. 30d"
        ))
    };
    let (number, unit) = duration.split_at(duration.len().saturating_sub(1));
    let amount: i64 = number.parse().map_err(|_| refuse())?;
    let secs = match unit {
        "d" => amount * 86_400,
        "h" => amount * 3_600,
        "m" => amount * 60,
        _ => return Err(refuse()),
    };
    if secs <= 0 {
        return Err(refuse());
    }
    let now = warden_core::Clock::now(&warden_core::SystemClock);
    Ok(now.plus_secs(secs).to_rfc3339())
}

pub async fn posture(
    client: &Client,
    format: OutputFormat,
    args: PostureArgs,
) -> Result<(), Failure> {
    if args.evaluate {
        client.post("/v1/posture/evaluate", None).await?;
    }
    let summary = client.get("/v1/posture", &[]).await?;
    if format == OutputFormat::Json {
        output::json(&summary);
        return Ok(());
    }
    let count = |value: Option<&Value>, name: &str| {
        value
            .and_then(|v| v.get(name))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let open = summary.get("open");
    output::line(&format!(
        "open findings: {} (critical {}, high {}, medium {}, low {}); suppressed {}",
        count(open, "total"),
        count(open, "critical"),
        count(open, "high"),
        count(open, "medium"),
        count(open, "low"),
        count(Some(&summary), "suppressed"),
    ));
    output::line(&format!(
        "imported identities: {} ({} without an owner); last evaluated {}",
        count(Some(&summary), "imported_identities"),
        count(Some(&summary), "orphaned_identities"),
        output::cell(summary.get("last_evaluated_at")),
    ));
    let by_owasp = summary
        .get("by_owasp")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !by_owasp.is_empty() {
        output::line("by OWASP NHI risk:");
        output::rows(
            &by_owasp,
            &["owasp", "critical", "high", "medium", "low", "total"],
        );
    }
    let worst: Vec<Value> = summary
        .get("worst")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(flatten_identity)
        .collect();
    if !worst.is_empty() {
        output::line("worst first:");
        output::rows(
            &worst,
            &[
                "identity",
                "worst_severity",
                "critical",
                "high",
                "medium",
                "low",
            ],
        );
    }
    Ok(())
}
