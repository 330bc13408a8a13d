//! Task bounds: the actions and resources a task token may touch, checked before Cedar.
//!
//! A task token (RFC 9396 `authorization_details`) can only narrow what policies allow, so
//! the check is a plain filter in front of the decision: outside the bounds means
//! `out_of_task_scope`, whatever the policies say.
//!
//! Patterns are exact strings, or end in `*` to match any string with the text before the
//! `*` as prefix; `*` alone matches everything. A resource pattern may close its quote after
//! the star, so `Tool::"github/*"` means every tool of `github` and `Ticket::*` every ticket.
//! Resources are compared as Cedar writes entity uids (see [`resource_uid_text`]). Empty
//! lists match nothing: a task that names no actions may do nothing.

use cedar_policy::{EntityId, EntityTypeName, EntityUid};

/// The bounds a task token carries.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskBounds {
    /// The task's id, passed to policies as `context.task`.
    pub task_id: String,
    /// Action patterns, e.g. `tickets.read` or `tickets.*`.
    pub actions: Vec<String>,
    /// Resource patterns, e.g. `Ticket::"123"` or `Tool::"github/*"`.
    pub resources: Vec<String>,
}

fn pattern_matches(pattern: &str, value: &str) -> bool {
    let star = pattern
        .strip_suffix("*\"")
        .or_else(|| pattern.strip_suffix('*'));
    match star {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

/// Whether `action` on `resource` (a uid as [`resource_uid_text`] writes it) is inside
/// the task's bounds.
pub fn within_task(bounds: &TaskBounds, action: &str, resource: &str) -> bool {
    bounds.actions.iter().any(|p| pattern_matches(p, action))
        && bounds
            .resources
            .iter()
            .any(|p| pattern_matches(p, resource))
}

/// Writes an entity uid the way Cedar does, e.g. `Ticket::"123"`, escaping the id, so a
/// pattern and a request agree on what a resource is called. Returns `None` if
/// `entity_type` is not a valid Cedar type name.
pub fn resource_uid_text(entity_type: &str, id: &str) -> Option<String> {
    let ty: EntityTypeName = entity_type.parse().ok()?;
    Some(EntityUid::from_type_name_and_id(ty, EntityId::new(id)).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(actions: &[&str], resources: &[&str]) -> TaskBounds {
        TaskBounds {
            task_id: "t-1".into(),
            actions: actions.iter().map(|s| (*s).to_owned()).collect(),
            resources: resources.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn exact_and_prefix_patterns() {
        let b = bounds(
            &["tickets.read", "files.*"],
            &["Ticket::\"1\"", "Tool::\"github/*\""],
        );
        assert!(within_task(&b, "tickets.read", "Ticket::\"1\""));
        assert!(!within_task(&b, "tickets.read", "Ticket::\"12\""));
        assert!(!within_task(&b, "tickets.update", "Ticket::\"1\""));
        assert!(within_task(
            &b,
            "files.write",
            "Tool::\"github/create_issue\""
        ));
        assert!(!within_task(
            &b,
            "files.write",
            "Tool::\"gitlab/create_issue\""
        ));
        let all = bounds(&["*"], &["Ticket::*"]);
        assert!(within_task(&all, "anything", "Ticket::\"9\""));
        assert!(!within_task(&all, "anything", "Tickets::\"9\""));
    }

    #[test]
    fn empty_bounds_allow_nothing() {
        assert!(!within_task(&bounds(&[], &["*"]), "a", "R::\"1\""));
        assert!(!within_task(&bounds(&["*"], &[]), "a", "R::\"1\""));
    }

    #[test]
    fn uid_text_escapes_like_cedar() {
        assert_eq!(
            resource_uid_text("Ticket", "1").as_deref(),
            Some("Ticket::\"1\"")
        );
        assert_eq!(
            resource_uid_text("Ticket", "a\"b").as_deref(),
            Some("Ticket::\"a\\\"b\"")
        );
        assert_eq!(resource_uid_text("not a type", "1"), None);
    }
}
