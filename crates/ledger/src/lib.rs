//! Carnet's access ledger: every access decision, permit or deny, appended to a tamper-evident
//! Merkle log in the style of certificate transparency (RFC 6962 / RFC 9162), in a store of its
//! own, with Ed25519-signed tree heads.
//!
//! Architecture invariant: only this crate writes ledger entries, and entries carry no clinical
//! content (ids and codes only).
//!
//! # Formats (enough to write an independent verifier)
//!
//! All hashes are SHA-256; all integers in signed messages are unsigned 64-bit big-endian; in JSON,
//! hashes, keys and signatures are lowercase hexadecimal strings.
//!
//! **Entries.** An entry is a UTF-8 JSON object; the bytes the ledger stores are the bytes it hashes
//! (never re-serialise an entry to check it: hash the stored bytes). Carnet writes the fields in
//! this order, omitting absent optional ones:
//! `at` (Unix ms), `actor` {`reference`, `role`, `name`?, `profession`?, `organisation`?, `app`?}, `ins`?,
//! `action`, `target`?, `outcome` (`"permit"` or `"deny"`), `reason`, `justification`? (entries written before
//! justifications were sealed), `justification_commitment`? (hex SHA-256 over
//! `"carnet.ledger.justification.v1" ‖ 0x00 ‖ nonce(32) ‖ text`; the opening is kept sealed outside).
//! At most 8 KiB. Entries are numbered from 0 in append order (the *leaf index*).
//!
//! **Tree.** RFC 9162 §2.1, with `D[n]` the list of stored entries 0..n:
//! ```text
//! leaf hash        = SHA-256(0x00 ‖ entry bytes)
//! node hash        = SHA-256(0x01 ‖ left ‖ right)
//! MTH({})          = SHA-256("")
//! MTH({d0})        = leaf hash of d0
//! MTH(D[n]), n > 1 = node hash(MTH(D[0:k]), MTH(D[k:n]))   k = largest power of two < n
//! ```
//!
//! **Inclusion proof** of leaf `index` in the tree of `tree_size`: RFC 9162 §2.1.3.1
//! `PATH(index, D[tree_size])`, sibling hashes from the leaf up; verified with the algorithm of
//! §2.1.3.2 ([`verify_inclusion`]).
//!
//! **Consistency proof** from `old_size` to `new_size`: RFC 9162 §2.1.4.1
//! `PROOF(old_size, D[new_size])`; verified with §2.1.4.2 ([`verify_consistency`]). The RFC defines
//! `0 < old < new`; otherwise the proof is empty and verifies iff the roots are equal (equal
//! sizes), or the old root is `SHA-256("")` (old size 0).
//!
//! **Signed tree head.** `{tree_size, root_hash, timestamp_ms, signature}`; the signature is a pure
//! Ed25519 (RFC 8032) signature over exactly 61 bytes:
//! ```text
//! "carnet-sth-v1" (13 ASCII bytes) ‖ tree_size (u64 BE) ‖ timestamp_ms (u64 BE) ‖ root_hash (32 bytes)
//! ```
//! Verification is strict ([`verify_tree_head`]).
//!
//! A verifier in Python needs only `hashlib` and an Ed25519 library:
//! ```text
//! leaf = lambda b: sha256(b"\x00" + b).digest()
//! node = lambda l, r: sha256(b"\x01" + l + r).digest()
//! def verify_inclusion(h, index, size, path, root):
//!     if index >= size: return False
//!     fn, sn, r = index, size - 1, h
//!     for p in path:
//!         if sn == 0: return False
//!         if fn & 1 or fn == sn:
//!             r = node(p, r)
//!             while fn & 1 == 0 and fn != 0: fn >>= 1; sn >>= 1
//!         else:
//!             r = node(r, p)
//!         fn >>= 1; sn >>= 1
//!     return sn == 0 and r == root
//! message = b"carnet-sth-v1" + size.to_bytes(8, "big") + timestamp_ms.to_bytes(8, "big") + root
//! ```
//! (`tests/python_verifier.rs` runs such a verifier, written from this page, against a real ledger.)
//!
//! # Storage
//!
//! [`LedgerStore`] is SQLite (`sqlite://PATH`, its own file, WAL, `synchronous=FULL`) or PostgreSQL
//! (schema `ledger`, migrated separately from the metadata store). It keeps the entries, every
//! completed perfect subtree (`nodes`, so proofs cost O(log n) lookups) and every signed tree head.
//! [`Ledger`] appends in group commits: one transaction, one fsync and one signed tree head per
//! batch. [`verify_store`] re-derives everything from the stored entry bytes.

mod appender;
mod audit;
mod bench;
mod entry;
pub(crate) mod hex;
pub mod merkle;
mod receipt;
mod store;
mod tree_head;
pub mod verify;

pub use appender::{AppendReceipt, GroupCommit, Ledger, LedgerConfig};
pub use audit::{VerifyReport, verify_store, verify_store_paced};
pub use bench::{BenchFigures, bench_appends};
pub use entry::{EntryActor, JustificationOpening, LedgerEntry, MAX_ENTRY_BYTES, Outcome, RecordedEntry};
pub use merkle::{Hash, NodeId, empty_root, leaf_hash, node_hash};
pub use receipt::{AccessReceipts, RECEIPT_FORMAT, ReceiptCheck, ReceiptEntry, ReceiptError};
pub use store::{Backend, EntryQuery, LedgerStore, MAX_PAGE};
pub use tree_head::{Ed25519Signer, SignedTreeHead, TREE_HEAD_CONTEXT, TREE_HEAD_MESSAGE_LEN, TreeHead, TreeHeadSigner, verify_tree_head};
pub use verify::{ConsistencyProof, InclusionProof, verify_consistency, verify_inclusion};

/// The one error type of this crate.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The entry is malformed (the caller's bug): nothing was written.
    #[error("ledger entry: {field} {problem}")]
    InvalidEntry { field: &'static str, problem: String },
    #[error("ledger entry too large: {size} bytes, at most {max}")]
    EntryTooLarge { size: usize, max: usize },
    /// A leaf index or tree size past what the ledger holds (HTTP 404).
    #[error("{what} {requested} is beyond the ledger (size {size})")]
    BeyondTree { what: &'static str, requested: u64, size: u64 },
    /// No tree head was signed at this size (HTTP 404).
    #[error("no signed tree head for size {size}")]
    UnknownTreeHead { size: u64 },
    /// A consistency proof asked from a larger to a smaller tree (HTTP 422).
    #[error("old size {old} is larger than new size {new}")]
    InvalidRange { old: u64, new: u64 },
    /// The batch holding this entry was not committed: the access must be refused.
    #[error("the ledger could not record the entry: {0}")]
    AppendFailed(String),
    /// The writer task is gone: the access must be refused.
    #[error("the ledger is closed")]
    Closed,
    /// An entry's indexed column (what searches select by) says something its hashed bytes do
    /// not: the column was changed behind the ledger's back.
    #[error("corrupt ledger: entry {index}'s `{column}` column disagrees with its hashed bytes")]
    ColumnsDisagree { index: u64, column: &'static str },
    /// The store contradicts itself (run `verify_store` for the details).
    #[error("corrupt ledger: {0}")]
    Corrupt(String),
    #[error("ledger URL: {0}")]
    Url(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migration(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T, E = LedgerError> = std::result::Result<T, E>;
