//! Upstreams and policies: stored, versioned and audited the same way on both backends.

use warden_audit::EventKind;
use warden_core::{
    DomainError, InjectAuth, NewUpstream, Timestamp, UpstreamId, UpstreamKind, UpstreamPatch,
};
use warden_store::{AuditFilter, AuditQuery, SealedSecret, StoreError};

use crate::backends::{accept_all, admin, on_both};

const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

fn crm() -> NewUpstream {
    NewUpstream {
        name: "crm".into(),
        kind: UpstreamKind::Http,
        url: "https://crm.example.com/api".into(),
        auth: InjectAuth::Header("X-Api-Key".into()),
        routes: Some("[[route]]\nmethod = \"GET\"\npath = \"/tickets/{id}\"\naction = \"tickets.read\"\nresource = \"Ticket::{id}\"\n".into()),
        allowed_origins: Vec::new(),
        stdio: None,
        labels: Vec::new(),
        tool_labels: Default::default(),
        identity: None,
    }
}

fn domain_error<T: std::fmt::Debug>(result: Result<T, StoreError>) -> DomainError {
    match result {
        Err(StoreError::Domain(error)) => error,
        other => panic!("expected a domain error, got {other:?}"),
    }
}

#[tokio::test]
async fn upstreams_keep_only_a_sealed_secret_and_its_version() {
    on_both(|store, backend| async move {
        let sealed = SealedSecret {
            bytes: vec![1, 2, 3, 4],
            version: 1,
            leak_fingerprint: None,
        };
        let created = store
            .create_upstream(
                &admin(),
                UpstreamId::new_v7(),
                crm(),
                Some(sealed.clone()),
                &accept_all,
                T0,
            )
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert!(created.has_secret, "{backend}");
        assert_eq!(created.secret_version, 1);
        assert_eq!(
            store
                .upstream_secret("crm")
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            Some(sealed)
        );

        let duplicate = domain_error(
            store
                .create_upstream(&admin(), UpstreamId::new_v7(), crm(), None, &accept_all, T0)
                .await,
        );
        assert_eq!(
            duplicate,
            DomainError::DuplicateUpstream("crm".into()),
            "{backend}"
        );

        // A secret sealed against a stale version is refused and changes nothing.
        let stale = domain_error(
            store
                .set_upstream_secret(
                    &admin(),
                    "crm",
                    SealedSecret {
                        bytes: vec![9],
                        version: 1,
                        leak_fingerprint: None,
                    },
                    T0,
                )
                .await,
        );
        assert!(
            matches!(stale, DomainError::InvalidState(_)),
            "{backend}: {stale:?}"
        );
        let rotated = store
            .set_upstream_secret(
                &admin(),
                "crm",
                SealedSecret {
                    bytes: vec![5, 6],
                    version: 2,
                    leak_fingerprint: None,
                },
                T0.plus_secs(1),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rotated.secret_version, 2, "{backend}");

        let patch = UpstreamPatch {
            url: Some("https://crm.example.com/v2".into()),
            ..Default::default()
        };
        let updated = store
            .update_upstream(&admin(), "crm", patch, None, &accept_all, T0.plus_secs(2))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(updated.url, "https://crm.example.com/v2");
        assert_eq!(
            updated.auth,
            InjectAuth::Header("X-Api-Key".into()),
            "{backend}: untouched fields stay"
        );
        let bad = UpstreamPatch {
            url: Some("ftp://nope".into()),
            ..Default::default()
        };
        assert!(matches!(
            domain_error(
                store
                    .update_upstream(&admin(), "crm", bad, None, &accept_all, T0)
                    .await
            ),
            DomainError::InvalidField { .. }
        ));

        assert_eq!(
            store
                .list_upstreams()
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .len(),
            1
        );
        store
            .delete_upstream(&admin(), "crm", &accept_all, T0.plus_secs(3))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            domain_error(store.get_upstream("crm").await),
            DomainError::UnknownUpstream("crm".into()),
            "{backend}"
        );

        let events = store
            .audit_events(&AuditQuery {
                filter: AuditFilter {
                    upstream: Some("crm".into()),
                    ..Default::default()
                },
                after: None,
                limit: 100,
                newest: false,
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let kinds: Vec<EventKind> = events.iter().map(|event| event.kind).collect();
        assert_eq!(
            kinds,
            [
                EventKind::UpstreamCreated,
                EventKind::UpstreamUpdated,
                EventKind::UpstreamUpdated,
                EventKind::UpstreamDeleted
            ],
            "{backend}"
        );
    })
    .await;
}

#[tokio::test]
async fn policies_are_versioned_per_change() {
    on_both(|store, backend| async move {
        let first = store
            .put_policy(
                &admin(),
                "support-read",
                "permit(principal, action, resource);",
                false,
                &accept_all,
                T0,
            )
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(first.version, 1, "{backend}");
        let duplicate = domain_error(
            store
                .put_policy(
                    &admin(),
                    "support-read",
                    "forbid(principal, action, resource);",
                    false,
                    &accept_all,
                    T0,
                )
                .await,
        );
        assert_eq!(
            duplicate,
            DomainError::DuplicatePolicy("support-read".into())
        );
        let replaced = store
            .put_policy(
                &admin(),
                "support-read",
                "forbid(principal, action, resource);",
                true,
                &accept_all,
                T0.plus_secs(1),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (replaced.version, replaced.created_at),
            (2, T0),
            "{backend}"
        );
        let second = store
            .put_policy(
                &admin(),
                "other",
                "permit(principal, action, resource);",
                false,
                &accept_all,
                T0,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(second.version, 3);
        store
            .delete_policy(&admin(), "other", T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            domain_error(store.get_policy("other").await),
            DomainError::UnknownPolicy("other".into()),
            "{backend}"
        );
        let remaining: Vec<String> = store
            .list_policies()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(remaining, ["support-read"]);
        assert!(matches!(
            domain_error(
                store
                    .put_policy(&admin(), "bad id!", "x", false, &accept_all, T0)
                    .await
            ),
            DomainError::InvalidField { .. }
        ));
    })
    .await;
}

#[tokio::test]
async fn resealing_under_a_new_data_key_is_all_or_nothing() {
    on_both(|store, backend| async move {
        let id = UpstreamId::new_v7();
        let first = SealedSecret {
            bytes: vec![1, 1, 1],
            version: 1,
            leak_fingerprint: None,
        };
        store
            .create_upstream(&admin(), id, crm(), Some(first.clone()), &accept_all, T0)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        store
            .put_setting_if_absent(warden_store::DATA_KEY_FINGERPRINT_SETTING, "old-key")
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        let resealed = |old: &str, version: i64| warden_store::ResealedData {
            old_fingerprint: old.into(),
            new_fingerprint: "new-key".into(),
            upstream_secrets: vec![(
                id,
                SealedSecret {
                    bytes: vec![2, 2, 2],
                    version,
                    leak_fingerprint: None,
                },
            )],
            signing_keys: Vec::new(),
            approval_requests: Vec::new(),
            stream_authorizations: Vec::new(),
        };

        // From a key the database does not record, or a secret version that moved on:
        // refused, and nothing changed.
        for (old, version) in [("another-key", 1), ("old-key", 7)] {
            let refused = store
                .reseal_data(&admin(), resealed(old, version), T0)
                .await;
            assert!(
                matches!(
                    refused,
                    Err(StoreError::Domain(DomainError::InvalidState(_)))
                ),
                "{backend}: {refused:?}"
            );
            assert_eq!(
                store
                    .upstream_secret("crm")
                    .await
                    .unwrap_or_else(|e| panic!("{e}")),
                Some(first.clone()),
                "{backend}"
            );
            assert_eq!(
                store
                    .get_setting(warden_store::DATA_KEY_FINGERPRINT_SETTING)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
                    .as_deref(),
                Some("old-key"),
                "{backend}"
            );
        }

        store
            .reseal_data(&admin(), resealed("old-key", 1), T0)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        let now_sealed = store
            .upstream_secret("crm")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            now_sealed.map(|s| (s.bytes, s.version)),
            Some((vec![2, 2, 2], 1))
        );
        let rotations = store
            .audit_events(&AuditQuery {
                filter: AuditFilter {
                    kind: Some(EventKind::KeyRotated),
                    ..Default::default()
                },
                after: None,
                limit: 100,
                newest: false,
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rotations.len(), 1, "{backend}");
        assert_eq!(
            rotations[0].target.as_ref().map(|t| t.kind.as_str()),
            Some("data_key")
        );
    })
    .await;
}

#[tokio::test]
async fn a_secret_stays_with_its_host_unless_replaced_in_the_same_update() {
    on_both(|store, backend| async move {
        let first = SealedSecret {
            bytes: vec![1; 8],
            version: 1,
            leak_fingerprint: None,
        };
        store
            .create_upstream(
                &admin(),
                UpstreamId::new_v7(),
                crm(),
                Some(first.clone()),
                &accept_all,
                T0,
            )
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        let to = |url: &str| UpstreamPatch {
            url: Some(url.into()),
            ..Default::default()
        };

        let refused = domain_error(
            store
                .update_upstream(
                    &admin(),
                    "crm",
                    to("https://attacker.example.net/api"),
                    None,
                    &accept_all,
                    T0,
                )
                .await,
        );
        assert_eq!(
            refused,
            DomainError::SecretBoundToOrigin("crm".into()),
            "{backend}"
        );
        let unchanged = store
            .get_upstream("crm")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(unchanged.url, "https://crm.example.com/api", "{backend}");
        assert_eq!(
            store
                .upstream_secret("crm")
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            Some(first)
        );

        // A path-only change keeps the host, and so the secret.
        store
            .update_upstream(
                &admin(),
                "crm",
                to("https://crm.example.com/v2"),
                None,
                &accept_all,
                T0,
            )
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));

        // A stale secret version is refused even with the new host.
        let stale = SealedSecret {
            bytes: vec![3; 8],
            version: 1,
            leak_fingerprint: None,
        };
        assert!(matches!(
            domain_error(
                store
                    .update_upstream(
                        &admin(),
                        "crm",
                        to("https://crm.example.org"),
                        Some(stale),
                        &accept_all,
                        T0
                    )
                    .await
            ),
            DomainError::InvalidState(_)
        ));

        let second = SealedSecret {
            bytes: vec![2; 8],
            version: 2,
            leak_fingerprint: None,
        };
        let moved = store
            .update_upstream(
                &admin(),
                "crm",
                to("https://crm.example.org"),
                Some(second.clone()),
                &accept_all,
                T0.plus_secs(1),
            )
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(
            (moved.url.as_str(), moved.secret_version),
            ("https://crm.example.org", 2),
            "{backend}"
        );
        assert_eq!(
            store
                .upstream_secret("crm")
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            Some(second)
        );
    })
    .await;
}

#[tokio::test]
async fn allowed_origins_are_kept_with_an_mcp_upstream() {
    on_both(|store, backend| async move {
        let mut tools = crm();
        tools.name = "tools".into();
        tools.kind = UpstreamKind::Mcp;
        tools.routes = None;
        tools.allowed_origins = vec!["https://app.example.com".into()];
        let created = store
            .create_upstream(&admin(), UpstreamId::new_v7(), tools, None, &accept_all, T0)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(
            created.allowed_origins,
            vec!["https://app.example.com".to_string()]
        );

        let patch = UpstreamPatch {
            allowed_origins: Some(vec![
                "http://localhost:3000".into(),
                "https://b.example".into(),
            ]),
            ..Default::default()
        };
        let updated = store
            .update_upstream(&admin(), "tools", patch, None, &accept_all, T0)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(updated.allowed_origins.len(), 2, "{backend}");
        let bad = UpstreamPatch {
            allowed_origins: Some(vec!["https://b.example/path".into()]),
            ..Default::default()
        };
        assert!(matches!(
            domain_error(
                store
                    .update_upstream(&admin(), "tools", bad, None, &accept_all, T0)
                    .await
            ),
            DomainError::InvalidField {
                field: "allowed_origins",
                ..
            }
        ));
        let cleared = UpstreamPatch {
            allowed_origins: Some(Vec::new()),
            ..Default::default()
        };
        let updated = store
            .update_upstream(&admin(), "tools", cleared, None, &accept_all, T0)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert!(updated.allowed_origins.is_empty(), "{backend}");
        let read = store
            .get_upstream("tools")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(read.allowed_origins.is_empty());
    })
    .await;
}

#[tokio::test]
async fn an_mcp_stdio_upstream_keeps_its_command_args_and_secret_variable() {
    on_both(|store, backend| async move {
        let local = NewUpstream {
            name: "local-tools".into(),
            kind: UpstreamKind::McpStdio,
            url: String::new(),
            auth: InjectAuth::Bearer,
            routes: None,
            allowed_origins: Vec::new(),
            stdio: Some(warden_core::StdioCommand {
                command: "/usr/bin/python3".into(),
                args: vec!["server.py".into(), "--flag=a b".into()],
                env_secret: Some("TOOLS_TOKEN".into()),
            }),
            labels: Vec::new(),
            tool_labels: Default::default(),
            identity: None,
        };
        let created = store
            .create_upstream(&admin(), UpstreamId::new_v7(), local, None, &accept_all, T0)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(created.kind, UpstreamKind::McpStdio, "{backend}");
        let listed = store
            .get_upstream("local-tools")
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(listed.command.as_deref(), Some("/usr/bin/python3"));
        assert_eq!(listed.args, vec!["server.py", "--flag=a b"]);
        assert_eq!(listed.env_secret.as_deref(), Some("TOOLS_TOKEN"));
        // The others keep no command.
        let http = store
            .create_upstream(&admin(), UpstreamId::new_v7(), crm(), None, &accept_all, T0)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(http.command, None);
        assert!(http.args.is_empty());
        // A stdio upstream has no URL to move.
        let patch = UpstreamPatch {
            url: Some("https://elsewhere.example.com".into()),
            ..Default::default()
        };
        assert!(matches!(
            domain_error(
                store
                    .update_upstream(&admin(), "local-tools", patch, None, &accept_all, T0)
                    .await
            ),
            DomainError::InvalidField { field: "url", .. }
        ));
    })
    .await;
}

#[tokio::test]
async fn upstreams_keep_their_labels_and_tool_labels_and_refuse_bad_ones() {
    on_both(|store, backend| async move {
        let mut mail = crm();
        mail.name = "mail".into();
        mail.kind = UpstreamKind::Mcp;
        mail.routes = None;
        mail.labels = vec!["external".into(), "prod".into(), "external".into()];
        mail.tool_labels
            .insert("send_email".into(), vec!["external".into(), "email".into()]);
        let created = store
            .create_upstream(&admin(), UpstreamId::new_v7(), mail, None, &accept_all, T0)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(created.labels, ["external", "prod"], "{backend}");
        assert_eq!(
            created.tool_labels.get("send_email").map(Vec::as_slice),
            Some(["email".to_string(), "external".to_string()].as_slice()),
            "{backend}"
        );
        let read = store
            .get_upstream("mail")
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(read.labels, created.labels, "{backend}");
        assert_eq!(read.tool_labels, created.tool_labels, "{backend}");

        // A patch that leaves labels out keeps them; one that names them replaces them.
        let untouched = store
            .update_upstream(
                &admin(),
                "mail",
                UpstreamPatch {
                    url: Some("https://crm.example.com/v2".into()),
                    ..Default::default()
                },
                None,
                &accept_all,
                T0,
            )
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(untouched.labels, created.labels, "{backend}");
        assert_eq!(untouched.tool_labels, created.tool_labels, "{backend}");
        let relabelled = store
            .update_upstream(
                &admin(),
                "mail",
                UpstreamPatch {
                    labels: Some(vec!["sensitive".into()]),
                    tool_labels: Some(Default::default()),
                    ..Default::default()
                },
                None,
                &accept_all,
                T0,
            )
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(relabelled.labels, ["sensitive"], "{backend}");
        assert!(relabelled.tool_labels.is_empty(), "{backend}");

        for bad in [
            UpstreamPatch {
                labels: Some(vec!["Not A Label".into()]),
                ..Default::default()
            },
            UpstreamPatch {
                tool_labels: Some([("t".to_string(), vec!["x y".to_string()])].into()),
                ..Default::default()
            },
        ] {
            let error = domain_error(
                store
                    .update_upstream(&admin(), "mail", bad, None, &accept_all, T0)
                    .await,
            );
            assert!(
                matches!(error, DomainError::InvalidField { .. }),
                "{backend}: {error:?}"
            );
        }
        let still = store
            .get_upstream("mail")
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(
            still.labels,
            ["sensitive"],
            "a refused change changes nothing"
        );

        // Tool labels belong to MCP upstreams; an HTTP upstream labels its routes.
        let mut http = crm();
        http.tool_labels.insert("x".into(), vec!["prod".into()]);
        let error = domain_error(
            store
                .create_upstream(&admin(), UpstreamId::new_v7(), http, None, &accept_all, T0)
                .await,
        );
        assert!(
            matches!(
                error,
                DomainError::InvalidField {
                    field: "tool_labels",
                    ..
                }
            ),
            "{backend}: {error:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn an_upstream_names_the_identity_its_secret_belongs_to_and_refuses_unknown_ones() {
    use warden_core::{
        BindingSource, Environment, IdentityKind, Labels, NewIdentity, NewOwner, OwnerRef,
        PageRequest, Source,
    };
    use warden_import::SourceFormat;
    use warden_store::inventory::{ImportOptions, ImportedFilter};

    on_both(|store, backend| async move {
        // Unknown: refused, and no upstream is created.
        let mut unknown = crm();
        unknown.identity = Some("service_account:nobody".into());
        let refused = domain_error(
            store
                .create_upstream(&admin(), UpstreamId::new_v7(), unknown, None, &accept_all, T0)
                .await,
        );
        assert!(
            matches!(&refused, DomainError::InvalidField { field: "identity", message } if message.contains("service_account:nobody")),
            "{backend}: {refused:?}"
        );
        assert!(store.get_upstream("crm").await.is_err(), "{backend}");

        // An imported identity, by its id.
        let csv = "kind,name,external_id\nservice_account,deployer,aws:user/deployer\n";
        let batch = warden_import::parse("inventory.csv", csv.as_bytes(), Some(SourceFormat::Csv))
            .unwrap_or_else(|e| panic!("{e}"));
        let options = ImportOptions {
            source: Some("aws-prod".into()),
            ..ImportOptions::default()
        };
        store
            .apply_import(&admin(), vec![batch], options, T0)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        let imported = store
            .list_imported(&ImportedFilter::default(), &PageRequest::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .items
            .remove(0);
        let mut bound = crm();
        bound.identity = Some(imported.id.clone());
        let created = store
            .create_upstream(&admin(), UpstreamId::new_v7(), bound, None, &accept_all, T0)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        let identity = created.identity.clone().unwrap_or_else(|| panic!("{backend}"));
        assert_eq!(identity.source, BindingSource::Imported, "{backend}");
        assert_eq!(identity.id, imported.id);
        assert_eq!(identity.reference, "service_account:deployer");
        assert_eq!(store.get_upstream("crm").await.ok(), Some(created.clone()));

        // A registered identity, by KIND:NAME; an unknown one leaves the binding alone.
        store
            .create_owner(
                &admin(),
                NewOwner::new("alice@example.com", "Alice").unwrap_or_else(|e| panic!("{e}")),
                T0,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let registered = store
            .create_identity(
                &admin(),
                NewIdentity {
                    kind: IdentityKind::ServiceAccount,
                    name: "crm-bot".into(),
                    purpose: None,
                    environment: Some(Environment::Prod),
                    labels: Labels::new(),
                    expires_at: None,
                    source: Source::Issued,
                    source_detail: None,
                },
                &OwnerRef::Email("alice@example.com".into()),
                None,
                T0,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let patch = |identity: Option<&str>| UpstreamPatch {
            identity: Some(identity.map(str::to_string)),
            ..UpstreamPatch::default()
        };
        let refused = domain_error(
            store
                .update_upstream(&admin(), "crm", patch(Some("agent:ghost")), None, &accept_all, T0)
                .await,
        );
        assert!(matches!(refused, DomainError::InvalidField { field: "identity", .. }));
        assert_eq!(
            store.get_upstream("crm").await.ok().and_then(|u| u.identity),
            Some(identity),
            "{backend}: nothing changed"
        );
        let rebound = store
            .update_upstream(&admin(), "crm", patch(Some("service_account:crm-bot")), None, &accept_all, T0)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        let identity = rebound.identity.unwrap_or_else(|| panic!("{backend}"));
        assert_eq!(identity.source, BindingSource::Registered);
        assert_eq!(identity.id, registered.id.to_string());
        assert_eq!(identity.reference, "service_account:crm-bot");
        let cleared = store
            .update_upstream(&admin(), "crm", patch(None), None, &accept_all, T0)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(cleared.identity, None, "{backend}");
    })
    .await;
}
