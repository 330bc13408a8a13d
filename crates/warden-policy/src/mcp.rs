//! The MCP vocabulary policies decide in: the actions and entity types of everything an
//! agent can ask of an MCP server besides its lifecycle, and what a resource URI offers a
//! policy (its scheme and host).
//!
//! | method | action | resource |
//! |---|---|---|
//! | `tools/call` | `call_tool` | `Tool::"UPSTREAM/TOOL"` |
//! | `resources/read`, listing | `read_resource` | `Resource::"UPSTREAM/URI"` |
//! | `resources/subscribe`, `unsubscribe`, `subscriptions/listen` | `subscribe_resource` | `Resource::"UPSTREAM/URI"` |
//! | `prompts/get`, listing | `get_prompt` | `Prompt::"UPSTREAM/NAME"` |
//! | `completion/complete` | `complete` | the `Prompt` or `Resource` completed |
//!
//! A `Resource` carries `uri`, `scheme` and `host` attributes, so a policy can say
//! `resource.scheme == "file"` or `resource.host == "docs.internal"` without parsing
//! strings. A prompt's arguments are tags of `context.arguments`, as a tool call's are.

/// The action of an MCP tool call.
pub const CALL_TOOL: &str = "call_tool";
/// Reading a resource (and seeing it listed).
pub const READ_RESOURCE: &str = "read_resource";
/// Subscribing to a resource's updates.
pub const SUBSCRIBE_RESOURCE: &str = "subscribe_resource";
/// Getting a prompt (and seeing it listed).
pub const GET_PROMPT: &str = "get_prompt";
/// Asking for completions of a prompt's or a resource template's arguments.
pub const COMPLETE: &str = "complete";

/// Every action Warden reserves for MCP; route maps may not claim them.
pub const MCP_ACTIONS: [&str; 5] = [
    CALL_TOOL,
    READ_RESOURCE,
    SUBSCRIBE_RESOURCE,
    GET_PROMPT,
    COMPLETE,
];

/// The entity type of a resource.
pub const RESOURCE_TYPE: &str = "Resource";
/// The entity type of a prompt.
pub const PROMPT_TYPE: &str = "Prompt";
/// The entity type of a tool.
pub const TOOL_TYPE: &str = "Tool";

/// The actions whose context carries `arguments`.
pub fn takes_arguments(action: &str) -> bool {
    action == CALL_TOOL || action == GET_PROMPT
}

/// The parts of a resource URI policies can use: its scheme and its host, both lowercase,
/// the host empty when the URI has none (`file:///…`, `urn:…`). A URI template is read up
/// to its first expression, so `https://api.example.com/{id}` has a host too.
pub fn uri_parts(uri: &str) -> (String, String) {
    let fixed = uri.split('{').next().unwrap_or_default();
    let Some((scheme, rest)) = fixed.split_once(':') else {
        return (String::new(), String::new());
    };
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return (String::new(), String::new());
    }
    let host = rest
        .strip_prefix("//")
        .map(|authority| {
            let authority = authority.split(['/', '?', '#']).next().unwrap_or_default();
            // Credentials never name the host: `https://user@host` is host.
            let host_port = authority.rsplit('@').next().unwrap_or_default();
            let host = if let Some(bracketed) = host_port.strip_prefix('[') {
                bracketed.split(']').next().unwrap_or_default()
            } else {
                host_port.split(':').next().unwrap_or_default()
            };
            host.to_ascii_lowercase()
        })
        .unwrap_or_default();
    (scheme.to_ascii_lowercase(), host)
}
