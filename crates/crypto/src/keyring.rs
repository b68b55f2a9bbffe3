//! Master keys. A `KeyProvider` wraps and unwraps patient data keys; `LocalKeyring`, the
//! default, keeps master keys as files in `<data_dir>/keys/` (mode 0600, refused if group- or
//! world-readable). Rotation adds a key, rewraps every data key under it (the caller's job, in
//! one database transaction), activates it, and deletes the old one — blobs are never touched.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aes_gcm::aead::KeyInit;
use aes_gcm::Aes256Gcm;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::{CryptoError, DataKey, Result, WrappedKey, open_with, seal_with};

/// Seals data keys under a master key. Implementations: `LocalKeyring`; an external KMS
/// (e.g. a Vault transit engine) implements the same three operations.
pub trait KeyProvider: Send + Sync {
    /// The master key new wraps use.
    fn active_key_id(&self) -> &str;
    /// Seals `key` under the active master key, bound to `context` (the patient's INS).
    fn wrap(&self, key: &DataKey, context: &[u8]) -> Result<WrappedKey>;
    /// Opens a wrapped key with the master key it names.
    fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<DataKey>;
}

pub struct LocalKeyring {
    dir: PathBuf,
    keys: BTreeMap<String, Aes256Gcm>,
    active: String,
}

const ACTIVE: &str = "active";
const SUFFIX: &str = ".key";

fn key_file_error(path: &Path, problem: impl ToString) -> CryptoError {
    CryptoError::KeyFile { path: path.display().to_string(), problem: problem.to_string() }
}

impl LocalKeyring {
    /// Opens the keyring in `dir`, creating it with a first master key if empty.
    pub fn load_or_create(dir: &Path) -> Result<LocalKeyring> {
        if !dir.exists() {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| key_file_error(dir, e))?;
        }
        let mut ring = LocalKeyring { dir: dir.to_owned(), keys: BTreeMap::new(), active: String::new() };
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
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && ring.keys.is_empty() => {
                let id = ring.add_key()?;
                ring.activate(&id)?;
            }
            Err(e) => return Err(key_file_error(&active_path, e)),
        }
        Ok(ring)
    }

    /// Creates a new master key (not yet active) and returns its id.
    pub fn add_key(&mut self) -> Result<String> {
        let mut id_bytes = [0u8; 6];
        rand::rngs::OsRng.fill_bytes(&mut id_bytes);
        let id = format!("mk-{}", id_bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        let path = self.dir.join(format!("{id}{SUFFIX}"));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| key_file_error(&path, e))?;
        file.write_all(key.as_ref()).and_then(|()| file.sync_all()).map_err(|e| key_file_error(&path, e))?;
        self.keys.insert(id.clone(), Aes256Gcm::new(key.as_ref().into()));
        Ok(id)
    }

    /// Makes `id` the key new wraps use (atomically, via rename).
    pub fn activate(&mut self, id: &str) -> Result<()> {
        if !self.keys.contains_key(id) {
            return Err(CryptoError::UnknownMasterKey(id.to_owned()));
        }
        let tmp = self.dir.join("active.tmp");
        std::fs::write(&tmp, id).map_err(|e| key_file_error(&tmp, e))?;
        std::fs::rename(&tmp, self.dir.join(ACTIVE)).map_err(|e| key_file_error(&tmp, e))?;
        self.active = id.to_owned();
        Ok(())
    }

    /// Deletes a retired master key. Refuses the active one.
    pub fn remove(&mut self, id: &str) -> Result<()> {
        if id == self.active {
            return Err(key_file_error(&self.dir.join(format!("{id}{SUFFIX}")), "is the active master key"));
        }
        if self.keys.remove(id).is_some() {
            let path = self.dir.join(format!("{id}{SUFFIX}"));
            std::fs::remove_file(&path).map_err(|e| key_file_error(&path, e))?;
        }
        Ok(())
    }

    /// Every master key id present, active or not.
    pub fn key_ids(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }
}

fn load_key(path: &Path) -> Result<Aes256Gcm> {
    let meta = std::fs::metadata(path).map_err(|e| key_file_error(path, e))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(key_file_error(path, "readable by group or others: refusing to use it (chmod 600)"));
    }
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| key_file_error(path, e))?);
    if bytes.len() != 32 {
        return Err(key_file_error(path, format!("a master key has 32 bytes, found {}", bytes.len())));
    }
    Ok(Aes256Gcm::new(bytes.as_slice().into()))
}

impl KeyProvider for LocalKeyring {
    fn active_key_id(&self) -> &str {
        &self.active
    }

    fn wrap(&self, key: &DataKey, context: &[u8]) -> Result<WrappedKey> {
        let cipher = self.keys.get(&self.active).ok_or_else(|| CryptoError::UnknownMasterKey(self.active.clone()))?;
        Ok(WrappedKey { master_key_id: self.active.clone(), sealed: seal_with(cipher, context, &key.0) })
    }

    fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<DataKey> {
        let cipher = self
            .keys
            .get(&wrapped.master_key_id)
            .ok_or_else(|| CryptoError::UnknownMasterKey(wrapped.master_key_id.clone()))?;
        let bytes = Zeroizing::new(open_with(cipher, context, &wrapped.sealed)?);
        let array: [u8; 32] = bytes.as_slice().try_into().map_err(|_| CryptoError::Format("a data key has 32 bytes"))?;
        Ok(DataKey::from_bytes(array))
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
        let mut ring = LocalKeyring::load_or_create(&keys).expect("created");
        let wrapped = ring.wrap(&dek, b"ins-1").expect("wrap");
        for f in std::fs::read_dir(&keys).expect("dir") {
            let path = f.expect("entry").path();
            if path.extension().is_some_and(|e| e == "key") {
                assert_eq!(std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
            }
        }
        let reopened = LocalKeyring::load_or_create(&keys).expect("reopened");
        assert_eq!(reopened.active_key_id(), ring.active_key_id());
        assert_eq!(reopened.unwrap(&wrapped, b"ins-1").expect("unwrap").0, dek.0);
        assert!(reopened.unwrap(&wrapped, b"ins-2").is_err(), "bound to the patient");

        let old = ring.active_key_id().to_owned();
        let new = ring.add_key().expect("new key");
        ring.activate(&new).expect("activate");
        let rewrapped = ring.wrap(&ring.unwrap(&wrapped, b"ins-1").expect("unwrap"), b"ins-1").expect("rewrap");
        assert_eq!(rewrapped.master_key_id, new);
        assert!(ring.remove(&new).is_err(), "the active key cannot be removed");
        ring.remove(&old).expect("retire");
        assert!(matches!(ring.unwrap(&wrapped, b"ins-1"), Err(CryptoError::UnknownMasterKey(_))), "old wraps die with the old key");
        let reopened = LocalKeyring::load_or_create(&keys).expect("reopened");
        assert_eq!(reopened.unwrap(&rewrapped, b"ins-1").expect("unwrap").0, dek.0);
        assert_eq!(reopened.key_ids(), vec![new]);
    }

    #[test]
    fn a_readable_master_key_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let keys = dir.path().join("keys");
        let ring = LocalKeyring::load_or_create(&keys).expect("created");
        let path = keys.join(format!("{}{SUFFIX}", ring.active_key_id()));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = LocalKeyring::load_or_create(&keys).err().expect("refused");
        assert!(err.to_string().contains("readable by group or others"), "{err}");
    }
}
