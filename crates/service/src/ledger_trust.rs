//! Whether the ledger can be trusted, and what happens when it cannot.
//!
//! The metadata store keeps a checkpoint: the latest signed tree head of the ledger it has seen
//! (`LedgerCheckpointStore`). At start (`check_ledger`) the ledger must carry this installation's
//! signature on its latest head, hold at least the checkpoint's entries, and hold the same head at
//! the checkpoint's size: a ledger deleted, emptied, replaced by an older copy, or rewritten
//! under a new head fails. The checkpoint then advances to the latest head, and keeps advancing
//! as the server runs (`checkpoint_ledger`).
//!
//! A ledger that fails stops every clinical read and write: each of them is recorded in the
//! ledger first (`record_event`), which refuses while the ledger is untrusted — nothing is done
//! that the ledger cannot prove, and nothing is signed on top of a tree that fails its checks.
//! The published heads and proofs stay readable, so the damage can be examined.
//!
//! On many nodes, the node that finds the ledger untrustworthy says so in the metadata store
//! (`ledger_distrust`); every other node takes it up at its next checkpoint (every 10 s in
//! `serve`) or start, until an operator's acknowledged restore removes it.

use carnet_ledger::{LedgerError, LedgerStore, SignedTreeHead, verify_tree_head};
use carnet_store::{Database, LedgerCheckpoint, LedgerCheckpointStore};

use crate::{Carnet, Result, ServiceError};

fn checkpoint_of(head: &SignedTreeHead) -> LedgerCheckpoint {
    LedgerCheckpoint {
        tree_size: head.head.tree_size,
        root: head.head.root_hash.to_vec(),
        timestamp_ms: head.head.timestamp_ms,
        signature: head.signature.to_vec(),
    }
}

impl Carnet {
    /// Why the ledger is not trusted, if it is not (health reports it).
    pub fn ledger_problem(&self) -> Option<String> {
        self.ledger_problem.read().map_or_else(|poisoned| poisoned.into_inner().clone(), |p| p.clone())
    }

    fn distrust_ledger(&self, problem: String) {
        tracing::error!(%problem, "the ledger failed its checks: clinical reads and writes are refused until an operator acts");
        match self.ledger_problem.write() {
            Ok(mut p) => *p = Some(problem),
            Err(poisoned) => *poisoned.into_inner() = Some(problem),
        }
    }

    /// Distrusts the ledger here and tells the other nodes (`ledger_distrust`, read with their
    /// checkpoint). Here first: the store may be what fails.
    async fn distrust_ledger_everywhere(&self, problem: &str) {
        self.distrust_ledger(problem.to_owned());
        if let Err(e) = self.db.distrust_ledger(problem, self.now()).await {
            tracing::error!(error = %e, "telling the other nodes that the ledger is untrusted");
        }
    }

    /// Takes up another node's distrust of the ledger, if there is one; `true` if distrusted.
    async fn follow_other_nodes(&self) -> Result<bool> {
        if self.ledger_problem().is_some() {
            return Ok(true);
        }
        match self.db.ledger_distrust().await? {
            Some(problem) => {
                self.distrust_ledger(format!("another node found: {problem}"));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Refuses while the ledger is untrusted (every recorded access goes through here).
    pub(crate) fn ledger_trusted(&self) -> Result<()> {
        match self.ledger_problem() {
            None => Ok(()),
            Some(problem) => Err(ServiceError::Ledger(LedgerError::Corrupt(problem))),
        }
    }

    /// The start-up check (see the module's documentation). `Ok(None)`: trusted, and the
    /// checkpoint advanced; `Ok(Some(problem))`: untrusted, and clinical work is refused from now
    /// on. `Err`: a store could not be read.
    pub async fn check_ledger(&self) -> Result<Option<String>> {
        let problem = self.ledger_check().await?;
        match &problem {
            Some(problem) => self.distrust_ledger_everywhere(problem).await,
            None if self.follow_other_nodes().await? => return Ok(self.ledger_problem()),
            None => {
                let latest = self.ledger.latest_tree_head().await?;
                self.db.advance_ledger_checkpoint(&checkpoint_of(&latest)).await?;
            }
        }
        Ok(problem)
    }

    async fn ledger_check(&self) -> Result<Option<String>> {
        ledger_against_checkpoint(&self.db, self.ledger.store(), &self.ledger.public_key()).await
    }

    /// The periodic full verification (`verify_store`, paced) and the checkpoint check. A
    /// failure distrusts the ledger (clinical work refused, as at start) and puts an item in
    /// the privacy officer's queue — once, when the ledger turns untrusted. Returns the problem.
    pub async fn verify_ledger_now(&self, pause: std::time::Duration) -> Result<Option<String>> {
        let key = self.ledger.public_key();
        let report = carnet_ledger::verify_store_paced(self.ledger.store(), &[key], pause).await?;
        let problem = match report.problem {
            Some(problem) => Some(match report.first_bad_index {
                Some(index) => format!("the ledger fails verification at entry {index}: {problem}"),
                None => format!("the ledger fails verification: {problem}"),
            }),
            None => self.ledger_check().await?,
        };
        if let Some(problem) = &problem
            && self.ledger_problem().is_none()
        {
            self.distrust_ledger_everywhere(problem).await;
            let item = carnet_store::ReviewItem {
                id: uuid::Uuid::new_v4().to_string(),
                kind: "ledger".into(),
                ins: None,
                actor_ref: "system:carnet".into(),
                summary: problem.clone(),
                // The bad entry is named in the summary: it is not an access to show as one.
                ledger_index: None,
                opened_at: self.now(),
                status: "open".into(),
                notes: "[]".into(),
                version: 0,
            };
            carnet_store::ReviewStore::insert_review_item(&self.db, &item).await?;
        }
        Ok(problem)
    }

    /// Advances the checkpoint to the ledger's latest head (periodic, and at shutdown). Nothing
    /// while the ledger is untrusted, here or by another node (whose distrust this node then
    /// takes up: on many nodes, within one checkpoint period).
    pub async fn checkpoint_ledger(&self) -> Result<()> {
        if self.follow_other_nodes().await? {
            return Ok(());
        }
        let latest = self.ledger.latest_tree_head().await?;
        self.db.advance_ledger_checkpoint(&checkpoint_of(&latest)).await?;
        Ok(())
    }

    /// After an operator acknowledged a deliberate restore (recorded in the ledger first): the
    /// checkpoint becomes the ledger's latest head, whatever it was.
    pub(crate) async fn accept_ledger(&self) -> Result<()> {
        let latest = self.ledger.latest_tree_head().await?;
        self.db.reset_ledger_checkpoint(&checkpoint_of(&latest)).await?;
        Ok(())
    }
}

/// What is wrong with `ledger` as the metadata store `db` has seen it, if anything: its latest
/// head not signed by `public_key`, fewer entries than the checkpoint, or another head at the
/// checkpoint's size. Shared by the start-up check and `carnet ledger verify`.
pub async fn ledger_against_checkpoint(db: &Database, ledger: &LedgerStore, public_key: &[u8; 32]) -> Result<Option<String>> {
    let latest = match ledger.latest_tree_head().await? {
        Some(head) => head,
        None => return Ok(Some("the ledger holds no signed tree head".to_owned())),
    };
    if !verify_tree_head(&latest, public_key) {
        return Ok(Some(format!(
            "the ledger's latest tree head (size {}) does not carry this installation's signature",
            latest.head.tree_size
        )));
    }
    let Some(seen) = db.ledger_checkpoint().await? else { return Ok(None) };
    if latest.head.tree_size < seen.tree_size {
        return Ok(Some(format!(
            "the ledger holds {} entries, but this installation has seen a signed tree head of {}: \
             the ledger was deleted, emptied or replaced by an older copy",
            latest.head.tree_size, seen.tree_size
        )));
    }
    match ledger.tree_head_at(seen.tree_size).await {
        Ok(head) if head.head.root_hash.as_slice() == seen.root.as_slice() => Ok(None),
        Ok(_) => Ok(Some(format!(
            "the ledger's signed tree head at size {} is not the one this installation has seen: the ledger was rewritten",
            seen.tree_size
        ))),
        Err(LedgerError::UnknownTreeHead { .. }) => Ok(Some(format!(
            "the ledger has no signed tree head at size {}, which this installation has seen: the ledger was rewritten",
            seen.tree_size
        ))),
        Err(e) => Err(e.into()),
    }
}
