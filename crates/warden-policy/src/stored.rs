//! Building the Cedar policy engine from what the store holds: every upstream's route map
//! (or tools) for the schema, and every stored policy. A proposed change is checked by
//! building the engine it would produce: the store runs [`check`] inside the change's
//! transaction, on the set as the change leaves it, before it commits.

use warden_core::{DomainError, StoredPolicy, Upstream, UpstreamKind as StoredKind};

use crate::{
    PolicyDocument, PolicyEngine, RouteMap, SchemaInput, UpstreamKind, UpstreamSchemaInput,
};

/// Parses a stored route map, naming the line at fault.
pub fn parse_routes(text: &str) -> Result<RouteMap, DomainError> {
    RouteMap::from_toml(text).map_err(|error| DomainError::invalid("routes", error.to_string()))
}

/// The schema input for a set of upstreams.
pub fn schema_input(upstreams: &[Upstream]) -> Result<SchemaInput, DomainError> {
    let mut input = SchemaInput::default();
    for upstream in upstreams {
        let kind = match upstream.kind {
            StoredKind::Http => UpstreamKind::Http {
                routes: parse_routes(upstream.routes.as_deref().unwrap_or_default())?,
            },
            StoredKind::Mcp | StoredKind::McpStdio => UpstreamKind::Mcp { tools: Vec::new() },
        };
        input.upstreams.push(UpstreamSchemaInput {
            name: upstream.name.clone(),
            kind,
        });
    }
    Ok(input)
}

/// Compiles `policies` against the schema of `upstreams`; a set that does not validate is
/// refused with the validator's messages.
pub fn build(
    upstreams: &[Upstream],
    policies: &[StoredPolicy],
) -> Result<PolicyEngine, DomainError> {
    let input = schema_input(upstreams)?;
    let documents: Vec<PolicyDocument> = policies
        .iter()
        .map(|policy| PolicyDocument::new(policy.id.clone(), policy.text.clone()))
        .collect();
    PolicyEngine::new(&input, &documents)
        .map_err(|error| DomainError::InvalidPolicy(error.to_string()))
}

/// Whether `policies` compile against the schema of `upstreams`: the check the store runs
/// on every change to either (see `warden_store::PolicySetCheck`).
pub fn check(upstreams: &[Upstream], policies: &[StoredPolicy]) -> Result<(), DomainError> {
    build(upstreams, policies).map(|_| ())
}
