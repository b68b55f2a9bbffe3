//! `PolicyStore`, `ReviewStore` and `NotificationStore` on both backends: the patient's access
//! choices, emergency accesses, the privacy officer's queue, and the durable outbox.

use carnet_domain::policy::PatientPolicy;
use carnet_domain::{EmergencyAccess, Ins};
use time::OffsetDateTime;

use crate::database::{on_pool, on_writer};
use crate::time_codec::{from_millis, to_millis};
use crate::{Database, Result, StoreError};

fn corrupt(what: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt { what, detail: detail.to_string() }
}

/// See `PolicyStore::find_gate_inputs`.
#[derive(Debug, Clone, PartialEq)]
pub struct GateInputs {
    pub record: carnet_domain::Record,
    pub policy: StoredPolicy,
    pub emergency: Option<EmergencyAccess>,
    /// The patient's document generation in the same snapshot, for
    /// `DocumentStore::find_documents_at`.
    pub documents_generation: i64,
}

/// A patient's policy as stored, with the version a save must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPolicy {
    pub policy: PatientPolicy,
    /// 0 for a policy never saved (the default: nobody authorized).
    pub version: i64,
}

/// A notification waiting for delivery. The payload is JSON of ids, codes and names of
/// professionals — never clinical content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: String,
    pub ins: Ins,
    /// `new_document`, `first_access`, `emergency_access`, `policy_change`.
    pub kind: String,
    /// `patient`, or `rpps:<RPPS>` for a professional (e.g. the médecin traitant).
    pub recipient: String,
    pub payload: String,
    pub created_at: OffsetDateTime,
    pub attempts: u32,
}

/// An item of the privacy officer's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewItem {
    pub id: String,
    /// `emergency` or `enumeration`.
    pub kind: String,
    pub ins: Option<Ins>,
    pub actor_ref: String,
    /// Codes and ids: what happened, for the reviewer (e.g. `bris_de_glace until 2026-…`).
    pub summary: String,
    pub ledger_index: Option<u64>,
    pub opened_at: OffsetDateTime,
    /// `open` or `acknowledged`.
    pub status: String,
    /// JSON array of `{by, at, text}`.
    pub notes: String,
    pub version: i64,
}

/// How a patient wants to be told. Address and URL are sealed under the patient's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPreferences {
    pub email_sealed: Option<Vec<u8>>,
    pub email_enabled: bool,
    pub webhook_sealed: Option<Vec<u8>>,
    /// Codes of the kinds not wanted, comma-separated (not clinical, not sealed).
    pub muted_kinds: String,
}

/// The patient's access choices and emergency accesses.
pub trait PolicyStore {
    /// The policy of `ins` (the default, version 0, if none was saved).
    fn find_policy(&self, ins: &Ins) -> impl Future<Output = Result<StoredPolicy>> + Send;
    /// Saves a policy read at `read_version`, with the notifications it causes, in one
    /// transaction; `Stale` if another change landed meanwhile.
    fn save_policy(
        &self,
        ins: &Ins,
        policy: &PatientPolicy,
        read_version: i64,
        now: OffsetDateTime,
        notify: &[OutboxMessage],
    ) -> impl Future<Output = Result<()>> + Send;
    /// Records an emergency access with its review item and notifications, in one transaction.
    fn save_emergency(
        &self,
        id: &str,
        access: &EmergencyAccess,
        review: &ReviewItem,
        notify: &[OutboxMessage],
    ) -> impl Future<Output = Result<()>> + Send;
    /// The actor's latest emergency access to this record, current or not.
    fn find_latest_emergency(&self, actor_ref: &str, ins: &Ins) -> impl Future<Output = Result<Option<EmergencyAccess>>> + Send;
    /// The actor's emergency accesses to any record, the latest opened first, at most `limit`
    /// (their own activity page: when each expires or expired).
    fn find_emergencies_by(&self, actor_ref: &str, limit: u32) -> impl Future<Output = Result<Vec<EmergencyAccess>>> + Send;
    /// What deciding on `ins` needs, in one statement: the record (`None` if absent or
    /// destroyed, like `find_record_by_ins`), its policy (`find_policy`) and, given an actor,
    /// their latest emergency access to it (`find_latest_emergency`). A search then waits on
    /// one round trip to the database instead of three.
    fn find_gate_inputs(&self, ins: &Ins, actor_ref: Option<&str>) -> impl Future<Output = Result<Option<GateInputs>>> + Send;
    /// Notes a professional's first consultation of a record; true (and the notifications are
    /// queued) only the first time.
    fn note_first_access(
        &self,
        ins: &Ins,
        actor_ref: &str,
        at: OffsetDateTime,
        notify: &[OutboxMessage],
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Keeps an emergency justification's opening, sealed under the patient's key, by the
    /// commitment its ledger entry carries. Saving the same commitment again changes nothing.
    fn save_justification_opening(&self, commitment: &str, ins: &Ins, sealed: &[u8]) -> impl Future<Output = Result<()>> + Send;
    /// The sealed opening of a commitment, with the record it was sealed for.
    fn find_justification_opening(&self, commitment: &str) -> impl Future<Output = Result<Option<(Ins, Vec<u8>)>>> + Send;
}

/// The privacy officer's queue.
pub trait ReviewStore {
    fn insert_review_item(&self, item: &ReviewItem) -> impl Future<Output = Result<()>> + Send;
    /// Items with `status` (all if `None`), oldest first.
    fn find_review_items(&self, status: Option<&str>, limit: u32) -> impl Future<Output = Result<Vec<ReviewItem>>> + Send;
    fn find_review_item(&self, id: &str) -> impl Future<Output = Result<Option<ReviewItem>>> + Send;
    /// Saves status and notes of an item read at `version`; `Stale` otherwise.
    fn save_review_item(&self, item: &ReviewItem) -> impl Future<Output = Result<()>> + Send;
    /// Items with notes stored before notes were sealed (not `[]`, not starting with
    /// `sealed_prefix`), at most `limit`.
    fn find_clear_review_notes(&self, sealed_prefix: &str, limit: u32) -> impl Future<Output = Result<Vec<ReviewItem>>> + Send;
}

/// Notification preferences and the outbox.
pub trait NotificationStore {
    fn find_preferences(&self, ins: &Ins) -> impl Future<Output = Result<Option<StoredPreferences>>> + Send;
    fn save_preferences(&self, ins: &Ins, prefs: &StoredPreferences, now: OffsetDateTime) -> impl Future<Output = Result<()>> + Send;
    fn enqueue(&self, messages: &[OutboxMessage]) -> impl Future<Output = Result<()>> + Send;
    /// Undelivered messages due at `now`, oldest first.
    fn due_messages(&self, now: OffsetDateTime, limit: u32) -> impl Future<Output = Result<Vec<OutboxMessage>>> + Send;
    /// Takes up to `limit` messages due at `now` for one deliverer, oldest first: each is leased
    /// until `lease_until` (its `next_attempt_at` moved there) by `owner`, so no other deliverer —
    /// another node — takes it meanwhile, and one whose deliverer died is due again when the lease
    /// ends (or at once if it shut down: `JobLeaseStore::release_leases`). On PostgreSQL,
    /// deliverers claiming at once skip each other's locked rows.
    fn claim_due_messages(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<OutboxMessage>>> + Send;
    fn mark_delivered(&self, id: &str, at: OffsetDateTime) -> impl Future<Output = Result<()>> + Send;
    /// Records a failed attempt and when to try again.
    fn mark_failed(&self, id: &str, error: &str, next_attempt_at: OffsetDateTime) -> impl Future<Output = Result<()>> + Send;
    /// Delivered and undelivered counts (for metrics and tests).
    fn outbox_counts(&self) -> impl Future<Output = Result<(u64, u64)>> + Send;
}

use std::future::Future;

pub(crate) const INSERT_OUTBOX: &str = "INSERT INTO outbox (id, ins, kind, recipient, payload, created_at, attempts, next_attempt_at) \
     VALUES ($1, $2, $3, $4, $5, $6, 0, $6)";

/// One notification's outbox row.
pub(crate) fn outbox_statement(m: &OutboxMessage) -> crate::writes::Statement<'_> {
    crate::writes::Statement::new(INSERT_OUTBOX)
        .text(m.id.as_str())
        .text(m.ins.as_str())
        .text(m.kind.as_str())
        .text(m.recipient.as_str())
        .text(m.payload.as_str())
        .int(crate::time_codec::to_millis(m.created_at))
}

fn outbox_message(r: OutboxRow) -> Result<OutboxMessage> {
    Ok(OutboxMessage {
        id: r.id,
        ins: Ins::parse(&r.ins).map_err(|e| corrupt("INS", e))?,
        kind: r.kind,
        recipient: r.recipient,
        payload: r.payload,
        created_at: from_millis(r.created_at)?,
        attempts: u32::try_from(r.attempts).map_err(|e| corrupt("attempts", e))?,
    })
}

/// Enqueues `$messages` inside the transaction `$tx` (of either backend).
macro_rules! enqueue_in {
    ($tx:expr, $messages:expr) => {
        for m in $messages {
            let s = $crate::policy::outbox_statement(m);
            $crate::writes::bind_params!(sqlx::query(s.sql), &s.params).execute(&mut *$tx).await?;
        }
    };
}

/// A record row with its policy and an actor's latest emergency access (`find_gate_inputs`).
#[derive(sqlx::FromRow)]
struct GateRow {
    #[sqlx(flatten)]
    record: crate::records::RecordRow,
    policy_json: Option<String>,
    policy_version: Option<i64>,
    emergency_kind: Option<String>,
    emergency_justification: Option<String>,
    emergency_opened_at: Option<i64>,
    emergency_expires_at: Option<i64>,
    documents_generation: i64,
}

#[derive(sqlx::FromRow)]
struct EmergencyRow {
    ins: String,
    actor_ref: String,
    kind: String,
    justification: String,
    opened_at: i64,
    expires_at: i64,
}

impl EmergencyRow {
    fn into_access(self) -> Result<EmergencyAccess> {
        let kind = match self.kind.as_str() {
            "bris_de_glace" => carnet_domain::EmergencyKind::BrisDeGlace,
            "samu" => carnet_domain::EmergencyKind::Samu,
            other => return Err(corrupt("emergency kind", other)),
        };
        Ok(EmergencyAccess {
            kind,
            ins: Ins::parse(&self.ins).map_err(|e| corrupt("INS", e))?,
            actor: self.actor_ref,
            justification: self.justification,
            opened_at: from_millis(self.opened_at)?,
            expires_at: from_millis(self.expires_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ReviewRow {
    id: String,
    kind: String,
    ins: Option<String>,
    actor_ref: String,
    summary: String,
    ledger_index: Option<i64>,
    opened_at: i64,
    status: String,
    notes: String,
    version: i64,
}

impl ReviewRow {
    fn into_item(self) -> Result<ReviewItem> {
        Ok(ReviewItem {
            id: self.id,
            kind: self.kind,
            ins: self.ins.map(|i| Ins::parse(&i).map_err(|e| corrupt("INS", e))).transpose()?,
            actor_ref: self.actor_ref,
            summary: self.summary,
            ledger_index: self.ledger_index.map(|i| u64::try_from(i).map_err(|e| corrupt("ledger index", e))).transpose()?,
            opened_at: from_millis(self.opened_at)?,
            status: self.status,
            notes: self.notes,
            version: self.version,
        })
    }
}

const REVIEW_COLUMNS: &str = "id, kind, ins, actor_ref, summary, ledger_index, opened_at, status, notes, version";
const INSERT_REVIEW: &str = "INSERT INTO review_items (id, kind, ins, actor_ref, summary, ledger_index, opened_at, status, notes, version) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

fn ledger_index(item: &ReviewItem) -> Result<Option<i64>> {
    item.ledger_index.map(|i| i64::try_from(i).map_err(|e| corrupt("ledger index", e))).transpose()
}

impl PolicyStore for Database {
    async fn find_policy(&self, ins: &Ins) -> Result<StoredPolicy> {
        let row: Option<(String, i64)> =
            on_pool!(self, |pool| sqlx::query_as("SELECT policy, version FROM patient_policies WHERE ins = $1")
                .bind(ins.as_str())
                .fetch_optional(pool)
                .await)?;
        match row {
            None => Ok(StoredPolicy { policy: PatientPolicy::default(), version: 0 }),
            Some((json, version)) => Ok(StoredPolicy { policy: crate::policy_format::decode(&json)?, version }),
        }
    }

    async fn save_policy(
        &self,
        ins: &Ins,
        policy: &PatientPolicy,
        read_version: i64,
        now: OffsetDateTime,
        notify: &[OutboxMessage],
    ) -> Result<()> {
        let json = crate::policy_format::encode(policy)?;
        on_writer!(self, |pool| {
            async {
                let mut tx = pool.begin().await?;
                let done = if read_version == 0 {
                    sqlx::query("INSERT INTO patient_policies (ins, policy, version, updated_at) VALUES ($1, $2, 1, $3) ON CONFLICT (ins) DO NOTHING")
                        .bind(ins.as_str())
                        .bind(&json)
                        .bind(to_millis(now))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                } else {
                    sqlx::query("UPDATE patient_policies SET policy = $2, version = version + 1, updated_at = $3 WHERE ins = $1 AND version = $4")
                        .bind(ins.as_str())
                        .bind(&json)
                        .bind(to_millis(now))
                        .bind(read_version)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                };
                if done != 1 {
                    return Err(StoreError::Stale("access policy"));
                }
                enqueue_in!(tx, notify);
                tx.commit().await?;
                Ok(())
            }
            .await
        })
    }

    async fn save_emergency(&self, id: &str, access: &EmergencyAccess, review: &ReviewItem, notify: &[OutboxMessage]) -> Result<()> {
        let index = ledger_index(review)?;
        on_writer!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO emergency_accesses (id, ins, actor_ref, kind, justification, opened_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(access.ins.as_str())
            .bind(&access.actor)
            .bind(access.kind.code())
            .bind(&access.justification)
            .bind(to_millis(access.opened_at))
            .bind(to_millis(access.expires_at))
            .execute(&mut *tx)
            .await?;
            sqlx::query(INSERT_REVIEW)
                .bind(&review.id)
                .bind(&review.kind)
                .bind(review.ins.as_ref().map(|i| i.as_str()))
                .bind(&review.actor_ref)
                .bind(&review.summary)
                .bind(index)
                .bind(to_millis(review.opened_at))
                .bind(&review.status)
                .bind(&review.notes)
                .bind(review.version)
                .execute(&mut *tx)
                .await?;
            enqueue_in!(tx, notify);
            tx.commit().await?;
        });
        Ok(())
    }

    async fn find_latest_emergency(&self, actor_ref: &str, ins: &Ins) -> Result<Option<EmergencyAccess>> {
        let row: Option<EmergencyRow> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT ins, actor_ref, kind, justification, opened_at, expires_at FROM emergency_accesses \
             WHERE actor_ref = $1 AND ins = $2 ORDER BY expires_at DESC LIMIT 1"
        )
        .bind(actor_ref)
        .bind(ins.as_str())
        .fetch_optional(pool)
        .await)?;
        row.map(EmergencyRow::into_access).transpose()
    }

    async fn find_emergencies_by(&self, actor_ref: &str, limit: u32) -> Result<Vec<EmergencyAccess>> {
        let rows: Vec<EmergencyRow> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT ins, actor_ref, kind, justification, opened_at, expires_at FROM emergency_accesses \
             WHERE actor_ref = $1 ORDER BY opened_at DESC, id LIMIT $2"
        )
        .bind(actor_ref)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?;
        rows.into_iter().map(EmergencyRow::into_access).collect()
    }

    async fn find_gate_inputs(&self, ins: &Ins, actor_ref: Option<&str>) -> Result<Option<GateInputs>> {
        let record_columns: Vec<String> = crate::records::COLUMNS.split(", ").map(|c| format!("r.{c} AS {c}")).collect();
        // One latest emergency row joined whole (not one subquery per column, which could mix
        // two rows of equal expiry).
        let sql = format!(
            "SELECT {}, p.policy AS policy_json, p.version AS policy_version, \
                    e.kind AS emergency_kind, e.justification AS emergency_justification, \
                    e.opened_at AS emergency_opened_at, e.expires_at AS emergency_expires_at, \
                    ({}) AS documents_generation \
             FROM records r \
             LEFT JOIN patient_policies p ON p.ins = r.ins \
             LEFT JOIN (SELECT kind, justification, opened_at, expires_at FROM emergency_accesses \
                        WHERE actor_ref = $2 AND ins = $1 ORDER BY expires_at DESC LIMIT 1) e ON 1 = 1 \
             WHERE r.ins = $1 AND r.status <> 'destroyed'",
            record_columns.join(", "),
            crate::documents::GENERATION_SQL
        );
        let row: Option<GateRow> =
            on_pool!(self, |pool| sqlx::query_as(&sql).bind(ins.as_str()).bind(actor_ref).fetch_optional(pool).await)?;
        let Some(row) = row else { return Ok(None) };
        let policy = match (row.policy_json, row.policy_version) {
            (Some(json), Some(version)) => StoredPolicy { policy: crate::policy_format::decode(&json)?, version },
            _ => StoredPolicy { policy: PatientPolicy::default(), version: 0 },
        };
        let emergency =
            match (actor_ref, row.emergency_kind, row.emergency_justification, row.emergency_opened_at, row.emergency_expires_at) {
                (Some(actor), Some(kind), Some(justification), Some(opened_at), Some(expires_at)) => Some(
                    EmergencyRow { ins: ins.as_str().to_owned(), actor_ref: actor.to_owned(), kind, justification, opened_at, expires_at }
                        .into_access()?,
                ),
                _ => None,
            };
        Ok(Some(GateInputs { record: row.record.into_record()?, policy, emergency, documents_generation: row.documents_generation }))
    }

    async fn note_first_access(&self, ins: &Ins, actor_ref: &str, at: OffsetDateTime, notify: &[OutboxMessage]) -> Result<bool> {
        let first = on_writer!(self, |pool| {
            async {
                let mut tx = pool.begin().await?;
                let inserted = sqlx::query(
                    "INSERT INTO first_accesses (ins, actor_ref, at) VALUES ($1, $2, $3) ON CONFLICT (ins, actor_ref) DO NOTHING",
                )
                .bind(ins.as_str())
                .bind(actor_ref)
                .bind(to_millis(at))
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if inserted {
                    enqueue_in!(tx, notify);
                }
                tx.commit().await?;
                Ok::<bool, StoreError>(inserted)
            }
            .await
        })?;
        Ok(first)
    }

    async fn save_justification_opening(&self, commitment: &str, ins: &Ins, sealed: &[u8]) -> Result<()> {
        on_writer!(self, |pool| sqlx::query(
            "INSERT INTO justification_openings (commitment, ins, sealed) VALUES ($1, $2, $3) ON CONFLICT (commitment) DO NOTHING"
        )
        .bind(commitment)
        .bind(ins.as_str())
        .bind(sealed)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    async fn find_justification_opening(&self, commitment: &str) -> Result<Option<(Ins, Vec<u8>)>> {
        let row: Option<(String, Vec<u8>)> =
            on_pool!(self, |pool| sqlx::query_as("SELECT ins, sealed FROM justification_openings WHERE commitment = $1")
                .bind(commitment)
                .fetch_optional(pool)
                .await)?;
        row.map(|(ins, sealed)| Ok((Ins::parse(&ins).map_err(|e| corrupt("INS", e))?, sealed))).transpose()
    }
}

impl ReviewStore for Database {
    async fn insert_review_item(&self, item: &ReviewItem) -> Result<()> {
        let index = ledger_index(item)?;
        on_writer!(self, |pool| sqlx::query(INSERT_REVIEW)
            .bind(&item.id)
            .bind(&item.kind)
            .bind(item.ins.as_ref().map(|i| i.as_str()))
            .bind(&item.actor_ref)
            .bind(&item.summary)
            .bind(index)
            .bind(to_millis(item.opened_at))
            .bind(&item.status)
            .bind(&item.notes)
            .bind(item.version)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    async fn find_review_items(&self, status: Option<&str>, limit: u32) -> Result<Vec<ReviewItem>> {
        let sql = format!("SELECT {REVIEW_COLUMNS} FROM review_items WHERE ($1 IS NULL OR status = $1) ORDER BY opened_at, id LIMIT $2");
        let rows: Vec<ReviewRow> = on_pool!(self, |pool| sqlx::query_as(&sql).bind(status).bind(i64::from(limit)).fetch_all(pool).await)?;
        rows.into_iter().map(ReviewRow::into_item).collect()
    }

    async fn find_clear_review_notes(&self, sealed_prefix: &str, limit: u32) -> Result<Vec<ReviewItem>> {
        let sql = format!(
            "SELECT {REVIEW_COLUMNS} FROM review_items WHERE notes <> '[]' AND notes NOT LIKE $1 || '%' ORDER BY opened_at, id LIMIT $2"
        );
        let rows: Vec<ReviewRow> =
            on_pool!(self, |pool| sqlx::query_as(&sql).bind(sealed_prefix).bind(i64::from(limit)).fetch_all(pool).await)?;
        rows.into_iter().map(ReviewRow::into_item).collect()
    }

    async fn find_review_item(&self, id: &str) -> Result<Option<ReviewItem>> {
        let sql = format!("SELECT {REVIEW_COLUMNS} FROM review_items WHERE id = $1");
        let row: Option<ReviewRow> = on_pool!(self, |pool| sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?;
        row.map(ReviewRow::into_item).transpose()
    }

    async fn save_review_item(&self, item: &ReviewItem) -> Result<()> {
        let done = on_writer!(self, |pool| sqlx::query(
            "UPDATE review_items SET status = $2, notes = $3, version = version + 1 WHERE id = $1 AND version = $4"
        )
        .bind(&item.id)
        .bind(&item.status)
        .bind(&item.notes)
        .bind(item.version)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        if done == 1 { Ok(()) } else { Err(StoreError::Stale("review item")) }
    }
}

#[derive(sqlx::FromRow)]
struct OutboxRow {
    id: String,
    ins: String,
    kind: String,
    recipient: String,
    payload: String,
    created_at: i64,
    attempts: i64,
}

impl NotificationStore for Database {
    async fn find_preferences(&self, ins: &Ins) -> Result<Option<StoredPreferences>> {
        type Row = (Option<Vec<u8>>, bool, Option<Vec<u8>>, String);
        let row: Option<Row> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT email_sealed, email_enabled, webhook_sealed, muted_kinds FROM notification_preferences WHERE ins = $1"
        )
        .bind(ins.as_str())
        .fetch_optional(pool)
        .await)?;
        Ok(row.map(|(email_sealed, email_enabled, webhook_sealed, muted_kinds)| StoredPreferences {
            email_sealed,
            email_enabled,
            webhook_sealed,
            muted_kinds,
        }))
    }

    async fn save_preferences(&self, ins: &Ins, prefs: &StoredPreferences, now: OffsetDateTime) -> Result<()> {
        on_writer!(self, |pool| {
            sqlx::query(
                "INSERT INTO notification_preferences (ins, email_sealed, email_enabled, webhook_sealed, updated_at, muted_kinds) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (ins) DO UPDATE SET email_sealed = excluded.email_sealed, email_enabled = excluded.email_enabled, \
             webhook_sealed = excluded.webhook_sealed, updated_at = excluded.updated_at, muted_kinds = excluded.muted_kinds",
            )
            .bind(ins.as_str())
            .bind(prefs.email_sealed.as_deref())
            .bind(prefs.email_enabled)
            .bind(prefs.webhook_sealed.as_deref())
            .bind(to_millis(now))
            .bind(&prefs.muted_kinds)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    async fn enqueue(&self, messages: &[OutboxMessage]) -> Result<()> {
        on_writer!(self, |pool| {
            let mut tx = pool.begin().await?;
            enqueue_in!(tx, messages);
            tx.commit().await?;
        });
        Ok(())
    }

    async fn due_messages(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<OutboxMessage>> {
        let rows: Vec<OutboxRow> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT id, ins, kind, recipient, payload, created_at, attempts FROM outbox \
             WHERE delivered_at IS NULL AND next_attempt_at <= $1 ORDER BY created_at, id LIMIT $2"
        )
        .bind(to_millis(now))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?;
        rows.into_iter().map(outbox_message).collect()
    }

    async fn claim_due_messages(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        // SQLite has one writer: the select and the update cannot interleave with another claim.
        let sql = match self.backend() {
            crate::Backend::Sqlite => {
                "UPDATE outbox SET next_attempt_at = $2, lease_owner = $4 WHERE id IN \
                 (SELECT id FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= $1 ORDER BY created_at, id LIMIT $3) \
                 RETURNING id, ins, kind, recipient, payload, created_at, attempts"
            }
            crate::Backend::Postgres => {
                "UPDATE outbox SET next_attempt_at = $2, lease_owner = $4 WHERE id IN \
                 (SELECT id FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= $1 ORDER BY created_at, id LIMIT $3 \
                  FOR UPDATE SKIP LOCKED) \
                 RETURNING id, ins, kind, recipient, payload, created_at, attempts"
            }
        };
        let rows: Vec<OutboxRow> = on_writer!(self, |pool| sqlx::query_as(sql)
            .bind(to_millis(now))
            .bind(to_millis(lease_until))
            .bind(i64::from(limit))
            .bind(owner)
            .fetch_all(pool)
            .await)?;
        let mut messages = rows.into_iter().map(outbox_message).collect::<Result<Vec<_>>>()?;
        // RETURNING keeps no order.
        messages.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(messages)
    }

    async fn mark_delivered(&self, id: &str, at: OffsetDateTime) -> Result<()> {
        on_writer!(self, |pool| sqlx::query(
            "UPDATE outbox SET delivered_at = $2, attempts = attempts + 1, last_error = NULL, lease_owner = NULL WHERE id = $1"
        )
        .bind(id)
        .bind(to_millis(at))
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    async fn mark_failed(&self, id: &str, error: &str, next_attempt_at: OffsetDateTime) -> Result<()> {
        let error: String = error.chars().take(500).collect();
        on_writer!(self, |pool| sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3, lease_owner = NULL WHERE id = $1"
        )
        .bind(id)
        .bind(error)
        .bind(to_millis(next_attempt_at))
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    async fn outbox_counts(&self) -> Result<(u64, u64)> {
        let (delivered, pending): (i64, i64) = on_pool!(self, |pool| sqlx::query_as(
            "SELECT COALESCE(SUM(CASE WHEN delivered_at IS NULL THEN 0 ELSE 1 END), 0), \
                    COALESCE(SUM(CASE WHEN delivered_at IS NULL THEN 1 ELSE 0 END), 0) FROM outbox"
        )
        .fetch_one(pool)
        .await)?;
        Ok((u64::try_from(delivered).unwrap_or(0), u64::try_from(pending).unwrap_or(0)))
    }
}
