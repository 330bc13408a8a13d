//! An access graph as an SVG picture, for pages: one column per hop from the agent, a box
//! per node (its kind above its name), and an arrow per edge, `permits` arrows coloured by
//! standing as in `dot` (green allowed, orange after approval, blue conditional, grey
//! dashed denied) and edges used in the window drawn bold.
//!
//! The picture is laid out here, without Graphviz, so a server can draw it in the page it
//! renders. Every name, label and fact is text from the inventory, route maps or imports,
//! so all of it goes through [`escape`]: none can open an element or an attribute. The
//! picture uses presentation attributes only (no `style`, no script), so a page with a
//! strict Content-Security-Policy shows it as it is. A graph larger than `max_nodes` is
//! drawn in part, closest hops first, and says how much was left out.

use std::collections::HashMap;
use std::fmt::Write as _;

use warden_policy::Standing;

use super::{AccessGraph, EdgeKind, NodeKind};

const BOX_WIDTH: u32 = 230;
const BOX_HEIGHT: u32 = 40;
const COLUMN_GAP: u32 = 70;
const ROW_GAP: u32 = 14;
const MARGIN: u32 = 16;
/// Names longer than this are cut in the box; the whole name is its tooltip.
const NAME_CHARS: usize = 30;

/// What was drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    pub svg: String,
    /// Nodes of the graph not drawn, past `max_nodes`.
    pub left_out: usize,
}

/// `text` safe inside an XML element or a double-quoted attribute: markup characters
/// escaped, and characters XML 1.0 does not allow (most control characters) dropped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if c.is_control() || matches!(c, '\u{FFFE}' | '\u{FFFF}') => {}
            c => out.push(c),
        }
    }
    out
}

fn cut(name: &str) -> String {
    if name.chars().count() <= NAME_CHARS {
        return name.to_owned();
    }
    let mut short: String = name.chars().take(NAME_CHARS - 1).collect();
    short.push('…');
    short
}

fn fill(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Agent => "#fde68a",
        NodeKind::Parent | NodeKind::SubAgent => "#fef3c7",
        NodeKind::Credential => "#e0e7ff",
        NodeKind::Issuer | NodeKind::User => "#fce7f3",
        NodeKind::Upstream => "#dcfce7",
        NodeKind::Action | NodeKind::Tool => "#f3f4f6",
        NodeKind::InjectedIdentity | NodeKind::Entitlement => "#fee2e2",
    }
}

fn stroke(standing: Standing) -> &'static str {
    match standing {
        Standing::Allowed => "#166534",
        Standing::AfterApproval => "#c2410c",
        Standing::Conditional => "#1d4ed8",
        Standing::Denied => "#6b7280",
    }
}

/// Draws `graph`, at most `max_nodes` of its nodes.
pub fn render(graph: &AccessGraph, max_nodes: usize) -> Picture {
    // Closest hops first, then by kind and name, so the same graph is drawn the same way.
    let mut order: Vec<usize> = (0..graph.nodes.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&graph.nodes[a], &graph.nodes[b]);
        (a.depth, a.kind.as_str(), &a.name, &a.id).cmp(&(b.depth, b.kind.as_str(), &b.name, &b.id))
    });
    let left_out = order.len().saturating_sub(max_nodes);
    order.truncate(max_nodes);

    let mut rows_in_column: HashMap<u32, u32> = HashMap::new();
    let mut place: HashMap<&str, (u32, u32)> = HashMap::with_capacity(order.len());
    let (mut width, mut height) = (MARGIN, MARGIN);
    for &index in &order {
        let node = &graph.nodes[index];
        let row = rows_in_column.entry(node.depth).or_insert(0);
        let x = MARGIN + node.depth * (BOX_WIDTH + COLUMN_GAP);
        let y = MARGIN + *row * (BOX_HEIGHT + ROW_GAP);
        *row += 1;
        width = width.max(x + BOX_WIDTH + MARGIN);
        height = height.max(y + BOX_HEIGHT + MARGIN);
        place.insert(node.id.as_str(), (x, y));
    }

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-labelledby="access-graph-title" font-family="sans-serif" font-size="12"><title id="access-graph-title">{}</title>"#,
        escape(&format!(
            "what {} can reach: {} nodes, {} edges",
            graph
                .node(&graph.agent)
                .map_or(graph.agent.as_str(), |agent| agent.name.as_str()),
            graph.nodes.len(),
            graph.edges.len()
        ))
    );
    svg.push_str(r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#374151"/></marker></defs>"##);
    for edge in &graph.edges {
        let (Some(&(x1, y1)), Some(&(x2, y2))) =
            (place.get(edge.from.as_str()), place.get(edge.to.as_str()))
        else {
            continue;
        };
        let (colour, dashed) = match (edge.kind, edge.standing) {
            (EdgeKind::Permits, Some(standing)) => (stroke(standing), standing == Standing::Denied),
            _ => ("#374151", false),
        };
        let width = if edge.used == Some(true) {
            "2.5"
        } else {
            "1.2"
        };
        let (start_x, end_x) = if x2 > x1 {
            (x1 + BOX_WIDTH, x2)
        } else {
            (x1, x2 + BOX_WIDTH)
        };
        let (start_y, end_y) = (y1 + BOX_HEIGHT / 2, y2 + BOX_HEIGHT / 2);
        let bend = (start_x + end_x) / 2;
        let mut title = edge.kind.as_str().to_owned();
        if let Some(standing) = edge.standing {
            let _ = write!(title, ": {}", standing.as_str());
        }
        if !edge.why.policy_ids.is_empty() {
            let _ = write!(title, " ({})", edge.why.policy_ids.join(", "));
        }
        if let Some(denied) = edge.denied_actions.filter(|&n| n > 0) {
            let _ = write!(title, "; {denied} denied");
        }
        if edge.used == Some(true) {
            title.push_str("; used");
        }
        let _ = write!(
            svg,
            r#"<path d="M {start_x} {start_y} C {bend} {start_y}, {bend} {end_y}, {end_x} {end_y}" fill="none" stroke="{colour}" stroke-width="{width}"{} marker-end="url(#arrow)"><title>{}</title></path>"#,
            if dashed {
                r#" stroke-dasharray="5 4""#
            } else {
                ""
            },
            escape(&title)
        );
    }
    for &index in &order {
        let node = &graph.nodes[index];
        let Some(&(x, y)) = place.get(node.id.as_str()) else {
            continue;
        };
        let mut title = format!("{}: {}", node.kind.as_str(), node.name);
        if !node.labels.is_empty() {
            let _ = write!(title, " [{}]", node.labels.join(", "));
        }
        let _ = write!(
            svg,
            r##"<g><title>{}</title><rect x="{x}" y="{y}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="5" fill="{}" stroke="#374151"/><text x="{}" y="{}" fill="#4b5563" font-size="10">{}</text><text x="{}" y="{}" fill="#111827">{}</text></g>"##,
            escape(&title),
            fill(node.kind),
            x + 8,
            y + 14,
            escape(node.kind.as_str()),
            x + 8,
            y + 31,
            escape(&cut(&node.name)),
        );
    }
    svg.push_str("</svg>");
    Picture { svg, left_out }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::{Basis, Edge, Node, Why};
    use super::*;

    fn node(id: &str, kind: NodeKind, name: &str, depth: u32) -> Node {
        Node {
            id: id.to_owned(),
            kind,
            name: name.to_owned(),
            depth,
            labels: Vec::new(),
            facts: Default::default(),
        }
    }

    fn edge(from: &str, to: &str, kind: EdgeKind, standing: Option<Standing>) -> Edge {
        Edge {
            from: from.to_owned(),
            to: to.to_owned(),
            kind,
            why: Why {
                basis: Basis::Policy,
                policy_ids: Vec::new(),
                detail: None,
            },
            standing,
            principal: None,
            denied_actions: None,
            used: None,
            last_used_at: None,
        }
    }

    fn graph(names: &[&str]) -> AccessGraph {
        let mut nodes = vec![node("identity:a", NodeKind::Agent, names[0], 0)];
        let mut edges = Vec::new();
        for (i, name) in names.iter().enumerate().skip(1) {
            let id = format!("upstream:{i}");
            nodes.push(node(&id, NodeKind::Upstream, name, 1));
            edges.push(edge("identity:a", &id, EdgeKind::Reaches, None));
        }
        AccessGraph {
            agent: "identity:a".to_owned(),
            depth: 3,
            days: 30,
            nodes,
            edges,
        }
    }

    #[test]
    fn markup_in_names_is_text() {
        let picture = render(
            &graph(&["a\"><script>alert(1)</script>", "x' onload='y"]),
            10,
        );
        assert!(!picture.svg.contains("<script"), "{}", picture.svg);
        assert!(!picture.svg.contains("' onload='"), "{}", picture.svg);
        assert!(picture.svg.contains("&lt;script&gt;"));
        assert!(!picture.svg.contains("style"));
    }

    #[test]
    fn standings_are_coloured_and_denials_dashed() {
        let mut drawn = graph(&["agent:bot", "crm"]);
        drawn
            .nodes
            .push(node("action:crm:GET /x", NodeKind::Action, "GET /x", 2));
        drawn.nodes.push(node(
            "action:crm:DELETE /x",
            NodeKind::Action,
            "DELETE /x",
            2,
        ));
        drawn.edges.push(edge(
            "upstream:1",
            "action:crm:GET /x",
            EdgeKind::Permits,
            Some(Standing::Allowed),
        ));
        drawn.edges.push(edge(
            "upstream:1",
            "action:crm:DELETE /x",
            EdgeKind::Permits,
            Some(Standing::Denied),
        ));
        let svg = render(&drawn, 10).svg;
        assert!(svg.contains(r##"stroke="#166534""##), "{svg}");
        assert_eq!(svg.matches("stroke-dasharray").count(), 1, "{svg}");
        assert_eq!(svg.matches("<rect").count(), 4);
        assert_eq!(svg.matches("marker-end=").count(), 3);
    }

    #[test]
    fn a_large_graph_is_drawn_closest_hops_first() {
        let names: Vec<String> = (0..20).map(|i| format!("node-{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let picture = render(&graph(&names), 5);
        assert_eq!(picture.left_out, 15);
        assert_eq!(picture.svg.matches("<rect").count(), 5);
        assert!(
            picture.svg.contains(">node-0<"),
            "the agent is always drawn"
        );
        // Edges to nodes left out are not drawn.
        assert_eq!(picture.svg.matches("marker-end=").count(), 4);
    }

    proptest! {
        /// Whatever the names, no name's markup survives: every `<` in the picture opens
        /// one of the renderer's own elements, and the boxes and texts are all there.
        #[test]
        fn names_never_become_markup(names in proptest::collection::vec(any::<String>(), 1..6)) {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let picture = render(&graph(&names), 10);
            let svg = &picture.svg;
            let tags = ["<svg", "<title", "</title", "<defs", "</defs", "<marker", "</marker",
                "<path", "</path", "<g>", "</g>", "<rect", "<text", "</text", "</svg"];
            for (at, _) in svg.match_indices('<') {
                prop_assert!(tags.iter().any(|tag| svg[at..].starts_with(tag)), "{}", &svg[at..]);
            }
            prop_assert_eq!(svg.matches("<rect").count(), names.len());
            prop_assert_eq!(svg.matches("<text").count(), 2 * names.len());
            prop_assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        }
    }
}
