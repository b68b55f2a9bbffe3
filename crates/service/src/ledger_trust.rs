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
//! `serve`) or start. An operator's acknowledged restore removes it and counts one more restore
//! (`ledger_restores`); each node keeps the count under which it distrusted, so at its next
//! checkpoint it sees the count grown, lifts its distrust and checks the ledger again (a ledger
//! still bad is distrusted again, a new episode). A finding is written for the others only under
//! the count read before its check: one made before a restore cannot raise the distrust again.

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

/// This node's distrust of the ledger.
#[derive(Debug, Clone)]
pub(crate) struct Distrust {
    problem: String,
    /// The acknowledged restores when it was found or taken up: a larger count lifts it.
    restores: u64,
}

impl Carnet {
    /// Why the ledger is not trusted, if it is not (health reports it).
    pub fn ledger_problem(&self) -> Option<String> {
        self.distrust().map(|d| d.problem)
    }

    fn distrust(&self) -> Option<Distrust> {
        self.ledger_problem.read().map_or_else(|poisoned| poisoned.into_inner().clone(), |d| d.clone())
    }

    fn set_distrust(&self, distrust: Option<Distrust>) {
        match self.ledger_problem.write() {
            Ok(mut d) => *d = distrust,
            Err(poisoned) => *poisoned.into_inner() = distrust,
        }
    }

    /// Lifts a distrust older than the `restores`-th restore; one found since (by another task
    /// of this node, meanwhile) stays.
    fn lift_distrust(&self, restores: u64) {
        let lift = |d: &mut Option<Distrust>| {
            if d.as_ref().is_some_and(|d| d.restores < restores) {
                *d = None;
            }
        };
        match self.ledger_problem.write() {
            Ok(mut d) => lift(&mut d),
            Err(poisoned) => lift(&mut poisoned.into_inner()),
        }
    }

    fn distrust_ledger(&self, problem: String, restores: u64) {
        tracing::error!(%problem, "the ledger failed its checks: clinical reads and writes are refused until an operator acts");
        self.set_distrust(Some(Distrust { problem, restores }));
    }

    /// Distrusts the ledger here and tells the other nodes (`ledger_distrust`, read with their
    /// checkpoint), `restores` being the count read before the check that found `problem`. Here
    /// first: the store may be what fails (the next checkpoint writes it again).
    async fn distrust_ledger_everywhere(&self, problem: &str, restores: u64) {
        self.distrust_ledger(problem.to_owned(), restores);
        self.share_distrust(problem, restores).await;
    }

    async fn share_distrust(&self, problem: &str, restores: u64) {
        match self.db.distrust_ledger(problem, self.now(), restores).await {
            Ok(true) => {}
            // This node lifts it at its next checkpoint, and checks the restored ledger again.
            Ok(false) => tracing::warn!(%problem, "a restore was acknowledged since this finding: not shared"),
            Err(e) => tracing::error!(error = %e, "telling the other nodes that the ledger is untrusted"),
        }
    }

    /// Brings this node's distrust in line with the installation's (`LedgerTrust`): takes up
    /// another node's finding; lifts its own distrust once a restore was acknowledged since, then
    /// checks the ledger again; shares a finding of its own that the store missed. `true` if the
    /// ledger stays distrusted here.
    async fn follow_other_nodes(&self) -> Result<bool> {
        let shared = self.db.ledger_trust().await?;
        match (self.distrust(), shared.distrust) {
            (Some(mine), Some(_)) if mine.restores >= shared.restores => Ok(true),
            (_, Some(problem)) => {
                self.distrust_ledger(format!("another node found: {problem}"), shared.restores);
                Ok(true)
            }
            (Some(mine), None) if mine.restores >= shared.restores => {
                // Found here, and the store did not keep it (or not yet): no restore since, so it stands.
                self.share_distrust(&mine.problem, mine.restores).await;
                Ok(true)
            }
            (Some(mine), None) => {
                tracing::warn!(problem = %mine.problem, "an operator acknowledged a restore: the ledger is checked again");
                match self.ledger_check().await? {
                    Some(problem) => {
                        self.distrust_ledger_everywhere(&problem, shared.restores).await;
                        Ok(true)
                    }
                    None => {
                        self.lift_distrust(shared.restores);
                        tracing::info!("the ledger is trusted again");
                        Ok(self.ledger_problem().is_some())
                    }
                }
            }
            (None, None) => Ok(false),
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
        let restores = self.db.ledger_trust().await?.restores;
        let problem = self.ledger_check().await?;
        match &problem {
            Some(problem) => self.distrust_ledger_everywhere(problem, restores).await,
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
        // Read first: a finding about a ledger restored meanwhile is not shared.
        let restores = self.db.ledger_trust().await?.restores;
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
            self.distrust_ledger_everywhere(problem, restores).await;
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
    /// takes up, as it takes up an acknowledged restore: on many nodes, within one checkpoint period).
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
