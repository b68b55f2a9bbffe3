//! `RecordStore` on both backends.

use carnet_domain::record::{ChannelCount, OrganisationCount, RecordStatistics};
use carnet_domain::{CreationChannel, Finess, IdentityStatus, Ins, InsKind, Record, RecordStatus, ReferenceTraits, Sex};
use time::OffsetDateTime;

use crate::database::{on_pool, on_writer};
use crate::time_codec::{date_from_text, date_to_text, from_millis, opt_from_millis, to_millis};
use crate::{Database, RecordStore, Result, StoreError};

pub(crate) const COLUMNS: &str = "ins, ins_kind, identity_status, birth_name, birth_given_names, birth_date, sex, birthplace, \
     status, channel, created_by, creator_organisation, created_at, closed_at, close_reason, \
     destruction_due_at, destroyed_at, first_fed_at";

#[derive(sqlx::FromRow)]
pub(crate) struct RecordRow {
    ins: String,
    ins_kind: String,
    identity_status: String,
    birth_name: Option<String>,
    birth_given_names: Option<String>,
    birth_date: Option<String>,
    sex: Option<String>,
    birthplace: Option<String>,
    status: String,
    channel: String,
    created_by: String,
    creator_organisation: Option<String>,
    created_at: i64,
    closed_at: Option<i64>,
    close_reason: Option<String>,
    destruction_due_at: Option<i64>,
    destroyed_at: Option<i64>,
    first_fed_at: Option<i64>,
}

fn corrupt(what: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt { what, detail: detail.to_string() }
}

impl RecordRow {
    pub(crate) fn into_record(self) -> Result<Record> {
        let traits = match (self.birth_name, self.birth_given_names, self.birth_date, self.sex) {
            (Some(birth_name), Some(birth_given_names), Some(date), Some(sex)) => Some(ReferenceTraits {
                birth_name,
                birth_given_names,
                birth_date: date_from_text(&date)?,
                sex: Sex::parse(&sex).ok_or_else(|| corrupt("sex", &sex))?,
                birthplace: self.birthplace,
            }),
            _ => None,
        };
        Ok(Record {
            ins: Ins::parse(&self.ins).map_err(|e| corrupt("INS", e))?,
            ins_kind: match self.ins_kind.as_str() {
                "nir" => InsKind::Nir,
                "nia" => InsKind::Nia,
                "test_nir" => InsKind::TestNir,
                other => return Err(corrupt("INS kind", other)),
            },
            identity_status: IdentityStatus::parse(&self.identity_status)
                .ok_or_else(|| corrupt("identity status", &self.identity_status))?,
            traits,
            status: RecordStatus::parse(&self.status).ok_or_else(|| corrupt("record status", &self.status))?,
            channel: CreationChannel::parse(&self.channel).ok_or_else(|| corrupt("creation channel", &self.channel))?,
            created_by: self.created_by,
            creator_organisation: self.creator_organisation.map(|f| Finess::parse(&f).map_err(|e| corrupt("FINESS", e))).transpose()?,
            created_at: from_millis(self.created_at)?,
            closed_at: opt_from_millis(self.closed_at)?,
            close_reason: self.close_reason,
            destruction_due_at: opt_from_millis(self.destruction_due_at)?,
            destroyed_at: opt_from_millis(self.destroyed_at)?,
            first_fed_at: opt_from_millis(self.first_fed_at)?,
        })
    }
}

fn ins_kind_text(kind: InsKind) -> &'static str {
    match kind {
        InsKind::Nir => "nir",
        InsKind::Nia => "nia",
        InsKind::TestNir => "test_nir",
    }
}

/// Binds the 18 columns of `COLUMNS`, in order, to `$q`.
macro_rules! bind_record {
    ($q:expr, $r:expr) => {{
        let r: &Record = $r;
        let t = r.traits.as_ref();
        $q.bind(r.ins.as_str())
            .bind(ins_kind_text(r.ins_kind))
            .bind(r.identity_status.as_str())
            .bind(t.map(|t| t.birth_name.clone()))
            .bind(t.map(|t| t.birth_given_names.clone()))
            .bind(t.map(|t| date_to_text(t.birth_date)))
            .bind(t.map(|t| t.sex.as_str()))
            .bind(t.and_then(|t| t.birthplace.clone()))
            .bind(r.status.as_str())
            .bind(r.channel.as_str())
            .bind(r.created_by.clone())
            .bind(r.creator_organisation.as_ref().map(|f| f.as_str().to_owned()))
            .bind(to_millis(r.created_at))
            .bind(r.closed_at.map(to_millis))
            .bind(r.close_reason.clone())
            .bind(r.destruction_due_at.map(to_millis))
            .bind(r.destroyed_at.map(to_millis))
            .bind(r.first_fed_at.map(to_millis))
    }};
}

/// Lower-cases and escapes `%`, `_` and backslashes for a `LIKE … ESCAPE` prefix pattern.
fn like_prefix(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    for c in s.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

impl RecordStore for Database {
    async fn create_record(&self, record: &Record) -> Result<()> {
        let sql = format!("INSERT INTO records ({COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)");
        let result = on_writer!(self, |pool| bind_record!(sqlx::query(&sql), record).execute(pool).await.map(|_| ()));
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict("this INS already has a record")),
            Err(e) => Err(e.into()),
        }
    }

    async fn find_records_by_traits(&self, query: &crate::TraitsQuery, limit: u32) -> Result<Vec<Record>> {
        let mut conditions = vec!["status <> 'destroyed'".to_owned()];
        let mut binds: Vec<String> = Vec::new();
        let mut push = |condition: &str, value: String| {
            binds.push(value);
            conditions.push(condition.replace("$?", &format!("${}", binds.len())));
        };
        if let Some(family) = &query.family {
            push("LOWER(birth_name) LIKE $? ESCAPE '\\'", like_prefix(family));
        }
        if let Some(given) = &query.given {
            // Any of the birth first names, by prefix.
            push("(' ' || LOWER(birth_given_names)) LIKE $? ESCAPE '\\'", format!("% {}", like_prefix(given)));
        }
        if let Some(date) = query.birth_date {
            push("birth_date = $?", date_to_text(date));
        }
        if let Some(sex) = query.sex {
            push("sex = $?", sex.as_str().to_owned());
        }
        let sql = format!("SELECT {COLUMNS} FROM records WHERE {} ORDER BY ins LIMIT {}", conditions.join(" AND "), limit.min(1000));
        let rows: Vec<RecordRow> = on_pool!(self, |pool| {
            let mut q = sqlx::query_as(&sql);
            for b in &binds {
                q = q.bind(b);
            }
            q.fetch_all(pool).await
        })?;
        rows.into_iter().map(RecordRow::into_record).collect()
    }

    async fn find_record_by_ins(&self, ins: &Ins) -> Result<Option<Record>> {
        let sql = format!("SELECT {COLUMNS} FROM records WHERE ins = $1 AND status <> 'destroyed'");
        let row: Option<RecordRow> = on_pool!(self, |pool| sqlx::query_as(&sql).bind(ins.as_str()).fetch_optional(pool).await)?;
        row.map(RecordRow::into_record).transpose()
    }

    async fn save_record(&self, record: &Record, read_as: RecordStatus) -> Result<()> {
        // Every column but the key; the WHERE clause pins the row we read.
        let sets: Vec<String> = COLUMNS.split(", ").enumerate().skip(1).map(|(i, c)| format!("{c} = ${}", i + 1)).collect();
        let sql = format!("UPDATE records SET {} WHERE ins = $1 AND status = $19 AND status <> 'destroyed'", sets.join(", "));
        let done = on_writer!(self, |pool| bind_record!(sqlx::query(&sql), record)
            .bind(read_as.as_str())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        if done == 1 { Ok(()) } else { Err(StoreError::Stale("record")) }
    }

    async fn find_clear_close_reasons(&self, sealed_prefix: &str, limit: u32) -> Result<Vec<Record>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM records \
             WHERE status <> 'destroyed' AND close_reason IS NOT NULL AND close_reason NOT LIKE $1 || '%' ORDER BY id LIMIT $2"
        );
        let rows: Vec<RecordRow> =
            on_pool!(self, |pool| sqlx::query_as(&sql).bind(sealed_prefix).bind(i64::from(limit)).fetch_all(pool).await)?;
        rows.into_iter().map(RecordRow::into_record).collect()
    }

    async fn drop_clear_close_reasons_of_destroyed(&self, sealed_prefix: &str) -> Result<u64> {
        Ok(on_writer!(self, |pool| {
            sqlx::query(
            "UPDATE records SET close_reason = NULL WHERE status = 'destroyed' AND close_reason IS NOT NULL AND close_reason NOT LIKE $1 || '%'"
        )
        .bind(sealed_prefix)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
        })?)
    }

    async fn find_records_due(&self, now: OffsetDateTime, archive_before: OffsetDateTime, limit: u32) -> Result<Vec<Record>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM records \
             WHERE (status IN ('closed', 'archived') AND destruction_due_at <= $1) \
                OR (status = 'closed' AND closed_at <= $2) \
             ORDER BY id LIMIT $3"
        );
        let rows: Vec<RecordRow> = on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(to_millis(now))
            .bind(to_millis(archive_before))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(RecordRow::into_record).collect()
    }

    async fn mark_fed(&self, ins: &Ins, at: OffsetDateTime) -> Result<()> {
        let sql = "UPDATE records SET first_fed_at = $2 WHERE ins = $1 AND status <> 'destroyed' AND first_fed_at IS NULL";
        on_writer!(self, |pool| sqlx::query(sql).bind(ins.as_str()).bind(to_millis(at)).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    async fn record_statistics(&self) -> Result<RecordStatistics> {
        const FED: &str = "SUM(CASE WHEN first_fed_at IS NOT NULL THEN 1 ELSE 0 END)";
        let by_status: Vec<(String, i64)> =
            on_pool!(self, |pool| sqlx::query_as("SELECT status, COUNT(*) FROM records GROUP BY status ORDER BY status")
                .fetch_all(pool)
                .await)?;
        let by_channel: Vec<(String, i64, i64)> = on_pool!(self, |pool| sqlx::query_as(&format!(
            "SELECT channel, COUNT(*), {FED} FROM records GROUP BY channel ORDER BY channel"
        ))
        .fetch_all(pool)
        .await)?;
        let by_org: Vec<(String, String, i64, i64)> = on_pool!(self, |pool| sqlx::query_as(&format!(
            "SELECT creator_organisation, channel, COUNT(*), {FED} FROM records \
             WHERE creator_organisation IS NOT NULL \
             GROUP BY creator_organisation, channel ORDER BY creator_organisation, channel"
        ))
        .fetch_all(pool)
        .await)?;

        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        let mut stats = RecordStatistics::default();
        for (status, n) in by_status {
            let st = RecordStatus::parse(&status).ok_or_else(|| corrupt("record status", &status))?;
            stats.by_status.push((st, count(n)));
        }
        for (channel, created, fed) in by_channel {
            let channel = CreationChannel::parse(&channel).ok_or_else(|| corrupt("creation channel", &channel))?;
            stats.created += count(created);
            stats.fed += count(fed);
            stats.by_channel.push(ChannelCount { channel, created: count(created), fed: count(fed) });
        }
        for (org, channel, created, fed) in by_org {
            stats.by_organisation.push(OrganisationCount {
                organisation: Finess::parse(&org).map_err(|e| corrupt("FINESS", e))?,
                channel: CreationChannel::parse(&channel).ok_or_else(|| corrupt("creation channel", &channel))?,
                created: count(created),
                fed: count(fed),
            });
        }
        Ok(stats)
    }
}
