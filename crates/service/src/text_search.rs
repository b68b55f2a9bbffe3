//! Search inside a record: the documents whose text holds every word of a query, through the
//! gate, ranked, each with the passage that matched.
//!
//! The gate is the one ITI-67 goes through (scopes, `decide`, the enumeration guard, the
//! consultation notice); the index is then built over **exactly** the admitted documents' texts,
//! never over the record's and filtered afterwards: BM25's statistics would let a hidden
//! document move a ranking. Indexes are kept per node in an `IndexCache` bounded in bytes, under
//! a key naming the record, its document generation (so another node's deposit is seen on the
//! next search), the admitted documents and those whose text is extracted (so a text finished
//! after the last deposit is seen). Every search is one ledger entry, `document.fulltext`, with
//! the count returned and never the query.

use carnet_domain::{Actor, DocumentId, DocumentMeta, Ins, Operation};
use carnet_search::{IndexCache, RecordIndex, Snippet, Text};
use carnet_store::{DocumentStore, ExtractionStore};
use sha2::{Digest, Sha256};

use crate::audit::Event;
use crate::extraction::TEXT_KIND;
use crate::gate::Visible;
use crate::{Carnet, Result, ServiceError};

/// The ledger action of a search inside a record.
pub const FULLTEXT_ACTION: &str = "document.fulltext";
/// Longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Most hits on one page.
pub const MAX_PAGE: usize = 100;

/// What names an index: the record, its document generation, the admitted documents and those
/// of them whose text is extracted (hashes of the sorted ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexKey {
    ins: Ins,
    generation: i64,
    admitted: [u8; 32],
    texts: [u8; 32],
}

pub(crate) type SearchCache = IndexCache<IndexKey>;

/// Which hits to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub offset: usize,
    pub limit: usize,
}

impl Default for Paging {
    fn default() -> Self {
        Paging { offset: 0, limit: 20 }
    }
}

/// Why a query cannot be searched (the edge names its parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QueryProblem {
    #[error("is empty")]
    Empty,
    #[error("is longer than {MAX_QUERY_CHARS} characters")]
    TooLong,
    #[error("holds no word that can be searched (only stop words or punctuation)")]
    NoWords,
}

/// Checks a query before anything is read or recorded.
pub fn check_text_query(query: &str) -> std::result::Result<(), QueryProblem> {
    if query.trim().is_empty() {
        return Err(QueryProblem::Empty);
    }
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(QueryProblem::TooLong);
    }
    if carnet_search::terms(query).is_empty() {
        return Err(QueryProblem::NoWords);
    }
    Ok(())
}

/// A document that matched.
#[derive(Debug, Clone, PartialEq)]
pub struct TextHit {
    pub visible: Visible,
    /// BM25 in the caller's index.
    pub score: f32,
    /// `score` divided by the best score of the search (0..1].
    pub relevance: f32,
    pub snippet: Snippet,
}

/// A page of a search inside a record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TextSearch {
    /// Matching documents the filter kept, in all.
    pub total: usize,
    pub hits: Vec<TextHit>,
}

impl Carnet {
    /// The documents of `ins` this actor may see whose text holds every word of `query`, best
    /// first, among those `keep` accepts (the edge's filters), one page of them. A record the
    /// actor may not know of answers like one without a match. One ledger entry.
    pub async fn search_text(
        &self,
        actor: &Actor,
        ins: &Ins,
        query: &str,
        keep: &(dyn Fn(&DocumentMeta) -> bool + Sync),
        paging: Paging,
    ) -> Result<TextSearch> {
        check_text_query(query).map_err(|p| ServiceError::Invalid(format!("the search text {p}")))?;
        let documents = self.scoped(actor, Operation::SearchDocuments, Some(ins)).await?;
        let Some((_, gate, generation)) = self.record_and_gate(actor, ins, documents).await? else {
            self.record_event(actor, Event::deny(FULLTEXT_ACTION, Some(ins), None, "not_found")).await?;
            return Ok(TextSearch::default());
        };
        let standing = gate.record_decision();
        if standing.is_permit() {
            self.guard_opening(&gate).await?;
        }
        let visible: Vec<Visible> = self
            .db
            .find_documents_at(ins, generation)
            .await?
            .into_iter()
            .filter_map(|(meta, title)| gate.admit_with_title(meta, title))
            .collect();
        let found = if visible.is_empty() {
            TextSearch::default()
        } else {
            self.search_visible(ins, generation, &visible, query, keep, paging).await?
        };
        // Every match the caller may see and the filters keep, not only this page's: what the search
        // told them exists.
        let returned = Some(format!("returned:{}", found.total));
        self.record_event(actor, Event::decided(FULLTEXT_ACTION, Some(ins), returned, standing)).await?;
        if standing.is_permit() {
            self.note_consultation(&gate).await?;
        }
        Ok(found)
    }

    async fn search_visible(
        &self,
        ins: &Ins,
        generation: i64,
        visible: &[Visible],
        query: &str,
        keep: &(dyn Fn(&DocumentMeta) -> bool + Sync),
        paging: Paging,
    ) -> Result<TextSearch> {
        let mut admitted: Vec<DocumentId> = visible.iter().map(|v| v.meta().id).collect();
        admitted.sort();
        let done: std::collections::HashSet<DocumentId> = self.db.texts_done_of(ins).await?.into_iter().collect();
        let with_text: Vec<DocumentId> = admitted.iter().copied().filter(|id| done.contains(id)).collect();
        let key = IndexKey { ins: ins.clone(), generation, admitted: hash_ids(&admitted), texts: hash_ids(&with_text) };
        let index = match self.search_cache.get(&key) {
            Some(index) => index,
            None => {
                let mut texts: Vec<(String, String)> = Vec::with_capacity(with_text.len());
                for v in visible.iter().filter(|v| done.contains(&v.meta().id)) {
                    if let Some(bytes) = self.derived(v, TEXT_KIND).await? {
                        let text = String::from_utf8(bytes)
                            .map_err(|_| ServiceError::Crypto(carnet_crypto::CryptoError::Integrity("extracted text")))?;
                        texts.push((v.meta().id.to_string(), text));
                    }
                }
                // By id: equal scores then rank the same whatever order the store listed them in.
                texts.sort();
                // Building takes a core for a while (tantivy's writer): off the async threads.
                let built = tokio::task::spawn_blocking(move || RecordIndex::build(texts.iter().map(|(id, text)| Text { id, text })))
                    .await
                    .map_err(|e| ServiceError::Search(e.to_string()))?
                    .map_err(search_failed)?;
                // Indexes of the record's earlier generations can no longer be asked for: out now
                // rather than when the budget pushes them.
                self.search_cache.forget(|k| k.ins == key.ins && k.generation != key.generation);
                self.search_cache.insert(key, built)
            }
        };
        let by_id: std::collections::HashMap<String, &Visible> = visible.iter().map(|v| (v.meta().id.to_string(), v)).collect();
        let limit = paging.limit.min(MAX_PAGE);
        let page =
            index.search_page(query, paging.offset, limit, |id| by_id.get(id).is_some_and(|v| keep(v.meta()))).map_err(search_failed)?;
        let hits = page
            .hits
            .into_iter()
            .filter_map(|hit| {
                let visible = (*by_id.get(&hit.id)?).clone();
                let relevance = if page.best > 0.0 { (hit.score / page.best).clamp(0.0, 1.0) } else { 0.0 };
                Some(TextHit { visible, score: hit.score, relevance, snippet: hit.snippet })
            })
            .collect();
        Ok(TextSearch { total: page.total, hits })
    }

    /// Drops this node's indexes of a record (crypto-shredding).
    pub(crate) fn forget_indexes(&self, ins: &Ins) {
        self.search_cache.forget(|k| k.ins == *ins);
    }

    /// Indexes kept on this node: how many, and their estimated bytes (the metrics, the tests).
    pub fn search_cache_usage(&self) -> (usize, usize) {
        (self.search_cache.len(), self.search_cache.bytes())
    }
}

fn hash_ids(ids: &[DocumentId]) -> [u8; 32] {
    let mut h = Sha256::new();
    for id in ids {
        h.update(id.as_bytes());
    }
    h.finalize().into()
}

fn search_failed(e: carnet_search::SearchError) -> ServiceError {
    // tantivy's errors are about its RAM directory, not the caller's input.
    ServiceError::Search(e.to_string())
}
