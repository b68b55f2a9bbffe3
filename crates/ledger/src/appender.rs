//! Appending with group commit: callers hand entries to one writer task, which commits whatever
//! has queued up (up to a batch limit) in one transaction — entries, their new subtree nodes and
//! one signed tree head, one fsync — then answers every caller of the batch.

use std::sync::Arc;

use carnet_domain::Clock;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use crate::entry::{LedgerEntry, RecordedEntry};
use crate::store::{Commit, EntryQuery, LedgerStore, PendingEntry, TreeState};
use crate::tree_head::{SignedTreeHead, TreeHeadSigner};
use crate::verify::{ConsistencyProof, InclusionProof};
use crate::{LedgerError, Result};

/// How entries are committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupCommit {
    /// Everything queued, up to `max_batch` entries, in one transaction.
    On { max_batch: usize },
    /// One transaction (and one signed head) per entry: the baseline for benchmarks.
    Off,
}

impl Default for GroupCommit {
    fn default() -> Self {
        GroupCommit::On { max_batch: 512 }
    }
}

#[derive(Clone)]
pub struct LedgerConfig {
    pub group_commit: GroupCommit,
    /// Timestamps of signed tree heads.
    pub clock: Arc<dyn Clock>,
    /// Entries waiting for the writer before `append` itself waits.
    pub queue_capacity: usize,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig { group_commit: GroupCommit::default(), clock: Arc::new(SystemClock), queue_capacity: 8192 }
    }
}

impl std::fmt::Debug for LedgerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerConfig")
            .field("group_commit", &self.group_commit)
            .field("queue_capacity", &self.queue_capacity)
            .finish_non_exhaustive()
    }
}

struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// Where an appended entry landed: its leaf index, and the size of the first signed tree head
/// that covers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendReceipt {
    pub index: u64,
    pub tree_size: u64,
}

/// One caller's entries (one, or several that must land together) and where to answer: the
/// index of the first and the size of the head that covers them all.
struct Request {
    entries: Vec<PendingEntry>,
    reply: oneshot::Sender<Result<AppendReceipt>>,
}

/// The ledger: append (from any number of tasks) and query. Cheap to clone; the writer stops
/// when the last clone is dropped, after committing what was queued.
#[derive(Clone)]
pub struct Ledger {
    store: LedgerStore,
    queue: mpsc::Sender<Request>,
    public_key: [u8; 32],
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").field("backend", &self.store.backend()).finish_non_exhaustive()
    }
}

impl Ledger {
    /// Opens the store at `url` (see `LedgerStore::open`) and starts the writer.
    pub async fn open(url: &str, signer: Arc<dyn TreeHeadSigner>, config: LedgerConfig) -> Result<Ledger> {
        Ledger::start(LedgerStore::open(url).await?, signer, config).await
    }

    /// Starts the writer on an open store. Loads the size and right border of the tree (O(log n)
    /// rows), refusing a store whose entries, subtrees and latest signed head disagree; signs the
    /// empty tree if the store is new.
    pub async fn start(store: LedgerStore, signer: Arc<dyn TreeHeadSigner>, config: LedgerConfig) -> Result<Ledger> {
        let mut state = None;
        let now_ms = now_ms(&*config.clock);
        store.commit(&mut state, Commit { entries: &[], signer: &*signer, now_ms }).await?;
        let max_batch = match config.group_commit {
            GroupCommit::On { max_batch } => max_batch.max(1),
            GroupCommit::Off => 1,
        };
        let (queue, requests) = mpsc::channel(config.queue_capacity.max(1));
        let public_key = signer.public_key();
        tokio::spawn(write(store.clone(), requests, signer, config.clock, max_batch, state));
        Ok(Ledger { store, queue, public_key })
    }

    /// Appends one entry and waits until it is committed (durably, under a signed tree head).
    /// An error means the entry is NOT in the ledger: the access it records must be refused.
    pub async fn append(&self, entry: &LedgerEntry) -> Result<AppendReceipt> {
        self.enqueue(vec![PendingEntry::new(entry)?]).await
    }

    /// Appends several entries in order, in one batch (one commit, one signed head; with group
    /// commit off too), and waits until they are committed. Their indices follow each other:
    /// the receipt gives the first's. All land or none does. No entry is the caller's bug.
    pub async fn append_all(&self, entries: &[LedgerEntry]) -> Result<AppendReceipt> {
        if entries.is_empty() {
            return Err(LedgerError::InvalidEntry { field: "entries", problem: "none to append".into() });
        }
        let pending = entries.iter().map(PendingEntry::new).collect::<Result<Vec<_>>>()?;
        self.enqueue(pending).await
    }

    async fn enqueue(&self, entries: Vec<PendingEntry>) -> Result<AppendReceipt> {
        let (reply, answer) = oneshot::channel();
        self.queue.send(Request { entries, reply }).await.map_err(|_| LedgerError::Closed)?;
        answer.await.map_err(|_| LedgerError::Closed)?
    }

    pub fn store(&self) -> &LedgerStore {
        &self.store
    }

    /// The key tree heads are signed with.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    pub async fn latest_tree_head(&self) -> Result<SignedTreeHead> {
        self.store.latest_tree_head().await?.ok_or_else(|| LedgerError::Corrupt("no signed tree head".into()))
    }

    pub async fn tree_head_at(&self, size: u64) -> Result<SignedTreeHead> {
        self.store.tree_head_at(size).await
    }

    pub async fn inclusion_proof(&self, index: u64, tree_size: u64) -> Result<InclusionProof> {
        self.store.inclusion_proof(index, tree_size).await
    }

    pub async fn inclusion_proofs(&self, indices: &[u64], tree_size: u64) -> Result<Vec<InclusionProof>> {
        self.store.inclusion_proofs(indices, tree_size).await
    }

    pub async fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<ConsistencyProof> {
        self.store.consistency_proof(old_size, new_size).await
    }

    pub async fn entry(&self, index: u64) -> Result<RecordedEntry> {
        self.store.entry(index).await
    }

    pub async fn entries_at(&self, indices: &[u64]) -> Result<Vec<RecordedEntry>> {
        self.store.entries_at(indices).await
    }

    pub async fn find_entries(&self, query: &EntryQuery) -> Result<Vec<RecordedEntry>> {
        self.store.find_entries(query).await
    }
}

fn now_ms(clock: &dyn Clock) -> u64 {
    u64::try_from(clock.now().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// The writer: drains the queue batch by batch until every `Ledger` is dropped.
async fn write(
    store: LedgerStore,
    mut requests: mpsc::Receiver<Request>,
    signer: Arc<dyn TreeHeadSigner>,
    clock: Arc<dyn Clock>,
    max_batch: usize,
    mut state: Option<TreeState>,
) {
    // `max_batch` counts requests: a request of several entries is never split, so a batch may
    // hold a few more entries than that.
    let mut batch = Vec::with_capacity(max_batch);
    let mut entries = Vec::with_capacity(max_batch);
    while requests.recv_many(&mut batch, max_batch).await > 0 {
        let mut replies = Vec::with_capacity(batch.len());
        for request in batch.drain(..) {
            replies.push((request.entries.len() as u64, request.reply));
            entries.extend(request.entries);
        }
        let commit = Commit { entries: &entries, signer: &*signer, now_ms: now_ms(&*clock) };
        let committed = store.commit(&mut state, commit).await;
        match committed {
            Ok(done) => {
                let mut index = done.first_index;
                for (count, reply) in replies {
                    // A caller that stopped waiting is fine: its entries are logged all the same.
                    let _ = reply.send(Ok(AppendReceipt { index, tree_size: done.tree_size }));
                    index += count;
                }
            }
            Err(e) => {
                // The state was dropped with the failed transaction; the next batch reloads it.
                tracing::error!(error = %e, entries = entries.len(), "ledger batch not committed");
                let message = e.to_string();
                for (_, reply) in replies {
                    let _ = reply.send(Err(LedgerError::AppendFailed(message.clone())));
                }
            }
        }
        entries.clear();
    }
}
