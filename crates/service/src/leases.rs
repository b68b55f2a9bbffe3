//! Periodic jobs run by one node at a time (`JobLeaseStore`): on many nodes, the retention sweep
//! and the upload sweep each run about once per interval across the installation instead of
//! once per node. Both are idempotent, so a lease that ends while its sweep still runs costs a
//! duplicate round, never a wrong one.

use carnet_store::JobLeaseStore;

use crate::{Carnet, Result};

impl Carnet {
    /// Whether the node `holder` runs `job` now: `true` if it took or renewed the job's lease for
    /// `lease`; `false` while another node's lease runs. A node that dies holding it delays the
    /// job by one lease at most.
    pub async fn hold_job(&self, job: &str, holder: &str, lease: std::time::Duration) -> Result<bool> {
        let now = self.now();
        let until = now + time::Duration::try_from(lease).unwrap_or(time::Duration::HOUR);
        Ok(self.db.take_job_lease(job, holder, now, until).await?)
    }
}
