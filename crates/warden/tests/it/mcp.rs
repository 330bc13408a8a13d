//! MCP end to end with the official Rust MCP SDK (`rmcp`) on both sides: a real MCP server
//! over streamable HTTP in the test process, the real `warden serve` in front of it, and a
//! real MCP client talking to the gateway with a token from `/oauth/token`.
//!
//! The upstream records every request it receives (its `Authorization` header, its JSON-RPC
//! method and tool name) and every tool it runs, so the tests can tell what the gateway let
//! through, what it stopped, and which credential reached the upstream.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, ClientConfig, Implementation, ServerCapabilities, ServerConfig,
};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleClient, ServerHandler, ServiceExt, schemars, tool, tool_handler, tool_router};
use serde_json::Value;

use crate::harness::{RunningServer, fresh_server, warden};

/// What the upstream saw of one HTTP request.
#[derive(Clone, Debug)]
struct Seen {
    http_method: String,
    authorization: Option<String>,
    /// Every header value the request carried, to prove a token never arrived anywhere.
    header_values: Vec<String>,
    rpc_method: Option<String>,
    tool: Option<String>,
    /// The `Content-Type` the upstream answered with.
    answered_as: Option<String>,
}

/// Everything the upstream observed: requests at the HTTP layer, tools actually run.
#[derive(Clone, Default)]
struct Observed {
    requests: Arc<Mutex<Vec<Seen>>>,
    executed: Arc<Mutex<Vec<String>>>,
}

impl Observed {
    fn requests(&self) -> Vec<Seen> {
        self.requests.lock().unwrap().clone()
    }

    fn executed(&self) -> Vec<String> {
        self.executed.lock().unwrap().clone()
    }

    /// The `Authorization` values the upstream received, each once, in order of arrival.
    fn authorizations(&self) -> Vec<Option<String>> {
        let mut distinct = Vec::new();
        for seen in self.requests() {
            if !distinct.contains(&seen.authorization) {
                distinct.push(seen.authorization);
            }
        }
        distinct
    }

    /// Whether any header of any request carried `needle`.
    fn any_header_contains(&self, needle: &str) -> bool {
        self.requests()
            .iter()
            .any(|seen| seen.header_values.iter().any(|v| v.contains(needle)))
    }

    fn saw_rpc(&self, method: &str) -> bool {
        self.requests()
            .iter()
            .any(|seen| seen.rpc_method.as_deref() == Some(method))
    }

    /// The `Content-Type` of the upstream's answers to `method`.
    fn answers_to(&self, method: &str) -> Vec<Option<String>> {
        self.requests()
            .into_iter()
            .filter(|seen| seen.rpc_method.as_deref() == Some(method))
            .map(|seen| seen.answered_as)
            .collect()
    }

    fn saw_http(&self, method: &str) -> bool {
        self.requests()
            .iter()
            .any(|seen| seen.http_method == method)
    }

    fn saw_tool(&self, tool: &str) -> bool {
        self.requests()
            .iter()
            .any(|seen| seen.tool.as_deref() == Some(tool))
    }
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct EchoArgs {
    /// The text to send back.
    text: String,
}

/// The MCP server behind the gateway: one harmless tool and one that must never run.
#[derive(Clone)]
struct ToolServer {
    tool_router: ToolRouter<Self>,
    executed: Arc<Mutex<Vec<String>>>,
}

#[tool_router]
impl ToolServer {
    #[tool(description = "Returns its argument")]
    fn echo(&self, Parameters(EchoArgs { text }): Parameters<EchoArgs>) -> String {
        self.executed.lock().unwrap().push("echo".into());
        text
    }

    #[tool(description = "Deletes everything")]
    fn delete_everything(&self) -> String {
        self.executed
            .lock()
            .unwrap()
            .push("delete_everything".into());
        "everything is gone".into()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for ToolServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(UPSTREAM_SERVER_NAME, "1.0.0"))
    }
}

const UPSTREAM_SERVER_NAME: &str = "warden-test-tools";

/// Records what each request carried, then hands it on unchanged.
async fn record(State(observed): State<Observed>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let envelope: Option<Value> = serde_json::from_slice(&bytes).ok();
    let rpc_method = envelope
        .as_ref()
        .and_then(|e| e["method"].as_str())
        .map(str::to_string);
    let tool = envelope
        .as_ref()
        .and_then(|e| e["params"]["name"].as_str())
        .map(str::to_string);
    let mut seen = Seen {
        http_method: parts.method.to_string(),
        authorization: parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap().to_string()),
        header_values: parts
            .headers
            .values()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect(),
        rpc_method,
        tool,
        answered_as: None,
    };
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    seen.answered_as = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string());
    observed.requests.lock().unwrap().push(seen);
    response
}

/// How the upstream answers requests: in sessions with server-sent event streams (the SDK's
/// default), or statelessly with plain JSON bodies.
#[derive(Clone, Copy, Debug)]
enum Answers {
    EventStream,
    Json,
}

impl Answers {
    fn content_type(self) -> &'static str {
        match self {
            Answers::EventStream => "text/event-stream",
            Answers::Json => "application/json",
        }
    }
}

/// Starts the MCP server on 127.0.0.1 at an ephemeral port, serving `/mcp`. Returns its
/// origin (`http://127.0.0.1:PORT`) and what it observes.
async fn start_upstream(answers: Answers) -> (String, Observed) {
    let observed = Observed::default();
    let config = StreamableHttpServerConfig::default().with_sse_keep_alive(None);
    let config = match answers {
        Answers::EventStream => config,
        Answers::Json => config
            .with_legacy_session_mode(false)
            .with_json_response(true),
    };
    let executed = observed.executed.clone();
    let service: StreamableHttpService<ToolServer, LocalSessionManager> =
        StreamableHttpService::new(
            move || {
                Ok(ToolServer {
                    tool_router: ToolServer::tool_router(),
                    executed: executed.clone(),
                })
            },
            Default::default(),
            config,
        );
    let router = axum::Router::new().route_service("/mcp", service).layer(
        axum::middleware::from_fn_with_state(observed.clone(), record),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (origin, observed)
}

pub(crate) type Client = RunningService<RoleClient, ClientConfig>;

/// An SDK client at `url`, presenting `token` as its bearer token; initialized.
pub(crate) async fn connect(url: &str, token: &str) -> Client {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url).auth_header(token),
    );
    ClientConfig::default()
        .serve(transport)
        .await
        .unwrap_or_else(|e| panic!("the MCP handshake with {url} failed: {e:?}"))
}

fn echo_call(text: &str) -> CallToolRequestParams {
    let arguments = serde_json::json!({ "text": text });
    CallToolRequestParams::new("echo").with_arguments(arguments.as_object().unwrap().clone())
}

pub(crate) fn text_of(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|t| t.text.clone()))
        .collect()
}

/// What a hand-made request got back: the status, any `WWW-Authenticate`, the body.
struct Answer {
    status: u16,
    challenge: Option<String>,
    text: String,
}

/// A hand-made `tools/call` of `tool` with `text: "hi"`, with extra `headers`.
async fn raw_call(url: &str, headers: &[(&str, &str)], tool: &str) -> Answer {
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": { "name": tool, "arguments": { "text": "hi" } }
    });
    let mut request = reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    Answer {
        status: response.status().as_u16(),
        challenge: response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string()),
        text: response.text().await.unwrap(),
    }
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The control: without the gateway, the SDK client reaches both tools, and the recording
/// layer sees the client's own token. What the gateway tests assert away is really there.
#[test]
fn the_sdk_client_reaches_every_tool_without_the_gateway() {
    for answers in [Answers::EventStream, Answers::Json] {
        runtime().block_on(async {
            let (origin, observed) = start_upstream(answers).await;
            let client = connect(&format!("{origin}/mcp"), "direct-token").await;
            let info = client.peer_info().unwrap();
            assert_eq!(
                info.server_info.as_ref().map(|i| i.name.as_str()),
                Some(UPSTREAM_SERVER_NAME),
                "{answers:?}"
            );

            let mut names: Vec<String> = client
                .list_all_tools()
                .await
                .unwrap()
                .into_iter()
                .map(|tool| tool.name.to_string())
                .collect();
            names.sort();
            assert_eq!(names, ["delete_everything", "echo"], "{answers:?}");
            assert_eq!(
                observed.answers_to("tools/list"),
                [Some(answers.content_type().to_string())]
            );

            let echoed = client.call_tool(echo_call("hello")).await.unwrap();
            assert_eq!(text_of(&echoed), "hello", "{answers:?}");
            let deleted = client
                .call_tool(CallToolRequestParams::new("delete_everything"))
                .await
                .unwrap();
            assert_eq!(text_of(&deleted), "everything is gone", "{answers:?}");
            client.cancel().await.unwrap();

            assert_eq!(observed.executed(), ["echo", "delete_everything"]);
            assert!(observed.saw_tool("delete_everything"));
            assert_eq!(
                observed.authorizations(),
                [Some("Bearer direct-token".to_string())],
                "{answers:?}: {:?}",
                observed.requests()
            );
            if matches!(answers, Answers::Json) {
                // A bare tools/call, as the raw gateway checks send it, is served statelessly.
                let answer = raw_call(&format!("{origin}/mcp"), &[], "echo").await;
                assert_eq!(answer.status, 200, "{}", answer.text);
                assert!(answer.text.contains("hi"), "{}", answer.text);
            }
        });
    }
}

/// The upstream's own secret, which the gateway must inject in place of the agent's token.
const UPSTREAM_SECRET: &str = "mcp-upstream-secret-0123456789";

const POLICY: &str = r#"permit(principal == Agent::"mcp-bot", action == Action::"call_tool", resource == Tool::"tools/echo");"#;

/// A running Warden with the MCP upstream `tools` registered through the CLI, a policy that
/// lets `mcp-bot` call only `echo`, and a token for `mcp-bot` with `resource=tools`.
struct Deployment {
    _dir: tempfile::TempDir,
    server: RunningServer,
    admin: String,
    upstream: Observed,
    agent_token: String,
}

impl Deployment {
    /// Where the agent speaks MCP: the upstream's `/mcp` endpoint through the gateway.
    fn mcp_url(&self) -> String {
        format!("{}/tools/mcp", self.server.gateway)
    }
}

fn deploy(runtime: &tokio::runtime::Runtime, answers: Answers) -> Deployment {
    let (origin, upstream) = runtime.block_on(start_upstream(answers));
    let (dir, server, admin) = fresh_server();
    server
        .cli(
            &admin,
            &[
                "owner",
                "add",
                "mcp-owner@example.com",
                "--name",
                "MCP Owner",
            ],
        )
        .ok();
    let created = server
        .cli(
            &admin,
            &[
                "agent",
                "create",
                "mcp-bot",
                "--owner",
                "mcp-owner@example.com",
                "-o",
                "json",
            ],
        )
        .json();
    let client_id = created["client_id"].as_str().unwrap().to_string();
    let client_secret = created["client_secret"].as_str().unwrap().to_string();

    let added = warden()
        .env("WARDEN_ADDR", &server.api)
        .env("WARDEN_TOKEN", &admin)
        .env("MCP_TOKEN", UPSTREAM_SECRET)
        .args([
            "upstream",
            "add",
            "tools",
            "--url",
            &origin,
            "--kind",
            "mcp",
            "--auth",
            "bearer",
            "--secret-env",
            "MCP_TOKEN",
        ])
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "upstream add: {}",
        String::from_utf8_lossy(&added.stderr)
    );
    let policy = dir.path().join("mcp-bot.cedar");
    std::fs::write(&policy, POLICY).unwrap();
    server
        .cli(&admin, &["policy", "add", policy.to_str().unwrap()])
        .ok();

    let agent_token = runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{}/oauth/token", server.api))
            .basic_auth(&client_id, Some(&client_secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&resource=tools")
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    });
    Deployment {
        _dir: dir,
        server,
        admin,
        upstream,
        agent_token,
    }
}

/// The error and everything it was caused by, as text.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut chain = vec![error.to_string()];
    let mut next = error.source();
    while let Some(cause) = next {
        chain.push(cause.to_string());
        next = cause.source();
    }
    chain
}

/// The gateway's refusal inside an SDK error: an MCP error with Warden's code, its message,
/// and the refusal as its data.
fn refusal_in(error: &rmcp::ServiceError) -> (i32, String, Value) {
    let rmcp::ServiceError::McpError(data) = error else {
        panic!(
            "the SDK did not see an MCP error but {:?}",
            error_chain(error)
        );
    };
    (
        data.code.0,
        data.message.to_string(),
        data.data.clone().unwrap_or(Value::Null),
    )
}

fn audited_decisions(deployment: &Deployment) -> Vec<(String, String)> {
    deployment
        .server
        .cli(
            &deployment.admin,
            &["audit", "query", "--upstream", "tools", "-o", "json"],
        )
        .ok()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|event| event["kind"] == "gateway.decision")
        .map(|event| {
            (
                event["decision"].as_str().unwrap_or_default().to_string(),
                event["resource"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The whole path with the SDK's client: initialize, a filtered `tools/list`, an allowed call
/// answered by the upstream, a denied call that never reaches it, and only the upstream's own
/// secret on the wire behind the gateway.
fn the_sdk_client_through_the_gateway(answers: Answers) {
    let runtime = runtime();
    let deployment = deploy(&runtime, answers);
    let token = deployment.agent_token.clone();
    runtime.block_on(async {
        let client = connect(&deployment.mcp_url(), &token).await;
        let info = client.peer_info().unwrap();
        assert_eq!(
            info.server_info.as_ref().map(|i| i.name.as_str()),
            Some(UPSTREAM_SERVER_NAME),
            "initialize is answered by the upstream"
        );
        assert!(deployment.upstream.saw_rpc("initialize"));

        let names: Vec<String> = client
            .list_all_tools()
            .await
            .unwrap()
            .into_iter()
            .map(|tool| tool.name.to_string())
            .collect();
        assert_eq!(
            names,
            ["echo"],
            "tools/list shows only what mcp-bot may call"
        );
        assert_eq!(
            deployment.upstream.answers_to("tools/list"),
            [Some(answers.content_type().to_string())],
            "the filter had a {answers:?} answer to work on"
        );

        let echoed = client
            .call_tool(echo_call("hello through warden"))
            .await
            .unwrap();
        assert_eq!(text_of(&echoed), "hello through warden");

        let refused = client
            .call_tool(CallToolRequestParams::new("delete_everything"))
            .await
            .expect_err("the gateway refuses delete_everything");
        let (code, message, data) = refusal_in(&refused);
        assert_eq!(code, -32030, "{refused:?}");
        assert_eq!(
            message,
            r#"no policy permits this request: call_tool on Tool::"tools/delete_everything""#,
            "{refused:?}"
        );
        assert_eq!(data["error"], "forbidden", "{data}");
        assert_eq!(data["rule"], "no_permit", "{data}");

        // A refusal is an answer, not a broken session: the same client carries on.
        let again = client.call_tool(echo_call("still here")).await.unwrap();
        assert_eq!(text_of(&again), "still here");
        client.cancel().await.unwrap();
    });

    let upstream = &deployment.upstream;
    assert_eq!(upstream.executed(), ["echo", "echo"]);
    assert!(
        !upstream.saw_tool("delete_everything"),
        "a denied call never reaches the upstream: {:?}",
        upstream.requests()
    );
    if matches!(answers, Answers::EventStream) {
        assert!(
            upstream.saw_http("GET") && upstream.saw_http("DELETE"),
            "the session's GET stream and its DELETE pass through: {:?}",
            upstream.requests()
        );
    }
    assert_eq!(
        upstream.authorizations(),
        [Some(format!("Bearer {UPSTREAM_SECRET}"))],
        "the upstream sees its own secret on every request, never anything else"
    );
    assert!(
        !upstream.any_header_contains(&token),
        "the agent's token never reaches the upstream"
    );

    let decisions = audited_decisions(&deployment);
    assert!(
        decisions.contains(&("allow".into(), r#"Tool::"tools/echo""#.into())),
        "{decisions:?}"
    );
    assert!(
        decisions.contains(&("deny".into(), r#"Tool::"tools/delete_everything""#.into())),
        "{decisions:?}"
    );
}

#[test]
fn the_sdk_client_through_the_gateway_with_event_streams() {
    the_sdk_client_through_the_gateway(Answers::EventStream);
}

#[test]
fn the_sdk_client_through_the_gateway_with_json_answers() {
    the_sdk_client_through_the_gateway(Answers::Json);
}

/// Requests the SDK would never send: headers that contradict the body are refused before
/// anything is forwarded, and a request without a token is challenged.
#[test]
fn the_gateway_refuses_contradictions_and_challenges_strangers() {
    let runtime = runtime();
    let deployment = deploy(&runtime, Answers::Json);
    let upstream = &deployment.upstream;
    let url = deployment.mcp_url();
    let bearer = format!("Bearer {}", deployment.agent_token);
    let post = |headers: &[(&str, &str)], tool: &str, authenticated: bool| {
        let mut all = headers.to_vec();
        if authenticated {
            all.push(("authorization", bearer.as_str()));
        }
        runtime.block_on(raw_call(&url, &all, tool))
    };

    for (headers, tool, what) in [
        (
            &[("mcp-method", "tools/list")][..],
            "echo",
            "Mcp-Method says tools/list, the body calls echo",
        ),
        (
            &[
                ("mcp-method", "tools/call"),
                ("mcp-name", "delete_everything"),
            ][..],
            "echo",
            "Mcp-Name names another tool than the body",
        ),
        (
            &[("mcp-method", "tools/call"), ("mcp-name", "echo")][..],
            "delete_everything",
            "an allowed name in the header over a denied call in the body",
        ),
    ] {
        let answer = post(headers, tool, true);
        assert_eq!(answer.status, 400, "{what}: {}", answer.text);
        let body: Value = serde_json::from_str(&answer.text).unwrap();
        assert_eq!(body["error"]["code"], -32020, "{what}: {body}");
        assert_eq!(
            body["error"]["data"]["error"], "bad_request",
            "{what}: {body}"
        );
    }
    assert!(
        upstream.requests().is_empty(),
        "no contradicted request reached the upstream: {:?}",
        upstream.requests()
    );

    // Resources, prompts and completions are decided like tools: none is permitted here,
    // so each is a JSON-RPC error the client reads; a method no policy can govern is
    // "method not found". None reaches the upstream.
    for (method, code, rule) in [
        ("resources/read", -32030, "no_permit"),
        ("prompts/get", -32030, "no_permit"),
        ("completion/complete", -32030, "no_permit"),
        ("sampling/createMessage", -32601, "mcp_method"),
    ] {
        let response = runtime.block_on(
            reqwest::Client::new()
                .post(&url)
                .header("accept", "application/json, text/event-stream")
                .header("authorization", bearer.as_str())
                .json(&serde_json::json!({
                    "jsonrpc": "2.0", "id": 8, "method": method,
                    "params": {
                        "uri": "file:///etc/passwd", "name": "x",
                        "ref": {"type": "ref/prompt", "name": "x"}
                    }
                }))
                .send(),
        );
        let response = response.unwrap();
        let status = response.status();
        let body: Value = runtime.block_on(response.json()).unwrap();
        assert_eq!(body["id"], 8, "{method}: {body}");
        assert_eq!(body["error"]["code"], code, "{method}: {body}");
        assert_eq!(body["error"]["data"]["rule"], rule, "{method}: {body}");
        assert_eq!(status, 200, "{method}: {body}");
    }
    assert!(upstream.requests().is_empty(), "{:?}", upstream.requests());

    let answer = post(&[], "echo", false);
    assert_eq!(answer.status, 401, "{}", answer.text);
    let challenge = answer.challenge.unwrap_or_default();
    assert!(challenge.contains("resource_metadata"), "{challenge}");
    assert!(upstream.requests().is_empty());

    // The SDK's client sees the same challenge, so it could start an OAuth flow from it.
    let error = runtime.block_on(async {
        ClientConfig::default()
            .serve(StreamableHttpClientTransport::from_uri(url.as_str()))
            .await
            .expect_err("no token, no session")
    });
    assert!(
        error
            .auth_challenge()
            .is_some_and(|c| c.contains("resource_metadata")),
        "{error:?}"
    );
    assert!(upstream.requests().is_empty());

    // The control: the same call with headers that agree with the body goes through.
    let answer = post(
        &[("mcp-method", "tools/call"), ("mcp-name", "echo")],
        "echo",
        true,
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(answer.text.contains("hi"), "{}", answer.text);
    assert_eq!(upstream.executed(), ["echo"]);
    assert_eq!(
        upstream.authorizations(),
        [Some(format!("Bearer {UPSTREAM_SECRET}"))]
    );
}
