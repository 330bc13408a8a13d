//! Opening each backend for one test, and running a test body against both.

use std::future::Future;
use std::sync::Arc;

use warden_store::{SqlStore, Store};

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A store for one test, and what must be cleaned up after it.
pub struct TestStore {
    pub store: Arc<SqlStore>,
    pub label: &'static str,
    _dir: Option<tempfile::TempDir>,
    postgres_schema: Option<(String, String)>,
}

impl TestStore {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let store = SqlStore::open_sqlite(&dir.path().join("warden.db"))
            .await
            .unwrap_or_else(|e| panic!("open sqlite: {e}"));
        Self {
            store: Arc::new(store),
            label: "sqlite",
            _dir: Some(dir),
            postgres_schema: None,
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
            eprintln!(
                "NOTICE: PostgreSQL at {base} is unreachable ({error}); the PostgreSQL conformance run was SKIPPED"
            );
            return None;
        }
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
        let store = SqlStore::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("connect postgres: {e}"));
        Some(Self {
            store: Arc::new(store),
            label: "postgres",
            _dir: None,
            postgres_schema: Some((base, schema)),
        })
    }

    pub async fn finish(self) {
        self.store.close().await;
        if let Some((base, schema)) = self.postgres_schema {
            let statement = format!("DROP SCHEMA {schema} CASCADE");
            if let Err(error) = admin_execute(&base, &statement).await {
                eprintln!("could not drop test schema {schema}: {error}");
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
