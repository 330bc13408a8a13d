//! The change feed's two transports: `NOTIFY` in the write's transaction and one listener
//! connection per node on PostgreSQL; a broadcast after the commit on SQLite.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::{Any, AnyPool, Transaction};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use super::Dialect;
use crate::error::StoreResult;
use crate::feed::{BACKLOG, BEAT_PREFIX, CHANNEL, ChangeFeed, Heard, LISTENER_SILENCE, Topic};

/// The first wait before the listener tries to connect again; it doubles up to `MAX_RETRY`.
const FIRST_RETRY: Duration = Duration::from_millis(50);
const MAX_RETRY: Duration = Duration::from_secs(1);

/// One store's end of the feed, shared by its clones.
#[derive(Debug)]
pub(crate) struct FeedHub {
    sender: broadcast::Sender<Heard>,
    /// Tells this store's beats from other nodes'.
    beat_token: String,
    /// Where the PostgreSQL listener connects; `None` on SQLite.
    listen_url: Option<String>,
    /// The listener task, started by the first subscriber and stopped with the store.
    listener: Mutex<Option<JoinHandle<()>>>,
}

impl FeedHub {
    pub(crate) fn new(dialect: Dialect, url: &str) -> Arc<Self> {
        let (sender, _) = broadcast::channel(BACKLOG);
        Arc::new(Self {
            sender,
            beat_token: uuid::Uuid::now_v7().simple().to_string(),
            listen_url: (dialect == Dialect::Postgres).then(|| url.to_string()),
            listener: Mutex::new(None),
        })
    }

    /// A new subscription; on PostgreSQL the first one starts the listener, whose first
    /// connection is announced with `Resync` (so a subscriber re-reads after it can hear).
    pub(crate) fn subscribe(self: &Arc<Self>) -> ChangeFeed {
        let feed = ChangeFeed::new(self.sender.subscribe());
        if let Some(url) = &self.listen_url {
            let mut listener = self
                .listener
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if listener.is_none() {
                *listener = Some(tokio::spawn(listen(url.clone(), Arc::clone(self))));
            }
        }
        feed
    }

    /// Announces `topics` with the transaction's commit.
    pub(crate) async fn commit(
        &self,
        mut tx: Transaction<'static, Any>,
        topics: &[Topic],
    ) -> StoreResult<()> {
        if self.listen_url.is_some() {
            for topic in topics {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(topic.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        } else {
            tx.commit().await?;
            for topic in topics {
                // No subscriber is not an error: nobody holds a view to update.
                let _ = self.sender.send(Heard::Changed(*topic));
            }
        }
        Ok(())
    }

    /// Sends this node's beat: through the database and back on PostgreSQL; on SQLite a
    /// read of the database, heard at once.
    pub(crate) async fn beat(&self, writer: &AnyPool, reader: &AnyPool) -> StoreResult<()> {
        if self.listen_url.is_some() {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(format!("{BEAT_PREFIX}{}", self.beat_token))
                .execute(writer)
                .await?;
        } else {
            sqlx::query("SELECT 1").execute(reader).await?;
            let _ = self.sender.send(Heard::Beat);
        }
        Ok(())
    }

    /// Stops the listener (the store is closing).
    pub(crate) fn stop(&self) {
        let listener = self
            .listener
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(listener) = listener {
            listener.abort();
        }
    }

    fn send(&self, heard: Heard) {
        let _ = self.sender.send(heard);
    }
}

/// Keeps one listening connection open for as long as the store lives: connects, says
/// `Resync` once it listens, forwards what it hears, and on any failure (or a silence
/// longer than `LISTENER_SILENCE`, which a half-open connection would otherwise make
/// endless) says `Lost` and connects again.
async fn listen(url: String, hub: Arc<FeedHub>) {
    let mut retry = FIRST_RETRY;
    loop {
        let mut listener = match open_listener(&url).await {
            Ok(listener) => listener,
            Err(error) => {
                hub.send(Heard::Lost(format!("cannot listen for changes: {error}")));
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(MAX_RETRY);
                continue;
            }
        };
        retry = FIRST_RETRY;
        hub.send(Heard::Resync);
        let reason = loop {
            match tokio::time::timeout(LISTENER_SILENCE, listener.try_recv()).await {
                Ok(Ok(Some(notification))) => {
                    if let Some(heard) =
                        crate::feed::interpret(notification.payload(), &hub.beat_token)
                    {
                        hub.send(heard);
                    }
                }
                Ok(Ok(None)) => break "the listening connection was lost".to_string(),
                Ok(Err(error)) => break format!("the listening connection failed: {error}"),
                Err(_) => {
                    break format!(
                        "nothing heard for {} s on the listening connection",
                        LISTENER_SILENCE.as_secs()
                    );
                }
            }
        };
        tracing::warn!(%reason, "change feed lost; reconnecting");
        hub.send(Heard::Lost(reason));
    }
}

/// How long one attempt to open the listening connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

async fn open_listener(url: &str) -> Result<PgListener, String> {
    let open = async {
        let mut listener = PgListener::connect(url).await?;
        listener.listen(CHANNEL).await?;
        Ok::<_, sqlx::Error>(listener)
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, open).await {
        Ok(Ok(listener)) => Ok(listener),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())),
    }
}
