//! AES-256-GCM, the one cipher of this crate, through `ring`.
//!
//! Why `ring` rather than RustCrypto's `aes-gcm`: the format is plain AES-256-GCM (96-bit nonce,
//! 128-bit tag), so both produce the same bytes (a test checks it against `aes-gcm`), but `ring`
//! runs BoringSSL's VAES/AVX2 assembly: 6.3 GB/s sealing and 5.5 GB/s opening one 64 KiB chunk
//! after another on this project's machine, against 1.0 GB/s for `aes-gcm` (BENCHMARKS.md). That
//! is the difference between a 1 GB retrieval bound by one core's decryption and one bound by the
//! network. `ring` was already in the tree (rustls, object_store).

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

use crate::{CryptoError, Result};

pub(crate) const NONCE_LEN: usize = 12;
pub(crate) const TAG_LEN: usize = 16;

/// An expanded AES-256-GCM key. The caller supplies nonces and must never repeat one under a
/// key: every nonce here is random or a random prefix with a chunk counter.
pub(crate) struct Cipher(LessSafeKey);

impl Cipher {
    pub(crate) fn new(key: &[u8; 32]) -> Cipher {
        // A 32-byte key is exactly what AES-256 takes: `new` only refuses other lengths.
        let key = UnboundKey::new(&AES_256_GCM, key).expect("an AES-256 key has 32 bytes");
        Cipher(LessSafeKey::new(key))
    }

    /// Encrypts `buf` in place and appends the tag.
    pub(crate) fn seal_in_place<B>(&self, nonce: [u8; NONCE_LEN], aad: &[u8], buf: &mut B) -> Result<()>
    where
        B: AsMut<[u8]> + for<'a> Extend<&'a u8>,
    {
        self.0
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), buf)
            .map_err(|_| CryptoError::Format("value too large to seal"))
    }

    /// Authenticates `ciphertext ‖ tag` and decrypts it in place; returns the plaintext's length
    /// (the buffer's first bytes). On failure the buffer holds no plaintext worth reading.
    pub(crate) fn open_in_place(&self, nonce: [u8; NONCE_LEN], aad: &[u8], buf: &mut [u8], what: &'static str) -> Result<usize> {
        self.0
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), buf)
            .map(|plaintext| plaintext.len())
            .map_err(|_| CryptoError::Integrity(what))
    }

    /// Seals a copy of `plaintext`: ciphertext ‖ tag.
    pub(crate) fn seal(&self, nonce: [u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(plaintext.len() + TAG_LEN);
        buf.extend_from_slice(plaintext);
        self.seal_in_place(nonce, aad, &mut buf)?;
        Ok(buf)
    }

    /// Opens a copy of `ciphertext ‖ tag`.
    pub(crate) fn open(&self, nonce: [u8; NONCE_LEN], aad: &[u8], sealed: &[u8], what: &'static str) -> Result<Vec<u8>> {
        let mut buf = sealed.to_vec();
        let len = self.open_in_place(nonce, aad, &mut buf, what)?;
        buf.truncate(len);
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use proptest::prelude::*;

    proptest! {
        /// Blobs and wrapped keys written before the switch to `ring` (by RustCrypto's `aes-gcm`)
        /// must still open, and the other way round: both are the same AES-256-GCM.
        #[test]
        fn same_bytes_as_rustcrypto_aes_gcm(
            key in any::<[u8; 32]>(),
            nonce in any::<[u8; 12]>(),
            aad in prop::collection::vec(any::<u8>(), 0..80),
            plaintext in prop::collection::vec(any::<u8>(), 0..600),
        ) {
            let theirs = aes_gcm::Aes256Gcm::new(&key.into());
            let expected = theirs
                .encrypt(aes_gcm::Nonce::from_slice(&nonce), Payload { msg: &plaintext, aad: &aad })
                .map_err(|_| TestCaseError::fail("aes-gcm seal"))?;
            let ours = Cipher::new(&key);
            prop_assert_eq!(&ours.seal(nonce, &aad, &plaintext).map_err(|e| TestCaseError::fail(e.to_string()))?, &expected);
            prop_assert_eq!(&ours.open(nonce, &aad, &expected, "t").map_err(|e| TestCaseError::fail(e.to_string()))?, &plaintext);
            let mut flipped = expected.clone();
            let last = flipped.len() - 1;
            flipped[last] ^= 1;
            prop_assert!(ours.open(nonce, &aad, &flipped, "t").is_err());
        }
    }
}
