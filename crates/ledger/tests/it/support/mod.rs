//! The ledger suite, written once and run on SQLite (`tests/sqlite.rs`) and PostgreSQL
//! (`tests/postgres.rs`). Tampering goes straight to the tables with SQL, as an attacker with
//! write access to the database would.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;

use carnet_domain::{Clock, Ins};
use carnet_ledger::{
    Ed25519Signer, EntryActor, EntryQuery, GroupCommit, Ledger, LedgerConfig, LedgerEntry, LedgerError, LedgerStore, Outcome, VerifyReport,
    leaf_hash, node_hash, verify_consistency, verify_inclusion, verify_store, verify_tree_head,
};
use sqlx::{PgPool, SqlitePool};
use time::OffsetDateTime;

/// Declares one `#[tokio::test]` per suite case, on the backend `$scratch` opens.
#[macro_export]
macro_rules! ledger_suite {
    ($scratch:path) => {
        $crate::ledger_suite!($scratch;
            an_untouched_ledger_verifies_clean,
            appends_are_numbered_and_every_proof_verifies,
            concurrent_appends_are_group_committed,
            group_commit_off_signs_one_head_per_entry,
            entries_appended_together_land_in_order_under_one_head,
            entries_appended_together_fail_together,
            queries_refuse_what_is_beyond_the_tree,
            two_writers_share_one_store,
            find_entries_pages_oldest_first,
            a_failed_batch_fails_every_waiter_and_leaves_no_trace,
            reopening_resumes_from_the_stored_border,
            the_tables_refuse_updates_and_deletes,
            detects_a_changed_entry,
            detects_changed_indexed_columns_and_never_serves_them,
            detects_a_deleted_entry,
            detects_swapped_entries,
            detects_a_truncated_tail,
            detects_an_entry_inserted_in_the_middle,
            detects_an_entry_appended_at_the_end,
            detects_entries_and_nodes_rewritten_together,
            detects_a_forged_tree_head,
            detects_a_wrong_public_key,
            a_consistent_rollback_needs_a_tree_head_kept_elsewhere,
            the_benchmark_helper_reports_figures,
        );
    };
    ($scratch:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                support::$case($scratch().await).await;
            }
        )*
    };
}

pub const SEED: [u8; 32] = [7; 32];

pub fn signer() -> Arc<Ed25519Signer> {
    Arc::new(Ed25519Signer::from_seed(SEED))
}

pub fn public_key() -> [u8; 32] {
    use carnet_ledger::TreeHeadSigner;
    Ed25519Signer::from_seed(SEED).public_key()
}

struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap()
    }
}

pub fn config(group_commit: GroupCommit) -> LedgerConfig {
    LedgerConfig { group_commit, clock: Arc::new(FixedClock), ..LedgerConfig::default() }
}

/// A fresh, empty ledger store and a raw connection to its tables.
pub struct Scratch {
    pub url: String,
    pub raw: Raw,
    _dir: Option<tempfile::TempDir>,
}

pub async fn sqlite() -> Scratch {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
    let store = LedgerStore::open(&url).await.unwrap();
    store.close().await;
    let raw = Raw::Sqlite(SqlitePool::connect(&url).await.unwrap());
    Scratch { url, raw, _dir: Some(dir) }
}

/// The admin URL of the throwaway cluster; fails loudly without it.
pub fn postgres_admin_url() -> String {
    std::env::var("CARNET_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| panic!("CARNET_TEST_POSTGRES_URL is not set: run the suite with scripts/test (it starts PostgreSQL)"))
}

/// A new database `carnet_l_<uuid>` on the test cluster; returns its URL.
pub async fn scratch_postgres_database() -> String {
    use sqlx::Connection;
    let admin_url = postgres_admin_url();
    let name = format!("carnet_l_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
    admin.close().await.unwrap();
    let (without_query, query) = match admin_url.split_once('?') {
        Some((u, q)) => (u, format!("?{q}")),
        None => (admin_url.as_str(), String::new()),
    };
    let (base, _) = without_query.rsplit_once('/').expect("a database name in CARNET_TEST_POSTGRES_URL");
    format!("{base}/{name}{query}")
}

pub async fn postgres() -> Scratch {
    let url = scratch_postgres_database().await;
    let store = LedgerStore::open(&url).await.unwrap();
    store.close().await;
    Scratch { raw: Raw::postgres(&url).await, url, _dir: None }
}

/// Direct access to the ledger's tables (on PostgreSQL with `search_path = ledger`).
pub enum Raw {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

macro_rules! on_raw {
    ($raw:expr, |$pool:ident| $body:expr) => {
        match $raw {
            Raw::Sqlite($pool) => $body,
            Raw::Postgres($pool) => $body,
        }
    };
}

impl Raw {
    pub async fn postgres(url: &str) -> Raw {
        use std::str::FromStr;
        let options = sqlx::postgres::PgConnectOptions::from_str(url).unwrap().options([("search_path", "ledger")]);
        Raw::Postgres(PgPool::connect_with(options).await.unwrap())
    }

    pub async fn exec(&self, sql: &str) {
        on_raw!(self, |p| sqlx::raw_sql(sql).execute(p).await.map(|_| ())).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    pub async fn try_exec(&self, sql: &str) -> Result<(), sqlx::Error> {
        on_raw!(self, |p| sqlx::raw_sql(sql).execute(p).await.map(|_| ()))
    }

    /// What an attacker does first: remove the append-only triggers.
    pub async fn drop_guards(&self) {
        match self {
            Raw::Sqlite(_) => {
                self.exec(
                    "DROP TRIGGER entries_no_update; DROP TRIGGER entries_no_delete; \
                     DROP TRIGGER nodes_no_update; DROP TRIGGER nodes_no_delete; \
                     DROP TRIGGER tree_heads_no_update; DROP TRIGGER tree_heads_no_delete;",
                )
                .await
            }
            Raw::Postgres(_) => {
                self.exec(
                    "DROP TRIGGER entries_append_only ON entries; DROP TRIGGER nodes_append_only ON nodes; \
                     DROP TRIGGER tree_heads_append_only ON tree_heads;",
                )
                .await
            }
        }
    }

    /// Makes every insert into `entries` fail (`false` removes that again).
    pub async fn break_inserts(&self, broken: bool) {
        let sql = match (self, broken) {
            (Raw::Sqlite(_), true) => "CREATE TRIGGER test_fail BEFORE INSERT ON entries BEGIN SELECT RAISE(ABORT, 'forced failure'); END;",
            (Raw::Sqlite(_), false) => "DROP TRIGGER test_fail;",
            (Raw::Postgres(_), true) => {
                "CREATE FUNCTION test_fail() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN RAISE EXCEPTION 'forced failure'; END $$; \
                 CREATE TRIGGER test_fail BEFORE INSERT ON entries FOR EACH STATEMENT EXECUTE FUNCTION test_fail();"
            }
            (Raw::Postgres(_), false) => "DROP TRIGGER test_fail ON entries; DROP FUNCTION test_fail();",
        };
        self.exec(sql).await;
    }

    pub async fn entry_bytes(&self, idx: i64) -> Vec<u8> {
        on_raw!(self, |p| sqlx::query_scalar("SELECT entry FROM entries WHERE idx = $1").bind(idx).fetch_one(p).await).unwrap()
    }

    pub async fn set_entry_bytes(&self, idx: i64, bytes: &[u8]) {
        on_raw!(self, |p| sqlx::query("UPDATE entries SET entry = $1 WHERE idx = $2").bind(bytes).bind(idx).execute(p).await.map(|_| ()))
            .unwrap();
    }

    /// Inserts an entry as a careful insider would: its indexed columns say what its bytes say.
    pub async fn insert_entry(&self, idx: i64, bytes: &[u8]) {
        let entry = LedgerEntry::from_canonical_bytes(bytes).unwrap();
        let ins = entry.ins.as_ref().map(|i| i.as_str().to_owned());
        on_raw!(self, |p| sqlx::query(
            "INSERT INTO entries (idx, at, ins, actor_ref, action, outcome, entry) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(idx)
        .bind(entry.at)
        .bind(ins.clone())
        .bind(entry.actor.reference.clone())
        .bind(entry.action.clone())
        .bind(entry.outcome.as_str())
        .bind(bytes)
        .execute(p)
        .await
        .map(|_| ()))
        .unwrap();
    }

    pub async fn node(&self, level: i64, idx: i64) -> Option<Vec<u8>> {
        on_raw!(self, |p| sqlx::query_scalar("SELECT hash FROM nodes WHERE level = $1 AND idx = $2")
            .bind(level)
            .bind(idx)
            .fetch_optional(p)
            .await)
        .unwrap()
    }

    pub async fn put_node(&self, level: i64, idx: i64, hash: &[u8]) {
        on_raw!(self, |p| sqlx::query("DELETE FROM nodes WHERE level = $1 AND idx = $2")
            .bind(level)
            .bind(idx)
            .execute(p)
            .await
            .map(|_| ()))
        .unwrap();
        on_raw!(self, |p| sqlx::query("INSERT INTO nodes (level, idx, hash) VALUES ($1, $2, $3)")
            .bind(level)
            .bind(idx)
            .bind(hash)
            .execute(p)
            .await
            .map(|_| ()))
        .unwrap();
    }

    pub async fn head_sizes(&self) -> Vec<u64> {
        let sizes: Vec<i64> =
            on_raw!(self, |p| sqlx::query_scalar("SELECT tree_size FROM tree_heads ORDER BY tree_size").fetch_all(p).await).unwrap();
        sizes.into_iter().map(|s| s as u64).collect()
    }
}

pub fn ins(n: usize) -> Ins {
    Ins::from_body(&format!("18412764510{:02}", n % 100)).unwrap()
}

/// A typical entry: professional `n % 3` reads a document of patient `n % 4`.
pub fn entry(n: usize) -> LedgerEntry {
    LedgerEntry {
        at: 1_767_225_600_000 + (n as i64) * 1000,
        actor: EntryActor {
            reference: format!("rpps:1000345678{}", n % 3),
            role: "professional".into(),
            name: Some(format!("Dr {n}")),
            profession: Some("10".into()),
            organisation: None,
            app: None,
        },
        ins: Some(ins(n % 4)),
        action: "document.read".into(),
        target: Some(format!("doc-{n}")),
        outcome: if n.is_multiple_of(5) { Outcome::Deny } else { Outcome::Permit },
        reason: if n.is_multiple_of(5) { "policy.no_authorization".into() } else { "policy.authorized".into() },
        justification: None,
        justification_commitment: None,
    }
}

pub async fn open(scratch: &Scratch, group_commit: GroupCommit) -> Ledger {
    Ledger::open(&scratch.url, signer(), config(group_commit)).await.unwrap()
}

/// Appends `rounds[i]` entries concurrently per round: several group commits of varied sizes.
pub async fn append_rounds(ledger: &Ledger, first: usize, rounds: &[usize]) -> Vec<u64> {
    let mut indices = Vec::new();
    let mut n = first;
    for &count in rounds {
        let mut tasks = tokio::task::JoinSet::new();
        for k in n..n + count {
            let ledger = ledger.clone();
            tasks.spawn(async move { ledger.append(&entry(k)).await.unwrap().index });
        }
        while let Some(index) = tasks.join_next().await {
            indices.push(index.unwrap());
        }
        n += count;
    }
    indices.sort_unstable();
    indices
}

/// The standard ledger of the mutation tests: 100 entries over several batches.
pub async fn hundred(scratch: &Scratch) -> Ledger {
    let ledger = open(scratch, GroupCommit::default()).await;
    let indices = append_rounds(&ledger, 0, &[1, 9, 15, 20, 25, 30]).await;
    assert_eq!(indices, (0..100).collect::<Vec<u64>>());
    ledger
}

pub async fn verify(scratch: &Scratch) -> VerifyReport {
    let store = LedgerStore::open(&scratch.url).await.unwrap();
    let report = verify_store(&store, &[public_key()]).await.unwrap();
    store.close().await;
    report
}

fn assert_bad(report: &VerifyReport, index: u64, words: &str) {
    assert_eq!(report.first_bad_index, Some(index), "{report:?}");
    let problem = report.problem.as_deref().unwrap_or_default();
    assert!(problem.contains(words), "expected {words:?} in {problem:?}");
}

// ---------------------------------------------------------------------------------------------
// The cases.

pub async fn an_untouched_ledger_verifies_clean(s: Scratch) {
    let empty = verify(&s).await;
    assert_eq!(empty, VerifyReport::default(), "a store no ledger ever started");
    let ledger = hundred(&s).await;
    let report = verify(&s).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.entries, 100);
    let heads = s.raw.head_sizes().await;
    assert_eq!(report.tree_heads_checked, heads.len() as u64);
    assert_eq!(heads.first(), Some(&0), "the empty tree is signed at first start");
    assert_eq!(heads.last(), Some(&100));
    assert!(heads.len() >= 7, "several group commits: {heads:?}");
    drop(ledger);
}

pub async fn appends_are_numbered_and_every_proof_verifies(s: Scratch) {
    let ledger = hundred(&s).await;
    let key = ledger.public_key();
    let latest = ledger.latest_tree_head().await.unwrap();
    assert_eq!(latest.head.tree_size, 100);
    assert!(verify_tree_head(&latest, &key));

    let sizes = s.raw.head_sizes().await;
    let mut leaves = Vec::new();
    for i in 0..100u64 {
        let recorded = ledger.entry(i).await.unwrap();
        assert_eq!(recorded.entry, entry_at(&recorded));
        assert_eq!(recorded.bytes, recorded.entry.canonical_bytes().unwrap(), "stored bytes are the canonical ones");
        leaves.push(recorded.leaf_hash());
    }
    let mut heads = Vec::new();
    for &size in &sizes {
        let sth = ledger.tree_head_at(size).await.unwrap();
        assert!(verify_tree_head(&sth, &key));
        for index in 0..size {
            let proof = ledger.inclusion_proof(index, size).await.unwrap();
            assert!(proof.verify(&leaves[index as usize], &sth.head.root_hash), "inclusion {index} in {size}");
            assert!(!verify_inclusion(&leaves[(index as usize + 1) % 100], index, size, &proof.path, &sth.head.root_hash));
        }
        // Read together (a history page), newest first and with a repeat: the same proofs.
        let indices: Vec<u64> = (0..size).rev().chain((0..size).take(1)).collect();
        let together = ledger.inclusion_proofs(&indices, size).await.unwrap();
        assert_eq!(together.len(), indices.len());
        for (proof, &index) in together.iter().zip(&indices) {
            assert_eq!(proof, &ledger.inclusion_proof(index, size).await.unwrap());
        }
        heads.push(sth);
    }
    for old in &heads {
        for new in &heads {
            if old.head.tree_size <= new.head.tree_size {
                let proof = ledger.consistency_proof(old.head.tree_size, new.head.tree_size).await.unwrap();
                assert!(proof.verify(&old.head.root_hash, &new.head.root_hash), "{} → {}", old.head.tree_size, new.head.tree_size);
            }
        }
    }
    // Proofs for sizes without a head verify against the roots of later heads' subtrees too:
    // here, simply against an independent recomputation.
    let proof = ledger.consistency_proof(37, 100).await.unwrap();
    let root37 = mth(&leaves[..37]);
    assert!(verify_consistency(37, 100, &root37, &latest.head.root_hash, &proof.path));
}

/// The entry `entry(n)` that was appended as the recorded one (matched by its target).
fn entry_at(recorded: &carnet_ledger::RecordedEntry) -> LedgerEntry {
    let n: usize = recorded.entry.target.as_deref().unwrap().trim_start_matches("doc-").parse().unwrap();
    entry(n)
}

fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => carnet_ledger::empty_root(),
        1 => leaves[0],
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

pub async fn concurrent_appends_are_group_committed(s: Scratch) {
    let ledger = open(&s, GroupCommit::On { max_batch: 64 }).await;
    let indices = append_rounds(&ledger, 0, &[300]).await;
    assert_eq!(indices, (0..300).collect::<Vec<u64>>(), "every append got its own index");
    let heads = s.raw.head_sizes().await;
    assert!(heads.len() < 300, "300 concurrent appends were committed in {} batches", heads.len() - 1);
    assert!(heads.windows(2).all(|w| w[1] - w[0] <= 64), "no batch above max_batch: {heads:?}");
    assert!(verify(&s).await.is_clean());
}

pub async fn group_commit_off_signs_one_head_per_entry(s: Scratch) {
    let ledger = open(&s, GroupCommit::Off).await;
    let indices = append_rounds(&ledger, 0, &[20]).await;
    assert_eq!(indices, (0..20).collect::<Vec<u64>>());
    assert_eq!(s.raw.head_sizes().await, (0..=20).collect::<Vec<u64>>());
    assert!(verify(&s).await.is_clean());
}

pub async fn entries_appended_together_land_in_order_under_one_head(s: Scratch) {
    // Group commit off, so that only a joint append puts two entries under one head.
    let ledger = open(&s, GroupCommit::Off).await;
    append_rounds(&ledger, 0, &[3]).await;
    let mut tasks = tokio::task::JoinSet::new();
    for k in 3..13 {
        let ledger = ledger.clone();
        tasks.spawn(async move { ledger.append(&entry(k)).await.unwrap() });
    }
    let together: Vec<LedgerEntry> = (100..104).map(entry).collect();
    let receipt = ledger.append_all(&together).await.unwrap();
    while let Some(single) = tasks.join_next().await {
        let single = single.unwrap();
        assert!(single.index < receipt.index || single.index >= receipt.index + 4, "{single:?} fell among {receipt:?}");
    }
    assert_eq!(receipt.tree_size, receipt.index + 4, "the first signed head covering them covers no later entry");
    let heads = s.raw.head_sizes().await;
    assert!(heads.contains(&receipt.tree_size) && !heads.iter().any(|&h| h > receipt.index && h < receipt.tree_size), "{heads:?}");
    let stored = ledger.entries_at(&(receipt.index..receipt.tree_size).collect::<Vec<_>>()).await.unwrap();
    let expected: Vec<Vec<u8>> = together.iter().map(|e| e.canonical_bytes().unwrap()).collect();
    assert_eq!(stored.iter().map(|e| e.bytes.clone()).collect::<Vec<_>>(), expected, "in the order given");
    assert!(matches!(ledger.append_all(&[]).await, Err(LedgerError::InvalidEntry { .. })));
    assert!(verify(&s).await.is_clean());
}

pub async fn entries_appended_together_fail_together(s: Scratch) {
    let ledger = open(&s, GroupCommit::default()).await;
    append_rounds(&ledger, 0, &[2]).await;
    s.raw.break_inserts(true).await;
    let together: Vec<LedgerEntry> = (2..5).map(entry).collect();
    assert!(matches!(ledger.append_all(&together).await, Err(LedgerError::AppendFailed(_))));
    s.raw.break_inserts(false).await;
    let receipt = ledger.append(&entry(5)).await.unwrap();
    assert_eq!((receipt.index, receipt.tree_size), (2, 3), "none of the three was kept");
    assert!(verify(&s).await.is_clean());
}

pub async fn queries_refuse_what_is_beyond_the_tree(s: Scratch) {
    let ledger = hundred(&s).await;
    let beyond = |r: Result<(), LedgerError>, what: &str, requested: u64, size: u64| match r {
        Err(LedgerError::BeyondTree { what: w, requested: q, size: z }) => {
            assert_eq!((w, q, z), (what, requested, size));
        }
        other => panic!("expected BeyondTree, got {other:?}"),
    };
    beyond(ledger.inclusion_proof(100, 100).await.map(|_| ()), "leaf index", 100, 100);
    beyond(ledger.inclusion_proof(7, 7).await.map(|_| ()), "leaf index", 7, 7);
    beyond(ledger.inclusion_proof(0, 101).await.map(|_| ()), "tree size", 101, 100);
    beyond(ledger.consistency_proof(2, 101).await.map(|_| ()), "tree size", 101, 100);
    beyond(ledger.tree_head_at(101).await.map(|_| ()), "tree size", 101, 100);
    beyond(ledger.entry(100).await.map(|_| ()), "leaf index", 100, 100);
    beyond(ledger.entry(u64::MAX).await.map(|_| ()), "leaf index", u64::MAX, 100);
    beyond(ledger.inclusion_proof(u64::MAX - 1, u64::MAX).await.map(|_| ()), "tree size", u64::MAX, 100);
    beyond(ledger.inclusion_proofs(&[3, 100], 100).await.map(|_| ()), "leaf index", 100, 100);
    beyond(ledger.inclusion_proofs(&[3], 101).await.map(|_| ()), "tree size", 101, 100);
    assert!(ledger.inclusion_proofs(&[], 100).await.unwrap().is_empty());
    assert!(matches!(ledger.consistency_proof(4, 3).await, Err(LedgerError::InvalidRange { old: 4, new: 3 })));
    assert!(ledger.consistency_proof(0, 0).await.unwrap().path.is_empty());
    assert!(ledger.consistency_proof(100, 100).await.unwrap().path.is_empty());
    // A head is signed where a batch ended, not at every size.
    let sizes = s.raw.head_sizes().await;
    let missing = (0..=100).find(|n| !sizes.contains(n)).unwrap();
    assert!(matches!(ledger.tree_head_at(missing).await, Err(LedgerError::UnknownTreeHead { size }) if size == missing));
    // Proofs work at any size up to the current one, signed or not.
    let proof = ledger.inclusion_proof(0, missing).await.unwrap();
    assert_eq!(proof.tree_size, missing);
}

pub async fn two_writers_share_one_store(s: Scratch) {
    // Two Carnet nodes on one database: each writer notices the other's commits and reloads.
    let a = open(&s, GroupCommit::default()).await;
    let b = open(&s, GroupCommit::default()).await;
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..60 {
        let ledger = if k % 2 == 0 { a.clone() } else { b.clone() };
        tasks.spawn(async move { ledger.append(&entry(k)).await.unwrap().index });
    }
    let mut indices = Vec::new();
    while let Some(index) = tasks.join_next().await {
        indices.push(index.unwrap());
    }
    indices.sort_unstable();
    assert_eq!(indices, (0..60).collect::<Vec<u64>>());
    let report = verify(&s).await;
    assert!(report.is_clean(), "{report:?}");
}

pub async fn find_entries_pages_oldest_first(s: Scratch) {
    let ledger = open(&s, GroupCommit::default()).await;
    append_rounds(&ledger, 0, &[40]).await;
    let all = ledger.find_entries(&EntryQuery::default()).await.unwrap();
    assert_eq!(all.iter().map(|e| e.index).collect::<Vec<_>>(), (0..40).collect::<Vec<u64>>());

    let patient = ins(1);
    let expected: Vec<u64> = all.iter().filter(|e| e.entry.ins.as_ref() == Some(&patient)).map(|e| e.index).collect();
    assert_eq!(expected.len(), 10);
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let q = EntryQuery { ins: Some(patient.clone()), after_index: after, limit: 3, ..Default::default() };
        let page = ledger.find_entries(&q).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.index);
        assert!(page.len() <= 3);
        pages.extend(page.iter().map(|e| e.index));
    }
    assert_eq!(pages, expected, "pages of 3, oldest first, nothing skipped or repeated");
    // And from the latest back, as a history page reads it.
    let (mut pages, mut before) = (Vec::new(), None);
    loop {
        let q = EntryQuery { ins: Some(patient.clone()), before_index: before, newest_first: true, limit: 4, ..Default::default() };
        let page = ledger.find_entries(&q).await.unwrap();
        let Some(last) = page.last() else { break };
        before = Some(last.index);
        pages.extend(page.iter().map(|e| e.index));
    }
    assert_eq!(pages, expected.iter().rev().copied().collect::<Vec<_>>(), "pages of 4, newest first, nothing skipped or repeated");

    // Time window [from, to) and actor, combined.
    let from = all[10].entry.at;
    let to = all[30].entry.at;
    let actor = "rpps:10003456782".to_string();
    let q = EntryQuery { from_ms: Some(from), to_ms: Some(to), actor_ref: Some(actor.clone()), ..Default::default() };
    let got: Vec<u64> = ledger.find_entries(&q).await.unwrap().iter().map(|e| e.index).collect();
    let want: Vec<u64> =
        all.iter().filter(|e| e.entry.at >= from && e.entry.at < to && e.entry.actor.reference == actor).map(|e| e.index).collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);
    let none = EntryQuery { ins: Some(ins(99)), ..Default::default() };
    assert!(ledger.find_entries(&none).await.unwrap().is_empty());

    // One actor's entries about a record, from the latest back (a professional's own activity):
    // an entry about no record is left out, another actor's never comes.
    let mut outside = entry(41);
    outside.ins = None;
    outside.action = "activity.read".into();
    ledger.append(&outside).await.unwrap();
    let mine: Vec<u64> = all.iter().filter(|e| e.entry.actor.reference == actor).map(|e| e.index).rev().collect();
    let (mut pages, mut before) = (Vec::new(), None);
    loop {
        let q = EntryQuery {
            actor_ref: Some(actor.clone()),
            about_a_record: true,
            before_index: before,
            newest_first: true,
            limit: 5,
            ..Default::default()
        };
        let page = ledger.find_entries(&q).await.unwrap();
        let Some(last) = page.last() else { break };
        before = Some(last.index);
        assert!(page.iter().all(|e| e.entry.actor.reference == actor && e.entry.ins.is_some()));
        pages.extend(page.iter().map(|e| e.index));
    }
    assert_eq!(pages, mine, "pages of 5, newest first, only this actor's entries about a record");

    // Entries by index (a review queue's items name theirs), one query; beyond the tree: absent.
    let picked = ledger.entries_at(&[7, 2, 10_000]).await.unwrap();
    assert_eq!(picked.iter().map(|e| e.index).collect::<Vec<_>>(), vec![2, 7]);
    assert_eq!(picked[1].bytes, all[7].bytes);
}

pub async fn a_failed_batch_fails_every_waiter_and_leaves_no_trace(s: Scratch) {
    let ledger = open(&s, GroupCommit::default()).await;
    append_rounds(&ledger, 0, &[10]).await;
    s.raw.break_inserts(true).await;
    let mut tasks = tokio::task::JoinSet::new();
    for k in 10..50 {
        let ledger = ledger.clone();
        tasks.spawn(async move { ledger.append(&entry(k)).await });
    }
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            Err(LedgerError::AppendFailed(message)) => assert!(message.contains("forced failure"), "{message}"),
            other => panic!("an append of a failed batch answered {other:?}"),
        }
    }
    s.raw.break_inserts(false).await;
    let receipt = ledger.append(&entry(50)).await.unwrap();
    assert_eq!(receipt.index, 10, "the failed batches left no entry, node or head behind");
    assert_eq!(receipt.tree_size, 11);
    let report = verify(&s).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.entries, 11);
}

pub async fn reopening_resumes_from_the_stored_border(s: Scratch) {
    let ledger = hundred(&s).await;
    let before = ledger.latest_tree_head().await.unwrap();
    drop(ledger);
    let ledger = open(&s, GroupCommit::default()).await;
    assert_eq!(ledger.latest_tree_head().await.unwrap(), before, "reopening signs nothing new");
    let indices = append_rounds(&ledger, 100, &[5, 6]).await;
    assert_eq!(indices, (100..111).collect::<Vec<u64>>());
    let after = ledger.latest_tree_head().await.unwrap();
    let proof = ledger.consistency_proof(100, 111).await.unwrap();
    assert!(proof.verify(&before.head.root_hash, &after.head.root_hash));
    assert!(verify(&s).await.is_clean());
}

pub async fn the_tables_refuse_updates_and_deletes(s: Scratch) {
    let _ledger = hundred(&s).await;
    for sql in [
        "UPDATE entries SET entry = entry WHERE idx = 3",
        "DELETE FROM entries WHERE idx = 99",
        "UPDATE nodes SET hash = hash WHERE level = 0 AND idx = 3",
        "DELETE FROM nodes WHERE level = 0",
        "UPDATE tree_heads SET timestamp_ms = 0",
        "DELETE FROM tree_heads",
    ] {
        let err = s.raw.try_exec(sql).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert!(verify(&s).await.is_clean());
}

pub async fn detects_a_changed_entry(s: Scratch) {
    let _ledger = hundred(&s).await;
    s.raw.drop_guards().await;
    // Turn a denied access into a permitted one (entry 35 was a deny).
    let bytes = String::from_utf8(s.raw.entry_bytes(35).await).unwrap();
    assert!(bytes.contains(r#""outcome":"deny""#));
    s.raw.set_entry_bytes(35, bytes.replace(r#""outcome":"deny""#, r#""outcome":"permit""#).as_bytes()).await;
    assert_bad(&verify(&s).await, 35, "does not hash to its stored leaf hash");
}

/// The columns searches select by are not hashed: an insider changing them would move an entry
/// into another patient's history, or out of its own. Each is checked against the hashed bytes.
pub async fn detects_changed_indexed_columns_and_never_serves_them(s: Scratch) {
    let _ledger = hundred(&s).await;
    s.raw.drop_guards().await;
    let store = LedgerStore::open(&s.url).await.unwrap();
    let history = |ins: Ins| EntryQuery { ins: Some(ins), ..EntryQuery::default() };
    let before = store.find_entries(&history(ins(2))).await.unwrap().len();
    // Entry 41 is patient 1's (41 % 4): moved into patient 2's history.
    let mutations = [
        (41, "ins", format!("ins = '{}'", ins(2).as_str()), format!("ins = '{}'", ins(1).as_str())),
        (42, "actor_ref", "actor_ref = 'rpps:10003456781'".to_owned(), "actor_ref = 'rpps:10003456780'".to_owned()),
        (43, "at", "at = at + 1".to_owned(), "at = at - 1".to_owned()),
        (44, "action", "action = 'document.list'".to_owned(), "action = 'document.read'".to_owned()),
        (46, "outcome", "outcome = 'deny'".to_owned(), "outcome = 'permit'".to_owned()),
    ];
    for (idx, column, change, undo) in mutations {
        s.raw.exec(&format!("UPDATE entries SET {change} WHERE idx = {idx}")).await;
        assert_bad(&verify(&s).await, idx, &format!("`{column}`"));
        let all = store.find_entries(&EntryQuery::default()).await.unwrap();
        assert!(!all.iter().any(|e| e.index == idx), "entry {idx} with a changed `{column}` is never served");
        assert_eq!(all.len(), 99, "every other entry still is");
        s.raw.exec(&format!("UPDATE entries SET {undo} WHERE idx = {idx}")).await;
        assert!(verify(&s).await.is_clean(), "undone: clean again");
    }
    s.raw.exec(&format!("UPDATE entries SET ins = '{}' WHERE idx = 41", ins(2).as_str())).await;
    let moved = store.find_entries(&history(ins(2))).await.unwrap();
    assert_eq!(moved.len(), before, "patient 2's history does not gain patient 1's entry");
    assert!(moved.iter().all(|e| e.entry.ins == Some(ins(2))));
    let by_actor = store.find_entries(&EntryQuery { actor_ref: Some("rpps:10003456782".into()), ..EntryQuery::default() }).await.unwrap();
    assert!(by_actor.iter().all(|e| e.entry.actor.reference == "rpps:10003456782"));
    store.close().await;
}

pub async fn detects_a_deleted_entry(s: Scratch) {
    let _ledger = hundred(&s).await;
    s.raw.drop_guards().await;
    s.raw.exec("DELETE FROM entries WHERE idx = 37").await;
    assert_bad(&verify(&s).await, 37, "entry 37 is missing");
}

pub async fn detects_swapped_entries(s: Scratch) {
    let _ledger = hundred(&s).await;
    s.raw.drop_guards().await;
    let (a, b) = (s.raw.entry_bytes(41).await, s.raw.entry_bytes(58).await);
    s.raw.set_entry_bytes(41, &b).await;
    s.raw.set_entry_bytes(58, &a).await;
    assert_bad(&verify(&s).await, 41, "entry 41 does not hash");
}

pub async fn detects_a_truncated_tail(s: Scratch) {
    let _ledger = hundred(&s).await;
    s.raw.drop_guards().await;
    s.raw.exec("DELETE FROM entries WHERE idx >= 90").await;
    assert_bad(&verify(&s).await, 90, "truncated");
    // Nor does the writer start on it.
    let refused = Ledger::open(&s.url, signer(), config(GroupCommit::default())).await;
    assert!(matches!(refused, Err(LedgerError::Corrupt(_))), "{refused:?}");
}

pub async fn detects_an_entry_inserted_in_the_middle(s: Scratch) {
    let _ledger = hundred(&s).await;
    s.raw.drop_guards().await;
    // Shift 50.. up by one (in two steps: the primary key is checked row by row) and forge 50.
    s.raw.exec("UPDATE entries SET idx = idx + 1000000 WHERE idx >= 50").await;
    s.raw.exec("UPDATE entries SET idx = idx - 999999 WHERE idx >= 1000000").await;
    s.raw.insert_entry(50, &entry(500).canonical_bytes().unwrap()).await;
    assert_bad(&verify(&s).await, 50, "entry 50 does not hash");
}

pub async fn detects_an_entry_appended_at_the_end(s: Scratch) {
    let _ledger = hundred(&s).await;
    s.raw.drop_guards().await;
    let forged = entry(500).canonical_bytes().unwrap();
    s.raw.insert_entry(100, &forged).await;
    assert_bad(&verify(&s).await, 100, "entry 100 has no stored leaf hash");
    // With its leaf hash forged too, no signed head covers it.
    s.raw.put_node(0, 100, &leaf_hash(&forged)).await;
    assert_bad(&verify(&s).await, 100, "covered by no signed tree head");
}

pub async fn detects_entries_and_nodes_rewritten_together(s: Scratch) {
    let _ledger = hundred(&s).await;
    s.raw.drop_guards().await;
    let target = 37i64;
    let bytes = String::from_utf8(s.raw.entry_bytes(target).await).unwrap();
    let forged = bytes.replace("Dr 37", "Dr 73");
    s.raw.set_entry_bytes(target, forged.as_bytes()).await;
    // Recompute the leaf and every stored ancestor: the nodes agree with the entries again.
    s.raw.put_node(0, target, &leaf_hash(forged.as_bytes())).await;
    let mut level = 1;
    loop {
        let idx = target >> level;
        if s.raw.node(level, idx).await.is_none() {
            break;
        }
        let left: [u8; 32] = s.raw.node(level - 1, 2 * idx).await.unwrap().try_into().unwrap();
        let right: [u8; 32] = s.raw.node(level - 1, 2 * idx + 1).await.unwrap().try_into().unwrap();
        s.raw.put_node(level, idx, &node_hash(&left, &right)).await;
        level += 1;
    }
    // Only the signed heads can tell: the first head past 37 fails, and the report names the
    // start of the range it covers beyond the previous (good) head.
    let sizes = s.raw.head_sizes().await;
    let batch_start = sizes.iter().copied().filter(|&n| n <= 37).max().unwrap();
    let report = verify(&s).await;
    assert_bad(&report, batch_start, "does not match the stored entries");
    assert!(report.entries > 37, "{report:?}");
    let refused = Ledger::open(&s.url, signer(), config(GroupCommit::default())).await;
    assert!(matches!(refused, Err(LedgerError::Corrupt(_))), "{refused:?}");
}

pub async fn detects_a_forged_tree_head(s: Scratch) {
    let _ledger = hundred(&s).await;
    s.raw.drop_guards().await;
    let sizes = s.raw.head_sizes().await;
    let (previous, forged) = (sizes[sizes.len() - 3], sizes[sizes.len() - 2]);
    s.raw.exec(&format!("UPDATE tree_heads SET timestamp_ms = timestamp_ms + 1 WHERE tree_size = {forged}")).await;
    assert_bad(&verify(&s).await, previous, "is not signed by the given key");
}

pub async fn detects_a_wrong_public_key(s: Scratch) {
    let _ledger = hundred(&s).await;
    let store = LedgerStore::open(&s.url).await.unwrap();
    let report = verify_store(&store, &[[9; 32]]).await.unwrap();
    assert_bad(&report, 0, "is not signed by the given key");
    // Key rotation: any of the given keys may have signed a head.
    assert!(verify_store(&store, &[[9; 32], public_key()]).await.unwrap().is_clean());
}

pub async fn a_consistent_rollback_needs_a_tree_head_kept_elsewhere(s: Scratch) {
    // Deleting entries, nodes and heads back to an earlier signed head leaves a store that is
    // consistent with itself: only a tree head kept outside (a receipt, a witness) reveals it.
    let ledger = hundred(&s).await;
    let kept_elsewhere = ledger.latest_tree_head().await.unwrap();
    drop(ledger);
    s.raw.drop_guards().await;
    let sizes = s.raw.head_sizes().await;
    let back_to = sizes[sizes.len() - 2];
    s.raw.exec(&format!("DELETE FROM entries WHERE idx >= {back_to}")).await;
    s.raw.exec(&format!("DELETE FROM nodes WHERE (idx + 1) * (CAST(1 AS BIGINT) << CAST(level AS INTEGER)) > {back_to}")).await;
    s.raw.exec(&format!("DELETE FROM tree_heads WHERE tree_size > {back_to}")).await;
    assert!(verify(&s).await.is_clean());
    let ledger = open(&s, GroupCommit::default()).await;
    assert!(matches!(ledger.consistency_proof(back_to, kept_elsewhere.head.tree_size).await, Err(LedgerError::BeyondTree { .. })));
}

pub async fn the_benchmark_helper_reports_figures(s: Scratch) {
    // Figures only: timing is for `carnet-bench`, never asserted in tests.
    let ledger = open(&s, GroupCommit::default()).await;
    let figures = carnet_ledger::bench_appends(&ledger, 200, 8).await.unwrap();
    assert_eq!((figures.entries, figures.concurrency), (200, 8));
    assert!(figures.per_second > 0.0 && figures.seconds > 0.0, "{figures:?}");
    assert!(figures.bytes_per_entry > 0.0, "{figures:?}");
    let report = verify(&s).await;
    assert!(report.is_clean() && report.entries == 200, "{report:?}");
}
