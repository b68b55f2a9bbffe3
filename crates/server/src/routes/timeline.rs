//! `/api/records/{ins}/timeline`: the documents of a record the caller may see, by date of the
//! act, grouped by month then by class, newest first, replaced versions folded under the
//! version in force; a few months a page, filtered by class and type (docs/timeline.md).

use axum::Json;
use axum::extract::State;
use carnet_service::{MAX_TIMELINE_MONTHS, Month, TIMELINE_MONTHS, TimelineQuery, Visible, act_day};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiQuery, Authenticated, InsPath};
use crate::routes::documents::{CodeResponse, DocumentResponse};

/// The timeline's parameters; any other is refused (400, naming it).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TimelineParams {
    /// Only months before this one (`YYYY-MM`, exclusive): the `next` link's value.
    pub before: Option<String>,
    /// Months holding documents per page, 1 to 120 (default 12).
    pub months: Option<String>,
    /// Class code (JDV_J57).
    pub class: Option<String>,
    /// Type code (JDV_J66).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub type_code: Option<String>,
}

/// An older version of a document, folded under the version in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviousVersion {
    pub id: String,
    /// The day of the act (`YYYY-MM-DD`, Paris).
    pub act_date: String,
    /// RFC 3339.
    pub submitted_at: String,
    /// `superseded`, `entered-in-error`, …
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEntryResponse {
    /// The day of the act (`YYYY-MM-DD`, Paris): the service's start, else when the author wrote
    /// the document, else its deposit.
    pub act_date: String,
    /// The version in force (or the newest the caller may see).
    pub document: DocumentResponse,
    /// Older versions the caller may see, newest first.
    pub previous_versions: Vec<PreviousVersion>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineClass {
    pub class: CodeResponse,
    /// Newest first.
    pub entries: Vec<TimelineEntryResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineMonthResponse {
    /// `YYYY-MM`.
    pub month: String,
    /// Ordered by their newest document.
    pub classes: Vec<TimelineClass>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineResponse {
    /// Newest first; only months holding documents the caller may see.
    pub months: Vec<TimelineMonthResponse>,
    /// The next (older) page, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

fn bad(name: &str, problem: impl std::fmt::Display) -> ApiError {
    ApiError::new(axum::http::StatusCode::BAD_REQUEST, format!("{name}: {problem}"))
}

/// Checks the parameters against their forms and the code lists.
fn checked(state: &AppState, p: &TimelineParams) -> Result<TimelineQuery, ApiError> {
    let before = p
        .before
        .as_deref()
        .map(|raw| Month::parse(raw).ok_or_else(|| bad("before", format!("{raw:?} is not a month (YYYY-MM)"))))
        .transpose()?;
    let months = match p.months.as_deref() {
        None => TIMELINE_MONTHS,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_TIMELINE_MONTHS).contains(n))
            .ok_or_else(|| bad("months", format!("{raw:?} is not a number from 1 to {MAX_TIMELINE_MONTHS}")))?,
    };
    let codes = &state.carnet.config().codes;
    if let Some(class) = &p.class
        && !codes.classes.iter().any(|c| c.code.code == *class)
    {
        return Err(bad("class", format!("{class:?} is not a class code of JDV_J57")));
    }
    if let Some(type_code) = &p.type_code
        && !codes.types.iter().any(|t| t.code.code == *type_code)
    {
        return Err(bad("type", format!("{type_code:?} is not a type code of JDV_J66")));
    }
    Ok(TimelineQuery { before, months, class: p.class.clone(), type_code: p.type_code.clone() })
}

/// The query string of the next page: the same filters, older months.
fn next_link(ins: &carnet_domain::Ins, query: &TimelineQuery, before: Month) -> String {
    let before = before.to_string();
    let months = query.months.to_string();
    let mut q: Vec<(&str, &str)> = vec![("before", &before), ("months", &months)];
    if let Some(c) = &query.class {
        q.push(("class", c));
    }
    if let Some(t) = &query.type_code {
        q.push(("type", t));
    }
    format!("/api/records/{ins}/timeline?{}", serde_urlencoded::to_string(&q).unwrap_or_default())
}

/// A record's timeline: the documents the caller may see by date of the act, by month then by
/// class, newest first, older versions folded under the version in force. A hidden document
/// contributes nothing. One entry in the access ledger, like a listing.
#[utoipa::path(get, path = "/api/records/{ins}/timeline", tag = "documents",
    params(("ins" = String, Path, description = "The patient's INS"), TimelineParams),
    responses(
        (status = 200, description = "A page of months, newest first", body = TimelineResponse),
        (status = 400, description = "An unknown parameter, a malformed month, months out of range, an unknown class or type (named)", body = crate::Problem),
        (status = 422, description = "Malformed INS", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn timeline(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    InsPath(ins): InsPath,
    ApiQuery(params): ApiQuery<TimelineParams>,
) -> Result<Json<TimelineResponse>, ApiError> {
    let query = checked(&state, &params)?;
    let timeline = state.carnet.timeline(&actor, &ins, &query).await?;
    let codes = &state.carnet.config().codes;
    let mut months = Vec::with_capacity(timeline.months.len());
    for month in timeline.months {
        let mut classes = Vec::with_capacity(month.classes.len());
        for group in month.classes {
            let currents: Vec<Visible> = group.entries.iter().map(|e| e.current.clone()).collect();
            let views = state.carnet.views(&currents).await?;
            let entries = group
                .entries
                .into_iter()
                .zip(views)
                .map(|(entry, view)| TimelineEntryResponse {
                    act_date: act_day(entry.current.meta()).to_string(),
                    document: DocumentResponse::of(view, codes),
                    previous_versions: entry
                        .previous
                        .iter()
                        .map(|v| {
                            let m = v.meta();
                            PreviousVersion {
                                id: m.id.to_string(),
                                act_date: act_day(m).to_string(),
                                submitted_at: crate::routes::documents::rfc3339(m.submitted_at),
                                status: m.status.as_str().to_owned(),
                            }
                        })
                        .collect(),
                })
                .collect();
            let display = codes.find_class(&group.class).map(|c| c.display.clone());
            classes.push(TimelineClass { class: CodeResponse { system: group.class.system, code: group.class.code, display }, entries });
        }
        months.push(TimelineMonthResponse { month: month.month.to_string(), classes });
    }
    let next = timeline.next.map(|before| next_link(&ins, &query, before));
    Ok(Json(TimelineResponse { months, next }))
}
