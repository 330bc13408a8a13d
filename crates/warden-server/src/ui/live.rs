//! `/ui/approvals/live`: the approval queue's changes as they happen, for the queue page to
//! show without waiting for its next reload. A Server-Sent Events stream that says `ready`
//! once, then `changed` whenever the pending requests this person may see are no longer the
//! same ones: a request held on any node, or one decided or expired.
//!
//! The stream reads the queue through the API's own listing (an owner's filtered to their
//! agents), on every decision this node makes and at least every [`TICK`] otherwise, which
//! is how it hears of requests held by other nodes. It carries no request's content, only
//! how many are waiting, and ends as soon as the session it was opened with does. Watching
//! is not using: an open queue does not keep an idle session alive.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream};

use super::Sessions;
use super::guard::{self, Everyone, SignedIn};
use super::query;
use crate::api::approvals;
use crate::state::AppState;

/// The longest the stream goes without reading the queue.
pub const TICK: Duration = Duration::from_secs(1);
/// As many pending requests as the queue page shows.
const WATCHED: &str = "50";

/// What one stream knows between two looks at the queue.
struct Watch {
    state: AppState,
    sessions: Arc<Sessions>,
    cookie: String,
    owner: Option<String>,
    /// The pending ids last told, `None` before the first look.
    told: Option<Vec<String>>,
    /// Whether the queue has been looked at yet (the first look is at once).
    looked: bool,
}

impl Watch {
    /// The ids of the pending requests this person may see, or `None` when the queue
    /// cannot be read (the stream then says nothing until it can).
    async fn pending(&self) -> Option<Vec<String>> {
        let mut pairs = vec![("status", "pending"), ("limit", WATCHED)];
        if let Some(owner) = &self.owner {
            pairs.push(("owner", owner.as_str()));
        }
        match approvals::list_approvals(State(self.state.clone()), query(&pairs)).await {
            Ok(Json(page)) => Some(page.items.into_iter().map(|approval| approval.id).collect()),
            Err(error) => {
                tracing::warn!(%error, "the live approval queue cannot read the queue");
                None
            }
        }
    }

    fn session_alive(&self) -> bool {
        self.sessions.is_live(&self.cookie, self.state.clock.now())
    }
}

/// `GET /ui/approvals/live`.
pub async fn approvals(
    State(state): State<AppState>,
    signed_in: SignedIn<Everyone>,
    headers: HeaderMap,
    sessions: axum::Extension<Arc<Sessions>>,
) -> Response {
    // The extractor found the session by this cookie, so it is there.
    let Some(cookie) = guard::session_cookie(&headers).map(str::to_owned) else {
        return axum::http::StatusCode::UNAUTHORIZED.into_response();
    };
    let watch = Watch {
        state,
        sessions: Arc::clone(&sessions),
        cookie,
        owner: signed_in.session.owner_email().map(str::to_owned),
        told: None,
        looked: false,
    };
    Sse::new(changes(watch))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn changes(watch: Watch) -> impl Stream<Item = Result<Event, std::convert::Infallible>> {
    stream::unfold(watch, |mut watch| async move {
        loop {
            if watch.looked {
                // Woken by a decision on this node, or by the tick for everything else.
                let decided = watch.state.approvals_changed.notified();
                let _ = tokio::time::timeout(TICK, decided).await;
            }
            watch.looked = true;
            if !watch.session_alive() {
                return None;
            }
            let Some(pending) = watch.pending().await else {
                continue;
            };
            let name = match &watch.told {
                None => "ready",
                Some(told) if *told != pending => "changed",
                Some(_) => continue,
            };
            let event = Event::default().event(name).data(pending.len().to_string());
            watch.told = Some(pending);
            return Some((Ok(event), watch));
        }
    })
}
