//! What the gateway knows about upstreams and policies, in memory: every upstream's base
//! URL, how its secret is injected, its sealed secret, its route map, and the compiled
//! policy engine.
//!
//! The gateway never reads the database on the hot path. The catalog is rebuilt from the
//! store by every API handler on this node that changes upstreams or policies (before it
//! answers) and every second in the background (how nodes sharing PostgreSQL learn of each
//! other's changes); a rebuild that finds nothing changed keeps the compiled engine. If
//! the catalog cannot be built (the store is unreachable, or the stored policies no longer
//! compile) the gateway refuses every request with `unavailable` until it can: it never
//! decides with a policy set it could not load.
//!
//! An `mcp-stdio` upstream is, to the gateway, an MCP upstream like any other: each rebuild
//! hands the stdio upstreams to the local server supervisor (`warden-stdio`), which starts,
//! replaces or stops their processes, and the entry's base URL is the supervisor's
//! gateway-only bridge for it. Its secret goes into the process's environment, so the
//! entry carries none to inject into requests.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use http::HeaderName;
use http::uri::{Authority, Scheme};
use warden_core::{InjectAuth, Upstream, UpstreamId, UpstreamKind as StoredKind};
use warden_gateway::Injection;
use warden_policy::{PolicyEngine, RouteMap};
use warden_store::{SealedSecret, Store};

/// Where an upstream's requests go: scheme, host and port, and the base path that every
/// forwarded path is appended to (without a trailing slash).
#[derive(Debug, Clone)]
pub struct BaseUrl {
    pub scheme: Scheme,
    pub authority: Authority,
    /// The base URL's path without its trailing `/`, which forwarded paths follow.
    pub path_prefix: String,
    /// The base URL's path exactly (`/` when it has none), what `/NAME` alone reaches.
    pub path: String,
}

impl BaseUrl {
    fn parse(url: &str) -> Result<Self, String> {
        let uri: http::Uri = url
            .parse()
            .map_err(|_| "its URL does not parse".to_string())?;
        let scheme = uri
            .scheme()
            .cloned()
            .ok_or_else(|| "its URL has no scheme".to_string())?;
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| "its URL has no host".to_string())?;
        let path = uri.path().to_string();
        let path_prefix = path.trim_end_matches('/').to_string();
        Ok(Self {
            scheme,
            authority,
            path_prefix,
            path: if path.is_empty() { "/".into() } else { path },
        })
    }
}

/// How the secret is presented, as the gateway's header code needs it.
#[derive(Debug, Clone)]
pub enum SecretInjection {
    /// `Authorization: Bearer SECRET`.
    Bearer,
    /// `Authorization: Basic …`; the secret is `user:password`.
    Basic,
    /// The secret as the value of this header.
    Header(HeaderName),
}

impl SecretInjection {
    fn from_auth(auth: &InjectAuth) -> Result<Self, String> {
        Ok(match auth {
            InjectAuth::Bearer => Self::Bearer,
            InjectAuth::Basic => Self::Basic,
            InjectAuth::Header(name) => Self::Header(
                HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| "its injection header is not a valid header name".to_string())?,
            ),
        })
    }

    /// The injection and the secret to inject, from the opened secret.
    pub fn plan(&self, secret: &str) -> Option<(Injection, String)> {
        Some(match self {
            Self::Bearer => (Injection::Bearer, secret.to_string()),
            Self::Basic => {
                let (username, password) = secret.split_once(':')?;
                (
                    Injection::Basic {
                        username: username.to_string(),
                    },
                    password.to_string(),
                )
            }
            Self::Header(name) => (Injection::Header { name: name.clone() }, secret.to_string()),
        })
    }
}

/// What the gateway speaks to an upstream. A stored `mcp-stdio` upstream is `Mcp` here: the
/// gateway reaches it through its streamable-HTTP bridge, so the pipeline governs it exactly
/// as it governs an MCP server over HTTP and needs no case of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamKind {
    Http,
    Mcp,
}

/// One upstream as the gateway uses it.
#[derive(Debug)]
pub struct UpstreamEntry {
    pub id: UpstreamId,
    pub name: String,
    pub kind: UpstreamKind,
    pub base: BaseUrl,
    pub injection: SecretInjection,
    /// Sealed under the data key; opened per request and zeroized after.
    pub sealed_secret: Option<SealedSecret>,
    /// The route map of an HTTP upstream (empty for MCP).
    pub routes: RouteMap,
    /// The browser origins an MCP upstream accepts besides the gateway's own.
    pub allowed_origins: Vec<String>,
    /// What the upstream touches (`sensitive`, `external`, `prod`...), sorted.
    pub labels: Vec<String>,
    /// For an MCP upstream, the labels of single tools, by tool name.
    pub tool_labels: warden_core::access_label::ToolLabels,
}

/// One consistent view of upstreams and policies.
#[derive(Debug)]
pub struct Catalog {
    pub upstreams: HashMap<String, Arc<UpstreamEntry>>,
    pub engine: Arc<PolicyEngine>,
    fingerprint: String,
}

/// The shared, swappable catalog, or why there is none.
#[derive(Debug)]
pub struct CatalogState {
    current: RwLock<Result<Arc<Catalog>, String>>,
    /// Runs the `mcp-stdio` upstreams; without one, they cannot be served.
    local_servers: Option<Arc<warden_stdio::Supervisor>>,
}

impl Default for CatalogState {
    fn default() -> Self {
        Self {
            current: RwLock::new(Err("the gateway has not loaded its policies yet".into())),
            local_servers: None,
        }
    }
}

/// What identifies a version of the catalog: upstream ids, change times and secret
/// versions, and policy ids with their versions.
fn fingerprint(upstreams: &[Upstream], policies: &[warden_core::StoredPolicy]) -> String {
    let mut text = String::new();
    for upstream in upstreams {
        text.push_str(&format!(
            "u:{}:{}:{};",
            upstream.id,
            upstream.updated_at.as_millis(),
            upstream.secret_version
        ));
    }
    for policy in policies {
        text.push_str(&format!("p:{}:{};", policy.id, policy.version));
    }
    text
}

impl CatalogState {
    /// A catalog whose `mcp-stdio` upstreams are run by `local_servers`.
    pub fn with_local_servers(local_servers: Arc<warden_stdio::Supervisor>) -> Self {
        Self {
            local_servers: Some(local_servers),
            ..Self::default()
        }
    }

    /// Stops every local MCP server (at shutdown).
    pub async fn stop_local_servers(&self) {
        if let Some(local_servers) = &self.local_servers {
            local_servers.shutdown().await;
        }
    }

    /// The compiled engine, when the current catalog was built from exactly these upstreams
    /// and policies (same ids, change times, secret versions and policy versions).
    pub fn engine_for(
        &self,
        upstreams: &[Upstream],
        policies: &[warden_core::StoredPolicy],
    ) -> Option<Arc<PolicyEngine>> {
        let current = self.current().ok()?;
        (current.fingerprint == fingerprint(upstreams, policies)).then(|| current.engine.clone())
    }

    /// The current catalog, or the reason the gateway cannot decide.
    pub fn current(&self) -> Result<Arc<Catalog>, String> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set(&self, value: Result<Arc<Catalog>, String>) {
        match self.current.write() {
            Ok(mut guard) => *guard = value,
            Err(poisoned) => *poisoned.into_inner() = value,
        }
    }

    /// Re-reads upstreams and policies; rebuilds the engine only if they changed. On
    /// failure the catalog becomes unavailable, so the gateway refuses rather than decide
    /// with a stale or partial view.
    pub async fn reload(&self, store: &dyn Store) {
        let _ = self.refresh(store).await;
    }

    /// `reload`, saying whether it succeeded.
    pub async fn refresh(&self, store: &dyn Store) -> Result<(), String> {
        let result = self.try_reload(store).await;
        if let Err(reason) = &result {
            tracing::error!(%reason, "the gateway cannot load upstreams and policies; refusing requests until it can");
            self.set(Err(reason.clone()));
        }
        result
    }

    async fn try_reload(&self, store: &dyn Store) -> Result<(), String> {
        let read_error =
            |error: warden_store::StoreError| format!("cannot read the store: {error}");
        let upstreams = store.list_upstreams().await.map_err(read_error)?;
        let policies = store.list_policies().await.map_err(read_error)?;
        let fingerprint = fingerprint(&upstreams, &policies);
        if self
            .current()
            .is_ok_and(|current| current.fingerprint == fingerprint)
        {
            return Ok(());
        }
        let engine = warden_policy::stored::build(&upstreams, &policies)
            .map_err(|error| format!("the stored policies do not compile: {error}"))?;
        let mut entries = HashMap::with_capacity(upstreams.len());
        let mut sealed_secrets = HashMap::with_capacity(upstreams.len());
        for upstream in &upstreams {
            if upstream.has_secret {
                let sealed = store
                    .upstream_secret(&upstream.name)
                    .await
                    .map_err(read_error)?;
                sealed_secrets.insert(upstream.id, sealed);
            }
        }
        let bridges = self.sync_local_servers(&upstreams, &sealed_secrets).await;
        for upstream in &upstreams {
            let sealed_secret = sealed_secrets.remove(&upstream.id).flatten();
            let invalid = |why: String| format!("upstream `{}`: {why}", upstream.name);
            let routes = match upstream.kind {
                StoredKind::Http => warden_policy::stored::parse_routes(
                    upstream.routes.as_deref().unwrap_or_default(),
                )
                .map_err(|_| invalid("its route map does not parse".into()))?,
                StoredKind::Mcp | StoredKind::McpStdio => RouteMap::default(),
            };
            let (kind, base, sealed_secret) = match upstream.kind {
                StoredKind::Http => (
                    UpstreamKind::Http,
                    BaseUrl::parse(&upstream.url).map_err(invalid)?,
                    sealed_secret,
                ),
                StoredKind::Mcp => (
                    UpstreamKind::Mcp,
                    BaseUrl::parse(&upstream.url).map_err(invalid)?,
                    sealed_secret,
                ),
                // The gateway speaks streamable HTTP to the bridge, so the pipeline treats
                // it as MCP; the secret is in the process's environment, not the request.
                StoredKind::McpStdio => {
                    let bridge = match bridges.get(&upstream.id) {
                        Some(Ok(url)) => url,
                        Some(Err(why)) => return Err(invalid(why.clone())),
                        None => {
                            return Err(invalid("this process runs no local MCP servers".into()));
                        }
                    };
                    (
                        UpstreamKind::Mcp,
                        BaseUrl::parse(bridge).map_err(invalid)?,
                        None,
                    )
                }
            };
            let entry = UpstreamEntry {
                id: upstream.id,
                name: upstream.name.clone(),
                kind,
                base,
                injection: SecretInjection::from_auth(&upstream.auth).map_err(invalid)?,
                sealed_secret,
                routes,
                allowed_origins: upstream.allowed_origins.clone(),
                labels: upstream.labels.clone(),
                tool_labels: upstream.tool_labels.clone(),
            };
            entries.insert(upstream.name.clone(), Arc::new(entry));
        }
        self.set(Ok(Arc::new(Catalog {
            upstreams: entries,
            engine: Arc::new(engine),
            fingerprint,
        })));
        Ok(())
    }
}

impl CatalogState {
    /// Hands the `mcp-stdio` upstreams to the supervisor; returns each one's bridge URL.
    async fn sync_local_servers(
        &self,
        upstreams: &[Upstream],
        sealed_secrets: &HashMap<UpstreamId, Option<SealedSecret>>,
    ) -> HashMap<UpstreamId, Result<String, String>> {
        let Some(local_servers) = &self.local_servers else {
            return HashMap::new();
        };
        let stdio: Vec<warden_stdio::StdioUpstream> = upstreams
            .iter()
            .filter(|upstream| upstream.kind == StoredKind::McpStdio)
            .filter_map(|upstream| {
                Some(warden_stdio::StdioUpstream {
                    id: upstream.id,
                    name: upstream.name.clone(),
                    command: upstream.command.clone()?,
                    args: upstream.args.clone(),
                    env_secret: upstream.env_secret.clone(),
                    sealed_secret: sealed_secrets
                        .get(&upstream.id)
                        .and_then(Option::as_ref)
                        .map(|sealed| (sealed.bytes.clone(), sealed.version)),
                })
            })
            .collect();
        local_servers.sync(&stdio).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_keep_their_path_prefix() {
        let base = BaseUrl::parse("https://crm.example.com:8443/api/v2/")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(base.scheme, Scheme::HTTPS);
        assert_eq!(base.authority.as_str(), "crm.example.com:8443");
        assert_eq!(base.path_prefix, "/api/v2");
        let bare = BaseUrl::parse("http://127.0.0.1:9000").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bare.path_prefix, "");
    }

    #[test]
    fn basic_secrets_split_at_the_first_colon() {
        let (injection, secret) = SecretInjection::Basic
            .plan("svc:pa:ss")
            .unwrap_or_else(|| panic!("no plan"));
        assert_eq!(
            injection,
            Injection::Basic {
                username: "svc".into()
            }
        );
        assert_eq!(secret, "pa:ss");
        assert!(SecretInjection::Basic.plan("no-colon").is_none());
    }
}
