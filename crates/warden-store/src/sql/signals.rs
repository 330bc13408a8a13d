//! SQL for webhooks, Shared Signals streams and the fan-out cursor (see `crate::signals`).

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};
use warden_audit::{Actor, EventKind, NewEvent};
use warden_core::{DomainError, Timestamp};

use super::{Dialect, SqlStore};
use crate::error::{StoreError, StoreResult};
use crate::signals::{
    AttemptOutcome, ClaimedDelivery, DeliveryStatus, NewDelivery, NewSetEvent, NewWebhook,
    QueuedSet, SignalStore, SsfReceiver, SsfStream, Webhook, WebhookDelivery,
};

fn corrupt(detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("signals: {detail}"))
}

fn skip_locked(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
    }
}

fn webhook(row: &AnyRow) -> StoreResult<Webhook> {
    let events: String = row.try_get("events")?;
    Ok(Webhook {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        events: serde_json::from_str(&events).map_err(corrupt)?,
        description: row.try_get("description")?,
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
    })
}

const DELIVERY_COLUMNS: &str = "d.id, d.webhook_id, d.event, d.event_sequence, d.status, d.attempts, \
     d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.delivered_at";

fn delivery(row: &AnyRow) -> StoreResult<WebhookDelivery> {
    let status: String = row.try_get("status")?;
    let sequence: i64 = row.try_get("event_sequence")?;
    let attempts: i64 = row.try_get("attempts")?;
    let last_status: Option<i64> = row.try_get("last_status")?;
    let delivered_at: Option<i64> = row.try_get("delivered_at")?;
    Ok(WebhookDelivery {
        id: row.try_get("id")?,
        webhook_id: row.try_get("webhook_id")?,
        event: row.try_get("event")?,
        event_sequence: u64::try_from(sequence).map_err(corrupt)?,
        status: DeliveryStatus::parse(&status).ok_or_else(|| corrupt("delivery status"))?,
        attempts: u32::try_from(attempts).map_err(corrupt)?,
        next_attempt_at: Timestamp::from_millis(row.try_get("next_attempt_at")?),
        last_status: last_status.and_then(|status| u16::try_from(status).ok()),
        last_error: row.try_get("last_error")?,
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
        delivered_at: delivered_at.map(Timestamp::from_millis),
    })
}

fn receiver(row: &AnyRow) -> StoreResult<SsfReceiver> {
    Ok(SsfReceiver {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
    })
}

const STREAM_COLUMNS: &str = "s.id, s.receiver_id, r.name AS receiver_name, s.config, \
     s.push_authorization, s.status, s.reason, s.created_at, s.updated_at";

fn stream(row: &AnyRow) -> StoreResult<SsfStream> {
    Ok(SsfStream {
        id: row.try_get("id")?,
        receiver_id: row.try_get("receiver_id")?,
        receiver_name: row.try_get("receiver_name")?,
        config: row.try_get("config")?,
        push_authorization: row.try_get("push_authorization")?,
        status: row.try_get("status")?,
        reason: row.try_get("reason")?,
        excluded_subjects: Vec::new(),
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
        updated_at: Timestamp::from_millis(row.try_get("updated_at")?),
    })
}

fn queued(row: &AnyRow) -> StoreResult<QueuedSet> {
    let attempts: i64 = row.try_get("attempts")?;
    Ok(QueuedSet {
        jti: row.try_get("jti")?,
        stream_id: row.try_get("stream_id")?,
        claims: row.try_get("claims")?,
        attempts: u32::try_from(attempts).map_err(corrupt)?,
    })
}

fn to_i64(value: u64) -> StoreResult<i64> {
    i64::try_from(value).map_err(corrupt)
}

fn outcome_columns(
    outcome: &AttemptOutcome,
    now: Timestamp,
) -> (&'static str, Option<i64>, Option<String>, i64) {
    match outcome {
        AttemptOutcome::Delivered { status } => {
            ("delivered", status.map(i64::from), None, now.as_millis())
        }
        AttemptOutcome::Retry {
            status,
            error,
            next_attempt_at,
        } => (
            "pending",
            status.map(i64::from),
            Some(error.clone()),
            next_attempt_at.as_millis(),
        ),
        AttemptOutcome::Dead { status, error } => (
            "dead",
            status.map(i64::from),
            Some(error.clone()),
            now.as_millis(),
        ),
    }
}

impl SqlStore {
    async fn excluded_subjects(&self, stream: &mut SsfStream) -> StoreResult<()> {
        let rows = sqlx::query(
            "SELECT subject FROM ssf_excluded_subjects WHERE stream_id = $1 ORDER BY subject",
        )
        .bind(stream.id.clone())
        .fetch_all(&self.reader)
        .await?;
        stream.excluded_subjects = rows
            .iter()
            .map(|row| row.try_get::<String, _>("subject"))
            .collect::<Result<_, _>>()?;
        Ok(())
    }
}

#[async_trait]
impl SignalStore for SqlStore {
    async fn signal_cursor(&self, name: &str, start: u64) -> StoreResult<u64> {
        // Read first: every node asks every round, and a write transaction each time would
        // queue behind SQLite's single writer for nothing.
        if let Some(row) = sqlx::query("SELECT sequence FROM signal_cursor WHERE name = $1")
            .bind(name.to_string())
            .fetch_optional(&self.reader)
            .await?
        {
            let sequence: i64 = row.try_get("sequence")?;
            return u64::try_from(sequence).map_err(corrupt);
        }
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO signal_cursor (name, sequence) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name.to_string())
            .bind(to_i64(start)?)
            .execute(&mut *tx)
            .await?;
        let sequence: i64 = sqlx::query("SELECT sequence FROM signal_cursor WHERE name = $1")
            .bind(name.to_string())
            .fetch_one(&mut *tx)
            .await?
            .try_get("sequence")?;
        tx.commit().await?;
        u64::try_from(sequence).map_err(corrupt)
    }

    async fn fan_out(
        &self,
        name: &str,
        from: u64,
        to: u64,
        deliveries: Vec<NewDelivery>,
        sets: Vec<NewSetEvent>,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let moved =
            sqlx::query("UPDATE signal_cursor SET sequence = $1 WHERE name = $2 AND sequence = $3")
                .bind(to_i64(to)?)
                .bind(name.to_string())
                .bind(to_i64(from)?)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if moved != 1 {
            return Ok(false);
        }
        for new in deliveries {
            sqlx::query(
                "INSERT INTO webhook_deliveries (id, webhook_id, event_sequence, event, body, status, \
                 attempts, next_attempt_at, lease_until, created_at) \
                 VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, 0, $6) \
                 ON CONFLICT (webhook_id, event_sequence) DO NOTHING",
            )
            .bind(new.id)
            .bind(new.webhook_id)
            .bind(to_i64(new.event_sequence)?)
            .bind(new.event)
            .bind(new.body)
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await?;
        }
        insert_sets(&mut tx, sets, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn create_webhook(
        &self,
        actor: &Actor,
        new: NewWebhook,
        now: Timestamp,
    ) -> StoreResult<Webhook> {
        let events = serde_json::to_string(&new.events).map_err(corrupt)?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO webhooks (id, url, events, secret_salt, description, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(new.id.clone())
        .bind(new.url.clone())
        .bind(events)
        .bind(new.secret_salt)
        .bind(new.description.clone())
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?;
        let event = NewEvent::new(EventKind::WebhookAdded, actor.clone())
            .target("webhook", new.id.clone())
            .detail("url", new.url.clone())
            .detail("events", new.events.join(","));
        self.audit_in_tx(&mut tx, vec![event], now).await?;
        tx.commit().await?;
        Ok(Webhook {
            id: new.id,
            url: new.url,
            events: new.events,
            description: new.description,
            created_at: now,
        })
    }

    async fn list_webhooks(&self) -> StoreResult<Vec<Webhook>> {
        let rows = sqlx::query(
            "SELECT id, url, events, description, created_at FROM webhooks ORDER BY created_at, id",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(webhook).collect()
    }

    async fn delete_webhook(
        &self,
        actor: &Actor,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<Webhook> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT id, url, events, description, created_at FROM webhooks WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::Domain(DomainError::UnknownWebhook(id.to_string())))?;
        let found = webhook(&row)?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let event = NewEvent::new(EventKind::WebhookRemoved, actor.clone())
            .target("webhook", found.id.clone())
            .detail("url", found.url.clone());
        self.audit_in_tx(&mut tx, vec![event], now).await?;
        tx.commit().await?;
        Ok(found)
    }

    async fn webhook_deliveries(
        &self,
        webhook: Option<&str>,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        let mut clauses = Vec::new();
        let mut binds = Vec::new();
        if let Some(webhook) = webhook {
            binds.push(webhook.to_string());
            clauses.push(format!("d.webhook_id = ${}", binds.len()));
        }
        if let Some(status) = status {
            binds.push(status.as_str().to_string());
            clauses.push(format!("d.status = ${}", binds.len()));
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d{filter} \
             ORDER BY d.created_at DESC, d.event_sequence DESC LIMIT {}",
            limit.clamp(1, 1000)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for bind in binds {
            query = query.bind(bind);
        }
        let rows = query.fetch_all(&self.reader).await?;
        rows.iter().map(delivery).collect()
    }

    async fn claim_webhook_deliveries(
        &self,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        // Most rounds find nothing due: look on the reader before taking the writer.
        let due = sqlx::query(
            "SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
             AND lease_until <= $1 LIMIT 1",
        )
        .bind(now.as_millis())
        .fetch_optional(&self.reader)
        .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS}, d.body FROM webhook_deliveries d \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND d.lease_until <= $1 \
             ORDER BY d.next_attempt_at, d.event_sequence LIMIT {}{}",
            limit.clamp(1, 100),
            skip_locked(self.dialect)
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(now.as_millis())
            .fetch_all(&mut *tx)
            .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let found = delivery(row)?;
            let body: String = row.try_get("body")?;
            let hook = sqlx::query("SELECT url, secret_salt FROM webhooks WHERE id = $1")
                .bind(found.webhook_id.clone())
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query("UPDATE webhook_deliveries SET lease_until = $1 WHERE id = $2")
                .bind(now.as_millis().saturating_add(lease_ms))
                .bind(found.id.clone())
                .execute(&mut *tx)
                .await?;
            claimed.push(ClaimedDelivery {
                url: hook.try_get("url")?,
                secret_salt: hook.try_get("secret_salt")?,
                body,
                delivery: found,
            });
        }
        tx.commit().await?;
        Ok(claimed)
    }

    async fn finish_webhook_delivery(
        &self,
        id: &str,
        outcome: AttemptOutcome,
        now: Timestamp,
    ) -> StoreResult<()> {
        let (status, last_status, error, at) = outcome_columns(&outcome, now);
        let delivered_at = (status == "delivered").then_some(now.as_millis());
        let next = if status == "pending" {
            at
        } else {
            now.as_millis()
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, last_status = $2, \
             last_error = $3, next_attempt_at = $4, lease_until = 0, delivered_at = $5 WHERE id = $6",
        )
        .bind(status)
        .bind(last_status)
        .bind(error)
        .bind(next)
        .bind(delivered_at)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn redeliver_webhook(&self, id: &str, now: Timestamp) -> StoreResult<WebhookDelivery> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, \
             lease_until = 0, delivered_at = NULL WHERE id = $2",
        )
        .bind(now.as_millis())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated != 1 {
            return Err(StoreError::Domain(DomainError::UnknownDelivery(
                id.to_string(),
            )));
        }
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.id = $1"
        )))
        .bind(id.to_string())
        .fetch_one(&mut *tx)
        .await?;
        let found = delivery(&row)?;
        tx.commit().await?;
        Ok(found)
    }

    async fn create_ssf_receiver(
        &self,
        actor: &Actor,
        id: &str,
        name: &str,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<SsfReceiver> {
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO ssf_receivers (id, name, token_hash, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(id.to_string())
        .bind(name.to_string())
        .bind(token_hash.to_string())
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted != 1 {
            return Err(StoreError::Domain(DomainError::DuplicateReceiver(
                name.to_string(),
            )));
        }
        let event = NewEvent::new(EventKind::SsfReceiverAdded, actor.clone()).target_named(
            "ssf_receiver",
            id.to_string(),
            name.to_string(),
        );
        self.audit_in_tx(&mut tx, vec![event], now).await?;
        tx.commit().await?;
        Ok(SsfReceiver {
            id: id.to_string(),
            name: name.to_string(),
            created_at: now,
        })
    }

    async fn list_ssf_receivers(&self) -> StoreResult<Vec<SsfReceiver>> {
        let rows = sqlx::query("SELECT id, name, created_at FROM ssf_receivers ORDER BY name")
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(receiver).collect()
    }

    async fn delete_ssf_receiver(
        &self,
        actor: &Actor,
        name: &str,
        now: Timestamp,
    ) -> StoreResult<SsfReceiver> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT id, name, created_at FROM ssf_receivers WHERE name = $1")
            .bind(name.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::Domain(DomainError::UnknownReceiver(name.to_string())))?;
        let found = receiver(&row)?;
        for sql in [
            "DELETE FROM ssf_events WHERE stream_id IN (SELECT id FROM ssf_streams WHERE receiver_id = $1)",
            "DELETE FROM ssf_excluded_subjects WHERE stream_id IN (SELECT id FROM ssf_streams WHERE receiver_id = $1)",
            "DELETE FROM ssf_streams WHERE receiver_id = $1",
            "DELETE FROM ssf_receivers WHERE id = $1",
        ] {
            sqlx::query(sql)
                .bind(found.id.clone())
                .execute(&mut *tx)
                .await?;
        }
        let event = NewEvent::new(EventKind::SsfReceiverRemoved, actor.clone()).target_named(
            "ssf_receiver",
            found.id.clone(),
            found.name.clone(),
        );
        self.audit_in_tx(&mut tx, vec![event], now).await?;
        tx.commit().await?;
        Ok(found)
    }

    async fn ssf_receiver_by_token(&self, token_hash: &str) -> StoreResult<Option<SsfReceiver>> {
        let row =
            sqlx::query("SELECT id, name, created_at FROM ssf_receivers WHERE token_hash = $1")
                .bind(token_hash.to_string())
                .fetch_optional(&self.reader)
                .await?;
        row.as_ref().map(receiver).transpose()
    }

    async fn create_ssf_stream(&self, new: SsfStream) -> StoreResult<SsfStream> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO ssf_streams (id, receiver_id, config, push_authorization, status, reason, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(new.id.clone())
        .bind(new.receiver_id.clone())
        .bind(new.config.clone())
        .bind(new.push_authorization.clone())
        .bind(new.status.clone())
        .bind(new.reason.clone())
        .bind(new.created_at.as_millis())
        .bind(new.updated_at.as_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.get_ssf_stream(&new.id).await
    }

    async fn get_ssf_stream(&self, id: &str) -> StoreResult<SsfStream> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {STREAM_COLUMNS} FROM ssf_streams s JOIN ssf_receivers r ON r.id = s.receiver_id WHERE s.id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(&self.reader)
        .await?
        .ok_or_else(|| StoreError::Domain(DomainError::UnknownStream(id.to_string())))?;
        let mut found = stream(&row)?;
        self.excluded_subjects(&mut found).await?;
        Ok(found)
    }

    async fn list_ssf_streams(&self, receiver_id: Option<&str>) -> StoreResult<Vec<SsfStream>> {
        let base = format!(
            "SELECT {STREAM_COLUMNS} FROM ssf_streams s JOIN ssf_receivers r ON r.id = s.receiver_id"
        );
        let rows = match receiver_id {
            Some(receiver) => {
                sqlx::query(AssertSqlSafe(format!(
                    "{base} WHERE s.receiver_id = $1 ORDER BY s.created_at, s.id"
                )))
                .bind(receiver.to_string())
                .fetch_all(&self.reader)
                .await?
            }
            None => {
                sqlx::query(AssertSqlSafe(format!("{base} ORDER BY s.created_at, s.id")))
                    .fetch_all(&self.reader)
                    .await?
            }
        };
        let mut streams = rows.iter().map(stream).collect::<StoreResult<Vec<_>>>()?;
        for found in &mut streams {
            self.excluded_subjects(found).await?;
        }
        Ok(streams)
    }

    async fn update_ssf_stream(
        &self,
        id: &str,
        config: String,
        push_authorization: Option<Option<String>>,
        now: Timestamp,
    ) -> StoreResult<SsfStream> {
        let mut tx = self.begin_write().await?;
        let updated = match push_authorization {
            Some(header) => sqlx::query(
                "UPDATE ssf_streams SET config = $1, push_authorization = $2, updated_at = $3 WHERE id = $4",
            )
            .bind(config)
            .bind(header)
            .bind(now.as_millis())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?,
            None => sqlx::query("UPDATE ssf_streams SET config = $1, updated_at = $2 WHERE id = $3")
                .bind(config)
                .bind(now.as_millis())
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?,
        }
        .rows_affected();
        if updated != 1 {
            return Err(StoreError::Domain(DomainError::UnknownStream(
                id.to_string(),
            )));
        }
        tx.commit().await?;
        self.get_ssf_stream(id).await
    }

    async fn set_ssf_stream_status(
        &self,
        id: &str,
        status: &str,
        reason: Option<String>,
        now: Timestamp,
    ) -> StoreResult<SsfStream> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE ssf_streams SET status = $1, reason = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(status.to_string())
        .bind(reason)
        .bind(now.as_millis())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated != 1 {
            return Err(StoreError::Domain(DomainError::UnknownStream(
                id.to_string(),
            )));
        }
        tx.commit().await?;
        self.get_ssf_stream(id).await
    }

    async fn delete_ssf_stream(&self, id: &str) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        for sql in [
            "DELETE FROM ssf_events WHERE stream_id = $1",
            "DELETE FROM ssf_excluded_subjects WHERE stream_id = $1",
        ] {
            sqlx::query(sql)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        let deleted = sqlx::query("DELETE FROM ssf_streams WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted != 1 {
            return Err(StoreError::Domain(DomainError::UnknownStream(
                id.to_string(),
            )));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn set_ssf_subject(&self, stream_id: &str, key: &str, excluded: bool) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let sql = if excluded {
            "INSERT INTO ssf_excluded_subjects (stream_id, subject) VALUES ($1, $2) \
             ON CONFLICT (stream_id, subject) DO NOTHING"
        } else {
            "DELETE FROM ssf_excluded_subjects WHERE stream_id = $1 AND subject = $2"
        };
        sqlx::query(sql)
            .bind(stream_id.to_string())
            .bind(key.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn enqueue_sets(&self, sets: Vec<NewSetEvent>, now: Timestamp) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_sets(&mut tx, sets, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn poll_sets(
        &self,
        stream_id: &str,
        ack: &[String],
        limit: u32,
    ) -> StoreResult<(Vec<QueuedSet>, bool)> {
        let mut tx = self.begin_write().await?;
        for jti in ack {
            sqlx::query(
                "UPDATE ssf_events SET status = 'delivered' WHERE jti = $1 AND stream_id = $2",
            )
            .bind(jti.clone())
            .bind(stream_id.to_string())
            .execute(&mut *tx)
            .await?;
        }
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT jti, stream_id, claims, attempts FROM ssf_events \
             WHERE stream_id = $1 AND status = 'pending' ORDER BY created_at, jti LIMIT {}",
            u64::from(limit) + 1
        )))
        .bind(stream_id.to_string())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut sets = rows.iter().map(queued).collect::<StoreResult<Vec<_>>>()?;
        let more = sets.len() > limit as usize;
        sets.truncate(limit as usize);
        Ok((sets, more))
    }

    async fn claim_set_pushes(
        &self,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<QueuedSet>> {
        let due = sqlx::query(
            "SELECT jti FROM ssf_events WHERE status = 'pending' AND next_attempt_at <= $1 \
             AND lease_until <= $1 AND stream_id IN \
             (SELECT id FROM ssf_streams WHERE status = 'enabled' AND config LIKE $2) LIMIT 1",
        )
        .bind(now.as_millis())
        .bind("%\"urn:ietf:rfc:8935\"%".to_string())
        .fetch_optional(&self.reader)
        .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "SELECT e.jti, e.stream_id, e.claims, e.attempts FROM ssf_events e \
             WHERE e.status = 'pending' AND e.next_attempt_at <= $1 AND e.lease_until <= $1 \
             AND e.stream_id IN (SELECT id FROM ssf_streams WHERE status = 'enabled' AND config LIKE $2) \
             ORDER BY e.next_attempt_at, e.created_at LIMIT {}{}",
            limit.clamp(1, 100),
            skip_locked(self.dialect)
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(now.as_millis())
            .bind("%\"urn:ietf:rfc:8935\"%".to_string())
            .fetch_all(&mut *tx)
            .await?;
        let sets = rows.iter().map(queued).collect::<StoreResult<Vec<_>>>()?;
        for set in &sets {
            sqlx::query("UPDATE ssf_events SET lease_until = $1 WHERE jti = $2")
                .bind(now.as_millis().saturating_add(lease_ms))
                .bind(set.jti.clone())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(sets)
    }

    async fn finish_set_push(
        &self,
        jti: &str,
        outcome: AttemptOutcome,
        now: Timestamp,
    ) -> StoreResult<()> {
        let (status, _, error, at) = outcome_columns(&outcome, now);
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE ssf_events SET status = $1, attempts = attempts + 1, last_error = $2, \
             next_attempt_at = $3, lease_until = 0 WHERE jti = $4",
        )
        .bind(status)
        .bind(error)
        .bind(at)
        .bind(jti.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn insert_sets(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    sets: Vec<NewSetEvent>,
    now: Timestamp,
) -> StoreResult<()> {
    for set in sets {
        sqlx::query(
            "INSERT INTO ssf_events (jti, stream_id, claims, status, attempts, next_attempt_at, \
             lease_until, created_at) VALUES ($1, $2, $3, 'pending', 0, $4, 0, $4) \
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(set.jti)
        .bind(set.stream_id)
        .bind(set.claims)
        .bind(now.as_millis())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
