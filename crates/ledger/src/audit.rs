//! Offline verification of a whole store: everything re-derived from the stored entry bytes.

use std::collections::{HashMap, VecDeque};

use carnet_domain::hex;

use crate::Result;
use crate::merkle::{CompactRange, NodeId, leaf_hash};
use crate::store::{HeadRow, LedgerStore};
use crate::tree_head::verify_tree_head;

const PAGE: i64 = 1000;

/// What `verify_store` found. Clean when `problem` is `None`.
///
/// `first_bad_index` is the first leaf index that cannot be trusted:
/// - an entry whose bytes no longer hash to its stored leaf hash, a missing index (deleted or
///   shifted entries), an entry with no stored leaf hash, or an indexed column (`at`, `ins`,
///   `actor_ref`, `action`, `outcome`) that disagrees with the hashed bytes: that entry's index,
///   exactly;
/// - a stored subtree node that does not match its leaves: the first leaf it covers;
/// - a signed tree head whose signature or root does not match (e.g. entries and nodes rewritten
///   together): the first index that head covers beyond the previous, verified head — the change
///   lies in `[first_bad_index, that head's size)`;
/// - signed heads covering entries that are gone (truncation): the first missing index;
/// - entries beyond the latest signed head (inserted, unsigned): the first uncovered index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries verified (all of them when clean; those before the problem otherwise).
    pub entries: u64,
    /// Signed tree heads whose signature and root were verified.
    pub tree_heads_checked: u64,
    pub first_bad_index: Option<u64>,
    pub problem: Option<String>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.problem.is_none()
    }
}

/// Recomputes the tree from the stored entries, in pages (memory stays bounded), and checks:
/// indices contiguous from 0; each leaf and subtree hash against the stored nodes; each entry's
/// indexed columns against its hashed bytes; every signed
/// tree head (signature under one of `public_keys`, root equal to the recomputed root at its size);
/// and that the latest signed head covers every entry. Stops at the first problem.
/// `Err` only if the store cannot be read at all; damage is reported, never a panic.
pub async fn verify_store(store: &LedgerStore, public_keys: &[[u8; 32]]) -> Result<VerifyReport> {
    verify_store_paced(store, public_keys, std::time::Duration::ZERO).await
}

/// `verify_store`, pausing `pause` after each page of entries: a running server's periodic
/// verification leaves the disk to the requests it serves.
pub async fn verify_store_paced(store: &LedgerStore, public_keys: &[[u8; 32]], pause: std::time::Duration) -> Result<VerifyReport> {
    let mut audit = Audit { report: VerifyReport::default(), range: CompactRange::new(), last_good_head: 0 };
    let mut heads = Heads { store, buffer: VecDeque::new(), after: -1, exhausted: false };
    if let Some(bad) = audit.check_heads(&mut heads, public_keys).await? {
        return Ok(bad);
    }
    let mut after = -1i64;
    loop {
        let page = store.entries_page(after, PAGE).await?;
        if page.is_empty() {
            break;
        }
        if !pause.is_zero() && after >= 0 {
            tokio::time::sleep(pause).await;
        }
        let first = audit.range.size();
        let end = first + page.len() as u64;
        let mut stored = HashMap::new();
        for row in store.completed_nodes(first, end).await? {
            match row {
                Ok(row) => {
                    if let Some(id) = row.id() {
                        stored.insert(id, row.hash);
                    }
                }
                Err(e) => return Ok(audit.fail(first, format!("a subtree node row cannot be read: {e}"))),
            }
        }
        for row in page {
            let expected = audit.range.size();
            let row = match row {
                Ok(row) => row,
                Err(e) => return Ok(audit.fail(expected, format!("the entry row after index {after} cannot be read: {e}"))),
            };
            if row.idx != i64::try_from(expected).unwrap_or(i64::MAX) {
                let problem = if row.idx > after {
                    format!("entry {expected} is missing: the next stored index is {}", row.idx)
                } else {
                    format!("unexpected entry index {} where {expected} was expected", row.idx)
                };
                return Ok(audit.fail(expected, problem));
            }
            let mut mismatch: Option<(NodeId, bool)> = None;
            audit.range.append(leaf_hash(&row.bytes), |id, hash| {
                if mismatch.is_none() {
                    match stored.get(&id) {
                        None => mismatch = Some((id, true)),
                        Some(h) if h.as_slice() != hash.as_slice() => mismatch = Some((id, false)),
                        Some(_) => {}
                    }
                }
            });
            if let Some((id, missing)) = mismatch {
                let problem = match (id.level, missing) {
                    (0, true) => format!("entry {expected} has no stored leaf hash"),
                    (0, false) => format!("entry {expected} does not hash to its stored leaf hash"),
                    (_, true) => format!("subtree node {id:?} is missing"),
                    (_, false) => format!("subtree node {id:?} does not match the entries it covers"),
                };
                return Ok(audit.fail(if id.level == 0 { expected } else { id.first_leaf() }, problem));
            }
            // The hash covers the bytes only; the columns searches select by must say the same.
            match crate::entry::LedgerEntry::from_canonical_bytes(&row.bytes) {
                Err(e) => return Ok(audit.fail(expected, format!("entry {expected} hashes correctly but cannot be read: {e}"))),
                Ok(entry) => {
                    if let Some(column) = row.columns.disagreement(&entry) {
                        let problem = format!(
                            "entry {expected}'s indexed column `{column}` does not say what its hashed bytes say (changed outside Carnet: \
                             searches by patient or actor would misplace it)"
                        );
                        return Ok(audit.fail(expected, problem));
                    }
                }
            }
            audit.report.entries += 1;
            after = row.idx;
            if let Some(bad) = audit.check_heads(&mut heads, public_keys).await? {
                return Ok(bad);
            }
        }
    }
    let size = audit.range.size();
    if let Some(row) = heads.peek().await? {
        let problem = match row {
            Ok(row) => {
                format!("the signed tree head of size {} covers entries from {size} that are not in the store (truncated)", row.tree_size)
            }
            Err(e) => format!("a tree head row cannot be read: {e}"),
        };
        return Ok(audit.fail(size, problem));
    }
    if audit.last_good_head < size {
        let problem = format!("entries {}..{size} are covered by no signed tree head (inserted, or never signed)", audit.last_good_head);
        return Ok(audit.fail(audit.last_good_head, problem));
    }
    Ok(audit.report)
}

struct Audit {
    report: VerifyReport,
    range: CompactRange,
    /// Size of the last head verified: the start of the range the next head vouches for.
    last_good_head: u64,
}

impl Audit {
    fn fail(&mut self, index: u64, problem: String) -> VerifyReport {
        let mut report = self.report.clone();
        report.first_bad_index = Some(index);
        report.problem = Some(problem);
        report
    }

    /// Checks every head whose size is the current size (and reports any the walk skipped).
    async fn check_heads(&mut self, heads: &mut Heads<'_>, keys: &[[u8; 32]]) -> Result<Option<VerifyReport>> {
        let size = self.range.size();
        while let Some(row) = heads.peek().await? {
            let sth = match row.as_ref().map_err(String::clone).and_then(HeadRow::parse) {
                Ok(sth) => sth,
                Err(e) => {
                    let problem = format!("a tree head row cannot be read: {e}");
                    return Ok(Some(self.fail(self.last_good_head, problem)));
                }
            };
            if sth.head.tree_size > size {
                return Ok(None);
            }
            heads.pop();
            let covered = format!("{}..{}", self.last_good_head, sth.head.tree_size);
            if !keys.iter().any(|key| verify_tree_head(&sth, key)) {
                let problem =
                    format!("the tree head of size {} is not signed by the given key (it covers entries {covered})", sth.head.tree_size);
                return Ok(Some(self.fail(self.last_good_head, problem)));
            }
            let root = self.range.root();
            if sth.head.tree_size != size || sth.head.root_hash != root {
                let problem = format!(
                    "the signed tree head of size {} (root {}) does not match the stored entries {covered} (root {})",
                    sth.head.tree_size,
                    hex::encode(&sth.head.root_hash),
                    hex::encode(&root)
                );
                return Ok(Some(self.fail(self.last_good_head, problem)));
            }
            self.last_good_head = size;
            self.report.tree_heads_checked += 1;
        }
        Ok(None)
    }
}

/// The signed heads in ascending size, fetched a page at a time.
struct Heads<'a> {
    store: &'a LedgerStore,
    buffer: VecDeque<std::result::Result<HeadRow, String>>,
    after: i64,
    exhausted: bool,
}

impl Heads<'_> {
    async fn peek(&mut self) -> Result<Option<&std::result::Result<HeadRow, String>>> {
        if self.buffer.is_empty() && !self.exhausted {
            let page = self.store.heads_page(self.after, PAGE).await?;
            self.exhausted = (page.len() as i64) < PAGE;
            if let Some(Ok(last)) = page.last() {
                self.after = last.tree_size;
            }
            self.buffer.extend(page);
        }
        Ok(self.buffer.front())
    }

    fn pop(&mut self) {
        self.buffer.pop_front();
    }
}
