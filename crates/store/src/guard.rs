//! `EnumerationStore` on both backends: the enumeration guard's rows (access rule 15), shared by
//! every node. The store decides nothing: it applies the domain's `EnumerationRule::judge` to
//! what it holds, inside the transaction that notes the openings.

use carnet_domain::{EnumerationRule, GuardVerdict, Ins, Standing};
use time::OffsetDateTime;

use crate::Result;
use crate::database::{Database, on_writer};
use crate::time_codec::to_millis;

pub trait EnumerationStore {
    /// `actor_ref` looks up `records` (all at once) at `now`: the rule's verdict over the
    /// actor's openings within the window, and the openings noted if admitted. One actor's
    /// lookups are serialized across nodes (their row is locked for the check), so that two
    /// nodes never both admit the record over the limit.
    fn note_openings(
        &self,
        actor_ref: &str,
        records: &[Ins],
        now: OffsetDateTime,
        rule: &EnumerationRule,
    ) -> impl Future<Output = Result<GuardVerdict>> + Send;
    /// Deletes openings at or before `since` (out of every window), and actors left with none;
    /// how many openings.
    fn purge_openings(&self, since: OffsetDateTime) -> impl Future<Output = Result<u64>> + Send;
}

/// Keeps the later of the two openings (two nodes noting the same record out of order).
const NOTE: &str = "INSERT INTO guard_openings (actor_ref, ins, opened_at) VALUES ($1, $2, $3) \
     ON CONFLICT (actor_ref, ins) DO UPDATE SET opened_at = \
     CASE WHEN excluded.opened_at > guard_openings.opened_at THEN excluded.opened_at ELSE guard_openings.opened_at END";

impl EnumerationStore for Database {
    async fn note_openings(&self, actor_ref: &str, records: &[Ins], now: OffsetDateTime, rule: &EnumerationRule) -> Result<GuardVerdict> {
        let mut asked: Vec<&str> = records.iter().map(Ins::as_str).collect();
        asked.sort_unstable();
        asked.dedup();
        let since = to_millis(rule.since(now));
        let now = to_millis(now);
        let verdict = on_writer!(self, |pool| {
            async {
                let mut tx = pool.begin().await?;
                // The actor's row, locked until the commit (an upsert that changes nothing takes
                // the row's lock on PostgreSQL; on SQLite, the database's one write lock).
                let in_episode: bool = sqlx::query_scalar(
                    "INSERT INTO guard_actors (actor_ref, in_episode) VALUES ($1, FALSE) \
                     ON CONFLICT (actor_ref) DO UPDATE SET in_episode = guard_actors.in_episode RETURNING in_episode",
                )
                .bind(actor_ref)
                .fetch_one(&mut *tx)
                .await?;
                let counted: Vec<String> = sqlx::query_scalar("SELECT ins FROM guard_openings WHERE actor_ref = $1 AND opened_at > $2")
                    .bind(actor_ref)
                    .bind(since)
                    .fetch_all(&mut *tx)
                    .await?;
                let new = asked.iter().filter(|i| !counted.iter().any(|c| c == *i)).count();
                let judgement = rule.judge(Standing { counted: counted.len(), new, in_episode });
                if judgement.note {
                    for ins in &asked {
                        sqlx::query(NOTE).bind(actor_ref).bind(*ins).bind(now).execute(&mut *tx).await?;
                    }
                }
                if judgement.in_episode != in_episode {
                    sqlx::query("UPDATE guard_actors SET in_episode = $2 WHERE actor_ref = $1")
                        .bind(actor_ref)
                        .bind(judgement.in_episode)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok::<_, sqlx::Error>(judgement.verdict)
            }
            .await
        })?;
        Ok(verdict)
    }

    async fn purge_openings(&self, since: OffsetDateTime) -> Result<u64> {
        let since = to_millis(since);
        let purged = on_writer!(self, |pool| {
            async {
                let mut tx = pool.begin().await?;
                let purged =
                    sqlx::query("DELETE FROM guard_openings WHERE opened_at <= $1").bind(since).execute(&mut *tx).await?.rows_affected();
                // An actor without openings starts afresh: their next new record is admitted
                // (with a limit of at least one) whatever their episode was.
                sqlx::query(
                    "DELETE FROM guard_actors WHERE NOT EXISTS (SELECT 1 FROM guard_openings o WHERE o.actor_ref = guard_actors.actor_ref)",
                )
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>(purged)
            }
            .await
        })?;
        Ok(purged)
    }
}
