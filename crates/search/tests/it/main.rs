//! The record's full-text search: French analysis, conjunction and ranking, snippets, the cache's
//! bound, and hostile queries.

use carnet_search::{IndexCache, MAX_QUERY_TERMS, RecordIndex, Text, terms};
use proptest::prelude::*;

fn index(texts: &[(&str, &str)]) -> RecordIndex {
    RecordIndex::build(texts.iter().map(|(id, text)| Text { id, text })).expect("an index")
}

fn ids(index: &RecordIndex, query: &str) -> Vec<String> {
    index.search(query, 50).expect("a search").into_iter().map(|h| h.id).collect()
}

const LETTERS: &[(&str, &str)] = &[
    ("bio", "Compte rendu de biologie. Créatinine : 92 µmol/L (normale 45-90). Urée 6,1 mmol/L. Kaliémie normale."),
    ("allergo", "Consultation d'allergologie. Allergie à la pénicilline confirmée par test cutané ; éviction des bêta-lactamines."),
    ("cardio", "Échographie cardiaque : fraction d'éjection conservée. Pas d'allergie connue."),
    ("ordo", "Ordonnance : amoxicilline 1 g trois fois par jour pendant 7 jours."),
];

#[test]
fn words_are_found_whatever_their_accents_case_and_inflection() {
    let idx = index(LETTERS);
    assert_eq!(ids(&idx, "creatinine"), ["bio"], "no accent typed");
    assert_eq!(ids(&idx, "CRÉATININE"), ["bio"], "capitals");
    assert_eq!(ids(&idx, "allergique"), ids(&idx, "allergie"), "one stem");
    assert_eq!(ids(&idx, "allergies").len(), 2, "the plural too");
    assert_eq!(ids(&idx, "echographies cardiaques"), ["cardio"]);
    assert!(ids(&idx, "scanner").is_empty());
    // An inflected word typed without its accents meets the accented one (and the other way).
    let inflected = index(&[("bio", "Créatinine élevée, kaliémie élevée."), ("autre", "Bilan normal.")]);
    assert_eq!(ids(&inflected, "creatinine elevee"), ["bio"]);
    assert_eq!(ids(&inflected, "élevées"), ["bio"]);
    assert_eq!(ids(&inflected, "kaliemie elevee"), ["bio"]);
}

#[test]
fn every_word_of_the_query_must_be_there_and_the_best_comes_first() {
    let idx = index(LETTERS);
    assert_eq!(ids(&idx, "allergie pénicilline"), ["allergo"], "the cardiology letter has only one of the two");
    let ranked = index(&[
        ("once", "Une ligne sur l'allergie, puis un long compte rendu qui parle de tout autre chose pendant des lignes et des lignes."),
        ("often", "Allergie. Allergie sévère. Bilan d'allergie."),
    ]);
    let hits = ranked.search("allergie", 10).expect("search");
    assert_eq!(hits.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), ["often", "once"]);
    assert!(hits[0].score > hits[1].score);
    assert_eq!(ranked.search("allergie", 1).expect("search").len(), 1, "the limit holds");
}

#[test]
fn a_snippet_shows_the_passage_with_the_matched_words_marked() {
    let idx = index(LETTERS);
    let hits = idx.search("pénicilline", 10).expect("search");
    let snippet = &hits[0].snippet;
    assert!(snippet.text.contains("pénicilline"), "{snippet:?}");
    assert_eq!(snippet.highlights.len(), 1);
    assert_eq!(&snippet.text[snippet.highlights[0].clone()], "pénicilline");
}

#[test]
fn stop_words_punctuation_and_query_syntax_are_only_words() {
    let idx = index(LETTERS);
    assert!(terms("de la et les").is_empty(), "stop words only");
    assert!(idx.search("de la", 10).expect("search").is_empty());
    assert!(idx.search("", 10).expect("search").is_empty());
    assert_eq!(ids(&idx, "créatinine* (urée"), ["bio"], "no query language: the words créatinine and urée");
    assert!(ids(&idx, "body:créatinine").is_empty(), "no field can be named: \"body\" is a word the letter does not hold");
    assert!(ids(&idx, "id:bio").is_empty());
    let long = "allergie ".repeat(10_000) + &(0..100).map(|i| format!("mot{i} ")).collect::<String>();
    assert!(terms(&long).len() <= MAX_QUERY_TERMS);
    assert!(idx.search(&long, 10).is_ok());
    let token = "a".repeat(200);
    assert!(terms(&token).is_empty(), "an overlong token is not a word");
}

#[test]
fn an_index_of_nothing_or_of_empty_texts_answers_nothing() {
    let empty = index(&[]);
    assert!(empty.search("allergie", 10).expect("search").is_empty());
    let blank = index(&[("a", ""), ("b", "   ")]);
    assert_eq!(blank.documents(), 2);
    assert!(blank.search("allergie", 10).expect("search").is_empty());
}

#[test]
fn the_cache_finds_what_it_kept_and_holds_its_budget() {
    let one = index(LETTERS);
    let budget = one.bytes() * 2 + one.bytes() / 2;
    let cache: IndexCache<(u32, u64)> = IndexCache::new(budget);
    let mut builds = 0;
    for key in [(1, 1), (1, 1), (2, 1), (1, 1)] {
        cache
            .get_or_build(&key, || {
                builds += 1;
                Ok(index(LETTERS))
            })
            .expect("index");
    }
    assert_eq!(builds, 2, "a key found is not rebuilt");
    cache.get_or_build(&(3, 1), || Ok(index(LETTERS))).expect("index");
    assert_eq!(cache.len(), 2, "the least recently used went out");
    assert!(cache.bytes() <= budget);
    let mut rebuilt = false;
    cache
        .get_or_build(&(2, 1), || {
            rebuilt = true;
            Ok(index(LETTERS))
        })
        .expect("index");
    assert!(rebuilt, "(2, 1) was the least recently used");
    cache.forget(|(record, _)| *record == 2);
    assert_eq!(cache.len(), 1);
    let tiny: IndexCache<u8> = IndexCache::new(10);
    tiny.get_or_build(&1, || Ok(index(LETTERS))).expect("index");
    assert!(tiny.is_empty(), "an index over the budget is used, not kept");
}

const VOCABULARY: &[&str] = &[
    "allergie",
    "allergique",
    "pénicilline",
    "créatinine",
    "Créatinine",
    "rein",
    "reins",
    "cœur",
    "échographie",
    "fièvre",
    "fébrile",
    "douleur",
    "douleurs",
    "thoracique",
    "vaccin",
    "vaccination",
    "grippe",
    "de",
    "la",
    "et",
];

proptest! {
    /// Exactly the texts holding every term of the query are hits: no more (nothing matches
    /// what it does not hold), no fewer.
    #[test]
    fn hits_are_exactly_the_texts_holding_every_query_term(
        docs in prop::collection::vec(prop::collection::vec(0..VOCABULARY.len(), 0..12), 0..12),
        query in prop::collection::vec(0..VOCABULARY.len(), 1..3),
    ) {
        let texts: Vec<(String, String)> = docs
            .iter()
            .enumerate()
            .map(|(i, words)| (format!("d{i}"), words.iter().map(|w| VOCABULARY[*w]).collect::<Vec<_>>().join(" ")))
            .collect();
        let idx = RecordIndex::build(texts.iter().map(|(id, text)| Text { id, text })).expect("index");
        let query = query.iter().map(|w| VOCABULARY[*w]).collect::<Vec<_>>().join(" ");
        let wanted = terms(&query);
        let mut expected: Vec<String> = texts
            .iter()
            .filter(|(_, text)| !wanted.is_empty() && wanted.iter().all(|t| terms(text).contains(t)))
            .map(|(id, _)| id.clone())
            .collect();
        let mut found: Vec<String> = idx.search(&query, 100).expect("search").into_iter().map(|h| h.id).collect();
        expected.sort();
        found.sort();
        prop_assert_eq!(found, expected);
    }
}
