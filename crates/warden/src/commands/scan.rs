//! `warden scan`: finds leaked secrets in files and directories, or in every blob of a Git
//! repository's history, with the matcher of `warden-scan`.
//!
//! The walking lives here, the matching in `warden-scan` (bytes in, findings out). Files are
//! walked with the `ignore` crate (`.gitignore`, `.ignore` and global Git excludes honoured,
//! hidden files included, `.git` itself skipped), in parallel; a file larger than the limit
//! or with a NUL byte in its first 8 KiB is skipped and counted. With `--git`, the blobs are
//! every object `git rev-list --objects --all` reaches, read through one
//! `git cat-file --batch`; `git log --raw` names a commit that introduced each blob.
//! Nothing here needs a server, except `--report`, which asks it about each finding
//! (`POST /v1/leaks`): by fingerprint, or whole for the kinds in [`SENT_WHOLE`].
//!
//! Exit status: 0 when nothing was found, 1 when something was, 2 when the scan itself
//! failed (a bad path or rules file, Git failing, or files that could not be read).
//! No output, in any format, carries a secret: only the finding's redacted preview and
//! fingerprint.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use serde_json::{Value, json};
use warden_scan::{Confidence, Finding, Matcher, RuleFile, RuleSet};

use warden_crypto::Secret;

use crate::cli::{Global, OutputFormat, ScanArgs, ScanFormat};
use crate::client::{Client, Failure};
use crate::output;

/// Something was found.
pub const EXIT_FOUND: u8 = 1;
/// The scan could not be done, or not completely.
pub const EXIT_SCAN_FAILED: u8 = 2;

/// How much of a file's head is looked at to decide it is binary.
const BINARY_SNIFF: usize = 8 * 1024;

fn failed(message: impl Into<String>) -> Failure {
    Failure {
        message: message.into(),
        exit_code: EXIT_SCAN_FAILED,
    }
}

/// A finding and where it was: a file, or a path in a commit.
#[derive(Debug)]
struct Located {
    path: String,
    commit: Option<String>,
    finding: Finding,
    /// The matched value, kept (in memory only) for `--report` when the server needs it
    /// whole: see [`SENT_WHOLE`].
    value: Option<Secret>,
    /// The server's answer to `--report`.
    warden: Option<Value>,
}

/// The kinds `--report` sends whole: a Warden client secret is looked up by a keyed hash
/// only the server can compute, and an AWS access key id is an identifier, the one the
/// credential report names. Every other secret is reported by its fingerprint alone.
const SENT_WHOLE: &[&str] = &["warden_client_secret", "aws_access_key_id"];

impl Located {
    fn new(
        path: String,
        commit: Option<String>,
        finding: Finding,
        bytes: &[u8],
        keep: bool,
    ) -> Self {
        let value = (keep && SENT_WHOLE.contains(&finding.kind.as_str()))
            .then(|| bytes.get(finding.offset..finding.offset + finding.length))
            .flatten()
            .and_then(|value| std::str::from_utf8(value).ok())
            .map(|value| Secret::new(value.to_string()));
        Self {
            path,
            commit,
            finding,
            value,
            warden: None,
        }
    }
}

#[derive(Debug, Default)]
struct Stats {
    scanned: u64,
    bytes: u64,
    skipped_binary: u64,
    skipped_large: u64,
    unreadable: Vec<String>,
}

pub async fn run(args: ScanArgs, global: &Global) -> Result<u8, Failure> {
    let format = args.format.unwrap_or(match global.output.format() {
        Some(OutputFormat::Json) => ScanFormat::Json,
        Some(OutputFormat::Table) => ScanFormat::Text,
        None => {
            return Err(Failure::refused(
                "-o dot draws `warden graph agent`; give -o text or -o json",
            ));
        }
    });
    let matcher = load_matcher(&args.rules)?;
    for path in &args.paths {
        if !path.exists() {
            return Err(failed(format!(
                "{}: no such file or directory; give files, directories or (with --git) repositories",
                path.display()
            )));
        }
    }
    let mut stats = Stats::default();
    let mut found = if args.git {
        let mut found = Vec::new();
        for repository in &args.paths {
            found.extend(scan_git(
                repository,
                &matcher,
                args.max_file_size,
                args.report,
                &mut stats,
            )?);
        }
        found
    } else {
        scan_files(
            &args.paths,
            &matcher,
            args.max_file_size,
            args.report,
            &mut stats,
        )?
    };
    found.sort_by(|a, b| {
        (&a.path, &a.commit, a.finding.offset).cmp(&(&b.path, &b.commit, b.finding.offset))
    });
    if args.report && !found.is_empty() {
        let client = Client::new(&global.addr, global.token.clone())?;
        report(&client, &mut found, args.revoke).await?;
    }

    match format {
        ScanFormat::Text => {
            for line in render_text(&found) {
                output::line(&line);
            }
        }
        ScanFormat::Json => output::json(&render_json(&found, &stats)),
        ScanFormat::Sarif => output::json(&render_sarif(&found, &matcher)),
    }
    for path in &stats.unreadable {
        output::note(&format!("warning: {path}: could not be read, not scanned"));
    }
    output::note(&summary(&found, &stats, args.max_file_size));
    if !found.is_empty() {
        Ok(EXIT_FOUND)
    } else if !stats.unreadable.is_empty() {
        Err(failed(format!(
            "{} file(s) could not be read, so the scan is incomplete",
            stats.unreadable.len()
        )))
    } else {
        Ok(0)
    }
}

fn load_matcher(rule_files: &[PathBuf]) -> Result<Matcher, Failure> {
    let mut set = RuleSet::builtin().map_err(|error| failed(error.to_string()))?;
    for path in rule_files {
        let text = std::fs::read_to_string(path).map_err(|error| {
            failed(format!(
                "{}: cannot read rules file: {error}",
                path.display()
            ))
        })?;
        let file = RuleFile::parse(&path.display().to_string(), &text)
            .map_err(|error| failed(error.to_string()))?;
        set.extend(file);
    }
    Matcher::new(&set).map_err(|error| failed(error.to_string()))
}

fn is_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(BINARY_SNIFF)].contains(&0)
}

/// Walks files and directories in parallel and scans every text file within the limit.
fn scan_files(
    paths: &[PathBuf],
    matcher: &Matcher,
    max_file_size: u64,
    keep_values: bool,
    stats: &mut Stats,
) -> Result<Vec<Located>, Failure> {
    let Some((first, rest)) = paths.split_first() else {
        return Ok(Vec::new());
    };
    let mut builder = ignore::WalkBuilder::new(first);
    for path in rest {
        builder.add(path);
    }
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    builder
        .hidden(false)
        .require_git(false)
        .follow_links(false)
        .threads(threads)
        .filter_entry(|entry| entry.file_name() != ".git");
    let found = Mutex::new(Vec::new());
    let shared = Mutex::new(std::mem::take(stats));
    builder.build_parallel().run(|| {
        Box::new(|entry| {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    lock(&shared).unreadable.push(walk_error_path(&error));
                    return ignore::WalkState::Continue;
                }
            };
            if !entry.file_type().is_some_and(|kind| kind.is_file()) {
                return ignore::WalkState::Continue;
            }
            let path = entry.path();
            let display = display_path(path);
            match read_bounded(path, max_file_size) {
                Ok(None) => lock(&shared).skipped_large += 1,
                Ok(Some(bytes)) if is_binary(&bytes) => lock(&shared).skipped_binary += 1,
                Ok(Some(bytes)) => {
                    let findings = matcher.scan(&bytes);
                    {
                        let mut stats = lock(&shared);
                        stats.scanned += 1;
                        stats.bytes += bytes.len() as u64;
                    }
                    if !findings.is_empty() {
                        lock(&found).extend(findings.into_iter().map(|finding| {
                            Located::new(display.clone(), None, finding, &bytes, keep_values)
                        }));
                    }
                }
                Err(_) => lock(&shared).unreadable.push(display),
            }
            ignore::WalkState::Continue
        })
    });
    *stats = shared
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Ok(found
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner()))
}

/// A poisoned lock only means another walker thread panicked; its data is still counts.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn walk_error_path(error: &ignore::Error) -> String {
    match error {
        ignore::Error::WithPath { path, .. } => display_path(path),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            walk_error_path(err)
        }
        other => other.to_string(),
    }
}

fn display_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    text.strip_prefix("./").unwrap_or(&text).to_owned()
}

/// The file's bytes, or `None` when it is larger than the limit (checked before reading,
/// and again while reading, for files that grow).
fn read_bounded(path: &Path, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    let file = std::fs::File::open(path)?;
    if file.metadata()?.len() > max {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Ok(None);
    }
    Ok(Some(bytes))
}

fn git(repository: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .arg("-C")
        .arg(repository)
        .args(["-c", "core.quotePath=false"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Runs a git command to completion and returns its standard output.
fn git_output(repository: &Path, args: &[&str]) -> Result<Vec<u8>, Failure> {
    let output = git(repository)
        .args(args)
        .stdout(Stdio::piped())
        .output()
        .map_err(|error| failed(format!("cannot run git (is it installed?): {error}")))?;
    if !output.status.success() {
        return Err(failed(format!(
            "{}: git {} failed: {}",
            repository.display(),
            args.first().copied().unwrap_or_default(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(output.stdout)
}

/// Scans every blob reachable from any ref of `repository`.
fn scan_git(
    repository: &Path,
    matcher: &Matcher,
    max_file_size: u64,
    keep_values: bool,
    stats: &mut Stats,
) -> Result<Vec<Located>, Failure> {
    // Every reachable object, with the path it was reached by (commits have none).
    let objects = git_output(repository, &["rev-list", "--objects", "--all"])?;
    let mut paths: HashMap<String, String> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    for line in String::from_utf8_lossy(&objects).lines() {
        let (id, path) = line.split_once(' ').unwrap_or((line, ""));
        if !id.is_empty() && !paths.contains_key(id) {
            paths.insert(id.to_owned(), path.to_owned());
            order.push(id.to_owned());
        }
    }
    let introduced = introducing_commits(repository)?;

    let mut child = git(repository)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| failed(format!("cannot run git (is it installed?): {error}")))?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(failed("git cat-file: no pipes to talk to it"));
    };
    let mut found = Vec::new();
    let result = std::thread::scope(|scope| {
        // Feed the ids on another thread, so neither side waits for the other's pipe.
        let feeder = scope.spawn(move || -> std::io::Result<()> {
            for id in &order {
                writeln!(stdin, "{id}")?;
            }
            Ok(())
        });
        let mut reader = BufReader::with_capacity(1 << 20, stdout);
        let mut header = Vec::new();
        let mut content = Vec::new();
        loop {
            header.clear();
            if reader.read_until(b'\n', &mut header)? == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&header);
            let mut fields = text.split_whitespace();
            let (Some(id), Some(kind)) = (fields.next(), fields.next()) else {
                continue;
            };
            if kind == "missing" {
                continue;
            }
            let size: u64 = fields
                .next()
                .and_then(|size| size.parse().ok())
                .unwrap_or(0);
            content.clear();
            (&mut reader).take(size).read_to_end(&mut content)?;
            let mut newline = [0u8; 1];
            reader.read_exact(&mut newline)?;
            if kind != "blob" {
                continue;
            }
            if size > max_file_size {
                stats.skipped_large += 1;
                continue;
            }
            if is_binary(&content) {
                stats.skipped_binary += 1;
                continue;
            }
            stats.scanned += 1;
            stats.bytes += size;
            let findings = matcher.scan(&content);
            if findings.is_empty() {
                continue;
            }
            let (commit, path) = match introduced.get(id) {
                Some((commit, path)) => (Some(commit.clone()), path.clone()),
                None => (None, paths.get(id).cloned().unwrap_or_default()),
            };
            found.extend(findings.into_iter().map(|finding| {
                Located::new(path.clone(), commit.clone(), finding, &content, keep_values)
            }));
        }
        match feeder.join() {
            Ok(result) => result,
            Err(_) => Err(std::io::Error::other("the id feeder stopped")),
        }
    });
    let status = child.wait();
    if let Err(error) = result {
        return Err(failed(format!(
            "{}: reading blobs from git cat-file failed: {error}",
            repository.display()
        )));
    }
    match status {
        Ok(status) if status.success() => Ok(found),
        _ => Err(failed(format!(
            "{}: git cat-file --batch failed",
            repository.display()
        ))),
    }
}

/// For each blob, the oldest commit (reachable from any ref) whose change added or modified
/// it, with the path it had there.
fn introducing_commits(repository: &Path) -> Result<HashMap<String, (String, String)>, Failure> {
    let log = git_output(
        repository,
        &[
            "log",
            "--all",
            "-m",
            "--raw",
            "--no-abbrev",
            "--no-renames",
            "--format=%x00%H",
        ],
    )?;
    let mut introduced = HashMap::new();
    let mut commit = String::new();
    for line in String::from_utf8_lossy(&log).lines() {
        if let Some(id) = line.strip_prefix('\0') {
            commit = id.to_owned();
            continue;
        }
        // :old_mode new_mode old_id new_id status<TAB>path
        let Some(change) = line.strip_prefix(':') else {
            continue;
        };
        let Some((meta, path)) = change.split_once('\t') else {
            continue;
        };
        let fields: Vec<&str> = meta.split_whitespace().collect();
        if let [_, _, _, new_id, status] = fields.as_slice()
            && !status.starts_with('D')
        {
            // `git log` goes newest first; the last write wins, so the oldest is kept.
            introduced.insert((*new_id).to_owned(), (commit.clone(), path.to_owned()));
        }
    }
    Ok(introduced)
}

/// Asks the server about every finding, in order (`POST /v1/leaks`), and keeps its answers.
/// A refusal stops the scan: exit status 2, since what was found is not all reported.
async fn report(client: &Client, found: &mut [Located], revoke: bool) -> Result<(), Failure> {
    for item in found.iter_mut() {
        let mut body = json!({
            "fingerprint": item.finding.fingerprint,
            "kind": item.finding.kind,
            "revoke": revoke,
            "location": {
                "path": item.path,
                "line": item.finding.line,
                "column": item.finding.column,
                "commit": item.commit,
                "source": "warden scan",
            },
        });
        if let Some(value) = item.value.take() {
            body["secret"] = Value::String(value.expose().to_string());
        }
        let answer = client.post("/v1/leaks", Some(body)).await;
        let answer = answer.map_err(|failure| {
            failed(format!(
                "{}: reporting to Warden failed: {}",
                location(item),
                failure.message
            ))
        })?;
        item.warden = Some(answer_summary(&answer));
    }
    Ok(())
}

/// The part of the server's answer a scan prints.
fn answer_summary(answer: &Value) -> Value {
    let report = &answer["report"];
    json!({
        "known": answer["known"],
        "matched": report["matched"],
        "identity": match (report["identity_kind"].as_str(), report["identity_name"].as_str()) {
            (Some(kind), Some(name)) => Value::String(format!("{kind}:{name}")),
            _ => Value::Null,
        },
        "credential": report["credential_id"],
        "response": report["response"],
        "switched_off": answer["switched_off"],
        "report": report["id"],
        "finding": answer["finding"]["id"],
        "remediation": answer["finding"]["remediation"],
    })
}

fn warden_line(answer: &Value) -> String {
    if answer["known"] != Value::Bool(true) {
        return "    warden: not a secret Warden knows".to_string();
    }
    let mut line = format!(
        "    warden: {} of {}",
        output::cell(answer.get("matched")),
        output::cell(answer.get("identity"))
    );
    match answer["response"].as_str() {
        Some("revoked") => line.push_str(", revoked with every token derived from it"),
        Some("suspended") => line.push_str(", identity suspended in Warden"),
        _ => {}
    }
    if let Some(finding) = answer["finding"].as_str() {
        line.push_str(&format!("; finding {finding}"));
    }
    if let Some(remedy) = answer["remediation"].as_str() {
        line.push_str(&format!("\n    fix: {remedy}"));
    }
    line
}

fn location(found: &Located) -> String {
    let place = format!(
        "{}:{}:{}",
        found.path, found.finding.line, found.finding.column
    );
    match &found.commit {
        Some(commit) => format!("{}:{place}", &commit[..commit.len().min(12)]),
        None => place,
    }
}

fn render_text(found: &[Located]) -> Vec<String> {
    let mut lines = Vec::with_capacity(found.len());
    for item in found {
        lines.push(format!(
            "{}: {} [{}, {} confidence] {} {}",
            location(item),
            item.finding.kind,
            item.finding.rule_id,
            item.finding.confidence.as_str(),
            item.finding.preview,
            item.finding.fingerprint
        ));
        if let Some(answer) = &item.warden {
            lines.push(warden_line(answer));
        }
    }
    lines
}

fn render_json(found: &[Located], stats: &Stats) -> Value {
    let findings: Vec<Value> = found
        .iter()
        .map(|item| {
            let mut entry = json!({
                "path": item.path,
                "commit": item.commit,
                "line": item.finding.line,
                "column": item.finding.column,
                "offset": item.finding.offset,
                "length": item.finding.length,
                "kind": item.finding.kind,
                "rule": item.finding.rule_id,
                "confidence": item.finding.confidence,
                "preview": item.finding.preview,
                "fingerprint": item.finding.fingerprint,
            });
            if let Some(answer) = &item.warden {
                entry["warden"] = answer.clone();
            }
            entry
        })
        .collect();
    json!({
        "findings": findings,
        "scanned": {
            "files": stats.scanned,
            "bytes": stats.bytes,
            "skipped_binary": stats.skipped_binary,
            "skipped_too_large": stats.skipped_large,
            "unreadable": stats.unreadable,
        },
    })
}

fn sarif_level(confidence: Confidence) -> &'static str {
    match confidence {
        Confidence::High => "error",
        Confidence::Medium => "warning",
        Confidence::Low => "note",
    }
}

/// SARIF 2.1.0: one run, the rules that ran as the driver's rules, one result per finding
/// with the fingerprint as its partial fingerprint.
fn render_sarif(found: &[Located], matcher: &Matcher) -> Value {
    let rules: Vec<_> = matcher.rules().collect();
    let rule_entries: Vec<Value> = rules
        .iter()
        .map(|rule| {
            json!({
                "id": rule.id,
                "name": rule.kind,
                "shortDescription": { "text": rule.description },
                "defaultConfiguration": { "level": sarif_level(rule.confidence) },
                "properties": { "confidence": rule.confidence },
            })
        })
        .collect();
    let results: Vec<Value> = found
        .iter()
        .map(|item| {
            let finding = &item.finding;
            let mut properties = json!({
                "confidence": finding.confidence,
                "preview": finding.preview,
            });
            if let Some(commit) = &item.commit {
                properties["commit"] = json!(commit);
            }
            let mut result = json!({
                "ruleId": finding.rule_id,
                "level": sarif_level(finding.confidence),
                "message": { "text": format!("A {} was found: {}", finding.kind, finding.preview) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": item.path },
                        "region": {
                            "startLine": finding.line,
                            "startColumn": finding.column,
                        },
                    },
                }],
                "partialFingerprints": { "secretFingerprint/v1": finding.fingerprint },
                "properties": properties,
            });
            if let Some(index) = rules.iter().position(|rule| rule.id == finding.rule_id) {
                result["ruleIndex"] = json!(index);
            }
            result
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "warden",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rule_entries,
                },
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    })
}

fn summary(found: &[Located], stats: &Stats, max_file_size: u64) -> String {
    let mut text = format!(
        "{} finding(s); scanned {} file(s), {} bytes",
        found.len(),
        stats.scanned,
        stats.bytes
    );
    if stats.skipped_binary > 0 || stats.skipped_large > 0 {
        text.push_str(&format!(
            "; skipped {} binary and {} larger than {max_file_size} bytes",
            stats.skipped_binary, stats.skipped_large
        ));
    }
    text
}

/// Parses a size such as `10485760`, `512K`, `10M` or `1G` (powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((index, _)) => text.split_at(index),
        None => (text, ""),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size: give bytes, or a number with K, M or G"))?;
    let factor: u64 = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(format!("`{text}`: unknown unit `{unit}`; use K, M or G")),
    };
    number
        .checked_mul(factor)
        .filter(|&size| size > 0)
        .ok_or_else(|| format!("`{text}` is not a usable size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("10M"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_size("512k"), Ok(512 * 1024));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0").is_err());
        assert!(parse_size("ten").is_err());
        assert!(parse_size("10X").is_err());
    }

    #[test]
    fn binary_means_a_nul_in_the_head() {
        assert!(is_binary(b"PK\x03\x04\0\0"));
        assert!(!is_binary(b"plain text"));
        let mut late = vec![b'a'; BINARY_SNIFF];
        late.push(0);
        assert!(
            !is_binary(&late),
            "a NUL past the first 8 KiB does not count"
        );
    }
}
