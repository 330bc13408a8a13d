//! Leaked secrets: what a reported secret is, and switching it off.
//!
//! A report carries the secret or only its leak fingerprint (`sha256:…`, as `warden scan`
//! prints it). Matching, in order:
//! - a Warden client secret, by the keyed hash it is stored under (needs the secret);
//! - a credential of an imported identity, by its id (an AWS access key id is both what
//!   leaks and what the credential report names) or by a fingerprint recorded at import;
//! - an upstream's secret, by the keyed hash of its leak fingerprint kept beside the sealed
//!   value (so a fingerprint alone is enough, and nothing sealed is opened);
//! - otherwise unknown.
//!
//! Switching off, when the report asks for it or `[leaks] auto_revoke` is set: a client
//! secret is revoked, and the revocation state refreshed before the answer, so the
//! credential, every token issued with it and every token exchanged from those are refused
//! from then on, on this node at once and on the others within their next reload. An
//! imported identity is suspended in Warden, since only its source can switch its key off;
//! the finding names the command. An upstream's secret is left in use: stopping Warden's
//! own use of it would cut off every agent and not hinder whoever holds the copy, so the
//! finding names the rotation instead.
//!
//! The secret is hashed and dropped; it is never stored, logged or returned, and neither is
//! a bare fingerprint (the report is keyed by a keyed hash of it).

use warden_core::{IdentityRef, Timestamp};
use warden_crypto::{Pepper, Secret};
use warden_scan::Fingerprint;
use warden_store::leaks::{
    LeakLocation, LeakMatch, LeakReport, LeakResponse, LeakSubject, NewLeakReport,
};
use warden_store::{CredentialStatus, StoreResult};

use crate::error::ApiError;
use crate::oauth::client_secret_hash;
use crate::state::AppState;

/// The domain of the keyed hash that keys a leak report.
const REPORT_DOMAIN: &str = "warden.leak-report.v1";
/// The domain of the keyed hash kept beside an upstream's sealed secret.
const UPSTREAM_SECRET_DOMAIN: &str = "warden.upstream-secret.leak-fingerprint.v1";

/// The keyed hash (hex) of a secret's leak fingerprint, as stored beside an upstream's
/// sealed secret.
pub fn upstream_secret_fingerprint(pepper: &Pepper, secret: &[u8]) -> String {
    keyed(pepper, UPSTREAM_SECRET_DOMAIN, &Fingerprint::of(secret))
}

fn keyed(pepper: &Pepper, domain: &str, fingerprint: &Fingerprint) -> String {
    pepper
        .hash(domain, fingerprint.as_str().as_bytes())
        .to_hex()
}

/// A report, checked.
pub struct Reported {
    /// The secret itself, when the reporter sent it.
    pub secret: Option<Secret>,
    pub fingerprint: Fingerprint,
    pub secret_kind: Option<String>,
    pub location: LeakLocation,
    pub revoke: bool,
}

/// What reporting did.
#[derive(Debug)]
pub struct Handled {
    pub report: LeakReport,
    pub first_report: bool,
    /// The credential was revoked, or the identity suspended, by this report.
    pub switched_off: bool,
}

/// What the secret is.
pub async fn identify(state: &AppState, reported: &Reported) -> StoreResult<LeakSubject> {
    let store = &*state.store;
    if let Some(secret) = &reported.secret {
        let hash = client_secret_hash(&state.pepper, secret);
        if let Some(credential) = store.credential_by_secret_hash(&hash).await? {
            let identity = match IdentityRef::parse(&credential.identity_id) {
                Ok(reference) => store.get_identity(&reference).await.ok(),
                Err(_) => None,
            };
            return Ok(LeakSubject {
                matched: LeakMatch::ClientSecret,
                subject_id: Some(credential.identity_id.clone()),
                identity_kind: identity.as_ref().map(|i| i.kind.as_str().to_string()),
                identity_name: identity.as_ref().map(|i| i.name.clone()),
                owner_id: identity.as_ref().map(|i| i.owner_id.to_string()),
                credential_id: Some(credential.id),
                secret_version: None,
            });
        }
    }
    let mut holders = Vec::new();
    if let Some(secret) = &reported.secret {
        holders = store.leaked_credential_holders(secret.expose()).await?;
    }
    if holders.is_empty() {
        holders = store
            .leaked_credential_holders(reported.fingerprint.as_str())
            .await?;
    }
    // Of several holders (a shared key), the one still using it speaks for the leak.
    holders.sort_by_key(|holder| !(holder.active && holder.presence == "present"));
    if let Some(holder) = holders.into_iter().next() {
        return Ok(LeakSubject {
            matched: LeakMatch::ImportedCredential,
            subject_id: Some(holder.identity_id),
            identity_kind: Some(holder.kind),
            identity_name: Some(holder.name),
            owner_id: holder.owner_id,
            credential_id: Some(holder.credential_id),
            secret_version: None,
        });
    }
    let upstream_hash = keyed(&state.pepper, UPSTREAM_SECRET_DOMAIN, &reported.fingerprint);
    if let Some((name, version)) = store.upstream_by_leak_fingerprint(&upstream_hash).await? {
        return Ok(LeakSubject {
            matched: LeakMatch::UpstreamSecret,
            subject_id: Some(format!("upstream:{name}")),
            identity_kind: Some("upstream".into()),
            identity_name: Some(name.clone()),
            owner_id: None,
            credential_id: Some(format!("upstream:{name}:v{version}")),
            secret_version: Some(version),
        });
    }
    Ok(LeakSubject::unknown())
}

/// Records the report, switches the secret off when asked, and re-evaluates the leak
/// findings. Reporting the same secret again changes nothing but the count and places.
pub async fn handle(state: &AppState, reported: Reported) -> Result<Handled, ApiError> {
    let now = state.clock.now();
    let subject = identify(state, &reported).await?;
    let recorded = state
        .store
        .record_leak(
            &state.actor,
            NewLeakReport {
                fingerprint_hash: keyed(&state.pepper, REPORT_DOMAIN, &reported.fingerprint),
                secret_kind: reported.secret_kind.clone(),
                subject,
                location: reported.location.clone(),
            },
            now,
        )
        .await?;
    drop(reported.secret);
    let mut report = recorded.report;
    // The finding opens first, so a secret switched off below leaves a resolved finding
    // with its evidence rather than none.
    evaluate_findings(state, now).await;
    let mut switched_off = false;
    if (reported.revoke || state.leaks_auto_revoke)
        && report.response == LeakResponse::None
        && let Some(response) = switch_off(state, &report, now).await?
    {
        report = state
            .store
            .respond_to_leak(&state.actor, &report.id, response, now)
            .await?;
        switched_off = true;
        evaluate_findings(state, now).await;
    }
    metrics::counter!("warden_leaks_reported_total", "matched" => report.subject.matched.as_str())
        .increment(1);
    tracing::warn!(
        leak = %report.id,
        matched = %report.subject.matched.as_str(),
        subject = %report.subject.subject_id.as_deref().unwrap_or(""),
        switched_off,
        "leaked secret reported"
    );
    Ok(Handled {
        report,
        first_report: recorded.new,
        switched_off,
    })
}

/// A failed evaluation does not fail the report: the next one (on the timer) catches up.
async fn evaluate_findings(state: &AppState, now: Timestamp) {
    if let Err(error) = state.posture.evaluate_leaks(&*state.store, now).await {
        tracing::warn!(%error, "the evaluation of leak findings failed");
    }
}

/// Does what Warden can to stop the leaked credential; the response to record, if any.
async fn switch_off(
    state: &AppState,
    report: &LeakReport,
    now: Timestamp,
) -> Result<Option<LeakResponse>, ApiError> {
    match report.subject.matched {
        LeakMatch::ClientSecret => {
            let Some(id) = &report.subject.credential_id else {
                return Ok(None);
            };
            let credential = state.store.get_credential(id).await?;
            if credential.status == CredentialStatus::Revoked {
                return Ok(None);
            }
            state.store.revoke_credential(&state.actor, id, now).await?;
            state.credentials.refresh(&*state.store, now).await?;
            metrics::counter!("warden_revocations_total", "scope" => "leak").increment(1);
            Ok(Some(LeakResponse::Revoked))
        }
        LeakMatch::ImportedCredential => Ok(Some(LeakResponse::Suspended)),
        LeakMatch::UpstreamSecret | LeakMatch::Unknown => Ok(None),
    }
}

/// Records the leak fingerprint of every upstream secret set before fingerprints were
/// kept, opening each sealed secret once. Run at start; a secret that does not open is
/// logged and left for the gateway to report.
pub async fn backfill_upstream_fingerprints(state: &AppState) -> anyhow::Result<usize> {
    let mut filled = 0;
    for name in state.store.upstreams_missing_leak_fingerprint().await? {
        let upstream = state.store.get_upstream(&name).await?;
        let Some(sealed) = state.store.upstream_secret(&name).await? else {
            continue;
        };
        let version = u64::try_from(sealed.version).unwrap_or_default();
        let associated = warden_crypto::seal::associated_data(&upstream.id.to_string(), version);
        let plain = match warden_crypto::seal::open(&state.data_key, &sealed.bytes, &associated) {
            Ok(plain) => plain,
            Err(error) => {
                tracing::warn!(upstream = %name, %error, "an upstream secret does not open; its leak fingerprint is not recorded");
                continue;
            }
        };
        let hash = upstream_secret_fingerprint(&state.pepper, &plain);
        if state
            .store
            .set_upstream_leak_fingerprint(&name, sealed.version, &hash)
            .await?
        {
            filled += 1;
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upstream_fingerprint_is_keyed_and_agrees_with_a_fingerprint_alone() {
        let pepper = Pepper::from_bytes([7; 32]);
        let other = Pepper::from_bytes([8; 32]);
        let from_secret = upstream_secret_fingerprint(&pepper, b"sk_live_abc");
        let from_fingerprint = keyed(
            &pepper,
            UPSTREAM_SECRET_DOMAIN,
            &Fingerprint::of(b"sk_live_abc"),
        );
        assert_eq!(from_secret, from_fingerprint);
        assert_ne!(
            from_secret,
            upstream_secret_fingerprint(&other, b"sk_live_abc")
        );
        assert!(!from_secret.contains("sk_live"));
        assert_ne!(
            keyed(&pepper, REPORT_DOMAIN, &Fingerprint::of(b"sk_live_abc")),
            from_secret,
            "a report key and an upstream fingerprint of one secret are unrelated"
        );
    }
}
