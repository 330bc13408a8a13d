//! `warden serve`: first start, restart, settings, health and shutdown.

use crate::harness::{RunningServer, fresh_server, warden};

fn get(url: &str) -> (u16, String) {
    let response = std::process::Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", url])
        .output();
    let text = String::from_utf8_lossy(&response.unwrap_or_else(|e| panic!("curl: {e}")).stdout)
        .into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_string())
}

#[test]
fn a_restart_keeps_the_data_and_the_admin_token() {
    let (dir, server, token) = fresh_server();
    server
        .cli(
            &token,
            &["owner", "add", "alice@example.com", "--name", "Alice"],
        )
        .ok();
    server
        .cli(
            &token,
            &[
                "agent",
                "create",
                "support-bot",
                "--owner",
                "alice@example.com",
            ],
        )
        .ok();
    let data_dir = server.data_dir.clone();
    let status = server.stop();
    assert!(status.success(), "SIGTERM is a clean shutdown: {status}");

    let again = RunningServer::start(&data_dir, &[], &[]);
    assert_eq!(
        again.printed_token, None,
        "the admin token is printed only on the first start"
    );
    let shown = again
        .cli(&token, &["agent", "show", "support-bot", "-o", "json"])
        .json();
    assert_eq!(shown["owner"], "alice@example.com");
    drop(dir);
}

#[test]
fn the_first_start_creates_owner_only_keys() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, server, _token) = fresh_server();
    let keys = server.data_dir.join("keys");
    let dir_mode = std::fs::metadata(&keys)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    assert_eq!(dir_mode, 0o700);
    let data_mode = std::fs::metadata(&server.data_dir)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    assert_eq!(data_mode, 0o700);
    let key_mode = std::fs::metadata(keys.join("pepper.key"))
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    assert_eq!(key_mode, 0o600);
    assert!(server.data_dir.join("warden.db").exists());
}

#[test]
fn a_bootstrap_token_becomes_the_admin_token() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let chosen = "automation-chosen-token-0123456789abcdef";
    let server = RunningServer::start(
        &dir.path().join("data"),
        &[],
        &[("WARDEN_BOOTSTRAP_TOKEN", chosen)],
    );
    assert_eq!(server.printed_token.as_deref(), Some(chosen));
    server.cli(chosen, &["owner", "list"]).ok();
}

#[test]
fn a_short_bootstrap_token_is_refused_and_nothing_starts() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let output = warden()
        .args([
            "serve",
            "--api-listen",
            "127.0.0.1:0",
            "--gateway-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .env("WARDEN_BOOTSTRAP_TOKEN", "short")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("at least 32 characters"));
}

#[test]
fn settings_come_from_a_toml_file_and_the_environment() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data_dir = dir.path().join("from-file");
    let config = dir.path().join("warden.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\ngateway_listen = \"127.0.0.1:0\"\n",
            data_dir.display().to_string()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut command = warden();
    command
        .args(["serve", "--config"])
        .arg(&config)
        .env("WARDEN_API_LISTEN", "127.0.0.1:0")
        .stdout(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap_or_else(|e| panic!("{e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let first = std::io::BufRead::lines(std::io::BufReader::new(stdout)).next();
    let _ = child.kill();
    let _ = child.wait();
    let first = first.and_then(Result::ok).unwrap_or_default();
    assert!(
        first.starts_with("warden: api listening on http://127.0.0.1:"),
        "{first}"
    );
    assert!(
        data_dir.join("keys").join("pepper.key").exists(),
        "the data directory came from the file"
    );

    std::fs::write(&config, "api_lisen = \"127.0.0.1:0\"\n").unwrap_or_else(|e| panic!("{e}"));
    let refused = warden()
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("api_lisen"),
        "the unknown key is named"
    );
}

#[test]
fn health_readiness_and_the_openapi_document() {
    let (_dir, server, _token) = fresh_server();
    assert_eq!(get(&format!("{}/healthz", server.api)).0, 200);
    let (status, body) = get(&format!("{}/readyz", server.api));
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    let (status, document) = get(&format!("{}/openapi.json", server.api));
    assert_eq!(status, 200);
    assert!(document.contains("/v1/identities/{identity}/suspend"));
    // The gateway answers too: without a token, nothing gets past authentication.
    let (status, body) = get(&format!("{}/crm/tickets/1", server.gateway));
    assert_eq!(status, 401);
    assert!(body.contains("invalid_token"), "{body}");
}

#[test]
fn a_second_node_with_other_keys_refuses_to_share_the_database() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let database = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("shared.db").display()
    );
    let first = RunningServer::start(
        &dir.path().join("node-a"),
        &["--database-url", &database],
        &[],
    );
    assert!(first.printed_token.is_some());
    let output = warden()
        .args([
            "serve",
            "--api-listen",
            "127.0.0.1:0",
            "--gateway-listen",
            "127.0.0.1:0",
            "--database-url",
            &database,
            "--data-dir",
        ])
        .arg(dir.path().join("node-b"))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("copy DATA_DIR/keys"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
