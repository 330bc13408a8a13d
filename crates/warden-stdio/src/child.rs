//! One running local MCP server: the process (its own process group, a minimal
//! environment, no shell), the task that writes requests to its stdin, the task that reads
//! its stdout, and the requests in flight, matched to answers by ids the bridge assigns.
//!
//! Several clients share one child, so their ids could collide: each request is sent under a
//! fresh numeric id and the client's own id is put back on the answer. A line that is not
//! an answer to a request in flight is logged and dropped, never passed to anyone.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use zeroize::Zeroizing;

use crate::frame::{self, ChildMessage, Line, LineSplitter};

/// Why a request got no answer from the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("the local MCP server exited before it answered; Warden is restarting it")]
    Exited,
    #[error("the local MCP server did not answer in time")]
    Timeout,
}

/// What a child is started from.
#[derive(Clone)]
pub struct Launch {
    pub upstream: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The variable and the opened secret; the value is wiped when the launch is dropped.
    pub secret: Option<(String, Zeroizing<String>)>,
}

impl std::fmt::Debug for Launch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launch")
            .field("upstream", &self.upstream)
            .field("program", &self.program)
            .field("args", &self.args)
            .field("secret", &self.secret.as_ref().map(|(name, _)| name))
            .finish()
    }
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Map<String, Value>, CallError>>>>>;

/// The bridge's handle on a running child.
#[derive(Debug)]
pub struct Connection {
    upstream: String,
    to_child: mpsc::Sender<Vec<u8>>,
    pending: Pending,
    next_id: AtomicU64,
    /// The child's answer to the bridge's `initialize`, given to every client that
    /// initializes (with the client's own id).
    pub initialized: Mutex<Option<Value>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Connection {
    /// Sends `request` under a fresh id and waits for its answer, which comes back with
    /// the caller's id in place of the bridge's.
    pub async fn call(
        &self,
        mut request: Map<String, Value>,
        timeout: std::time::Duration,
    ) -> Result<Map<String, Value>, CallError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let caller_id = request
            .insert("id".into(), json!(id))
            .unwrap_or(Value::Null);
        let (answer_tx, answer_rx) = oneshot::channel();
        lock(&self.pending).insert(id, answer_tx);
        // However this call ends (answered, timed out, or its client went away), the id
        // leaves the table, so a child that never answers cannot grow it.
        let _in_flight = InFlight {
            pending: &self.pending,
            id,
        };
        let line = serde_json::to_vec(&Value::Object(request)).unwrap_or_default();
        if self.to_child.send(line).await.is_err() {
            return Err(CallError::Exited);
        }
        let answer = match tokio::time::timeout(timeout, answer_rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(CallError::Exited),
            Err(_) => Err(CallError::Timeout),
        };
        answer.map(|mut message| {
            message.insert("id".into(), caller_id);
            message
        })
    }

    /// Sends a notification as it is (after `rewrite_cancel` for a cancellation).
    pub async fn notify(&self, notification: Map<String, Value>) -> Result<(), CallError> {
        let line = serde_json::to_vec(&Value::Object(notification)).unwrap_or_default();
        self.to_child
            .send(line)
            .await
            .map_err(|_| CallError::Exited)
    }

    /// Whether the child is still there to write to.
    pub fn is_open(&self) -> bool {
        !self.to_child.is_closed()
    }

    pub fn upstream(&self) -> &str {
        &self.upstream
    }
}

/// A started child: the handle the bridge uses, and the process to wait on or kill.
pub struct Running {
    pub connection: Arc<Connection>,
    pub process: Child,
    pub process_group: Option<rustix::process::Pid>,
}

/// Finds the program: an absolute path that is an executable file, or a bare name looked up
/// in `path` (Warden's own PATH). The error says what to do.
pub fn resolve_program(command: &str, path: Option<&std::ffi::OsStr>) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |candidate: &Path| {
        std::fs::metadata(candidate)
            .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    };
    if command.starts_with('/') {
        return if executable(Path::new(command)) {
            Ok(PathBuf::from(command))
        } else {
            Err(format!(
                "`{command}` is not an executable file on the Warden host; give the absolute path of the MCP server's program"
            ))
        };
    }
    if command.contains('/') {
        return Err(format!(
            "`{command}` is a relative path; give an absolute path, or a bare name to look up on PATH"
        ));
    }
    path.into_iter()
        .flat_map(std::env::split_paths)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(command))
        .find(|candidate| executable(candidate))
        .ok_or_else(|| {
            format!(
                "`{command}` is not found on the PATH of the Warden server; install it, or give its absolute path"
            )
        })
}

/// The PATH a child gets when Warden has none.
const FALLBACK_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

struct InFlight<'a> {
    pending: &'a Pending,
    id: u64,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        lock(self.pending).remove(&self.id);
    }
}

/// Starts the child: no shell, its own process group (so every process it starts is
/// stopped with it), an environment of PATH, HOME and the secret only, stdin and stdout
/// for JSON-RPC, stderr to Warden's log with the secret redacted.
pub fn spawn(launch: &Launch) -> std::io::Result<Running> {
    let mut command = Command::new(&launch.program);
    command
        .args(&launch.args)
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| FALLBACK_PATH.into()),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(home) = std::env::var_os("HOME") {
        command.env("HOME", home);
    }
    if let Some((name, value)) = &launch.secret {
        command.env(name, value.as_str());
    }
    let mut process = command.spawn()?;
    let process_group = process
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw);
    let (stdin, stdout, stderr) = match (
        process.stdin.take(),
        process.stdout.take(),
        process.stderr.take(),
    ) {
        (Some(stdin), Some(stdout), Some(stderr)) => (stdin, stdout, stderr),
        _ => return Err(std::io::Error::other("the child's pipes were not opened")),
    };
    let secret = launch
        .secret
        .as_ref()
        .map(|(_, value)| Arc::new(value.clone()));
    let (to_child, from_bridge) = mpsc::channel::<Vec<u8>>(64);
    let pending: Pending = Arc::default();
    tokio::spawn(write_requests(stdin, from_bridge));
    tokio::spawn(read_answers(
        launch.upstream.clone(),
        stdout,
        Arc::clone(&pending),
        secret.clone(),
    ));
    tokio::spawn(log_stderr(launch.upstream.clone(), stderr, secret));
    Ok(Running {
        connection: Arc::new(Connection {
            upstream: launch.upstream.clone(),
            to_child,
            pending,
            next_id: AtomicU64::new(1),
            initialized: Mutex::new(None),
        }),
        process,
        process_group,
    })
}

async fn write_requests(mut stdin: tokio::process::ChildStdin, mut lines: mpsc::Receiver<Vec<u8>>) {
    while let Some(mut line) = lines.recv().await {
        line.push(b'\n');
        if stdin.write_all(&line).await.is_err() || stdin.flush().await.is_err() {
            return;
        }
    }
}

/// Reads the child's stdout to its end; every request still in flight then fails with
/// `Exited`, so no client waits for an answer that cannot come.
async fn read_answers(
    upstream: String,
    mut stdout: tokio::process::ChildStdout,
    pending: Pending,
    secret: Option<Arc<Zeroizing<String>>>,
) {
    let mut splitter = LineSplitter::new(frame::MAX_LINE_BYTES);
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match stdout.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        for line in splitter.feed(&buffer[..read]) {
            let line = match line {
                Line::Complete(line) => line,
                Line::Overlong { dropped } => {
                    tracing::warn!(%upstream, bytes = dropped, "the local MCP server wrote a line longer than the limit; dropped it");
                    continue;
                }
            };
            match frame::classify(&line) {
                ChildMessage::Answer { id, mut message } => {
                    let waiting = lock(&pending).remove(&id);
                    let Some(waiting) = waiting else {
                        tracing::warn!(%upstream, "the local MCP server answered a request that is not in flight; dropped it");
                        continue;
                    };
                    if let Some(secret) = &secret {
                        for value in message.values_mut() {
                            frame::redact(value, secret.as_str());
                        }
                    }
                    let _ = waiting.send(Ok(message));
                }
                ChildMessage::Request { method, .. } => {
                    // The bridge declares no client capabilities, so a well-behaved server
                    // sends none; see `bridge` for why they are not passed on.
                    tracing::info!(%upstream, method = %truncate(&method), "the local MCP server sent a request to its client; it is not passed on");
                }
                ChildMessage::Notification { method } => {
                    tracing::debug!(%upstream, method = %truncate(&method), "a notification from the local MCP server; not passed on");
                }
                ChildMessage::Invalid(what) => {
                    tracing::warn!(%upstream, what, "the local MCP server wrote something that is not JSON-RPC; dropped it");
                }
            }
        }
    }
    for (_, waiting) in lock(&pending).drain() {
        let _ = waiting.send(Err(CallError::Exited));
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

/// The longest stderr line logged; longer ones are noted and dropped, never cut (a cut
/// could leave part of the secret that redaction would no longer recognise).
const MAX_LOGGED_LINE: usize = 16 * 1024;

async fn log_stderr(
    upstream: String,
    mut stderr: tokio::process::ChildStderr,
    secret: Option<Arc<Zeroizing<String>>>,
) {
    let mut splitter = LineSplitter::new(MAX_LOGGED_LINE);
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match stderr.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        for line in splitter.feed(&buffer[..read]) {
            let Line::Complete(line) = line else {
                tracing::info!(%upstream, "the local MCP server wrote an overlong stderr line; not logged");
                continue;
            };
            let mut text = String::from_utf8_lossy(&line).into_owned();
            if let Some(secret) = &secret
                && !secret.is_empty()
            {
                text = text.replace(secret.as_str(), "[redacted]");
            }
            let text: String = text.chars().filter(|c| !c.is_control()).collect();
            tracing::info!(%upstream, line = %text, "local MCP server stderr");
        }
    }
}
