//! `carnet admin backup`, `restore` and `verify-backup`: backups of the embedded default
//! (SQLite `carnet.db`, SQLite `ledger.db`, local blobs, local master keys). PostgreSQL and S3
//! are backed up with their own tools (docs/backup.md, which also gives the reasoning below).
//!
//! A backup is a directory: `carnet.db` and `ledger.db` (online snapshots), the blobs the
//! database snapshot names (`blobs/documents/<id>`, sealed, copied as they are) and
//! `manifest.json` (counts, every file's SHA-256, the ledger's latest signed tree head). The
//! order is what makes it whole while a server keeps depositing:
//!
//! 1. the metadata first: a blob is complete and durable before the row naming it is written,
//!    so every row of the snapshot has its blob on disk already;
//! 2. then the ledger: a deposit's entries are appended (and committed) before its blobs and
//!    rows, so a ledger snapshot taken after the metadata's covers every row in it;
//! 3. then the blobs the metadata snapshot names (a blob deleted meanwhile — a destroyed
//!    record's, by the retention sweep — fails the backup, which is then run again);
//! 4. the manifest last: a backup without one was cut short.
//!
//! The master keys are never in the backup: whoever holds both can read every record. They are
//! copied only on request (`--keys-to`), to a directory outside the backup.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};
use carnet_crypto::{KeyProvider, LocalKeyring, Pkcs11Config, Pkcs11Keyring};
use carnet_domain::{DocumentId, Ins};
use carnet_ledger::{LedgerStore, SignedTreeHead};
use carnet_store::{Database, DocumentStore, KeyStore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Settings;

const MANIFEST: &str = "manifest.json";
const FORMAT: &str = "carnet-backup";
const FORMAT_VERSION: u32 = 1;
const DATABASE: &str = "carnet.db";
const LEDGER: &str = "ledger.db";
const BLOBS: &str = "blobs/documents";

#[derive(clap::Args)]
pub struct BackupArgs {
    /// Where the backup goes: an empty or absent directory.
    dest: PathBuf,
    /// Also copy the master keys into this directory (empty or absent, not inside DEST): whoever
    /// holds both can read every record, so keep them apart.
    #[arg(long)]
    keys_to: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// A backup written by `carnet admin backup`.
    src: PathBuf,
    /// The master keys copied with `--keys-to` (needed unless the keys directory holds them).
    #[arg(long)]
    keys_from: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// A backup written by `carnet admin backup`.
    src: PathBuf,
    /// The master keys copied with `--keys-to`: every blob is then decrypted whole.
    #[arg(long)]
    keys: Option<PathBuf>,
    /// Decrypt every blob with the PKCS#11 token the configuration names (`[storage] keys =
    /// "pkcs11"`) instead of key files.
    #[arg(long, conflicts_with = "keys")]
    token: bool,
}

/// Where a check finds the master keys.
enum BackupKeys<'a> {
    None,
    Dir(&'a Path),
    Token(&'a Pkcs11Config),
}

impl BackupKeys<'_> {
    fn open(&self) -> Option<anyhow::Result<Box<dyn KeyProvider>>> {
        match self {
            BackupKeys::None => None,
            BackupKeys::Dir(dir) => Some(open_keys(dir).map(|k| Box::new(k) as Box<dyn KeyProvider>)),
            BackupKeys::Token(token) => Some(
                Pkcs11Keyring::open_or_create(token)
                    .map(|k| Box::new(k) as Box<dyn KeyProvider>)
                    .with_context(|| format!("opening the PKCS#11 token {:?}", token.token_label)),
            ),
        }
    }
}

/// `manifest.json`.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: String,
    version: u32,
    /// Names the backup in the restore's ledger entry.
    backup_id: String,
    /// RFC 3339.
    created_at: String,
    carnet_version: String,
    counts: Counts,
    ledger: LedgerSummary,
    /// Path inside the backup → its SHA-256 and size.
    files: BTreeMap<String, FileEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Counts {
    records: u64,
    documents: u64,
    blobs: u64,
    ledger_entries: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct LedgerSummary {
    /// Hex Ed25519 key the tree heads are signed with.
    public_key: String,
    /// The newest signed head of the ledger snapshot (absent: an empty ledger).
    tree_head: Option<SignedTreeHead>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FileEntry {
    sha256: String,
    bytes: u64,
}

/// The embedded default's files.
struct Embedded {
    database: PathBuf,
    ledger: PathBuf,
    blobs: PathBuf,
    keys: PathBuf,
}

fn embedded(settings: &Settings) -> anyhow::Result<Embedded> {
    let sqlite_file = |url: String, what: &str| -> anyhow::Result<PathBuf> {
        match url.strip_prefix("sqlite://") {
            Some(path) => Ok(PathBuf::from(path.split('?').next().unwrap_or(path))),
            None => bail!(
                "the {what} is not an embedded SQLite file: back PostgreSQL up with pg_dump or pg_basebackup (docs/backup.md); \
                 carnet admin backup covers the embedded default only"
            ),
        }
    };
    anyhow::ensure!(
        settings.storage.blob_url.is_none(),
        "the blobs are in an object store (storage.blob_url): copy the bucket with its own tools (docs/backup.md); \
         carnet admin backup covers the embedded default only"
    );
    Ok(Embedded {
        database: sqlite_file(settings.database_url(), "database")?,
        ledger: sqlite_file(settings.ledger_url(), "ledger")?,
        blobs: settings.data_dir.join("blobs").join("documents"),
        keys: settings.keys_dir(),
    })
}

/// What is in `dir` (`None`: absent or empty), for refusals that say why.
fn contents(dir: &Path) -> anyhow::Result<Option<Vec<String>>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut names: Vec<String> = entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    Ok(if names.is_empty() { None } else { Some(names) })
}

fn listed(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
    if names.len() > shown.len() { format!("{}, …", shown.join(", ")) } else { shown.join(", ") }
}

/// `path` made absolute and cleaned of `.` and `..`, through the symbolic links of the part that
/// exists: a directory "inside" another is judged on where it really is.
fn resolved(path: &Path) -> anyhow::Result<PathBuf> {
    let absolute = std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))?;
    let mut existing = absolute.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        let Some(name) = existing.file_name() else { break };
        rest.push(name.to_owned());
        existing.pop();
    }
    let mut out = existing.canonicalize().unwrap_or(existing);
    for name in rest.into_iter().rev() {
        out.push(name);
    }
    let mut clean = PathBuf::new();
    for part in out.components() {
        match part {
            Component::ParentDir => {
                clean.pop();
            }
            Component::CurDir => {}
            other => clean.push(other),
        }
    }
    Ok(clean)
}

fn hex(bytes: &[u8]) -> String {
    carnet_domain::hex::encode(bytes)
}

/// Copies `from` to `to` (created 0600), hashing on the way and syncing the copy.
fn copy_hashed(from: &Path, to: &Path) -> std::io::Result<FileEntry> {
    let mut output = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(to)?;
    let entry = hash_stream(std::fs::File::open(from)?, Some(&mut output))?;
    output.sync_all()?;
    Ok(entry)
}

fn hash_file(path: &Path) -> std::io::Result<FileEntry> {
    hash_stream(std::fs::File::open(path)?, None)
}

/// Reads `input` to its end, hashing it, and writing it to `copy` if there is one.
fn hash_stream(mut input: std::fs::File, mut copy: Option<&mut std::fs::File>) -> std::io::Result<FileEntry> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = input.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        if let Some(output) = copy.as_mut() {
            output.write_all(&buffer[..n])?;
        }
        bytes += n as u64;
    }
    Ok(FileEntry { sha256: hex(&hasher.finalize()), bytes })
}

fn sync_file(path: &Path) -> anyhow::Result<()> {
    std::fs::File::open(path).and_then(|f| f.sync_all()).with_context(|| format!("syncing {}", path.display()))
}

fn private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).with_context(|| format!("creating {}", dir.display()))
}

/// The master key files of `dir` (`*.key`), by name.
fn key_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.ends_with(".key")).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// Copies a keyring (`*.key` and `active`), keeping it owner-only.
fn copy_keys(from: &Path, to: &Path) -> anyhow::Result<usize> {
    private_dir(to)?;
    let names = key_files(from);
    for name in names.iter().map(String::as_str).chain(["active"]) {
        copy_hashed(&from.join(name), &to.join(name)).with_context(|| format!("copying the master key file {name}"))?;
    }
    sync_file(to)?;
    Ok(names.len())
}

/// The operator's keys opened without creating any (`LocalKeyring::load_or_create` would
/// create a fresh key in an empty directory, which opens nothing of a backup).
fn open_keys(dir: &Path) -> anyhow::Result<LocalKeyring> {
    anyhow::ensure!(!key_files(dir).is_empty(), "no master key (*.key) in {}", dir.display());
    LocalKeyring::load_or_create(dir).with_context(|| format!("opening the master keys in {}", dir.display()))
}

/// `carnet admin backup DEST [--keys-to DIR]`.
pub async fn backup(settings: &Settings, args: &BackupArgs) -> anyhow::Result<()> {
    let files = embedded(settings)?;
    let token = settings.pkcs11()?;
    if let (Some(token), Some(_)) = (&token, &args.keys_to) {
        bail!(
            "--keys-to: the master keys are in the PKCS#11 token {:?} and never leave it; the token is backed up by its \
             own means, under its trustee's control (docs/keys.md)",
            token.token_label
        );
    }
    if let Some(names) = contents(&args.dest)? {
        bail!(
            "{} is not empty (it holds {}): a backup goes into an empty or new directory, so that nothing of another backup mixes with it",
            args.dest.display(),
            listed(&names)
        );
    }
    if let Some(keys_to) = &args.keys_to {
        let (dest, keys) = (resolved(&args.dest)?, resolved(keys_to)?);
        if keys.starts_with(&dest) || dest.starts_with(&keys) {
            bail!(
                "--keys-to {} is inside the backup {} (or holds it): whoever holds both can read every record; \
                 give the keys a directory of their own, away from the backup",
                keys_to.display(),
                args.dest.display()
            );
        }
        if let Some(names) = contents(keys_to)? {
            bail!("--keys-to {} is not empty (it holds {}): the keys go into an empty or new directory", keys_to.display(), listed(&names));
        }
    }
    for (path, what) in [(&files.database, "database"), (&files.ledger, "ledger")] {
        anyhow::ensure!(path.exists(), "no {what} at {}: is data_dir right ({})?", path.display(), settings.data_dir.display());
    }
    if token.is_none() {
        anyhow::ensure!(!key_files(&files.keys).is_empty(), "no master key in {}: is data_dir right?", files.keys.display());
    }

    private_dir(&args.dest.join(BLOBS))?;
    let created_at = time::OffsetDateTime::now_utc();
    // 1. The metadata.
    let live = Database::connect(&settings.database_url()).await.context("opening the database")?;
    live.snapshot_into(&args.dest.join(DATABASE)).await.context("snapshotting the database")?;
    live.close().await;
    // 2. The ledger, after the metadata: it covers every deposit whose rows the snapshot holds.
    let ledger = LedgerStore::open(&settings.ledger_url()).await.context("opening the ledger")?;
    ledger.snapshot_into(&args.dest.join(LEDGER)).await.context("snapshotting the ledger")?;
    ledger.close().await;

    let snapshot = Database::open_snapshot(&args.dest.join(DATABASE)).await.context("reading the database snapshot")?;
    let inventory = snapshot.inventory().await.context("reading the database snapshot")?;
    let live_keys = match &token {
        Some(token) => BackupKeys::Token(token),
        None => BackupKeys::Dir(&files.keys),
    }
    .open()
    .context("the master keys")??;
    let public_key = carnet_service::ledger_public_key(&snapshot, live_keys.as_ref())
        .await
        .context("reading the ledger's signing key")?
        .context("the database holds no ledger signing key: has this installation ever started?")?;
    let ledger_snapshot = LedgerStore::open_snapshot(&args.dest.join(LEDGER)).await.context("reading the ledger snapshot")?;
    let tree_head = ledger_snapshot.latest_tree_head().await.context("reading the ledger snapshot")?;
    ledger_snapshot.close().await;

    // 3. The blobs the metadata snapshot names.
    let mut manifest_files = BTreeMap::new();
    for (id, _) in &inventory.documents {
        let name = format!("{BLOBS}/{id}");
        let entry = match copy_hashed(&files.blobs.join(id.to_string()), &args.dest.join(&name)) {
            Ok(entry) => entry,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "document {id}'s blob was deleted while the backup ran (the retention sweep deletes a destroyed record's \
                 documents): the installation is fine; run the backup again into an empty directory"
            ),
            Err(e) => return Err(e).with_context(|| format!("copying the blob of document {id}")),
        };
        manifest_files.insert(name, entry);
    }
    sync_file(&args.dest.join(BLOBS))?;

    if let Some(keys_to) = &args.keys_to {
        let copied = copy_keys(&files.keys, keys_to)?;
        // A rotation between the snapshot and this copy retires the key the snapshot's wraps name.
        let keys = open_keys(keys_to)?;
        for (ins, wrapped) in snapshot.all_patient_keys().await.context("reading the database snapshot")? {
            if keys.unwrap(&wrapped, ins.as_str().as_bytes()).is_err() {
                bail!(
                    "the master key {} that seals patients' keys in the snapshot is not in {}: a key rotation ran during \
                     the backup; run it again into empty directories",
                    wrapped.master_key_id,
                    keys_to.display()
                );
            }
        }
        eprintln!(
            "WARNING: {} holds the master keys ({copied}). Whoever holds both it and the backup {} can read every record: \
             keep them on different media, in different hands.",
            keys_to.display(),
            args.dest.display()
        );
    }
    snapshot.close().await;
    drop(snapshot);

    // 4. The manifest, last.
    for name in [DATABASE, LEDGER] {
        let path = args.dest.join(name);
        sync_file(&path)?;
        manifest_files.insert(name.to_owned(), hash_file(&path).with_context(|| format!("hashing {}", path.display()))?);
    }
    let counts = Counts {
        records: inventory.records,
        documents: inventory.documents.len() as u64,
        blobs: inventory.documents.len() as u64,
        ledger_entries: tree_head.as_ref().map_or(0, |h| h.head.tree_size),
    };
    let manifest = Manifest {
        format: FORMAT.into(),
        version: FORMAT_VERSION,
        backup_id: uuid::Uuid::new_v4().to_string(),
        created_at: created_at.format(&time::format_description::well_known::Rfc3339)?,
        carnet_version: env!("CARGO_PKG_VERSION").into(),
        counts,
        ledger: LedgerSummary { public_key: hex(&public_key), tree_head },
        files: manifest_files,
    };
    let path = args.dest.join(MANIFEST);
    let mut out = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
    out.write_all(&serde_json::to_vec_pretty(&manifest)?)?;
    out.sync_all()?;
    sync_file(&args.dest)?;

    println!(
        "backup {} in {}: {} records, {} documents, {} blobs, {} ledger entries (tree head {})",
        manifest.backup_id,
        args.dest.display(),
        counts.records,
        counts.documents,
        counts.blobs,
        counts.ledger_entries,
        tree_head.map_or_else(|| "none".to_owned(), |h| hex(&h.head.root_hash)),
    );
    if let Some(token) = &token {
        println!(
            "the master keys stay in the PKCS#11 token {:?}: restoring this backup needs that token, or its trustee's backup of it",
            token.token_label
        );
    } else if args.keys_to.is_none() {
        println!(
            "the master keys are NOT in the backup: without a copy of {} it cannot be read (carnet admin backup --keys-to DIR)",
            files.keys.display()
        );
    }
    Ok(())
}

/// What checking a backup found.
struct Checked {
    manifest: Option<Manifest>,
    problems: Vec<String>,
}

/// A name the manifest may list: the two databases and blobs named by document id (never a path
/// leaving the backup).
fn allowed_name(name: &str) -> bool {
    name == DATABASE
        || name == LEDGER
        || name.strip_prefix(BLOBS).and_then(|rest| rest.strip_prefix('/')).is_some_and(|id| DocumentId::parse(id).is_ok())
}

/// Every file under `dir`, as paths relative to it.
fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&entry.path(), &format!("{name}/"), out);
        } else {
            out.push(name);
        }
    }
}

/// Checks a backup: the manifest's hashes, the counts, the ledger, and with `keys` every blob
/// decrypted whole. Every problem is collected, each saying what is missing or changed.
async fn check(src: &Path, keys: BackupKeys<'_>) -> anyhow::Result<Checked> {
    let mut problems = Vec::new();
    let text = match std::fs::read(src.join(MANIFEST)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            problems.push(format!(
                "no {MANIFEST} in {}: not a backup written by carnet admin backup, or one cut short before its end",
                src.display()
            ));
            return Ok(Checked { manifest: None, problems });
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", src.join(MANIFEST).display())),
    };
    let manifest: Manifest = match serde_json::from_slice(&text) {
        Ok(m) => m,
        Err(e) => {
            problems.push(format!("{MANIFEST} does not parse: {e}"));
            return Ok(Checked { manifest: None, problems });
        }
    };
    if manifest.format != FORMAT || manifest.version != FORMAT_VERSION {
        problems.push(format!(
            "{MANIFEST}: format {} version {}, expected {FORMAT} version {FORMAT_VERSION}",
            manifest.format, manifest.version
        ));
        return Ok(Checked { manifest: None, problems });
    }
    if uuid::Uuid::parse_str(&manifest.backup_id).is_err() {
        problems.push(format!("{MANIFEST}: backup_id is not a UUID"));
    }

    // Every file the manifest lists, as it was written.
    let mut intact = BTreeMap::new();
    for (name, expected) in &manifest.files {
        if !allowed_name(name) {
            problems.push(format!("{MANIFEST} lists {name:?}, which no backup holds"));
            continue;
        }
        let path = src.join(name);
        match hash_file(&path) {
            Ok(found) if found == *expected => {
                intact.insert(name.as_str(), path);
            }
            Ok(_) => problems.push(format!("{name} was changed since the backup: its SHA-256 differs from the manifest's")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => problems.push(match name.as_str() {
                LEDGER => format!("no ledger: {LEDGER} is missing (the access history and its signed tree heads belong to every backup)"),
                DATABASE => format!("no database: {DATABASE} is missing"),
                blob => format!("{blob} is missing: a blob listed by the manifest is not in the backup"),
            }),
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    for required in [DATABASE, LEDGER] {
        if !manifest.files.contains_key(required) {
            problems.push(match required {
                LEDGER => format!("no ledger: {MANIFEST} lists no {LEDGER}"),
                _ => format!("no database: {MANIFEST} lists no {DATABASE}"),
            });
        }
    }
    let mut present = Vec::new();
    walk(src, "", &mut present);
    present.sort();
    for name in present.iter().filter(|n| n.as_str() != MANIFEST && !manifest.files.contains_key(n.as_str())) {
        problems.push(format!("{name} is in the backup but not in its manifest"));
    }

    let keyring = match keys.open() {
        None => {
            problems.push(
                "no keys: pass --keys DIR (the master keys copied with --keys-to), or --token when they are in a PKCS#11 \
                 token; without them the backup restores unreadable and no blob can be checked"
                    .to_owned(),
            );
            None
        }
        Some(Ok(ring)) => Some(ring),
        Some(Err(e)) => {
            problems.push(format!("no keys: {e:#}"));
            None
        }
    };

    // The database: its counts, and each document's blob.
    let mut public_key = carnet_domain::hex::decode_array::<32>(&manifest.ledger.public_key).ok();
    if let Some(path) = intact.get(DATABASE) {
        let db = Database::open_snapshot(path).await.context("opening the database snapshot")?;
        match db.inventory().await {
            Err(e) => problems.push(format!("{DATABASE} cannot be read: {e}")),
            Ok(inventory) => {
                let documents = inventory.documents.len() as u64;
                if inventory.records != manifest.counts.records || documents != manifest.counts.documents {
                    problems.push(format!(
                        "{DATABASE} holds {} records and {documents} documents, the manifest counts {} and {}",
                        inventory.records, manifest.counts.records, manifest.counts.documents
                    ));
                }
                let blobs = manifest.files.keys().filter(|n| n.starts_with(BLOBS)).count() as u64;
                if blobs != manifest.counts.blobs {
                    problems.push(format!("the manifest lists {blobs} blobs and counts {}", manifest.counts.blobs));
                }
                for (id, ins) in &inventory.documents {
                    let name = format!("{BLOBS}/{id}");
                    if !manifest.files.contains_key(&name) {
                        problems
                            .push(format!("document {id} has no blob in the backup ({name}): were the blobs copied before the databases?"));
                        continue;
                    }
                    if let (Some(ring), Some(path)) = (&keyring, intact.get(name.as_str()))
                        && let Err(problem) = open_document(&db, ring.as_ref(), *id, ins, path).await
                    {
                        problems.push(format!("document {id}: {problem}"));
                    }
                }
                if let Some(ring) = &keyring {
                    match carnet_service::ledger_public_key(&db, ring.as_ref()).await {
                        Ok(Some(key)) => {
                            if Some(key) != public_key {
                                problems.push(format!("the ledger's public key in {MANIFEST} is not the one the database holds"));
                            }
                            public_key = Some(key);
                        }
                        Ok(None) => problems.push(format!("{DATABASE} holds no ledger signing key")),
                        Err(e) => problems.push(format!("the ledger's signing key does not open with these master keys: {e}")),
                    }
                }
            }
        }
        db.close().await;
    }

    // The ledger: the whole tree recomputed, its heads checked, its size as counted.
    if let Some(path) = intact.get(LEDGER) {
        let store = LedgerStore::open_snapshot(path).await.context("opening the ledger snapshot")?;
        let key = public_key.unwrap_or([0; 32]);
        match carnet_ledger::verify_store(&store, &[key]).await {
            Err(e) => problems.push(format!("{LEDGER} cannot be read: {e}")),
            Ok(report) => {
                if let Some(problem) = &report.problem {
                    let at = report.first_bad_index.map(|i| format!(" at index {i}")).unwrap_or_default();
                    problems.push(format!("the ledger does not verify{at}: {problem}"));
                } else if report.entries != manifest.counts.ledger_entries {
                    problems.push(format!(
                        "the ledger holds {} entries, the manifest counts {}",
                        report.entries, manifest.counts.ledger_entries
                    ));
                }
                match store.latest_tree_head().await {
                    Ok(head) if head == manifest.ledger.tree_head => {}
                    Ok(_) => problems.push(format!("the ledger's latest signed tree head is not the one {MANIFEST} records")),
                    Err(e) => problems.push(format!("{LEDGER} cannot be read: {e}")),
                }
            }
        }
        store.close().await;
    }
    Ok(Checked { manifest: Some(manifest), problems })
}

/// Decrypts a document's blob whole (every chunk's AEAD tag checked) and compares the
/// plaintext's SHA-256 with the one its row keeps. Nothing decrypted is kept.
async fn open_document(db: &Database, keys: &dyn KeyProvider, id: DocumentId, ins: &Ins, path: &Path) -> Result<(), String> {
    let wrapped = db.find_patient_key(ins).await.map_err(|e| e.to_string())?.ok_or("its patient's data key is not in the database")?;
    let key = keys
        .unwrap(&wrapped, ins.as_str().as_bytes())
        .map_err(|e| format!("its patient's data key does not open (master key {} missing?): {e}", wrapped.master_key_id))?;
    let expected = db.find_document(id).await.map_err(|e| e.to_string())?.map(|(meta, _)| meta.sha256);
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let mut header = [0u8; carnet_crypto::blob::HEADER_LEN];
    file.read_exact(&mut header).map_err(|_| "its blob is shorter than a header".to_owned())?;
    let opener = carnet_crypto::blob::BlobOpener::new(&key, *id.as_bytes(), &header, len).map_err(|e| format!("its blob: {e}"))?;
    let mut hasher = Sha256::new();
    let mut chunk = Vec::new();
    for i in 0..opener.layout().chunks {
        let (start, end) = opener.layout().chunk_span(i);
        chunk.resize(usize::try_from(end - start).map_err(|e| e.to_string())?, 0);
        file.read_exact(&mut chunk).map_err(|e| format!("its blob: {e}"))?;
        let plain = opener.open_chunk(i, &chunk).map_err(|e| format!("its blob does not decrypt (chunk {i}: {e})"))?;
        hasher.update(&plain);
    }
    let sha256: [u8; 32] = hasher.finalize().into();
    if expected.is_some_and(|h| h != sha256) {
        return Err("its content's SHA-256 differs from the one its row keeps".into());
    }
    Ok(())
}

/// `carnet admin verify-backup SRC [--keys DIR | --token]`: exits 1 on any problem.
pub async fn verify(settings: &Settings, args: &VerifyArgs) -> anyhow::Result<()> {
    let token = if args.token {
        Some(settings.pkcs11()?.context("--token: the configuration names no PKCS#11 token ([storage] keys = \"pkcs11\")")?)
    } else {
        None
    };
    let keys = match (&token, &args.keys) {
        (Some(token), _) => BackupKeys::Token(token),
        (None, Some(dir)) => BackupKeys::Dir(dir),
        (None, None) => BackupKeys::None,
    };
    let checked = check(&args.src, keys).await?;
    if !checked.problems.is_empty() {
        println!("backup {} has {} problem(s):", args.src.display(), checked.problems.len());
        for p in &checked.problems {
            println!("- {p}");
        }
        std::process::exit(1);
    }
    if let Some(m) = &checked.manifest {
        println!(
            "backup ok: {} ({}): {} records, {} documents (every blob decrypted), {} ledger entries verified",
            m.backup_id, m.created_at, m.counts.records, m.counts.documents, m.counts.ledger_entries
        );
    }
    Ok(())
}

/// `carnet admin restore SRC [--keys-from DIR]`: into an empty data directory only.
pub async fn restore(settings: &Settings, args: &RestoreArgs) -> anyhow::Result<()> {
    let files = embedded(settings)?;
    if let Some(names) = contents(&settings.data_dir)? {
        bail!(
            "the data directory {} is not empty (it holds {}): a restore goes into an empty one only, so that nothing of \
             another installation mixes with the backup",
            settings.data_dir.display(),
            listed(&names)
        );
    }
    let token = settings.pkcs11()?;
    if let (Some(token), Some(_)) = (&token, &args.keys_from) {
        bail!(
            "--keys-from: the configuration keeps the master keys in the PKCS#11 token {:?}; the backup is read with it",
            token.token_label
        );
    }
    let keys_outside = !resolved(&files.keys)?.starts_with(resolved(&settings.data_dir)?);
    let keys_dir = match &args.keys_from {
        _ if token.is_some() => files.keys.clone(),
        Some(dir) => dir.clone(),
        None if !key_files(&files.keys).is_empty() => files.keys.clone(),
        None => bail!(
            "no master keys: pass --keys-from DIR (the directory written by carnet admin backup --keys-to); {} holds none, \
             and without them every document of the backup is unreadable",
            files.keys.display()
        ),
    };
    if args.keys_from.is_some() && keys_outside && !key_files(&files.keys).is_empty() {
        bail!("--keys-from given, but the keys directory {} already holds master keys: use one or the other", files.keys.display());
    }
    let keys = match &token {
        Some(token) => BackupKeys::Token(token),
        None => BackupKeys::Dir(&keys_dir),
    };
    let checked = check(&args.src, keys).await?;
    let Some(manifest) = checked.manifest.filter(|_| checked.problems.is_empty()) else {
        let mut message = format!("the backup {} cannot be restored:", args.src.display());
        for p in &checked.problems {
            message.push_str(&format!("\n- {p}"));
        }
        bail!(message);
    };

    private_dir(&settings.data_dir)?;
    if args.keys_from.is_some() {
        copy_keys(&keys_dir, &files.keys)?;
    }
    for (name, to) in [(DATABASE, &files.database), (LEDGER, &files.ledger)] {
        let entry = copy_hashed(&args.src.join(name), to).with_context(|| format!("restoring {name}"))?;
        anyhow::ensure!(entry == manifest.files[name], "{name} changed while it was restored");
    }
    private_dir(&files.blobs)?;
    for (name, expected) in manifest.files.iter().filter(|(n, _)| n.starts_with(BLOBS)) {
        let id = name.rsplit('/').next().unwrap_or_default();
        let entry = copy_hashed(&args.src.join(name), &files.blobs.join(id)).with_context(|| format!("restoring {name}"))?;
        anyhow::ensure!(entry == *expected, "{name} changed while it was restored");
    }
    sync_file(&files.blobs)?;
    sync_file(&settings.data_dir)?;

    // The restored ledger says what happened to it before anything else is appended.
    let app = crate::App::open(settings).await.context("opening the restored installation")?;
    let index = app.carnet.record_restore(&crate::local_operator(), &manifest.backup_id, manifest.ledger.tree_head.as_ref()).await?;
    app.carnet.close().await;
    println!(
        "restored backup {} ({}) into {}: {} records, {} documents; ledger entry {index} records the restore \
         (the backup's head: {} entries)",
        manifest.backup_id,
        manifest.created_at,
        settings.data_dir.display(),
        manifest.counts.records,
        manifest.counts.documents,
        manifest.counts.ledger_entries,
    );
    Ok(())
}
