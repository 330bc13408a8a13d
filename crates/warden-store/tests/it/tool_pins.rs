//! Pinned MCP tool definitions on each backend: the first definition is accepted as it is,
//! a different one moves the pin to `changed` once (audited once), the accepted one coming
//! back settles it, and an administrator's acceptance is audited as theirs.

use warden_audit::EventKind;
use warden_core::{InjectAuth, NewUpstream, Timestamp, UpstreamId, UpstreamKind};
use warden_store::tool_pins::PinState;
use warden_store::{AuditFilter, AuditQuery, Store};

use crate::backends::{accept_all, admin, audit_signer, on_both};

const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

async fn events(store: &dyn Store, kind: EventKind) -> usize {
    let query = AuditQuery {
        filter: AuditFilter {
            kind: Some(kind),
            ..AuditFilter::default()
        },
        after: None,
        limit: 100,
        newest: false,
    };
    store
        .audit_events(&query)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .len()
}

fn seen(tool: &str, digest: &str) -> Vec<(String, String)> {
    vec![(tool.to_string(), digest.to_string())]
}

#[tokio::test]
async fn a_changed_definition_is_held_until_an_administrator_accepts_it() {
    on_both(|store, backend| async move {
        let upstream = NewUpstream {
            name: "docs".into(),
            kind: UpstreamKind::Mcp,
            url: "http://127.0.0.1:9/mcp".into(),
            auth: InjectAuth::Bearer,
            routes: None,
            allowed_origins: Vec::new(),
            stdio: None,
            labels: Vec::new(),
            tool_labels: Default::default(),
            identity: None,
        };
        store
            .create_upstream(
                &admin(),
                UpstreamId::new_v7(),
                upstream,
                None,
                &accept_all,
                T0,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let observe = |digest: &'static str, at: i64| {
            let store = store.clone();
            async move {
                store
                    .observe_tool_definitions("docs", &seen("search", digest), T0.plus_secs(at))
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
            }
        };

        assert!(
            observe("d1", 1).await.is_empty(),
            "{backend}: first sight is no change"
        );
        let pins = store
            .tool_pins(Some("docs"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pins.len(), 1, "{backend}");
        assert_eq!(
            (pins[0].state, pins[0].accepted_digest.as_str()),
            (PinState::Accepted, "d1")
        );

        let moved = observe("d2", 2).await;
        assert_eq!(moved.len(), 1, "{backend}");
        assert_eq!(moved[0].state, PinState::Changed, "{backend}");
        assert!(
            observe("d2", 3).await.is_empty(),
            "{backend}: the same change once"
        );
        assert_eq!(
            events(&*store, EventKind::McpToolChanged).await,
            1,
            "{backend}"
        );

        // Back to the accepted definition: settled without anyone.
        let back = observe("d1", 4).await;
        assert_eq!(
            back.first().map(|p| p.state),
            Some(PinState::Accepted),
            "{backend}"
        );

        observe("d3", 5).await;
        let accepted = store
            .accept_tool_definition(&admin(), "docs", "search", T0.plus_secs(6))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(accepted.state, PinState::Accepted, "{backend}");
        assert_eq!(accepted.accepted_digest, "d3", "{backend}");
        assert_eq!(accepted.accepted_by.as_deref(), Some("admin"), "{backend}");
        assert_eq!(
            events(&*store, EventKind::McpToolAccepted).await,
            1,
            "{backend}"
        );
        assert_eq!(
            events(&*store, EventKind::McpToolChanged).await,
            2,
            "{backend}"
        );

        let unknown = store
            .accept_tool_definition(&admin(), "docs", "nope", T0.plus_secs(7))
            .await;
        assert!(
            unknown.is_err(),
            "{backend}: a tool never seen cannot be accepted"
        );
        let no_upstream = store
            .observe_tool_definitions("missing", &seen("search", "d1"), T0)
            .await;
        assert!(no_upstream.is_err(), "{backend}");
        let report = store.verify_audit(&audit_signer().public_key()).await;
        assert!(report.is_ok(), "{backend}: the chain verifies: {report:?}");
    })
    .await;
}
