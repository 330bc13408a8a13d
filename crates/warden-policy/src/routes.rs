//! Route maps: how an upstream's HTTP requests become Cedar actions on resources.
//!
//! A route map is a TOML file with one `[[route]]` table per route:
//!
//! ```toml
//! [[route]]
//! method = "GET"
//! path = "/tickets/{id}"
//! action = "tickets.read"
//! resource = "Ticket::{id}"
//! labels = ["customer_records"]   # optional: what the route touches
//! ```
//!
//! Path templates are made of literal segments, named segments `{name}` (exactly one
//! non-empty path segment) and, only as the last segment, `{*rest}` (one or more segments,
//! joined with `/`). A resource template is `Type::ID` where `ID` is text with `{name}`
//! placeholders (the rest parameter is written `{rest}`), optionally in double quotes.
//!
//! Everything is checked when the file is parsed, and every error names the line at fault,
//! because a route map that loads is then trusted on every request. Matching prefers a
//! literal segment over a named one over a rest segment, position by position, so
//! `/tickets/export` beats `/tickets/{id}` whatever the order of the file. Matching runs on
//! a path the gateway has already normalized and percent-decoded; nothing here decodes.

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;

/// The HTTP methods a route may name. CONNECT and TRACE are left out on purpose: a gateway
/// has no business tunnelling or reflecting requests to an upstream.
pub const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Entity type names Warden declares itself; a route resource may not reuse them.
pub const RESERVED_TYPES: [&str; 17] = [
    "Agent",
    "ServiceAccount",
    "ApiKey",
    "OAuthApp",
    "Token",
    "Certificate",
    "Webhook",
    "Workload",
    "Owner",
    "User",
    "Upstream",
    "Tool",
    "ToolArguments",
    "Resource",
    "Prompt",
    "Action",
    "TaskHistory",
];

pub use crate::mcp::CALL_TOOL;
use crate::mcp::MCP_ACTIONS;

/// A route map file could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The file is not valid TOML, or has the wrong shape (unknown or missing fields).
    #[error("route map line {line}: {message}")]
    Syntax { line: usize, message: String },
    /// One route is well-formed TOML but breaks a route rule.
    #[error("route map line {line}: {message}")]
    Invalid { line: usize, message: String },
    /// Two routes have the same method and the same template shape.
    #[error(
        "route map line {line}: {method} {path} duplicates the route on line {first_line}; \
         give each method and path one route"
    )]
    Duplicate {
        line: usize,
        first_line: usize,
        method: String,
        path: String,
    },
}

impl RouteError {
    /// The 1-based line of the file the error is about.
    pub fn line(&self) -> usize {
        match self {
            Self::Syntax { line, .. }
            | Self::Invalid { line, .. }
            | Self::Duplicate { line, .. } => *line,
        }
    }
}

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Must equal the request's segment exactly.
    Literal(String),
    /// `{name}`: any one non-empty segment.
    Param(String),
    /// `{*name}`: one or more trailing segments.
    Rest(String),
}

/// A parsed path template such as `/tickets/{id}/comments/{*rest}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    text: String,
    segments: Vec<Segment>,
}

impl PathTemplate {
    /// Parses a template, returning a message that says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some(body) = text.strip_prefix('/') else {
            return Err(format!("path {text:?} must start with '/'"));
        };
        let mut segments = Vec::new();
        if !body.is_empty() {
            let parts: Vec<&str> = body.split('/').collect();
            let last = parts.len() - 1;
            for (i, part) in parts.iter().enumerate() {
                segments.push(parse_segment(text, part, i == last)?);
            }
        }
        let mut names: Vec<&str> = Vec::new();
        for seg in &segments {
            if let Segment::Param(n) | Segment::Rest(n) = seg {
                if names.contains(&n.as_str()) {
                    return Err(format!("path {text:?} names {{{n}}} twice"));
                }
                names.push(n);
            }
        }
        Ok(Self {
            text: text.to_owned(),
            segments,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Whether the template names a parameter (`{name}` or `{*name}`).
    pub fn has_param(&self, name: &str) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, Segment::Param(n) | Segment::Rest(n) if n == name))
    }

    /// The template with parameter names erased, so `/a/{x}` and `/a/{y}` compare equal.
    fn shape(&self) -> String {
        let mut out = String::new();
        for seg in &self.segments {
            out.push('/');
            match seg {
                // Literal text cannot contain braces, so these markers cannot collide with it.
                Segment::Literal(l) => out.push_str(l),
                Segment::Param(_) => out.push_str("{}"),
                Segment::Rest(_) => out.push_str("{*}"),
            }
        }
        out
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn parse_segment(text: &str, part: &str, is_last: bool) -> Result<Segment, String> {
    if part.is_empty() {
        return Err(format!(
            "path {text:?} has an empty segment (a double or trailing slash)"
        ));
    }
    if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
        if let Some(name) = inner.strip_prefix('*') {
            if !is_last {
                return Err(format!(
                    "path {text:?}: {{*{name}}} may only be the last segment"
                ));
            }
            check_param_name(text, name)?;
            return Ok(Segment::Rest(name.to_owned()));
        }
        check_param_name(text, inner)?;
        return Ok(Segment::Param(inner.to_owned()));
    }
    if part.contains(['{', '}']) {
        return Err(format!(
            "path {text:?}: segment {part:?} mixes text and a parameter; a parameter must be a whole segment"
        ));
    }
    if part == "." || part == ".." {
        return Err(format!("path {text:?} contains a dot segment"));
    }
    if let Some(c) = part
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || matches!(c, '%' | '?' | '#' | '\\'))
    {
        return Err(format!(
            "path {text:?}: segment {part:?} contains {c:?}; write literal segments decoded, without spaces, '%', '?', '#' or '\\'"
        ));
    }
    Ok(Segment::Literal(part.to_owned()))
}

fn check_param_name(text: &str, name: &str) -> Result<(), String> {
    if is_identifier(name) {
        Ok(())
    } else {
        Err(format!(
            "path {text:?}: parameter name {name:?} must be letters, digits and '_', not starting with a digit"
        ))
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Cedar's reserved words cannot be entity type names.
const CEDAR_RESERVED: [&str; 10] = [
    "true", "false", "if", "then", "else", "in", "is", "like", "has", "__cedar",
];

/// Whether `name` is a valid, unqualified Cedar entity type name that Warden does not
/// reserve for itself.
pub fn is_resource_type_name(name: &str) -> bool {
    is_identifier(name) && !CEDAR_RESERVED.contains(&name) && !RESERVED_TYPES.contains(&name)
}

/// Whether `action` is a valid route action name: dot-separated parts of lowercase
/// letters, digits, `_` and `-`, each starting with a letter, at most 128 bytes.
/// The alphabet is narrow so action names read the same in TOML, Cedar and logs.
pub fn is_action_name(action: &str) -> bool {
    action.len() <= 128
        && action.split('.').all(|part| {
            let mut chars = part.chars();
            matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
                && chars
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        })
}

/// One piece of a resource id template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum IdPart {
    Text(String),
    Param(String),
}

/// A parsed resource template such as `Ticket::{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceTemplate {
    text: String,
    entity_type: String,
    id: Vec<IdPart>,
}

impl ResourceTemplate {
    /// Parses `Type::ID` (ID optionally in double quotes).
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some((ty, id)) = text.split_once("::") else {
            return Err(format!(
                "resource {text:?} must look like Type::{{param}}, e.g. Ticket::{{id}}"
            ));
        };
        if !is_resource_type_name(ty) || id.contains("::") {
            return Err(format!(
                "resource {text:?}: {ty:?} is not a usable entity type name (letters, digits and '_', \
                 not a Cedar keyword, and not one of Warden's own: {})",
                RESERVED_TYPES.join(", ")
            ));
        }
        let id = match id.strip_prefix('"').and_then(|i| i.strip_suffix('"')) {
            Some(inner) => inner,
            None => id,
        };
        if id.is_empty() {
            return Err(format!("resource {text:?} has an empty id"));
        }
        let mut parts = Vec::new();
        let mut rest = id;
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                None => {
                    parts.push(IdPart::Text(rest.to_owned()));
                    rest = "";
                }
                Some(i) => {
                    if i > 0 {
                        parts.push(IdPart::Text(rest[..i].to_owned()));
                    }
                    let tail = &rest[i..];
                    let Some(close) = tail.strip_prefix('{').and_then(|t| t.find('}')) else {
                        return Err(format!("resource {text:?} has an unbalanced brace"));
                    };
                    let name = &tail[1..=close];
                    if !is_identifier(name) {
                        return Err(format!(
                            "resource {text:?}: placeholder {{{name}}} is not a parameter name"
                        ));
                    }
                    parts.push(IdPart::Param(name.to_owned()));
                    rest = &tail[close + 2..];
                }
            }
        }
        if let Some(c) = id.chars().find(|c| c.is_control() || *c == '"') {
            return Err(format!("resource {text:?}: the id may not contain {c:?}"));
        }
        Ok(Self {
            text: text.to_owned(),
            entity_type: ty.to_owned(),
            id: parts,
        })
    }

    /// The entity type, e.g. `Ticket`.
    pub fn entity_type(&self) -> &str {
        &self.entity_type
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parameter names the id uses.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.id.iter().filter_map(|p| match p {
            IdPart::Param(n) => Some(n.as_str()),
            IdPart::Text(_) => None,
        })
    }

    fn render(&self, params: &[(&str, String)]) -> String {
        let mut out = String::new();
        for part in &self.id {
            match part {
                IdPart::Text(t) => out.push_str(t),
                IdPart::Param(n) => {
                    // Every placeholder was checked against the path when the map was loaded.
                    if let Some((_, v)) = params.iter().find(|(k, _)| k == n) {
                        out.push_str(v);
                    }
                }
            }
        }
        out
    }
}

/// One route of a route map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Upper-case HTTP method.
    pub method: String,
    /// The path template.
    pub path: PathTemplate,
    /// The Cedar action id, e.g. `tickets.read`.
    pub action: String,
    /// The resource template.
    pub resource: ResourceTemplate,
    /// What the route touches (`sensitive`, `external`, `customer_records`...), sorted;
    /// see [`warden_core::access_label`].
    pub labels: Vec<String>,
    /// The 1-based line of the `[[route]]` table in the file.
    pub line: usize,
}

/// The result of matching a request against a route map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'a> {
    /// The route that matched.
    pub route: &'a Route,
    /// The Cedar action id.
    pub action: &'a str,
    /// The Cedar entity type of the resource.
    pub resource_type: &'a str,
    /// The resource's entity id, rendered from the path.
    pub resource_id: String,
    /// The path parameters by name, in template order.
    pub params: Vec<(&'a str, String)>,
}

/// A trie over path segments; one per method.
#[derive(Debug, Default, Clone)]
struct Node {
    literals: HashMap<String, Node>,
    param: Option<Box<Node>>,
    rest: Option<usize>,
    route: Option<usize>,
}

impl Node {
    fn find(&self, segs: &[&str]) -> Option<usize> {
        let Some((first, tail)) = segs.split_first() else {
            return self.route;
        };
        if let Some(found) = self.literals.get(*first).and_then(|n| n.find(tail)) {
            return Some(found);
        }
        if !first.is_empty()
            && let Some(found) = self.param.as_ref().and_then(|n| n.find(tail))
        {
            return Some(found);
        }
        if segs.iter().all(|s| !s.is_empty()) {
            return self.rest;
        }
        None
    }
}

/// A validated route map, indexed for matching.
#[derive(Debug, Clone, Default)]
pub struct RouteMap {
    routes: Vec<Route>,
    tries: HashMap<String, Node>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteFile {
    #[serde(default)]
    route: Vec<toml::Spanned<RawRoute>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    method: toml::Spanned<String>,
    path: toml::Spanned<String>,
    action: toml::Spanned<String>,
    resource: toml::Spanned<String>,
    #[serde(default)]
    labels: Option<toml::Spanned<Vec<String>>>,
}

fn line_of(src: &str, offset: usize) -> usize {
    src.as_bytes()
        .iter()
        .take(offset)
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

impl RouteMap {
    /// Parses and checks a route map file.
    pub fn from_toml(src: &str) -> Result<Self, RouteError> {
        let file: RouteFile = toml::from_str(src).map_err(|e| RouteError::Syntax {
            line: e.span().map_or(1, |s| line_of(src, s.start)),
            message: e.message().to_owned(),
        })?;
        let mut map = Self::default();
        for raw in file.route {
            let line = line_of(src, raw.span().start);
            let raw = raw.into_inner();
            let invalid = |field: &toml::Spanned<String>, message: String| RouteError::Invalid {
                line: line_of(src, field.span().start),
                message,
            };
            let method = raw.method.get_ref();
            if !METHODS.contains(&method.as_str()) {
                return Err(invalid(
                    &raw.method,
                    format!("method {method:?} is not one of {}", METHODS.join(", ")),
                ));
            }
            let path =
                PathTemplate::parse(raw.path.get_ref()).map_err(|m| invalid(&raw.path, m))?;
            let action = raw.action.get_ref();
            if !is_action_name(action) || MCP_ACTIONS.contains(&action.as_str()) {
                return Err(invalid(
                    &raw.action,
                    format!(
                        "action {action:?} must be dot-separated lowercase words (letters, digits, '_', '-'), \
                         e.g. tickets.read, and not one of {}, which MCP uses",
                        MCP_ACTIONS.join(", ")
                    ),
                ));
            }
            let resource = ResourceTemplate::parse(raw.resource.get_ref())
                .map_err(|m| invalid(&raw.resource, m))?;
            if let Some(missing) = resource.params().find(|p| !path.has_param(p)) {
                return Err(invalid(
                    &raw.resource,
                    format!(
                        "resource {:?} uses {{{missing}}}, which path {:?} does not name",
                        resource.as_str(),
                        path.as_str()
                    ),
                ));
            }
            let labels = match &raw.labels {
                Some(labels) => {
                    warden_core::access_label::normalize_access_labels("labels", labels.get_ref())
                        .map_err(|error| RouteError::Invalid {
                        line: line_of(src, labels.span().start),
                        message: error.to_string(),
                    })?
                }
                None => Vec::new(),
            };
            map.insert(Route {
                method: method.clone(),
                path,
                action: action.clone(),
                resource,
                labels,
                line,
            })?;
        }
        Ok(map)
    }

    fn insert(&mut self, route: Route) -> Result<(), RouteError> {
        let index = self.routes.len();
        let mut node = self.tries.entry(route.method.clone()).or_default();
        for seg in route.path.segments() {
            node = match seg {
                Segment::Literal(l) => node.literals.entry(l.clone()).or_default(),
                Segment::Param(_) => node.param.get_or_insert_with(Box::default),
                Segment::Rest(_) => {
                    return match node.rest {
                        Some(first) => Err(self.duplicate(&route, first)),
                        None => {
                            node.rest = Some(index);
                            self.routes.push(route);
                            Ok(())
                        }
                    };
                }
            };
        }
        match node.route {
            Some(first) => Err(self.duplicate(&route, first)),
            None => {
                node.route = Some(index);
                self.routes.push(route);
                Ok(())
            }
        }
    }

    fn duplicate(&self, route: &Route, first: usize) -> RouteError {
        RouteError::Duplicate {
            line: route.line,
            first_line: self.routes.get(first).map_or(0, |r| r.line),
            method: route.method.clone(),
            path: route.path.shape(),
        }
    }

    /// The routes in file order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Whether the map has no routes.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The distinct actions of the map with the resource types each applies to.
    pub fn actions(&self) -> impl Iterator<Item = (&str, &str)> {
        self.routes
            .iter()
            .map(|r| (r.action.as_str(), r.resource.entity_type()))
    }

    /// Finds the route for a request. `path` must already be normalized (see the gateway's
    /// path module) and may not carry a query string. Returns `None` for no match, which the
    /// gateway refuses as `unknown_route`.
    pub fn match_request(&self, method: &str, path: &str) -> Option<RouteMatch<'_>> {
        let body = path.strip_prefix('/')?;
        let segs: Vec<&str> = if body.is_empty() {
            Vec::new()
        } else {
            body.split('/').collect()
        };
        let index = self.tries.get(method)?.find(&segs)?;
        let route = self.routes.get(index)?;
        let mut params = Vec::new();
        for (i, seg) in route.path.segments().iter().enumerate() {
            match seg {
                Segment::Literal(_) => {}
                Segment::Param(n) => params.push((n.as_str(), segs.get(i)?.to_string())),
                Segment::Rest(n) => params.push((n.as_str(), segs.get(i..)?.join("/"))),
            }
        }
        Some(RouteMatch {
            route,
            action: &route.action,
            resource_type: route.resource.entity_type(),
            resource_id: route.resource.render(&params),
            params,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &str = r#"
[[route]]
method = "GET"
path = "/tickets/{id}"
action = "tickets.read"
resource = "Ticket::{id}"

[[route]]
method = "GET"
path = "/tickets/export"
action = "tickets.export"
resource = "Queue::\"all\""

[[route]]
method = "POST"
path = "/tickets"
action = "tickets.create"
resource = "Queue::main"

[[route]]
method = "GET"
path = "/repos/{owner}/{repo}/files/{*rest}"
action = "files.read"
resource = "File::{owner}/{repo}:{rest}"

[[route]]
method = "GET"
path = "/"
action = "root.read"
resource = "Queue::root"
"#;

    fn map() -> RouteMap {
        RouteMap::from_toml(MAP).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn matches_named_segments() {
        let map = map();
        let m = map
            .match_request("GET", "/tickets/123")
            .unwrap_or_else(|| panic!("no match"));
        assert_eq!(m.action, "tickets.read");
        assert_eq!(m.resource_type, "Ticket");
        assert_eq!(m.resource_id, "123");
        assert_eq!(m.params, vec![("id", "123".to_owned())]);
    }

    #[test]
    fn literal_beats_parameter_whatever_the_order() {
        let m = map()
            .match_request("GET", "/tickets/export")
            .map(|m| m.action.to_owned());
        assert_eq!(m.as_deref(), Some("tickets.export"));
    }

    #[test]
    fn quoted_and_bare_literal_ids() {
        let map = map();
        assert_eq!(
            map.match_request("GET", "/tickets/export")
                .map(|m| m.resource_id),
            Some("all".to_owned())
        );
        assert_eq!(
            map.match_request("POST", "/tickets").map(|m| m.resource_id),
            Some("main".to_owned())
        );
        assert_eq!(
            map.match_request("GET", "/").map(|m| m.action.to_owned()),
            Some("root.read".to_owned())
        );
    }

    #[test]
    fn rest_takes_one_or_more_segments() {
        let map = map();
        let m = map
            .match_request("GET", "/repos/acme/web/files/src/main.rs")
            .unwrap_or_else(|| panic!("no match"));
        assert_eq!(m.resource_id, "acme/web:src/main.rs");
        assert!(map.match_request("GET", "/repos/acme/web/files").is_none());
    }

    #[test]
    fn no_match_for_other_methods_or_shapes() {
        let map = map();
        assert!(map.match_request("DELETE", "/tickets/1").is_none());
        assert!(map.match_request("GET", "/tickets/1/extra").is_none());
        assert!(map.match_request("GET", "/tickets/").is_none());
        assert!(map.match_request("GET", "tickets/1").is_none());
        assert!(map.match_request("get", "/tickets/1").is_none());
    }

    #[test]
    fn backtracks_from_literal_to_parameter() {
        let src = r#"
[[route]]
method = "GET"
path = "/a/b/c"
action = "x.one"
resource = "R::one"

[[route]]
method = "GET"
path = "/a/{p}/d"
action = "x.two"
resource = "R::{p}"
"#;
        let map = RouteMap::from_toml(src).unwrap_or_else(|e| panic!("{e}"));
        let m = map
            .match_request("GET", "/a/b/d")
            .unwrap_or_else(|| panic!("no match"));
        assert_eq!((m.action, m.resource_id.as_str()), ("x.two", "b"));
    }

    fn err(src: &str) -> RouteError {
        match RouteMap::from_toml(src) {
            Ok(_) => panic!("accepted: {src}"),
            Err(e) => e,
        }
    }

    fn one(method: &str, path: &str, action: &str, resource: &str) -> String {
        format!(
            "# a comment\n[[route]]\nmethod = {method:?}\npath = {path:?}\naction = {action:?}\nresource = {resource:?}\n"
        )
    }

    #[test]
    fn refusals_name_the_line() {
        let cases = [
            (one("FETCH", "/a", "a.b", "R::x"), 3, "method"),
            (one("GET", "a", "a.b", "R::x"), 4, "must start with '/'"),
            (one("GET", "/a//b", "a.b", "R::x"), 4, "empty segment"),
            (one("GET", "/a/", "a.b", "R::x"), 4, "empty segment"),
            (one("GET", "/{*r}/a", "a.b", "R::x"), 4, "last segment"),
            (one("GET", "/x{id}", "a.b", "R::x"), 4, "whole segment"),
            (one("GET", "/{1d}", "a.b", "R::x"), 4, "parameter name"),
            (one("GET", "/{a}/{a}", "a.b", "R::x"), 4, "twice"),
            (one("GET", "/a/../b", "a.b", "R::x"), 4, "dot segment"),
            (one("GET", "/a%2fb", "a.b", "R::x"), 4, "'%'"),
            (one("GET", "/a", "Tickets.Read", "R::x"), 5, "action"),
            (one("GET", "/a", "call_tool", "R::x"), 5, "call_tool"),
            (one("GET", "/a", "a..b", "R::x"), 5, "action"),
            (one("GET", "/a", "a.b", "Ticket"), 6, "Type::"),
            (one("GET", "/a", "a.b", "Agent::x"), 6, "entity type"),
            (one("GET", "/a", "a.b", "if::x"), 6, "entity type"),
            (one("GET", "/a", "a.b", "Crm::Ticket::x"), 6, "entity type"),
            (
                one("GET", "/a/{id}", "a.b", "R::{nope}"),
                6,
                "does not name",
            ),
            (one("GET", "/a/{id}", "a.b", "R::{id"), 6, "unbalanced"),
            (one("GET", "/a", "a.b", "R::"), 6, "empty id"),
        ];
        for (src, line, needle) in cases {
            let e = err(&src);
            assert_eq!(e.line(), line, "{src}\n{e}");
            assert!(e.to_string().contains(needle), "{e} lacks {needle}");
        }
    }

    #[test]
    fn routes_carry_their_labels_sorted_and_bad_labels_name_the_line() {
        let src = "[[route]]\nmethod = \"GET\"\npath = \"/c/{id}\"\naction = \"customers.read\"\nresource = \"Customer::{id}\"\nlabels = [\"sensitive\", \"customer_records\", \"sensitive\"]\n";
        let map = RouteMap::from_toml(src).unwrap_or_else(|e| panic!("{e}"));
        let m = map
            .match_request("GET", "/c/7")
            .unwrap_or_else(|| panic!("no match"));
        assert_eq!(m.route.labels, ["customer_records", "sensitive"]);
        let unlabelled = RouteMap::from_toml(&one("GET", "/a", "a.b", "R::x")).unwrap_or_default();
        assert!(unlabelled.routes().iter().all(|r| r.labels.is_empty()));
        for bad in [r#"["Sensitive"]"#, r#"["a b"]"#, r#"[""]"#] {
            let e = err(&format!(
                "{}labels = {bad}\n",
                one("GET", "/a", "a.b", "R::x")
            ));
            assert_eq!(e.line(), 7, "{e}");
            assert!(e.to_string().contains("label"), "{e}");
        }
        let many: Vec<String> = (0..17).map(|i| format!("\"l{i}\"")).collect();
        let e = err(&format!(
            "{}labels = [{}]\n",
            one("GET", "/a", "a.b", "R::x"),
            many.join(", ")
        ));
        assert!(e.to_string().contains("at most"), "{e}");
    }

    #[test]
    fn unknown_and_missing_fields_are_refused_with_their_line() {
        let e = err(
            "[[route]]\nmethod = \"GET\"\npath = \"/a\"\naction = \"a.b\"\nresource = \"R::x\"\ncolour = \"red\"\n",
        );
        assert!(e.to_string().contains("colour"), "{e}");
        assert_eq!(e.line(), 6, "{e}");
        let e = err("\n\n[[route]]\nmethod = \"GET\"\n");
        assert!(e.to_string().contains("missing field"), "{e}");
        assert_eq!(e.line(), 3, "{e}");
        let e = err("[[routes]]\n");
        assert!(e.to_string().contains("routes"), "{e}");
        let e = err("[[route]]\nmethod = GET\n");
        assert_eq!(e.line(), 2, "{e}");
    }

    #[test]
    fn duplicates_are_refused_even_with_other_parameter_names() {
        let src = format!(
            "{}{}",
            one("GET", "/t/{id}", "a.b", "R::{id}"),
            one("GET", "/t/{other}", "a.c", "R::{other}")
        );
        let e = err(&src);
        assert!(
            matches!(
                e,
                RouteError::Duplicate {
                    line: 8,
                    first_line: 2,
                    ..
                }
            ),
            "{e:?}"
        );
        let src = format!(
            "{}{}",
            one("GET", "/t/{*a}", "a.b", "R::x"),
            one("GET", "/t/{*b}", "a.c", "R::x")
        );
        assert!(matches!(err(&src), RouteError::Duplicate { .. }));
        let src = format!(
            "{}{}",
            one("GET", "/t/{id}", "a.b", "R::x"),
            one("PUT", "/t/{id}", "a.c", "R::x")
        );
        assert!(RouteMap::from_toml(&src).is_ok());
    }

    #[test]
    fn empty_file_is_an_empty_map() {
        let map = RouteMap::from_toml("").unwrap_or_else(|e| panic!("{e}"));
        assert!(map.is_empty());
        assert!(map.match_request("GET", "/").is_none());
    }
}
