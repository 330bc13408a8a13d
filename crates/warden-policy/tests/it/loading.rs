//! Loading policies: what is refused, with which message and line, and how documents map
//! to policy ids.

use warden_policy::{
    DecisionRequest, Effect, PolicyDocument, PolicyEngine, PolicyError, PrincipalKind,
    RequestContext, RouteMap, SchemaInput, UpstreamKind, UpstreamSchemaInput,
};

fn input() -> SchemaInput {
    let routes = RouteMap::from_toml(
        r#"
[[route]]
method = "GET"
path = "/tickets/{id}"
action = "tickets.read"
resource = "Ticket::{id}"
"#,
    )
    .unwrap();
    SchemaInput {
        upstreams: vec![
            UpstreamSchemaInput {
                name: "crm".into(),
                kind: UpstreamKind::Http { routes },
            },
            UpstreamSchemaInput {
                name: "github".into(),
                kind: UpstreamKind::Mcp {
                    tools: vec!["create_issue".into()],
                },
            },
        ],
    }
}

fn refused(docs: &[(&str, &str)]) -> PolicyError {
    let docs: Vec<_> = docs
        .iter()
        .map(|(id, text)| PolicyDocument::new(*id, *text))
        .collect();
    match PolicyEngine::new(&input(), &docs) {
        Ok(_) => panic!("accepted {docs:?}"),
        Err(e) => e,
    }
}

fn problems(e: &PolicyError) -> Vec<(String, Option<usize>, String)> {
    match e {
        PolicyError::Invalid(p) => p
            .iter()
            .map(|p| (p.policy.clone(), p.line, p.message.clone()))
            .collect(),
        other => panic!("not a policy problem: {other}"),
    }
}

#[test]
fn syntax_errors_name_the_policy_and_line() {
    let e = refused(&[(
        "broken",
        "permit(principal, action, resource);\n\npermit(principal action, resource);\n",
    )]);
    let p = problems(&e);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!((p[0].0.as_str(), p[0].1), ("broken", Some(3)), "{p:?}");
    assert!(e.to_string().starts_with("policy broken line 3: "), "{e}");
}

#[test]
fn validation_errors_name_the_policy_and_line() {
    let e = refused(&[
        (
            "fine",
            "permit(principal, action == Action::\"tickets.read\", resource);",
        ),
        (
            "typo",
            "// reads\npermit(principal, action == Action::\"tickets.read\", resource)\nwhen { context.reasn == \"x\" };",
        ),
        (
            "unknown-action",
            "permit(principal, action == Action::\"tickets.burn\", resource);",
        ),
        (
            "unknown-type",
            "permit(principal == Robot::\"r\", action, resource);",
        ),
    ]);
    let p = problems(&e);
    let by_policy = |id: &str| {
        p.iter()
            .find(|x| x.0 == id)
            .unwrap_or_else(|| panic!("{id} missing in {p:?}"))
    };
    assert_eq!(by_policy("typo").1, Some(3), "{p:?}");
    assert!(by_policy("typo").2.contains("reasn"), "{p:?}");
    assert!(
        by_policy("unknown-action").2.contains("tickets.burn"),
        "{p:?}"
    );
    assert!(by_policy("unknown-type").2.contains("Robot"), "{p:?}");
    assert!(!p.iter().any(|x| x.0 == "fine"), "{p:?}");
}

#[test]
fn strict_mode_requires_has_for_optional_context() {
    let e = refused(&[(
        "no-has",
        "permit(principal, action == Action::\"tickets.read\", resource)\nwhen { context.environment == \"prod\" };",
    )]);
    assert_eq!(problems(&e)[0].1, Some(2), "{e}");
    let ok = PolicyEngine::new(
        &input(),
        &[PolicyDocument::new(
            "with-has",
            "permit(principal, action == Action::\"tickets.read\", resource)\nwhen { context has environment && context.environment == \"prod\" };",
        )],
    );
    assert!(ok.is_ok(), "{:?}", ok.err());
}

#[test]
fn arguments_exist_only_on_tool_calls() {
    let e = refused(&[(
        "args-on-route",
        "permit(principal, action == Action::\"tickets.read\", resource)\nwhen { context.arguments.hasTag(\"x\") };",
    )]);
    assert!(matches!(e, PolicyError::Invalid(_)), "{e}");
}

#[test]
fn approval_on_forbid_is_refused() {
    let e = refused(&[(
        "odd",
        "permit(principal, action, resource);\n@approval\nforbid(principal, action, resource);",
    )]);
    let p = problems(&e);
    assert_eq!(p[0].1, Some(2), "{p:?}");
    assert!(p[0].2.contains("@approval"), "{p:?}");
}

#[test]
fn templates_empty_documents_and_bad_ids_are_refused() {
    assert!(
        problems(&refused(&[(
            "tpl",
            "permit(principal == ?principal, action, resource);"
        )]))[0]
            .2
            .contains("templates")
    );
    assert!(
        problems(&refused(&[("empty", "// nothing here\n")]))[0]
            .2
            .contains("no policy")
    );
    assert!(matches!(
        refused(&[("a#1", "permit(principal, action, resource);")]),
        PolicyError::InvalidId(_)
    ));
    assert!(matches!(
        refused(&[
            ("a", "permit(principal, action, resource);"),
            ("a", "permit(principal, action, resource);")
        ]),
        PolicyError::DuplicateId(_)
    ));
}

#[test]
fn several_statements_get_numbered_ids_in_source_order() {
    let engine = PolicyEngine::new(
        &input(),
        &[PolicyDocument::new(
            "pair",
            "forbid(principal, action, resource == Ticket::\"b\");\npermit(principal, action, resource);",
        )],
    )
    .unwrap();
    assert_eq!(
        engine.policy_ids().collect::<Vec<_>>(),
        ["pair#1", "pair#2"]
    );
    let mut req = DecisionRequest {
        kind: PrincipalKind::Agent,
        name: "a",
        owner: "o@example.com",
        on_behalf_of: None,
        upstream: "crm",
        action: "tickets.read",
        resource_type: "Ticket",
        resource_id: "b",
        context: RequestContext::default(),
        approved: false,
    };
    let d = engine.decide(&req);
    assert_eq!(
        (d.effect, d.policy_ids.as_slice()),
        (Effect::Deny, ["pair#1".to_owned()].as_slice())
    );
    req.resource_id = "c";
    let d = engine.decide(&req);
    assert_eq!(
        (d.effect, d.policy_ids.as_slice()),
        (Effect::Allow, ["pair#2".to_owned()].as_slice())
    );
}

#[test]
fn unknown_tools_and_upstreams_are_warnings() {
    let engine = PolicyEngine::new(
        &input(),
        &[PolicyDocument::new(
            "w",
            "permit(principal, action == Action::\"call_tool\", resource == Tool::\"github/delete_repo\");\npermit(principal, action, resource in Upstream::\"jira\");",
        )],
    )
    .unwrap();
    let w: Vec<String> = engine.warnings().iter().map(ToString::to_string).collect();
    assert!(w.iter().any(|m| m.contains("github/delete_repo")), "{w:?}");
    assert!(w.iter().any(|m| m.contains("jira")), "{w:?}");
}

#[test]
fn evaluation_errors_fail_closed() {
    // Integer overflow is an evaluation error that strict validation cannot rule out.
    let engine = PolicyEngine::new(
        &input(),
        &[PolicyDocument::new(
            "overflow",
            "permit(principal, action, resource);\nforbid(principal, action, resource) when { 9223372036854775807 + 1 > 0 };",
        )],
    )
    .unwrap();
    let d = engine.decide(&DecisionRequest {
        kind: PrincipalKind::Agent,
        name: "a",
        owner: "o@example.com",
        on_behalf_of: None,
        upstream: "crm",
        action: "tickets.read",
        resource_type: "Ticket",
        resource_id: "1",
        context: RequestContext::default(),
        approved: false,
    });
    assert_eq!(d.effect, Effect::Deny);
    assert_eq!(d.reason.as_str(), "evaluation_error");
    assert_eq!(d.policy_ids, ["overflow#2"]);
    assert!(!d.errors.is_empty());
}

#[test]
fn index_agrees_with_evaluating_everything() {
    // The same policies through the index and as one flat set must decide alike.
    let texts = [
        "permit(principal == Agent::\"a1\", action == Action::\"tickets.read\", resource);",
        "permit(principal in Owner::\"o1\", action, resource);",
        "forbid(principal is Agent in Owner::\"o2\", action in [Action::\"tickets.read\"], resource == Ticket::\"x\");",
        "permit(principal is Agent, action, resource) when { context has task };",
        "@approval\npermit(principal in Agent::\"a3\", action, resource);",
        "forbid(principal == Agent::\"a2\", action, resource) unless { context has reason };",
        "permit(principal == ServiceAccount::\"a4\", action, resource);",
        "forbid(principal is ServiceAccount in Owner::\"o1\", action, resource == Ticket::\"y\");",
        "permit(principal, action, resource) when { context.scopes.contains(\"tickets:read\") };",
    ];
    let docs: Vec<_> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| PolicyDocument::new(format!("p{i}"), *t))
        .collect();
    let engine = PolicyEngine::new(&input(), &docs).unwrap();
    let seen = warden_policy::TaskSeen::default();
    let scoped = ["tickets:read".to_string()];
    for (kind, agent, scopes) in [
        (PrincipalKind::Agent, "a1", &[][..]),
        (PrincipalKind::Agent, "a2", &[][..]),
        (PrincipalKind::Agent, "a3", &[][..]),
        (PrincipalKind::Agent, "a4", &[][..]),
        (PrincipalKind::ServiceAccount, "a1", &[][..]),
        (PrincipalKind::ServiceAccount, "a3", &[][..]),
        (PrincipalKind::ServiceAccount, "a4", &[][..]),
        (PrincipalKind::Workload, "a5", &scoped[..]),
    ] {
        for owner in ["o1", "o2", "o3"] {
            for id in ["x", "y"] {
                for task in [None, Some("t")] {
                    for reason in [None, Some("r")] {
                        let req = DecisionRequest {
                            kind,
                            name: agent,
                            owner,
                            on_behalf_of: None,
                            upstream: "crm",
                            action: "tickets.read",
                            resource_type: "Ticket",
                            resource_id: id,
                            context: RequestContext {
                                reason,
                                task: task.map(|id| warden_policy::TaskContext { id, seen: &seen }),
                                scopes,
                                ..RequestContext::default()
                            },
                            approved: false,
                        };
                        let d = engine.decide(&req);
                        let flat = flat_decision(&docs, &req);
                        assert_eq!(
                            (d.effect, d.policy_ids.clone()),
                            flat,
                            "{kind} {agent} {owner} {id} {task:?} {reason:?}"
                        );
                    }
                }
            }
        }
    }
}

/// The decision by brute force: each policy alone in its own engine, combined by hand.
fn flat_decision(docs: &[PolicyDocument], req: &DecisionRequest<'_>) -> (Effect, Vec<String>) {
    let mut forbids = Vec::new();
    let mut permits = Vec::new();
    let mut held = Vec::new();
    for doc in docs {
        let one = PolicyEngine::new(&input(), std::slice::from_ref(doc)).unwrap();
        let d = one.decide(req);
        match d.effect {
            Effect::Deny if !d.policy_ids.is_empty() => forbids.push(doc.id.clone()),
            Effect::Allow => permits.push(doc.id.clone()),
            Effect::Hold => held.push(doc.id.clone()),
            Effect::Deny => {}
        }
    }
    if !forbids.is_empty() {
        (Effect::Deny, forbids)
    } else if !permits.is_empty() {
        (Effect::Allow, permits)
    } else if !held.is_empty() {
        (Effect::Hold, held)
    } else {
        (Effect::Deny, vec![])
    }
}
