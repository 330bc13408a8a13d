//! Opening each backend for one test, and running a test body against both.

use std::future::Future;
use std::sync::Arc;

use warden_audit::{Actor, AuditSigner, CheckpointPolicy};
use warden_store::{AuditSettings, SqlStore, Store};

/// A policy-set check that accepts every set, for tests about something else.
pub fn accept_all(
    _upstreams: &[warden_core::Upstream],
    _policies: &[warden_core::StoredPolicy],
) -> Result<(), warden_core::DomainError> {
    Ok(())
}

/// The actor the conformance tests act as.
pub fn admin() -> Actor {
    Actor::admin("admin", "admin")
}

/// The audit key every test store signs checkpoints with, shared so tests can verify.
pub fn audit_signer() -> Arc<AuditSigner> {
    static SIGNER: std::sync::OnceLock<Arc<AuditSigner>> = std::sync::OnceLock::new();
    SIGNER
        .get_or_init(|| Arc::new(AuditSigner::generate().unwrap_or_else(|e| panic!("{e}"))))
        .clone()
}

/// Checkpoints every 5 events, so short tests produce several.
pub fn audit_settings() -> AuditSettings {
    AuditSettings {
        node: "test-node".into(),
        signer: Some(audit_signer()),
        checkpoints: CheckpointPolicy {
            every_events: 5,
            every_millis: 0,
        },
    }
}

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A store for one test, and what must be cleaned up after it.
pub struct TestStore {
    pub store: Arc<SqlStore>,
    pub label: &'static str,
    /// The URL the store was opened with, for tests that tamper with rows directly.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres_schema: Option<(String, String)>,
    postgres_database: Option<(String, String)>,
}

impl TestStore {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("warden.db").display()
        );
        let store = SqlStore::connect(&url, audit_settings())
            .await
            .unwrap_or_else(|e| panic!("open sqlite: {e}"));
        Self {
            store: Arc::new(store),
            label: "sqlite",
            url,
            _dir: Some(dir),
            postgres_schema: None,
            postgres_database: None,
        }
    }

    /// A store in a fresh schema of the test PostgreSQL, or `None` (with a notice) when the
    /// server is unreachable outside CI.
    pub async fn postgres() -> Option<Self> {
        let base = std::env::var("WARDEN_TEST_DATABASE_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string());
        let schema = format!("warden_test_{}", uuid::Uuid::now_v7().simple());
        if let Err(error) = create_schema(&base, &schema).await {
            if std::env::var("CI").is_ok_and(|value| value == "true") {
                panic!("CI=true requires PostgreSQL at {base}, but it is unreachable: {error}");
            }
            skipped_notice(&base, &error);
            return None;
        }
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
        let store = SqlStore::connect(&url, audit_settings())
            .await
            .unwrap_or_else(|e| panic!("connect postgres: {e}"));
        Some(Self {
            store: Arc::new(store),
            label: "postgres",
            url,
            _dir: None,
            postgres_schema: Some((base, schema)),
            postgres_database: None,
        })
    }

    /// A store in a database of its own on the test PostgreSQL, for tests that must not
    /// hear what other tests do there (notifications are per database), or `None`.
    pub async fn postgres_own_database() -> Option<Self> {
        let base = std::env::var("WARDEN_TEST_DATABASE_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string());
        let database = format!("warden_test_{}", uuid::Uuid::now_v7().simple());
        if let Err(error) = admin_execute(&base, &format!("CREATE DATABASE {database}")).await {
            if std::env::var("CI").is_ok_and(|value| value == "true") {
                panic!("CI=true requires PostgreSQL at {base}, but it is unreachable: {error}");
            }
            skipped_notice(&base, &error);
            return None;
        }
        let (before_query, query) = base.split_once('?').unwrap_or((&base, ""));
        let server = before_query
            .rsplit_once('/')
            .map_or(before_query, |(server, _)| server);
        let url = if query.is_empty() {
            format!("{server}/{database}")
        } else {
            format!("{server}/{database}?{query}")
        };
        let store = SqlStore::connect(&url, audit_settings())
            .await
            .unwrap_or_else(|e| panic!("connect postgres: {e}"));
        Some(Self {
            store: Arc::new(store),
            label: "postgres",
            url,
            _dir: None,
            postgres_schema: None,
            postgres_database: Some((base, database)),
        })
    }

    /// Runs one statement on a connection of its own, behind the store's back.
    pub async fn raw(&self, statement: &str) {
        admin_execute(&self.url, statement)
            .await
            .unwrap_or_else(|e| panic!("{}: `{statement}` failed: {e}", self.label));
    }

    /// A second store on the same database, as another node would open it.
    pub async fn second_node(&self) -> SqlStore {
        let mut settings = audit_settings();
        settings.node = "second-node".into();
        SqlStore::connect(&self.url, settings)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Another node on the same database whose policy never asks for a checkpoint, so its
    /// records stay unanchored until it seals the trail.
    pub async fn quiet_node(&self) -> SqlStore {
        let mut settings = audit_settings();
        settings.node = "quiet-node".into();
        settings.checkpoints = CheckpointPolicy {
            every_events: 0,
            every_millis: 0,
        };
        SqlStore::connect(&self.url, settings)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Another node on the same database that holds no audit key.
    pub async fn unsigned_node(&self) -> SqlStore {
        SqlStore::connect(&self.url, AuditSettings::unsigned("unsigned-node"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn finish(self) {
        self.store.close().await;
        if let Some((base, schema)) = self.postgres_schema {
            let statement = format!("DROP SCHEMA {schema} CASCADE");
            if let Err(error) = admin_execute(&base, &statement).await {
                eprintln!("could not drop test schema {schema}: {error}");
            }
        }
        if let Some((base, database)) = self.postgres_database {
            let statement = format!("DROP DATABASE {database} WITH (FORCE)");
            if let Err(error) = admin_execute(&base, &statement).await {
                eprintln!("could not drop test database {database}: {error}");
            }
        }
    }
}

async fn create_schema(base: &str, schema: &str) -> Result<(), String> {
    admin_execute(base, &format!("CREATE SCHEMA {schema}")).await
}

async fn admin_execute(base: &str, statement: &str) -> Result<(), String> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let connect = sqlx::AnyConnection::connect(base);
    let mut connection = tokio::time::timeout(std::time::Duration::from_secs(5), connect)
        .await
        .map_err(|_| "timed out after 5 s".to_string())?
        .map_err(|e| e.to_string())?;
    sqlx::query(sqlx::AssertSqlSafe(statement.to_string()))
        .execute(&mut connection)
        .await
        .map_err(|e| e.to_string())?;
    connection.close().await.map_err(|e| e.to_string())
}

/// Runs `test` against SQLite, then against PostgreSQL when it is available.
pub async fn on_both<F, Fut>(test: F)
where
    F: Fn(Arc<dyn Store>, &'static str) -> Fut,
    Fut: Future<Output = ()>,
{
    let sqlite = TestStore::sqlite().await;
    test(sqlite.store.clone(), sqlite.label).await;
    sqlite.finish().await;
    if let Some(postgres) = TestStore::postgres().await {
        test(postgres.store.clone(), postgres.label).await;
        postgres.finish().await;
    }
}

/// Runs `test` with direct access to each backend (SQLite, then PostgreSQL when available).
pub async fn on_each<F, Fut>(test: F)
where
    F: Fn(Arc<TestStore>) -> Fut,
    Fut: Future<Output = ()>,
{
    let sqlite = Arc::new(TestStore::sqlite().await);
    test(sqlite.clone()).await;
    if let Ok(sqlite) = Arc::try_unwrap(sqlite) {
        sqlite.finish().await;
    }
    if let Some(postgres) = TestStore::postgres().await {
        let postgres = Arc::new(postgres);
        test(postgres.clone()).await;
        if let Ok(postgres) = Arc::try_unwrap(postgres) {
            postgres.finish().await;
        }
    }
}

/// Says once, past the test harness's output capture, that PostgreSQL was skipped, so a
/// green run on a machine without it cannot be mistaken for a run that covered it.
fn skipped_notice(base: &str, error: &str) {
    use std::io::Write;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "NOTICE: PostgreSQL at {base} is unreachable ({error}); the PostgreSQL conformance runs were SKIPPED (set CI=true to make this an error)"
        );
    });
}
