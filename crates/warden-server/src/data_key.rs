//! Rotating the data key: every value sealed under it (upstream secrets, token-signing
//! keys, held requests of open approvals) is opened with the old key and sealed again under a new one, in one database
//! transaction, and the key file is replaced.
//!
//! The rotation runs with every node stopped (each node holds the key in memory and a copy
//! of the key file). Its order keeps a crash from losing secrets: the new key is written to
//! `keys/data.key.next` and synced first; then the database switches to it in one
//! transaction; only then does the new file take the old one's place (which is kept as
//! `keys/data.key.previous`). A crash after the commit leaves the new key in
//! `data.key.next`, and the next start says so.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use warden_audit::Actor;
use warden_core::Timestamp;
use warden_crypto::seal::{self, DataKey};
use warden_store::{DATA_KEY_FINGERPRINT_SETTING, ResealedData, SealedSecret, Store};

use crate::bootstrap::DATA_KEY_FILE;

/// What a rotation did.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub old_fingerprint: String,
    pub new_fingerprint: String,
    pub upstream_secrets: usize,
    pub signing_keys: usize,
    pub approval_requests: usize,
}

/// Where a new data key waits until the database uses it.
pub fn next_key_path(keys_dir: &Path) -> PathBuf {
    keys_dir.join(format!("{DATA_KEY_FILE}.next"))
}

fn write_key_file(path: &Path, key: &DataKey) -> anyhow::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(key.expose_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// Re-seals everything under a fresh data key; `old` must be the key the database was
/// sealed with. Nothing in the database changes unless every value opened.
pub async fn rotate(
    store: &dyn Store,
    keys_dir: &Path,
    old: &DataKey,
    actor: &Actor,
    now: Timestamp,
) -> anyhow::Result<Rotation> {
    let old_fingerprint = old.fingerprint();
    let recorded = store
        .get_setting(DATA_KEY_FINGERPRINT_SETTING)
        .await?
        .unwrap_or_default();
    if recorded != old_fingerprint {
        bail!(
            "keys/data.key is not the key this database was sealed with (fingerprint {old_fingerprint}, database expects {recorded}); nothing was changed"
        );
    }
    let new = DataKey::generate();
    let new_fingerprint = new.fingerprint();

    let mut upstream_secrets = Vec::new();
    for upstream in store.list_upstreams().await? {
        let Some(sealed) = store.upstream_secret(&upstream.name).await? else {
            continue;
        };
        let version = u64::try_from(sealed.version).context("negative secret version")?;
        let associated = seal::associated_data(&upstream.id.to_string(), version);
        let plain = seal::open(old, &sealed.bytes, &associated).map_err(|error| {
            anyhow::anyhow!(
                "the secret of upstream `{}` does not open with the current data key ({error}); nothing was changed",
                upstream.name
            )
        })?;
        let bytes = seal::seal(&new, &plain, &associated)
            .map_err(|error| anyhow::anyhow!("sealing failed: {error}"))?;
        upstream_secrets.push((
            upstream.id,
            SealedSecret {
                bytes,
                version: sealed.version,
                // Keyed by the pepper, not the data key: the stored one stays true.
                leak_fingerprint: None,
            },
        ));
    }
    let signing_keys = store
        .signing_keys()
        .await?
        .iter()
        .map(|stored| warden_plane::tokens::reseal_signing_key(stored, old, &new))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| anyhow::anyhow!("{error}; nothing was changed"))?;

    let approval_requests = store
        .sealed_approval_requests()
        .await?
        .into_iter()
        .map(|sealed| {
            let associated = warden_proxy::held_view::associated_data(&sealed.approval_id);
            let plain = zeroize::Zeroizing::new(
                seal::open(old, &sealed.bytes, &associated).map_err(|error| {
                    anyhow::anyhow!(
                        "the held request of approval `{}` does not open with the current data key ({error}); nothing was changed",
                        sealed.approval_id
                    )
                })?,
            );
            let bytes = seal::seal(&new, &plain, &associated)
                .map_err(|error| anyhow::anyhow!("sealing failed: {error}"))?;
            Ok(warden_store::SealedRequest {
                approval_id: sealed.approval_id,
                bytes,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    // Shared Signals push authorization headers, sealed against their stream's id.
    let mut stream_authorizations = Vec::new();
    for stream in store.signals().list_ssf_streams(None).await? {
        let Some(sealed) = &stream.push_authorization else {
            continue;
        };
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD;
        let bytes = engine.decode(sealed).map_err(|error| {
            anyhow::anyhow!(
                "stream {} holds a malformed sealed header ({error}); nothing was changed",
                stream.id
            )
        })?;
        let plain = seal::open(old, &bytes, stream.id.as_bytes()).map_err(|error| {
            anyhow::anyhow!(
                "the push authorization of stream `{}` does not open with the current data key ({error}); nothing was changed",
                stream.id
            )
        })?;
        let resealed = seal::seal(&new, &plain, stream.id.as_bytes())
            .map_err(|error| anyhow::anyhow!("sealing failed: {error}"))?;
        stream_authorizations.push((stream.id.clone(), engine.encode(resealed)));
    }

    let next = next_key_path(keys_dir);
    write_key_file(&next, &new)?;
    let rotation = Rotation {
        old_fingerprint: old_fingerprint.clone(),
        new_fingerprint: new_fingerprint.clone(),
        upstream_secrets: upstream_secrets.len(),
        signing_keys: signing_keys.len(),
        approval_requests: approval_requests.len(),
    };
    let resealed = ResealedData {
        old_fingerprint,
        new_fingerprint,
        upstream_secrets,
        signing_keys,
        approval_requests,
        stream_authorizations,
    };
    if let Err(error) = store.reseal_data(actor, resealed, now).await {
        // The database still uses the old key; the new one must not be left to be mistaken
        // for it.
        let _ = fs::remove_file(&next);
        return Err(error.into());
    }
    let current = keys_dir.join(DATA_KEY_FILE);
    fs::rename(&current, keys_dir.join(format!("{DATA_KEY_FILE}.previous"))).with_context(
        || {
            format!(
                "the database now uses {}; move it to {} by hand",
                next.display(),
                current.display()
            )
        },
    )?;
    fs::rename(&next, &current).with_context(|| {
        format!(
            "the database now uses {}; move it to {} by hand",
            next.display(),
            current.display()
        )
    })?;
    Ok(rotation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = next_key_path(dir.path());
        write_key_file(&path, &DataKey::from_bytes([9; 32])).unwrap_or_else(|e| panic!("{e}"));
        let mode = fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            fs::read(&path).unwrap_or_else(|e| panic!("{e}")),
            vec![9; 32]
        );
    }
}
