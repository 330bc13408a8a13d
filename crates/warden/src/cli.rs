//! The command line: nouns and verbs, parsed by clap.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "warden",
    version,
    about = "Govern the non-human identities your AI agents use."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Address of the Warden API.
    #[arg(
        long,
        global = true,
        env = "WARDEN_ADDR",
        default_value = "http://127.0.0.1:8080"
    )]
    pub addr: String,
    /// Admin token for the API (printed once by the first `warden serve`).
    #[arg(long, global = true, env = "WARDEN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// How to print results.
    #[arg(long, short, global = true, value_enum, default_value_t = OutputChoice::Table)]
    pub output: OutputChoice,
}

/// What `-o` accepts: a format every command prints, or Graphviz for `warden graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputChoice {
    /// Aligned tables and text for people.
    #[value(alias = "text")]
    Table,
    /// JSON for scripts, exactly as the API returns it.
    Json,
    /// Graphviz dot (`warden graph` only).
    Dot,
}

impl OutputChoice {
    /// The format of a command that prints tables or JSON; `dot` is refused.
    pub fn format(self) -> Option<OutputFormat> {
        match self {
            Self::Table => Some(OutputFormat::Table),
            Self::Json => Some(OutputFormat::Json),
            Self::Dot => None,
        }
    }
}

/// How a command prints: tables for people, or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned tables for people.
    Table,
    /// JSON for scripts, exactly as the API returns it.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: API, OAuth endpoints and gateway in one process.
    Serve(ServeArgs),
    /// Manage the accountable humans who own identities.
    #[command(subcommand)]
    Owner(OwnerCommand),
    /// Manage agents (identities of kind `agent`).
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Manage identities of every kind (service accounts, API keys, tokens, …).
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Read, verify and export the tamper-evident audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Manage the systems agents call through the gateway.
    #[command(subcommand)]
    Upstream(UpstreamCommand),
    /// Manage the Cedar policies that decide every action.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Issue, rotate, list and revoke the client credentials of agents and identities.
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// An agent's access graph: its identities, credentials, users, upstreams, what its
    /// policies let it do there, and the NHI each upstream injects (`-o text|json|dot`).
    #[command(subcommand)]
    Graph(GraphCommand),
    /// Kill switch: suspend an agent, identity or owner's fleet at once (undo with `restore`).
    /// With --dry-run, also lists what the agent could reach.
    Kill(StopArgs),
    /// Lift a kill-switch suspension.
    Restore(StopArgs),
    /// Revoke for good: a token, a credential, an agent, an identity or an owner's fleet.
    Revoke(StopArgs),
    /// The token-signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Read and decide the requests the gateway held for a human's approval.
    #[command(subcommand)]
    Approvals(ApprovalsCommand),
    /// Import the exports of other systems (AWS, Kubernetes, GCP, GitHub, CSV) into the inventory.
    Import(ImportArgs),
    /// The identities imported from other systems.
    #[command(subcommand)]
    Inventory(InventoryCommand),
    /// Posture findings (OWASP NHI Top 10): list, show, suppress, export.
    #[command(subcommand)]
    Findings(FindingsCommand),
    /// The posture at a glance: open findings by OWASP risk and severity, worst identities first.
    Posture(PostureArgs),
    /// Leaked secrets reported to Warden: list, show, report one.
    #[command(subcommand)]
    Leaks(LeaksCommand),
    /// Webhooks: notify people's tools (chat, paging, tickets) of what happens in Warden.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Shared Signals: the receivers that may open streams of CAEP and RISC events.
    #[command(subcommand)]
    Ssf(SsfCommand),
    /// Find leaked secrets in files, directories or Git history (needs no server).
    ///
    /// Exit status: 0 when nothing was found, 1 when something was, 2 when the scan failed.
    Scan(ScanArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Exported files: a credential report CSV, list-access-keys JSON, kubectl YAML, gcloud
    /// JSON, GitHub's token listing, or a CSV with Warden's columns.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The source's name in Warden, e.g. aws-prod [default: the format's name].
    #[arg(long)]
    pub source: Option<String>,
    /// The format of every file, when detection is not wanted: aws-credential-report,
    /// aws-access-keys, k8s, gcp-sa-keys, github-pats or csv.
    #[arg(long)]
    pub format: Option<String>,
    /// Owner (email) of identities whose source names no registered owner.
    #[arg(long)]
    pub owner: Option<String>,
    /// Environment of identities whose source names none: prod, staging or dev.
    #[arg(long)]
    pub environment: Option<String>,
    /// The files list everything at the source: identities missing from them are gone.
    #[arg(long, conflicts_with = "partial")]
    pub full: bool,
    /// The files list part of the source: nothing is marked gone.
    #[arg(long)]
    pub partial: bool,
    /// Check the files and count what would change; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// List imported identities.
    List {
        #[arg(long)]
        source: Option<String>,
        #[arg(long)]
        kind: Option<String>,
        /// present or gone
        #[arg(long)]
        status: Option<String>,
        /// Only identities without an owner.
        #[arg(long)]
        orphaned: bool,
        /// Owner email.
        #[arg(long)]
        owner: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one imported identity, with its credentials and entitlements.
    Show { id: String },
}

#[derive(Debug, Args)]
pub struct FindingFilters {
    /// NHI1 … NHI10
    #[arg(long)]
    pub owasp: Option<String>,
    /// At least this severity: low, medium, high or critical.
    #[arg(long)]
    pub severity: Option<String>,
    /// open, resolved or suppressed
    #[arg(long)]
    pub status: Option<String>,
    /// An imported identity's id, a subject (upstream:NAME, policy:ID) or an identity's name.
    #[arg(long)]
    pub identity: Option<String>,
    /// A rule id, e.g. secret-too-old.
    #[arg(long)]
    pub rule: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Add a webhook; prints its signing secret once.
    Add {
        /// Where deliveries are POSTed (http or https; redirects are not followed).
        url: String,
        /// The events, comma-separated: finding.opened, approval.requested, kill.applied,
        /// leak.detected, leak.responded, credential.revoked, token.revoked,
        /// identity.suspended, identity.revoked.
        #[arg(long, required = true)]
        events: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// List webhooks.
    List,
    /// Remove a webhook and its deliveries.
    Remove { id: String },
    /// Deliveries, newest first, with status, attempts and last error; `--status dead` lists
    /// the dead letters.
    Deliveries {
        /// Only this webhook's.
        #[arg(long)]
        webhook: Option<String>,
        /// pending, delivered or dead
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Send a delivery again (a dead letter, or one delivered before) with fresh attempts.
    Redeliver { delivery: String },
}

#[derive(Debug, Subcommand)]
pub enum SsfCommand {
    /// Add a receiver; prints its bearer token for the stream management API once.
    ReceiverAdd { name: String },
    /// List receivers.
    Receivers,
    /// Remove a receiver with its streams.
    ReceiverRemove { name: String },
}

#[derive(Debug, Subcommand)]
pub enum LeaksCommand {
    /// List leak reports, oldest first.
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one report: what the secret is, where it was seen, what Warden did.
    Show { id: String },
    /// Report one leaked secret, by the secret (from a variable or a file) or its fingerprint.
    Report(ReportLeakArgs),
}

#[derive(Debug, Args)]
pub struct ReportLeakArgs {
    #[command(flatten)]
    pub secret: SecretSource,
    /// The secret's fingerprint (`sha256:…`, as `warden scan` prints it), instead of the secret.
    #[arg(long, conflicts_with_all = ["secret_env", "secret_file"])]
    pub fingerprint: Option<String>,
    /// What the secret is, as a scanner names it (aws_access_key_id, warden_client_secret, …).
    #[arg(long)]
    pub kind: Option<String>,
    /// Where it was seen: a file path.
    #[arg(long)]
    pub path: Option<String>,
    #[arg(long)]
    pub line: Option<u64>,
    /// The Git commit it was found in.
    #[arg(long)]
    pub commit: Option<String>,
    /// A web address where it was seen (a paste, an issue, a log viewer).
    #[arg(long)]
    pub url: Option<String>,
    /// Who saw it: a scanner's or pipeline's name.
    #[arg(long, default_value = "warden leaks report")]
    pub source: String,
    /// Switch it off now if Warden knows it.
    #[arg(long)]
    pub revoke: bool,
}

#[derive(Debug, Subcommand)]
pub enum FindingsCommand {
    /// List findings.
    List {
        #[command(flatten)]
        filters: FindingFilters,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one finding: evidence and remediation.
    Show { id: String },
    /// Accept a finding's risk for a while, with a reason.
    Suppress {
        id: String,
        /// Why the risk is accepted.
        #[arg(long)]
        reason: String,
        /// How long, e.g. 30d, 12h (at most 366d).
        #[arg(long = "for", value_name = "DURATION", conflicts_with = "until")]
        duration: Option<String>,
        /// Until when (RFC 3339).
        #[arg(long)]
        until: Option<String>,
    },
    /// Lift a suppression.
    Unsuppress { id: String },
    /// Print findings as JSON lines for a SIEM.
    Export {
        /// ocsf (OCSF Detection Finding) or json.
        #[arg(long, default_value = "ocsf")]
        format: String,
        #[command(flatten)]
        filters: FindingFilters,
    },
}

#[derive(Debug, Args)]
pub struct PostureArgs {
    /// Evaluate every rule now before printing, instead of waiting for the timer.
    #[arg(long)]
    pub evaluate: bool,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Files and directories to scan; with --git, Git repositories.
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// How to print findings [default: text, or json with `-o json`].
    #[arg(long, value_enum)]
    pub format: Option<ScanFormat>,
    /// Scan every blob reachable from any ref (the whole history), not the working tree.
    #[arg(long)]
    pub git: bool,
    /// A rules file (TOML) to add; its rules replace built-in rules of the same id.
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,
    /// Skip files and blobs larger than this (bytes, or with K, M or G).
    #[arg(long, value_name = "SIZE", default_value = "10M", value_parser = crate::commands::parse_size)]
    pub max_file_size: u64,
    /// Ask the Warden server (--addr, --token) what each secret is, and open an NHI2 finding
    /// on the identity it belongs to. Only fingerprints are sent, except for Warden client
    /// secrets and AWS access key ids, which the server needs whole to look up.
    #[arg(long)]
    pub report: bool,
    /// With --report: switch off every secret Warden knows (revoke a Warden credential with
    /// every token derived from it; suspend an imported identity).
    #[arg(long, requires = "report")]
    pub revoke: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    /// One line per finding, for people and editors (`path:line:column: …`).
    Text,
    /// One JSON document with every finding and what was scanned.
    Json,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
}

#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// List approvals, oldest first.
    List {
        /// pending, approved, denied, used or expired
        #[arg(long)]
        status: Option<String>,
        /// Only this agent's (its name or id).
        #[arg(long)]
        agent: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one approval: the held request and any decision.
    Show { id: String },
    /// Approve a held request: the agent's next identical request goes through, once.
    Approve {
        id: String,
        #[command(flatten)]
        decision: DecisionArgs,
    },
    /// Deny a held request: the agent's retries with this approval are refused.
    Deny {
        id: String,
        #[command(flatten)]
        decision: DecisionArgs,
    },
}

/// Who decides, and why.
#[derive(Debug, Args)]
pub struct DecisionArgs {
    /// The email of the active owner deciding [default: the admin].
    #[arg(long)]
    pub approver: Option<String>,
    /// Why; kept with the approval and in the audit trail.
    #[arg(long)]
    pub comment: Option<String>,
}

/// What `kill`, `restore` and `revoke` act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StopTarget {
    /// An agent by name; its sub-agents stop with it.
    Agent,
    /// An identity by id or KIND:NAME.
    Identity,
    /// An owner by email or id: every identity they own.
    Owner,
    /// A credential by id (revoke only).
    Credential,
    /// An access token, or its jti (revoke only).
    Token,
}

#[derive(Debug, Subcommand)]
pub enum GraphCommand {
    /// The access graph of one agent (or identity, as KIND:NAME or its id).
    Agent {
        name: String,
        /// Hops from the agent to draw (1-8): 1 stops at its upstreams, 2 adds their
        /// actions and injected identities, 3 their entitlements.
        #[arg(long, default_value_t = 3)]
        depth: u32,
        /// Days of audit trail that count as "used" (1-3650).
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// `count`: how many actions and tools each identity is denied on each upstream;
        /// `list`: every one of them, named.
        #[arg(long, value_parser = ["count", "list"], default_value = "count")]
        denied: String,
    },
}

#[derive(Debug, Args)]
pub struct StopArgs {
    pub target: StopTarget,
    pub name: String,
    /// List what would stop; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Fields for issuing or rotating a credential.
#[derive(Debug, Args)]
pub struct CredentialArgs {
    /// Register this public key (a JWK file) for private_key_jwt instead of a client secret.
    #[arg(long)]
    pub public_key: Option<PathBuf>,
    /// Scopes tokens obtained with it may carry (space-separated).
    #[arg(long)]
    pub scope: Option<String>,
    /// Lifetime in days (at most the server's ceiling, which is the default).
    #[arg(long)]
    pub expires_in_days: Option<i64>,
}

#[derive(Debug, Subcommand)]
pub enum CredentialCommand {
    /// Issue a credential to an identity (id or KIND:NAME); a secret is shown once.
    Issue {
        identity: String,
        #[command(flatten)]
        fields: CredentialArgs,
    },
    /// Issue a new credential; the current ones keep working for the overlap, then stop.
    Rotate {
        identity: String,
        #[command(flatten)]
        fields: CredentialArgs,
        /// Seconds the previous credential keeps working [default: the server's overlap].
        #[arg(long)]
        overlap_secs: Option<i64>,
    },
    /// Revoke one credential by id.
    Revoke { credential: String },
    /// List an identity's credentials.
    List { identity: String },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the signing keys published in the JWKS.
    List,
    /// Start signing with a new key; the old one stays published until its tokens expire.
    Rotate,
    /// With every node stopped: seal every upstream secret and signing key again under a
    /// new data key, and replace DATA_DIR/keys/data.key (copy it to the other nodes).
    RotateDataKey(DataKeyArgs),
}

/// Where the data key and database are, for commands that work on them directly.
#[derive(Debug, Args)]
pub struct DataKeyArgs {
    /// The node's data directory (its keys/ holds the current data key).
    #[arg(long, env = "WARDEN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The database, if not the SQLite file in the data directory.
    #[arg(long, env = "WARDEN_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The server's TOML settings file.
    #[arg(long, env = "WARDEN_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Where an upstream secret comes from; never the command line, where it would be visible
/// to other users and kept in shell history.
#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct SecretSource {
    /// Read the secret from this environment variable.
    #[arg(long)]
    pub secret_env: Option<String>,
    /// Read the secret from this file (a trailing newline is dropped).
    #[arg(long)]
    pub secret_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum UpstreamCommand {
    /// Register an upstream; its secret is sealed at once and never shown again.
    Add {
        name: String,
        /// Base URL requests are forwarded to (http and mcp).
        #[arg(long, required_unless_present = "command")]
        url: Option<String>,
        /// http, mcp, or mcp-stdio (a local MCP server the Warden server runs; see --command).
        #[arg(long, default_value = "http")]
        kind: String,
        /// How the secret is injected: bearer, basic (secret is user:password) or header:NAME
        /// (http and mcp).
        #[arg(long, required_unless_present = "command")]
        auth: Option<String>,
        /// For --kind mcp-stdio: the MCP server's program, an absolute path or a name on the
        /// server's PATH, run on the Warden host without a shell.
        #[arg(long, conflicts_with = "url")]
        command: Option<String>,
        /// For --kind mcp-stdio: one argument of the program, passed as it is; repeatable.
        #[arg(
            long = "arg",
            value_name = "ARG",
            allow_hyphen_values = true,
            requires = "command"
        )]
        args: Vec<String>,
        /// For --kind mcp-stdio: the environment variable the program gets the upstream's
        /// secret in (the secret itself comes from --secret-env or --secret-file).
        #[arg(long, value_name = "VAR", requires = "command")]
        env_secret: Option<String>,
        #[command(flatten)]
        secret: SecretSource,
        /// Route map (TOML) for HTTP upstreams.
        #[arg(long)]
        routes: Option<PathBuf>,
        /// For an MCP upstream, a browser origin (http(s)://host[:port]) whose requests may
        /// pass besides the gateway's own; repeatable. Requests with any other Origin are refused.
        #[arg(long = "allowed-origin", value_name = "ORIGIN")]
        allowed_origins: Vec<String>,
        /// A label saying what the upstream touches (e.g. sensitive, external, prod: a-z,
        /// 0-9, '_', '.', '-'); repeatable. Route labels go in the route map.
        #[arg(long = "label", value_name = "LABEL")]
        labels: Vec<String>,
        /// For an MCP upstream, a label of one tool, as TOOL=LABEL; repeatable.
        #[arg(long = "tool-label", value_name = "TOOL=LABEL")]
        tool_labels: Vec<String>,
        /// The identity the secret belongs to: a registered identity (KIND:NAME or its id)
        /// or an imported identity's id (`warden inventory list`).
        #[arg(long, value_name = "REF")]
        identity: Option<String>,
    },
    /// List upstreams.
    List,
    /// Show one upstream (never its secret).
    Show { name: String },
    /// Change the URL, the injection, the route map, the allowed origins, the labels or the
    /// identity the secret belongs to. A URL on another
    /// scheme, host or port needs the new host's secret in the same update (--secret-env or
    /// --secret-file), so the old secret never goes to the new host.
    Update {
        name: String,
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        auth: Option<String>,
        #[arg(long)]
        routes: Option<PathBuf>,
        /// Replace the allowed origins (MCP) with these; repeatable.
        #[arg(long = "allowed-origin", value_name = "ORIGIN")]
        allowed_origins: Vec<String>,
        /// Remove every allowed origin (only the gateway's own stays allowed).
        #[arg(long, conflicts_with = "allowed_origins")]
        clear_allowed_origins: bool,
        /// Replace the upstream's labels with these; repeatable.
        #[arg(long = "label", value_name = "LABEL")]
        labels: Vec<String>,
        /// Remove every label of the upstream.
        #[arg(long, conflicts_with = "labels")]
        clear_labels: bool,
        /// Replace the tool labels (MCP) with these, as TOOL=LABEL; repeatable.
        #[arg(long = "tool-label", value_name = "TOOL=LABEL")]
        tool_labels: Vec<String>,
        /// Remove every tool label.
        #[arg(long, conflicts_with = "tool_labels")]
        clear_tool_labels: bool,
        /// Name the identity the secret belongs to: a registered identity (KIND:NAME or its
        /// id) or an imported identity's id.
        #[arg(long, value_name = "REF")]
        identity: Option<String>,
        /// Remove the identity binding.
        #[arg(long, conflicts_with = "identity")]
        clear_identity: bool,
        #[command(flatten)]
        secret: SecretSource,
    },
    /// Replace the upstream's secret.
    SetSecret {
        name: String,
        #[command(flatten)]
        secret: SecretSource,
    },
    /// Remove an upstream (refused while a policy refers to it).
    Remove { name: String },
    /// The tools the gateway pinned for an MCP upstream, with their state; `--accept TOOL`
    /// accepts a changed definition so the tool is listed and callable again.
    Tools {
        name: String,
        /// Accept the definition of this tool last seen.
        #[arg(long)]
        accept: Option<String>,
    },
}

// Parsed once per process, so the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Add a Cedar policy file; refused with the validator's message if it does not validate.
    Add {
        file: PathBuf,
        /// The policy id [default: the file name without its extension].
        #[arg(long)]
        id: Option<String>,
        /// Replace the policy with this id if there is one.
        #[arg(long)]
        replace: bool,
    },
    /// List policies.
    List,
    /// Show one policy's text.
    Show { id: String },
    /// Remove a policy.
    Remove { id: String },
    /// Print the Cedar schema Warden generates from its upstreams.
    Schema,
    /// Answer allow, deny or hold for a hypothetical request, and say which policies decided.
    Test {
        /// The identity's name (an agent's, unless --kind says otherwise).
        #[arg(long)]
        agent: String,
        /// The identity's kind (agent, service_account, …): each kind is its own principal.
        #[arg(long)]
        kind: Option<String>,
        /// A scope the token would carry, as context.scopes (repeatable).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        #[arg(long)]
        upstream: String,
        /// With --path: the request, matched against the upstream's routes.
        #[arg(long, requires = "path")]
        method: Option<String>,
        #[arg(long, requires = "method")]
        path: Option<String>,
        /// For MCP upstreams: the tool called.
        #[arg(long, conflicts_with_all = ["method", "action"])]
        tool: Option<String>,
        /// Instead of method and path: the action…
        #[arg(long, requires = "resource", conflicts_with = "method")]
        action: Option<String>,
        /// …and the resource, as Type::id.
        #[arg(long, requires = "action")]
        resource: Option<String>,
        /// The user the agent acts for.
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        task: Option<String>,
        /// With --task: an action the task already did (`context.task.actions`); repeatable.
        #[arg(long = "task-action", value_name = "ACTION", requires = "task")]
        task_actions: Vec<String>,
        /// With --task: a label of what the task already touched (`context.task.labels`);
        /// repeatable.
        #[arg(long = "task-label", value_name = "LABEL", requires = "task")]
        task_labels: Vec<String>,
        /// With --task: a tool (UPSTREAM/TOOL) the task already called; repeatable.
        #[arg(long = "task-tool", value_name = "TOOL", requires = "task")]
        task_tools: Vec<String>,
        #[arg(long = "env")]
        environment: Option<String>,
        /// Decide as if a human had approved this exact request.
        #[arg(long)]
        approved: bool,
    },
}

/// Filters shared by `audit tail` and `audit query`.
#[derive(Debug, Args)]
pub struct AuditFilterArgs {
    /// Event kind, e.g. identity.created or gateway.decision.
    #[arg(long)]
    pub kind: Option<String>,
    /// Events performed by this agent (its name).
    #[arg(long, conflicts_with = "actor")]
    pub agent: Option<String>,
    /// Events performed by this actor (agent or admin name).
    #[arg(long)]
    pub actor: Option<String>,
    /// Events concerning this owner's identities (email).
    #[arg(long)]
    pub owner: Option<String>,
    /// Events performed on behalf of this user.
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long)]
    pub upstream: Option<String>,
    #[arg(long)]
    pub action: Option<String>,
    /// allow, deny or hold
    #[arg(long)]
    pub decision: Option<String>,
    /// Task id.
    #[arg(long)]
    pub task: Option<String>,
    /// From this time (RFC 3339, inclusive).
    #[arg(long)]
    pub since: Option<String>,
    /// Until this time (RFC 3339, exclusive).
    #[arg(long)]
    pub until: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Warden's JSON lines, verifiable offline with `warden audit verify --export`.
    Jsonl,
    /// OCSF 1.x events for a SIEM.
    Ocsf,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Show the newest events; with --follow, keep printing new ones as they arrive.
    Tail {
        /// How many of the newest events to show first.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: u32,
        #[arg(long, short)]
        follow: bool,
        #[command(flatten)]
        filter: AuditFilterArgs,
    },
    /// Find events by agent, owner, user, upstream, action, decision, task or time.
    Query {
        #[command(flatten)]
        filter: AuditFilterArgs,
        /// At most this many events (1-1000), oldest first.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Only events after this sequence number.
        #[arg(long)]
        after: Option<u64>,
    },
    /// Verify the hash chain and the signed checkpoints. Exit status 0 only when intact;
    /// says how many records no checkpoint covers (a cut of those would go unnoticed).
    /// With --export and --public-key, verify an export file offline, without the server.
    Verify {
        /// An export written by `warden audit export --format jsonl`.
        #[arg(long, requires = "public_key")]
        export: Option<PathBuf>,
        /// The audit public key (PEM), from `warden audit public-key`.
        #[arg(long, requires = "export")]
        public_key: Option<PathBuf>,
    },
    /// Export the whole trail.
    Export {
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the audit public key (PEM) that auditors verify exports with.
    PublicKey,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Directory for the embedded database and the keys; created on first start.
    #[arg(long, env = "WARDEN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address for the API (port 0 picks a free port) [default: 127.0.0.1:8080].
    #[arg(long, env = "WARDEN_API_LISTEN")]
    pub api_listen: Option<SocketAddr>,
    /// Address for the gateway (port 0 picks a free port) [default: 127.0.0.1:8081].
    #[arg(long, env = "WARDEN_GATEWAY_LISTEN")]
    pub gateway_listen: Option<SocketAddr>,
    /// `postgres://…` for a database shared by several nodes [default: SQLite in the data directory].
    #[arg(long, env = "WARDEN_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Sign an audit checkpoint at least this often, in milliseconds [default: 10000].
    #[arg(long, env = "WARDEN_AUDIT_CHECKPOINT_MILLIS")]
    pub audit_checkpoint_millis: Option<u64>,
    /// Sign an audit checkpoint after this many records [default: 1000].
    #[arg(long, env = "WARDEN_AUDIT_CHECKPOINT_EVENTS")]
    pub audit_checkpoint_events: Option<u64>,
    /// A TOML file with any of: data_dir, api_listen, gateway_listen, database_url,
    /// audit_checkpoint_millis, audit_checkpoint_events.
    #[arg(long, env = "WARDEN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format on standard error.
    #[arg(long, env = "WARDEN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum OwnerCommand {
    /// Register an owner.
    Add {
        email: String,
        #[arg(long)]
        name: String,
    },
    /// List owners.
    List {
        /// active or offboarded
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one owner (by email or id).
    Show { owner: String },
    /// Offboard an owner: suspends every identity they own until it is reassigned.
    Offboard { owner: String },
    /// Move every identity of OWNER to another active owner.
    Reassign {
        owner: String,
        #[arg(long)]
        to: String,
    },
}

#[derive(Debug, Args)]
pub struct PageArgs {
    /// Page size (1-500).
    #[arg(long)]
    pub limit: Option<u32>,
    /// Continue after a previous page (its `next_cursor`).
    #[arg(long)]
    pub cursor: Option<String>,
}

/// Fields shared by `agent create` and `identity create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The accountable owner's email.
    #[arg(long)]
    pub owner: String,
    /// prod, staging or dev.
    #[arg(long = "env")]
    pub environment: Option<String>,
    /// What this identity is for.
    #[arg(long)]
    pub purpose: Option<String>,
    /// KEY=VALUE; repeat for several.
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// The parent identity (id or KIND:NAME), e.g. the agent a sub-agent works for.
    #[arg(long)]
    pub parent: Option<String>,
    /// When it stops being valid (RFC 3339, e.g. 2027-01-31T00:00:00Z).
    #[arg(long)]
    pub expires_at: Option<String>,
}

/// Filters shared by `agent list` and `identity list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long)]
    pub owner: Option<String>,
    /// active, suspended, revoked or expired
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long = "env")]
    pub environment: Option<String>,
    /// KEY=VALUE; repeat to require several.
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Only the children of this identity (id or KIND:NAME).
    #[arg(long)]
    pub parent: Option<String>,
    #[command(flatten)]
    pub page: PageArgs,
}

/// Fields `update` can change; absent flags leave a field as it is.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[arg(long)]
    pub purpose: Option<String>,
    #[arg(long = "env")]
    pub environment: Option<String>,
    /// KEY=VALUE; replaces all labels. Repeat for several.
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Remove every label.
    #[arg(long, conflicts_with = "labels")]
    pub clear_labels: bool,
    /// A new parent (id or KIND:NAME).
    #[arg(long)]
    pub parent: Option<String>,
    /// Make the identity top-level.
    #[arg(long, conflicts_with = "parent")]
    pub no_parent: bool,
    /// A new expiry (RFC 3339).
    #[arg(long)]
    pub expires_at: Option<String>,
    /// Remove the expiry.
    #[arg(long, conflicts_with = "expires_at")]
    pub no_expiry: bool,
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Register an agent and issue its client secret (shown once).
    Create {
        name: String,
        #[command(flatten)]
        fields: CreateArgs,
        /// Scopes the agent's tokens may carry (space-separated).
        #[arg(long)]
        scope: Option<String>,
    },
    /// List agents.
    List {
        #[command(flatten)]
        filters: ListArgs,
    },
    /// Show one agent.
    Show { name: String },
    /// Change an agent's purpose, environment, labels, parent or expiry.
    Update {
        name: String,
        #[command(flatten)]
        fields: UpdateArgs,
    },
    /// Suspend an agent (reversible with `restore`).
    Suspend { name: String },
    /// Lift an agent's suspension.
    Restore { name: String },
    /// Revoke an agent for good.
    Revoke { name: String },
    /// Give an agent to another active owner.
    Reassign {
        name: String,
        #[arg(long)]
        owner: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Register an identity of any kind.
    Create {
        /// agent, service_account, api_key, oauth_app, token, certificate, webhook or workload
        kind: String,
        name: String,
        #[command(flatten)]
        fields: CreateArgs,
        /// Record it as imported from elsewhere, with where it came from.
        #[arg(long)]
        imported_from: Option<String>,
    },
    /// List identities.
    List {
        #[arg(long)]
        kind: Option<String>,
        #[command(flatten)]
        filters: ListArgs,
    },
    /// Show one identity (id or KIND:NAME).
    Show { identity: String },
    /// Change an identity's purpose, environment, labels, parent or expiry.
    Update {
        identity: String,
        #[command(flatten)]
        fields: UpdateArgs,
    },
    /// Suspend an identity (reversible with `restore`).
    Suspend { identity: String },
    /// Lift an identity's suspension.
    Restore { identity: String },
    /// Revoke an identity for good.
    Revoke { identity: String },
    /// Give an identity to another active owner.
    Reassign {
        identity: String,
        #[arg(long)]
        owner: String,
    },
}
