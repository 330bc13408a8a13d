//! `warden serve`: resolve settings, start the server, print where it listens (and, on the
//! first start, the admin token), then serve until SIGTERM or Ctrl-C.

use warden_crypto::Secret;
use warden_server::{ConfigLayer, Server, Settings};

use crate::cli::{DataKeyArgs, OutputFormat, ServeArgs};
use crate::client::{EXIT_UNAVAILABLE, Failure};
use crate::output;

pub async fn run(args: ServeArgs) -> Result<(), Failure> {
    crate::logging::init(args.log_format);
    let flags = ConfigLayer {
        data_dir: args.data_dir,
        api_listen: args.api_listen,
        gateway_listen: args.gateway_listen,
        database_url: args.database_url,
        credentials: None,
        gateway: None,
        api: None,
        posture: None,
        leaks: None,
        signals: None,
        cluster: None,
        dashboard: None,
        audit_checkpoint_millis: args.audit_checkpoint_millis,
        audit_checkpoint_events: args.audit_checkpoint_events,
    };
    let file = match &args.config {
        Some(path) => ConfigLayer::from_toml_file(path)
            .map_err(|error| Failure::refused(error.to_string()))?,
        None => ConfigLayer::default(),
    };
    let bootstrap = std::env::var("WARDEN_BOOTSTRAP_TOKEN")
        .ok()
        .filter(|value| !value.is_empty())
        .map(Secret::new);
    let settings = Settings::resolve(flags.over(file), bootstrap);

    let server = Server::start(settings).await.map_err(|error| Failure {
        message: format!("{error:#}"),
        exit_code: EXIT_UNAVAILABLE,
    })?;
    output::line(&format!(
        "warden: api listening on http://{}",
        server.api_addr()?
    ));
    output::line(&format!(
        "warden: gateway listening on http://{}",
        server.gateway_addr()?
    ));
    if let Some(token) = &server.admin_token {
        output::line(&format!("warden: admin token: {}", token.expose()));
        output::line(
            "warden: the admin token is shown only this once; keep it, e.g. export WARDEN_TOKEN=<token>",
        );
    }
    server.run(shutdown_signal()).await?;
    output::note("warden: stopped");
    Ok(())
}

/// `warden keys rotate-data-key`: re-seals everything under a new data key, offline.
pub async fn rotate_data_key(args: DataKeyArgs, format: OutputFormat) -> Result<(), Failure> {
    let flags = ConfigLayer {
        data_dir: args.data_dir,
        database_url: args.database_url,
        ..ConfigLayer::default()
    };
    let file = match &args.config {
        Some(path) => ConfigLayer::from_toml_file(path)
            .map_err(|error| Failure::refused(error.to_string()))?,
        None => ConfigLayer::default(),
    };
    let settings = Settings::resolve(flags.over(file), None);
    let rotation = warden_server::rotate_data_key(&settings)
        .await
        .map_err(|error| Failure::refused(format!("{error:#}")))?;
    let report = serde_json::json!({
        "previous_fingerprint": rotation.old_fingerprint,
        "fingerprint": rotation.new_fingerprint,
        "resealed_upstream_secrets": rotation.upstream_secrets,
        "resealed_signing_keys": rotation.signing_keys,
        "resealed_approval_requests": rotation.approval_requests,
    });
    output::record(
        format,
        &report,
        &[
            "previous_fingerprint",
            "fingerprint",
            "resealed_upstream_secrets",
            "resealed_signing_keys",
            "resealed_approval_requests",
        ],
    );
    output::note("warden: copy DATA_DIR/keys/data.key to every node before starting them");
    Ok(())
}

/// Completes on the first SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => tracing::info!("interrupted; shutting down"),
        () = terminate => tracing::info!("terminated; shutting down"),
    }
}
