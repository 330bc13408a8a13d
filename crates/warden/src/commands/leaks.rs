//! `warden leaks …`: the leaked secrets reported to Warden, and reporting one by hand (an
//! alert from another scanner, a secret seen in a chat) the way `warden scan --report` does.

use serde_json::{Value, json};

use crate::cli::{LeaksCommand, OutputFormat, ReportLeakArgs};
use crate::client::{Client, Failure, segment};
use crate::output;

const FIELDS: &[&str] = &[
    "id",
    "matched",
    "secret_kind",
    "identity_kind",
    "identity_name",
    "subject_id",
    "credential_id",
    "response",
    "responded_at",
    "report_count",
    "first_reported_at",
    "last_reported_at",
    "locations",
];
const COLUMNS: &[&str] = &[
    "id",
    "matched",
    "secret_kind",
    "identity_name",
    "credential_id",
    "response",
    "report_count",
    "last_reported_at",
];

pub async fn run(
    client: &Client,
    format: OutputFormat,
    command: LeaksCommand,
) -> Result<(), Failure> {
    match command {
        LeaksCommand::List { page } => {
            let mut query = Vec::new();
            super::identity::push_page(&mut query, &page);
            let found = client.get("/v1/leaks", &query).await?;
            output::page(format, &found, COLUMNS);
        }
        LeaksCommand::Show { id } => {
            let report = client
                .get(&format!("/v1/leaks/{}", segment(&id)), &[])
                .await?;
            output::record(format, &report, FIELDS);
        }
        LeaksCommand::Report(args) => report(client, format, args).await?,
    }
    Ok(())
}

async fn report(
    client: &Client,
    format: OutputFormat,
    args: ReportLeakArgs,
) -> Result<(), Failure> {
    let secret = super::upstream::read_secret(&args.secret)?;
    if secret.is_none() && args.fingerprint.is_none() {
        return Err(Failure::refused(
            "give the secret (--secret-env VAR or --secret-file PATH) or its --fingerprint",
        ));
    }
    let mut body = json!({
        "kind": args.kind,
        "fingerprint": args.fingerprint,
        "revoke": args.revoke,
        "location": {
            "path": args.path,
            "line": args.line,
            "commit": args.commit,
            "url": args.url,
            "source": args.source,
        },
    });
    if let Some(secret) = &secret {
        body["secret"] = Value::String(secret.to_string());
    }
    let answer = client.post("/v1/leaks", Some(body)).await?;
    drop(secret);
    match format {
        OutputFormat::Json => output::json(&answer),
        OutputFormat::Table => {
            output::record(format, &answer["report"], FIELDS);
            if answer["known"] != Value::Bool(true) {
                output::note(
                    "Warden does not know this secret; switch it off where it was issued.",
                );
            } else if let Some(remedy) = answer["finding"]["remediation"].as_str() {
                output::note(&format!(
                    "finding {}: {remedy}",
                    output::cell(answer["finding"].get("id"))
                ));
            }
        }
    }
    Ok(())
}
