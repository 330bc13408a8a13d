//! The access graph end to end with the real binary: an agent with a sub-agent, an upstream
//! whose secret belongs to an imported identity with entitlements, one action used through
//! the gateway and one not; the graph as JSON and as dot, the reach a kill's dry run lists,
//! and the clear refusals of bad input.

use serde_json::Value;

use crate::gateway::Rig;

const INVENTORY: &str = "kind,name,external_id,owner,entitlements\n\
service_account,crm-integration,crm-int-1,alice@example.com,crm:tickets/write;crm:admin/all\n";

fn permits(graph: &Value, principal: &str) -> Vec<(String, String, bool)> {
    let name_of = |id: &str| {
        graph["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|node| node["id"] == id)
            .map(|node| node["name"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|edge| edge["kind"] == "permits" && edge["principal"] == principal)
        .map(|edge| {
            (
                name_of(edge["to"].as_str().unwrap()),
                edge["standing"].as_str().unwrap().to_string(),
                edge["used"] == true,
            )
        })
        .collect()
}

fn node<'a>(graph: &'a Value, id: &str) -> &'a Value {
    graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|node| node["id"] == id)
        .unwrap_or_else(|| panic!("no node {id} in {graph}"))
}

#[tokio::test]
async fn an_agents_graph_follows_its_sub_agent_upstream_injected_identity_and_use() {
    let rig = Rig::start("").await;
    let admin = rig.admin.as_str();
    let server = &rig.server;
    server
        .cli(
            admin,
            &[
                "agent",
                "create",
                "triage-bot",
                "--owner",
                "alice@example.com",
                "--parent",
                "agent:support-bot",
            ],
        )
        .ok();
    let csv = rig.dir.path().join("inventory.csv");
    std::fs::write(&csv, INVENTORY).unwrap();
    server
        .cli(
            admin,
            &["import", csv.to_str().unwrap(), "--source", "crm-admin"],
        )
        .ok();
    let listed = server
        .cli(admin, &["inventory", "list", "-o", "json"])
        .json();
    let imported = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["name"] == "crm-integration")
        .unwrap_or_else(|| panic!("{listed}"));
    let imported_id = imported["id"].as_str().unwrap().to_string();

    // An unknown identity is refused and changes nothing.
    let refused = server.cli(
        admin,
        &[
            "upstream",
            "update",
            "crm",
            "--identity",
            "service_account:nobody",
        ],
    );
    assert_ne!(refused.code(), 0);
    assert!(
        refused.stderr().contains("service_account:nobody")
            && refused.stderr().contains("neither a registered identity"),
        "{}",
        refused.stderr()
    );
    let unchanged = server
        .cli(admin, &["upstream", "show", "crm", "-o", "json"])
        .json();
    assert!(unchanged["identity"].is_null(), "{unchanged}");

    let bound = server
        .cli(
            admin,
            &[
                "upstream",
                "update",
                "crm",
                "--identity",
                &imported_id,
                "-o",
                "json",
            ],
        )
        .json();
    assert_eq!(bound["identity"]["source"], "imported", "{bound}");
    assert_eq!(bound["identity"]["id"], imported_id.as_str());
    assert_eq!(
        bound["identity"]["reference"], "service_account:crm-integration",
        "{bound}"
    );
    let shown = server.cli(admin, &["upstream", "show", "crm"]).ok();
    assert!(shown.contains("service_account:crm-integration"), "{shown}");

    // One action used through the gateway; `stream.read` is allowed but never used.
    let response = reqwest::Client::new()
        .get(rig.gateway("/crm/tickets/7"))
        .bearer_auth(&rig.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // By default the denied actions are counted on the agent's `reaches` edge, not listed.
    let folded = server
        .cli(admin, &["graph", "agent", "support-bot", "-o", "json"])
        .json();
    let folded_agent = folded["agent"].as_str().unwrap();
    let reaches_crm = folded["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|edge| {
            edge["kind"] == "reaches"
                && edge["from"] == folded_agent
                && edge["to"] == "upstream:crm"
        })
        .unwrap_or_else(|| panic!("no reaches edge to crm in {folded}"));
    assert_eq!(reaches_crm["denied_actions"], 1, "{reaches_crm}");
    assert!(
        folded["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|node| node["id"] != "action:crm:GET /admin/{name}"),
        "a denied action is not listed by default: {folded}"
    );
    let text = server.cli(admin, &["graph", "agent", "support-bot"]).ok();
    assert!(
        text.contains("1 action (--denied list names them)"),
        "{text}"
    );

    let graph = server
        .cli(
            admin,
            &[
                "graph",
                "agent",
                "support-bot",
                "--denied",
                "list",
                "-o",
                "json",
            ],
        )
        .json();
    let agent = graph["agent"].as_str().unwrap().to_string();
    assert_eq!(node(&graph, &agent)["kind"], "agent");
    assert_eq!(node(&graph, &agent)["name"], "agent:support-bot");
    let sub = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|node| node["kind"] == "sub_agent")
        .unwrap_or_else(|| panic!("no sub-agent in {graph}"));
    assert_eq!(sub["name"], "agent:triage-bot");
    assert_eq!(
        permits(&graph, &agent),
        vec![
            ("GET /tickets/{id}".to_string(), "allowed".to_string(), true),
            (
                "POST /tickets/{id}/refund".to_string(),
                "after_approval".to_string(),
                false
            ),
            ("GET /stream".to_string(), "allowed".to_string(), false),
            ("GET /admin/{name}".to_string(), "denied".to_string(), false),
        ]
    );
    let read = graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|edge| edge["kind"] == "permits" && edge["to"] == "action:crm:GET /tickets/{id}")
        .unwrap();
    assert_eq!(read["why"]["policy_ids"][0], "support#1", "{read}");
    let nhi = format!("nhi:imported:{imported_id}");
    assert_eq!(
        node(&graph, &nhi)["name"],
        "service_account:crm-integration"
    );
    let injects = graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|edge| edge["kind"] == "injects")
        .unwrap();
    assert_eq!(injects["from"], "upstream:crm");
    assert_eq!(injects["to"], nhi.as_str());
    assert_eq!(injects["used"], true, "the gateway injected it: {injects}");
    let mut entitlements: Vec<&str> = graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|edge| edge["kind"] == "entitled")
        .map(|edge| {
            node(&graph, edge["to"].as_str().unwrap())["name"]
                .as_str()
                .unwrap()
        })
        .collect();
    entitlements.sort_unstable();
    assert_eq!(entitlements, vec!["crm:admin/all", "crm:tickets/write"]);
    let holds = graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|edge| edge["kind"] == "holds" && edge["from"] == agent.as_str())
        .count();
    assert_eq!(holds, 1, "the agent's one client secret");

    // The same graph as dot, and as text for people.
    let drawn = server
        .cli(admin, &["graph", "agent", "support-bot", "-o", "dot"])
        .ok();
    assert!(drawn.starts_with("digraph "), "{drawn}");
    assert!(
        drawn.contains(r#""upstream:crm" -> "action:crm:GET /tickets/{id}""#),
        "{drawn}"
    );
    assert!(
        drawn.contains("penwidth=2.5"),
        "used edges are bold: {drawn}"
    );
    assert!(drawn.contains("crm:admin/all"), "{drawn}");
    let text = server.cli(admin, &["graph", "agent", "support-bot"]).ok();
    assert!(
        text.contains("injects the secret of service_account:crm-integration"),
        "{text}"
    );
    assert!(text.contains("GET /tickets/{id}"), "{text}");

    // The blast radius: what a kill would take away, and nothing changed.
    let dry = server
        .cli(
            admin,
            &["kill", "agent", "support-bot", "--dry-run", "-o", "json"],
        )
        .json();
    assert_eq!(dry["dry_run"], true);
    let reach = dry["reaches"].as_array().unwrap();
    assert_eq!(reach.len(), 1, "{dry}");
    assert_eq!(reach[0]["upstream"], "crm");
    assert_eq!(reach[0]["principal"], "agent:support-bot");
    let names: Vec<&str> = reach[0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|action| action["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "GET /tickets/{id}",
            "POST /tickets/{id}/refund",
            "GET /stream"
        ]
    );
    let table = server
        .cli(admin, &["kill", "agent", "support-bot", "--dry-run"])
        .ok();
    assert!(table.contains("what it could reach"), "{table}");
    assert!(table.contains("GET /tickets/{id}"), "{table}");
    let still = server
        .cli(admin, &["agent", "show", "support-bot", "-o", "json"])
        .json();
    assert_eq!(still["status"], "active", "a dry run changes nothing");

    // The API answers the same document.
    let api = reqwest::Client::new()
        .get(format!(
            "{}/v1/identities/agent:support-bot/graph?depth=1",
            server.api
        ))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200);
    let shallow: Value = api.json().await.unwrap();
    assert!(
        shallow["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|node| node["depth"].as_u64().unwrap() <= 1),
        "{shallow}"
    );
}

#[tokio::test]
async fn bad_graph_requests_are_refused_with_what_to_do() {
    let rig = Rig::start("").await;
    let admin = rig.admin.as_str();
    let unknown = rig.server.cli(admin, &["graph", "agent", "no-such-bot"]);
    assert_ne!(unknown.code(), 0);
    assert!(
        unknown.stderr().contains("agent:no-such-bot"),
        "{}",
        unknown.stderr()
    );
    for depth in ["0", "9"] {
        let bad = rig
            .server
            .cli(admin, &["graph", "agent", "support-bot", "--depth", depth]);
        assert_ne!(bad.code(), 0, "depth {depth}");
        assert!(
            bad.stderr().contains("depth") && bad.stderr().contains("1 to 8"),
            "{}",
            bad.stderr()
        );
    }
    let days = rig
        .server
        .cli(admin, &["graph", "agent", "support-bot", "--days", "0"]);
    assert_ne!(days.code(), 0);
    assert!(days.stderr().contains("days"), "{}", days.stderr());
    let text = reqwest::Client::new()
        .get(format!(
            "{}/v1/identities/agent:support-bot/graph?depth=deep",
            rig.server.api
        ))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 422);
    let body: Value = text.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("deep"),
        "{body}"
    );
    let dot_elsewhere = rig.server.cli(admin, &["upstream", "list", "-o", "dot"]);
    assert_ne!(dot_elsewhere.code(), 0);
    assert!(
        dot_elsewhere
            .stderr()
            .contains("-o dot draws `warden graph agent`"),
        "{}",
        dot_elsewhere.stderr()
    );
}
