//! What every request handler shares: the store, the clock, the keys.

use std::sync::Arc;

use warden_core::Clock;
use warden_crypto::{KeyedHash, Pepper};
use warden_store::Store;

#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub pepper: Pepper,
    pub admin_token_hash: KeyedHash,
}
