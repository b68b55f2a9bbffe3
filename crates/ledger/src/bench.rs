//! Append throughput, for `carnet-bench` (group commit vs one commit per entry). Not a test.

use std::time::Instant;

use carnet_domain::Ins;

use crate::appender::Ledger;
use crate::entry::{EntryActor, LedgerEntry, Outcome};
use crate::{LedgerError, Result};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchFigures {
    pub entries: usize,
    pub concurrency: usize,
    pub seconds: f64,
    /// Committed appends per second.
    pub per_second: f64,
    /// Growth of the store (entries, nodes, heads, indexes) per entry.
    pub bytes_per_entry: f64,
}

/// Appends `entries` typical entries from `concurrency` tasks, each waiting for its receipts one
/// after the other, as request handlers do.
pub async fn bench_appends(ledger: &Ledger, entries: usize, concurrency: usize) -> Result<BenchFigures> {
    let concurrency = concurrency.max(1);
    let before = ledger.store().storage_bytes().await?;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let ledger = ledger.clone();
        tasks.spawn(async move {
            for n in (worker..entries).step_by(concurrency) {
                ledger.append(&typical_entry(n)).await?;
            }
            Ok::<_, LedgerError>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| LedgerError::AppendFailed(format!("benchmark task failed: {e}")))??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let after = ledger.store().storage_bytes().await?;
    let count = entries.max(1) as f64;
    Ok(BenchFigures {
        entries,
        concurrency,
        seconds,
        per_second: entries as f64 / seconds.max(f64::EPSILON),
        bytes_per_entry: after.saturating_sub(before) as f64 / count,
    })
}

/// A professional reading a document of a patient's record.
fn typical_entry(n: usize) -> LedgerEntry {
    LedgerEntry {
        at: 1_767_225_600_000 + n as i64,
        actor: EntryActor {
            reference: format!("rpps:1000{:07}", n % 10_000),
            role: "professional".into(),
            name: Some("Dr Claire Martin".into()),
            profession: Some("10".into()),
            organisation: Some("750712184".into()),
            app: None,
        },
        ins: Ins::from_body(&format!("1841276{:06}", n % 1_000_000)).ok(),
        action: "document.read".into(),
        target: Some(format!("doc-{n:012}")),
        outcome: Outcome::Permit,
        reason: "policy.authorized".into(),
        justification: None,
        justification_commitment: None,
    }
}
