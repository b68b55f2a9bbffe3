//! A restore from a backup, recorded in the ledger it restored.
//!
//! A restored ledger is the backup's: entries appended after the backup was taken are gone, so
//! the tree published since (receipts, witnesses) forks from it. The first thing a restored
//! installation does is say so, in a signed entry naming the backup and the head it restored,
//! so that whoever compares tree heads sees a deliberate restore, not a silent rollback.

use carnet_domain::Actor;
use carnet_ledger::SignedTreeHead;

use crate::audit::Event;
use crate::{Carnet, Result};

/// The action of the entry a restore appends.
pub const RESTORE_ACTION: &str = "ledger.restore";

impl Carnet {
    /// Appends the restore's entry: target `backup:<id> size:<tree size> root:<hex root>` (the
    /// backup's latest signed head), reason `deliberate_restore`. Returns its leaf index.
    ///
    /// Not an access decision: no record is read or changed, and whoever could run the restore
    /// already held the backup and the master keys; the entry records what they did. It is
    /// also the acknowledgement that lifts a ledger check's refusal (`ledger_trust`): the
    /// metadata store's checkpoint becomes the ledger's latest head.
    pub async fn record_restore(&self, actor: &Actor, backup_id: &str, head: Option<&SignedTreeHead>) -> Result<u64> {
        let (size, root) = head.map_or((0, carnet_ledger::empty_root()), |h| (h.head.tree_size, h.head.root_hash));
        let target = format!("backup:{backup_id} size:{size} root:{}", carnet_domain::hex::encode(&root));
        let index = self.append_event(actor, Event::permit(RESTORE_ACTION, None, Some(target), "deliberate_restore")).await?;
        // The ledger as it now stands is the one this installation vouches for.
        self.accept_ledger().await?;
        Ok(index)
    }
}
