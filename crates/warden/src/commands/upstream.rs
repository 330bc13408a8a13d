//! `warden upstream …`: register the systems behind the gateway and their sealed secrets.

use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::cli::{OutputFormat, SecretSource, UpstreamCommand};
use crate::client::{Client, Failure, segment};
use crate::output;

const FIELDS: &[&str] = &[
    "name",
    "kind",
    "url",
    "auth",
    "has_secret",
    "secret_version",
    "allowed_origins",
    "command",
    "args",
    "env_secret",
    "labels",
    "tool_labels",
    "identity",
    "id",
    "created_at",
    "updated_at",
];
const COLUMNS: &[&str] = &[
    "name",
    "kind",
    "url",
    "auth",
    "has_secret",
    "secret_version",
    "command",
];

const TOOL_COLUMNS: &[&str] = &[
    "tool",
    "state",
    "accepted_digest",
    "seen_digest",
    "changed_at",
    "accepted_by",
];

/// Reads the secret from where the flags say, refusing an empty one.
pub(super) fn read_secret(source: &SecretSource) -> Result<Option<Zeroizing<String>>, Failure> {
    let secret = match (&source.secret_env, &source.secret_file) {
        (Some(variable), _) => Zeroizing::new(std::env::var(variable).map_err(|_| {
            Failure::refused(format!(
                "environment variable {variable} is not set (or not valid UTF-8)"
            ))
        })?),
        (None, Some(path)) => {
            let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|error| {
                Failure::refused(format!(
                    "cannot read the secret file {}: {error}",
                    path.display()
                ))
            })?);
            Zeroizing::new(text.trim_end_matches(['\n', '\r']).to_string())
        }
        (None, None) => return Ok(None),
    };
    if secret.is_empty() {
        return Err(Failure::refused(
            "the secret is empty; give the secret itself",
        ));
    }
    Ok(Some(secret))
}

/// `TOOL=LABEL` flags as the API's map from tool to labels (the server checks the words).
fn tool_labels(flags: &[String]) -> Result<Value, Failure> {
    let mut tools: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for flag in flags {
        match flag.rsplit_once('=') {
            Some((tool, label)) if !tool.is_empty() && !label.is_empty() => {
                tools.entry(tool).or_default().push(label);
            }
            _ => {
                return Err(Failure::refused(format!(
                    "--tool-label {flag:?} must be TOOL=LABEL, e.g. send_email=external"
                )));
            }
        }
    }
    Ok(json!(tools))
}

fn read_routes(path: &std::path::Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|error| {
        Failure::refused(format!(
            "cannot read the route map {}: {error}",
            path.display()
        ))
    })
}

pub async fn run(
    client: &Client,
    format: OutputFormat,
    command: UpstreamCommand,
) -> Result<(), Failure> {
    match command {
        UpstreamCommand::Add {
            name,
            url,
            kind,
            auth,
            secret,
            routes,
            allowed_origins,
            command,
            args,
            env_secret,
            labels,
            tool_labels: tool_label_flags,
            identity,
        } => {
            let mut body = json!({ "name": name, "kind": kind });
            if let Some(identity) = identity {
                body["identity"] = Value::String(identity);
            }
            if let Some(url) = url {
                body["url"] = Value::String(url);
            }
            if let Some(auth) = auth {
                body["auth"] = Value::String(auth);
            }
            if let Some(command) = command {
                body["command"] = Value::String(command);
                body["args"] = json!(args);
            }
            if let Some(env_secret) = env_secret {
                body["env_secret"] = Value::String(env_secret);
            }
            if !allowed_origins.is_empty() {
                body["allowed_origins"] = json!(allowed_origins);
            }
            if !labels.is_empty() {
                body["labels"] = json!(labels);
            }
            if !tool_label_flags.is_empty() {
                body["tool_labels"] = tool_labels(&tool_label_flags)?;
            }
            if let Some(secret) = read_secret(&secret)? {
                body["secret"] = Value::String(secret.to_string());
            }
            if let Some(path) = routes {
                body["routes"] = Value::String(read_routes(&path)?);
            }
            let created = client.post("/v1/upstreams", Some(body)).await?;
            output::record(format, &created, FIELDS);
        }
        UpstreamCommand::List => {
            let all = client.get("/v1/upstreams", &[]).await?;
            match format {
                OutputFormat::Json => output::json(&all),
                OutputFormat::Table => {
                    output::rows(all.as_array().map_or(&[][..], Vec::as_slice), COLUMNS)
                }
            }
        }
        UpstreamCommand::Show { name } => {
            let upstream = client
                .get(&format!("/v1/upstreams/{}", segment(&name)), &[])
                .await?;
            output::record(format, &upstream, FIELDS);
            if format == OutputFormat::Table
                && let Some(routes) = upstream.get("routes").and_then(Value::as_str)
            {
                output::line(routes);
            }
        }
        UpstreamCommand::Update {
            name,
            url,
            auth,
            routes,
            allowed_origins,
            clear_allowed_origins,
            labels,
            clear_labels,
            tool_labels: tool_label_flags,
            clear_tool_labels,
            identity,
            clear_identity,
            secret,
        } => {
            let mut patch = Map::new();
            if let Some(identity) = identity {
                patch.insert("identity".into(), Value::String(identity));
            } else if clear_identity {
                patch.insert("identity".into(), Value::Null);
            }
            if !labels.is_empty() || clear_labels {
                patch.insert("labels".into(), json!(labels));
            }
            if !tool_label_flags.is_empty() || clear_tool_labels {
                patch.insert("tool_labels".into(), tool_labels(&tool_label_flags)?);
            }
            if !allowed_origins.is_empty() || clear_allowed_origins {
                patch.insert("allowed_origins".into(), json!(allowed_origins));
            }
            let secret = read_secret(&secret)?;
            if let Some(secret) = &secret {
                patch.insert("secret".into(), Value::String(secret.to_string()));
            }
            if let Some(url) = url {
                patch.insert("url".into(), Value::String(url));
            }
            if let Some(auth) = auth {
                patch.insert("auth".into(), Value::String(auth));
            }
            if let Some(path) = routes {
                patch.insert("routes".into(), Value::String(read_routes(&path)?));
            }
            if patch.is_empty() {
                return Err(Failure::refused(
                    "nothing to change: pass --url, --auth, --routes, --allowed-origin, --clear-allowed-origins, --label, --clear-labels, --tool-label, --clear-tool-labels, --identity, --clear-identity or a secret",
                ));
            }
            let updated = client
                .patch(
                    &format!("/v1/upstreams/{}", segment(&name)),
                    Value::Object(patch),
                )
                .await?;
            output::record(format, &updated, FIELDS);
        }
        UpstreamCommand::SetSecret { name, secret } => {
            let secret = read_secret(&secret)?
                .ok_or_else(|| Failure::refused("pass --secret-env VAR or --secret-file FILE"))?;
            let body = json!({ "secret": secret.as_str() });
            let updated = client
                .put(&format!("/v1/upstreams/{}/secret", segment(&name)), body)
                .await?;
            output::record(format, &updated, FIELDS);
        }
        UpstreamCommand::Tools { name, accept } => {
            let base = format!("/v1/upstreams/{}/tools", segment(&name));
            if let Some(tool) = accept {
                let accepted = client
                    .post(&format!("{base}/{}/accept", segment(&tool)), None)
                    .await?;
                match format {
                    OutputFormat::Json => output::json(&accepted),
                    OutputFormat::Table => output::line(&format!(
                        "accepted the definition of {tool} on {name}; the gateway lists and passes it again"
                    )),
                }
            } else {
                let pins = client.get(&base, &[]).await?;
                match format {
                    OutputFormat::Json => output::json(&pins),
                    OutputFormat::Table => {
                        output::rows(pins.as_array().map_or(&[][..], Vec::as_slice), TOOL_COLUMNS)
                    }
                }
            }
        }
        UpstreamCommand::Remove { name } => {
            let removed = client
                .delete(&format!("/v1/upstreams/{}", segment(&name)))
                .await?;
            match format {
                OutputFormat::Json => output::json(&removed),
                OutputFormat::Table => output::line(&format!("removed upstream {name}")),
            }
        }
    }
    Ok(())
}
