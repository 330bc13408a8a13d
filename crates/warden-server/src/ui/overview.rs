//! `/ui`: the overview. Open findings by OWASP NHI risk and severity, the pending approval
//! count, the latest kills and whether the audit chain verifies, each from the API's own
//! handler for it, each linking to the page that shows it whole.

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::response::Response;

use super::guard::{Everyone, SignedIn};
use super::view::{Chain, EventRow};
use super::{Chrome, query, render};
use crate::api::{approvals, audit, findings};
use crate::error::ApiError;
use crate::state::AppState;

/// The most pending approvals counted one by one; more reads as "500 or more".
const PENDING_COUNTED: usize = 500;
const RECENT_KILLS: &str = "10";

#[derive(Template)]
#[template(path = "ui/overview.html")]
struct OverviewPage {
    chrome: Chrome,
    open_total: u64,
    open_critical: u64,
    open_high: u64,
    open_medium: u64,
    open_low: u64,
    suppressed: u64,
    by_owasp: Vec<OwaspRow>,
    pending: String,
    kills: Vec<EventRow>,
    chain: Chain,
}

struct OwaspRow {
    owasp: String,
    critical: u64,
    high: u64,
    medium: u64,
    low: u64,
    total: u64,
}

pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn<Everyone>,
) -> Result<Response, ApiError> {
    // The overview is the whole estate's; an owner starts from their approvals.
    if signed_in.session.owner_email().is_some() {
        return Ok(super::see_other("/ui/approvals"));
    }
    let Json(posture) = findings::posture(State(state.clone())).await?;
    let Json(pending) = approvals::list_approvals(
        State(state.clone()),
        query(&[("status", "pending"), ("limit", "500")]),
    )
    .await?;
    let pending = if pending.next_cursor.is_some() || pending.items.len() > PENDING_COUNTED {
        format!("{PENDING_COUNTED} or more")
    } else {
        pending.items.len().to_string()
    };
    let Json(kills) = audit::list_events(
        State(state.clone()),
        query(&[
            ("kind", "kill.applied"),
            ("newest", "true"),
            ("limit", RECENT_KILLS),
        ]),
    )
    .await?;
    let mut kills: Vec<EventRow> = kills.items.iter().map(EventRow::from_json).collect();
    kills.reverse();
    let Json(verification) = audit::verify(State(state.clone())).await?;
    let chain = Chain::of(&verification);
    render(&OverviewPage {
        chrome: Chrome::new(&signed_in, "overview"),
        open_total: posture.open.total,
        open_critical: posture.open.critical,
        open_high: posture.open.high,
        open_medium: posture.open.medium,
        open_low: posture.open.low,
        suppressed: posture.suppressed,
        by_owasp: posture
            .by_owasp
            .iter()
            .map(|row| OwaspRow {
                owasp: row.owasp.clone(),
                critical: row.counts.critical,
                high: row.counts.high,
                medium: row.counts.medium,
                low: row.counts.low,
                total: row.counts.total,
            })
            .collect(),
        pending,
        kills,
        chain,
    })
}
