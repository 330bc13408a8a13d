//! The OCSF 1.x view of an audit record, for SIEMs.
//!
//! Classes used (OCSF 1.3.0): API Activity (6003) for gateway decisions, outcomes and
//! approvals; Authentication (3002) for tokens and admin logins; Account Change (3001) for
//! owners, identities and credentials; Entity Management (3004) for upstreams, policies,
//! keys and the kill switch. `type_uid` is `class_uid * 100 + activity_id`. Where OCSF has
//! no activity for a Warden event the activity is 99 "Other" and `activity_name` says what
//! it was. The whole Warden record (including sequence and hashes) is kept under
//! `unmapped.warden`, so nothing is lost and the chain can still be checked from an OCSF
//! copy.

use serde_json::{Map, Value, json};

use crate::event::{Actor, AuditEvent, Decision, EventKind};

/// The OCSF schema version the mapping follows.
pub const OCSF_VERSION: &str = "1.3.0";

/// OCSF classes Warden maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcsfClass {
    AccountChange,
    Authentication,
    EntityManagement,
    ApiActivity,
}

impl OcsfClass {
    pub const fn uid(self) -> u32 {
        match self {
            OcsfClass::AccountChange => 3001,
            OcsfClass::Authentication => 3002,
            OcsfClass::EntityManagement => 3004,
            OcsfClass::ApiActivity => 6003,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            OcsfClass::AccountChange => "Account Change",
            OcsfClass::Authentication => "Authentication",
            OcsfClass::EntityManagement => "Entity Management",
            OcsfClass::ApiActivity => "API Activity",
        }
    }

    /// 3 = Identity & Access Management, 6 = Application Activity.
    pub const fn category(self) -> (u32, &'static str) {
        match self {
            OcsfClass::ApiActivity => (6, "Application Activity"),
            _ => (3, "Identity & Access Management"),
        }
    }

    /// The class an event kind is exported as.
    pub const fn of(kind: EventKind) -> Self {
        use EventKind as K;
        match kind {
            K::TokenIssued
            | K::TokenExchanged
            | K::TokenRefused
            | K::TokenRevoked
            | K::AdminLogin
            | K::AdminLoginRefused => OcsfClass::Authentication,
            K::GatewayDecision
            | K::GatewayOutcome
            | K::ApprovalRequested
            | K::ApprovalGranted
            | K::ApprovalDenied
            | K::ApprovalExpired => OcsfClass::ApiActivity,
            K::OwnerCreated
            | K::OwnerUpdated
            | K::OwnerOffboarded
            | K::IdentityCreated
            | K::IdentityUpdated
            | K::IdentitySuspended
            | K::IdentityRestored
            | K::IdentityRevoked
            | K::IdentityReassigned
            | K::CredentialIssued
            | K::CredentialRotated
            | K::CredentialRevoked
            | K::LeakReported
            | K::LeakResponded => OcsfClass::AccountChange,
            K::UpstreamCreated
            | K::UpstreamUpdated
            | K::UpstreamDeleted
            | K::PolicyCreated
            | K::PolicyUpdated
            | K::PolicyDeleted
            | K::KeyRotated
            | K::KillApplied
            | K::KillRestored
            | K::ImportApplied
            | K::FindingOpened
            | K::FindingResolved
            | K::FindingSuppressed
            | K::FindingUnsuppressed
            | K::McpToolChanged
            | K::McpToolAccepted
            | K::WebhookAdded
            | K::WebhookRemoved
            | K::SsfReceiverAdded
            | K::SsfReceiverRemoved => OcsfClass::EntityManagement,
        }
    }
}

/// `(activity_id, activity_name)` for an event.
fn activity(event: &AuditEvent) -> (u32, String) {
    use EventKind as K;
    let fixed = |id: u32, name: &str| (id, name.to_owned());
    let other = |name: &str| (99, name.to_owned());
    match event.kind {
        K::TokenIssued | K::TokenExchanged | K::TokenRefused => fixed(1, "Logon"),
        K::AdminLogin | K::AdminLoginRefused => fixed(1, "Logon"),
        K::TokenRevoked => fixed(2, "Logoff"),
        K::GatewayDecision
        | K::GatewayOutcome
        | K::ApprovalRequested
        | K::ApprovalGranted
        | K::ApprovalDenied
        | K::ApprovalExpired => {
            let method = event
                .request
                .as_ref()
                .map(|r| r.method.to_ascii_uppercase());
            match method.as_deref() {
                Some("POST") => fixed(1, "Create"),
                Some("GET" | "HEAD") => fixed(2, "Read"),
                Some("PUT" | "PATCH") => fixed(3, "Update"),
                Some("DELETE") => fixed(4, "Delete"),
                _ => other("Other"),
            }
        }
        K::OwnerCreated | K::IdentityCreated => fixed(1, "Create"),
        K::IdentityRestored => fixed(2, "Enable"),
        K::CredentialRotated => fixed(3, "Password Change"),
        K::OwnerOffboarded | K::IdentitySuspended | K::IdentityRevoked => fixed(5, "Disable"),
        K::OwnerUpdated | K::IdentityUpdated => other("Update"),
        K::IdentityReassigned => other("Reassign"),
        K::CredentialIssued => other("Credential Issued"),
        K::CredentialRevoked => other("Credential Revoked"),
        K::LeakReported => other("Leak Reported"),
        K::LeakResponded => other("Leak Responded"),
        K::UpstreamCreated | K::PolicyCreated => fixed(1, "Create"),
        K::UpstreamUpdated | K::PolicyUpdated | K::KeyRotated => fixed(3, "Update"),
        K::KillApplied => other("Kill Applied"),
        K::KillRestored => other("Kill Restored"),
        K::UpstreamDeleted | K::PolicyDeleted => fixed(4, "Delete"),
        K::ImportApplied => other("Import Applied"),
        K::FindingOpened => other("Finding Opened"),
        K::FindingResolved => other("Finding Resolved"),
        K::FindingSuppressed => other("Finding Suppressed"),
        K::FindingUnsuppressed => other("Finding Unsuppressed"),
        K::McpToolChanged => other("Tool Definition Changed"),
        K::McpToolAccepted => other("Tool Definition Accepted"),
        K::WebhookAdded => other("Webhook Added"),
        K::WebhookRemoved => other("Webhook Removed"),
        K::SsfReceiverAdded => other("Shared Signals Receiver Added"),
        K::SsfReceiverRemoved => other("Shared Signals Receiver Removed"),
    }
}

/// `(status_id, status)`: 1 Success, 2 Failure, 99 Other, 0 Unknown.
fn status(event: &AuditEvent) -> (u32, &'static str) {
    use EventKind as K;
    if let Some(outcome) = &event.outcome {
        return if outcome.status < 400 && outcome.error.is_none() {
            (1, "Success")
        } else {
            (2, "Failure")
        };
    }
    match (event.kind, event.decision) {
        (K::TokenRefused | K::AdminLoginRefused | K::ApprovalDenied | K::ApprovalExpired, _) => {
            (2, "Failure")
        }
        (_, Some(Decision::Deny)) => (2, "Failure"),
        (_, Some(Decision::Hold)) | (K::ApprovalRequested, _) => (99, "Other"),
        _ => (1, "Success"),
    }
}

/// `(severity_id, severity)`.
fn severity(event: &AuditEvent) -> (u32, &'static str) {
    use EventKind as K;
    match event.kind {
        K::KillApplied | K::LeakReported | K::LeakResponded => (4, "High"),
        K::TokenRefused | K::AdminLoginRefused | K::IdentityRevoked | K::CredentialRevoked => {
            (3, "Medium")
        }
        _ if event.decision == Some(Decision::Deny) => (3, "Medium"),
        _ => (1, "Informational"),
    }
}

/// The OCSF `user` object for an actor (type_id 1 User, 2 Admin, 3 System, 99 Other).
fn user_of(actor: &Actor) -> Value {
    match actor {
        Actor::Admin { id, name } => {
            json!({"uid": id, "name": name, "type_id": 2, "type": "Admin"})
        }
        Actor::Agent { id, name } => {
            json!({"uid": id, "name": name, "type_id": 99, "type": "Agent"})
        }
        Actor::System { component } => {
            json!({"uid": component, "name": component, "type_id": 3, "type": "System"})
        }
    }
}

fn actor_of(event: &AuditEvent) -> Value {
    let mut actor = Map::new();
    actor.insert("user".into(), user_of(&event.actor));
    if let Actor::System { component } = &event.actor {
        actor.insert("app_name".into(), json!(component));
    }
    if let Some(decision) = event.decision {
        let authorizations: Vec<Value> = if event.policy_ids.is_empty() {
            vec![json!({"decision": decision.as_str()})]
        } else {
            event
                .policy_ids
                .iter()
                .map(|id| json!({"decision": decision.as_str(), "policy": {"uid": id}}))
                .collect()
        };
        actor.insert("authorizations".into(), Value::Array(authorizations));
    }
    Value::Object(actor)
}

fn message(event: &AuditEvent) -> String {
    let mut parts = vec![event.kind.as_str().to_owned()];
    if let Some(decision) = event.decision {
        parts.push(decision.as_str().to_owned());
    }
    if let Some(action) = &event.action {
        parts.push(action.clone());
    }
    if let Some(resource) = &event.resource {
        parts.push(format!("on {resource}"));
    }
    if let Some(target) = &event.target {
        parts.push(format!("{} {}", target.kind, target.id));
    }
    parts.join(" ")
}

/// Maps one record to an OCSF event object.
pub fn to_ocsf(event: &AuditEvent) -> Value {
    let class = OcsfClass::of(event.kind);
    let (category_uid, category_name) = class.category();
    let (activity_id, activity_name) = activity(event);
    let (status_id, status_name) = status(event);
    let (severity_id, severity_name) = severity(event);

    let mut metadata = Map::new();
    metadata.insert("version".into(), json!(OCSF_VERSION));
    metadata.insert(
        "product".into(),
        json!({"name": "Warden", "vendor_name": "Warden"}),
    );
    metadata.insert("uid".into(), json!(event.id.to_string()));
    metadata.insert("sequence".into(), json!(event.sequence));
    metadata.insert("log_name".into(), json!("warden-audit"));
    metadata.insert("original_time".into(), json!(event.time.to_rfc3339()));
    if let Some(task) = &event.task_id {
        metadata.insert("correlation_uid".into(), json!(task));
    }
    if class == OcsfClass::ApiActivity && event.decision.is_some() {
        // `action_id` / `action` belong to the Security Control profile.
        metadata.insert("profiles".into(), json!(["security_control"]));
    }

    let mut out = Map::new();
    out.insert("category_uid".into(), json!(category_uid));
    out.insert("category_name".into(), json!(category_name));
    out.insert("class_uid".into(), json!(class.uid()));
    out.insert("class_name".into(), json!(class.name()));
    out.insert("activity_id".into(), json!(activity_id));
    out.insert("activity_name".into(), json!(activity_name));
    out.insert(
        "type_uid".into(),
        json!(u64::from(class.uid()) * 100 + u64::from(activity_id)),
    );
    out.insert(
        "type_name".into(),
        json!(format!("{}: {activity_name}", class.name())),
    );
    out.insert("severity_id".into(), json!(severity_id));
    out.insert("severity".into(), json!(severity_name));
    out.insert("time".into(), json!(event.time.as_millis()));
    out.insert("status_id".into(), json!(status_id));
    out.insert("status".into(), json!(status_name));
    if let Some(error) = event
        .details
        .get("error")
        .or_else(|| event.outcome.as_ref().and_then(|o| o.error.as_ref()))
    {
        out.insert("status_detail".into(), json!(error));
    }
    out.insert("message".into(), json!(message(event)));
    out.insert("metadata".into(), Value::Object(metadata));
    out.insert("actor".into(), actor_of(event));
    if let Some(address) = event.source_address {
        out.insert("src_endpoint".into(), json!({"ip": address.to_string()}));
    }

    match class {
        OcsfClass::ApiActivity => api_activity(event, &mut out),
        OcsfClass::Authentication => authentication(event, &mut out),
        OcsfClass::AccountChange => account_change(event, &mut out),
        OcsfClass::EntityManagement => entity_management(event, &mut out),
    }

    // Serialising a plain data struct cannot fail; if it ever did, the export still says
    // so rather than silently dropping Warden's fields.
    let warden = serde_json::to_value(event)
        .unwrap_or_else(|error| json!({"serialization_error": error.to_string()}));
    out.insert("unmapped".into(), json!({"warden": warden}));
    Value::Object(out)
}

fn api_activity(event: &AuditEvent, out: &mut Map<String, Value>) {
    let operation = event
        .action
        .clone()
        .or_else(|| {
            event
                .request
                .as_ref()
                .map(|r| format!("{} {}", r.method, r.path))
        })
        .unwrap_or_else(|| event.kind.as_str().to_owned());
    let mut api = Map::new();
    api.insert("operation".into(), json!(operation));
    if let Some(upstream) = &event.upstream {
        api.insert("service".into(), json!({"name": upstream}));
    }
    if let Some(approval) = &event.approval_id {
        api.insert("request".into(), json!({"uid": approval}));
    }
    if let Some(outcome) = &event.outcome {
        let mut response = Map::new();
        response.insert("code".into(), json!(outcome.status));
        if let Some(error) = &outcome.error {
            response.insert("error".into(), json!(error));
        }
        api.insert("response".into(), Value::Object(response));
    }
    out.insert("api".into(), Value::Object(api));
    if let Some(decision) = event.decision {
        let (action_id, action) = match decision {
            Decision::Allow => (1, "Allowed"),
            Decision::Deny => (2, "Denied"),
            Decision::Hold => (99, "Other"),
        };
        out.insert("action_id".into(), json!(action_id));
        out.insert("action".into(), json!(action));
    }
    if let Some(upstream) = &event.upstream {
        out.insert("dst_endpoint".into(), json!({"svc_name": upstream}));
    }
    if let Some(request) = &event.request {
        out.insert(
            "http_request".into(),
            json!({"http_method": request.method, "url": {"path": request.path}}),
        );
    }
    if let Some(outcome) = &event.outcome {
        out.insert(
            "http_response".into(),
            json!({"code": outcome.status, "length": outcome.bytes, "latency": outcome.latency_ms}),
        );
    }
    if let Some(resource) = &event.resource {
        out.insert("resources".into(), json!([{"uid": resource}]));
    }
}

fn authentication(event: &AuditEvent, out: &mut Map<String, Value>) {
    out.insert("user".into(), user_of(&event.actor));
    let service = event.upstream.as_deref().unwrap_or("warden");
    out.insert("service".into(), json!({"name": service}));
    if matches!(
        event.kind,
        EventKind::TokenIssued
            | EventKind::TokenExchanged
            | EventKind::TokenRefused
            | EventKind::TokenRevoked
    ) {
        out.insert("auth_protocol_id".into(), json!(6));
        out.insert("auth_protocol".into(), json!("OAUTH 2.0"));
    }
    if let Some(jti) = &event.token_jti {
        out.insert("session".into(), json!({"uid": jti}));
    }
}

fn account_change(event: &AuditEvent, out: &mut Map<String, Value>) {
    let user = match &event.target {
        Some(target) => {
            let (type_id, type_name) = match target.kind.as_str() {
                "owner" => (1, "User"),
                _ => (99, "Agent"),
            };
            let mut user = Map::new();
            user.insert("uid".into(), json!(target.id));
            if let Some(name) = &target.name {
                user.insert("name".into(), json!(name));
            }
            user.insert("type_id".into(), json!(type_id));
            user.insert("type".into(), json!(type_name));
            Value::Object(user)
        }
        None => json!({"uid": event.credential_id.as_deref().or(event.owner.as_deref())}),
    };
    out.insert("user".into(), user);
}

fn entity_management(event: &AuditEvent, out: &mut Map<String, Value>) {
    let entity = match &event.target {
        Some(target) => {
            let mut entity = Map::new();
            entity.insert("uid".into(), json!(target.id));
            if let Some(name) = &target.name {
                entity.insert("name".into(), json!(name));
            }
            entity.insert("type".into(), json!(target.kind));
            Value::Object(entity)
        }
        None => json!({"type": event.kind.as_str().split('.').next().unwrap_or("entity")}),
    };
    out.insert("entity".into(), entity);
    if let Some(reason) = &event.reason {
        out.insert("comment".into(), json!(reason));
    }
}

/// Writes one OCSF object per line for `events` into `out`.
pub fn write_ocsf<W, I>(out: &mut W, events: I) -> Result<u64, crate::export::ExportError>
where
    W: std::io::Write,
    I: IntoIterator,
    I::Item: std::borrow::Borrow<AuditEvent>,
{
    let mut count = 0;
    for event in events {
        serde_json::to_writer(&mut *out, &to_ocsf(std::borrow::Borrow::borrow(&event)))?;
        out.write_all(b"\n")?;
        count += 1;
    }
    out.flush()?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::sample_event;
    use crate::{Actor, Chain, ChainHead, NewEvent};
    use uuid::Uuid;
    use warden_core::Timestamp;

    fn placed(event: NewEvent) -> AuditEvent {
        Chain::new(ChainHead::GENESIS)
            .append(
                event,
                Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0001),
                Timestamp::from_millis(1_763_800_000_123),
                "node-a",
            )
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn every_kind_maps_to_a_consistent_class_and_type() {
        for kind in EventKind::ALL {
            let event = placed(NewEvent::new(*kind, Actor::system("test")));
            let ocsf = to_ocsf(&event);
            let class = ocsf["class_uid"].as_u64().unwrap_or_default();
            let activity = ocsf["activity_id"].as_u64().unwrap_or_default();
            assert_eq!(class, u64::from(OcsfClass::of(*kind).uid()), "{kind}");
            assert_eq!(
                ocsf["type_uid"].as_u64(),
                Some(class * 100 + activity),
                "{kind}"
            );
            assert_eq!(ocsf["category_uid"].as_u64(), Some(class / 1000), "{kind}");
            assert_eq!(ocsf["unmapped"]["warden"]["kind"], kind.as_str());
        }
    }

    /// Snapshots with keys sorted, so the stored form does not depend on whether some other
    /// crate in the build turned on serde_json's insertion-ordered maps.
    fn snapshot(name: &str, value: Value) {
        insta::with_settings!({ sort_maps => true }, {
            insta::assert_json_snapshot!(name, value);
        });
    }

    #[test]
    fn api_activity_for_a_gateway_decision() {
        snapshot(
            "api_activity_for_a_gateway_decision",
            to_ocsf(&placed(sample_event(1))),
        );
    }

    #[test]
    fn authentication_for_a_refused_token() {
        let event = NewEvent::new(EventKind::TokenRefused, Actor::agent("idn_3", "etl-bot"))
            .credential("crd_9")
            .detail("error", "invalid_client")
            .source("192.0.2.10".parse().unwrap_or_else(|e| panic!("{e}")));
        snapshot(
            "authentication_for_a_refused_token",
            to_ocsf(&placed(event)),
        );
    }

    #[test]
    fn account_change_for_a_suspended_identity() {
        let event = NewEvent::new(EventKind::IdentitySuspended, Actor::admin("adm_1", "alice"))
            .owner("own_1")
            .target_named("identity", "idn_3", "etl-bot")
            .reason("owner left the company");
        snapshot(
            "account_change_for_a_suspended_identity",
            to_ocsf(&placed(event)),
        );
    }

    #[test]
    fn entity_management_for_a_policy_change() {
        snapshot(
            "entity_management_for_a_policy_change",
            to_ocsf(&placed(sample_event(4))),
        );
    }
}
