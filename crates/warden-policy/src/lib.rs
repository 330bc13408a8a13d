//! Warden's policy decision point: route maps, the Cedar schema Warden generates, policies
//! validated in strict mode and indexed, task bounds, and the decision for one request.
//!
//! Architecture invariant: this crate does no I/O and reads no clock. Route maps and
//! policies come in as text; decisions are pure functions of the loaded engine and the
//! request. Cedar lives here and nowhere else, so the rest of the workspace does not pay
//! its compile time.
//!
//! - [`routes`]: route-map TOML into a [`RouteMap`], and matching a request to a route.
//! - [`schema`]: the generated Cedar schema ([`GeneratedSchema`]).
//! - [`policy_set`]: the [`PolicyEngine`]: load, validate, index, [`PolicyEngine::decide`].
//! - [`mcp`]: the MCP actions and entity types, and what a resource URI offers a policy.
//! - [`principal`]: the kinds of identity a principal can be ([`PrincipalKind`]).
//! - [`task`]: task-token bounds ([`within_task`]).
//! - `validation`: strict validation against the part of the schema each policy can reach.
//! - [`standing`]: what an identity may do on an action at all, whatever the request
//!   ([`PolicyEngine::standing`]), for the access graph.

pub mod breadth;
pub mod mcp;
pub mod policy_set;
pub mod principal;
pub mod routes;
pub mod schema;
mod scopes;
pub mod standing;
pub mod stored;
pub mod task;
pub mod task_window;
mod validation;

pub use breadth::{EveryActionPermit, every_action_permits};
pub use mcp::uri_parts;
pub use policy_set::{
    APPROVAL_ANNOTATION, Decision, DecisionReason, DecisionRequest, Effect, PolicyDocument,
    PolicyEngine, PolicyError, PolicyProblem, RequestContext, TaskContext, is_policy_id,
};
pub use principal::PrincipalKind;
pub use routes::{
    PathTemplate, ResourceTemplate, Route, RouteError, RouteMap, RouteMatch, Segment,
};
pub use schema::{GeneratedSchema, SchemaError, SchemaInput, UpstreamKind, UpstreamSchemaInput};
pub use standing::{IdentityStanding, Standing, StandingRequest, StandingVerdict};
pub use task::{TaskBounds, resource_uid_text, within_task};
pub use task_window::{TaskSeen, TaskStep, TaskWindow, WindowLimits};
