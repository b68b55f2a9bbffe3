//! `JobLeaseStore` on both backends: which node runs a periodic job now, and the leases a node
//! gives back when it shuts down.

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
    /// Gives back every lease the node `node` holds, in one transaction, so that another node
    /// takes the work up at its next round instead of at the lease's end: its periodic jobs'
    /// leases, its unfinished extraction jobs (owners `node:<round>`; the claim stays counted in
    /// `attempts`) and its undelivered notification claims (due again at `now`).
    fn release_leases(&self, node: &str, now: OffsetDateTime) -> impl Future<Output = Result<ReleasedLeases>> + Send;
}

/// What a node gave back (`JobLeaseStore::release_leases`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReleasedLeases {
    pub jobs: u64,
    pub extraction_jobs: u64,
    pub notifications: u64,
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

    async fn release_leases(&self, node: &str, now: OffsetDateTime) -> Result<ReleasedLeases> {
        // The extraction worker's owners are `node:<round>`: matched by prefix, without LIKE's wildcards.
        let round_prefix = format!("{node}:");
        let prefix_chars = i32::try_from(round_prefix.chars().count()).unwrap_or(i32::MAX);
        let released = on_writer!(self, |pool| {
            let mut tx = pool.begin().await?;
            let jobs = sqlx::query("DELETE FROM job_leases WHERE holder = $1").bind(node).execute(&mut *tx).await?.rows_affected();
            let extraction_jobs = sqlx::query(
                "UPDATE extraction_jobs SET lease_owner = NULL, lease_until = NULL \
                 WHERE state = 'pending' AND substr(lease_owner, 1, $2) = $1",
            )
            .bind(&round_prefix)
            .bind(prefix_chars)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let notifications =
                sqlx::query("UPDATE outbox SET next_attempt_at = $2, lease_owner = NULL WHERE lease_owner = $1 AND delivered_at IS NULL")
                    .bind(node)
                    .bind(to_millis(now))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            tx.commit().await?;
            ReleasedLeases { jobs, extraction_jobs, notifications }
        });
        Ok(released)
    }
}
