//! The Cedar schema Warden generates from what it knows: its own entity types, and the
//! actions and resource types of every upstream's route map.
//!
//! The schema is produced as Cedar schema text (what `warden policy schema` prints) and
//! parsed back with Cedar, so the text users read is exactly the schema policies are
//! validated against. Output is deterministic (sorted), so the text can be diffed.
//!
//! Decisions about the request context, all chosen so that strict validation stays sound:
//!
//! - Every context attribute except `arguments` and `scopes` is optional, because each can
//!   be absent on a real request (no user, no `Warden-Reason` header, no task, an identity
//!   without an environment). Strict validation then requires `context has reason && …`
//!   before use, which is exactly the check a policy needs anyway. `scopes`, the scopes the
//!   token was granted, is always there (an empty set when none were), so
//!   `context.scopes.contains("tickets:write")` needs no guard.
//! - Every kind of identity is its own principal type (see [`crate::principal`]).
//! - `task` is the request's task: its `id`, and what this agent was already allowed in it
//!   within the task window (see [`crate::task_window`]): `actions`, `labels` (of the
//!   upstreams, routes and tools it touched) and `tools` (`UPSTREAM/TOOL`), all sets that
//!   are always there once `context has task`. The bounds of a task (its actions and
//!   resources) are enforced before Cedar is asked (see [`crate::task`]); the record lets a
//!   policy decide on the path: `context has task && context.task.labels.contains("pii")`.
//!   It is an inline record, not a named type, so it cannot collide with a route resource.
//! - `arguments` (only on `call_tool`) is an entity reference of type `ToolArguments` whose
//!   *tags* are the tool call's top-level arguments. Cedar's records are closed and tool
//!   arguments are free-form JSON, so a record type cannot describe them without
//!   experimental features; entity tags are Cedar's sound way to look up keys that are not
//!   known in advance: `context.arguments.hasTag("repo") && context.arguments.getTag("repo")
//!   == "acme/web"` validates in strict mode. Tag values are strings: a JSON string argument
//!   is its text, any other value its compact JSON (`42`, `true`, `{"a":1}`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;

use cedar_policy::Schema;

use crate::mcp::{CALL_TOOL, COMPLETE, GET_PROMPT, READ_RESOURCE, SUBSCRIBE_RESOURCE};
use crate::routes::RouteMap;

/// What kind of system an upstream is, with what Warden knows of its actions.
#[derive(Debug, Clone)]
pub enum UpstreamKind {
    /// A plain HTTP API described by a route map.
    Http { routes: RouteMap },
    /// An MCP server; its tools are reached through `call_tool` on `Tool::"UPSTREAM/TOOL"`.
    /// The tool names are used to warn about policies that name unknown tools.
    Mcp { tools: Vec<String> },
}

/// One upstream as the schema sees it.
#[derive(Debug, Clone)]
pub struct UpstreamSchemaInput {
    /// The upstream's name, also the first path segment at the gateway.
    pub name: String,
    /// Its kind and actions.
    pub kind: UpstreamKind,
}

/// Everything the schema is generated from.
#[derive(Debug, Clone, Default)]
pub struct SchemaInput {
    /// The registered upstreams.
    pub upstreams: Vec<UpstreamSchemaInput>,
}

/// The schema could not be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// An upstream name is not usable.
    #[error(
        "upstream name {0:?} must be 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter or digit"
    )]
    UpstreamName(String),
    /// Two upstreams have the same name.
    #[error("upstream {0:?} is declared twice")]
    DuplicateUpstream(String),
    /// A tool name is not usable.
    #[error(
        "upstream {upstream:?}: tool name {tool:?} must be 1 to 128 printable characters without '/' or '\"'"
    )]
    ToolName { upstream: String, tool: String },
    /// Cedar refused the generated text; this is a bug in the generator, reported not hidden.
    #[error("the generated Cedar schema does not parse: {0}")]
    Cedar(String),
}

/// Whether `name` is a usable upstream name.
pub fn is_upstream_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn is_tool_name(tool: &str) -> bool {
    !tool.is_empty()
        && tool.len() <= 128
        && !tool.chars().any(|c| c.is_control() || c == '/' || c == '"')
}

/// The generated schema: the text and Cedar's parsed form.
#[derive(Debug, Clone)]
pub struct GeneratedSchema {
    text: String,
    schema: Schema,
    upstreams: BTreeSet<String>,
    tools: BTreeSet<String>,
    tool_upstreams: BTreeSet<String>,
    resource_types: BTreeSet<String>,
    /// Every route action with the resource types it applies to, for validation against
    /// the part of the schema a policy can reach (see [`crate::validation`]).
    route_actions: Arc<BTreeMap<String, BTreeSet<String>>>,
}

impl GeneratedSchema {
    /// Generates the schema for `input`.
    pub fn generate(input: &SchemaInput) -> Result<Self, SchemaError> {
        let mut upstreams = BTreeSet::new();
        let mut tools = BTreeSet::new();
        let mut tool_upstreams = BTreeSet::new();
        // action -> resource types it applies to.
        let mut actions: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for up in &input.upstreams {
            if !is_upstream_name(&up.name) {
                return Err(SchemaError::UpstreamName(up.name.clone()));
            }
            if !upstreams.insert(up.name.clone()) {
                return Err(SchemaError::DuplicateUpstream(up.name.clone()));
            }
            match &up.kind {
                UpstreamKind::Http { routes } => {
                    for (action, ty) in routes.actions() {
                        actions.entry(action).or_default().insert(ty);
                    }
                }
                UpstreamKind::Mcp { tools: names } => {
                    if !names.is_empty() {
                        tool_upstreams.insert(up.name.clone());
                    }
                    for tool in names {
                        if !is_tool_name(tool) {
                            return Err(SchemaError::ToolName {
                                upstream: up.name.clone(),
                                tool: tool.clone(),
                            });
                        }
                        tools.insert(format!("{}/{tool}", up.name));
                    }
                }
            }
        }
        let resource_types: BTreeSet<String> = actions
            .values()
            .flatten()
            .map(|t| (*t).to_owned())
            .collect();
        let route_actions: BTreeMap<String, BTreeSet<String>> = actions
            .into_iter()
            .map(|(action, types)| {
                let types = types.into_iter().map(str::to_owned).collect();
                (action.to_owned(), types)
            })
            .collect();
        let mut text = render_declarations(&resource_types);
        for (action, types) in &route_actions {
            render_route_action(&mut text, action, types);
        }
        let schema = Schema::from_cedarschema_str(&text)
            .map(|(schema, _warnings)| schema)
            .map_err(|e| SchemaError::Cedar(e.to_string()))?;
        Ok(Self {
            text,
            schema,
            upstreams,
            tools,
            tool_upstreams,
            resource_types,
            route_actions: Arc::new(route_actions),
        })
    }

    /// Every route action, with the resource types it applies to.
    pub(crate) fn route_actions(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.route_actions
    }

    /// The schema text without any route action: Warden's entity types, every route
    /// resource type, the context types and the MCP actions.
    pub(crate) fn declarations(&self) -> String {
        render_declarations(&self.resource_types)
    }

    /// The schema as Cedar schema text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Cedar's parsed schema.
    pub fn cedar(&self) -> &Schema {
        &self.schema
    }

    /// Whether an upstream of this name was declared.
    pub fn has_upstream(&self, name: &str) -> bool {
        self.upstreams.contains(name)
    }

    /// Whether `UPSTREAM/TOOL` is a tool some MCP upstream declared.
    pub fn has_tool(&self, qualified: &str) -> bool {
        self.tools.contains(qualified)
    }

    /// Whether `upstream` is an MCP upstream that listed its tools.
    pub fn lists_tools(&self, upstream: &str) -> bool {
        self.tool_upstreams.contains(upstream)
    }

    /// Whether a route resource type of this name was declared.
    pub fn has_resource_type(&self, name: &str) -> bool {
        self.resource_types.contains(name)
    }
}

const HEADER: &str = "\
// Generated by Warden from its entities and the upstreams' route maps. Do not edit:
// `warden policy schema` prints the current version.

// The human accountable for agents.
entity Owner;
// An agent; its parent is its owner, so `principal in Owner::\"EMAIL\"` means \"any identity of EMAIL\".
entity Agent in [Owner];
// The other kinds of identity, each its own type so that a name shared across kinds
// never shares permits.
entity ServiceAccount, ApiKey, OAuthApp, Token, Certificate, Webhook, Workload in [Owner];
// A user an agent acts for (token exchange); see context.on_behalf_of.
entity User;
// A system agents call through the gateway.
entity Upstream;
// An MCP tool, `Tool::\"UPSTREAM/TOOL\"`, whose parent is its upstream.
entity Tool in [Upstream];
// An MCP resource, `Resource::\"UPSTREAM/URI\"`, with its URI's scheme and host (lowercase;
// host is \"\" when the URI has none).
entity Resource in [Upstream] = {
  uri: String,
  scheme: String,
  host: String,
};
// An MCP prompt, `Prompt::\"UPSTREAM/NAME\"`.
entity Prompt in [Upstream];
// The arguments of one tool call or prompt, as tags: strings as they are, other JSON
// values as compact JSON.
entity ToolArguments tags String;
// What an agent was already allowed in its task within the task window, as context.task:
// the task's id, the actions, the labels of the routes and tools, and the tools.
entity TaskHistory = { id: String, actions: Set<String>, labels: Set<String>, tools: Set<String> };
";

/// The entity type of `context.task`.
pub(crate) const TASK_TYPE: &str = "TaskHistory";

const CONTEXT_FIELDS: &str = concat!(
    "  on_behalf_of?: User,\n",
    "  reason?: String,\n",
    "  task?: TaskHistory,\n",
    "  environment?: String,\n",
    "  scopes: Set<String>,",
);

/// Every principal type an action applies to.
const PRINCIPALS: &str =
    "Agent, ServiceAccount, ApiKey, OAuthApp, Token, Certificate, Webhook, Workload";

/// Everything but the route actions: Warden's entity types, the route resource types, the
/// two context types and the MCP actions.
fn render_declarations(resource_types: &BTreeSet<String>) -> String {
    let mut out = String::from(HEADER);
    if !resource_types.is_empty() {
        out.push_str("\n// Route resources, whose parent is the upstream they belong to.\n");
    }
    for ty in resource_types {
        let _ = writeln!(out, "entity {ty} in [Upstream];");
    }
    let _ = write!(
        out,
        "\n// The request context of a route action.\ntype RequestContext = {{\n{CONTEXT_FIELDS}\n}};\n\
         \n// The request context of an MCP tool call or prompt.\ntype ToolCallContext = {{\n{CONTEXT_FIELDS}\n  arguments: ToolArguments,\n}};\n\n"
    );
    for (action, resources, context) in [
        (CALL_TOOL, "Tool", "ToolCallContext"),
        (READ_RESOURCE, "Resource", "RequestContext"),
        (SUBSCRIBE_RESOURCE, "Resource", "RequestContext"),
        (GET_PROMPT, "Prompt", "ToolCallContext"),
        (COMPLETE, "Prompt, Resource", "RequestContext"),
    ] {
        let _ = writeln!(
            out,
            "action \"{action}\" appliesTo {{\n  principal: [{PRINCIPALS}],\n  resource: [{resources}],\n  context: {context},\n}};"
        );
    }
    out
}

/// Appends one route action's declaration.
pub(crate) fn render_route_action(out: &mut String, action: &str, types: &BTreeSet<String>) {
    let types: Vec<&str> = types.iter().map(String::as_str).collect();
    let _ = writeln!(
        out,
        "action \"{action}\" appliesTo {{\n  principal: [{PRINCIPALS}],\n  resource: [{}],\n  context: RequestContext,\n}};",
        types.join(", ")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn crm_routes() -> RouteMap {
        RouteMap::from_toml(
            r#"
[[route]]
method = "GET"
path = "/tickets/{id}"
action = "tickets.read"
resource = "Ticket::{id}"

[[route]]
method = "PUT"
path = "/tickets/{id}"
action = "tickets.update"
resource = "Ticket::{id}"
"#,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn input() -> SchemaInput {
        SchemaInput {
            upstreams: vec![
                UpstreamSchemaInput {
                    name: "crm".into(),
                    kind: UpstreamKind::Http {
                        routes: crm_routes(),
                    },
                },
                UpstreamSchemaInput {
                    name: "github".into(),
                    kind: UpstreamKind::Mcp {
                        tools: vec!["create_issue".into(), "list_issues".into()],
                    },
                },
            ],
        }
    }

    #[test]
    fn schema_text_is_stable_and_parses() {
        let schema = GeneratedSchema::generate(&input()).unwrap_or_else(|e| panic!("{e}"));
        insta::assert_snapshot!(schema.text());
        assert!(schema.has_tool("github/create_issue"));
        assert!(schema.has_upstream("crm"));
        assert!(schema.has_resource_type("Ticket"));
    }

    #[test]
    fn empty_input_still_declares_warden_types() {
        let schema =
            GeneratedSchema::generate(&SchemaInput::default()).unwrap_or_else(|e| panic!("{e}"));
        assert!(schema.text().contains("action \"call_tool\""));
    }

    #[test]
    fn bad_names_are_refused() {
        let mut bad = input();
        bad.upstreams[0].name = "CRM".into();
        assert!(matches!(
            GeneratedSchema::generate(&bad),
            Err(SchemaError::UpstreamName(_))
        ));
        let mut bad = input();
        bad.upstreams[1].name = "crm".into();
        assert!(matches!(
            GeneratedSchema::generate(&bad),
            Err(SchemaError::DuplicateUpstream(_))
        ));
        let mut bad = input();
        bad.upstreams[1].kind = UpstreamKind::Mcp {
            tools: vec!["a/b".into()],
        };
        assert!(matches!(
            GeneratedSchema::generate(&bad),
            Err(SchemaError::ToolName { .. })
        ));
    }
}
