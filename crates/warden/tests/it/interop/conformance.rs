//! The official MCP conformance suite (npm `@modelcontextprotocol/conformance`, 0.2.0 line)
//! run against the project's conformance server (`tests/interop/conformance-server.mjs`)
//! twice per protocol revision: directly, and through Warden's gateway with a permit-all
//! policy. Every scenario that passes directly must pass through the gateway.
//!
//! The suite's `server` command has no option for request headers or credentials, so its
//! process is made to send a bearer token with `tests/interop/bearer-preload.mjs`: the
//! upstream's own secret directly, the agent's token through the gateway. The conformance
//! server refuses any other credential, so the gateway runs also prove that the gateway
//! swapped the agent's token for the upstream's secret.
//!
//! Each test prints the comparison, scenario by scenario, with the first failing checks of
//! each side, so a failing run is also the measurement of what the gateway lacks.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::tools::{Gateway, Tools, run_to_end, spawn_listening};

/// The conformance server's own credential, which the gateway injects in place of the
/// agent's token.
const UPSTREAM_SECRET: &str = "conformance-upstream-secret-0123456789";
const AGENT: &str = "interop-bot";
const PERMIT_ALL: &str = r#"permit(principal == Agent::"interop-bot", action, resource);"#;
/// A whole suite run; each scenario has its own 30 s timeout inside the suite.
const SUITE_DEADLINE: Duration = Duration::from_secs(600);

/// How one scenario ended.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Passed,
    /// The failing checks, as `id: message`.
    Failed(String),
    /// The run produced no result for the scenario.
    Missing,
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Passed => "pass",
            Outcome::Failed(_) => "FAIL",
            Outcome::Missing => "none",
        }
    }

    fn message(&self) -> &str {
        match self {
            Outcome::Failed(message) => message,
            Outcome::Passed => "",
            Outcome::Missing => "no result",
        }
    }
}

/// Runs the suite's scenarios for `revision` (`--requirements`, which also runs the
/// revision's unscored scenarios) against `url`, presenting `bearer` to `origin`.
fn run_suite(
    tools: &Tools,
    url: &str,
    revision: &str,
    (bearer, origin): (&str, &str),
    out: &Path,
) -> BTreeMap<String, Outcome> {
    let mut command = tools.node();
    command
        .arg("--import")
        .arg(tools.script("bearer-preload.mjs"))
        .arg(
            tools
                .prefix
                .join("node_modules/@modelcontextprotocol/conformance/dist/index.js"),
        )
        .args(["server", "--url", url, "--requirements", revision, "-o"])
        .arg(out)
        .env("WARDEN_INTEROP_BEARER", bearer)
        .env("WARDEN_INTEROP_BEARER_ORIGIN", origin)
        .env("WARDEN_INTEROP_PREFIX", &tools.prefix);
    // The suite exits non-zero when a scenario fails; the results are read from `out`.
    let finished = run_to_end(command, SUITE_DEADLINE);
    let results = read_results(out);
    assert!(
        !results.is_empty(),
        "the conformance suite wrote no results for {url}:\n{}\n{}",
        finished.stdout,
        finished.stderr
    );
    results
}

/// The suite writes `server-SCENARIO-TIMESTAMP/checks.json` per scenario; a scenario fails
/// when any of its checks does.
fn read_results(out: &Path) -> BTreeMap<String, Outcome> {
    let mut results = BTreeMap::new();
    for entry in std::fs::read_dir(out).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let Some(scenario) = scenario_of(&name) else {
            continue;
        };
        let checks: Value = std::fs::read(dir.join("checks.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or(Value::Null);
        let Some(checks) = checks.as_array() else {
            results.insert(scenario, Outcome::Missing);
            continue;
        };
        let failing: Vec<String> = checks
            .iter()
            .filter(|check| matches!(check["status"].as_str(), Some("FAILURE" | "ERROR")))
            .map(|check| {
                format!(
                    "{}: {}",
                    check["id"].as_str().unwrap_or("?"),
                    check["errorMessage"].as_str().unwrap_or("(no message)")
                )
            })
            .collect();
        let outcome = if failing.is_empty() {
            Outcome::Passed
        } else {
            Outcome::Failed(failing.join(" | "))
        };
        results.insert(scenario, outcome);
    }
    results
}

/// `server-tools-list-2026-12-02T18-27-25-093Z` → `tools-list`.
fn scenario_of(dir_name: &str) -> Option<String> {
    let rest = dir_name.strip_prefix("server-")?;
    // The timestamp is `YYYY-MM-DDTHH-MM-SS-mmmZ`, 24 characters, after a dash.
    let cut = rest.len().checked_sub(25)?;
    let (scenario, stamp) = rest.split_at(cut);
    (stamp.starts_with('-') && stamp.ends_with('Z') && stamp.as_bytes()[11] == b'T')
        .then(|| scenario.to_string())
}

/// The server scenarios the suite's requirement set for `revision` scores (its `server:`
/// list), read from the installed suite.
fn scored(tools: &Tools, revision: &str) -> Vec<String> {
    let path = tools.prefix.join(format!(
        "node_modules/@modelcontextprotocol/conformance/requirements/{revision}.yaml"
    ));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip_while(|line| *line != "server:")
        .skip(1)
        .take_while(|line| line.starts_with("  - "))
        .map(|line| line.trim_start_matches("  - ").trim().to_string())
        .collect()
}

/// The comparison as a table: scenario, whether the revision scores it, both outcomes,
/// and the failing checks.
fn table(
    revision: &str,
    scored: &[String],
    direct: &BTreeMap<String, Outcome>,
    gateway: &BTreeMap<String, Outcome>,
) -> String {
    let count = |results: &BTreeMap<String, Outcome>| {
        results.values().filter(|o| **o == Outcome::Passed).count()
    };
    let mut out = format!(
        "conformance {revision}: {} of {} scenarios pass directly, {} of {} through the gateway\n",
        count(direct),
        direct.len(),
        count(gateway),
        direct.len()
    );
    let width = direct.keys().map(String::len).max().unwrap_or(8);
    let _ = writeln!(
        out,
        "{:width$}  scored  direct  gateway  failing checks",
        "scenario"
    );
    for (scenario, outcome) in direct {
        let through = gateway.get(scenario).unwrap_or(&Outcome::Missing);
        let is_scored = if scored.contains(scenario) {
            "yes"
        } else {
            "no"
        };
        let mut messages = Vec::new();
        if outcome != &Outcome::Passed {
            messages.push(format!("direct: {}", outcome.message()));
        }
        if through != &Outcome::Passed {
            messages.push(format!("gateway: {}", through.message()));
        }
        let message = messages.join(" || ");
        let message: String = message.chars().take(400).collect();
        let _ = writeln!(
            out,
            "{scenario:width$}  {is_scored:6}  {:6}  {:7}  {message}",
            outcome.label(),
            through.label(),
        );
    }
    out
}

fn the_suite_passes_through_the_gateway_as_it_does_directly(revision: &str) {
    let tools = Tools::get();
    let mut command = tools.node();
    command
        .arg(tools.script("conformance-server.mjs"))
        .arg("0")
        .env("CONFORMANCE_SERVER_BEARER", UPSTREAM_SECRET);
    let upstream = spawn_listening(command, "conformance-server listening on ");
    let origin = upstream.url.trim_end_matches("/mcp").to_string();

    // The upstream is registered by its natural URL, path included.
    let gateway = Gateway::deploy(
        "conformance",
        &upstream.url,
        UPSTREAM_SECRET,
        AGENT,
        PERMIT_ALL,
    );
    let results = tempfile::tempdir().unwrap();

    let direct = run_suite(
        tools,
        &upstream.url,
        revision,
        (UPSTREAM_SECRET, &origin),
        &results.path().join("direct"),
    );
    let through = run_suite(
        tools,
        &gateway.url_of("conformance"),
        revision,
        (&gateway.agent_token, &gateway.server.gateway),
        &results.path().join("gateway"),
    );

    let scored = scored(tools, revision);
    let report = table(revision, &scored, &direct, &through);

    // The control: the conformance server passes every scenario the revision scores.
    let unmet: Vec<&String> = scored
        .iter()
        .filter(|scenario| direct.get(*scenario) != Some(&Outcome::Passed))
        .collect();
    assert!(
        unmet.is_empty(),
        "the conformance server itself fails scored scenarios {unmet:?}\n{report}"
    );
    let regressed: Vec<&String> = direct
        .iter()
        .filter(|(scenario, outcome)| {
            **outcome == Outcome::Passed && through.get(*scenario) != Some(&Outcome::Passed)
        })
        .map(|(scenario, _)| scenario)
        .collect();
    assert!(
        regressed.is_empty(),
        "{} scenarios pass directly but not through the gateway: {regressed:?}\n{report}",
        regressed.len()
    );
}

#[test]
fn the_conformance_suite_passes_through_the_gateway_as_directly_on_2025_11_25() {
    the_suite_passes_through_the_gateway_as_it_does_directly("2025-11-25");
}

#[test]
fn the_conformance_suite_passes_through_the_gateway_as_directly_on_2026_07_28() {
    the_suite_passes_through_the_gateway_as_it_does_directly("2026-07-28");
}

#[test]
fn suite_result_directories_name_their_scenario() {
    assert_eq!(
        scenario_of("server-tools-list-2026-12-02T18-27-25-093Z").as_deref(),
        Some("tools-list")
    );
    assert_eq!(
        scenario_of("server-input-required-result-multi-round-2026-12-02T18-28-15-995Z").as_deref(),
        Some("input-required-result-multi-round")
    );
    assert_eq!(scenario_of("server-x"), None);
    assert_eq!(
        scenario_of("client-tools-list-2026-12-02T18-27-25-093Z"),
        None
    );
}
