//! Runs every decision table in `tests/decisions/*.toml`: each names upstreams, policies and
//! cases with the expected effect; the full decisions (reason and deciding policies) are
//! snapshotted, one snapshot per table.

use std::path::Path;

use serde::{Deserialize, Serialize};
use warden_policy::{
    DecisionRequest, Effect, PolicyDocument, PolicyEngine, PrincipalKind, RequestContext, RouteMap,
    SchemaInput, TaskContext, TaskSeen, UpstreamKind, UpstreamSchemaInput,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    #[serde(default)]
    upstream: Vec<Upstream>,
    #[serde(default)]
    policy: Vec<Doc>,
    case: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Upstream {
    name: String,
    kind: String,
    #[serde(default)]
    routes: String,
    #[serde(default)]
    tools: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    id: String,
    text: String,
}

/// A case names its request one of three ways: `request = "METHOD /path"` (matched through
/// the only HTTP upstream's route map), `tool = "UPSTREAM/TOOL"`, or explicitly.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    /// The principal's kind as the inventory names it [default: agent].
    kind: Option<String>,
    agent: String,
    owner: String,
    on_behalf_of: Option<String>,
    request: Option<String>,
    tool: Option<String>,
    upstream: Option<String>,
    action: Option<String>,
    resource_type: Option<String>,
    resource_id: Option<String>,
    reason: Option<String>,
    task: Option<String>,
    /// What the task already did within its window: `context.task.actions`, `.labels`.
    #[serde(default)]
    task_actions: Vec<String>,
    #[serde(default)]
    task_labels: Vec<String>,
    environment: Option<String>,
    arguments: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    approved: bool,
    expect: String,
}

#[derive(Serialize)]
struct Outcome {
    case: String,
    effect: Effect,
    reason: &'static str,
    policy_ids: Vec<String>,
}

fn run_table(path: &Path) -> Vec<Outcome> {
    let text = std::fs::read_to_string(path).unwrap();
    let table: Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut input = SchemaInput::default();
    let mut http: Option<(String, RouteMap)> = None;
    for up in &table.upstream {
        let kind = match up.kind.as_str() {
            "http" => {
                let routes = RouteMap::from_toml(&up.routes).unwrap_or_else(|e| panic!("{e}"));
                http = Some((up.name.clone(), routes.clone()));
                UpstreamKind::Http { routes }
            }
            "mcp" => UpstreamKind::Mcp {
                tools: up.tools.clone(),
            },
            other => panic!("unknown upstream kind {other}"),
        };
        input.upstreams.push(UpstreamSchemaInput {
            name: up.name.clone(),
            kind,
        });
    }
    let docs: Vec<PolicyDocument> = table
        .policy
        .iter()
        .map(|d| PolicyDocument::new(&d.id, &d.text))
        .collect();
    let engine = PolicyEngine::new(&input, &docs).unwrap_or_else(|e| panic!("{e}"));

    let mut outcomes = Vec::new();
    for case in &table.case {
        let (upstream, action, resource_type, resource_id) = if let Some(req) = &case.request {
            let (name, routes) = http.as_ref().unwrap();
            let (method, path) = req.split_once(' ').unwrap();
            let m = routes
                .match_request(method, path)
                .unwrap_or_else(|| panic!("{}: no route for {req}", case.name));
            (
                name.clone(),
                m.action.to_owned(),
                m.resource_type.to_owned(),
                m.resource_id,
            )
        } else if let Some(tool) = &case.tool {
            let upstream = tool.split_once('/').unwrap().0;
            (
                upstream.to_owned(),
                "call_tool".to_owned(),
                "Tool".to_owned(),
                tool.clone(),
            )
        } else {
            (
                case.upstream.clone().unwrap(),
                case.action.clone().unwrap(),
                case.resource_type.clone().unwrap(),
                case.resource_id.clone().unwrap(),
            )
        };
        let kind = PrincipalKind::from_identity_kind(case.kind.as_deref().unwrap_or("agent"))
            .unwrap_or_else(|| panic!("case {}: unknown kind", case.name));
        let seen = TaskSeen::new(
            case.task_actions.clone(),
            case.task_labels.clone(),
            Vec::new(),
        );
        let decision = engine.decide(&DecisionRequest {
            kind,
            name: &case.agent,
            owner: &case.owner,
            on_behalf_of: case.on_behalf_of.as_deref(),
            upstream: &upstream,
            action: &action,
            resource_type: &resource_type,
            resource_id: &resource_id,
            context: RequestContext {
                reason: case.reason.as_deref(),
                task: case
                    .task
                    .as_deref()
                    .map(|id| TaskContext { id, seen: &seen }),
                environment: case.environment.as_deref(),
                arguments: case.arguments.as_ref(),
                scopes: &case.scopes,
            },
            approved: case.approved,
        });
        let got = serde_json::to_value(decision.effect).unwrap();
        assert_eq!(
            got.as_str(),
            Some(case.expect.as_str()),
            "{}: case {:?}: {decision:?}",
            path.display(),
            case.name
        );
        outcomes.push(Outcome {
            case: case.name.clone(),
            effect: decision.effect,
            reason: decision.reason.as_str(),
            policy_ids: decision.policy_ids,
        });
    }
    outcomes
}

#[test]
fn decision_tables() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/decisions");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 3,
        "decision tables missing from {}",
        dir.display()
    );
    for path in paths {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let outcomes = run_table(&path);
        insta::assert_json_snapshot!(name, outcomes);
    }
}
