//! The scopes a policy tests the token for: every string it asks `context.scopes` about
//! with `contains`, `containsAll` or `containsAny`. Read from Cedar's JSON form of the
//! policy, so that comments, spacing and `in`-lists of actions cannot hide or invent one.
//! The list lets a refusal name the scopes a token lacks (RFC 6750 `insufficient_scope`),
//! which is how an MCP client knows to ask for a wider token.

use cedar_policy::Policy;
use serde_json::Value;

/// The scopes `policy` tests for, sorted and without repeats.
pub fn tested_scopes(policy: &Policy) -> Vec<String> {
    let mut found = Vec::new();
    if let Ok(json) = policy.to_json() {
        walk(&json, &mut found);
    }
    found.sort();
    found.dedup();
    found
}

/// Whether `expr` is `context.scopes`.
fn is_context_scopes(expr: &Value) -> bool {
    let Some(access) = expr.get(".") else {
        return false;
    };
    access.get("attr").and_then(Value::as_str) == Some("scopes")
        && access
            .get("left")
            .and_then(|left| left.get("Var"))
            .and_then(Value::as_str)
            == Some("context")
}

/// The string literals of an expression: a `"x"` or a set of them.
fn literals(expr: &Value, found: &mut Vec<String>) {
    if let Some(Value::String(text)) = expr.get("Value") {
        found.push(text.clone());
    }
    if let Some(Value::Array(items)) = expr.get("Set") {
        for item in items {
            literals(item, found);
        }
    }
}

fn walk(node: &Value, found: &mut Vec<String>) {
    match node {
        Value::Object(object) => {
            for (key, value) in object {
                if matches!(key.as_str(), "contains" | "containsAll" | "containsAny")
                    && value.get("left").is_some_and(is_context_scopes)
                    && let Some(right) = value.get("right")
                {
                    literals(right, found);
                }
                walk(value, found);
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, found);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes_of(text: &str) -> Vec<String> {
        let policy: Policy = text.parse().unwrap_or_else(|e| panic!("{e}"));
        tested_scopes(&policy)
    }

    #[test]
    fn finds_every_scope_test() {
        assert_eq!(
            scopes_of(
                r#"permit(principal, action, resource) when {
                    context.scopes.contains("tickets:write") &&
                    (context.scopes.containsAny(["a", "b"]) || context.scopes.containsAll(["c"]))
                };"#
            ),
            ["a", "b", "c", "tickets:write"]
        );
    }

    #[test]
    fn other_sets_are_not_scopes() {
        assert!(
            scopes_of(
                r#"permit(principal, action, resource) when {
                    ["x"].contains("x") && context has reason && context.reason == "scopes"
                };"#
            )
            .is_empty()
        );
    }
}
