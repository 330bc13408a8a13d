//! `warden credential …`, `warden kill|restore|revoke …` and `warden keys …`: the
//! credential plane from the command line. A new client secret is printed once, here, and
//! nowhere else.

use serde_json::{Value, json};

use crate::cli::{
    CredentialArgs, CredentialCommand, KeysCommand, OutputFormat, StopArgs, StopTarget,
};
use crate::client::{Client, Failure, segment};
use crate::commands::identity::IDENTITY_FIELDS;
use crate::output;

const CREDENTIAL_COLUMNS: &[&str] = &["id", "kind", "status", "scope", "created_at", "expires_at"];
const KEY_COLUMNS: &[&str] = &[
    "kid",
    "active",
    "created_at",
    "retired_at",
    "published_until",
];

/// The request body for issuing or rotating a credential.
fn credential_body(fields: &CredentialArgs) -> Result<Value, Failure> {
    let mut body = json!({});
    if let Some(path) = &fields.public_key {
        let text = std::fs::read_to_string(path).map_err(|error| {
            Failure::refused(format!(
                "cannot read the public key {}: {error}",
                path.display()
            ))
        })?;
        let jwk: Value = serde_json::from_str(&text).map_err(|error| {
            Failure::refused(format!(
                "{} is not a JWK (JSON): {error}; export the public key as a JWK",
                path.display()
            ))
        })?;
        body["kind"] = json!("private_key_jwt");
        body["public_jwk"] = jwk;
    }
    if let Some(scope) = &fields.scope {
        body["scope"] = json!(scope);
    }
    if let Some(days) = fields.expires_in_days {
        body["expires_in_days"] = json!(days);
    }
    Ok(body)
}

fn print_issued(format: OutputFormat, issued: &Value) {
    match format {
        OutputFormat::Json => output::json(issued),
        OutputFormat::Table => {
            output::record(format, issued, &["client_id", "client_secret"]);
            if issued.get("client_secret").is_some() {
                output::note(
                    "The client secret is shown only now; Warden keeps only a keyed hash of it.",
                );
            }
        }
    }
}

/// `warden agent create`: the agent is registered; now its first client secret.
pub async fn issue_for_new_agent(
    client: &Client,
    format: OutputFormat,
    identity: Value,
    scope: Option<String>,
) -> Result<(), Failure> {
    let id = identity
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut body = json!({});
    if let Some(scope) = scope {
        body["scope"] = json!(scope);
    }
    let issued = client
        .post(&format!("/v1/identities/{}/credentials", segment(&id)), Some(body))
        .await
        .map_err(|failure| Failure {
            message: format!(
                "the agent was registered but its credential was not issued ({}); run `warden credential issue {id}`",
                failure.message
            ),
            exit_code: failure.exit_code,
        })?;
    match format {
        OutputFormat::Json => {
            let mut combined = identity;
            combined["client_id"] = issued["client_id"].clone();
            combined["client_secret"] = issued["client_secret"].clone();
            combined["credential_id"] = issued["credential"]["id"].clone();
            output::json(&combined);
        }
        OutputFormat::Table => {
            output::record(format, &identity, IDENTITY_FIELDS);
            print_issued(format, &issued);
        }
    }
    Ok(())
}

pub async fn run(
    client: &Client,
    format: OutputFormat,
    command: CredentialCommand,
) -> Result<(), Failure> {
    match command {
        CredentialCommand::Issue { identity, fields } => {
            let body = credential_body(&fields)?;
            let issued = client
                .post(
                    &format!("/v1/identities/{}/credentials", segment(&identity)),
                    Some(body),
                )
                .await?;
            print_issued(format, &issued);
        }
        CredentialCommand::Rotate {
            identity,
            fields,
            overlap_secs,
        } => {
            let mut body = credential_body(&fields)?;
            if let Some(overlap) = overlap_secs {
                body["overlap_secs"] = json!(overlap);
            }
            let issued = client
                .post(
                    &format!("/v1/identities/{}/credentials/rotate", segment(&identity)),
                    Some(body),
                )
                .await?;
            print_issued(format, &issued);
            if format == OutputFormat::Table
                && let Some(rotated) = issued.get("rotated").and_then(Value::as_array)
            {
                for old in rotated {
                    output::note(&format!(
                        "credential {} keeps working until {}",
                        output::cell(old.get("id")),
                        output::cell(old.get("expires_at"))
                    ));
                }
            }
        }
        CredentialCommand::Revoke { credential } => {
            let revoked = client
                .post(
                    &format!("/v1/credentials/{}/revoke", segment(&credential)),
                    None,
                )
                .await?;
            output::record(format, &revoked, CREDENTIAL_COLUMNS);
        }
        CredentialCommand::List { identity } => {
            let found = client
                .get(
                    &format!("/v1/identities/{}/credentials", segment(&identity)),
                    &[],
                )
                .await?;
            output::page(format, &found, CREDENTIAL_COLUMNS);
        }
    }
    Ok(())
}

/// `warden kill|restore|revoke TARGET NAME`.
pub async fn stop(
    client: &Client,
    format: OutputFormat,
    verb: &str,
    args: StopArgs,
) -> Result<(), Failure> {
    let mut body = match args.target {
        StopTarget::Agent => json!({ "identity": format!("agent:{}", args.name) }),
        StopTarget::Identity => json!({ "identity": args.name }),
        StopTarget::Owner => json!({ "owner": args.name }),
        StopTarget::Credential | StopTarget::Token if verb != "revoke" => {
            return Err(Failure::refused(format!(
                "credentials and tokens cannot be suspended, only revoked: use `warden revoke {} …`",
                if args.target == StopTarget::Token {
                    "token"
                } else {
                    "credential"
                }
            )));
        }
        StopTarget::Credential => json!({ "credential": args.name }),
        StopTarget::Token => json!({ "token": args.name }),
    };
    if args.dry_run {
        if verb == "restore" {
            return Err(Failure::refused(
                "--dry-run applies to kill and revoke only",
            ));
        }
        body["dry_run"] = json!(true);
    }
    let answer = client.post(&format!("/v1/{verb}"), Some(body)).await?;
    match format {
        OutputFormat::Json => output::json(&answer),
        OutputFormat::Table => {
            let key = if verb == "restore" {
                "restored"
            } else {
                "stops"
            };
            let items = answer
                .get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let columns: &[&str] = match args.target {
                StopTarget::Token => &["jti"],
                StopTarget::Credential => CREDENTIAL_COLUMNS,
                _ => &["kind", "name", "id"],
            };
            output::rows(&items, columns);
            let reaches = answer
                .get("reaches")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            if !reaches.is_empty() {
                output::line("what it could reach (stopped with it):");
                for reach in reaches {
                    let text = |key: &str| reach.get(key).and_then(Value::as_str).unwrap_or("");
                    output::line(&format!("  {} on {}:", text("principal"), text("upstream")));
                    for action in reach
                        .get("actions")
                        .and_then(Value::as_array)
                        .map_or(&[][..], Vec::as_slice)
                    {
                        let field =
                            |key: &str| action.get(key).and_then(Value::as_str).unwrap_or("");
                        output::line(&format!(
                            "    {:<14} {} ({})",
                            field("standing"),
                            field("name"),
                            field("action")
                        ));
                    }
                }
            }
            let done = match (verb, args.dry_run) {
                (_, true) => "dry run: nothing was changed",
                ("kill", false) => {
                    "suspended; tokens are refused from now on (undo with `warden restore`)"
                }
                ("revoke", false) => "revoked for good; tokens are refused from now on",
                _ => "restored",
            };
            output::note(done);
        }
    }
    Ok(())
}

pub async fn keys(
    client: &Client,
    format: OutputFormat,
    command: KeysCommand,
) -> Result<(), Failure> {
    let keys = match command {
        KeysCommand::List => client.get("/v1/keys", &[]).await?,
        KeysCommand::Rotate => client.post("/v1/keys/rotate", None).await?,
        KeysCommand::RotateDataKey(_) => {
            return Err(Failure::refused(
                "rotate-data-key works on the data directory, not through the API",
            ));
        }
    };
    output::page(format, &keys, KEY_COLUMNS);
    Ok(())
}
