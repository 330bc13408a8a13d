//! Settings for `warden serve`: from command-line flags and `WARDEN_*` variables (parsed by
//! the binary), a TOML file, and defaults, in that order of precedence.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use warden_crypto::Secret;
pub use warden_plane::{CredentialConfig, TrustedIssuerConfig};

pub const DEFAULT_DATA_DIR: &str = "./warden-data";
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_GATEWAY_LISTEN: &str = "127.0.0.1:8081";
pub const DEFAULT_CHECKPOINT_EVENTS: u64 = 1000;
pub const DEFAULT_CHECKPOINT_MILLIS: u64 = 10_000;

/// Every setting, each optional: one layer of configuration. The TOML file has this shape
/// and unknown keys in it are refused, so a typo cannot silently fall back to a default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigLayer {
    pub data_dir: Option<PathBuf>,
    pub api_listen: Option<SocketAddr>,
    pub gateway_listen: Option<SocketAddr>,
    pub database_url: Option<String>,
    /// Sign an audit checkpoint at least this often (milliseconds) while records arrive.
    pub audit_checkpoint_millis: Option<u64>,
    /// Sign an audit checkpoint after this many records.
    pub audit_checkpoint_events: Option<u64>,
    /// The credential plane: token issuer, lifetimes, trusted external issuers.
    #[serde(default)]
    pub credentials: Option<CredentialConfig>,
    /// The gateway: body limits, timeouts, approvals.
    #[serde(default)]
    pub gateway: Option<GatewayConfig>,
    /// The API listener: timeouts and connection caps.
    #[serde(default)]
    pub api: Option<ApiConfig>,
    /// Posture: the rules' thresholds, how often to re-evaluate, how large an import may be.
    #[serde(default)]
    pub posture: Option<PostureConfig>,
    /// Leaks: what Warden does when a reported secret is one it knows.
    #[serde(default)]
    pub leaks: Option<LeaksConfig>,
    /// Signals: how webhook and Shared Signals deliveries are retried.
    #[serde(default)]
    pub signals: Option<SignalsConfig>,
    /// Several nodes on one database: how stale a node may be before it refuses.
    #[serde(default)]
    pub cluster: Option<ClusterConfig>,
    /// The dashboard: how owners sign in.
    #[serde(default)]
    pub dashboard: Option<DashboardConfig>,
}

/// `[dashboard]` in the settings file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardConfig {
    /// Owners sign in with OpenID Connect against this provider; without it, only the
    /// admin token signs in.
    pub oidc: Option<OidcConfig>,
}

/// `[dashboard.oidc]`: the identity provider owners sign in with (authorization code flow
/// with PKCE).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer; its metadata is read from
    /// `ISSUER/.well-known/openid-configuration`.
    pub issuer: String,
    /// Warden's client id at the provider.
    pub client_id: String,
    /// A file holding the client secret; without one Warden signs in as a public client
    /// (PKCE alone).
    pub client_secret_file: Option<PathBuf>,
    /// Where the provider sends the browser back [default: PUBLIC_URL/ui/oidc/callback].
    pub redirect_url: Option<String>,
    /// The ID token claim holding the owner's email [default: email].
    pub email_claim: Option<String>,
}

/// `[cluster]` in the settings file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The longest a node may go without confirming that it hears the change feed and
    /// reads the database; after that its gateway and token endpoint refuse (fail closed)
    /// until it does again [default: 5000].
    pub max_staleness_millis: Option<u64>,
    /// How often a node sends its beat through the feed, confirming it [default: 500].
    pub beat_millis: Option<u64>,
    /// How often a node re-reads everything anyway, behind the feed [default: 10].
    pub reload_secs: Option<u64>,
}

/// `[signals]` in the settings file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalsConfig {
    /// The wait before a failed delivery's second attempt, doubled for each attempt after
    /// it (with jitter) [default: 5000].
    pub retry_base_millis: Option<u64>,
    /// The longest wait between two attempts [default: 3600000].
    pub retry_cap_millis: Option<u64>,
    /// Attempts before a delivery becomes a dead letter [default: 8].
    pub max_attempts: Option<u32>,
    /// How often each node looks for new audit records and due deliveries [default: 250].
    pub interval_millis: Option<u64>,
}

/// `[leaks]` in the settings file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaksConfig {
    /// Switch off every leaked secret Warden knows as soon as it is reported, as if each
    /// report asked for it: a Warden credential is revoked with every token derived from
    /// it, an imported identity is suspended [default: false].
    pub auto_revoke: Option<bool>,
}

/// `[posture]` in the settings file. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostureConfig {
    /// A credential unused for longer than this many days is stale [default: 90].
    pub unused_days: Option<i64>,
    /// A secret older than this many days should have been rotated [default: 90].
    pub max_secret_age_days: Option<i64>,
    /// An expiry further away than this many days is as good as none [default: 3650].
    pub max_expiry_days: Option<i64>,
    /// How many days an old key may stay active beside its replacement [default: 7].
    pub rotation_overlap_days: Option<i64>,
    /// How often everything is re-evaluated, in seconds [default: 3600].
    pub evaluate_interval_secs: Option<u64>,
    /// The largest import request, in bytes [default: 256 MiB].
    pub max_import_bytes: Option<u64>,
    /// A TOML file of toxic-combination rules (`[[rule]]` tables, as the built-in
    /// `rules.toml`) judged beside the built-in ones; one with a built-in's id replaces it.
    pub toxic_rules: Option<std::path::PathBuf>,
}

/// The default largest import request: a credential report of several hundred thousand users.
pub const DEFAULT_MAX_IMPORT_BYTES: u64 = 256 * 1024 * 1024;

impl PostureConfig {
    /// The thresholds, every gap filled with its default; refuses values that make no sense.
    pub fn thresholds(&self) -> anyhow::Result<warden_posture::Thresholds> {
        let defaults = warden_posture::Thresholds::default();
        let thresholds = warden_posture::Thresholds {
            unused_days: self.unused_days.unwrap_or(defaults.unused_days),
            max_secret_age_days: self
                .max_secret_age_days
                .unwrap_or(defaults.max_secret_age_days),
            max_expiry_days: self.max_expiry_days.unwrap_or(defaults.max_expiry_days),
            rotation_overlap_days: self
                .rotation_overlap_days
                .unwrap_or(defaults.rotation_overlap_days),
        };
        for (field, value) in [
            ("unused_days", thresholds.unused_days),
            ("max_secret_age_days", thresholds.max_secret_age_days),
            ("max_expiry_days", thresholds.max_expiry_days),
            ("rotation_overlap_days", thresholds.rotation_overlap_days),
        ] {
            if value < 1 {
                anyhow::bail!("[posture] {field} must be at least 1 day, got {value}");
            }
        }
        if self.evaluate_interval_secs == Some(0) {
            anyhow::bail!("[posture] evaluate_interval_secs must be at least 1");
        }
        if self.max_import_bytes == Some(0) {
            anyhow::bail!("[posture] max_import_bytes must be at least 1");
        }
        Ok(thresholds)
    }

    pub fn evaluate_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(
            self.evaluate_interval_secs
                .unwrap_or(crate::posture::DEFAULT_EVALUATE_INTERVAL_SECS),
        )
    }

    /// The toxic-combination rules: the built-in ones and `toxic_rules`'s. Read once at
    /// start; the list lives as long as the process (findings name their rule by reference).
    pub fn toxic_rules(&self) -> anyhow::Result<&'static [warden_posture::toxic::ToxicRule]> {
        use warden_posture::toxic::{builtin_rules, merge_rules, parse_rules};
        let builtin = builtin_rules()
            .map_err(|error| anyhow::anyhow!("the built-in toxic rules: {error}"))?;
        let Some(path) = &self.toxic_rules else {
            return Ok(builtin);
        };
        let text = std::fs::read_to_string(path).map_err(|error| {
            anyhow::anyhow!(
                "[posture] toxic_rules: cannot read {}: {error}",
                path.display()
            )
        })?;
        let custom = parse_rules(&text).map_err(|error| {
            anyhow::anyhow!("[posture] toxic_rules {}: {error}", path.display())
        })?;
        Ok(Box::leak(merge_rules(builtin, custom).into_boxed_slice()))
    }

    pub fn max_import_bytes(&self) -> usize {
        usize::try_from(self.max_import_bytes.unwrap_or(DEFAULT_MAX_IMPORT_BYTES))
            .unwrap_or(usize::MAX)
    }
}

/// `[gateway]` in the settings file. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// The largest request body forwarded, in bytes [default: 10 MiB].
    pub max_body_bytes: Option<u64>,
    /// The largest MCP request body, read whole to be authorized [default: 1 MiB].
    pub mcp_max_body_bytes: Option<u64>,
    /// How long to wait for an upstream's response headers [default: 60].
    pub upstream_timeout_secs: Option<u64>,
    /// How long a held request's approval stays open, and an approval usable [default: 900].
    pub approval_ttl_secs: Option<i64>,
    /// The longest `Prefer: wait=N` honoured [default: 300].
    pub max_wait_secs: Option<u64>,

    /// How many approvals one agent may have pending at once; a held request beyond it is
    /// refused with 429 `too_many_pending_approvals` [default: 20].
    pub max_pending_approvals_per_agent: Option<u32>,
    /// How long what an agent did in a task stays visible to policies as `context.task`
    /// (actions, labels, tools), in seconds; 0 turns the window off [default: 3600].
    pub task_window_secs: Option<i64>,
    /// The most tasks a node keeps in its window [default: 100000].
    pub task_window_max_tasks: Option<usize>,
    /// The most distinct steps one task keeps [default: 256].
    pub task_window_max_steps: Option<usize>,
    // The gateway listener's connection guards (see `crate::listen`).
    /// How long a client may take to send a request head [default: 10].
    pub header_read_timeout_secs: Option<u64>,
    /// How long a keep-alive connection may sit idle between requests [default: 60].
    pub idle_timeout_secs: Option<u64>,
    /// How long a request body may stall between two reads [default: 30].
    pub body_timeout_secs: Option<u64>,
    /// Open connections at most [default: derived from the descriptor limit].
    pub max_connections: Option<usize>,
    /// Open connections from one source address at most [default: a quarter of the cap].
    pub max_connections_per_source: Option<usize>,
}

/// `[api]` in the settings file: the API listener's connection guards (see
/// `crate::listen`). Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// How long a client may take to send a request head [default: 10].
    pub header_read_timeout_secs: Option<u64>,
    /// How long a keep-alive connection may sit idle between requests [default: 60].
    pub idle_timeout_secs: Option<u64>,
    /// How long a request body may stall between two reads [default: 30].
    pub body_timeout_secs: Option<u64>,
    /// Open connections at most [default: derived from the descriptor limit].
    pub max_connections: Option<usize>,
    /// Open connections from one source address at most [default: a quarter of the cap].
    pub max_connections_per_source: Option<usize>,
}

impl GatewayConfig {
    /// The gateway's limits and timeouts, every gap filled with its default.
    pub fn settings(&self) -> warden_proxy::GatewaySettings {
        let defaults = warden_proxy::GatewaySettings::default();
        warden_proxy::GatewaySettings {
            max_body_bytes: self.max_body_bytes.unwrap_or(defaults.max_body_bytes),
            mcp_max_body_bytes: self
                .mcp_max_body_bytes
                .unwrap_or(defaults.mcp_max_body_bytes),
            upstream_timeout: self
                .upstream_timeout_secs
                .map_or(defaults.upstream_timeout, std::time::Duration::from_secs),
            approval_ttl_secs: self.approval_ttl_secs.unwrap_or(defaults.approval_ttl_secs),
            max_wait_secs: self.max_wait_secs.unwrap_or(defaults.max_wait_secs),
            // At least one, or no request could ever be approved.
            max_pending_approvals_per_agent: self
                .max_pending_approvals_per_agent
                .unwrap_or(defaults.max_pending_approvals_per_agent)
                .max(1),
        }
    }

    /// The bounds of the task window.
    pub fn task_window_limits(&self) -> warden_policy::WindowLimits {
        let default = warden_policy::WindowLimits::default();
        warden_policy::WindowLimits {
            window_ms: self
                .task_window_secs
                .map_or(default.window_ms, |secs| secs.max(0).saturating_mul(1_000)),
            max_steps_per_task: self
                .task_window_max_steps
                .unwrap_or(default.max_steps_per_task),
            max_tasks: self.task_window_max_tasks.unwrap_or(default.max_tasks),
        }
    }

    /// The gateway listener's connection guards.
    pub fn listen(&self) -> crate::listen::ListenConfig {
        crate::listen::ListenConfig {
            header_read_timeout_secs: self.header_read_timeout_secs,
            idle_timeout_secs: self.idle_timeout_secs,
            body_timeout_secs: self.body_timeout_secs,
            max_connections: self.max_connections,
            max_connections_per_source: self.max_connections_per_source,
        }
    }
}

impl ApiConfig {
    /// The API listener's connection guards.
    pub fn listen(&self) -> crate::listen::ListenConfig {
        crate::listen::ListenConfig {
            header_read_timeout_secs: self.header_read_timeout_secs,
            idle_timeout_secs: self.idle_timeout_secs,
            body_timeout_secs: self.body_timeout_secs,
            max_connections: self.max_connections,
            max_connections_per_source: self.max_connections_per_source,
        }
    }
}

impl ConfigLayer {
    /// Reads a TOML settings file, naming the file and the problem on failure.
    pub fn from_toml_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            message: error.to_string(),
        })?;
        toml::from_str(&text).map_err(|error| ConfigError::Parse {
            path: path.to_path_buf(),
            message: error.to_string(),
        })
    }

    /// This layer with gaps filled from `lower`.
    pub fn over(self, lower: Self) -> Self {
        Self {
            data_dir: self.data_dir.or(lower.data_dir),
            api_listen: self.api_listen.or(lower.api_listen),
            gateway_listen: self.gateway_listen.or(lower.gateway_listen),
            database_url: self.database_url.or(lower.database_url),
            credentials: self.credentials.or(lower.credentials),
            gateway: self.gateway.or(lower.gateway),
            api: self.api.or(lower.api),
            posture: self.posture.or(lower.posture),
            leaks: self.leaks.or(lower.leaks),
            signals: self.signals.or(lower.signals),
            dashboard: self.dashboard.or(lower.dashboard),
            cluster: self.cluster.or(lower.cluster),
            audit_checkpoint_millis: self
                .audit_checkpoint_millis
                .or(lower.audit_checkpoint_millis),
            audit_checkpoint_events: self
                .audit_checkpoint_events
                .or(lower.audit_checkpoint_events),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the settings file {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("the settings file {path} is invalid: {message}")]
    Parse { path: PathBuf, message: String },
}

/// The settings a server starts with, every gap filled.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub api_listen: SocketAddr,
    pub gateway_listen: SocketAddr,
    /// `None` means the embedded SQLite database in the data directory.
    pub database_url: Option<String>,
    /// On the very first start, use this as the admin token instead of generating one.
    pub bootstrap_token: Option<Secret>,
    pub credentials: CredentialConfig,
    pub gateway: GatewayConfig,
    pub api: ApiConfig,
    pub posture: PostureConfig,
    pub leaks: LeaksConfig,
    pub signals: SignalsConfig,
    pub dashboard: DashboardConfig,
    pub cluster: ClusterConfig,
    pub audit_checkpoints: warden_audit::CheckpointPolicy,
}

impl Settings {
    pub fn resolve(layer: ConfigLayer, bootstrap_token: Option<Secret>) -> Self {
        Self {
            data_dir: layer
                .data_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            api_listen: layer
                .api_listen
                .unwrap_or_else(|| default_addr(DEFAULT_API_LISTEN, 8080)),
            gateway_listen: layer
                .gateway_listen
                .unwrap_or_else(|| default_addr(DEFAULT_GATEWAY_LISTEN, 8081)),
            database_url: layer.database_url,
            bootstrap_token,
            credentials: layer.credentials.unwrap_or_default(),
            gateway: layer.gateway.unwrap_or_default(),
            api: layer.api.unwrap_or_default(),
            posture: layer.posture.unwrap_or_default(),
            leaks: layer.leaks.unwrap_or_default(),
            signals: layer.signals.unwrap_or_default(),
            dashboard: layer.dashboard.unwrap_or_default(),
            cluster: layer.cluster.unwrap_or_default(),
            audit_checkpoints: warden_audit::CheckpointPolicy {
                every_events: layer
                    .audit_checkpoint_events
                    .unwrap_or(DEFAULT_CHECKPOINT_EVENTS),
                every_millis: layer
                    .audit_checkpoint_millis
                    .unwrap_or(DEFAULT_CHECKPOINT_MILLIS),
            },
        }
    }

    /// The database to open: the configured URL, or the SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("warden.db").display()
            ),
        }
    }
}

fn default_addr(text: &str, port: u16) -> SocketAddr {
    text.parse()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_layers_win_and_defaults_fill_the_rest() {
        let flags = ConfigLayer {
            api_listen: "127.0.0.1:9000".parse().ok(),
            ..Default::default()
        };
        let file: ConfigLayer =
            toml::from_str("api_listen = \"127.0.0.1:7000\"\ndata_dir = \"/srv/warden\"")
                .unwrap_or_else(|e| panic!("{e}"));
        let settings = Settings::resolve(flags.over(file), None);
        assert_eq!(settings.api_listen.port(), 9000);
        assert_eq!(settings.data_dir, PathBuf::from("/srv/warden"));
        assert_eq!(settings.gateway_listen.port(), 8081);
        assert!(
            settings
                .database_url()
                .starts_with("sqlite:///srv/warden/warden.db")
        );
    }

    #[test]
    fn listener_guards_are_read_from_api_and_gateway_tables() {
        let file: ConfigLayer = toml::from_str(
            "[api]\nheader_read_timeout_secs = 5\nmax_connections = 100\n\n[gateway]\nidle_timeout_secs = 7\nmax_connections_per_source = 9\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let settings = Settings::resolve(file, None);
        assert_eq!(settings.api.header_read_timeout_secs, Some(5));
        assert_eq!(settings.api.max_connections, Some(100));
        assert_eq!(settings.gateway.idle_timeout_secs, Some(7));
        assert_eq!(settings.gateway.max_connections_per_source, Some(9));
        let error = toml::from_str::<ConfigLayer>("[api]\nidle_timeout = 5\n").unwrap_err();
        assert!(error.to_string().contains("idle_timeout"), "{error}");
    }

    #[test]
    fn credential_plane_limits_are_read_from_the_file() {
        let layer: ConfigLayer = toml::from_str(
            "[credentials]\nclock_leeway_secs = 2\nmax_delegation_depth = 1\nintrospectors = [\"agent:auditor\"]",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let credentials = layer.credentials.unwrap_or_default();
        assert_eq!(credentials.clock_leeway_secs, Some(2));
        assert_eq!(credentials.max_delegation_depth, Some(1));
        assert_eq!(credentials.introspectors, ["agent:auditor"]);
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let error = toml::from_str::<ConfigLayer>("api_lisen = \"127.0.0.1:1\"").unwrap_err();
        assert!(error.to_string().contains("api_lisen"), "{error}");
    }
}
