//! Clinical-data cryptography.
//!
//! - `DataKey`: a patient's AES-256 key. It exists in memory only; at rest it is always a
//!   `WrappedKey`, sealed by a master key of a `KeyProvider` (default: `LocalKeyring`, key files
//!   in the data directory).
//! - `blob`: the chunked streaming AEAD that documents are stored in, so gigabyte files are never
//!   whole in memory and any truncation, reordering, bit flip or swap between documents is caught.
//! - `seal`/`open`: small values (titles, derived text) under a data key, bound to a context.
//!
//! Architecture invariant: only this crate touches clinical key material; nothing here does I/O
//! beyond the local keyring's own files and the calls into a PKCS#11 module (`Pkcs11Keyring`).

pub mod blob;
mod cipher;
mod keyring;
mod pkcs11;
pub mod stream;

use rand::RngCore;

use cipher::{Cipher, NONCE_LEN, TAG_LEN};
use zeroize::{Zeroize, ZeroizeOnDrop};

pub use keyring::{KeyProvider, LocalKeyring, unwraps_so_far};
pub use pkcs11::{Pkcs11Config, Pkcs11Keyring};
pub use stream::{Sealed, StreamOpener, StreamSealer};

/// The one error type of this crate. It never carries key bytes or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// Authentication failed: wrong key, altered, truncated, reordered or swapped data.
    #[error("the encrypted data failed authentication ({0})")]
    Integrity(&'static str),
    #[error("unknown master key {0:?}")]
    UnknownMasterKey(String),
    #[error("key file {path}: {problem}")]
    KeyFile { path: String, problem: String },
    /// The PKCS#11 token (HSM) refused or failed an operation, or is not reachable.
    #[error("PKCS#11 token: {0}")]
    Token(String),
    #[error("malformed encrypted data: {0}")]
    Format(&'static str),
}

pub type Result<T, E = CryptoError> = std::result::Result<T, E>;

/// A patient's data key (AES-256). Zeroed on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; 32]);

impl DataKey {
    pub fn generate() -> DataKey {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        DataKey(k)
    }

    /// A key for one `purpose`, derived from a secret of at least 256 random bits (e.g. a portal
    /// session's id → the key of the patient handles in that session's URLs): SHA-256 of the
    /// purpose and the secret, which is a sound derivation for a uniformly random secret.
    pub fn derive(purpose: &str, secret: &[u8]) -> DataKey {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update((purpose.len() as u64).to_be_bytes());
        hasher.update(purpose.as_bytes());
        hasher.update(secret);
        DataKey(hasher.finalize().into())
    }

    pub(crate) fn from_bytes(bytes: [u8; 32]) -> DataKey {
        DataKey(bytes)
    }

    pub(crate) fn cipher(&self) -> Cipher {
        Cipher::new(&self.0)
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(…)")
    }
}

/// A service secret that is not clinical key material but is kept like it: wrapped by the master
/// key at rest (e.g. the seed of the ledger's Ed25519 signing key). Zeroed on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct ServiceSecret([u8; 32]);

impl ServiceSecret {
    pub fn generate() -> ServiceSecret {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        ServiceSecret(k)
    }

    /// Seals it under the active master key, bound to its name.
    pub fn wrap(&self, provider: &dyn KeyProvider, name: &str) -> Result<WrappedKey> {
        provider.wrap(&DataKey(self.0), &service_context(name))
    }

    pub fn unwrap(provider: &dyn KeyProvider, wrapped: &WrappedKey, name: &str) -> Result<ServiceSecret> {
        let key = provider.unwrap(wrapped, &service_context(name))?;
        Ok(ServiceSecret(key.0))
    }

    /// The secret's bytes, for the component it belongs to (e.g. an Ed25519 seed).
    pub fn expose(&self) -> [u8; 32] {
        self.0
    }
}

/// Service secrets are bound to a context no INS can produce.
fn service_context(name: &str) -> Vec<u8> {
    let mut c = b"carnet-service-secret:".to_vec();
    c.extend_from_slice(name.as_bytes());
    c
}

impl std::fmt::Debug for ServiceSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceSecret(…)")
    }
}

/// A data key sealed by a master key: safe to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// Which master key sealed it (rotation keeps several for a while).
    pub master_key_id: String,
    /// nonce (12) ‖ ciphertext (32) ‖ tag (16).
    pub sealed: Vec<u8>,
}

/// Encrypts a small value under `key`, bound to `context` (e.g. "title" ‖ document id): the
/// result only opens with the same key and context.
pub fn seal(key: &DataKey, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
    seal_with(&key.cipher(), context, plaintext)
}

pub(crate) fn seal_with(cipher: &Cipher, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    // Sealing only fails for values of gigabytes; small values are what this is for.
    let Ok(body) = cipher.seal(nonce, context, plaintext) else { return Vec::new() };
    let mut out = Vec::with_capacity(NONCE_LEN + body.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&body);
    out
}

/// A data key made ready to seal and open many small values (a deposit's profile items, a
/// profile's): AES-GCM's key schedule once, instead of once per value as `seal` and `open` do.
/// What it seals, `open` opens, and the other way round.
pub struct PreparedKey(Cipher);

impl DataKey {
    pub fn prepared(&self) -> PreparedKey {
        PreparedKey(self.cipher())
    }
}

impl PreparedKey {
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        seal_with(&self.0, context, plaintext)
    }

    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
        open_with(&self.0, context, sealed)
    }
}

/// Opens what `seal` produced with the same key and context.
pub fn open(key: &DataKey, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
    open_with(&key.cipher(), context, sealed)
}

pub(crate) fn open_with(cipher: &Cipher, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
    let Some((nonce, ct)) = sealed.split_first_chunk::<NONCE_LEN>().filter(|(_, ct)| ct.len() >= TAG_LEN) else {
        return Err(CryptoError::Format("sealed value too short"));
    };
    cipher.open(*nonce, context, ct, "sealed value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prepared_key_seals_and_opens_as_the_key_does() {
        let key = DataKey::generate();
        let prepared = key.prepared();
        let by_prepared = prepared.seal(b"ctx", b"allergie");
        assert_eq!(open(&key, b"ctx", &by_prepared).expect("opens"), b"allergie");
        assert_eq!(prepared.open(b"ctx", &seal(&key, b"ctx", b"allergie")).expect("opens"), b"allergie");
        assert!(prepared.open(b"other", &by_prepared).is_err(), "bound to its context");
        assert!(DataKey::generate().prepared().open(b"ctx", &by_prepared).is_err(), "and to its key");
        assert_ne!(prepared.seal(b"ctx", b"allergie"), by_prepared, "a fresh nonce each time");
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let (k1, k2) = (DataKey::generate(), DataKey::generate());
        let sealed = seal(&k1, b"title:doc-1", b"IRM cerebrale");
        assert_eq!(open(&k1, b"title:doc-1", &sealed).expect("opens"), b"IRM cerebrale");
        assert!(open(&k2, b"title:doc-1", &sealed).is_err(), "wrong key");
        assert!(open(&k1, b"title:doc-2", &sealed).is_err(), "wrong context");
        let mut flipped = sealed.clone();
        flipped[20] ^= 1;
        assert!(open(&k1, b"title:doc-1", &flipped).is_err(), "bit flip");
        assert!(open(&k1, b"title:doc-1", &sealed[..10]).is_err(), "truncated");
        assert_eq!(format!("{k1:?}"), "DataKey(…)");
    }
}
