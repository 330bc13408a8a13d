//! `warden scan` end to end: the real binary over real directories and Git repositories,
//! with planted secrets and decoys; exit statuses; no secret in any output.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use warden_crypto::secret::{Secret, SecretKind};
use warden_scan::validate::crc32_base62;

use crate::harness::warden;

/// A classic GitHub token with a valid checksum, built from `random` (30 base62 chars).
fn github_token(random: &str) -> String {
    let checksum = crc32_base62(random.as_bytes());
    format!("ghp_{random}{}", String::from_utf8_lossy(&checksum))
}

/// Secrets planted in a directory, to look for (and for in no output).
struct Planted {
    warden_secret: String,
    github: String,
    aws_key_id: String,
}

fn plant(dir: &Path) -> Planted {
    let planted = Planted {
        warden_secret: Secret::generate(SecretKind::ClientSecret)
            .expose()
            .to_owned(),
        github: github_token("Zq8r2KpV7xLm4NtWc9YeB3uHs6JdQa"),
        aws_key_id: "AKIAQ3EGRZL2MXH4B7WN".to_owned(),
    };
    std::fs::create_dir_all(dir.join("deploy")).unwrap();
    std::fs::write(
        dir.join("deploy/agent.yaml"),
        format!(
            "agent:\n  name: billing\n  client_secret: {}\n",
            planted.warden_secret
        ),
    )
    .unwrap();
    // Hidden files are where secrets live: `.env` is scanned.
    std::fs::write(
        dir.join(".env"),
        format!(
            "GITHUB_TOKEN={}\nAWS_ACCESS_KEY_ID={}\n",
            planted.github, planted.aws_key_id
        ),
    )
    .unwrap();
    let wrong_checksum = format!("ghp_Zq8r2KpV7xLm4NtWc9YeB3uHs6JdQa{}", "000000");
    std::fs::write(
        dir.join("README.md"),
        format!(
            "Set `AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE` and `GITHUB_TOKEN={wrong_checksum}`.\n\
             api_key = \"${{API_KEY}}\"\npassword = \"<your-password>\"\n\
             DATABASE_URL=postgres://postgres:postgres@localhost/app\n"
        ),
    )
    .unwrap();
    planted
}

fn run(args: &[&str]) -> Output {
    warden().args(args).output().expect("warden runs")
}

fn both_streams(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn assert_no_secret(output: &Output, planted: &Planted) {
    let text = both_streams(output);
    for secret in [&planted.warden_secret, &planted.github, &planted.aws_key_id] {
        assert!(
            !text.contains(secret.as_str()),
            "a secret was printed:\n{text}"
        );
        // Nor the part after what a preview may show.
        assert!(
            !text.contains(&secret[8..]),
            "part of a secret was printed:\n{text}"
        );
    }
}

fn findings(output: &Output) -> Vec<Value> {
    let document: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!("not JSON ({error}): {}", both_streams(output));
    });
    document["findings"].as_array().cloned().unwrap_or_default()
}

#[test]
fn scan_finds_planted_secrets_ignores_decoys_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let planted = plant(dir.path());
    let output = run(&["scan", dir.path().to_str().unwrap(), "--format", "json"]);
    assert_eq!(output.status.code(), Some(1), "{}", both_streams(&output));
    assert_no_secret(&output, &planted);

    let mut found: Vec<(String, String, u64)> = findings(&output)
        .iter()
        .map(|finding| {
            let path = finding["path"].as_str().unwrap();
            let name = Path::new(path).file_name().unwrap().to_string_lossy();
            (
                name.into_owned(),
                finding["kind"].as_str().unwrap().to_owned(),
                finding["line"].as_u64().unwrap(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            (".env".into(), "aws_access_key_id".into(), 2),
            (".env".into(), "github_pat".into(), 1),
            ("agent.yaml".into(), "warden_client_secret".into(), 3),
        ]
    );
    for finding in findings(&output) {
        assert!(
            finding["fingerprint"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );
        assert!(finding["preview"].as_str().unwrap().contains('…'));
        assert!(finding["column"].as_u64().unwrap() >= 1);
    }
}

#[test]
fn no_output_format_prints_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let planted = plant(dir.path());
    let path = dir.path().to_str().unwrap();
    for format in ["text", "json", "sarif"] {
        let output = run(&["scan", path, "--format", format]);
        assert_eq!(output.status.code(), Some(1), "{format}");
        assert_no_secret(&output, &planted);
    }
    let text = run(&["scan", path]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(
        stdout.contains(
            "agent.yaml:3:18: warden_client_secret [warden-client-secret, high confidence]"
        ),
        "{stdout}"
    );
}

#[test]
fn sarif_output_is_sarif_2_1_0_with_one_result_per_finding() {
    let dir = tempfile::tempdir().unwrap();
    plant(dir.path());
    let output = run(&["scan", dir.path().to_str().unwrap(), "--format", "sarif"]);
    assert_eq!(output.status.code(), Some(1));
    let sarif: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "warden");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    for result in results {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
        assert_eq!(result["level"], "error");
        let region = &result["locations"][0]["physicalLocation"]["region"];
        assert!(region["startLine"].as_u64().unwrap() >= 1);
        assert!(
            result["partialFingerprints"]["secretFingerprint/v1"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );
    }
}

#[test]
fn scan_skips_gitignored_and_binary_files_and_exits_0_when_clean() {
    let dir = tempfile::tempdir().unwrap();
    let secret = Secret::generate(SecretKind::Admin);
    std::fs::write(dir.path().join(".gitignore"), "ignored.txt\n").unwrap();
    std::fs::write(
        dir.path().join("ignored.txt"),
        format!("token = {}\n", secret.expose()),
    )
    .unwrap();
    let mut binary = b"\x7fELF\x02\x01\x01\0\0\0".to_vec();
    binary.extend_from_slice(format!("token = {}\n", secret.expose()).as_bytes());
    std::fs::write(dir.path().join("tool.bin"), binary).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "nothing to see here\n").unwrap();

    let output = run(&["scan", dir.path().to_str().unwrap(), "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", both_streams(&output));
    assert!(findings(&output).is_empty());
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(document["scanned"]["skipped_binary"], 1);
    // .gitignore and notes.txt; ignored.txt is not even visited.
    assert_eq!(document["scanned"]["files"], 2);
    assert!(!both_streams(&output).contains(secret.expose()));
}

#[test]
fn files_over_the_size_limit_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let secret = Secret::generate(SecretKind::Admin);
    let mut big = "x".repeat(4096);
    big.push_str(&format!("\ntoken = {}\n", secret.expose()));
    std::fs::write(dir.path().join("big.log"), big).unwrap();
    let path = dir.path().to_str().unwrap();

    let limited = run(&["scan", path, "--max-file-size", "1K", "--format", "json"]);
    assert_eq!(limited.status.code(), Some(0), "{}", both_streams(&limited));
    let document: Value = serde_json::from_slice(&limited.stdout).unwrap();
    assert_eq!(document["scanned"]["skipped_too_large"], 1);

    let unlimited = run(&["scan", path]);
    assert_eq!(unlimited.status.code(), Some(1));
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.org"])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git runs");
    assert!(
        status.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

fn git_stdout(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("git runs");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn git_mode_finds_a_secret_committed_then_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let token = github_token("Hk3pW9sLq2Zx7VbN4mRt8YcJ5uFdAe");
    git(repo, &["init", "-q"]);
    std::fs::write(repo.join("README.md"), "A project.\n").unwrap();
    std::fs::create_dir_all(repo.join("ci")).unwrap();
    std::fs::write(
        repo.join("ci/release.sh"),
        format!("#!/bin/sh\nexport GITHUB_TOKEN={token}\n./release\n"),
    )
    .unwrap();
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "release script"]);
    let leaking_commit = git_stdout(repo, &["rev-parse", "HEAD"]);
    std::fs::write(repo.join("ci/release.sh"), "#!/bin/sh\n./release\n").unwrap();
    git(repo, &["commit", "-q", "-am", "take the token out"]);

    // The working tree is clean now...
    let tree = run(&["scan", repo.to_str().unwrap()]);
    assert_eq!(tree.status.code(), Some(0), "{}", both_streams(&tree));

    // ...but the history is not.
    let history = run(&["scan", "--git", repo.to_str().unwrap(), "--format", "json"]);
    assert_eq!(history.status.code(), Some(1), "{}", both_streams(&history));
    assert!(!both_streams(&history).contains(&token));
    let found = findings(&history);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["kind"], "github_pat");
    assert_eq!(found[0]["path"], "ci/release.sh");
    assert_eq!(found[0]["commit"], leaking_commit.as_str());
    assert_eq!(found[0]["line"], 2);

    let text = run(&["scan", "--git", repo.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.starts_with(&format!("{}:ci/release.sh:2:", &leaking_commit[..12])),
        "{stdout}"
    );
}

#[test]
fn git_mode_outside_a_repository_fails_with_2() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(&["scan", "--git", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("git rev-list failed"));
}

#[test]
fn a_missing_path_fails_with_2_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let output = run(&["scan", missing.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no such file or directory"), "{stderr}");
}

#[test]
fn user_rules_add_to_the_builtin_ones_and_bad_rules_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("acme.toml");
    std::fs::write(
        &rules,
        r#"
[[rule]]
id = "acme-api-key"
kind = "acme_api_key"
description = "An ACME API key."
keywords = ["acme_live_"]
regex = '''\b(acme_live_[0-9a-z]{24})\b'''
secret_group = 1
min_entropy = 3.0
confidence = "high"
"#,
    )
    .unwrap();
    let scanned = dir.path().join("src");
    std::fs::create_dir_all(&scanned).unwrap();
    std::fs::write(
        scanned.join("main.py"),
        "KEY = 'acme_live_q8zr2kpv7xlm4ntwc9yeb3uh'\n",
    )
    .unwrap();
    let scanned = scanned.to_str().unwrap();

    let without = run(&["scan", scanned]);
    assert_eq!(without.status.code(), Some(0), "{}", both_streams(&without));
    let with = run(&["scan", scanned, "--rules", rules.to_str().unwrap()]);
    assert_eq!(with.status.code(), Some(1), "{}", both_streams(&with));
    assert!(String::from_utf8_lossy(&with.stdout).contains("acme_api_key [acme-api-key"));

    let text = std::fs::read_to_string(&rules)
        .unwrap()
        .replace("min_entropy", "min_entrpy");
    std::fs::write(&rules, text).unwrap();
    let refused = run(&["scan", scanned, "--rules", rules.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("acme.toml")
            && stderr.contains("\"acme-api-key\"")
            && stderr.contains("min_entrpy"),
        "{stderr}"
    );
    assert!(refused.stdout.is_empty(), "nothing was scanned");
}
