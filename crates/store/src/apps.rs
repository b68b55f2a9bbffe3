//! `AppStore` on both backends: the registry of the apps a patient connected to their record.

use carnet_domain::Ins;
use time::OffsetDateTime;

use crate::database::{on_pool, on_writer};
use crate::time_codec::{from_millis, opt_from_millis, to_millis};
use crate::{Database, Result, StoreError};

/// An app as the registry holds it, on one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedApp {
    pub ins: Ins,
    /// The OAuth client id its tokens name.
    pub client_id: String,
    /// The catalogue's name for it at its last use, else the client id.
    pub name: String,
    /// The SMART scopes its last token was granted, space-separated.
    pub scopes: String,
    pub first_used_at: OffsetDateTime,
    pub last_used_at: OffsetDateTime,
    /// Set while the holder refuses the app this record.
    pub revoked: Option<Revocation>,
}

/// Who refused an app a record, and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub at: OffsetDateTime,
    /// The holder's actor reference.
    pub by: String,
}

/// One use of an app on a record, as the registry notes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUse<'a> {
    pub ins: &'a Ins,
    pub client_id: &'a str,
    pub name: &'a str,
    pub scopes: &'a str,
    pub at: OffsetDateTime,
}

/// The apps connected to patients' records.
pub trait AppStore {
    /// The rows of one client on each of these records (those it has used).
    fn find_app_on(&self, client_id: &str, records: &[Ins]) -> impl Future<Output = Result<Vec<ConnectedApp>>> + Send;
    /// Notes a use: inserts the app on the record (first and last use `at`), or sets its name,
    /// scopes and last use. Never changes a revocation: a use the caller admitted a moment before
    /// a revocation does not undo it.
    fn note_app_use(&self, use_: &AppUse<'_>) -> impl Future<Output = Result<()>> + Send;
    /// The apps connected to a record, by first use.
    fn find_apps_of(&self, ins: &Ins) -> impl Future<Output = Result<Vec<ConnectedApp>>> + Send;
    /// Revokes (`Some`) or allows again (`None`) an app on a record; `false` when the app never
    /// used the record.
    fn set_app_revocation(&self, ins: &Ins, client_id: &str, revocation: Option<&Revocation>) -> impl Future<Output = Result<bool>> + Send;
}

#[derive(sqlx::FromRow)]
struct AppRow {
    ins: String,
    client_id: String,
    name: String,
    scopes: String,
    first_used_at: i64,
    last_used_at: i64,
    revoked_at: Option<i64>,
    revoked_by: Option<String>,
}

const APP_COLUMNS: &str = "ins, client_id, name, scopes, first_used_at, last_used_at, revoked_at, revoked_by";

impl AppRow {
    fn into_app(self) -> Result<ConnectedApp> {
        let ins = Ins::parse(&self.ins).map_err(|e| StoreError::Corrupt { what: "connected app's INS", detail: e.to_string() })?;
        let revoked = match (opt_from_millis(self.revoked_at)?, self.revoked_by) {
            (Some(at), Some(by)) => Some(Revocation { at, by }),
            (None, _) => None,
            (Some(_), None) => return Err(StoreError::Corrupt { what: "connected app", detail: "revoked by nobody".into() }),
        };
        Ok(ConnectedApp {
            ins,
            client_id: self.client_id,
            name: self.name,
            scopes: self.scopes,
            first_used_at: from_millis(self.first_used_at)?,
            last_used_at: from_millis(self.last_used_at)?,
            revoked,
        })
    }
}

impl AppStore for Database {
    async fn find_app_on(&self, client_id: &str, records: &[Ins]) -> Result<Vec<ConnectedApp>> {
        if records.is_empty() {
            return Ok(vec![]);
        }
        let placeholders: Vec<String> = (2..records.len() + 2).map(|i| format!("${i}")).collect();
        let sql = format!("SELECT {APP_COLUMNS} FROM connected_apps WHERE client_id = $1 AND ins IN ({})", placeholders.join(", "));
        let rows: Vec<AppRow> = on_pool!(self, |pool| {
            let mut query = sqlx::query_as(&sql).bind(client_id);
            for ins in records {
                query = query.bind(ins.as_str());
            }
            query.fetch_all(pool).await
        })?;
        rows.into_iter().map(AppRow::into_app).collect()
    }

    async fn note_app_use(&self, u: &AppUse<'_>) -> Result<()> {
        on_writer!(self, |pool| {
            sqlx::query(
            "INSERT INTO connected_apps (ins, client_id, name, scopes, first_used_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (ins, client_id) DO UPDATE SET name = excluded.name, scopes = excluded.scopes, last_used_at = excluded.last_used_at"
        )
        .bind(u.ins.as_str())
        .bind(u.client_id)
        .bind(u.name)
        .bind(u.scopes)
        .bind(to_millis(u.at))
        .execute(pool)
        .await
        .map(|_| ())
        })?;
        Ok(())
    }

    async fn find_apps_of(&self, ins: &Ins) -> Result<Vec<ConnectedApp>> {
        let sql = format!("SELECT {APP_COLUMNS} FROM connected_apps WHERE ins = $1 ORDER BY first_used_at, client_id");
        let rows: Vec<AppRow> = on_pool!(self, |pool| sqlx::query_as(&sql).bind(ins.as_str()).fetch_all(pool).await)?;
        rows.into_iter().map(AppRow::into_app).collect()
    }

    async fn set_app_revocation(&self, ins: &Ins, client_id: &str, revocation: Option<&Revocation>) -> Result<bool> {
        let done = on_writer!(self, |pool| sqlx::query(
            "UPDATE connected_apps SET revoked_at = $3, revoked_by = $4 WHERE ins = $1 AND client_id = $2"
        )
        .bind(ins.as_str())
        .bind(client_id)
        .bind(revocation.map(|r| to_millis(r.at)))
        .bind(revocation.map(|r| r.by.as_str()))
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }
}
