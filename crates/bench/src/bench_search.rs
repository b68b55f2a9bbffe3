//! `carnet-bench search`: search inside one record, in process — the cold build of a record's
//! index (what the first search after a deposit or an extraction pays) and warm searches of one
//! to three words (what the next ones pay), p50/p99, with the index's estimated bytes (what the
//! node's cache counts against `[search] cache_mib`) and this process's peak RSS.
//!
//! The texts are generated from a French clinical vocabulary (about 2 KB each, the size of a
//! short report). The gate and the ledger entry around a search are ITI-67's, measured by
//! `bench http`; this measures what the full-text search adds.

use std::time::{Duration, Instant};

use anyhow::Context;
use carnet_search::{RecordIndex, Text};

#[derive(clap::Args)]
pub struct SearchArgs {
    /// Documents in the record.
    #[arg(long, default_value_t = 1000)]
    pub documents: usize,
    /// 10,000 documents instead.
    #[arg(long)]
    pub large: bool,
    /// Searches timed (each a random query of one to three words).
    #[arg(long, default_value_t = 2000)]
    pub searches: usize,
    /// A few hundred documents and searches: proves the harness.
    #[arg(long)]
    pub smoke: bool,
    /// Text PDFs of 100 KB extracted and indexed through a `carnet serve` child (0: skip).
    #[arg(long, default_value_t = 200)]
    pub extraction_pdfs: usize,
    /// Scanned pages OCR'd (tesseract, French) through the same child (0: skip).
    #[arg(long, default_value_t = 10)]
    pub ocr_pages: usize,
    /// The extraction worker's `workers` settings compared on the text PDFs, in one run.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub extraction_workers: Vec<u32>,
    /// Take the documents from this directory (`report-*.pdf`, `scan-*.png`: what
    /// `tests/pdf/make_pdfs.py reports DIR` writes) instead of writing them with `CARNET_PYTHON`.
    #[arg(long)]
    pub pdfs: Option<std::path::PathBuf>,
}

const VOCABULARY: &[&str] = &[
    "allergie",
    "pénicilline",
    "créatinine",
    "hémoglobine",
    "glycémie",
    "cholestérol",
    "triglycérides",
    "plaquettes",
    "leucocytes",
    "lymphocytes",
    "ferritine",
    "transaminases",
    "bilirubine",
    "potassium",
    "sodium",
    "calcium",
    "vitamine",
    "thyroïde",
    "insuline",
    "diabète",
    "hypertension",
    "asthme",
    "bronchite",
    "pneumopathie",
    "insuffisance",
    "cardiaque",
    "rénale",
    "hépatique",
    "fracture",
    "entorse",
    "luxation",
    "radiographie",
    "échographie",
    "scanner",
    "IRM",
    "thoracique",
    "abdominale",
    "pelvienne",
    "cervicale",
    "lombaire",
    "genou",
    "épaule",
    "cheville",
    "poignet",
    "hanche",
    "douleur",
    "fièvre",
    "toux",
    "dyspnée",
    "nausées",
    "vomissements",
    "céphalées",
    "vertiges",
    "fatigue",
    "amaigrissement",
    "œdème",
    "éruption",
    "prurit",
    "traitement",
    "posologie",
    "comprimé",
    "gélule",
    "injection",
    "perfusion",
    "antibiotique",
    "anticoagulant",
    "antalgique",
    "corticoïde",
    "vaccin",
    "rappel",
    "grossesse",
    "accouchement",
    "césarienne",
    "consultation",
    "hospitalisation",
    "urgence",
    "chirurgie",
    "anesthésie",
    "cicatrisation",
    "suivi",
    "contrôle",
    "bilan",
    "compte",
    "rendu",
    "examen",
    "clinique",
    "biologique",
    "normal",
    "normale",
    "élevé",
    "élevée",
    "diminué",
    "stable",
    "amélioration",
    "aggravation",
    "antécédents",
    "familiaux",
    "tabagisme",
    "alcool",
    "sevrage",
    "kinésithérapie",
    "rééducation",
    "orthopédique",
    "cardiologue",
    "pneumologue",
    "dermatologue",
    "néphrologue",
    "endocrinologue",
    "ophtalmologie",
    "cataracte",
    "glaucome",
    "audition",
    "dentaire",
    "carie",
    "vaccination",
    "tétanos",
    "grippe",
    "hépatite",
    "sérologie",
    "négative",
    "positive",
    "protéinurie",
    "hématurie",
    "électrocardiogramme",
    "rythme",
    "sinusal",
    "tachycardie",
    "souffle",
    "tension",
    "artérielle",
    "saturation",
    "oxygène",
    "poids",
    "taille",
    "indice",
    "masse",
    "corporelle",
];
const GLUE: &[&str] = &["le", "la", "les", "de", "des", "du", "et", "à", "en", "avec", "sans", "pour", "une", "un", "au", "est"];

/// A small deterministic generator (xorshift): the same record on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Skewed towards the start of the vocabulary, as real texts are (some words everywhere,
    /// most rare).
    fn word(&mut self) -> &'static str {
        let a = self.below(VOCABULARY.len());
        let b = self.below(VOCABULARY.len());
        VOCABULARY[a.min(b)]
    }
}

fn text(rng: &mut Rng, bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 32);
    while out.len() < bytes {
        let word = if rng.below(3) == 0 { GLUE[rng.below(GLUE.len())] } else { rng.word() };
        out.push_str(word);
        out.push(if rng.below(12) == 0 { '.' } else { ' ' });
        if out.ends_with('.') {
            out.push(' ');
        }
    }
    out
}

fn peak_rss_mib() -> anyhow::Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).context("VmHWM not reported")?;
    let kib: f64 = line.split_whitespace().nth(1).context("VmHWM value")?.parse()?;
    Ok(kib / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(at).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub async fn search(args: SearchArgs) -> anyhow::Result<()> {
    let documents = if args.smoke {
        200
    } else if args.large {
        10_000
    } else {
        args.documents
    };
    let searches = if args.smoke { 200 } else { args.searches };
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let texts: Vec<(String, String)> = (0..documents).map(|i| (format!("{i:08}"), text(&mut rng, 2048))).collect();
    let text_bytes: usize = texts.iter().map(|(_, t)| t.len()).sum();
    let rss_before = peak_rss_mib()?;

    // Cold: what the first search after a change pays (the texts are already opened).
    let started = Instant::now();
    let index = tokio::task::spawn_blocking(move || RecordIndex::build(texts.iter().map(|(id, text)| Text { id, text }))).await??;
    let build = started.elapsed();

    let queries: Vec<String> = (0..searches).map(|_| (0..1 + rng.below(3)).map(|_| rng.word()).collect::<Vec<_>>().join(" ")).collect();
    // One pass to warm the caches, then the timed one.
    let mut matched = 0usize;
    for q in queries.iter().take(50) {
        index.search_page(q, 0, 20, |_| true)?;
    }
    let mut times = Vec::with_capacity(queries.len());
    for q in &queries {
        let started = Instant::now();
        let page = index.search_page(q, 0, 20, |_| true)?;
        times.push(started.elapsed());
        matched += page.total;
    }
    times.sort();
    println!(
        "search: {documents} documents ({:.1} MiB of text), cold build {:.0} ms ({:.0} documents/s), index ≈ {:.1} MiB",
        text_bytes as f64 / 1048576.0,
        ms(build),
        documents as f64 / build.as_secs_f64(),
        index.bytes() as f64 / 1048576.0
    );
    println!(
        "search: {searches} warm searches of 1–3 words (page of 20, {:.0} matches on average): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        matched as f64 / searches as f64,
        ms(percentile(&times, 0.50)),
        ms(percentile(&times, 0.99)),
        ms(times.last().copied().unwrap_or_default())
    );
    println!("search: peak RSS (VmHWM) {:.1} MiB (before the index: {rss_before:.1} MiB)", peak_rss_mib()?);
    let (pdfs, ocr_pages) =
        if args.smoke { (args.extraction_pdfs.min(3), args.ocr_pages.min(1)) } else { (args.extraction_pdfs, args.ocr_pages) };
    if pdfs > 0 {
        crate::bench_extraction::extraction(crate::bench_extraction::ExtractionPlan {
            pdfs,
            pages: ocr_pages,
            dir: args.pdfs,
            workers: args.extraction_workers,
        })
        .await?;
    }
    Ok(())
}
