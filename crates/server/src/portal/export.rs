//! *Télécharger toutes mes données*: the holder's copy of their record as one ZIP file, streamed.
//!
//! The archive is written by hand (ZIP "stored" entries, no compression) rather than with the
//! `zip` crate: documents are mostly PDFs and images that do not compress, a stored entry can be
//! streamed as it is read (its CRC and sizes follow it in a data descriptor), and the only
//! dependency this needs, a CRC-32, was already in the tree. Memory is bounded by one chunk of
//! one document at a time (the channel below holds at most `IN_FLIGHT` pieces), plus the FHIR
//! Bundle and the README, built in memory first (metadata and at most
//! `EXPORT_HISTORY_LIMIT` history entries). Without ZIP64, an archive is at most 4 GiB: a
//! larger record is refused before anything is read (`ExportError::TooLarge`).

use std::io;

use bytes::{BufMut, Bytes, BytesMut};
use carnet_fhir::model::{Bundle, BundleEntry};
use carnet_fhir::patient_views::{AuditApp, AuditRecord, audit_event};
use carnet_fhir::render::{RenderContext, document_reference};
use carnet_service::{AccessReceipts, Carnet, Outcome, RecordExport, Visible};
use futures::StreamExt;
use time::OffsetDateTime;

/// How many pieces may wait between the reader and the client.
const IN_FLIGHT: usize = 4;
/// The largest title part of a file name (characters).
const MAX_SLUG: usize = 50;
/// A ZIP without ZIP64 counts sizes and offsets in 32 bits, and entries in 16.
const MAX_ARCHIVE: u64 = u32::MAX as u64;
const MAX_ENTRIES: usize = u16::MAX as usize;

const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

#[derive(Debug, PartialEq, Eq)]
pub enum ExportError {
    /// The archive would exceed what a ZIP without ZIP64 holds.
    TooLarge,
    /// The Bundle did not serialize (it cannot with owned, checked data; serializing is
    /// fallible by type).
    Unrenderable,
}

/// The file name of a document inside the archive: `documents/NNN-title.ext`. Only ASCII
/// letters, digits and `-` come from the title, so a name never climbs out of `documents/` nor
/// names a device, whatever the depositor wrote; the number makes it unique and keeps the order.
pub fn document_path(position: usize, title: Option<&str>, mime_type: &str) -> String {
    let mut slug = String::new();
    for c in title.unwrap_or_default().chars().flat_map(|c| c.to_lowercase()) {
        let plain = match c {
            'à' | 'â' | 'ä' | 'á' | 'ã' | 'å' => "a",
            'é' | 'è' | 'ê' | 'ë' => "e",
            'î' | 'ï' | 'í' | 'ì' => "i",
            'ô' | 'ö' | 'ó' | 'ò' | 'õ' => "o",
            'ù' | 'û' | 'ü' | 'ú' => "u",
            'ç' => "c",
            'ÿ' => "y",
            'ñ' => "n",
            'œ' => "oe",
            'æ' => "ae",
            c if c.is_ascii_alphanumeric() => {
                slug.push(c);
                continue;
            }
            _ => "-",
        };
        slug.push_str(plain);
    }
    let mut collapsed = String::with_capacity(slug.len());
    for part in slug.split('-').filter(|p| !p.is_empty()) {
        if !collapsed.is_empty() {
            collapsed.push('-');
        }
        collapsed.push_str(part);
    }
    let mut slug: String = collapsed.chars().take(MAX_SLUG).collect();
    while slug.ends_with('-') {
        slug.pop();
    }
    if slug.is_empty() {
        slug.push_str("document");
    }
    format!("documents/{:03}-{slug}.{}", position + 1, extension(mime_type))
}

fn extension(mime_type: &str) -> &'static str {
    match mime_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase().as_str() {
        "application/pdf" => "pdf",
        "text/plain" => "txt",
        "text/xml" | "application/xml" | "application/hl7-v3+xml" => "xml",
        "application/json" | "application/fhir+json" => "json",
        "text/html" => "html",
        "text/rtf" | "application/rtf" => "rtf",
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/tiff" => "tif",
        "application/dicom" => "dcm",
        _ => "bin",
    }
}

/// One file of the archive, as the central directory lists it.
struct Written {
    name: String,
    crc: u32,
    size: u32,
    offset: u32,
}

/// MS-DOS date and time (what ZIP headers carry), in UTC.
fn dos_time(at: OffsetDateTime) -> (u16, u16) {
    let time = (u16::from(at.hour()) << 11) | (u16::from(at.minute()) << 5) | (u16::from(at.second()) / 2);
    let year = u16::try_from(at.year() - 1980).unwrap_or(0).min(127);
    let date = (year << 9) | (u16::from(u8::from(at.month())) << 5) | u16::from(at.day());
    (time, date)
}

/// General purpose flag bit 3: CRC and sizes follow the data in a descriptor.
const DESCRIPTOR_FOLLOWS: u16 = 0x0008;
const VERSION: u16 = 20;

fn local_header(name: &str, (time, date): (u16, u16)) -> Bytes {
    let mut b = BytesMut::with_capacity(30 + name.len());
    b.put_u32_le(0x0403_4b50);
    b.put_u16_le(VERSION);
    b.put_u16_le(DESCRIPTOR_FOLLOWS);
    b.put_u16_le(0); // stored
    b.put_u16_le(time);
    b.put_u16_le(date);
    b.put_u32_le(0);
    b.put_u32_le(0);
    b.put_u32_le(0);
    b.put_u16_le(name.len() as u16);
    b.put_u16_le(0);
    b.put_slice(name.as_bytes());
    b.freeze()
}

fn descriptor(crc: u32, size: u32) -> Bytes {
    let mut b = BytesMut::with_capacity(16);
    b.put_u32_le(0x0807_4b50);
    b.put_u32_le(crc);
    b.put_u32_le(size);
    b.put_u32_le(size);
    b.freeze()
}

fn central_directory(files: &[Written], at: (u16, u16), offset: u32) -> Bytes {
    let mut b = BytesMut::new();
    for f in files {
        b.put_u32_le(0x0201_4b50);
        b.put_u16_le(VERSION);
        b.put_u16_le(VERSION);
        b.put_u16_le(DESCRIPTOR_FOLLOWS);
        b.put_u16_le(0);
        b.put_u16_le(at.0);
        b.put_u16_le(at.1);
        b.put_u32_le(f.crc);
        b.put_u32_le(f.size);
        b.put_u32_le(f.size);
        b.put_u16_le(f.name.len() as u16);
        b.put_u16_le(0);
        b.put_u16_le(0);
        b.put_u16_le(0);
        b.put_u16_le(0);
        b.put_u32_le(0);
        b.put_u32_le(f.offset);
        b.put_slice(f.name.as_bytes());
    }
    let size = b.len() as u32;
    b.put_u32_le(0x0605_4b50);
    b.put_u16_le(0);
    b.put_u16_le(0);
    b.put_u16_le(files.len() as u16);
    b.put_u16_le(files.len() as u16);
    b.put_u32_le(size);
    b.put_u32_le(offset);
    b.put_u16_le(0);
    b.freeze()
}

/// What goes into the archive: the files built in memory, then the documents, read on the way.
pub struct Archive {
    small: Vec<(String, Bytes)>,
    documents: Vec<(String, Visible)>,
}

/// The archive's size, if a ZIP without ZIP64 can hold it.
fn archive_size(names_and_sizes: impl Iterator<Item = (usize, u64)>) -> Option<u64> {
    let mut total: u64 = 22;
    let mut count = 0usize;
    for (name, size) in names_and_sizes {
        count += 1;
        total = total.checked_add(30 + 16 + 46 + 2 * name as u64)?.checked_add(size)?;
    }
    (count <= MAX_ENTRIES && total <= MAX_ARCHIVE).then_some(total)
}

/// The README, the FHIR Bundle and the documents of `export`, named and checked for size.
pub fn archive(
    export: RecordExport,
    receipts: &AccessReceipts,
    base_url: &str,
    carnet: &Carnet,
    at: OffsetDateTime,
) -> Result<Archive, ExportError> {
    let codes = &carnet.config().codes;
    let ctx = RenderContext { base_url, codes };
    let mut documents = Vec::with_capacity(export.documents.len());
    let mut entries = Vec::with_capacity(export.documents.len() + export.history.len());
    for (position, (visible, view)) in export.documents.into_iter().enumerate() {
        let path = document_path(position, view.title.as_deref(), &view.meta.xds.mime_type);
        let mut reference = document_reference(&view.meta, view.title.as_deref(), export.ins_kind, &ctx);
        // The copy points at its own file, not at the server: the archive stands alone.
        for content in &mut reference.content {
            content.attachment.url = Some(path.clone());
        }
        entries.push(BundleEntry {
            full_url: Some(format!("{base_url}/DocumentReference/{}", view.meta.id)),
            resource: Some(reference.into()),
            ..BundleEntry::default()
        });
        documents.push((path, visible));
    }
    for e in &export.history {
        let Ok(when) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(e.entry.at) * 1_000_000) else { continue };
        let record = AuditRecord {
            index: e.index,
            at: when,
            actor_reference: &e.entry.actor.reference,
            actor_role: &e.entry.actor.role,
            actor_name: e.entry.actor.name.as_deref(),
            ins: e.entry.ins.as_ref(),
            ins_kind: export.ins_kind,
            action: &e.entry.action,
            target: e.entry.target.as_deref(),
            permitted: e.entry.outcome == Outcome::Permit,
            reason: &e.entry.reason,
            justification: e.entry.justification.as_deref(),
            app: e.entry.actor.app.as_deref().map(|client_id| AuditApp { client_id, name: carnet.app_name(client_id) }),
        };
        entries.push(BundleEntry {
            full_url: Some(format!("{base_url}/AuditEvent/ledger-{}", e.index)),
            resource: Some(audit_event(&record).into()),
            ..BundleEntry::default()
        });
    }
    let bundle =
        Bundle { type_: "collection".into(), timestamp: Some(carnet_fhir::datetime::instant(at)), entry: entries, ..Bundle::default() };
    let bundle = serde_json::to_vec_pretty(&bundle).map_err(|_| ExportError::Unrenderable)?;
    let readme = readme(&documents, export.history.len(), export.history_complete, at);
    let receipts = serde_json::to_vec_pretty(receipts).map_err(|_| ExportError::Unrenderable)?;
    let small = vec![
        ("LISEZMOI.txt".to_owned(), Bytes::from(readme)),
        ("dossier.fhir.json".to_owned(), Bytes::from(bundle)),
        ("preuves-des-acces.json".to_owned(), Bytes::from(receipts)),
    ];
    let sizes = small.iter().map(|(n, b)| (n.len(), b.len() as u64)).chain(documents.iter().map(|(n, v)| (n.len(), v.meta().size)));
    archive_size(sizes).ok_or(ExportError::TooLarge)?;
    Ok(Archive { small, documents })
}

fn readme(documents: &[(String, Visible)], history: usize, complete: bool, at: OffsetDateTime) -> String {
    let mut text = format!(
        "Copie de votre dossier médical Carnet, faite le {}.\r\n\r\n\
         Ce fichier contient :\r\n\r\n\
         - LISEZMOI.txt : ce texte.\r\n\
         - documents/ : chaque document que vous pouvez consulter dans votre dossier, tel qu'il a été déposé \
         ({} en tout). Les noms commencent par un numéro, du plus ancien au plus récent dépôt.\r\n\
         - dossier.fhir.json : la description de ces documents (type, date, auteur, visibilité) et l'historique \
         des accès à votre dossier ({} entrées{}), au format international FHIR R4 (un « Bundle » de type \
         « collection » : des « DocumentReference » et des « AuditEvent »). Un logiciel de santé peut le lire ; \
         chaque description indique le fichier du dossier documents/ qu'elle concerne.\r\n\
         - preuves-des-acces.json : pour chaque accès de cet historique, la preuve qu'il est inscrit dans le \
         registre signé de Carnet. Gardez-la : la commande « carnet ledger check-receipt » la vérifie, même \
         sans Carnet, et dit si ces accès sont toujours au registre ou s'ils en ont été effacés.\r\n\r\n\
         Cette copie a elle-même été inscrite dans l'historique des accès de votre dossier.\r\n\
         Gardez-la en lieu sûr : elle contient des informations médicales.\r\n",
        super::words::date_time(at),
        documents.len(),
        history,
        if complete { "" } else { ", les plus anciennes seulement" },
    );
    text = text.replace('\u{a0}', " ");
    text
}

/// The archive as a stream of bytes. A document that fails to read ends the stream with an
/// error: the connection is cut, never a truncated archive presented as whole.
pub fn stream(
    carnet: std::sync::Arc<Carnet>,
    archive: Archive,
    at: OffsetDateTime,
) -> impl futures::Stream<Item = Result<Bytes, io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, io::Error>>(IN_FLIGHT);
    tokio::spawn(async move {
        if let Err(e) = write(&carnet, archive, at, &tx).await {
            // The client may be gone already; if not, the error cuts the connection.
            let _ = tx.send(Err(e)).await;
        }
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|piece| (piece, rx)) })
}

async fn write(
    carnet: &Carnet,
    archive: Archive,
    at: OffsetDateTime,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, io::Error>>,
) -> Result<(), io::Error> {
    let gone = || io::Error::new(io::ErrorKind::BrokenPipe, "the client went away");
    let send = |b: Bytes| async move { tx.send(Ok(b)).await.map_err(|_| gone()) };
    let when = dos_time(at);
    let mut offset: u64 = 0;
    let mut files = Vec::with_capacity(archive.small.len() + archive.documents.len());
    let position = |offset: u64| u32::try_from(offset).map_err(|_| io::Error::other("the archive outgrew 4 GiB"));
    for (name, bytes) in archive.small {
        let header = local_header(&name, when);
        let crc = CRC32.checksum(&bytes);
        let size = position(bytes.len() as u64)?;
        files.push(Written { name, crc, size, offset: position(offset)? });
        offset += header.len() as u64 + bytes.len() as u64 + 16;
        send(header).await?;
        send(bytes).await?;
        send(descriptor(crc, size)).await?;
    }
    for (name, visible) in archive.documents {
        let header = local_header(&name, when);
        let start = position(offset)?;
        offset += header.len() as u64;
        send(header).await?;
        let content = carnet.content(&visible, None).await.map_err(|e| {
            tracing::error!(error = %e, "a document of an export could not be read; connection aborted");
            io::Error::other(e.to_string())
        })?;
        let mut body = content.body;
        let mut digest = CRC32.digest();
        let mut size: u64 = 0;
        while let Some(piece) = body.next().await {
            let piece = piece.map_err(|e| {
                tracing::error!(error = %e, "a document of an export failed mid-stream; connection aborted");
                io::Error::other(e.to_string())
            })?;
            digest.update(&piece);
            size += piece.len() as u64;
            send(piece).await?;
        }
        let crc = digest.finalize();
        offset += size + 16;
        let size = position(size)?;
        send(descriptor(crc, size)).await?;
        files.push(Written { name, crc, size, offset: start });
    }
    send(central_directory(&files, when, position(offset)?)).await
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_title_becomes_a_plain_name_inside_documents() {
        assert_eq!(
            document_path(0, Some("Compte rendu d’hospitalisation – été 2025"), "application/pdf"),
            "documents/001-compte-rendu-d-hospitalisation-ete-2025.pdf"
        );
        assert_eq!(document_path(11, Some("../../etc/passwd"), "text/plain"), "documents/012-etc-passwd.txt");
        assert_eq!(document_path(2, None, "application/x-inconnu"), "documents/003-document.bin");
        assert_eq!(document_path(3, Some("CON"), "image/jpeg"), "documents/004-con.jpg");
        assert_eq!(document_path(4, Some("////"), "application/pdf"), "documents/005-document.pdf");
    }

    #[test]
    fn dos_times_count_from_1980() {
        let (time, date) = dos_time(time::macros::datetime!(2026-03-12 14:05:30 UTC));
        assert_eq!(time, (14 << 11) | (5 << 5) | 15);
        assert_eq!(date, (46 << 9) | (3 << 5) | 12);
    }

    #[test]
    fn an_archive_past_4_gib_or_65535_files_is_refused() {
        assert!(archive_size([(10, 1_000)].into_iter()).is_some());
        assert!(archive_size([(10, u64::from(u32::MAX))].into_iter()).is_none());
        assert!(archive_size(std::iter::repeat_n((10, 0), MAX_ENTRIES + 1)).is_none());
        assert!(archive_size([(10, u64::MAX)].into_iter()).is_none(), "no overflow");
    }

    proptest! {
        /// Whatever the depositor titled a document, its name stays inside `documents/`, is
        /// plain ASCII, unique by position, and never a parent reference.
        #[test]
        fn every_name_stays_inside_documents(position in 0usize..2000, title in proptest::option::of(".{0,200}"), mime in ".{0,40}") {
            let path = document_path(position, title.as_deref(), &mime);
            let name = path.strip_prefix("documents/").expect("inside documents/");
            prop_assert!(!name.contains('/') && !name.contains('\\') && !name.contains(".."), "{}", path);
            prop_assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'), "{}", path);
            prop_assert!(name.starts_with(&format!("{:03}-", position + 1)), "{}", path);
            prop_assert!(path.len() <= 10 + 5 + 1 + MAX_SLUG + 1 + 4);
        }
    }
}
