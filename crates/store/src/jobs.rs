//! `JobLeaseStore` on both backends: which node runs a periodic job now.

use time::OffsetDateTime;

use crate::Result;
use crate::database::{Database, on_writer};
use crate::time_codec::to_millis;

pub trait JobLeaseStore {
    /// Takes or renews `job`'s lease for `holder` until `until`: `true` if `holder` holds it now
    /// (it was free, had ended by `now`, or was `holder`'s already); `false` if another holder's
    /// lease runs on. One statement, so two nodes asking at once never both get it.
    fn take_job_lease(
        &self,
        job: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> impl Future<Output = Result<bool>> + Send;
}

impl JobLeaseStore for Database {
    async fn take_job_lease(&self, job: &str, holder: &str, now: OffsetDateTime, until: OffsetDateTime) -> Result<bool> {
        let taken: Option<(String,)> = on_writer!(self, |pool| sqlx::query_as(
            "INSERT INTO job_leases (job, holder, leased_until) VALUES ($1, $2, $4) \
             ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, leased_until = excluded.leased_until \
             WHERE job_leases.leased_until <= $3 OR job_leases.holder = excluded.holder \
             RETURNING job"
        )
        .bind(job)
        .bind(holder)
        .bind(to_millis(now))
        .bind(to_millis(until))
        .fetch_optional(pool)
        .await)?;
        Ok(taken.is_some())
    }
}
