//! `warden webhook …` and `warden ssf …`: webhooks and their deliveries, and the Shared
//! Signals receivers. Secrets and tokens are printed once, by the command that creates them.

use serde_json::{Value, json};

use crate::cli::{OutputFormat, SsfCommand, WebhookCommand};
use crate::client::{Client, Failure, segment};
use crate::output;

const WEBHOOK_COLUMNS: &[&str] = &["id", "url", "events", "description", "created_at"];
const DELIVERY_COLUMNS: &[&str] = &[
    "id",
    "webhook_id",
    "event",
    "status",
    "attempts",
    "last_status",
    "last_error",
    "next_attempt_at",
];
const RECEIVER_COLUMNS: &[&str] = &["id", "name", "created_at"];

fn list(format: OutputFormat, value: &Value, columns: &[&str]) {
    match format {
        OutputFormat::Json => output::json(value),
        OutputFormat::Table => {
            output::rows(value.as_array().map_or(&[][..], Vec::as_slice), columns);
        }
    }
}

pub async fn webhook(
    client: &Client,
    format: OutputFormat,
    command: WebhookCommand,
) -> Result<(), Failure> {
    match command {
        WebhookCommand::Add {
            url,
            events,
            description,
        } => {
            let events: Vec<String> = events
                .iter()
                .flat_map(|part| part.split(','))
                .map(|event| event.trim().to_string())
                .filter(|event| !event.is_empty())
                .collect();
            let added = client
                .post(
                    "/v1/webhooks",
                    Some(json!({ "url": url, "events": events, "description": description })),
                )
                .await?;
            match format {
                OutputFormat::Json => output::json(&added),
                OutputFormat::Table => {
                    output::record(format, &added["webhook"], WEBHOOK_COLUMNS);
                    output::line(&format!(
                        "secret: {}",
                        added["secret"].as_str().unwrap_or_default()
                    ));
                    output::note(
                        "keep the secret: it is not shown again. Each delivery carries \
                         `Warden-Signature: t=SECONDS,v1=HEX`, HMAC-SHA256 under it over `SECONDS.BODY`.",
                    );
                }
            }
        }
        WebhookCommand::List => {
            let found = client.get("/v1/webhooks", &[]).await?;
            list(format, &found, WEBHOOK_COLUMNS);
        }
        WebhookCommand::Remove { id } => {
            let removed = client
                .delete(&format!("/v1/webhooks/{}", segment(&id)))
                .await?;
            output::record(format, &removed, WEBHOOK_COLUMNS);
        }
        WebhookCommand::Deliveries {
            webhook,
            status,
            limit,
        } => {
            let mut query = Vec::new();
            if let Some(webhook) = webhook {
                query.push(("webhook".to_string(), webhook));
            }
            if let Some(status) = status {
                query.push(("status".to_string(), status));
            }
            if let Some(limit) = limit {
                query.push(("limit".to_string(), limit.to_string()));
            }
            let found = client.get("/v1/webhooks/deliveries", &query).await?;
            list(format, &found, DELIVERY_COLUMNS);
        }
        WebhookCommand::Redeliver { delivery } => {
            let queued = client
                .post(
                    &format!("/v1/webhooks/deliveries/{}/redeliver", segment(&delivery)),
                    None,
                )
                .await?;
            output::record(format, &queued, DELIVERY_COLUMNS);
        }
    }
    Ok(())
}

pub async fn ssf(
    client: &Client,
    format: OutputFormat,
    command: SsfCommand,
) -> Result<(), Failure> {
    match command {
        SsfCommand::ReceiverAdd { name } => {
            let added = client
                .post("/v1/ssf/receivers", Some(json!({ "name": name })))
                .await?;
            match format {
                OutputFormat::Json => output::json(&added),
                OutputFormat::Table => {
                    output::record(format, &added["receiver"], RECEIVER_COLUMNS);
                    output::line(&format!(
                        "token: {}",
                        added["token"].as_str().unwrap_or_default()
                    ));
                    output::note(
                        "give the token to the receiver: it authenticates to /ssf/* as \
                         `Authorization: Bearer TOKEN` and is not shown again.",
                    );
                }
            }
        }
        SsfCommand::Receivers => {
            let found = client.get("/v1/ssf/receivers", &[]).await?;
            list(format, &found, RECEIVER_COLUMNS);
        }
        SsfCommand::ReceiverRemove { name } => {
            let removed = client
                .delete(&format!("/v1/ssf/receivers/{}", segment(&name)))
                .await?;
            output::record(format, &removed, RECEIVER_COLUMNS);
        }
    }
    Ok(())
}
