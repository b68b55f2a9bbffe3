//! Master keys. A `KeyProvider` wraps and unwraps patient data keys; `LocalKeyring`, the
//! default, keeps master keys as files in `<data_dir>/keys/` (mode 0600, refused if group- or
//! world-readable). Rotation adds a key and activates it; the caller then rewraps every data key
//! (in one database transaction) and retires the old keys — blobs are never touched.
//!
//! `carnet keys rotate` runs in its own process while servers keep running, so the keyring
//! re-reads the `active` file before each wrap (a new patient key is never sealed under a key
//! about to be retired) and reloads the directory when asked to unwrap under a key it has not
//! seen (a wrap made by the rotating process).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use rand::RngCore;
use zeroize::Zeroizing;

use crate::cipher::Cipher;
use crate::{CryptoError, DataKey, Result, WrappedKey, open_with, seal_with};

/// Seals data keys under a master key. Implementations: `LocalKeyring`; an external KMS
/// (e.g. a Vault transit engine) implements the same operations.
pub trait KeyProvider: Send + Sync {
    /// The master key new wraps use.
    fn active_key_id(&self) -> Result<String>;
    /// Seals `key` under the active master key, bound to `context` (the patient's INS).
    fn wrap(&self, key: &DataKey, context: &[u8]) -> Result<WrappedKey>;
    /// Opens a wrapped key with the master key it names.
    fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<DataKey>;
    /// Creates a new master key and makes it the active one; returns its id.
    fn rotate(&self) -> Result<String>;
    /// Deletes every master key but the active one; returns their ids. Call only once no
    /// stored wrap names them.
    fn retire_inactive(&self) -> Result<Vec<String>>;
}

/// Data keys unwrapped in this process, whatever the provider: the key cache's misses, and with
/// PKCS#11 the decryptions asked of the token (exposed as `carnet_key_unwraps_total`).
static UNWRAPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many data keys this process has unwrapped so far.
pub fn unwraps_so_far() -> u64 {
    UNWRAPS.load(std::sync::atomic::Ordering::Relaxed)
}

pub(crate) fn count_unwrap() {
    UNWRAPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

pub struct LocalKeyring {
    dir: PathBuf,
    ring: RwLock<Ring>,
}

#[derive(Default)]
struct Ring {
    keys: BTreeMap<String, Cipher>,
    active: String,
}

const ACTIVE: &str = "active";
const SUFFIX: &str = ".key";

fn key_file_error(path: &Path, problem: impl ToString) -> CryptoError {
    CryptoError::KeyFile { path: path.display().to_string(), problem: problem.to_string() }
}

fn poisoned() -> CryptoError {
    CryptoError::KeyFile { path: "keyring".into(), problem: "a thread panicked while holding the keyring".into() }
}

impl LocalKeyring {
    /// Opens the keyring in `dir`, creating it with a first master key if empty.
    pub fn load_or_create(dir: &Path) -> Result<LocalKeyring> {
        if !dir.exists() {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| key_file_error(dir, e))?;
        }
        let ring = match Ring::load(dir)? {
            Some(ring) => ring,
            None => {
                let mut ring = Ring::default();
                let id = add_key(dir, &mut ring)?;
                write_active(dir, &id)?;
                ring.active = id;
                ring
            }
        };
        Ok(LocalKeyring { dir: dir.to_owned(), ring: RwLock::new(ring) })
    }

    /// Every master key id present, active or not.
    pub fn key_ids(&self) -> Vec<String> {
        self.ring.read().map(|r| r.keys.keys().cloned().collect()).unwrap_or_default()
    }

    /// Re-reads the directory (keys added or activated by another process).
    fn reload(&self) -> Result<()> {
        let fresh = Ring::load(&self.dir)?.ok_or_else(|| key_file_error(&self.dir.join(ACTIVE), "missing"))?;
        *self.ring.write().map_err(|_| poisoned())? = fresh;
        Ok(())
    }

    fn current_active(&self) -> Result<String> {
        let path = self.dir.join(ACTIVE);
        let id = std::fs::read_to_string(&path).map_err(|e| key_file_error(&path, e))?.trim().to_owned();
        let known = self.ring.read().map_err(|_| poisoned())?.keys.contains_key(&id);
        if !known {
            self.reload()?;
        }
        Ok(id)
    }
}

impl Ring {
    /// Loads every key file and the active id; `None` for an empty directory.
    fn load(dir: &Path) -> Result<Option<Ring>> {
        let mut ring = Ring::default();
        let entries = std::fs::read_dir(dir).map_err(|e| key_file_error(dir, e))?;
        for entry in entries {
            let path = entry.map_err(|e| key_file_error(dir, e))?.path();
            let Some(id) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(SUFFIX)) else {
                continue;
            };
            let id = id.to_owned();
            ring.keys.insert(id, load_key(&path)?);
        }
        let active_path = dir.join(ACTIVE);
        match std::fs::read_to_string(&active_path) {
            Ok(id) => {
                let id = id.trim().to_owned();
                if !ring.keys.contains_key(&id) {
                    return Err(key_file_error(&active_path, format!("names master key {id:?}, whose file is missing")));
                }
                ring.active = id;
                Ok(Some(ring))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && ring.keys.is_empty() => Ok(None),
            Err(e) => Err(key_file_error(&active_path, e)),
        }
    }

    fn cipher(&self, id: &str) -> Option<&Cipher> {
        self.keys.get(id)
    }
}

/// Creates a new master key file (not yet active) and returns its id.
fn add_key(dir: &Path, ring: &mut Ring) -> Result<String> {
    let mut id_bytes = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut id_bytes);
    let id = format!("mk-{}", id_bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let mut key = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(key.as_mut());
    let path = dir.join(format!("{id}{SUFFIX}"));
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(|e| key_file_error(&path, e))?;
    file.write_all(key.as_ref()).and_then(|()| file.sync_all()).map_err(|e| key_file_error(&path, e))?;
    ring.keys.insert(id.clone(), Cipher::new(&key));
    Ok(id)
}

/// Makes `id` the key new wraps use, atomically (write then rename).
fn write_active(dir: &Path, id: &str) -> Result<()> {
    let tmp = dir.join("active.tmp");
    std::fs::write(&tmp, id).map_err(|e| key_file_error(&tmp, e))?;
    std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| key_file_error(&tmp, e))?;
    std::fs::rename(&tmp, dir.join(ACTIVE)).map_err(|e| key_file_error(&tmp, e))?;
    Ok(())
}

fn load_key(path: &Path) -> Result<Cipher> {
    let meta = std::fs::metadata(path).map_err(|e| key_file_error(path, e))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(key_file_error(path, "readable by group or others: refusing to use it (chmod 600)"));
    }
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| key_file_error(path, e))?);
    let key: Zeroizing<[u8; 32]> = Zeroizing::new(
        bytes.as_slice().try_into().map_err(|_| key_file_error(path, format!("a master key has 32 bytes, found {}", bytes.len())))?,
    );
    Ok(Cipher::new(&key))
}

impl KeyProvider for LocalKeyring {
    fn active_key_id(&self) -> Result<String> {
        self.current_active()
    }

    fn wrap(&self, key: &DataKey, context: &[u8]) -> Result<WrappedKey> {
        let active = self.current_active()?;
        let ring = self.ring.read().map_err(|_| poisoned())?;
        let cipher = ring.cipher(&active).ok_or_else(|| CryptoError::UnknownMasterKey(active.clone()))?;
        Ok(WrappedKey { sealed: seal_with(cipher, context, &key.0), master_key_id: active })
    }

    fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<DataKey> {
        count_unwrap();
        let known = self.ring.read().map_err(|_| poisoned())?.keys.contains_key(&wrapped.master_key_id);
        if !known {
            self.reload()?;
        }
        let ring = self.ring.read().map_err(|_| poisoned())?;
        let cipher = ring.cipher(&wrapped.master_key_id).ok_or_else(|| CryptoError::UnknownMasterKey(wrapped.master_key_id.clone()))?;
        let bytes = Zeroizing::new(open_with(cipher, context, &wrapped.sealed)?);
        let array: [u8; 32] = bytes.as_slice().try_into().map_err(|_| CryptoError::Format("a data key has 32 bytes"))?;
        Ok(DataKey::from_bytes(array))
    }

    fn rotate(&self) -> Result<String> {
        let mut ring = self.ring.write().map_err(|_| poisoned())?;
        let id = add_key(&self.dir, &mut ring)?;
        write_active(&self.dir, &id)?;
        ring.active = id.clone();
        Ok(id)
    }

    fn retire_inactive(&self) -> Result<Vec<String>> {
        let active = self.current_active()?;
        let mut ring = self.ring.write().map_err(|_| poisoned())?;
        let retired: Vec<String> = ring.keys.keys().filter(|id| **id != active).cloned().collect();
        for id in &retired {
            let path = self.dir.join(format!("{id}{SUFFIX}"));
            std::fs::remove_file(&path).map_err(|e| key_file_error(&path, e))?;
            ring.keys.remove(id);
        }
        Ok(retired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_survive_restart_and_rotation() {
        let dir = tempfile::tempdir().expect("temp dir");
        let keys = dir.path().join("keys");
        let dek = DataKey::generate();
        let ring = LocalKeyring::load_or_create(&keys).expect("created");
        let wrapped = ring.wrap(&dek, b"ins-1").expect("wrap");
        for f in std::fs::read_dir(&keys).expect("dir") {
            let path = f.expect("entry").path();
            if path.extension().is_some_and(|e| e == "key") {
                assert_eq!(std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
            }
        }
        let reopened = LocalKeyring::load_or_create(&keys).expect("reopened");
        assert_eq!(reopened.active_key_id().expect("active"), ring.active_key_id().expect("active"));
        assert_eq!(reopened.unwrap(&wrapped, b"ins-1").expect("unwrap").0, dek.0);
        assert!(reopened.unwrap(&wrapped, b"ins-2").is_err(), "bound to the patient");

        let old = ring.active_key_id().expect("active");
        let new = ring.rotate().expect("new key");
        let rewrapped = ring.wrap(&ring.unwrap(&wrapped, b"ins-1").expect("unwrap"), b"ins-1").expect("rewrap");
        assert_eq!(rewrapped.master_key_id, new);
        assert_eq!(ring.retire_inactive().expect("retire"), vec![old]);
        assert!(matches!(ring.unwrap(&wrapped, b"ins-1"), Err(CryptoError::UnknownMasterKey(_))), "old wraps die with the old key");
        let reopened = LocalKeyring::load_or_create(&keys).expect("reopened");
        assert_eq!(reopened.unwrap(&rewrapped, b"ins-1").expect("unwrap").0, dek.0);
        assert_eq!(reopened.key_ids(), vec![new]);
    }

    #[test]
    fn a_running_keyring_follows_a_rotation_made_by_another_process() {
        let dir = tempfile::tempdir().expect("temp dir");
        let keys = dir.path().join("keys");
        let server = LocalKeyring::load_or_create(&keys).expect("created");
        let cli = LocalKeyring::load_or_create(&keys).expect("opened");
        let dek = DataKey::generate();
        let new = cli.rotate().expect("rotate");
        let by_cli = cli.wrap(&dek, b"ins-1").expect("wrap");
        assert_eq!(server.unwrap(&by_cli, b"ins-1").expect("reloads on an unknown key").0, dek.0);
        assert_eq!(server.wrap(&dek, b"ins-2").expect("wrap").master_key_id, new, "new wraps follow the active file");
    }

    #[test]
    fn a_readable_master_key_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let keys = dir.path().join("keys");
        let ring = LocalKeyring::load_or_create(&keys).expect("created");
        let path = keys.join(format!("{}{SUFFIX}", ring.active_key_id().expect("active")));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = LocalKeyring::load_or_create(&keys).err().expect("refused");
        assert!(err.to_string().contains("readable by group or others"), "{err}");
    }
}
