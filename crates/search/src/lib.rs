//! Full-text search inside one record, in French, over exactly the texts a caller may see.
//!
//! An index is built in memory from texts the caller hands over (a record's documents already
//! admitted by the access policy), searched, and dropped or kept in an [`IndexCache`] bounded in
//! bytes. Nothing is ever written to disk: no term, posting or stored text outlives the process,
//! so the sealed texts stay the only copy at rest and crypto-shredding a record leaves nothing to
//! search. Because an index holds only what one caller may see, a hidden document cannot add a
//! hit, a count, a snippet — nor change a ranking, since BM25's statistics (document frequencies,
//! mean length) are computed over the admitted texts alone.
//!
//! Analysis, the same for texts and queries: words split on non-alphanumerics, lower-cased,
//! French stop words dropped, accents folded, then the French Snowball stemmer — so "allergique"
//! finds "allergie", "creatinine" finds "Créatinine" and "elevee" finds "élevée". Folding comes
//! before stemming so that a word typed with or without its accents reaches the same stem: the
//! stemmer strips "ée" and "ee" differently, and people type both.
//!
//! A query is never parsed as a query language: its words go through the analysis above and every
//! resulting term must occur (a conjunction, ranked by BM25), so no input can be a syntax error,
//! a field name or a wildcard.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{FAST, Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{Index, IndexReader, TantivyDocument, Term, doc};

/// The analyzer's name in an index's tokenizer manager.
const FRENCH: &str = "carnet_fr";
/// Longer tokens (base64, hashes) are not words anyone searches for.
const MAX_TOKEN_BYTES: usize = 40;
/// At most this many terms of a query are searched (the rest are ignored).
pub const MAX_QUERY_TERMS: usize = 16;
/// A snippet's length, in characters.
const SNIPPET_CHARS: usize = 240;
/// The indexing arena tantivy asks for at least; it is allocated as used.
const WRITER_BUDGET: usize = 15_000_000;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("the search index: {0}")]
    Index(#[from] tantivy::TantivyError),
}

pub type Result<T> = std::result::Result<T, SearchError>;

/// A document's text, as the index receives it.
#[derive(Debug, Clone, Copy)]
pub struct Text<'a> {
    pub id: &'a str,
    pub text: &'a str,
}

/// A document that matched: its id, its BM25 score in this index, and the passage that matched.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: String,
    pub score: f32,
    pub snippet: Snippet,
}

/// A page of hits and how many there are in all.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    /// Every matching document `keep` accepted.
    pub total: usize,
    /// The best score among them (0 when none): what scores are normalised by.
    pub best: f32,
    pub hits: Vec<Hit>,
}

/// A passage of a document's text, with the byte ranges of the words that matched.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snippet {
    pub text: String,
    pub highlights: Vec<Range<usize>>,
}

fn french() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(StopWordFilter::new(Language::French).unwrap_or_else(|| StopWordFilter::remove(Vec::new())))
        .filter(AsciiFoldingFilter)
        .filter(Stemmer::new(Language::French))
        .build()
}

/// The terms `query` is searched for, analyzed as texts are (at most [`MAX_QUERY_TERMS`],
/// without repeats). Empty when the query holds only stop words or punctuation.
pub fn terms(query: &str) -> Vec<String> {
    let mut analyzer = french();
    let mut stream = analyzer.token_stream(query);
    let mut out: Vec<String> = Vec::new();
    while stream.advance() {
        let t = &stream.token().text;
        if !out.contains(t) {
            out.push(t.clone());
        }
        if out.len() == MAX_QUERY_TERMS {
            break;
        }
    }
    out
}

/// An index over some texts of one record, held in memory.
pub struct RecordIndex {
    /// Kept alive with its reader.
    _index: Index,
    reader: IndexReader,
    id: Field,
    body: Field,
    /// Each document's id by its insertion number (the `ord` fast field): a hit's id without
    /// reading its stored document.
    ids: Vec<String>,
    documents: usize,
    bytes: usize,
}

impl std::fmt::Debug for RecordIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordIndex").field("documents", &self.documents).field("bytes", &self.bytes).finish()
    }
}

impl RecordIndex {
    /// Indexes `texts` (ids unique) in memory.
    pub fn build<'a>(texts: impl IntoIterator<Item = Text<'a>>) -> Result<RecordIndex> {
        let mut schema = Schema::builder();
        let id = schema.add_text_field("id", STRING | STORED);
        let ord = schema.add_u64_field("ord", FAST);
        let indexing = TextFieldIndexing::default().set_tokenizer(FRENCH).set_index_option(IndexRecordOption::WithFreqsAndPositions);
        let body = schema.add_text_field("body", TextOptions::default().set_indexing_options(indexing).set_stored());
        let index = Index::create_in_ram(schema.build());
        index.tokenizers().register(FRENCH, french());
        let mut writer = index.writer_with_num_threads::<TantivyDocument>(1, WRITER_BUDGET)?;
        let (mut documents, mut text_bytes) = (0, 0);
        let mut ids = Vec::new();
        for t in texts {
            writer.add_document(doc!(id => t.id, body => t.text, ord => ids.len() as u64))?;
            ids.push(t.id.to_owned());
            documents += 1;
            text_bytes += t.text.len() + t.id.len();
        }
        writer.commit()?;
        drop(writer);
        let reader = index.reader()?;
        let searcher = reader.searcher();
        // What the segments hold (postings, positions, stored texts), plus the texts themselves
        // once more for the readers' caches: an estimate for the cache's budget, never under.
        let bytes = searcher.space_usage().map(|u| u.total().get_bytes() as usize).unwrap_or(0).max(text_bytes) + text_bytes;
        Ok(RecordIndex { _index: index, reader, id, body, ids, documents, bytes })
    }

    pub fn documents(&self) -> usize {
        self.documents
    }

    /// An estimate of the memory the index holds.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The documents holding every term of `query`, best first (BM25), at most `limit`, each
    /// with the passage that matched best.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Hit>> {
        let Some(query) = self.query(query) else { return Ok(Vec::new()) };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(limit).order_by_score())?;
        let mut snippets = SnippetGenerator::create(&searcher, &query, self.body)?;
        snippets.set_max_num_chars(SNIPPET_CHARS);
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            let id = doc.get_first(self.id).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            let s = snippets.snippet_from_doc(&doc);
            hits.push(Hit { id, score, snippet: Snippet { text: s.fragment().to_owned(), highlights: s.highlighted().to_vec() } });
        }
        Ok(hits)
    }

    /// The documents holding every term of `query` that `keep` accepts (by id), best first:
    /// how many there are, and the `limit` after the first `offset`, each with its passage (the
    /// passages of the others are not computed). The same order and scores as [`Self::search`].
    pub fn search_page(&self, query: &str, offset: usize, limit: usize, keep: impl Fn(&str) -> bool) -> Result<Page> {
        let Some(query) = self.query(query) else { return Ok(Page::default()) };
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(self.documents.max(1)).order_by_score())?;
        // Ids from the fast field: filtering every hit reads no stored document.
        let columns = searcher
            .segment_readers()
            .iter()
            .map(|segment| segment.fast_fields().u64("ord"))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut kept = Vec::new();
        for (score, address) in top {
            let ord = columns.get(address.segment_ord as usize).and_then(|c| c.first(address.doc_id));
            let Some(id) = ord.and_then(|o| self.ids.get(o as usize)) else { continue };
            if keep(id) {
                kept.push((score, id, address));
            }
        }
        let total = kept.len();
        let best = kept.first().map_or(0.0, |(score, _, _)| *score);
        let mut snippets = SnippetGenerator::create(&searcher, &query, self.body)?;
        snippets.set_max_num_chars(SNIPPET_CHARS);
        let mut hits = Vec::new();
        for (score, id, address) in kept.into_iter().skip(offset).take(limit) {
            let doc: TantivyDocument = searcher.doc(address)?;
            let s = snippets.snippet_from_doc(&doc);
            hits.push(Hit {
                id: id.clone(),
                score,
                snippet: Snippet { text: s.fragment().to_owned(), highlights: s.highlighted().to_vec() },
            });
        }
        Ok(Page { total, best, hits })
    }

    /// Every analysed term of `query` must occur; `None` when it has none.
    fn query(&self, query: &str) -> Option<BooleanQuery> {
        let terms = terms(query);
        if terms.is_empty() {
            return None;
        }
        let clauses: Vec<(Occur, Box<dyn Query>)> = terms
            .iter()
            .map(|t| {
                let q: Box<dyn Query> =
                    Box::new(TermQuery::new(Term::from_field_text(self.body, t), IndexRecordOption::WithFreqsAndPositions));
                (Occur::Must, q)
            })
            .collect();
        Some(BooleanQuery::new(clauses))
    }

    /// How many documents hold every term of `query`.
    pub fn count(&self, query: &str) -> Result<usize> {
        Ok(self.search(query, self.documents.max(1))?.len())
    }
}

/// Indexes kept between searches, bounded by their estimated bytes (least recently used out
/// first). The caller's key must name everything the index was built from (the record, the
/// texts' generation, the set of documents the caller may see), so that a stale or another
/// caller's index is never found.
pub struct IndexCache<K> {
    budget: usize,
    entries: Mutex<VecDeque<(K, Arc<RecordIndex>)>>,
}

impl<K: PartialEq + Clone> IndexCache<K> {
    pub fn new(budget_bytes: usize) -> IndexCache<K> {
        IndexCache { budget: budget_bytes, entries: Mutex::new(VecDeque::new()) }
    }

    /// The index under `key`, or the one `build` makes (kept if it fits the budget).
    pub fn get_or_build(&self, key: &K, build: impl FnOnce() -> Result<RecordIndex>) -> Result<Arc<RecordIndex>> {
        if let Some(index) = self.get(key) {
            return Ok(index);
        }
        Ok(self.insert(key.clone(), build()?))
    }

    /// The index under `key`, if kept (then it becomes the most recently used).
    pub fn get(&self, key: &K) -> Option<Arc<RecordIndex>> {
        let mut entries = self.entries.lock().ok()?;
        let at = entries.iter().position(|(k, _)| k == key)?;
        let found = entries.remove(at)?;
        let index = found.1.clone();
        entries.push_front(found);
        Some(index)
    }

    /// Keeps `index` under `key` if it fits the budget (the least recently used go first), and
    /// hands it back: for callers that build asynchronously (see [`Self::get_or_build`]).
    pub fn insert(&self, key: K, index: RecordIndex) -> Arc<RecordIndex> {
        let index = Arc::new(index);
        if index.bytes() <= self.budget
            && let Ok(mut entries) = self.entries.lock()
        {
            entries.retain(|(k, _)| *k != key);
            entries.push_front((key, index.clone()));
            let mut total: usize = entries.iter().map(|(_, i)| i.bytes()).sum();
            while total > self.budget {
                match entries.pop_back() {
                    Some((_, gone)) => total -= gone.bytes(),
                    None => break,
                }
            }
        }
        index
    }

    /// Drops every index whose key `stale` names (a record shredded, its texts changed).
    pub fn forget(&self, stale: impl Fn(&K) -> bool) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|(k, _)| !stale(k));
        }
    }

    /// The bytes the kept indexes hold (estimated).
    pub fn bytes(&self) -> usize {
        self.entries.lock().map(|e| e.iter().map(|(_, i)| i.bytes()).sum()).unwrap_or(0)
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
