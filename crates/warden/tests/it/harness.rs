//! Starting `warden serve` as a child process and running CLI commands against it.
//!
//! The child's environment is scrubbed so a developer's WARDEN_* variables cannot leak into
//! a test. Start-up is awaited by reading the lines the server prints, with a deadline,
//! never by sleeping.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BINARY: &str = env!("CARGO_BIN_EXE_warden");
const START_DEADLINE: Duration = Duration::from_secs(30);

/// A `warden` command with a clean environment.
pub fn warden() -> Command {
    let mut command = Command::new(BINARY);
    command.env_clear();
    if let Ok(path) = std::env::var("PATH") {
        command.env("PATH", path);
    }
    command.env("WARDEN_LOG", "warn");
    command
}

pub struct RunningServer {
    child: Child,
    pub api: String,
    pub gateway: String,
    /// The admin token, if this start printed one (the first start does).
    pub printed_token: Option<String>,
    pub data_dir: PathBuf,
}

impl RunningServer {
    /// Starts `warden serve` on ephemeral ports with `extra` arguments and environment.
    pub fn start(data_dir: &Path, extra_args: &[&str], extra_env: &[(&str, &str)]) -> Self {
        Self::start_on(
            data_dir,
            "127.0.0.1:0",
            "127.0.0.1:0",
            extra_args,
            extra_env,
        )
    }

    /// Starts `warden serve` on the given listen addresses.
    pub fn start_on(
        data_dir: &Path,
        api_listen: &str,
        gateway_listen: &str,
        extra_args: &[&str],
        extra_env: &[(&str, &str)],
    ) -> Self {
        Self::start_logging_to(
            data_dir,
            (api_listen, gateway_listen),
            extra_args,
            extra_env,
            Stdio::inherit(),
        )
    }

    /// Starts `warden serve` with its log (standard error) going to `log`.
    pub fn start_logging_to(
        data_dir: &Path,
        (api_listen, gateway_listen): (&str, &str),
        extra_args: &[&str],
        extra_env: &[(&str, &str)],
        log: Stdio,
    ) -> Self {
        let mut command = warden();
        command
            .args([
                "serve",
                "--api-listen",
                api_listen,
                "--gateway-listen",
                gateway_listen,
                "--data-dir",
            ])
            .arg(data_dir)
            .args(extra_args)
            .envs(extra_env.iter().copied());
        Self::launch(command, data_dir, log)
    }

    /// Starts `warden serve` on ephemeral ports with its open-files limit (soft and hard)
    /// set to `fd_limit`, as a small system would have it.
    pub fn start_with_fd_limit(data_dir: &Path, extra_args: &[&str], fd_limit: u32) -> Self {
        let mut command = Command::new("sh");
        command.env_clear();
        if let Ok(path) = std::env::var("PATH") {
            command.env("PATH", path);
        }
        command
            .env("WARDEN_LOG", "warn")
            .args(["-c", "ulimit -n \"$0\" && exec \"$@\""])
            .arg(fd_limit.to_string())
            .arg(BINARY)
            .args([
                "serve",
                "--api-listen",
                "127.0.0.1:0",
                "--gateway-listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(data_dir)
            .args(extra_args);
        Self::launch(command, data_dir, Stdio::inherit())
    }

    /// Spawns `command` (a `warden serve`, its log going to `log`) and waits for its
    /// listeners.
    fn launch(mut command: Command, data_dir: &Path, log: Stdio) -> Self {
        command.stdout(Stdio::piped()).stderr(log);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BINARY}: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let (lines_tx, lines_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut api, mut gateway, mut printed_token) = (None, None, None);
        let deadline = std::time::Instant::now() + START_DEADLINE;
        while api.is_none() || gateway.is_none() {
            let remaining = deadline.saturating_duration_since(std::time::Instant::now());
            let line = match lines_rx.recv_timeout(remaining) {
                Ok(line) => line,
                Err(_) => {
                    let _ = child.kill();
                    panic!("warden serve did not report its listeners within {START_DEADLINE:?}");
                }
            };
            if let Some(addr) = line.strip_prefix("warden: api listening on ") {
                api = Some(addr.to_string());
            } else if let Some(addr) = line.strip_prefix("warden: gateway listening on ") {
                gateway = Some(addr.to_string());
            }
        }
        // The token line follows the listener lines on a first start; drain what is there.
        while let Ok(line) = lines_rx.recv_timeout(Duration::from_millis(200)) {
            if let Some(token) = line.strip_prefix("warden: admin token: ") {
                printed_token = Some(token.to_string());
            }
        }
        Self {
            child,
            api: api.unwrap_or_default(),
            gateway: gateway.unwrap_or_default(),
            printed_token,
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap_or_else(|e| panic!("kill: {e}"));
        assert!(sent.success());
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap_or_else(|e| panic!("{e}")) {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "warden serve did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server with SIGKILL: no shutdown, no flushing, as in a crash.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Runs the CLI against this server with `token`.
    pub fn cli(&self, token: &str, args: &[&str]) -> CliResult {
        let output = warden()
            .env("WARDEN_ADDR", &self.api)
            .env("WARDEN_TOKEN", token)
            .args(args)
            .output();
        CliResult(output.unwrap_or_else(|e| panic!("cannot run warden: {e}")))
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct CliResult(pub Output);

impl CliResult {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    /// Asserts success and returns standard output.
    pub fn ok(&self) -> String {
        assert_eq!(
            self.code(),
            0,
            "expected success\nstdout: {}\nstderr: {}",
            self.stdout(),
            self.stderr()
        );
        self.stdout()
    }

    /// Asserts success and parses standard output as JSON.
    pub fn json(&self) -> serde_json::Value {
        let text = self.ok();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }
}

/// A fresh server with its data directory, and the admin token.
pub fn fresh_server() -> (tempfile::TempDir, RunningServer, String) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = RunningServer::start(&dir.path().join("data"), &[], &[]);
    let token = server
        .printed_token
        .clone()
        .unwrap_or_else(|| panic!("the first start must print the admin token"));
    (dir, server, token)
}
