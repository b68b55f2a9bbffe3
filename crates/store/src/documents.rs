//! `KeyStore` and `DocumentStore` on both backends.

use std::sync::Arc;

use carnet_crypto::WrappedKey;
use carnet_domain::codes::Code;
use carnet_domain::document::{PersonName, XdsMetadata};
use carnet_domain::{DocumentId, DocumentMeta, DocumentStatus, Ins, SecurityLabel};
use time::OffsetDateTime;

use crate::database::{on_pool, on_writer};
use crate::time_codec::{from_millis, opt_from_millis, to_millis};
use crate::writes::{Statement, Writes};
use crate::{Database, DocumentList, DocumentStore, KeyStore, OutboxMessage, Result, StoreError};

pub(crate) fn corrupt(what: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt { what, detail: detail.to_string() }
}

pub(crate) const DOC_COLUMNS: &str = "id, ins, unique_id, class_system, class_code, type_system, type_code, format_system, \
     format_code, practice_setting_system, practice_setting_code, facility_type_system, facility_type_code, \
     service_start, service_end, mime_type, language, author, author_family, author_given, deposited_by, \
     authored_at, submitted_at, size, sha256, labels, status, archived, replaces";

static INSERT_DOCUMENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO documents ({DOC_COLUMNS}, title_sealed) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29,$30)"
    )
});

/// Adds the writes of one new document row: the replaced version superseded (it must still be
/// current, else `Stale`), the row, the end of its pending upload. Shared by single deposits
/// and submission sets, so both write documents the same way.
pub(crate) fn document_writes<'a>(
    writes: &mut Writes<'a>,
    meta: &'a DocumentMeta,
    title_sealed: Option<&'a [u8]>,
    supersedes: Option<DocumentId>,
) -> Result<()> {
    let size = i64::try_from(meta.size).map_err(|e| corrupt("size", e))?;
    if let Some(old) = supersedes {
        writes.guard(
            Statement::new("UPDATE documents SET status = 'superseded' WHERE id = $1 AND status = 'current'").text(old.to_string()),
            "document",
        );
        // The replaced version's profile items leave the current profile with it (the new
        // version brings its own).
        writes.push(
            Statement::new("UPDATE profile_items SET status = 'superseded' WHERE source_document = $1 AND status = 'current'")
                .text(old.to_string()),
        );
    }
    writes.push(
        Statement::new(INSERT_DOCUMENT.as_str())
            .text(meta.id.to_string())
            .text(meta.ins.as_str())
            .text(meta.xds.unique_id.as_str())
            .text(meta.xds.class_code.system.as_str())
            .text(meta.xds.class_code.code.as_str())
            .text(meta.xds.type_code.system.as_str())
            .text(meta.xds.type_code.code.as_str())
            .text(meta.xds.format_code.system.as_str())
            .text(meta.xds.format_code.code.as_str())
            .opt_text(meta.xds.practice_setting.as_ref().map(|c| c.system.as_str()))
            .opt_text(meta.xds.practice_setting.as_ref().map(|c| c.code.as_str()))
            .opt_text(meta.xds.facility_type.as_ref().map(|c| c.system.as_str()))
            .opt_text(meta.xds.facility_type.as_ref().map(|c| c.code.as_str()))
            .opt_int(meta.xds.service_start.map(to_millis))
            .opt_int(meta.xds.service_end.map(to_millis))
            .text(meta.xds.mime_type.as_str())
            .text(meta.xds.language.as_str())
            .text(meta.author.as_str())
            .opt_text(meta.author_name.as_ref().and_then(|n| n.family.as_deref()))
            .opt_text(meta.author_name.as_ref().and_then(|n| n.given.as_deref()))
            .text(meta.deposited_by.as_str())
            .opt_int(meta.xds.authored_at.map(to_millis))
            .int(to_millis(meta.submitted_at))
            .int(size)
            .bytes(meta.sha256.as_slice())
            .text(labels_text(&meta.labels))
            .text(meta.status.as_str())
            .bool(meta.archived)
            .opt_text(meta.replaces.map(|r| r.to_string()))
            .opt_bytes(title_sealed),
    );
    // Its text is extracted later, by a job written in the same transaction: a crash loses none.
    writes.push(Statement::new(crate::extraction::INSERT_JOB).text(meta.id.to_string()).int(to_millis(meta.submitted_at)));
    // The row goes in only while its upload is noted: an upload abandoned meanwhile (its blob
    // deleted by a cut request's cleanup or the upload sweep) can no longer be inserted by a
    // commit that arrives late, so no row is ever left without its blob.
    writes.guard(Statement::new("DELETE FROM pending_uploads WHERE document_id = $1").text(meta.id.to_string()), "upload");
    Ok(())
}

/// One document's columns. Read as a row (`FromRow`), or — for a whole record's documents — as
/// one element of a JSON array built by the database (`Deserialize` from the array's positions,
/// in `DOC_COLUMNS` order): see `find_documents_of`.
#[derive(sqlx::FromRow, serde::Deserialize)]
pub(crate) struct DocumentRow {
    id: String,
    ins: String,
    unique_id: String,
    class_system: String,
    class_code: String,
    type_system: String,
    type_code: String,
    format_system: String,
    format_code: String,
    practice_setting_system: Option<String>,
    practice_setting_code: Option<String>,
    facility_type_system: Option<String>,
    facility_type_code: Option<String>,
    service_start: Option<i64>,
    service_end: Option<i64>,
    mime_type: String,
    language: String,
    author: String,
    author_family: Option<String>,
    author_given: Option<String>,
    deposited_by: String,
    authored_at: Option<i64>,
    submitted_at: i64,
    size: i64,
    #[serde(deserialize_with = "json_hex")]
    sha256: Vec<u8>,
    labels: String,
    status: String,
    #[serde(deserialize_with = "json_flag")]
    archived: bool,
    replaces: Option<String>,
}

/// The documents cache: each patient's document list (metadata and sealed titles, nothing in
/// clear) as read at a generation: the number of rows `document_changes` has for the patient,
/// one per change to one of their documents, written by the database's triggers. A read first
/// counts them (an index range) and uses the list only if it was read at that count. Correct
/// with any number of nodes sharing the database: committed changes only ever add rows, so two
/// snapshots with the same count have seen the same changes, and a change made anywhere moves
/// the count. Bounded: cleared when it holds more than `CACHED_DOCUMENTS` documents.
#[derive(Debug, Default)]
pub(crate) struct DocumentsCache {
    lists: std::collections::HashMap<Ins, (i64, Arc<DocumentList>)>,
    documents: usize,
}

/// A patient's document generation (see `DocumentsCache`); 0: never had a document.
pub(crate) const GENERATION_SQL: &str = "SELECT count(*) FROM document_changes WHERE ins = $1";

/// About 1 KiB each: ~20 MiB at most.
const CACHED_DOCUMENTS: usize = 20_000;

impl Database {
    fn cached_documents(&self, ins: &Ins, generation: i64) -> Option<Arc<DocumentList>> {
        let cache = self.documents_cache.lock().ok()?;
        cache.lists.get(ins).filter(|(at, _)| *at == generation).map(|(_, list)| list.clone())
    }

    fn cache_documents(&self, ins: &Ins, generation: i64, list: &DocumentList) {
        let Ok(mut cache) = self.documents_cache.lock() else { return };
        if cache.documents + list.len() > CACHED_DOCUMENTS {
            cache.lists.clear();
            cache.documents = 0;
        }
        if list.len() > CACHED_DOCUMENTS {
            return;
        }
        let replaced = cache.lists.insert(ins.clone(), (generation, Arc::new(list.clone())));
        cache.documents = cache.documents + list.len() - replaced.map_or(0, |(_, old)| old.len());
    }
}

/// A document row and its sealed title, as an element of `find_documents_of`'s JSON array.
#[derive(serde::Deserialize)]
struct DocumentJson(DocumentRow, #[serde(deserialize_with = "json_opt_hex")] Option<Vec<u8>>);

/// The JSON array of a record's documents, newest first, built in one statement: the driver
/// then hands over one value instead of one row per document, which was most of a search's
/// cost on SQLite (sqlx moves every row between its connection thread and the caller).
/// Elements are `[[DOC_COLUMNS…], title]`, bytes in hexadecimal.
fn documents_json_sql(backend: crate::Backend) -> String {
    let hex = |col: &str| match backend {
        crate::Backend::Sqlite => format!("iif({col} IS NULL, NULL, hex({col}))"),
        crate::Backend::Postgres => format!("encode({col}, 'hex')"),
    };
    let columns: Vec<String> = DOC_COLUMNS
        .split(',')
        .map(str::trim)
        .map(|c| match c {
            "sha256" => hex("sha256"),
            "archived" => "CASE WHEN archived THEN 1 ELSE 0 END".to_string(),
            other => other.to_string(),
        })
        .collect();
    let columns = columns.join(", ");
    let title = hex("title_sealed");
    match backend {
        crate::Backend::Sqlite => {
            format!(
                "SELECT json_group_array(json_array(json_array({columns}), {title}) ORDER BY submitted_at DESC, id) FROM documents WHERE ins = $1"
            )
        }
        crate::Backend::Postgres => format!(
            "SELECT json_agg(json_build_array(json_build_array({columns}), {title}) ORDER BY submitted_at DESC, id)::text FROM documents WHERE ins = $1"
        ),
    }
}

fn json_hex<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<u8>, D::Error> {
    let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
    decode_hex(&text).ok_or_else(|| serde::de::Error::custom("not hexadecimal"))
}

fn json_opt_hex<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<Vec<u8>>, D::Error> {
    match <Option<std::borrow::Cow<'de, str>> as serde::Deserialize>::deserialize(d)? {
        Some(text) => decode_hex(&text).map(Some).ok_or_else(|| serde::de::Error::custom("not hexadecimal")),
        None => Ok(None),
    }
}

/// SQLite has no boolean type: a flag is 0 or 1 on both backends in the JSON (see the SQL).
fn json_flag<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    Ok(<i64 as serde::Deserialize>::deserialize(d)? != 0)
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes.chunks_exact(2).map(|p| Some(digit(p[0])? << 4 | digit(p[1])?)).collect()
}

fn opt_code(system: Option<String>, code: Option<String>) -> Option<Code> {
    Some(Code { system: system?, code: code? })
}

pub(crate) fn labels_text(labels: &[SecurityLabel]) -> String {
    labels.iter().map(|l| l.code()).collect::<Vec<_>>().join(",")
}

impl DocumentRow {
    pub(crate) fn into_meta(self) -> Result<DocumentMeta> {
        Ok(DocumentMeta {
            id: DocumentId::parse(&self.id).map_err(|e| corrupt("document id", e))?,
            ins: Ins::parse(&self.ins).map_err(|e| corrupt("INS", e))?,
            xds: XdsMetadata {
                unique_id: self.unique_id,
                class_code: Code { system: self.class_system, code: self.class_code },
                type_code: Code { system: self.type_system, code: self.type_code },
                format_code: Code { system: self.format_system, code: self.format_code },
                practice_setting: opt_code(self.practice_setting_system, self.practice_setting_code),
                facility_type: opt_code(self.facility_type_system, self.facility_type_code),
                service_start: opt_from_millis(self.service_start)?,
                service_end: opt_from_millis(self.service_end)?,
                mime_type: self.mime_type,
                language: self.language,
                authored_at: opt_from_millis(self.authored_at)?,
            },
            author: self.author,
            author_name: (self.author_family.is_some() || self.author_given.is_some())
                .then_some(PersonName { family: self.author_family, given: self.author_given }),
            deposited_by: self.deposited_by,
            submitted_at: from_millis(self.submitted_at)?,
            size: u64::try_from(self.size).map_err(|e| corrupt("size", e))?,
            sha256: self.sha256.as_slice().try_into().map_err(|_| corrupt("sha256", "not 32 bytes"))?,
            labels: self
                .labels
                .split(',')
                .filter(|l| !l.is_empty())
                .map(|l| SecurityLabel::parse(l).ok_or_else(|| corrupt("security label", l)))
                .collect::<Result<_>>()?,
            status: DocumentStatus::parse(&self.status).ok_or_else(|| corrupt("document status", &self.status))?,
            archived: self.archived,
            replaces: self.replaces.map(|r| DocumentId::parse(&r).map_err(|e| corrupt("document id", e))).transpose()?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    master_key_id: String,
    sealed: Vec<u8>,
}

impl From<KeyRow> for WrappedKey {
    fn from(r: KeyRow) -> WrappedKey {
        WrappedKey { master_key_id: r.master_key_id, sealed: r.sealed }
    }
}

impl KeyStore for Database {
    async fn save_patient_key_if_absent(&self, ins: &Ins, key: &WrappedKey, now: OffsetDateTime) -> Result<WrappedKey> {
        on_writer!(self, |pool| sqlx::query(
            "INSERT INTO patient_keys (ins, master_key_id, sealed, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (ins) DO NOTHING"
        )
        .bind(ins.as_str())
        .bind(&key.master_key_id)
        .bind(&key.sealed)
        .bind(to_millis(now))
        .execute(pool)
        .await
        .map(|_| ()))?;
        self.find_patient_key(ins).await?.ok_or(StoreError::Stale("patient key"))
    }

    async fn find_patient_key(&self, ins: &Ins) -> Result<Option<WrappedKey>> {
        let row: Option<KeyRow> = on_pool!(self, |pool| sqlx::query_as("SELECT master_key_id, sealed FROM patient_keys WHERE ins = $1")
            .bind(ins.as_str())
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(WrappedKey::from))
    }

    async fn all_patient_keys(&self) -> Result<Vec<(Ins, WrappedKey)>> {
        let rows: Vec<(String, String, Vec<u8>)> =
            on_pool!(self, |pool| sqlx::query_as("SELECT ins, master_key_id, sealed FROM patient_keys ORDER BY ins")
                .fetch_all(pool)
                .await)?;
        rows.into_iter()
            .map(|(ins, master_key_id, sealed)| {
                Ok((Ins::parse(&ins).map_err(|e| corrupt("INS", e))?, WrappedKey { master_key_id, sealed }))
            })
            .collect()
    }

    async fn save_rewrapped_keys(&self, keys: &[(Ins, WrappedKey, WrappedKey)]) -> Result<()> {
        on_writer!(self, |pool| {
            let mut tx = pool.begin().await?;
            for (ins, old, new) in keys {
                let done = sqlx::query(
                    "UPDATE patient_keys SET master_key_id = $2, sealed = $3 WHERE ins = $1 AND master_key_id = $4 AND sealed = $5",
                )
                .bind(ins.as_str())
                .bind(&new.master_key_id)
                .bind(&new.sealed)
                .bind(&old.master_key_id)
                .bind(&old.sealed)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if done != 1 {
                    return Err(StoreError::Stale("patient key"));
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }

    async fn save_service_key_if_absent(&self, name: &str, key: &WrappedKey, now: OffsetDateTime) -> Result<WrappedKey> {
        on_writer!(self, |pool| sqlx::query(
            "INSERT INTO service_keys (name, master_key_id, sealed, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING"
        )
        .bind(name)
        .bind(&key.master_key_id)
        .bind(&key.sealed)
        .bind(to_millis(now))
        .execute(pool)
        .await
        .map(|_| ()))?;
        let row: Option<KeyRow> = on_pool!(self, |pool| sqlx::query_as("SELECT master_key_id, sealed FROM service_keys WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await)?;
        row.map(WrappedKey::from).ok_or(StoreError::Stale("service key"))
    }

    async fn all_service_keys(&self) -> Result<Vec<(String, WrappedKey)>> {
        let rows: Vec<(String, String, Vec<u8>)> =
            on_pool!(self, |pool| sqlx::query_as("SELECT name, master_key_id, sealed FROM service_keys ORDER BY name")
                .fetch_all(pool)
                .await)?;
        Ok(rows.into_iter().map(|(name, master_key_id, sealed)| (name, WrappedKey { master_key_id, sealed })).collect())
    }

    async fn save_rewrapped_service_keys(&self, keys: &[(String, WrappedKey, WrappedKey)]) -> Result<()> {
        on_writer!(self, |pool| {
            let mut tx = pool.begin().await?;
            for (name, old, new) in keys {
                let done = sqlx::query(
                    "UPDATE service_keys SET master_key_id = $2, sealed = $3 WHERE name = $1 AND master_key_id = $4 AND sealed = $5",
                )
                .bind(name)
                .bind(&new.master_key_id)
                .bind(&new.sealed)
                .bind(&old.master_key_id)
                .bind(&old.sealed)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if done != 1 {
                    return Err(StoreError::Stale("service key"));
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }

    async fn delete_patient_key(&self, ins: &Ins) -> Result<()> {
        on_writer!(self, |pool| sqlx::query("DELETE FROM patient_keys WHERE ins = $1").bind(ins.as_str()).execute(pool).await.map(|_| ()))?;
        Ok(())
    }
}

impl DocumentStore for Database {
    async fn begin_upload(&self, id: DocumentId, now: OffsetDateTime) -> Result<()> {
        on_writer!(self, |pool| sqlx::query("INSERT INTO pending_uploads (document_id, started_at) VALUES ($1, $2)")
            .bind(id.to_string())
            .bind(to_millis(now))
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    async fn end_upload(&self, id: DocumentId) -> Result<()> {
        on_writer!(self, |pool| sqlx::query("DELETE FROM pending_uploads WHERE document_id = $1")
            .bind(id.to_string())
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    async fn pending_uploads(&self, started_before: OffsetDateTime, limit: u32) -> Result<Vec<DocumentId>> {
        let ids: Vec<(String,)> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT document_id FROM pending_uploads WHERE started_at < $1 ORDER BY started_at, document_id LIMIT $2"
        )
        .bind(to_millis(started_before))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?;
        ids.into_iter().map(|(id,)| DocumentId::parse(&id).map_err(|e| corrupt("document id", e))).collect()
    }

    async fn unclaimed_ids(&self, ids: &[DocumentId]) -> Result<Vec<DocumentId>> {
        let mut unclaimed = Vec::new();
        // Well under SQLite's and PostgreSQL's limits on bound parameters.
        for batch in ids.chunks(500) {
            let values: Vec<String> = (1..=batch.len()).map(|n| format!("(${n})")).collect();
            let sql = format!(
                "WITH candidates(id) AS (VALUES {}) SELECT id FROM candidates c \
                 WHERE NOT EXISTS (SELECT 1 FROM documents d WHERE d.id = c.id) \
                 AND NOT EXISTS (SELECT 1 FROM pending_uploads p WHERE p.document_id = c.id)",
                values.join(", ")
            );
            let found: Vec<(String,)> = on_pool!(self, |pool| {
                // Not kept prepared: the text varies with the batch's length.
                let mut query = sqlx::query_as(&sql).persistent(false);
                for id in batch {
                    query = query.bind(id.to_string());
                }
                query.fetch_all(pool).await
            })?;
            for (id,) in found {
                unclaimed.push(DocumentId::parse(&id).map_err(|e| corrupt("document id", e))?);
            }
        }
        Ok(unclaimed)
    }

    async fn insert_document(
        &self,
        meta: &DocumentMeta,
        title_sealed: Option<&[u8]>,
        supersedes: Option<DocumentId>,
        notify: &[OutboxMessage],
    ) -> Result<()> {
        let mut writes = Writes::default();
        document_writes(&mut writes, meta, title_sealed, supersedes)?;
        for m in notify {
            writes.push(crate::policy::outbox_statement(m));
        }
        match self.write_atomically(&writes).await {
            Err(StoreError::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                Err(StoreError::Conflict("a document with this unique id exists"))
            }
            other => other,
        }
    }

    async fn find_document(&self, id: DocumentId) -> Result<Option<(DocumentMeta, Option<Vec<u8>>)>> {
        #[derive(sqlx::FromRow)]
        struct WithTitle {
            #[sqlx(flatten)]
            row: DocumentRow,
            title_sealed: Option<Vec<u8>>,
        }
        let sql = format!("SELECT {DOC_COLUMNS}, title_sealed FROM documents WHERE id = $1");
        let row: Option<WithTitle> = on_pool!(self, |pool| sqlx::query_as(&sql).bind(id.to_string()).fetch_optional(pool).await)?;
        row.map(|r| Ok((r.row.into_meta()?, r.title_sealed))).transpose()
    }

    async fn find_document_by_unique_id(&self, unique_id: &str) -> Result<Option<DocumentMeta>> {
        let sql = format!("SELECT {DOC_COLUMNS} FROM documents WHERE unique_id = $1");
        let row: Option<DocumentRow> = on_pool!(self, |pool| sqlx::query_as(&sql).bind(unique_id).fetch_optional(pool).await)?;
        row.map(DocumentRow::into_meta).transpose()
    }

    async fn find_documents_of(&self, ins: &Ins) -> Result<DocumentList> {
        let generation: i64 = on_pool!(self, |pool| sqlx::query_scalar(GENERATION_SQL).bind(ins.as_str()).fetch_one(pool).await)?;
        self.find_documents_at(ins, generation).await
    }

    async fn find_documents_at(&self, ins: &Ins, generation: i64) -> Result<DocumentList> {
        if generation == 0 {
            // The patient never had a document.
            return Ok(vec![]);
        }
        if let Some(list) = self.cached_documents(ins, generation) {
            return Ok(list.as_ref().clone());
        }
        // The list and its generation in one statement, so that they belong to one snapshot.
        let sql = format!("SELECT ({GENERATION_SQL}), ({})", documents_json_sql(self.backend()));
        let (read_at, json): (i64, Option<String>) = on_pool!(self, |pool| sqlx::query_as(&sql).bind(ins.as_str()).fetch_one(pool).await)?;
        let rows: Vec<DocumentJson> = match json {
            Some(json) => serde_json::from_str(&json).map_err(|e| corrupt("documents", e))?,
            None => vec![],
        };
        let list = rows
            .into_iter()
            .map(|DocumentJson(row, title)| Ok((Arc::new(row.into_meta()?), title.map(Arc::from))))
            .collect::<Result<DocumentList>>()?;
        self.cache_documents(ins, read_at, &list);
        Ok(list)
    }

    async fn save_document_state(&self, meta: &DocumentMeta, read_as: DocumentStatus) -> Result<()> {
        let done = on_writer!(self, |pool| sqlx::query(
            "UPDATE documents SET status = $2, archived = $3, labels = $4 WHERE id = $1 AND status = $5"
        )
        .bind(meta.id.to_string())
        .bind(meta.status.as_str())
        .bind(meta.archived)
        .bind(labels_text(&meta.labels))
        .bind(read_as.as_str())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        if done == 1 { Ok(()) } else { Err(StoreError::Stale("document")) }
    }

    async fn find_shredding_due(&self, limit: u32) -> Result<Vec<Ins>> {
        let rows: Vec<(String,)> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT DISTINCT r.ins FROM records r \
             WHERE r.status = 'destroyed' \
               AND NOT EXISTS (SELECT 1 FROM records l WHERE l.ins = r.ins AND l.status <> 'destroyed') \
               AND (EXISTS (SELECT 1 FROM documents d WHERE d.ins = r.ins) \
                    OR EXISTS (SELECT 1 FROM patient_keys k WHERE k.ins = r.ins)) \
             ORDER BY r.ins LIMIT $1"
        )
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?;
        rows.into_iter().map(|(ins,)| Ins::parse(&ins).map_err(|e| corrupt("INS", e))).collect()
    }

    async fn delete_document(&self, id: DocumentId) -> Result<()> {
        let done = on_writer!(self, |pool| sqlx::query("DELETE FROM documents WHERE id = $1")
            .bind(id.to_string())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        if done == 1 { Ok(()) } else { Err(StoreError::Stale("document")) }
    }

    async fn delete_documents_of(&self, ins: &Ins) -> Result<Vec<DocumentId>> {
        on_writer!(self, |pool| sqlx::query("DELETE FROM submission_sets WHERE ins = $1")
            .bind(ins.as_str())
            .execute(pool)
            .await
            .map(|_| ()))?;
        let ids: Vec<(String,)> = on_writer!(self, |pool| sqlx::query_as("DELETE FROM documents WHERE ins = $1 RETURNING id")
            .bind(ins.as_str())
            .fetch_all(pool)
            .await)?;
        // Direct entries have no document to go with; sealed under the shredded key, they are noise anyway.
        on_writer!(self, |pool| sqlx::query("DELETE FROM profile_items WHERE ins = $1")
            .bind(ins.as_str())
            .execute(pool)
            .await
            .map(|_| ()))?;
        ids.into_iter().map(|(id,)| DocumentId::parse(&id).map_err(|e| corrupt("document id", e))).collect()
    }

    async fn save_derived(&self, id: DocumentId, kind: &str, sealed: &[u8]) -> Result<()> {
        on_writer!(self, |pool| sqlx::query(
            "INSERT INTO derived_artifacts (document_id, kind, sealed) VALUES ($1, $2, $3) \
             ON CONFLICT (document_id, kind) DO UPDATE SET sealed = excluded.sealed"
        )
        .bind(id.to_string())
        .bind(kind)
        .bind(sealed)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    async fn find_derived(&self, id: DocumentId, kind: &str) -> Result<Option<Vec<u8>>> {
        let row: Option<(Vec<u8>,)> =
            on_pool!(self, |pool| sqlx::query_as("SELECT sealed FROM derived_artifacts WHERE document_id = $1 AND kind = $2")
                .bind(id.to_string())
                .bind(kind)
                .fetch_optional(pool)
                .await)?;
        Ok(row.map(|(s,)| s))
    }
}
