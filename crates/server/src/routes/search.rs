//! `/api/records/{ins}/search`: the documents of a record whose text holds every word of `q`,
//! among those the caller may see, by relevance, each with the passage that matched and where
//! the matched words are in it; filtered by class, type, date of the act and author, paged.

use axum::Json;
use axum::extract::State;
use carnet_domain::DocumentMeta;
use carnet_service::{MAX_PAGE, Paging, check_text_query};
use serde::{Deserialize, Serialize};
use time::Date;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiQuery, Authenticated, InsPath};
use crate::routes::documents::DocumentResponse;

/// The search's parameters; any other is refused (400, naming it).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// The words searched for (all of them, in any form: "allergique" finds "allergie"), 1 to
    /// 200 characters. Never recorded: the ledger keeps only the count of documents returned.
    pub q: Option<String>,
    /// Class code (JDV_J57).
    pub class: Option<String>,
    /// Type code (JDV_J66).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub type_code: Option<String>,
    /// First day of the act (YYYY-MM-DD, inclusive): the service's start, else when the author
    /// wrote the document, else its deposit.
    pub from: Option<String>,
    /// Last day of the act (YYYY-MM-DD, inclusive).
    pub to: Option<String>,
    /// The author: an RPPS number or an author reference (`rpps:…`).
    pub author: Option<String>,
    /// Hits skipped (default 0).
    pub offset: Option<usize>,
    /// Hits returned, 1 to 100 (default 20).
    pub limit: Option<usize>,
}

/// A passage of a document's text and where the matched words are in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnippetResponse {
    /// The passage, as written in the document (plain text: escape it before showing it as HTML).
    pub text: String,
    /// The matched words: byte ranges `[start, end)` into `text` (UTF-8).
    pub highlights: Vec<[usize; 2]>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHit {
    pub document: DocumentResponse,
    /// Relevance: this hit's score over the best hit's (0..1].
    pub score: f32,
    pub snippet: SnippetResponse,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResponse {
    /// Matching documents the caller may see and the filters keep (hidden documents are never
    /// counted).
    pub total: usize,
    pub hits: Vec<SearchHit>,
}

/// The day the act took place (the service's rule: the service's start, else when the author
/// wrote the document, else its deposit; the day in Paris).
pub fn act_date(m: &DocumentMeta) -> Date {
    carnet_service::act_day(m)
}

fn parse_day(name: &str, value: Option<&str>) -> Result<Option<Date>, ApiError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    value
        .map(|v| Date::parse(v, format).map_err(|_| ApiError::unprocessable(format!("{name}: {v:?} is not a date (YYYY-MM-DD)"))))
        .transpose()
}

/// The filters of a search, checked: a document is kept when it meets every one given.
pub struct Filters {
    class: Option<String>,
    type_code: Option<String>,
    from: Option<Date>,
    to: Option<Date>,
    author: Option<String>,
}

impl Filters {
    pub fn keeps(&self, m: &DocumentMeta) -> bool {
        self.class.as_ref().is_none_or(|c| m.xds.class_code.code == *c)
            && self.type_code.as_ref().is_none_or(|t| m.xds.type_code.code == *t)
            && self.from.is_none_or(|d| act_date(m) >= d)
            && self.to.is_none_or(|d| act_date(m) <= d)
            && self.author.as_ref().is_none_or(|a| m.author == *a || m.author.strip_prefix("rpps:") == Some(a.as_str()))
    }
}

/// Checks the parameters: the words, the filters and the page.
pub fn checked(p: &SearchParams) -> Result<(String, Filters, Paging), ApiError> {
    let q = p.q.clone().unwrap_or_default();
    check_text_query(&q).map_err(|problem| ApiError::unprocessable(format!("q: the search text {problem}")))?;
    let from = parse_day("from", p.from.as_deref())?;
    let to = parse_day("to", p.to.as_deref())?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(ApiError::unprocessable("from: after to"));
    }
    let limit = p.limit.unwrap_or(20);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::unprocessable(format!("limit: from 1 to {MAX_PAGE}")));
    }
    let filters = Filters { class: p.class.clone(), type_code: p.type_code.clone(), from, to, author: p.author.clone() };
    Ok((q, filters, Paging { offset: p.offset.unwrap_or(0), limit }))
}

/// Search inside a record: the documents the caller may see whose text holds every word of
/// `q`, by relevance, with the passage that matched. One entry in the access ledger (the count
/// returned, never the words).
#[utoipa::path(get, path = "/api/records/{ins}/search", tag = "documents",
    params(("ins" = String, Path, description = "The patient's INS"), SearchParams),
    responses(
        (status = 200, description = "A page of hits, best first", body = SearchResponse),
        (status = 400, description = "An unknown parameter (named)", body = crate::Problem),
        (status = 422, description = "An empty, over-long or wordless `q`, a malformed date, a limit out of range (named)", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn search(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    InsPath(ins): InsPath,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<SearchResponse>, ApiError> {
    let (q, filters, paging) = checked(&params)?;
    let found = state.carnet.search_text(&actor, &ins, &q, &|m| filters.keeps(m), paging).await?;
    let visible: Vec<_> = found.hits.iter().map(|h| h.visible.clone()).collect();
    let views = state.carnet.views(&visible).await?;
    let codes = &state.carnet.config().codes;
    let hits = found
        .hits
        .into_iter()
        .zip(views)
        .map(|(hit, view)| SearchHit {
            document: DocumentResponse::of(view, codes),
            score: hit.relevance,
            snippet: SnippetResponse {
                highlights: hit.snippet.highlights.iter().map(|r| [r.start, r.end]).collect(),
                text: hit.snippet.text,
            },
        })
        .collect();
    Ok(Json(SearchResponse { total: found.total, hits }))
}
