//! First start and every start after: the data directory, the key files, the database,
//! and the admin token.
//!
//! The first start creates everything and hands back the admin token to show once. Later
//! starts reuse what is there and check that the keys on disk are the ones the database was
//! initialised with, so a node pointed at a shared PostgreSQL with the wrong keys refuses
//! to start instead of rejecting every token.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use warden_audit::AuditSigner;
use warden_crypto::{DataKey, KeyedHash, Pepper, Secret, SecretKind};
use warden_store::Store;

const PEPPER_FILE: &str = "pepper.key";
const AUDIT_KEY_FILE: &str = "audit.key";
pub const DATA_KEY_FILE: &str = "data.key";
const DATA_KEY_FINGERPRINT: &str = warden_store::DATA_KEY_FINGERPRINT_SETTING;
const NODE_NAME_FILE: &str = "node-name";
const AUDIT_KEY_ID: &str = "audit_key_id";
const ADMIN_TOKEN_HASH: &str = "admin_token_hash";
const PEPPER_FINGERPRINT: &str = "pepper_fingerprint";
/// The domain label under which the admin token is hashed.
pub const ADMIN_TOKEN_DOMAIN: &str = "warden.admin-token";
/// A chosen bootstrap token must carry at least this much text (the generated ones carry
/// 32 random bytes); short ones would be guessable.
const MIN_BOOTSTRAP_TOKEN_LEN: usize = 32;

/// Creates the data directory (owner-only) if it does not exist.
pub fn ensure_data_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        fs::create_dir_all(dir)
            .with_context(|| format!("cannot create data directory {}", dir.display()))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    let keys = dir.join("keys");
    if !keys.exists() {
        fs::create_dir_all(&keys).with_context(|| format!("cannot create {}", keys.display()))?;
        fs::set_permissions(&keys, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Reads a key file, or creates it with fresh random bytes, readable by the owner only.
fn load_or_create_key(path: &Path) -> anyhow::Result<[u8; 32]> {
    let bytes = load_or_create_file(path, || {
        Ok(warden_crypto::random::random_bytes::<32>().to_vec())
    })?;
    bytes.try_into().map_err(|bytes: Vec<u8>| {
        anyhow::anyhow!(
            "key file {} holds {} bytes, expected 32; restore it from backup",
            path.display(),
            bytes.len()
        )
    })
}

/// Reads a file, or creates it (readable by the owner only) with what `create` makes.
fn load_or_create_file(
    path: &Path,
    create: impl FnOnce() -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<Vec<u8>> {
    if path.exists() {
        let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mode = fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "key file is readable by others; chmod 600 it");
        }
        return Ok(bytes);
    }
    let content = create()?;
    // Write to a temporary name and rename, so a crash never leaves a half-written key.
    let temporary = path.with_extension("tmp");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("cannot create {}", temporary.display()))?;
    file.write_all(&content)?;
    file.sync_all()?;
    fs::rename(&temporary, path)?;
    Ok(content)
}

/// This node's name in audit records: made once per data directory.
pub fn node_name(data_dir: &Path) -> anyhow::Result<String> {
    let bytes = load_or_create_file(&data_dir.join(NODE_NAME_FILE), || {
        let suffix: String = warden_crypto::random::random_bytes::<4>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(format!("node-{suffix}").into_bytes())
    })?;
    let name = String::from_utf8(bytes).context("the node-name file is not text")?;
    Ok(name.trim().to_string())
}

/// The keys a node holds in its data directory.
pub struct Keys {
    pub pepper: Pepper,
    /// Signs the audit trail's checkpoints; a key of its own.
    pub audit: Arc<AuditSigner>,
    /// Seals secrets kept in the database (the token-signing keys).
    pub data: DataKey,
}

pub fn load_keys(data_dir: &Path) -> anyhow::Result<Keys> {
    let keys = data_dir.join("keys");
    let pepper = Pepper::from_bytes(load_or_create_key(&keys.join(PEPPER_FILE))?);
    let audit_path = keys.join(AUDIT_KEY_FILE);
    let audit_pkcs8 = load_or_create_file(&audit_path, || {
        let signer = AuditSigner::generate().context("cannot generate the audit key")?;
        Ok(signer
            .to_pkcs8()
            .context("cannot encode the audit key")?
            .to_vec())
    })?;
    let audit = AuditSigner::from_pkcs8(&audit_pkcs8).with_context(|| {
        format!(
            "{} is not a valid audit key; restore it from backup",
            audit_path.display()
        )
    })?;
    let data = DataKey::from_bytes(load_or_create_key(&keys.join(DATA_KEY_FILE))?);
    Ok(Keys {
        pepper,
        audit: Arc::new(audit),
        data,
    })
}

/// The outcome of bootstrapping the admin token.
pub struct AdminToken {
    pub hash: KeyedHash,
    /// The plaintext, present only on the start that created it.
    pub created: Option<Secret>,
}

/// Records the pepper's fingerprint on first start and checks it on every later one.
pub async fn check_key_fingerprint(store: &dyn Store, keys: &Keys) -> anyhow::Result<()> {
    let audit_key = keys.audit.key_id();
    let recorded_audit_key = store
        .put_setting_if_absent(AUDIT_KEY_ID, &audit_key)
        .await?;
    let data_key = keys.data.fingerprint();
    let recorded_data_key = store
        .put_setting_if_absent(DATA_KEY_FINGERPRINT, &data_key)
        .await?;
    if recorded_data_key != data_key {
        bail!(
            "keys/data.key is not the data key this database was initialised with (fingerprint \
             {data_key}, database expects {recorded_data_key}); every node sharing a database \
             needs the same keys: copy DATA_DIR/keys from the first node (after a data key \
             rotation, the node that rotated has the new key; one interrupted after its commit \
             left it in keys/data.key.next)"
        );
    }
    let ours = keys.pepper.fingerprint();
    let recorded = store
        .put_setting_if_absent(PEPPER_FINGERPRINT, &ours)
        .await?;
    if recorded != ours || recorded_audit_key != audit_key {
        bail!(
            "the keys in this data directory are not the ones this database was initialised with \
             (fingerprint {ours}, database expects {recorded}); every node sharing a database needs \
             the same keys: copy DATA_DIR/keys from the first node"
        );
    }
    Ok(())
}

/// Loads the admin token's hash, creating the token on the first start.
pub async fn admin_token(
    store: &dyn Store,
    keys: &Keys,
    bootstrap: Option<Secret>,
) -> anyhow::Result<AdminToken> {
    if let Some(stored) = store.get_setting(ADMIN_TOKEN_HASH).await? {
        let hash = KeyedHash::from_hex(&stored)
            .context("the stored admin token hash is malformed; the settings table was edited")?;
        return Ok(AdminToken {
            hash,
            created: None,
        });
    }
    let token = match bootstrap {
        Some(chosen) if chosen.expose().len() < MIN_BOOTSTRAP_TOKEN_LEN => bail!(
            "WARDEN_BOOTSTRAP_TOKEN must be at least {MIN_BOOTSTRAP_TOKEN_LEN} characters; \
             use a long random value such as the output of `openssl rand -hex 32`"
        ),
        Some(chosen) => chosen,
        None => Secret::generate(SecretKind::Admin),
    };
    let hash = keys
        .pepper
        .hash(ADMIN_TOKEN_DOMAIN, token.expose().as_bytes());
    let stored = store
        .put_setting_if_absent(ADMIN_TOKEN_HASH, &hash.to_hex())
        .await?;
    if stored != hash.to_hex() {
        // Another node initialised the database first; its token is the admin token.
        let hash =
            KeyedHash::from_hex(&stored).context("the stored admin token hash is malformed")?;
        return Ok(AdminToken {
            hash,
            created: None,
        });
    }
    Ok(AdminToken {
        hash,
        created: Some(token),
    })
}
