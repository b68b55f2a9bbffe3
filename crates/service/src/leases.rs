//! Periodic jobs run by one node at a time (`JobLeaseStore`): on many nodes, the retention sweep
//! and the upload sweep each run about once per interval across the installation instead of
//! once per node. Both are idempotent, so a lease that ends while its sweep still runs costs a
//! duplicate round, never a wrong one. A node shutting down gives its leases back
//! (`release_leases`), so that another takes the work up at its next round.

use carnet_store::{JobLeaseStore, ReleasedLeases};

use crate::{Carnet, Result};

/// A name for this process among the installation's nodes: the machine, the process, and a
/// start of its own (a restarted process is another holder).
pub(crate) fn this_node() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "carnet".into());
    format!("{host}:{}:{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8])
}

impl Carnet {
    /// This node's name in the leases it takes (job leases, notification claims, extraction rounds).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Whether the node `holder` runs `job` now: `true` if it took or renewed the job's lease for
    /// `lease`; `false` while another node's lease runs. A node that dies holding it delays the
    /// job by one lease at most.
    pub async fn hold_job(&self, job: &str, holder: &str, lease: std::time::Duration) -> Result<bool> {
        let now = self.now();
        let until = now + time::Duration::try_from(lease).unwrap_or(time::Duration::HOUR);
        Ok(self.db.take_job_lease(job, holder, now, until).await?)
    }

    /// At shutdown, once this node's background work has stopped: gives back the job leases,
    /// extraction jobs and notification claims held under `node()`, so that the other nodes
    /// take them at their next round rather than when the leases end. A node killed instead
    /// leaves them to expire, as before.
    pub async fn release_leases(&self) -> Result<ReleasedLeases> {
        Ok(self.db.release_leases(&self.node, self.now()).await?)
    }
}
