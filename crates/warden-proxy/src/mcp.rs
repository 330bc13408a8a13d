//! MCP governance at the gateway: what an MCP request asks, as the [`Ask`]s the decision
//! reads (a tool call, a resource read or subscription, a prompt, a completion, a task of
//! the tasks extension), and the [`Listing`] that filters every list in the answer to what
//! the caller may use.
//!
//! Lists are decided entry by entry as the matching operation would be, with no arguments:
//! a tool is listed when calling it is not denied, a resource or template when reading it
//! is not, a prompt when getting it is not. An entry whose decision needs arguments to
//! evaluate (a policy that reads one) stays listed; its use is still decided on its own.
//!
//! Tasks: a `tools/call` may create a task instead of answering at once; the agent then
//! asks `tasks/get`, `tasks/result` or `tasks/cancel` with the task's id. The gateway keeps
//! a ledger of the tasks it saw created (which agent, which upstream, which call), decides
//! every later task method as that call, and refuses a task id it did not see created for
//! this agent. The ledger is per node and bounded; a task created through another node
//! is refused here, which fails closed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use warden_gateway::mcp::answer::{AnswerPolicy, Listed};
use warden_gateway::mcp::{Completed, Envelope, Operation, Revision, ToolCall};
use warden_gateway::{Refusal, RefusalCode};
use warden_policy::PolicyEngine;
use warden_policy::mcp::{
    CALL_TOOL, COMPLETE, GET_PROMPT, PROMPT_TYPE, READ_RESOURCE, RESOURCE_TYPE, SUBSCRIBE_RESOURCE,
    TOOL_TYPE,
};

use super::decide::{self, Ask, Caller};
use super::pins::ToolPins;

/// How long a task id stays in the ledger.
const TASK_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// The most tasks the ledger keeps; the oldest go first.
const MAX_TASKS: usize = 100_000;

fn ask(
    action: &str,
    resource_type: &str,
    upstream: &str,
    id: &str,
    arguments: Option<&Map<String, Value>>,
) -> Ask {
    Ask {
        action: action.to_owned(),
        resource_type: resource_type.to_owned(),
        resource_id: format!("{upstream}/{id}"),
        arguments: arguments.cloned(),
        // Filled in by the pipeline, which knows the upstream's labels.
        labels: Vec::new(),
    }
}

/// The asks of an MCP request body, in message order; lifecycle messages and lists ask
/// nothing of their own. A method no policy can govern, a task this agent did not create
/// here, or a call (or task) of a tool whose definition changed since it was accepted
/// refuses the whole body.
pub fn asks_of(
    envelope: &Envelope,
    revision: Revision,
    upstream: &str,
    agent_id: &str,
    ledger: &TaskLedger,
    pins: &ToolPins,
) -> Result<Vec<Ask>, Refusal> {
    let mut asks = Vec::new();
    for message in &envelope.messages {
        if let Some(method) = message.method()
            && revision.removed(method)
        {
            return Err(Refusal::new(
                RefusalCode::UnknownMethod,
                format!(
                    "MCP method {method:?} does not exist in protocol revision 2026-07-28; use server/discover and subscriptions/listen"
                ),
            )
            .with_rule("mcp_method"));
        }
        match &message.operation {
            Operation::Lifecycle | Operation::List(_) => {}
            Operation::CallTool(call) => asks.push(tool_ask(upstream, call, pins)?),
            Operation::ReadResource { uri } => {
                asks.push(ask(READ_RESOURCE, RESOURCE_TYPE, upstream, uri, None));
            }
            Operation::SubscribeResource { uri } => {
                asks.push(ask(SUBSCRIBE_RESOURCE, RESOURCE_TYPE, upstream, uri, None));
            }
            Operation::Listen { uris } => asks.extend(
                uris.iter()
                    .map(|uri| ask(SUBSCRIBE_RESOURCE, RESOURCE_TYPE, upstream, uri, None)),
            ),
            Operation::GetPrompt { name, arguments } => {
                asks.push(ask(
                    GET_PROMPT,
                    PROMPT_TYPE,
                    upstream,
                    name,
                    Some(arguments),
                ));
            }
            Operation::Complete(Completed::Prompt(name)) => {
                asks.push(ask(COMPLETE, PROMPT_TYPE, upstream, name, None));
            }
            Operation::Complete(Completed::Resource(uri)) => {
                asks.push(ask(COMPLETE, RESOURCE_TYPE, upstream, uri, None));
            }
            Operation::Task { task_id } => {
                let Some(call) = ledger.call_for(upstream, agent_id, task_id) else {
                    return Err(Refusal::new(
                        RefusalCode::Forbidden,
                        format!(
                            "task {task_id:?} was not created through this gateway for this agent, so it cannot be decided; call the tool again"
                        ),
                    )
                    .with_rule("mcp_task"));
                };
                asks.push(tool_ask(upstream, &call, pins)?);
            }
            Operation::Ungoverned { method } => {
                return Err(Refusal::new(
                    RefusalCode::UnknownMethod,
                    format!(
                        "MCP method {method:?} is not passed by the gateway: no policy can govern it (tools, resources, prompts, completions, tasks and the protocol's own messages are)"
                    ),
                )
                .with_rule("mcp_method"));
            }
        }
    }
    Ok(asks)
}

fn tool_ask(upstream: &str, call: &ToolCall, pins: &ToolPins) -> Result<Ask, Refusal> {
    if !pins.callable(upstream, &call.name) {
        return Err(Refusal::new(
            RefusalCode::ToolChanged,
            format!(
                "the definition of tool {:?} changed since it was accepted, so it is hidden and its calls refused until an administrator accepts it (`warden upstream tools {upstream} --accept {}`)",
                call.name, call.name
            ),
        )
        .with_rule("tool_pinning"));
    }
    Ok(Ask::tool_call(upstream, &call.name, Some(&call.arguments)))
}

/// The audit label of an MCP request without exactly one ask: its methods, in order.
pub fn methods_label(envelope: &Envelope) -> String {
    let methods: Vec<&str> = envelope
        .messages
        .iter()
        .filter_map(warden_gateway::Message::method)
        .collect();
    if methods.is_empty() {
        "response".to_string()
    } else {
        methods.join(",")
    }
}

/// One task the gateway saw created.
#[derive(Debug, Clone)]
struct TaskEntry {
    agent_id: String,
    call: ToolCall,
    created: Instant,
}

/// The tasks created through this node, by upstream and task id.
#[derive(Debug, Default)]
pub struct TaskLedger {
    tasks: Mutex<HashMap<(String, String), TaskEntry>>,
}

impl TaskLedger {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), TaskEntry>> {
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records that `call` by `agent_id` created `task_id` on `upstream`.
    pub fn record(&self, upstream: &str, agent_id: &str, task_id: &str, call: ToolCall) {
        let mut tasks = self.lock();
        let now = Instant::now();
        tasks.retain(|_, entry| now.duration_since(entry.created) < TASK_TTL);
        if tasks.len() >= MAX_TASKS
            && let Some(oldest) = tasks
                .iter()
                .min_by_key(|(_, entry)| entry.created)
                .map(|(key, _)| key.clone())
        {
            tasks.remove(&oldest);
        }
        tasks.insert(
            (upstream.to_owned(), task_id.to_owned()),
            TaskEntry {
                agent_id: agent_id.to_owned(),
                call,
                created: now,
            },
        );
    }

    /// The call behind `task_id`, when `agent_id` created it on `upstream`.
    pub fn call_for(&self, upstream: &str, agent_id: &str, task_id: &str) -> Option<ToolCall> {
        let tasks = self.lock();
        tasks
            .get(&(upstream.to_owned(), task_id.to_owned()))
            .filter(|entry| entry.agent_id == agent_id && entry.created.elapsed() < TASK_TTL)
            .map(|entry| entry.call.clone())
    }
}

/// Whether a listed tool (its name and definition) is held back: its definition changed
/// since it was accepted.
pub type HiddenTools = Box<dyn Fn(&str, &Map<String, Value>) -> bool + Send + Sync>;

/// Decides the entries of an MCP answer for one caller, and learns the tasks it creates.
pub struct Listing {
    engine: Arc<PolicyEngine>,
    upstream: String,
    caller: Caller,
    ledger: Arc<TaskLedger>,
    /// The request's tool calls by id, to know which call a created task stands for.
    calls: Vec<(Value, ToolCall)>,
    /// Tools whose definition changed since it was accepted: never listed.
    hidden_tools: HiddenTools,
}

impl Listing {
    pub fn new(
        engine: Arc<PolicyEngine>,
        upstream: &str,
        caller: &Caller,
        ledger: Arc<TaskLedger>,
        envelope: Option<&Envelope>,
        hidden_tools: HiddenTools,
    ) -> Self {
        let calls = envelope
            .into_iter()
            .flat_map(|envelope| envelope.messages.iter())
            .filter_map(|message| Some((message.id.clone()?, message.tool_call()?.clone())))
            .collect();
        Self {
            engine,
            upstream: upstream.to_owned(),
            caller: caller.clone(),
            ledger,
            calls,
            hidden_tools,
        }
    }

    fn may(&self, action: &str, resource_type: &str, id: &str) -> bool {
        decide::may_list(
            &self.engine,
            &self.upstream,
            &self.caller,
            action,
            resource_type,
            &format!("{}/{id}", self.upstream),
        )
    }
}

impl AnswerPolicy for Listing {
    fn allows(&self, entry: Listed<'_>) -> bool {
        match entry {
            Listed::Tool { name, definition } => {
                !(self.hidden_tools)(name, definition) && self.may(CALL_TOOL, TOOL_TYPE, name)
            }
            Listed::Resource(uri) | Listed::ResourceTemplate(uri) => {
                self.may(READ_RESOURCE, RESOURCE_TYPE, uri)
            }
            Listed::Prompt(name) => self.may(GET_PROMPT, PROMPT_TYPE, name),
            Listed::Task(task_id) => self
                .ledger
                .call_for(&self.upstream, &self.caller.agent_id, task_id)
                .is_some(),
        }
    }

    fn task_created(&self, response_id: &Value, task_id: &str) {
        if let Some((_, call)) = self.calls.iter().find(|(id, _)| id == response_id) {
            self.ledger
                .record(&self.upstream, &self.caller.agent_id, task_id, call.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(name: &str) -> ToolCall {
        ToolCall {
            name: name.into(),
            arguments: json!({"n": 1}).as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn a_changed_tool_is_refused_as_a_call_and_as_a_task() {
        let ledger = TaskLedger::default();
        ledger.record("docs", "agt_a", "t1", call("long_job"));
        let pins = ToolPins::default();
        assert!(pins.listed("docs", "long_job", "d1"));
        assert!(!pins.listed("docs", "long_job", "d2"));
        for body in [
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "long_job"}}),
            json!({"jsonrpc": "2.0", "id": 2, "method": "tasks/result", "params": {"taskId": "t1"}}),
        ] {
            let envelope = warden_gateway::mcp::parse_request(body.to_string().as_bytes())
                .unwrap_or_else(|e| panic!("{e}"));
            let refused = asks_of(
                &envelope,
                Revision::Sessions,
                "docs",
                "agt_a",
                &ledger,
                &pins,
            );
            assert!(
                matches!(&refused, Err(r) if r.code == RefusalCode::ToolChanged),
                "{body}: {refused:?}"
            );
        }
    }

    #[test]
    fn the_ledger_answers_only_its_creator() {
        let ledger = TaskLedger::default();
        ledger.record("docs", "agt_a", "t1", call("long_job"));
        assert_eq!(
            ledger.call_for("docs", "agt_a", "t1").map(|c| c.name),
            Some("long_job".to_string())
        );
        assert!(ledger.call_for("docs", "agt_b", "t1").is_none());
        assert!(ledger.call_for("other", "agt_a", "t1").is_none());
        assert!(ledger.call_for("docs", "agt_a", "t2").is_none());
    }

    #[test]
    fn every_governed_method_asks_and_unknown_ones_refuse() {
        let ledger = TaskLedger::default();
        ledger.record("docs", "agt_a", "t1", call("long_job"));
        let body = json!([
            {"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": "file:///a"}},
            {"jsonrpc": "2.0", "id": 2, "method": "prompts/get", "params": {"name": "greet", "arguments": {"who": "x"}}},
            {"jsonrpc": "2.0", "id": 3, "method": "completion/complete", "params": {"ref": {"type": "ref/resource", "uri": "file:///{p}"}}},
            {"jsonrpc": "2.0", "id": 4, "method": "tasks/get", "params": {"taskId": "t1"}},
            {"jsonrpc": "2.0", "id": 5, "method": "tools/list"},
            {"jsonrpc": "2.0", "method": "notifications/initialized"}
        ]);
        let envelope = warden_gateway::mcp::parse_request(body.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        let asks = asks_of(
            &envelope,
            Revision::Sessions,
            "docs",
            "agt_a",
            &ledger,
            &ToolPins::default(),
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        let seen: Vec<(String, String)> = asks
            .iter()
            .map(|a| (a.action.clone(), a.resource_text()))
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "read_resource".to_string(),
                    "Resource::\"docs/file:///a\"".to_string()
                ),
                (
                    "get_prompt".to_string(),
                    "Prompt::\"docs/greet\"".to_string()
                ),
                (
                    "complete".to_string(),
                    "Resource::\"docs/file:///{p}\"".to_string()
                ),
                (
                    "call_tool".to_string(),
                    "Tool::\"docs/long_job\"".to_string()
                ),
            ]
        );
        let other_agent = asks_of(
            &envelope,
            Revision::Sessions,
            "docs",
            "agt_b",
            &ledger,
            &ToolPins::default(),
        );
        assert!(matches!(other_agent, Err(r) if r.rule == Some("mcp_task")));
        let unknown = warden_gateway::mcp::parse_request(
            br#"{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            asks_of(&unknown, Revision::Sessions, "docs", "agt_a", &ledger, &ToolPins::default()),
            Err(r) if r.code == RefusalCode::UnknownMethod
        ));
    }
}
