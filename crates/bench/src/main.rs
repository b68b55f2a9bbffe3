//! `carnet-bench`: Carnet's benchmarks, kept out of the shipped `carnet` binary. Each workload
//! runs against a `carnet serve` child (the `carnet` binary beside this one, or `CARNET_BIN`),
//! prints its figures and never fails on time (BENCHMARKS.md records them).

mod bench;
mod bench_crash;
mod bench_extraction;
mod bench_http;
mod bench_keys;
mod bench_nodes;
mod bench_portal;
mod bench_profile;
mod bench_search;
mod bench_soak;

use clap::{Parser, Subcommand};

/// Carnet's benchmarks: print figures for BENCHMARKS.md (build with --release).
#[derive(Parser)]
#[command(name = "carnet-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Round-trip one large document through a `carnet serve` child: deposit and retrieval
    /// throughput, the server's peak RSS, and the machine's AES-GCM and SHA-256 ceilings.
    Documents(bench::DocumentsArgs),
    /// Ledger appends per second with and without group commit, and bytes per entry.
    Ledger(bench::LedgerArgs),
    /// HTTP workloads (ITI-67 search, ITI-68 retrieve, ITI-65 provide) with wrk, against a
    /// hello-world ceiling measured in the same run.
    Http(bench_http::HttpArgs),
    /// ITI-67 search latency as the store grows (10k then 1M patients by default), the other
    /// patients' metadata bulk-generated in the store.
    Growth(bench_http::GrowthArgs),
    /// The patient's portal pages (Accueil, Mes documents, Historique) for a record of 200
    /// documents, through `carnet demo` and a real sign-in, with wrk: throughput, p50/p99 at full
    /// and half load against the hello-world ceiling, page weights, sign-in to first page.
    Portal(bench_portal::PortalArgs),
    /// Acknowledged means kept: depositors on `/api` and ITI-65, the server killed at random
    /// points (`kill -9`, or a simulated power cut with --power-loss), restarted, and every
    /// acknowledged document read back byte-identical, the ledger verified. Fails on any loss.
    Crash(bench_crash::CrashArgs),
    /// A long run (10 min by default) of ITI-67, ITI-68, ITI-65 and policy changes all at once,
    /// each at half its capacity measured first: errors, latency per period, the server's RSS
    /// over time and its growth after warm-up, the data left on disk.
    Soak(bench_soak::SoakArgs),
    /// The master keys in a PKCS#11 token (SoftHSM2) against local key files, alternated in one
    /// run: ITI-67, ITI-68 and ITI-65 throughput with each, the unwraps that reached the token
    /// per second, and each provider's raw unwrap rate.
    Keys(bench_keys::KeysArgs),
    /// ITI-67 and ITI-65 through haproxy in front of 1, 2 and 3 nodes on one PostgreSQL (each
    /// node pinned to a core with --taskset): throughput per node count, p99 at half load.
    Nodes(bench_nodes::NodesArgs),
    /// Search inside one record (1,000 documents, or 10,000 with --large): the cold build of
    /// its index, warm searches of one to three words (p50/p99), the index's bytes, peak RSS;
    /// then text extraction and indexing through a `carnet serve` child: 100 KB text PDFs
    /// (documents/s) and OCR (pages/s).
    Search(bench_search::SearchArgs),
    /// The medical profile (issue 20): ITI-65 deposits of CDA level 3 documents (a 50-entry VSM,
    /// a 40-result CR-BIO) read into profile items, against plain deposits of the same size in
    /// alternated rounds; `$summary` of a 500-item record and a creatinine trend (p50/p99 at
    /// full and half load); the hello-world ceiling in the same run.
    Profile(bench_profile::ProfileArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        match cli.command {
            BenchCommand::Documents(args) => bench::documents(args).await,
            BenchCommand::Ledger(args) => bench::ledger(args).await,
            BenchCommand::Http(args) => bench_http::http(args).await,
            BenchCommand::Growth(args) => bench_http::growth(args).await,
            BenchCommand::Portal(args) => bench_portal::portal(args).await,
            BenchCommand::Crash(args) => bench_crash::crash(args).await,
            BenchCommand::Soak(args) => bench_soak::soak(args).await,
            BenchCommand::Keys(args) => bench_keys::keys(args).await,
            BenchCommand::Nodes(args) => bench_nodes::nodes(args).await,
            BenchCommand::Search(args) => bench_search::search(args).await,
            BenchCommand::Profile(args) => bench_profile::profile(args).await,
        }
    })
}
