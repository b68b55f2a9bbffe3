//! Streaming over the blob format: bytes arrive and leave in pieces of any size (HTTP frames,
//! object store reads); these adapters cut them into the format's chunks, seal or open each in
//! place, and keep at most one chunk in memory.

use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};

use crate::blob::{BlobLayout, HEADER_LEN, TAG_LEN, aad, nonce};
use crate::cipher::Cipher;
use crate::{CryptoError, DataKey, Result};

/// What a finished upload proved about its plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sealed {
    pub size: u64,
    pub sha256: [u8; 32],
}

/// Seals a document as its bytes arrive: `header()` first, then every piece `push` returns,
/// then the one `finish` returns. Hashes the plaintext (SHA-256) on the way.
pub struct StreamSealer {
    cipher: Cipher,
    document_id: [u8; 16],
    header: [u8; HEADER_LEN],
    chunk_size: usize,
    next: u64,
    pending: BytesMut,
    hasher: Sha256,
    size: u64,
}

impl StreamSealer {
    pub fn new(key: &DataKey, document_id: [u8; 16], chunk_size: u32) -> StreamSealer {
        let sealer = crate::blob::BlobSealer::new(key, document_id, chunk_size);
        StreamSealer {
            cipher: key.cipher(),
            document_id,
            header: *sealer.header(),
            chunk_size: chunk_size as usize,
            next: 0,
            pending: BytesMut::with_capacity(chunk_size as usize + TAG_LEN),
            hasher: Sha256::new(),
            size: 0,
        }
    }

    pub fn header(&self) -> Bytes {
        Bytes::copy_from_slice(&self.header)
    }

    fn seal(&mut self, mut chunk: BytesMut, last: bool) -> Result<Bytes> {
        let n = nonce(&self.header, self.next)?;
        let aad = aad(&self.document_id, &self.header, self.next, last);
        self.cipher.seal_in_place(n, &aad, &mut chunk)?;
        self.next += 1;
        Ok(chunk.freeze())
    }

    /// Takes more plaintext; returns the sealed chunks now complete. A full chunk is held back
    /// until more bytes arrive, because only the end of the stream says which chunk is last.
    pub fn push(&mut self, mut data: &[u8]) -> Result<Vec<Bytes>> {
        self.hasher.update(data);
        self.size += data.len() as u64;
        let mut out = Vec::new();
        while !data.is_empty() {
            if self.pending.len() == self.chunk_size {
                let full = std::mem::replace(&mut self.pending, BytesMut::with_capacity(self.chunk_size + TAG_LEN));
                out.push(self.seal(full, false)?);
            }
            let take = (self.chunk_size - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(out)
    }

    /// Seals the last chunk (empty for an empty document) and reports size and hash.
    pub fn finish(mut self) -> Result<(Bytes, Sealed)> {
        let last = std::mem::take(&mut self.pending);
        let chunk = self.seal(last, true)?;
        Ok((chunk, Sealed { size: self.size, sha256: self.hasher.finalize().into() }))
    }
}

/// Opens the chunks covering a plaintext byte range, as the ciphertext of those chunks arrives
/// in pieces of any size. Every chunk is authenticated before a byte of it is returned.
pub struct StreamOpener {
    cipher: Cipher,
    document_id: [u8; 16],
    header: [u8; HEADER_LEN],
    layout: BlobLayout,
    next: u64,
    end_chunk: u64,
    /// Plaintext offsets still wanted: [start, end).
    start: u64,
    end: u64,
    pending: BytesMut,
}

impl StreamOpener {
    /// For plaintext bytes `start..end` of a blob whose header and stored length are known.
    /// `blob_range()` says which ciphertext bytes to feed.
    pub fn new(key: &DataKey, document_id: [u8; 16], header: &[u8], blob_len: u64, start: u64, end: u64) -> Result<StreamOpener> {
        let (layout, header) = BlobLayout::parse(header, blob_len)?;
        if start > end || end > layout.plaintext_len {
            return Err(CryptoError::Format("range beyond the document"));
        }
        let chunks = if start == end { 0..0 } else { layout.chunks_for(start, end) };
        Ok(StreamOpener {
            cipher: key.cipher(),
            document_id,
            header,
            layout,
            next: chunks.start,
            end_chunk: chunks.end,
            start,
            end,
            pending: BytesMut::new(),
        })
    }

    pub fn layout(&self) -> &BlobLayout {
        &self.layout
    }

    /// The ciphertext bytes to read (empty for an empty range).
    pub fn blob_range(&self) -> std::ops::Range<u64> {
        if self.next >= self.end_chunk {
            return 0..0;
        }
        self.layout.chunk_span(self.next).0..self.layout.chunk_span(self.end_chunk - 1).1
    }

    fn open_next(&mut self, mut chunk: BytesMut) -> Result<Bytes> {
        let index = self.next;
        let last = index + 1 == self.layout.chunks;
        let n = nonce(&self.header, index)?;
        let aad = aad(&self.document_id, &self.header, index, last);
        let len = self.cipher.open_in_place(n, &aad, &mut chunk, "chunk")?;
        chunk.truncate(len);
        self.next += 1;
        let chunk_start = index * self.layout.chunk_size;
        let from = self.start.saturating_sub(chunk_start) as usize;
        let to = ((self.end - chunk_start) as usize).min(chunk.len());
        Ok(chunk.freeze().slice(from.min(to)..to))
    }

    /// Takes more ciphertext; returns the plaintext now authenticated.
    pub fn push(&mut self, mut data: &[u8]) -> Result<Vec<Bytes>> {
        let mut out = Vec::new();
        while !data.is_empty() {
            if self.next >= self.end_chunk {
                return Err(CryptoError::Format("more ciphertext than the range needs"));
            }
            let (s, e) = self.layout.chunk_span(self.next);
            let want = (e - s) as usize - self.pending.len();
            let take = want.min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if take == want {
                let chunk = std::mem::take(&mut self.pending);
                out.push(self.open_next(chunk)?);
            }
        }
        Ok(out)
    }

    /// Checks that every chunk of the range arrived (a short read is a truncation).
    pub fn finish(self) -> Result<()> {
        if self.next < self.end_chunk || !self.pending.is_empty() {
            return Err(CryptoError::Integrity("truncated"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::{open_all, seal_all};
    use proptest::prelude::*;

    const DOC: [u8; 16] = *b"document-0000001";

    fn seal_in_pieces(key: &DataKey, data: &[u8], cs: u32, piece: usize) -> (Vec<u8>, Sealed) {
        let mut s = StreamSealer::new(key, DOC, cs);
        let mut blob = s.header().to_vec();
        for p in data.chunks(piece.max(1)) {
            for c in s.push(p).expect("push") {
                blob.extend_from_slice(&c);
            }
        }
        let (last, sealed) = s.finish().expect("finish");
        blob.extend_from_slice(&last);
        (blob, sealed)
    }

    fn open_range(key: &DataKey, blob: &[u8], start: u64, end: u64, piece: usize) -> Result<Vec<u8>> {
        let mut o = StreamOpener::new(key, DOC, &blob[..HEADER_LEN], blob.len() as u64, start, end)?;
        let r = o.blob_range();
        let mut out = Vec::new();
        for p in blob[r.start as usize..r.end as usize].chunks(piece.max(1)) {
            for b in o.push(p)? {
                out.extend_from_slice(&b);
            }
        }
        o.finish()?;
        Ok(out)
    }

    proptest! {
        #[test]
        fn streaming_seal_equals_the_format_and_any_range_opens(
            data in prop::collection::vec(any::<u8>(), 0..3000),
            cs in 1u32..400,
            piece in 1usize..700,
            a in any::<prop::sample::Index>(),
            b in any::<prop::sample::Index>(),
        ) {
            let key = DataKey::generate();
            let (blob, sealed) = seal_in_pieces(&key, &data, cs, piece);
            prop_assert_eq!(sealed.size, data.len() as u64);
            prop_assert_eq!(sealed.sha256, <[u8; 32]>::from(Sha256::digest(&data)));
            prop_assert_eq!(&open_all(&key, DOC, &blob).expect("the blob format"), &data);
            let (mut s, mut e) = (a.index(data.len() + 1), b.index(data.len() + 1));
            if s > e { std::mem::swap(&mut s, &mut e); }
            prop_assert_eq!(open_range(&key, &blob, s as u64, e as u64, piece).expect("range"), data[s..e].to_vec());
        }

        #[test]
        fn a_flipped_bit_never_yields_its_chunk(
            data in prop::collection::vec(any::<u8>(), 1..2000),
            cs in 1u32..300,
            at in any::<prop::sample::Index>(),
        ) {
            let key = DataKey::generate();
            let mut blob = seal_all(&key, DOC, cs, &data).expect("seal");
            let i = HEADER_LEN + at.index(blob.len() - HEADER_LEN);
            blob[i] ^= 0x01;
            prop_assert!(open_range(&key, &blob, 0, data.len() as u64, 97).is_err());
        }
    }

    #[test]
    fn a_short_read_is_a_truncation() {
        let key = DataKey::generate();
        let data = vec![7u8; 1000];
        let blob = seal_all(&key, DOC, 100, &data).expect("seal");
        let mut o = StreamOpener::new(&key, DOC, &blob[..HEADER_LEN], blob.len() as u64, 0, 1000).expect("opener");
        let r = o.blob_range();
        let got = o.push(&blob[r.start as usize..(r.end as usize - 10)]).expect("chunks before the cut");
        assert_eq!(got.iter().map(|b| b.len()).sum::<usize>(), 900);
        assert!(o.finish().is_err());
        assert!(StreamOpener::new(&key, DOC, &blob[..HEADER_LEN], blob.len() as u64, 0, 1001).is_err(), "beyond the end");
    }
}
