//! The toxic-combination rules (built in, and `[posture] toxic_rules`) over every active
//! agent's access path: each agent's graph
//! is gathered as `warden graph agent` gathers it (the upstreams and the compiled engine
//! once for all of them), judged by `warden_posture::toxic`, and turned into findings whose
//! subject is `path:ID` (the agent's id), so they reconcile with Warden's other records.

use warden_core::{
    DomainError, IdentityFilter, IdentityKind, IdentityStatus, PageRequest, Timestamp,
};
use warden_posture::access_graph::{MAX_DAYS, MAX_DEPTH};
use warden_posture::toxic::{PathInput, ToxicRule, evaluate_paths};
use warden_proxy::CatalogState;
use warden_store::findings::{FindingDraft, FindingIdentity};
use warden_store::{Store, StoreError, StoreResult};

use crate::access_graph::GraphSources;
use crate::error::ApiError;

/// The subject of an agent's path findings.
pub fn subject(identity_id: &str) -> String {
    format!("path:{identity_id}")
}

/// The findings of the toxic-combination rules over every active agent, "unused" judged
/// over the last `unused_days` of the audit trail.
pub(super) async fn path_drafts(
    store: &dyn Store,
    rules: &'static [ToxicRule],
    compiled: Option<&CatalogState>,
    trusted_issuers: &[String],
    unused_days: i64,
    now: Timestamp,
) -> StoreResult<Vec<FindingDraft>> {
    if rules.is_empty() {
        return Ok(Vec::new());
    }
    let days = u32::try_from(unused_days.clamp(1, i64::from(MAX_DAYS))).unwrap_or(MAX_DAYS);
    let sources = GraphSources::gather(store, compiled, trusted_issuers.to_vec(), now)
        .await
        .map_err(into_store_error)?;
    let filter = IdentityFilter {
        kind: Some(IdentityKind::Agent),
        ..IdentityFilter::default()
    };
    let mut drafts = Vec::new();
    let mut after = None;
    loop {
        let page = PageRequest {
            limit: warden_core::page::MAX_PAGE_LIMIT,
            after: after.clone(),
        };
        let listed = store.list_identities(&filter, &page, now).await?;
        for agent in &listed.items {
            // A stopped agent reaches nothing: its path findings resolve.
            if agent.effective_status(now) != IdentityStatus::Active {
                continue;
            }
            let graph = sources
                .graph(store, agent, MAX_DEPTH, days, true, now)
                .await
                .map_err(into_store_error)?;
            let input = PathInput {
                graph: &graph,
                agent_created_at: agent.created_at,
                now,
            };
            let id = agent.id.to_string();
            for finding in evaluate_paths(&input, rules) {
                drafts.push(super::draft(
                    &subject(&id),
                    Some(FindingIdentity {
                        id: None,
                        kind: agent.kind.as_str().to_string(),
                        name: agent.name.clone(),
                    }),
                    finding,
                ));
            }
        }
        match listed.next_cursor {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    Ok(drafts)
}

/// The graph is gathered with the API's error type; a posture pass reports in the store's.
fn into_store_error(error: ApiError) -> StoreError {
    match error {
        ApiError::Domain(error) => StoreError::Domain(error),
        ApiError::Unavailable(detail) => StoreError::Unavailable(detail),
        other => StoreError::Domain(DomainError::invalid(
            "access_graph",
            format!("an agent's access path could not be gathered: {other}"),
        )),
    }
}
