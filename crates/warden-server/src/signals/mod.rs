//! Signals wiring: the loop each node runs to fan new audit records out to webhooks and
//! Shared Signals streams, and to attempt the deliveries that are due. What a record becomes
//! is `warden-signals`'; what is stored and who claims it, `warden-store`'s; this module
//! does the I/O between them.

pub mod deliver;
pub mod fan_out;

use std::sync::Arc;
use std::time::Duration;

use warden_crypto::Pepper;
use warden_signals::retry::RetrySchedule;

use crate::config::SignalsConfig;
use crate::state::AppState;

/// Domain label for deriving a webhook's signing secret from its salt.
pub const WEBHOOK_SECRET_DOMAIN: &str = "warden.webhook.secret";
/// Domain label for hashing Shared Signals receiver tokens.
pub const RECEIVER_TOKEN_DOMAIN: &str = "warden.ssf.receiver";

/// How this node runs signals.
#[derive(Debug, Clone)]
pub struct SignalSettings {
    pub schedule: RetrySchedule,
    pub interval: Duration,
    /// The issuer of SETs (the token issuer) and the base of every URL handed out.
    pub issuer: String,
    /// An HTTP client that follows no redirects and ignores proxy variables.
    pub client: reqwest::Client,
}

impl SignalSettings {
    pub fn resolve(config: &SignalsConfig, issuer: &str) -> anyhow::Result<Self> {
        let defaults = RetrySchedule::default();
        let schedule = RetrySchedule {
            base: config
                .retry_base_millis
                .map_or(defaults.base, Duration::from_millis),
            cap: config
                .retry_cap_millis
                .map_or(defaults.cap, Duration::from_millis),
            max_attempts: config.max_attempts.unwrap_or(defaults.max_attempts).max(1),
        };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            schedule,
            interval: Duration::from_millis(config.interval_millis.unwrap_or(250).max(10)),
            issuer: issuer.trim_end_matches('/').to_string(),
            client,
        })
    }
}

/// A webhook's signing secret: derived from its stored salt and the server pepper, so the
/// database alone does not hold it. The text (`whsec_` and 64 hex digits) is the HMAC key.
pub fn webhook_secret(pepper: &Pepper, salt: &str) -> String {
    format!(
        "whsec_{}",
        pepper.hash(WEBHOOK_SECRET_DOMAIN, salt.as_bytes()).to_hex()
    )
}

/// A random value in `0.0..1.0` for retry jitter.
fn jitter() -> f64 {
    let bytes: [u8; 4] = warden_crypto::random::random_bytes();
    f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
}

/// Runs fan-out and delivery until `stop` turns true.
pub async fn run(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let settings = Arc::clone(&state.signals);
    let mut ticker = tokio::time::interval(settings.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        if let Err(error) = fan_out::round(&state).await {
            tracing::warn!(%error, "signals: cannot fan new audit records out");
        }
        deliver::webhooks(&state).await;
        deliver::pushes(&state).await;
    }
}
