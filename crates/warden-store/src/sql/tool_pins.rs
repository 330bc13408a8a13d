//! SQL for pinned MCP tool definitions (see `crate::tool_pins`).

use crate::feed::Topic;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};
use warden_audit::{Actor, EventKind, NewEvent};
use warden_core::{DomainError, Timestamp};

use super::SqlStore;
use crate::error::{StoreError, StoreResult};
use crate::tool_pins::{PinState, ToolPin};

const COLUMNS: &str = "u.name AS upstream, p.tool, p.accepted_digest, p.seen_digest, p.state, \
     p.first_seen_at, p.changed_at, p.accepted_at, p.accepted_by";

fn pin(row: &AnyRow) -> StoreResult<ToolPin> {
    let state: String = row.try_get("state")?;
    let state = match state.as_str() {
        "accepted" => PinState::Accepted,
        "changed" => PinState::Changed,
        other => return Err(StoreError::Corrupt(format!("tool pin state {other:?}"))),
    };
    let changed_at: Option<i64> = row.try_get("changed_at")?;
    Ok(ToolPin {
        upstream: row.try_get("upstream")?,
        tool: row.try_get("tool")?,
        accepted_digest: row.try_get("accepted_digest")?,
        seen_digest: row.try_get("seen_digest")?,
        state,
        first_seen_at: Timestamp::from_millis(row.try_get("first_seen_at")?),
        changed_at: changed_at.map(Timestamp::from_millis),
        accepted_at: Timestamp::from_millis(row.try_get("accepted_at")?),
        accepted_by: row.try_get("accepted_by")?,
    })
}

/// Every pin, or one upstream's, by upstream and tool.
pub(super) async fn list(pool: &AnyPool, upstream: Option<&str>) -> StoreResult<Vec<ToolPin>> {
    let rows =
        match upstream {
            Some(name) => sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM mcp_tool_pins p JOIN upstreams u ON u.id = p.upstream_id \
                 WHERE u.name = $1 ORDER BY u.name, p.tool"
            )))
            .bind(name.to_string())
            .fetch_all(pool)
            .await?,
            None => sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM mcp_tool_pins p JOIN upstreams u ON u.id = p.upstream_id \
                 ORDER BY u.name, p.tool"
            )))
            .fetch_all(pool)
            .await?,
        };
    rows.iter().map(pin).collect()
}

async fn upstream_id(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    name: &str,
) -> StoreResult<String> {
    let row = sqlx::query("SELECT id FROM upstreams WHERE name = $1")
        .bind(name.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| DomainError::UnknownUpstream(name.to_string()))?;
    Ok(row.try_get("id")?)
}

/// Records the definitions seen in one `tools/list` answer: new tools are pinned as they
/// are, a tool whose definition differs from its accepted one is marked changed (audited
/// once per new definition), one that is back to its accepted definition is accepted again.
/// Returns the pins that changed state.
pub(super) async fn observe(
    store: &SqlStore,
    upstream: &str,
    seen: &[(String, String)],
    now: Timestamp,
) -> StoreResult<Vec<ToolPin>> {
    let mut tx = store.begin_write().await?;
    let id = upstream_id(&mut tx, upstream).await?;
    let mut events = Vec::new();
    let mut moved = Vec::new();
    for (tool, digest) in seen {
        let current = sqlx::query(
            "SELECT accepted_digest, seen_digest, state FROM mcp_tool_pins WHERE upstream_id = $1 AND tool = $2",
        )
        .bind(id.clone())
        .bind(tool.clone())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(current) = current else {
            sqlx::query(
                "INSERT INTO mcp_tool_pins (upstream_id, tool, accepted_digest, seen_digest, state, first_seen_at, changed_at, accepted_at, accepted_by) \
                 VALUES ($1, $2, $3, $3, 'accepted', $4, NULL, $4, NULL)",
            )
            .bind(id.clone())
            .bind(tool.clone())
            .bind(digest.clone())
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await?;
            continue;
        };
        let accepted: String = current.try_get("accepted_digest")?;
        let last_seen: String = current.try_get("seen_digest")?;
        let state: String = current.try_get("state")?;
        if *digest == accepted {
            if state != "accepted" {
                sqlx::query(
                    "UPDATE mcp_tool_pins SET seen_digest = $1, state = 'accepted' WHERE upstream_id = $2 AND tool = $3",
                )
                .bind(digest.clone())
                .bind(id.clone())
                .bind(tool.clone())
                .execute(&mut *tx)
                .await?;
                moved.push(tool.clone());
            }
            continue;
        }
        if *digest == last_seen && state == "changed" {
            continue;
        }
        sqlx::query(
            "UPDATE mcp_tool_pins SET seen_digest = $1, state = 'changed', changed_at = $2 WHERE upstream_id = $3 AND tool = $4",
        )
        .bind(digest.clone())
        .bind(now.as_millis())
        .bind(id.clone())
        .bind(tool.clone())
        .execute(&mut *tx)
        .await?;
        moved.push(tool.clone());
        events.push(
            NewEvent::new(EventKind::McpToolChanged, Actor::system("gateway"))
                .upstream(upstream)
                .resource(format!("Tool::\"{upstream}/{tool}\""))
                .detail("tool", tool.clone())
                .detail("accepted_digest", accepted)
                .detail("seen_digest", digest.clone()),
        );
    }
    store.audit_in_tx(&mut tx, events, now).await?;
    store.commit(tx, &[Topic::ToolPins]).await?;
    let pins = list(&store.reader, Some(upstream)).await?;
    Ok(pins
        .into_iter()
        .filter(|pin| moved.contains(&pin.tool))
        .collect())
}

/// Accepts the definition last seen of `tool` on `upstream`.
pub(super) async fn accept(
    store: &SqlStore,
    actor: &Actor,
    upstream: &str,
    tool: &str,
    now: Timestamp,
) -> StoreResult<ToolPin> {
    let mut tx = store.begin_write().await?;
    let id = upstream_id(&mut tx, upstream).await?;
    let current = sqlx::query(
        "SELECT accepted_digest, seen_digest FROM mcp_tool_pins WHERE upstream_id = $1 AND tool = $2",
    )
    .bind(id.clone())
    .bind(tool.to_string())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| DomainError::UnknownTool {
        upstream: upstream.to_string(),
        tool: tool.to_string(),
    })?;
    let accepted: String = current.try_get("accepted_digest")?;
    let seen: String = current.try_get("seen_digest")?;
    let by = actor_text(actor);
    sqlx::query(
        "UPDATE mcp_tool_pins SET accepted_digest = seen_digest, state = 'accepted', accepted_at = $1, accepted_by = $2 \
         WHERE upstream_id = $3 AND tool = $4",
    )
    .bind(now.as_millis())
    .bind(by)
    .bind(id)
    .bind(tool.to_string())
    .execute(&mut *tx)
    .await?;
    let event = NewEvent::new(EventKind::McpToolAccepted, actor.clone())
        .upstream(upstream)
        .resource(format!("Tool::\"{upstream}/{tool}\""))
        .detail("tool", tool.to_string())
        .detail("previous_digest", accepted)
        .detail("accepted_digest", seen);
    store.audit_in_tx(&mut tx, vec![event], now).await?;
    store.commit(tx, &[Topic::ToolPins]).await?;
    list(&store.reader, Some(upstream))
        .await?
        .into_iter()
        .find(|pin| pin.tool == tool)
        .ok_or_else(|| StoreError::Corrupt("an accepted tool pin vanished".into()))
}

fn actor_text(actor: &Actor) -> String {
    match actor {
        Actor::Admin { name, .. } | Actor::Agent { name, .. } => name.clone(),
        Actor::System { component } => component.clone(),
    }
}
