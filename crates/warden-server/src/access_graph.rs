//! Gathering what an agent's access graph is built from: the agent, its parent and
//! sub-agents, their credentials, the trusted issuers, every upstream with its route
//! actions or pinned tools and the identity its secret belongs to (with an imported one's
//! entitlements), and the audit trail's uses within the window. The graph itself is built
//! by `warden_posture::access_graph`, with the engine compiled from the same upstreams and
//! policies the store holds now (the gateway's own when it was compiled from exactly those,
//! otherwise compiled as `policy test` compiles it). [`GraphSources`] holds what
//! every agent's graph shares, so a posture pass over all agents gathers it once.

use std::collections::BTreeSet;
use std::sync::Arc;

use warden_audit::{Actor, Decision, EventKind};
use warden_core::{
    BindingSource, DomainError, Identity, IdentityFilter, IdentityRef, PageRequest, Timestamp,
    Upstream, UpstreamKind,
};
use warden_policy::PolicyEngine;
use warden_policy::stored;
use warden_posture::access_graph::{
    self, AccessGraph, ActionFacts, CredentialFacts, EntitlementFacts, GraphError, GraphInput,
    IdentityFacts, InjectedFacts, UpstreamFacts, UseFacts,
};
use warden_proxy::CatalogState;
use warden_store::{AuditFilter, AuditQuery, Store};

use crate::error::ApiError;
use crate::state::AppState;

/// Sub-agents followed below the agent, at most.
const MAX_SUB_AGENTS: usize = 1_000;
/// Audit records read per identity for the "used" marks, at most: the newest ones.
const MAX_USES: u32 = 20_000;

impl From<GraphError> for ApiError {
    fn from(error: GraphError) -> Self {
        let field = match error {
            GraphError::Depth(_) => "depth",
            GraphError::Days(_) => "days",
            GraphError::NotAPrincipal(_) => "identity",
        };
        DomainError::invalid(field, error.to_string()).into()
    }
}

fn facts(identity: &Identity, now: Timestamp) -> IdentityFacts {
    IdentityFacts {
        id: identity.id.to_string(),
        kind: identity.kind,
        name: identity.name.clone(),
        owner: identity.owner.clone(),
        environment: identity.environment,
        status: identity.effective_status(now),
        parent_id: identity.parent_id.map(|id| id.to_string()),
        created_at: identity.created_at,
    }
}

/// Every identity below `root`, each after its parent.
async fn sub_agents(
    store: &dyn Store,
    root: &Identity,
    now: Timestamp,
) -> Result<Vec<Identity>, ApiError> {
    let mut found: Vec<Identity> = Vec::new();
    let mut queue = vec![root.id];
    let mut seen = BTreeSet::from([root.id]);
    while let Some(parent) = queue.pop() {
        let mut after = None;
        loop {
            let filter = IdentityFilter {
                parent: Some(IdentityRef::Id(parent)),
                ..IdentityFilter::default()
            };
            let page = PageRequest {
                limit: warden_core::page::MAX_PAGE_LIMIT,
                after: after.clone(),
            };
            let listed = store.list_identities(&filter, &page, now).await?;
            for child in listed.items {
                if seen.insert(child.id) && found.len() < MAX_SUB_AGENTS {
                    queue.push(child.id);
                    found.push(child);
                }
            }
            match listed.next_cursor {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
    }
    Ok(found)
}

/// The uses of `identity` the trail shows since `since`: allowed gateway decisions and
/// tokens issued or exchanged, from its newest [`MAX_USES`] records; and whether older
/// records were left unread (then what was not found is "cannot say", not "unused").
async fn uses(
    store: &dyn Store,
    identity: &Identity,
    since: Timestamp,
) -> Result<(Vec<UseFacts>, bool), ApiError> {
    let id = identity.id.to_string();
    let query = AuditQuery {
        filter: AuditFilter {
            actor: Some(identity.name.clone()),
            since: Some(since),
            ..AuditFilter::default()
        },
        after: None,
        limit: MAX_USES,
        newest: true,
    };
    let events = store.audit_events(&query).await?;
    let cut = events.len() >= MAX_USES as usize;
    let mut out = Vec::new();
    for event in events {
        // The actor filter matches names; the id tells this identity from a namesake.
        let Actor::Agent { id: actor, .. } = &event.actor else {
            continue;
        };
        if *actor != id {
            continue;
        }
        let counts = match event.kind {
            EventKind::GatewayDecision => event.decision == Some(Decision::Allow),
            EventKind::TokenIssued | EventKind::TokenExchanged => true,
            _ => false,
        };
        if !counts {
            continue;
        }
        let gateway = event.kind == EventKind::GatewayDecision;
        out.push(UseFacts {
            identity_id: id.clone(),
            at: event.time,
            upstream: if gateway { event.upstream } else { None },
            action: if gateway { event.action } else { None },
            resource: if gateway { event.resource } else { None },
            credential_id: event.credential_id,
            on_behalf_of: event.on_behalf_of,
        });
    }
    Ok((out, cut))
}

/// The identity an upstream's secret belongs to, with an imported one's entitlements.
async fn injected(
    store: &dyn Store,
    upstream: &Upstream,
    now: Timestamp,
) -> Result<Option<InjectedFacts>, ApiError> {
    let Some(bound) = &upstream.identity else {
        return Ok(None);
    };
    Ok(Some(match bound.source {
        BindingSource::Registered => {
            let id = uuid::Uuid::parse_str(&bound.id)
                .map_err(|_| ApiError::Internal("a bound identity id is not a uuid".into()))?;
            let identity = store
                .get_identity(&IdentityRef::Id(warden_core::IdentityId(id)))
                .await?;
            InjectedFacts {
                id: bound.id.clone(),
                source: bound.source.as_str().to_owned(),
                reference: identity.reference(),
                import_source: None,
                status: Some(identity.effective_status(now).to_string()),
                entitlements: Vec::new(),
            }
        }
        BindingSource::Imported => {
            let record = store.get_imported(&bound.id).await?;
            InjectedFacts {
                id: bound.id.clone(),
                source: bound.source.as_str().to_owned(),
                reference: bound.reference.clone(),
                import_source: Some(record.source.clone()),
                status: Some(record.status.as_str().to_owned()),
                entitlements: record
                    .record
                    .entitlements
                    .iter()
                    .map(|entitlement| EntitlementFacts {
                        value: entitlement.value.clone(),
                        scope: entitlement.scope.clone(),
                        via: entitlement.provenance.via.clone(),
                    })
                    .collect(),
            }
        }
    }))
}

/// The upstreams as the graph sees them: route actions, or the tools the gateway pinned
/// and those given labels.
async fn upstream_facts(
    store: &dyn Store,
    upstreams: &[Upstream],
    now: Timestamp,
) -> Result<Vec<UpstreamFacts>, ApiError> {
    let pins = store.tool_pins(None).await?;
    let mut out = Vec::with_capacity(upstreams.len());
    for upstream in upstreams {
        let actions = match upstream.kind {
            UpstreamKind::Http => ActionFacts::routes(&stored::parse_routes(
                upstream.routes.as_deref().unwrap_or_default(),
            )?),
            UpstreamKind::Mcp | UpstreamKind::McpStdio => {
                let mut tools: BTreeSet<&str> = pins
                    .iter()
                    .filter(|pin| pin.upstream == upstream.name)
                    .map(|pin| pin.tool.as_str())
                    .collect();
                tools.extend(upstream.tool_labels.keys().map(String::as_str));
                tools
                    .into_iter()
                    .map(|tool| {
                        let labels = upstream.tool_labels.get(tool).cloned().unwrap_or_default();
                        ActionFacts::tool(&upstream.name, tool, labels)
                    })
                    .collect()
            }
        };
        out.push(UpstreamFacts {
            name: upstream.name.clone(),
            kind: upstream.kind.as_str().to_owned(),
            labels: upstream.labels.clone(),
            actions,
            injects: injected(store, upstream, now).await?,
        });
    }
    Ok(out)
}

/// What every agent's graph is built from alike: the upstreams as the graph sees them, the
/// engine compiled from the upstreams and policies the store holds now (as `policy test`
/// compiles it), and the trusted issuers. Gathered once for a posture pass over every agent.
pub struct GraphSources {
    upstreams: Vec<UpstreamFacts>,
    engine: Arc<PolicyEngine>,
    trusted_issuers: Vec<String>,
}

impl GraphSources {
    /// Reuses the engine of `compiled` (the gateway's catalog) when it was compiled from
    /// exactly the upstreams and policies read here; compiles them otherwise.
    pub async fn gather(
        store: &dyn Store,
        compiled: Option<&CatalogState>,
        trusted_issuers: Vec<String>,
        now: Timestamp,
    ) -> Result<Self, ApiError> {
        let upstreams = store.list_upstreams().await?;
        let policies = store.list_policies().await?;
        let engine = match compiled.and_then(|catalog| catalog.engine_for(&upstreams, &policies)) {
            Some(engine) => engine,
            None => Arc::new(stored::build(&upstreams, &policies)?),
        };
        Ok(Self {
            engine,
            upstreams: upstream_facts(store, &upstreams, now).await?,
            trusted_issuers,
        })
    }

    /// The access graph of `agent`, cut at `depth` hops, "used" over the last `days`;
    /// with `reach_only`, without the actions and tools nothing in it can reach.
    pub async fn graph(
        &self,
        store: &dyn Store,
        agent: &Identity,
        depth: u32,
        days: u32,
        reach_only: bool,
        now: Timestamp,
    ) -> Result<AccessGraph, ApiError> {
        access_graph::check_bounds(depth, days)?;
        let parent = match agent.parent_id {
            Some(id) => Some(store.get_identity(&IdentityRef::Id(id)).await?),
            None => None,
        };
        let below = sub_agents(store, agent, now).await?;
        let since = now.plus_secs(-i64::from(days) * 86_400);
        let mut credentials = Vec::new();
        let mut used = Vec::new();
        let mut uses_cut = Vec::new();
        for holder in std::iter::once(agent).chain(below.iter()) {
            for credential in store.list_credentials(&IdentityRef::Id(holder.id)).await? {
                credentials.push(CredentialFacts {
                    id: credential.id,
                    identity_id: credential.identity_id,
                    kind: credential.kind.as_str().to_owned(),
                    status: credential.status.as_str().to_owned(),
                    created_at: credential.created_at,
                    expires_at: Some(credential.expires_at),
                });
            }
            let (found, cut) = uses(store, holder, since).await?;
            used.extend(found);
            if cut {
                uses_cut.push(holder.id.to_string());
            }
        }
        let input = GraphInput {
            agent: facts(agent, now),
            parent: parent.as_ref().map(|parent| facts(parent, now)),
            sub_agents: below.iter().map(|sub| facts(sub, now)).collect(),
            credentials,
            trusted_issuers: self.trusted_issuers.clone(),
            upstreams: self.upstreams.clone(),
            uses: used,
            uses_cut,
            reach_only,
            now,
            days,
            depth,
        };
        Ok(access_graph::build(&input, &self.engine)?)
    }
}

/// The issuers whose users' tokens agents may exchange, as the graph names them.
pub fn trusted_issuers(state: &AppState) -> Vec<String> {
    state
        .credentials
        .settings
        .trusted_issuers
        .iter()
        .map(|trusted| trusted.issuer.clone())
        .collect()
}

/// The access graph of `identity`, cut at `depth` hops, "used" over the last `days`; with
/// `reach_only`, the denied actions and tools counted rather than listed.
pub async fn graph_of(
    state: &AppState,
    identity: &IdentityRef,
    depth: u32,
    days: u32,
    reach_only: bool,
) -> Result<AccessGraph, ApiError> {
    access_graph::check_bounds(depth, days)?;
    let now = state.clock.now();
    let agent = state.store.get_identity(identity).await?;
    let store = &*state.store;
    let sources =
        GraphSources::gather(store, Some(&state.catalog), trusted_issuers(state), now).await?;
    sources
        .graph(store, &agent, depth, days, reach_only, now)
        .await
}
