//! Each toxic-combination rule over access graphs of fixtures: firing, with the path as its
//! evidence, and on a near miss that differs by one permit, label or date.

use warden_core::{Environment, IdentityKind, IdentityStatus, Timestamp};
use warden_policy::{
    PolicyDocument, PolicyEngine, RouteMap, SchemaInput, UpstreamKind, UpstreamSchemaInput,
};
use warden_posture::access_graph::{
    ActionFacts, EntitlementFacts, GraphInput, IdentityFacts, InjectedFacts, UpstreamFacts,
    UseFacts, build,
};
use warden_posture::toxic::{PathInput, builtin_rules, evaluate_paths};
use warden_posture::{Finding, OwaspNhi, Severity};

use crate::{NOW, days_ago};

const CRM: &str = r#"
[[route]]
method = "GET"
path = "/customers/{id}"
action = "customers.read"
resource = "Customer::{id}"

[[route]]
method = "POST"
path = "/customers/{id}/notes"
action = "customers.note"
resource = "Customer::{id}"
"#;

const MAIL: &str = r#"
[[route]]
method = "POST"
path = "/send"
action = "mail.send"
resource = "Message::new"

[[route]]
method = "GET"
path = "/outbox"
action = "mail.list"
resource = "Message::outbox"
"#;

const TICKETS: &str = r#"
[[route]]
method = "POST"
path = "/requests"
action = "requests.create"
resource = "Request::new"
labels = ["request"]

[[route]]
method = "POST"
path = "/requests/{id}/approve"
action = "requests.approve"
resource = "Request::{id}"
labels = ["approve"]
"#;

const K8S: &str = r#"
[[route]]
method = "GET"
path = "/pods"
action = "pods.list"
resource = "Pod::all"
"#;

/// Name, labels, routes (or tools with their labels), in the order the graph lists them.
/// An upstream's route map, or its MCP tools with their labels.
type Actions = Result<&'static str, Vec<(&'static str, Vec<&'static str>)>>;

fn upstreams() -> Vec<(&'static str, Vec<&'static str>, Actions)> {
    vec![
        ("crm", vec!["sensitive", "prod"], Ok(CRM)),
        ("mail", vec!["external", "prod"], Ok(MAIL)),
        ("tickets", vec![], Ok(TICKETS)),
        (
            "ci",
            vec!["staging"],
            Err(vec![
                ("commit", vec!["change", "write"]),
                ("deploy", vec!["deploy"]),
            ]),
        ),
        ("k8s", vec![], Ok(K8S)),
    ]
}

fn engine(policies: &str) -> PolicyEngine {
    let input = SchemaInput {
        upstreams: upstreams()
            .into_iter()
            .map(|(name, _, actions)| UpstreamSchemaInput {
                name: name.into(),
                kind: match actions {
                    Ok(routes) => UpstreamKind::Http {
                        routes: RouteMap::from_toml(routes).unwrap(),
                    },
                    Err(tools) => UpstreamKind::Mcp {
                        tools: tools.iter().map(|(tool, _)| tool.to_string()).collect(),
                    },
                },
            })
            .collect(),
    };
    PolicyEngine::new(&input, &[PolicyDocument::new("fixture", policies)]).unwrap()
}

fn agent(id: &str, name: &str, parent: Option<&str>, created: Timestamp) -> IdentityFacts {
    IdentityFacts {
        id: id.into(),
        kind: IdentityKind::Agent,
        name: name.into(),
        owner: "alice@example.com".into(),
        environment: Some(Environment::Prod),
        status: IdentityStatus::Active,
        parent_id: parent.map(Into::into),
        created_at: created,
    }
}

fn facts() -> Vec<UpstreamFacts> {
    upstreams()
        .into_iter()
        .map(|(name, labels, actions)| UpstreamFacts {
            name: name.into(),
            kind: if actions.is_ok() { "http" } else { "mcp" }.into(),
            labels: labels.into_iter().map(Into::into).collect(),
            actions: match actions {
                Ok(routes) => ActionFacts::routes(&RouteMap::from_toml(routes).unwrap()),
                Err(tools) => tools
                    .into_iter()
                    .map(|(tool, labels)| {
                        ActionFacts::tool(name, tool, labels.into_iter().map(Into::into).collect())
                    })
                    .collect(),
            },
            injects: (name == "k8s").then(|| InjectedFacts {
                id: "imp-1".into(),
                source: "imported".into(),
                reference: "service_account:deployer".into(),
                import_source: Some("k8s".into()),
                status: Some("present".into()),
                entitlements: vec![
                    EntitlementFacts {
                        value: "k8s:rule/core/pods/list".into(),
                        scope: None,
                        via: None,
                    },
                    EntitlementFacts {
                        value: "k8s:clusterrole/cluster-admin".into(),
                        scope: None,
                        via: Some("ClusterRoleBinding/deployer".into()),
                    },
                ],
            }),
        })
        .collect()
}

fn used(who: &str, days: i64, upstream: &str, action: &str, resource: &str) -> UseFacts {
    UseFacts {
        identity_id: who.into(),
        at: days_ago(days),
        upstream: Some(upstream.into()),
        action: Some(action.into()),
        resource: Some(resource.into()),
        credential_id: None,
        on_behalf_of: None,
    }
}

/// `bot` (registered `created` ago) with the sub-agent `helper`, under `policies`; the
/// findings of the built-in rules over bot's graph, or over helper's when `of_helper`.
struct Case {
    policies: &'static str,
    created: Timestamp,
    uses: Vec<UseFacts>,
    /// bot's trail was read only in part.
    cut: bool,
    of_helper: bool,
}

impl Case {
    fn new(policies: &'static str) -> Self {
        Self {
            policies,
            created: days_ago(100),
            uses: Vec::new(),
            cut: false,
            of_helper: false,
        }
    }

    fn findings(&self) -> Vec<Finding> {
        let bot = agent("a1", "bot", None, self.created);
        let helper = agent("a2", "helper", Some("a1"), self.created);
        let (me, parent, subs) = if self.of_helper {
            (helper, Some(bot), Vec::new())
        } else {
            (bot, None, vec![helper])
        };
        let mut input = GraphInput {
            agent: me,
            parent,
            sub_agents: subs,
            credentials: Vec::new(),
            trusted_issuers: Vec::new(),
            upstreams: facts(),
            uses: self.uses.clone(),
            uses_cut: if self.cut {
                vec!["a1".into()]
            } else {
                Vec::new()
            },
            reach_only: false,
            now: NOW,
            days: 30,
            depth: 8,
        };
        let engine = engine(self.policies);
        let rules = builtin_rules().unwrap();
        let judge = |input: &GraphInput| {
            let graph = build(input, &engine).unwrap();
            evaluate_paths(
                &PathInput {
                    graph: &graph,
                    agent_created_at: self.created,
                    now: NOW,
                },
                rules,
            )
        };
        let whole = judge(&input);
        // The posture pass builds only what is within reach; the rules must not tell.
        input.reach_only = true;
        assert_eq!(judge(&input), whole, "the reach-only graph judges the same");
        whole
    }

    fn rule(&self, id: &str) -> Option<Finding> {
        self.findings().into_iter().find(|f| f.rule == id)
    }
}

#[test]
fn a_sensitive_read_beside_an_external_write_is_an_exfiltration_path() {
    let found = Case::new(
        r#"permit(principal == Agent::"bot", action in [Action::"customers.read", Action::"mail.send"], resource);"#,
    )
    .rule("path-exfiltration")
    .expect("fires");
    assert_eq!(found.severity, Severity::Critical);
    assert_eq!(found.owasp, OwaspNhi::OverprivilegedNhi);
    assert_eq!(found.identity, "agent:bot");
    assert!(
        found.evidence.contains(
            "agent:bot → crm → GET /customers/{id} [prod, sensitive] (allowed; policy fixture"
        ),
        "{}",
        found.evidence
    );
    assert!(
        found.evidence.contains("agent:bot → mail → POST /send"),
        "{}",
        found.evidence
    );
    assert!(
        found.evidence.ends_with("(OWASP agentic ASI03)"),
        "{}",
        found.evidence
    );
}

#[test]
fn reading_an_external_sink_is_no_exfiltration_path() {
    // Near miss: the external upstream is only read (GET /outbox), never written to.
    let case = Case::new(
        r#"permit(principal == Agent::"bot", action in [Action::"customers.read", Action::"mail.list"], resource);"#,
    );
    assert_eq!(case.rule("path-exfiltration"), None);
    // Near miss: the send is forbidden, so nothing external is within reach.
    let forbidden = Case::new(
        r#"permit(principal == Agent::"bot", action in [Action::"customers.read", Action::"mail.send"], resource);
           forbid(principal, action == Action::"mail.send", resource);"#,
    );
    assert_eq!(forbidden.rule("path-exfiltration"), None);
}

#[test]
fn a_write_held_for_approval_still_completes_the_path() {
    let found = Case::new(
        r#"permit(principal == Agent::"bot", action == Action::"customers.read", resource);
           @approval("mail")
           permit(principal == Agent::"bot", action == Action::"mail.send", resource);"#,
    )
    .rule("path-exfiltration")
    .expect("fires");
    assert!(
        found
            .evidence
            .contains("POST /send [external, prod] (after_approval"),
        "{}",
        found.evidence
    );
}

#[test]
fn the_path_through_a_sub_agent_counts_for_its_parent_only() {
    let policies = r#"permit(principal == Agent::"bot", action == Action::"customers.read", resource);
                      permit(principal == Agent::"helper", action == Action::"mail.send", resource);"#;
    let found = Case::new(policies)
        .rule("path-exfiltration")
        .expect("fires on bot");
    assert!(
        found.evidence.contains("agent:helper → mail → POST /send"),
        "{}",
        found.evidence
    );
    let helper = Case {
        of_helper: true,
        ..Case::new(policies)
    };
    assert_eq!(
        helper.rule("path-exfiltration"),
        None,
        "helper alone cannot read"
    );
}

#[test]
fn requesting_and_approving_breaks_separation_of_duties() {
    let both = Case::new(
        r#"permit(principal == Agent::"bot", action in [Action::"requests.create", Action::"requests.approve"], resource);"#,
    );
    let found = both.rule("path-request-and-approve").expect("fires");
    assert!(
        found.evidence.contains("POST /requests [request]"),
        "{}",
        found.evidence
    );
    assert!(
        found
            .evidence
            .contains("POST /requests/{id}/approve [approve]"),
        "{}",
        found.evidence
    );
    let one = Case::new(
        r#"permit(principal == Agent::"bot", action == Action::"requests.create", resource);"#,
    );
    assert_eq!(one.rule("path-request-and-approve"), None);
}

#[test]
fn changing_and_deploying_breaks_separation_of_duties() {
    let both = Case::new(
        r#"permit(principal == Agent::"bot", action == Action::"call_tool", resource in Upstream::"ci");"#,
    );
    let found = both.rule("path-change-and-deploy").expect("fires");
    assert!(found.evidence.contains("ci → commit"), "{}", found.evidence);
    assert!(found.evidence.contains("ci → deploy"), "{}", found.evidence);
    let commit_only = Case::new(
        r#"permit(principal == Agent::"bot", action == Action::"call_tool", resource == Tool::"ci/commit");"#,
    );
    assert_eq!(commit_only.rule("path-change-and-deploy"), None);
}

#[test]
fn reaching_prod_and_staging_breaks_environment_isolation() {
    let both = Case::new(
        r#"permit(principal == Agent::"bot", action == Action::"customers.read", resource);
           permit(principal == Agent::"bot", action == Action::"call_tool", resource == Tool::"ci/deploy");"#,
    );
    let found = both.rule("path-prod-and-non-prod").expect("fires");
    assert_eq!(found.owasp, OwaspNhi::EnvironmentIsolation);
    // Near miss: both upstreams are prod.
    let prod_only = Case::new(
        r#"permit(principal == Agent::"bot", action in [Action::"customers.read", Action::"mail.list"], resource);"#,
    );
    assert_eq!(prod_only.rule("path-prod-and-non-prod"), None);
}

#[test]
fn a_path_that_ends_in_cluster_admin_is_reported_with_its_hops() {
    let found =
        Case::new(r#"permit(principal == Agent::"bot", action == Action::"pods.list", resource);"#)
            .rule("path-admin-entitlement")
            .expect("fires");
    assert!(
        found
            .evidence
            .contains("agent:bot → k8s → service_account:deployer → k8s:clusterrole/cluster-admin"),
        "{}",
        found.evidence
    );
    assert!(
        !found.evidence.contains("pods/list"),
        "only the admin entitlement: {}",
        found.evidence
    );
    // Near miss: the upstream injects the same identity, but nothing on it is within reach.
    let unreached = Case::new(
        r#"permit(principal == Agent::"bot", action == Action::"customers.read", resource);"#,
    );
    assert_eq!(unreached.rule("path-admin-entitlement"), None);
}

#[test]
fn permits_never_used_are_listed_for_removal() {
    let policies = r#"permit(principal == Agent::"bot", action in [Action::"customers.read", Action::"customers.note"], resource);"#;
    let case = Case {
        uses: vec![used("a1", 2, "crm", "customers.read", "Customer::\"7\"")],
        ..Case::new(policies)
    };
    let found = case.rule("path-permitted-unused").expect("fires");
    assert!(
        found
            .evidence
            .contains("in the last 30 days: crm POST /customers/{id}/notes (allowed)"),
        "{}",
        found.evidence
    );
    assert!(
        !found.evidence.contains("GET /customers"),
        "the read was used: {}",
        found.evidence
    );
    // Near miss: an agent younger than the window has not had its chance.
    let young = Case {
        created: days_ago(10),
        uses: vec![used("a1", 2, "crm", "customers.read", "Customer::\"7\"")],
        ..Case::new(policies)
    };
    assert_eq!(young.rule("path-permitted-unused"), None);
    // Near miss: everything permitted was used.
    let busy = Case {
        uses: vec![
            used("a1", 2, "crm", "customers.read", "Customer::\"7\""),
            used("a1", 3, "crm", "customers.note", "Customer::\"7\""),
        ],
        ..Case::new(policies)
    };
    assert_eq!(busy.rule("path-permitted-unused"), None);
    // Near miss: bot's trail was read only in part (its newest records), so what was not
    // found there may have been used before them: nothing is called unused.
    let cut = Case {
        uses: vec![used("a1", 2, "crm", "customers.read", "Customer::\"7\"")],
        cut: true,
        ..Case::new(policies)
    };
    assert_eq!(cut.rule("path-permitted-unused"), None);
}

#[test]
fn an_agent_with_no_permits_has_no_path_findings() {
    let elsewhere = Case::new(r#"permit(principal == Agent::"someone-else", action, resource);"#);
    assert_eq!(elsewhere.findings(), Vec::new());
}
