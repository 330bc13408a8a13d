//! `/ui/upstreams`: the systems behind the gateway, read through `GET /v1/upstreams`'s
//! handler: kind, where requests go, how the secret is injected, labels, the identity the
//! secret belongs to and the route map. The secret itself is never shown: the handler holds
//! only whether one is set and its version, and that is all the page says of it.

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use warden_core::{Upstream, UpstreamKind};

use super::guard::SignedIn;
use super::view::when;
use super::{Chrome, render};
use crate::api::upstreams;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "ui/upstreams.html")]
struct UpstreamsPage {
    chrome: Chrome,
    upstreams: Vec<Row>,
}

#[derive(Debug)]
struct Row {
    name: String,
    kind: String,
    /// The URL, or for a local MCP server the command it runs.
    target: String,
    injection: String,
    secret: String,
    labels: String,
    tool_labels: Vec<(String, String)>,
    allowed_origins: String,
    identity: String,
    routes: String,
    updated: String,
}

fn row(upstream: &Upstream) -> Row {
    let (target, injection) = match upstream.kind {
        UpstreamKind::McpStdio => (
            std::iter::once(upstream.command.clone().unwrap_or_default())
                .chain(upstream.args.iter().cloned())
                .collect::<Vec<_>>()
                .join(" "),
            match &upstream.env_secret {
                Some(variable) => format!("environment variable {variable}"),
                None => "none".into(),
            },
        ),
        UpstreamKind::Http | UpstreamKind::Mcp => (upstream.url.clone(), upstream.auth.as_text()),
    };
    Row {
        name: upstream.name.clone(),
        kind: upstream.kind.as_str().to_string(),
        target,
        injection,
        secret: if upstream.has_secret {
            format!("set (version {}), never shown", upstream.secret_version)
        } else {
            "none".into()
        },
        labels: upstream.labels.join(", "),
        tool_labels: upstream
            .tool_labels
            .iter()
            .map(|(tool, labels)| (tool.clone(), labels.join(", ")))
            .collect(),
        allowed_origins: upstream.allowed_origins.join(", "),
        identity: upstream
            .identity
            .as_ref()
            .map(|identity| identity.reference.clone())
            .unwrap_or_default(),
        routes: upstream.routes.clone().unwrap_or_default(),
        updated: when(upstream.updated_at),
    }
}

/// `GET /ui/upstreams`.
pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Response, ApiError> {
    let Json(listed) = upstreams::list_upstreams(State(state.clone())).await?;
    render(&UpstreamsPage {
        chrome: Chrome::new(&signed_in, "upstreams"),
        upstreams: listed.iter().map(row).collect(),
    })
}

#[cfg(test)]
mod tests {
    use warden_core::{InjectAuth, Timestamp, UpstreamId};

    use super::*;

    fn upstream(kind: UpstreamKind) -> Upstream {
        let at = Timestamp::from_millis(1_800_000_000_000);
        Upstream {
            id: UpstreamId::new_v7(),
            name: "crm".into(),
            kind,
            url: "https://crm.example.com/api".into(),
            auth: InjectAuth::Header("x-api-key".into()),
            has_secret: true,
            secret_version: 3,
            routes: Some("[[route]]\nmethod = \"GET\"\n".into()),
            allowed_origins: vec![],
            command: None,
            args: vec![],
            env_secret: None,
            labels: vec!["external".into(), "sensitive".into()],
            tool_labels: Default::default(),
            identity: None,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn a_row_says_a_secret_is_set_and_its_version_and_nothing_more() {
        let row = row(&upstream(UpstreamKind::Http));
        assert_eq!(row.kind, "http");
        assert_eq!(row.target, "https://crm.example.com/api");
        assert_eq!(row.injection, "header:x-api-key");
        assert_eq!(row.secret, "set (version 3), never shown");
        assert_eq!(row.labels, "external, sensitive");
        assert!(row.routes.contains("[[route]]"));
        let unset = super::row(&Upstream {
            has_secret: false,
            ..upstream(UpstreamKind::Http)
        });
        assert_eq!(unset.secret, "none");
    }

    #[test]
    fn a_local_mcp_server_shows_its_command_and_the_variable_its_secret_is_set_in() {
        let mut tool_labels = warden_core::access_label::ToolLabels::new();
        tool_labels.insert("send_email".into(), vec!["external".into()]);
        let row = row(&Upstream {
            url: String::new(),
            routes: None,
            command: Some("/usr/bin/mail-mcp".into()),
            args: vec!["--stdio".into()],
            env_secret: Some("MAIL_TOKEN".into()),
            tool_labels,
            ..upstream(UpstreamKind::McpStdio)
        });
        assert_eq!(row.target, "/usr/bin/mail-mcp --stdio");
        assert_eq!(row.injection, "environment variable MAIL_TOKEN");
        assert_eq!(
            row.tool_labels,
            [("send_email".to_string(), "external".to_string())]
        );
        assert_eq!(row.routes, "");
    }
}
