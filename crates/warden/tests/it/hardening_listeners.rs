//! The listeners' guards through the real binary, with raw sockets: slow and idle clients
//! are cut off on both listeners, a stalled body is answered 408 and forwards nothing,
//! connections over the caps are refused while the API (and its kill switch) keeps
//! answering, and a gateway connection whose framing the byte-level check cannot vouch
//! for is refused and closed before anything smuggled on it reaches the upstream.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use crate::gateway::{Rig, access_token, raw};
use crate::harness::{RunningServer, warden};

/// Short timeouts so each guard shows within seconds; the idle timeout is longer than the
/// header timeout, so a close after it proves which one governed.
const QUICK: &str = "[gateway]
header_read_timeout_secs = 1
idle_timeout_secs = 2
body_timeout_secs = 1

[api]
header_read_timeout_secs = 1
idle_timeout_secs = 2
body_timeout_secs = 1
";

fn socket_addr(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").parse().unwrap()
}

async fn connect(url: &str) -> TcpStream {
    TcpStream::connect(socket_addr(url)).await.unwrap()
}

/// Connects from `source` (any 127.0.0.0/8 address is the loopback on Linux).
async fn connect_from(source: Ipv4Addr, url: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((source, 0))).unwrap();
    socket.connect(socket_addr(url)).await.unwrap()
}

/// Reads until the peer closes (or resets) the connection and returns what was read, or
/// `None` if it is still open after `deadline`.
async fn read_until_closed(stream: &mut TcpStream, deadline: Duration) -> Option<Vec<u8>> {
    let mut seen = Vec::new();
    let until = Instant::now() + deadline;
    let mut buf = [0u8; 4096];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(seen),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads one response (head, and a body of `Content-Length`) without waiting for a close.
async fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = String::from_utf8_lossy(&seen).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= length {
                let status = head.split(' ').nth(1).unwrap().parse().unwrap();
                return (status, text);
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, stream.read(&mut buf))
            .await
            .expect("no complete response")
            .unwrap();
        assert!(n > 0, "closed before a complete response: {text}");
        seen.extend_from_slice(&buf[..n]);
    }
}

/// Sends a request head one header line at a time, every 250 ms, until the server closes
/// the connection, and returns how long that took (`None`: still open after 8 s).
async fn drip_head(url: &str, request_line: &str) -> Option<Duration> {
    let mut stream = connect(url).await;
    let started = Instant::now();
    stream.write_all(request_line.as_bytes()).await.unwrap();
    let mut buf = [0u8; 1024];
    for n in 0..32 {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return Some(started.elapsed()),
                Ok(_) => {}
            },
            () = tokio::time::sleep(Duration::from_millis(250)) => {
                if stream.write_all(format!("X-Drip-{n}: x\r\n").as_bytes()).await.is_err() {
                    return Some(started.elapsed());
                }
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dripping_request_head_is_closed_within_the_header_timeout_on_both_listeners() {
    let rig = Rig::start(QUICK).await;
    for (listener, url, line) in [
        ("api", &rig.server.api, "GET /healthz HTTP/1.1\r\n"),
        (
            "gateway",
            &rig.server.gateway,
            "GET /crm/tickets/1 HTTP/1.1\r\n",
        ),
    ] {
        let took = drip_head(url, line).await;
        let took = took.unwrap_or_else(|| panic!("{listener}: a dripping head was never closed"));
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(3),
            "{listener}: closed after {took:?}, the header timeout is 1 s"
        );
    }
    // A connection that sends nothing at all owes its head within the same time.
    let mut silent = connect(&rig.server.gateway).await;
    assert!(
        read_until_closed(&mut silent, Duration::from_secs(3))
            .await
            .is_some(),
        "a silent connection was never closed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let rig = Rig::start(QUICK).await;
    let auth = format!("Authorization: Bearer {}\r\n", rig.token);
    for (listener, url, request) in [
        (
            "api",
            &rig.server.api,
            "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".to_string(),
        ),
        (
            "gateway",
            &rig.server.gateway,
            format!("GET /crm/tickets/1 HTTP/1.1\r\nHost: x\r\n{auth}\r\n"),
        ),
    ] {
        let mut stream = connect(url).await;
        // Two requests on one connection: it is kept alive between them.
        for _ in 0..2 {
            stream.write_all(request.as_bytes()).await.unwrap();
            let (status, text) = read_response(&mut stream).await;
            assert_eq!(status, 200, "{listener}: {text}");
        }
        let idle_from = Instant::now();
        let closed = read_until_closed(&mut stream, Duration::from_secs(6)).await;
        let took = idle_from.elapsed();
        assert!(
            closed.is_some(),
            "{listener}: an idle connection stayed open"
        );
        assert!(
            took >= Duration::from_millis(1800) && took < Duration::from_secs(4),
            "{listener}: closed after {took:?} idle, the idle timeout is 2 s"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_request_body_is_answered_408_and_reaches_no_upstream() {
    let rig = Rig::start(QUICK).await;
    // An MCP upstream (its bodies are read whole before anything is forwarded) on the
    // same recording server, under its own path.
    let added = warden()
        .env("WARDEN_ADDR", &rig.server.api)
        .env("WARDEN_TOKEN", &rig.admin)
        .env("MCP_TOKEN", "mcp-upstream-secret")
        .args(["upstream", "add", "tools", "--url"])
        .arg(format!("http://{}/mcp", rig.upstream.addr))
        .args([
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
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let mcp_token = access_token(&rig.server, &rig.client_id, &rig.client_secret, "tools").await;
    let cases = [
        (
            "an MCP body",
            rig.server.gateway.clone(),
            format!(
                "POST /tools HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {mcp_token}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 200\r\n\r\n{{\"jsonrpc\":\"2.0\","
            ),
        ),
        (
            "an HTTP body",
            rig.server.gateway.clone(),
            format!(
                "GET /crm/tickets/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 200\r\n\r\nstalled-",
                rig.token
            ),
        ),
        (
            "an API body",
            rig.server.api.clone(),
            format!(
                "POST /v1/kill HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"identity\":",
                rig.admin
            ),
        ),
    ];
    for (what, url, request) in cases {
        let mut stream = connect(&url).await;
        let started = Instant::now();
        stream.write_all(request.as_bytes()).await.unwrap();
        let answer = read_until_closed(&mut stream, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("{what}: the connection stayed open"));
        let text = String::from_utf8_lossy(&answer).into_owned();
        assert!(text.starts_with("HTTP/1.1 408 "), "{what}: {text}");
        assert!(
            text.to_ascii_lowercase().contains("connection: close"),
            "{what}: {text}"
        );
        assert!(text.contains("request_timeout"), "{what}: {text}");
        assert!(started.elapsed() < Duration::from_secs(4), "{what}");
    }
    let seen = rig.upstream.seen();
    assert!(
        seen.iter().all(|seen| !seen.target.starts_with("/mcp")),
        "a stalled MCP request was forwarded: {seen:?}"
    );
    assert!(
        seen.iter().all(|seen| !seen.complete),
        "a stalled request reached the upstream whole: {seen:?}"
    );
    // The API request never completed, so nothing was killed.
    let (status, _) = raw(
        &rig.server.gateway,
        format!(
            "GET /crm/tickets/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            rig.token
        ),
    )
    .await;
    assert_eq!(status, 200);
}

/// A connection over a cap is answered 503 or closed at once.
async fn assert_refused(mut stream: TcpStream, what: &str) {
    let answer = read_until_closed(&mut stream, Duration::from_secs(2))
        .await
        .unwrap_or_else(|| panic!("{what}: a connection over the cap was kept open"));
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 503 "),
        "{what}: {text}"
    );
}

/// The API answers `/healthz` and an authenticated kill goes through.
async fn assert_api_and_kill_switch_answer(server: &RunningServer, admin: &str, agent: &str) {
    let health = tokio::time::timeout(
        Duration::from_secs(5),
        reqwest::get(format!("{}/healthz", server.api)),
    )
    .await
    .expect("/healthz did not answer")
    .unwrap();
    assert_eq!(health.status(), 200);
    let killed = tokio::time::timeout(
        Duration::from_secs(10),
        reqwest::Client::new()
            .post(format!("{}/v1/kill", server.api))
            .bearer_auth(admin)
            .json(&serde_json::json!({"identity": format!("agent:{agent}")}))
            .send(),
    )
    .await
    .expect("POST /v1/kill did not answer")
    .unwrap();
    let status = killed.status();
    let body: Value = killed.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_over_the_gateway_caps_are_refused_and_the_kill_switch_keeps_answering() {
    let rig = Rig::start(
        "[gateway]\nmax_connections = 6\nmax_connections_per_source = 3\nheader_read_timeout_secs = 30\n",
    )
    .await;
    let gateway = &rig.server.gateway;
    let first: Ipv4Addr = [127, 0, 0, 1].into();
    let second: Ipv4Addr = [127, 0, 0, 2].into();
    let third: Ipv4Addr = [127, 0, 0, 3].into();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from(first, gateway).await);
    }
    assert_refused(connect_from(first, gateway).await, "per source").await;
    for _ in 0..3 {
        held.push(connect_from(second, gateway).await);
    }
    assert_refused(connect_from(third, gateway).await, "in total").await;
    assert_api_and_kill_switch_answer(&rig.server, &rig.admin, "support-bot").await;
    let metrics = reqwest::get(format!("{}/metrics", rig.server.api))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "warden_listener_connections_refused_total{listener=\"gateway\",cap=\"per_source\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "warden_listener_connections_refused_total{listener=\"gateway\",cap=\"total\"} 1"
        ),
        "{metrics}"
    );
    // A closed connection frees its place: the next one is served.
    drop(held.remove(0));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut stream = connect_from(third, gateway).await;
        stream
            .write_all(b"GET /crm/tickets/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let answer = read_until_closed(&mut stream, Duration::from_secs(5))
            .await
            .unwrap_or_default();
        if String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 401 ") {
            break;
        }
        assert!(Instant::now() < deadline, "a freed place was never reused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_flood_cannot_starve_the_api_of_file_descriptors() {
    // 256 descriptors and the default caps, derived from them; 300 idle connections to the
    // gateway from 30 addresses would exhaust the process without the caps.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("warden.toml");
    std::fs::write(&config, "[gateway]\nheader_read_timeout_secs = 60\n").unwrap();
    let server = RunningServer::start_with_fd_limit(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
        256,
    );
    let admin = server.printed_token.clone().unwrap();
    server
        .cli(
            &admin,
            &["owner", "add", "ops@example.com", "--name", "Ops"],
        )
        .ok();
    server
        .cli(
            &admin,
            &["agent", "create", "flood-bot", "--owner", "ops@example.com"],
        )
        .ok();
    let mut flood = Vec::new();
    for source in 1..=30u8 {
        for _ in 0..10 {
            flood.push(connect_from([127, 0, 0, source].into(), &server.gateway).await);
        }
    }
    assert_api_and_kill_switch_answer(&server, &admin, "flood-bot").await;
    let metrics = reqwest::get(format!("{}/metrics", server.api))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("warden_listener_connections_refused_total{listener=\"gateway\""),
        "{metrics}"
    );
    drop(flood);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_the_framing_check_cannot_follow_is_closed_before_anything_smuggled_reaches_the_upstream()
 {
    let rig = Rig::start("").await;
    let auth = format!("Authorization: Bearer {}\r\n", rig.token);
    let smuggled = format!(
        "POST /crm/tickets/2 HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /crm/tickets/3 HTTP/1.1\r\nHost: x\r\n{auth}\r\n"
    );
    let long_line = "a".repeat(70 * 1024);
    let openers = [
        (
            "an upgrade",
            format!(
                "GET /crm/tickets/1 HTTP/1.1\r\nHost: x\r\n{auth}Upgrade: websocket\r\nConnection: upgrade\r\n\r\n"
            ),
        ),
        (
            "a CONNECT",
            "CONNECT upstream:443 HTTP/1.1\r\nHost: upstream:443\r\n\r\n".to_string(),
        ),
        (
            "a 70 KB header line",
            format!("GET /crm/tickets/1 HTTP/1.1\r\nHost: x\r\n{auth}X-Pad: {long_line}\r\n\r\n"),
        ),
    ];
    for (what, opener) in openers {
        let (status, body) = raw(&rig.server.gateway, format!("{opener}{smuggled}")).await;
        assert_eq!(status, 400, "{what}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{what}: {body}"));
        assert_eq!(body["error"], "bad_request", "{what}");
        assert_eq!(body["rule"], "framing", "{what}");
    }
    assert!(
        rig.upstream.seen().is_empty(),
        "requests reached the upstream: {:?}",
        rig.upstream.seen()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn equal_duplicate_content_lengths_and_fragments_are_refused() {
    let rig = Rig::start("").await;
    let auth = format!("Authorization: Bearer {}\r\n", rig.token);
    let cases = [
        (
            "two equal Content-Length headers",
            format!(
                "PUT /crm/tickets/1 HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc"
            ),
            "Content-Length",
        ),
        (
            "a #fragment",
            format!("GET /crm/tickets/1#admin HTTP/1.1\r\nHost: x\r\n{auth}\r\n"),
            "fragment",
        ),
    ];
    for (what, request, names) in cases {
        let (status, body) = raw(&rig.server.gateway, request).await;
        assert_eq!(status, 400, "{what}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{what}: {body}"));
        assert_eq!(body["error"], "bad_request", "{what}");
        assert!(
            body["message"].as_str().unwrap().contains(names),
            "{what}: {body}"
        );
    }
    assert!(
        rig.upstream.seen().is_empty(),
        "refused requests reached the upstream: {:?}",
        rig.upstream.seen()
    );
    // The token named its agent, so both refusals are on the record.
    let framing_refusals = || async {
        let response = reqwest::Client::new()
            .get(format!("{}/v1/audit/events", rig.server.api))
            .bearer_auth(&rig.admin)
            .query(&[("kind", "gateway.decision"), ("limit", "100")])
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        body["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|event| {
                event["details"]["rule"] == "framing" && event["actor"]["name"] == "support-bot"
            })
            .count()
    };
    crate::gateway::eventually(
        "both refusals on the record",
        Duration::from_secs(5),
        || async { framing_refusals().await == 2 },
    )
    .await;
}
