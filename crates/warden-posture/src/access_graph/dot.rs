//! An access graph as Graphviz `dot`: one node per graph node, shaped by kind; `permits`
//! edges coloured by standing (green allowed, orange after approval, blue conditional,
//! grey dashed denied); edges used in the window drawn bold.
//!
//! Every id and label is written as a quoted string with `\` and `"` escaped and line
//! breaks turned into `\n`, so names from the inventory, route maps or imports (which may
//! hold quotes, braces or newlines) can never end a string or inject statements.

use std::fmt::Write as _;

use warden_policy::Standing;

use super::{AccessGraph, EdgeKind, NodeKind};

/// `text` as a dot quoted string, quotes included.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn shape(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Agent => "doubleoctagon",
        NodeKind::Parent | NodeKind::SubAgent => "octagon",
        NodeKind::Credential => "note",
        NodeKind::Issuer => "house",
        NodeKind::User => "egg",
        NodeKind::Upstream => "box3d",
        NodeKind::Action | NodeKind::Tool => "box",
        NodeKind::InjectedIdentity => "component",
        NodeKind::Entitlement => "cds",
    }
}

fn colour(standing: Standing) -> &'static str {
    match standing {
        Standing::Allowed => "darkgreen",
        Standing::AfterApproval => "darkorange",
        Standing::Conditional => "blue",
        Standing::Denied => "grey",
    }
}

/// The graph as a `digraph`.
pub fn render(graph: &AccessGraph) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "digraph {} {{",
        quote(&format!("access {}", graph.agent))
    );
    out.push_str("  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n");
    for node in &graph.nodes {
        let mut label = format!("{}\n{}", node.kind.as_str(), node.name);
        if !node.labels.is_empty() {
            let _ = write!(label, "\n[{}]", node.labels.join(", "));
        }
        let _ = writeln!(
            out,
            "  {} [label={}, shape={}];",
            quote(&node.id),
            quote(&label),
            shape(node.kind)
        );
    }
    for edge in &graph.edges {
        let mut attrs = Vec::new();
        let mut label = edge.kind.as_str().to_owned();
        if edge.kind == EdgeKind::Permits
            && let Some(standing) = edge.standing
        {
            label = standing.as_str().to_owned();
            if let Some(principal) = &edge.principal
                && principal != &graph.agent
            {
                let name = graph
                    .node(principal)
                    .map_or(principal.as_str(), |n| &n.name);
                let _ = write!(label, " ({name})");
            }
            attrs.push(format!("color={}", colour(standing)));
            if standing == Standing::Denied {
                attrs.push("style=dashed".to_owned());
            }
        }
        if !edge.why.policy_ids.is_empty() {
            let _ = write!(label, "\n{}", edge.why.policy_ids.join(", "));
        }
        if let Some(denied) = edge.denied_actions.filter(|&n| n > 0) {
            let _ = write!(label, "\n{denied} denied");
        }
        if edge.used == Some(true) {
            attrs.push("penwidth=2.5".to_owned());
            label.push_str("\nused");
        }
        attrs.insert(0, format!("label={}", quote(&label)));
        let _ = writeln!(
            out,
            "  {} -> {} [{}];",
            quote(&edge.from),
            quote(&edge.to),
            attrs.join(", ")
        );
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn quotes_backslashes_and_newlines_are_escaped() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quote("one\ntwo\r"), r#""one\ntwo""#);
        assert_eq!(quote("tab\there"), r#""tab here""#);
    }

    proptest! {
        /// Whatever the text, the quoted form is one dot string: it starts and ends with a
        /// quote, every inner quote is escaped, and no raw line break survives.
        #[test]
        fn a_quoted_label_never_ends_early(text in any::<String>()) {
            let quoted = quote(&text);
            prop_assert!(quoted.starts_with('"') && quoted.ends_with('"') && quoted.len() >= 2);
            let inner = &quoted[1..quoted.len() - 1];
            let mut escaped = false;
            for c in inner.chars() {
                prop_assert!(c != '\n' && c != '\r');
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else {
                    prop_assert!(c != '"', "an unescaped quote in {quoted}");
                }
            }
            prop_assert!(!escaped, "a dangling backslash in {quoted}");
        }
    }
}
