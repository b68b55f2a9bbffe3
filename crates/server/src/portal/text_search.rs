//! Search inside a record from the portal: the patient's *Mes documents* (`/documents/recherche`)
//! and a professional's record page (`/patients/{handle}/recherche`). The words go to
//! `search_text` (the gate, one ledger entry without the words); the passage that matched is
//! shown with the matched words in `<mark>` — the passage is the document's text, escaped like
//! any text, never trusted as HTML.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use carnet_domain::Ins;
use carnet_service::{MAX_QUERY_CHARS, Paging, QueryProblem, Snippet, check_text_query};

use super::session::PortalSession;
use super::{page, words};
use crate::AppState;

/// Hits shown on the page.
const SHOWN: usize = 30;

/// One piece of a passage: `true` for a matched word.
pub struct Piece {
    pub text: String,
    pub matched: bool,
}

pub struct Found {
    pub href: String,
    pub title: String,
    pub kind: String,
    pub date: String,
    pub passage: Vec<Piece>,
}

#[derive(Template)]
#[template(path = "recherche_texte.html")]
struct ResultsPage {
    page: &'static str,
    csrf: String,
    represented: Option<super::record::Represented>,
    /// Where the form posts, and the back link.
    action: String,
    back: String,
    back_words: &'static str,
    /// The words as typed.
    text: String,
    error: Option<String>,
    /// None until something was searched.
    found: Option<Vec<Found>>,
    /// "3 documents contiennent « … »."
    summary: String,
    max_chars: usize,
}

/// The passage in pieces, matched words apart (ranges off a character boundary are shown plain).
pub fn pieces(snippet: &Snippet) -> Vec<Piece> {
    let text = &snippet.text;
    let mut out = Vec::new();
    let mut at = 0;
    for r in &snippet.highlights {
        if r.start < at || text.get(r.clone()).is_none() || text.get(at..r.start).is_none() {
            continue;
        }
        if r.start > at {
            out.push(Piece { text: text[at..r.start].to_owned(), matched: false });
        }
        out.push(Piece { text: text[r.clone()].to_owned(), matched: true });
        at = r.end;
    }
    if let Some(rest) = text.get(at..)
        && !rest.is_empty()
    {
        out.push(Piece { text: rest.to_owned(), matched: false });
    }
    out
}

fn problem_words(p: QueryProblem) -> String {
    match p {
        QueryProblem::Empty => "Saisissez au moins un mot à rechercher.".into(),
        QueryProblem::TooLong => format!("La recherche est trop longue : {MAX_QUERY_CHARS} caractères au plus."),
        QueryProblem::NoWords => "Saisissez des mots précis (« le », « de », « la »… ne sont pas recherchés).".into(),
    }
}

/// `texte` from the query string.
fn typed(query: Option<&str>) -> Option<String> {
    let query = query?;
    form_urlencoded_value(query, "texte")
}

fn form_urlencoded_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| {
            let v = v.replace('+', " ");
            percent_decode(&v)
        })
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(h, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Where {
    page: &'static str,
    action: String,
    back: String,
    back_words: &'static str,
    /// The viewer of a document, by id.
    viewer: Box<dyn Fn(&str) -> String + Send>,
}

async fn results(state: &AppState, session: &PortalSession, ins: &Ins, query: Option<&str>, at: Where) -> Response {
    let text = typed(query).unwrap_or_default();
    let represented = super::record::represented(state, session).await;
    let mut rendered = ResultsPage {
        page: at.page,
        csrf: session.csrf_token.clone(),
        represented,
        action: at.action,
        back: at.back,
        back_words: at.back_words,
        text: text.clone(),
        error: None,
        found: None,
        summary: String::new(),
        max_chars: MAX_QUERY_CHARS,
    };
    if query.is_none_or(|q| form_urlencoded_value(q, "texte").is_none()) {
        return page(StatusCode::OK, rendered.render());
    }
    if let Err(p) = check_text_query(&text) {
        rendered.error = Some(problem_words(p));
        return page(StatusCode::BAD_REQUEST, rendered.render());
    }
    let all = |_: &carnet_domain::DocumentMeta| true;
    let found = match state.carnet.search_text(&session.actor, ins, &text, &all, Paging { offset: 0, limit: SHOWN }).await {
        Ok(f) => f,
        Err(e) => return super::service_error_page(e),
    };
    let visible: Vec<_> = found.hits.iter().map(|h| h.visible.clone()).collect();
    let views = match state.carnet.views(&visible).await {
        Ok(v) => v,
        Err(e) => return super::service_error_page(e),
    };
    rendered.summary = match found.total {
        0 => format!("Aucun document ne contient « {text} »."),
        1 => format!("1 document contient « {text} »."),
        n if n > found.hits.len() => format!("{n} documents contiennent « {text} » ; les {} plus pertinents :", found.hits.len()),
        n => format!("{n} documents contiennent « {text} », du plus pertinent au moins pertinent :"),
    };
    rendered.found = Some(
        found
            .hits
            .iter()
            .zip(views)
            .map(|(hit, view)| {
                let kind = super::documents::type_words(state, &view.meta);
                Found {
                    href: (at.viewer)(&view.meta.id.to_string()),
                    title: view.title.clone().unwrap_or_else(|| kind.clone()),
                    kind,
                    date: words::date(super::documents::act_date(&view.meta)),
                    passage: pieces(&hit.snippet),
                }
            })
            .collect(),
    );
    page(StatusCode::OK, rendered.render())
}

/// `/documents/recherche?texte=…`: the patient (or their representative) searches their record.
pub async fn patient(State(state): State<AppState>, session: PortalSession, RawQuery(query): RawQuery) -> Response {
    let Some(ins) = session.record().cloned() else { return super::not_found_page() };
    let at = Where {
        page: "documents",
        action: "/documents/recherche".into(),
        back: "/documents".into(),
        back_words: "Revenir à mes documents",
        viewer: Box::new(|id| format!("/documents/{id}")),
    };
    results(&state, &session, &ins, query.as_deref(), at).await
}

/// `/patients/{handle}/recherche?texte=…`: a professional searches a patient's record.
pub async fn professional(
    State(state): State<AppState>,
    session: PortalSession,
    Path(handle): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(ins) = super::professional::record_ins(&session, &handle) else { return super::not_found_page() };
    let viewer_handle = handle.clone();
    let at = Where {
        page: "pro-patients",
        action: format!("/patients/{handle}/recherche"),
        back: format!("/patients/{handle}"),
        back_words: "Revenir au dossier",
        viewer: Box::new(move |id| format!("/patients/{viewer_handle}/documents/{id}")),
    };
    results(&state, &session, &ins, query.as_deref(), at).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passage_is_cut_around_its_matched_words() {
        let s = Snippet { text: "Allergie à la pénicilline".into(), highlights: vec![0..8, 15..27] };
        let p: Vec<(String, bool)> = pieces(&s).into_iter().map(|p| (p.text, p.matched)).collect();
        let want: Vec<(String, bool)> =
            [("Allergie", true), (" à la ", false), ("pénicilline", true)].map(|(t, m)| (t.to_owned(), m)).into();
        assert_eq!(p, want);
        // A range off a character boundary is never sliced.
        let s = Snippet { text: "é".into(), highlights: std::iter::once(0..1).collect() };
        assert_eq!(pieces(&s).iter().map(|p| p.text.as_str()).collect::<String>(), "é");
    }

    #[test]
    fn the_words_are_read_from_the_query_string() {
        assert_eq!(typed(Some("texte=allergie+p%C3%A9nicilline")).as_deref(), Some("allergie pénicilline"));
        assert_eq!(typed(Some("autre=1")), None);
    }
}
