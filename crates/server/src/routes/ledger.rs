//! The ledger over `/api`: signed tree heads and proofs (for anyone keeping a copy), a record's
//! access history (for the patient, their representative and the privacy officer), and the
//! privacy officer's review queue.

use axum::Json;
use axum::extract::{Path, State};
use carnet_service::HistoryQuery;
use carnet_service::{ConsistencyProof, InclusionProof, RecordedEntry, ReviewItem, SignedTreeHead};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiQuery, Authenticated, InsPath};

fn hex(bytes: &[u8]) -> String {
    carnet_domain::hex::encode(bytes)
}

/// A signed tree head: the ledger's size and root, signed with Ed25519 over
/// `"carnet-sth-v1" ‖ tree_size (u64 BE) ‖ timestamp_ms (u64 BE) ‖ root_hash`.
#[derive(Serialize, ToSchema)]
pub struct TreeHeadResponse {
    pub tree_size: u64,
    /// Hex SHA-256.
    pub root_hash: String,
    pub timestamp_ms: u64,
    /// Hex Ed25519 signature.
    pub signature: String,
    /// Hex Ed25519 public key the heads are signed with.
    pub public_key: String,
}

fn tree_head(sth: SignedTreeHead, public_key: [u8; 32]) -> TreeHeadResponse {
    TreeHeadResponse {
        tree_size: sth.head.tree_size,
        root_hash: hex(&sth.head.root_hash),
        timestamp_ms: sth.head.timestamp_ms,
        signature: hex(&sth.signature),
        public_key: hex(&public_key),
    }
}

/// The latest signed tree head.
#[utoipa::path(get, path = "/api/ledger/tree-head", tag = "ledger",
    responses((status = 200, description = "The latest signed tree head", body = TreeHeadResponse)),
    security(("bearer" = [])))]
pub async fn latest(State(state): State<AppState>, Authenticated(_): Authenticated) -> Result<Json<TreeHeadResponse>, ApiError> {
    let sth = state.carnet.latest_tree_head().await?;
    Ok(Json(tree_head(sth, state.carnet.ledger_public_key())))
}

/// The key every tree head is signed with.
#[derive(Serialize, ToSchema)]
pub struct PublicKeyResponse {
    /// `Ed25519`.
    pub algorithm: &'static str,
    /// Hex Ed25519 public key.
    pub public_key: String,
}

/// The ledger's signing key, at a URL of its own and without authentication: whoever keeps
/// Carnet's tree heads (a witness, a patient's receipt) pins it once and checks every head with it.
#[utoipa::path(get, path = "/api/ledger/public-key", tag = "ledger",
    responses((status = 200, description = "The ledger's Ed25519 public key", body = PublicKeyResponse)))]
pub async fn public_key(State(state): State<AppState>) -> Json<PublicKeyResponse> {
    Json(PublicKeyResponse { algorithm: "Ed25519", public_key: hex(&state.carnet.ledger_public_key()) })
}

/// The tree head signed at a given size (tree heads are signed at every group commit).
#[utoipa::path(get, path = "/api/ledger/tree-heads/{size}", tag = "ledger",
    params(("size" = u64, Path, description = "Tree size")),
    responses((status = 200, description = "The signed tree head", body = TreeHeadResponse), (status = 404, description = "No head signed at that size", body = crate::Problem)),
    security(("bearer" = [])))]
pub async fn at_size(
    State(state): State<AppState>,
    Authenticated(_): Authenticated,
    Path(size): Path<String>,
) -> Result<Json<TreeHeadResponse>, ApiError> {
    let size: u64 = size.parse().map_err(|_| ApiError::unprocessable(format!("size: {size:?} is not a tree size")))?;
    let sth = state.carnet.tree_head_at(size).await?;
    Ok(Json(tree_head(sth, state.carnet.ledger_public_key())))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InclusionQuery {
    /// Leaf index of the entry.
    pub index: u64,
    /// Size of the tree to prove inclusion in (that of a signed tree head).
    pub tree_size: u64,
}

#[derive(Serialize, ToSchema)]
pub struct InclusionResponse {
    pub leaf_index: u64,
    pub tree_size: u64,
    /// Hex sibling hashes from the leaf up (RFC 9162 §2.1.3).
    pub path: Vec<String>,
}

/// An inclusion proof (RFC 9162 §2.1.3) of entry `index` in the tree of `tree_size`.
#[utoipa::path(get, path = "/api/ledger/inclusion-proof", tag = "ledger", params(InclusionQuery),
    responses((status = 200, description = "The proof", body = InclusionResponse), (status = 404, description = "Index or size beyond the ledger", body = crate::Problem)),
    security(("bearer" = [])))]
pub async fn inclusion(
    State(state): State<AppState>,
    Authenticated(_): Authenticated,
    ApiQuery(q): ApiQuery<InclusionQuery>,
) -> Result<Json<InclusionResponse>, ApiError> {
    let InclusionProof { leaf_index, tree_size, path } = state.carnet.inclusion_proof(q.index, q.tree_size).await?;
    Ok(Json(InclusionResponse { leaf_index, tree_size, path: path.iter().map(|h| hex(h)).collect() }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    pub old: u64,
    pub new: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ConsistencyResponse {
    pub old_size: u64,
    pub new_size: u64,
    /// Hex hashes (RFC 9162 §2.1.4).
    pub path: Vec<String>,
}

/// A consistency proof (RFC 9162 §2.1.4) between two tree sizes: the later tree extends the
/// earlier one, nothing rewritten.
#[utoipa::path(get, path = "/api/ledger/consistency-proof", tag = "ledger", params(ConsistencyQuery),
    responses(
        (status = 200, description = "The proof", body = ConsistencyResponse),
        (status = 404, description = "A size beyond the ledger", body = crate::Problem),
        (status = 422, description = "old > new", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn consistency(
    State(state): State<AppState>,
    Authenticated(_): Authenticated,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> Result<Json<ConsistencyResponse>, ApiError> {
    let ConsistencyProof { old_size, new_size, path } = state.carnet.consistency_proof(q.old, q.new).await?;
    Ok(Json(ConsistencyResponse { old_size, new_size, path: path.iter().map(|h| hex(h)).collect() }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// RFC 3339, inclusive.
    pub from: Option<String>,
    /// RFC 3339, exclusive.
    pub to: Option<String>,
    /// An actor reference (`rpps:…` or `issuer#subject`).
    pub actor: Option<String>,
    /// The `next_after` of the previous page.
    pub after: Option<u64>,
    /// 1 to 200 (default 50).
    pub limit: Option<u32>,
}

/// Who, as the history shows them.
#[derive(Serialize, ToSchema)]
pub struct HistoryActor {
    pub reference: String,
    pub role: String,
    pub name: Option<String>,
    /// TRE_G15 code.
    pub profession: Option<String>,
    /// FINESS.
    pub organisation: Option<String>,
    /// The app the actor acted through; absent when they acted themselves.
    pub app: Option<HistoryApp>,
}

/// An app (a SMART on FHIR client) as the history names it.
#[derive(Serialize, ToSchema)]
pub struct HistoryApp {
    pub client_id: String,
    /// The catalogue's name for it, else its client id.
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct HistoryEntry {
    /// Leaf index: ask `/api/ledger/inclusion-proof?index=…` to prove it is in the ledger.
    pub index: u64,
    /// Hex SHA-256 leaf hash of `entry_json` (RFC 9162: over 0x00 ‖ the bytes).
    pub leaf_hash: String,
    pub at: String,
    pub actor: HistoryActor,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub reason: String,
    /// An emergency access's written justification: the text the entry's
    /// `justification_commitment` (in `entry_json`) was made of, opened from its sealed copy —
    /// or "justification illisible : dossier effacé" once the record was crypto-shredded.
    /// Entries written before commitments carry the text itself.
    pub justification: Option<String>,
    /// The exact bytes that were hashed, for independent verification.
    pub entry_json: String,
}

#[derive(Serialize, ToSchema)]
pub struct HistoryResponse {
    pub entries: Vec<HistoryEntry>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<u64>,
}

fn history_entry(e: RecordedEntry, carnet: &carnet_service::Carnet) -> HistoryEntry {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(e.entry.at) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default();
    HistoryEntry {
        index: e.index,
        leaf_hash: hex(&e.leaf_hash()),
        at,
        actor: HistoryActor {
            reference: e.entry.actor.reference,
            role: e.entry.actor.role,
            name: e.entry.actor.name,
            profession: e.entry.actor.profession,
            organisation: e.entry.actor.organisation,
            app: e.entry.actor.app.map(|client_id| HistoryApp { name: carnet.app_name(&client_id).to_owned(), client_id }),
        },
        action: e.entry.action,
        target: e.entry.target,
        outcome: e.entry.outcome.as_str().to_owned(),
        reason: e.entry.reason,
        justification: e.entry.justification,
        entry_json: String::from_utf8_lossy(&e.bytes).into_owned(),
    }
}

fn parse_time(field: &str, raw: Option<&str>) -> Result<Option<OffsetDateTime>, ApiError> {
    raw.map(|s| {
        OffsetDateTime::parse(s, &Rfc3339).map_err(|_| ApiError::unprocessable(format!("{field}: {s:?} is not an RFC 3339 date-time")))
    })
    .transpose()
}

fn history_query(q: HistoryParams) -> Result<HistoryQuery, ApiError> {
    Ok(HistoryQuery {
        from: parse_time("from", q.from.as_deref())?,
        to: parse_time("to", q.to.as_deref())?,
        actor: q.actor,
        after: q.after,
        limit: q.limit.unwrap_or(50),
        ..HistoryQuery::default()
    })
}

/// A record's access history, oldest first, paged: who (name, profession, organisation), when,
/// what, outcome and why — each entry with its leaf index for an inclusion proof.
#[utoipa::path(get, path = "/api/records/{ins}/access-history", tag = "ledger",
    params(("ins" = String, Path, description = "The patient's INS"), HistoryParams),
    responses(
        (status = 200, description = "A page of the history", body = HistoryResponse),
        (status = 404, description = "No such record, or not the caller's", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn history(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    InsPath(ins): InsPath,
    ApiQuery(q): ApiQuery<HistoryParams>,
) -> Result<Json<HistoryResponse>, ApiError> {
    let query = history_query(q)?;
    let page = state.carnet.access_history(&actor, &ins, query).await?;
    Ok(Json(HistoryResponse {
        entries: page.entries.into_iter().map(|e| history_entry(e, &state.carnet)).collect(),
        next_after: page.next_after,
    }))
}

/// Receipts for a page of a record's access history: the latest signed tree head, and each entry's
/// exact bytes with its inclusion path in it (format `carnet-access-receipts-v1`, checked offline by
/// `carnet ledger check-receipt`). The same readers, filters and pages as the history.
#[utoipa::path(get, path = "/api/records/{ins}/access-history/receipts", tag = "ledger",
    params(("ins" = String, Path, description = "The patient's INS"), HistoryParams),
    responses(
        (status = 200, description = "`{format, public_key, tree_head, entries: [{index, entry, path}]}`", body = Object),
        (status = 404, description = "No such record, or not the caller's", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn receipts(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    InsPath(ins): InsPath,
    ApiQuery(q): ApiQuery<HistoryParams>,
) -> Result<Json<carnet_service::AccessReceipts>, ApiError> {
    let query = history_query(q)?;
    let page = state.carnet.access_history(&actor, &ins, query).await?;
    Ok(Json(state.carnet.access_receipts(&page.entries).await?))
}

#[derive(Serialize, ToSchema)]
pub struct ReviewItemResponse {
    pub id: String,
    /// `emergency` or `enumeration`.
    pub kind: String,
    pub ins: Option<String>,
    pub actor: String,
    pub summary: String,
    pub ledger_index: Option<u64>,
    pub opened_at: String,
    /// `open` or `acknowledged`.
    pub status: String,
    /// `[{by, at, text}]`.
    #[schema(value_type = Vec<Object>)]
    pub notes: serde_json::Value,
}

impl From<ReviewItem> for ReviewItemResponse {
    fn from(i: ReviewItem) -> Self {
        ReviewItemResponse {
            id: i.id,
            kind: i.kind,
            ins: i.ins.map(|x| x.to_string()),
            actor: i.actor_ref,
            summary: i.summary,
            ledger_index: i.ledger_index,
            opened_at: i.opened_at.format(&Rfc3339).unwrap_or_default(),
            status: i.status,
            notes: serde_json::from_str(&i.notes).unwrap_or_default(),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReviewParams {
    /// `open` or `acknowledged`; all if absent.
    pub status: Option<String>,
}

/// The privacy officer's review queue: emergency accesses and enumeration alerts.
#[utoipa::path(get, path = "/api/review-items", tag = "ledger", params(ReviewParams),
    responses((status = 200, description = "Items, oldest first", body = Vec<ReviewItemResponse>), (status = 403, description = "Privacy officers only", body = crate::Problem)),
    security(("bearer" = [])))]
pub async fn review_items(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<ReviewParams>,
) -> Result<Json<Vec<ReviewItemResponse>>, ApiError> {
    let items = state.carnet.review_items(&actor, q.status.as_deref()).await?;
    Ok(Json(items.into_iter().map(Into::into).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    pub note: Option<String>,
}

/// Acknowledge an item (with an optional note). A ledger entry.
#[utoipa::path(post, path = "/api/review-items/{id}/acknowledge", tag = "ledger", request_body = NoteBody,
    params(("id" = String, Path, description = "Item id")),
    responses((status = 200, description = "Acknowledged", body = ReviewItemResponse), (status = 409, description = "Already acknowledged", body = crate::Problem)),
    security(("bearer" = [])))]
pub async fn acknowledge(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    crate::extract::ApiJson(body): crate::extract::ApiJson<NoteBody>,
) -> Result<Json<ReviewItemResponse>, ApiError> {
    Ok(Json(state.carnet.review(&actor, &id, true, body.note.as_deref()).await?.into()))
}

/// Annotate an item. A ledger entry (the note itself stays in the queue, not in the ledger).
#[utoipa::path(post, path = "/api/review-items/{id}/notes", tag = "ledger", request_body = NoteBody,
    params(("id" = String, Path, description = "Item id")),
    responses((status = 200, description = "Annotated", body = ReviewItemResponse), (status = 422, description = "Missing note", body = crate::Problem)),
    security(("bearer" = [])))]
pub async fn annotate(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    crate::extract::ApiJson(body): crate::extract::ApiJson<NoteBody>,
) -> Result<Json<ReviewItemResponse>, ApiError> {
    Ok(Json(state.carnet.review(&actor, &id, false, body.note.as_deref()).await?.into()))
}
