//! The blob format: chunked streaming AEAD (AES-256-GCM), in the spirit of the STREAM
//! construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015).
//!
//! ```text
//! header (24 bytes) = "CRNTBLB1" ‖ chunk_size: u32 BE ‖ nonce_prefix: 8 random bytes ‖ 0u32
//! chunk i           = AES-256-GCM(key, nonce_i, aad_i, plaintext_i)   (plaintext_i ≤ chunk_size, + 16-byte tag)
//! nonce_i           = nonce_prefix ‖ i: u32 BE
//! aad_i             = "carnet-blob-v1" ‖ document_id (16 bytes) ‖ header ‖ i: u64 BE ‖ last: u8
//! ```
//!
//! Every chunk but the last holds exactly `chunk_size` bytes; the last holds 1..=chunk_size
//! (0 only for an empty document) and is the only one sealed with `last = 1`. So: a flipped bit
//! fails its chunk's tag; reordered chunks fail (index in nonce and AAD); a truncated blob fails
//! (its new last chunk was not sealed as last); a blob moved to another document fails (document id
//! in AAD); another patient's key fails. Chunks decrypt independently, which is what serves HTTP
//! `Range` requests without reading the whole blob.

use rand::RngCore;

use crate::cipher::Cipher;
use crate::{CryptoError, DataKey, Result};

pub const HEADER_LEN: usize = 24;
pub const TAG_LEN: usize = crate::cipher::TAG_LEN;
const MAGIC: &[u8; 8] = b"CRNTBLB1";
const AAD_LABEL: &[u8] = b"carnet-blob-v1";
/// The chunk size Carnet writes: 64 KiB bounds memory per stream and keeps the tag overhead at 0.02%.
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;

pub(crate) fn aad(document_id: &[u8; 16], header: &[u8; HEADER_LEN], index: u64, last: bool) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + 16 + HEADER_LEN + 9);
    aad.extend_from_slice(AAD_LABEL);
    aad.extend_from_slice(document_id);
    aad.extend_from_slice(header);
    aad.extend_from_slice(&index.to_be_bytes());
    aad.push(u8::from(last));
    aad
}

pub(crate) fn nonce(header: &[u8; HEADER_LEN], index: u64) -> Result<[u8; 12]> {
    let counter = u32::try_from(index).map_err(|_| CryptoError::Format("too many chunks"))?;
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(&header[12..20]);
    n[8..].copy_from_slice(&counter.to_be_bytes());
    Ok(n)
}

/// Encrypts a document chunk by chunk. The caller feeds chunks of exactly `chunk_size` bytes
/// and marks the final one (see `BlobSealer::seal_chunk`).
pub struct BlobSealer {
    cipher: Cipher,
    document_id: [u8; 16],
    header: [u8; HEADER_LEN],
    chunk_size: u32,
    next: u64,
    finished: bool,
}

impl BlobSealer {
    pub fn new(key: &DataKey, document_id: [u8; 16], chunk_size: u32) -> BlobSealer {
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(MAGIC);
        header[8..12].copy_from_slice(&chunk_size.to_be_bytes());
        rand::rngs::OsRng.fill_bytes(&mut header[12..20]);
        BlobSealer { cipher: key.cipher(), document_id, header, chunk_size, next: 0, finished: false }
    }

    pub fn header(&self) -> &[u8; HEADER_LEN] {
        &self.header
    }

    pub fn chunk_size(&self) -> usize {
        self.chunk_size as usize
    }

    /// Seals the next chunk. All chunks but the last must be full; nothing may follow the last.
    pub fn seal_chunk(&mut self, plaintext: &[u8], last: bool) -> Result<Vec<u8>> {
        if self.finished {
            return Err(CryptoError::Format("chunk after the last one"));
        }
        if plaintext.len() > self.chunk_size() || (!last && plaintext.len() != self.chunk_size()) {
            return Err(CryptoError::Format("only the last chunk may be shorter than the chunk size"));
        }
        let n = nonce(&self.header, self.next)?;
        let aad = aad(&self.document_id, &self.header, self.next, last);
        let ct = self.cipher.seal(n, &aad, plaintext)?;
        self.next += 1;
        self.finished = last;
        Ok(ct)
    }
}

/// Where each chunk of a stored blob lies, from its header and total length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobLayout {
    pub chunk_size: u64,
    pub chunks: u64,
    pub plaintext_len: u64,
    pub blob_len: u64,
}

impl BlobLayout {
    /// The encrypted length of a plaintext of `len` bytes.
    pub fn encrypted_len(len: u64, chunk_size: u32) -> u64 {
        let chunks = len.div_ceil(u64::from(chunk_size)).max(1);
        HEADER_LEN as u64 + len + chunks * TAG_LEN as u64
    }

    pub fn parse(header: &[u8], blob_len: u64) -> Result<(BlobLayout, [u8; HEADER_LEN])> {
        let header: [u8; HEADER_LEN] = header.try_into().map_err(|_| CryptoError::Format("short header"))?;
        if &header[..8] != MAGIC {
            return Err(CryptoError::Format("not a Carnet blob"));
        }
        let chunk_size = u64::from(u32::from_be_bytes([header[8], header[9], header[10], header[11]]));
        if chunk_size == 0 {
            return Err(CryptoError::Format("zero chunk size"));
        }
        let body = blob_len.checked_sub(HEADER_LEN as u64).ok_or(CryptoError::Integrity("truncated header"))?;
        let stride = chunk_size + TAG_LEN as u64;
        let chunks = body.div_ceil(stride);
        let last_len = body.saturating_sub(chunks.saturating_sub(1) * stride);
        if chunks == 0 || last_len < TAG_LEN as u64 {
            return Err(CryptoError::Integrity("truncated chunk"));
        }
        let plaintext_len = (chunks - 1) * chunk_size + (last_len - TAG_LEN as u64);
        Ok((BlobLayout { chunk_size, chunks, plaintext_len, blob_len }, header))
    }

    /// Byte range (start, end exclusive) of chunk `i` in the blob.
    pub fn chunk_span(&self, i: u64) -> (u64, u64) {
        let stride = self.chunk_size + TAG_LEN as u64;
        let start = HEADER_LEN as u64 + i * stride;
        (start, (start + stride).min(self.blob_len))
    }

    /// The chunks holding plaintext bytes `start..end` (end exclusive, non-empty, within the plaintext).
    pub fn chunks_for(&self, start: u64, end: u64) -> std::ops::Range<u64> {
        let first = start / self.chunk_size;
        let last = end.saturating_sub(1) / self.chunk_size;
        first..(last + 1).min(self.chunks)
    }
}

/// Decrypts chunks of one blob, each on its own.
pub struct BlobOpener {
    cipher: Cipher,
    document_id: [u8; 16],
    header: [u8; HEADER_LEN],
    layout: BlobLayout,
}

impl BlobOpener {
    pub fn new(key: &DataKey, document_id: [u8; 16], header: &[u8], blob_len: u64) -> Result<BlobOpener> {
        let (layout, header) = BlobLayout::parse(header, blob_len)?;
        Ok(BlobOpener { cipher: key.cipher(), document_id, header, layout })
    }

    pub fn layout(&self) -> &BlobLayout {
        &self.layout
    }

    /// Authenticates and decrypts chunk `index`; nothing is returned unless it is genuine.
    pub fn open_chunk(&self, index: u64, ciphertext: &[u8]) -> Result<Vec<u8>> {
        if index >= self.layout.chunks {
            return Err(CryptoError::Format("chunk index beyond the blob"));
        }
        let last = index + 1 == self.layout.chunks;
        let n = nonce(&self.header, index)?;
        let aad = aad(&self.document_id, &self.header, index, last);
        self.cipher.open(n, &aad, ciphertext, "chunk")
    }
}

/// Seals a whole in-memory plaintext (tests, small derived artifacts).
pub fn seal_all(key: &DataKey, document_id: [u8; 16], chunk_size: u32, plaintext: &[u8]) -> Result<Vec<u8>> {
    let mut sealer = BlobSealer::new(key, document_id, chunk_size);
    let mut out = sealer.header().to_vec();
    let cs = chunk_size as usize;
    let chunks: Vec<&[u8]> = if plaintext.is_empty() { vec![&[][..]] } else { plaintext.chunks(cs).collect() };
    let n = chunks.len();
    for (i, c) in chunks.into_iter().enumerate() {
        out.extend_from_slice(&sealer.seal_chunk(c, i + 1 == n)?);
    }
    Ok(out)
}

/// Opens a whole in-memory blob.
pub fn open_all(key: &DataKey, document_id: [u8; 16], blob: &[u8]) -> Result<Vec<u8>> {
    let header = blob.get(..HEADER_LEN).ok_or(CryptoError::Integrity("truncated header"))?;
    let opener = BlobOpener::new(key, document_id, header, blob.len() as u64)?;
    let mut out = Vec::with_capacity(opener.layout().plaintext_len as usize);
    for i in 0..opener.layout().chunks {
        let (s, e) = opener.layout().chunk_span(i);
        out.extend_from_slice(&opener.open_chunk(i, &blob[s as usize..e as usize])?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DOC: [u8; 16] = *b"document-0000001";
    const OTHER: [u8; 16] = *b"document-0000002";

    fn strategy() -> impl Strategy<Value = (Vec<u8>, u32)> {
        (prop::collection::vec(any::<u8>(), 0..2000), 1u32..300)
    }

    proptest! {
        #[test]
        fn round_trips_and_layout_matches((data, cs) in strategy()) {
            let key = DataKey::generate();
            let blob = seal_all(&key, DOC, cs, &data).expect("seal");
            prop_assert_eq!(blob.len() as u64, BlobLayout::encrypted_len(data.len() as u64, cs));
            let (layout, _) = BlobLayout::parse(&blob[..HEADER_LEN], blob.len() as u64).expect("layout");
            prop_assert_eq!(layout.plaintext_len, data.len() as u64);
            prop_assert_eq!(open_all(&key, DOC, &blob).expect("open"), data);
        }

        #[test]
        fn any_bit_flip_is_caught((data, cs) in strategy(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
            let key = DataKey::generate();
            let mut blob = seal_all(&key, DOC, cs, &data).expect("seal");
            let i = at.index(blob.len());
            blob[i] ^= 1 << bit;
            prop_assert!(open_all(&key, DOC, &blob).is_err());
        }

        #[test]
        fn any_truncation_is_caught((data, cs) in strategy(), at in any::<prop::sample::Index>()) {
            let key = DataKey::generate();
            let blob = seal_all(&key, DOC, cs, &data).expect("seal");
            let cut = at.index(blob.len());
            prop_assert!(open_all(&key, DOC, &blob[..cut]).is_err());
        }

        #[test]
        fn wrong_key_or_document_is_caught((data, cs) in strategy()) {
            let key = DataKey::generate();
            let blob = seal_all(&key, DOC, cs, &data).expect("seal");
            prop_assert!(open_all(&DataKey::generate(), DOC, &blob).is_err());
            prop_assert!(open_all(&key, OTHER, &blob).is_err());
        }
    }

    #[test]
    fn reordered_chunks_are_caught() {
        let key = DataKey::generate();
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let blob = seal_all(&key, DOC, 100, &data).expect("seal");
        let (layout, _) = BlobLayout::parse(&blob[..HEADER_LEN], blob.len() as u64).expect("layout");
        let (a, b) = (layout.chunk_span(1), layout.chunk_span(2));
        let mut swapped = blob[..a.0 as usize].to_vec();
        swapped.extend_from_slice(&blob[b.0 as usize..b.1 as usize]);
        swapped.extend_from_slice(&blob[a.0 as usize..a.1 as usize]);
        swapped.extend_from_slice(&blob[b.1 as usize..]);
        assert_eq!(swapped.len(), blob.len());
        assert!(open_all(&key, DOC, &swapped).is_err());
        // Dropping whole trailing chunks (a clean cut at a chunk boundary) is caught too.
        assert!(open_all(&key, DOC, &blob[..b.1 as usize]).is_err());
    }

    #[test]
    fn chunk_ranges_for_byte_ranges() {
        let layout = BlobLayout { chunk_size: 100, chunks: 10, plaintext_len: 950, blob_len: 0 };
        assert_eq!(layout.chunks_for(0, 1), 0..1);
        assert_eq!(layout.chunks_for(99, 101), 0..2);
        assert_eq!(layout.chunks_for(900, 950), 9..10);
        assert_eq!(layout.chunks_for(250, 350), 2..4);
    }

    #[test]
    fn misuse_is_refused() {
        let key = DataKey::generate();
        let mut s = BlobSealer::new(&key, DOC, 10);
        assert!(s.seal_chunk(&[0; 5], false).is_err(), "short non-final chunk");
        assert!(s.seal_chunk(&[0; 11], true).is_err(), "oversized chunk");
        assert!(s.seal_chunk(&[0; 5], true).is_ok());
        assert!(s.seal_chunk(&[0; 5], true).is_err(), "nothing after the last");
        assert!(BlobLayout::parse(b"NOTABLOBxxxxxxxxxxxxxxxx", 100).is_err());
    }
}
