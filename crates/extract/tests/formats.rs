//! Every format with real files made here: PDFs written by hand (text layer, Helvetica with
//! WinAnsi accents), scan-like PNG and JPEG images and an image-only PDF rendered from them by
//! poppler's `pdftoppm`, CDA level 1 and 3 documents written from the CDA R2 structure; then the hostile
//! set. Needs poppler-utils, tesseract-ocr and tesseract-ocr-fra (scripts/test installs them).

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use carnet_extract::tools::{Extractor, ToolLimits, Tools};
use carnet_extract::{Reason, Unavailable};

const FRENCH: &str = "Allergie à la pénicilline, créatinine élevée";

/// A PDF of the given page content streams (one object per page, Helvetica as F1, an optional
/// grey image as Im1 on every page).
fn pdf(pages: &[Vec<u8>], image: Option<(u32, u32, &[u8])>) -> Vec<u8> {
    let n = pages.len();
    // Objects: 1 catalog, 2 pages, 3 font, 4 image, then page i at 5 + 2i, its content at 6 + 2i.
    let mut objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        format!("<< /Type /Pages /Kids [{}] /Count {n} >>", (0..n).map(|i| format!("{} 0 R", 5 + 2 * i)).collect::<Vec<_>>().join(" "))
            .into_bytes(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_vec(),
    ];
    match image {
        Some((w, h, data)) => {
            let mut o = format!(
                "<< /Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceGray /BitsPerComponent 8 /Length {} >>\nstream\n",
                data.len()
            )
            .into_bytes();
            o.extend_from_slice(data);
            o.extend_from_slice(b"\nendstream");
            objects.push(o);
        }
        None => objects.push(b"null".to_vec()),
    }
    for (i, content) in pages.iter().enumerate() {
        let xobject = if image.is_some() { "/XObject << /Im1 4 0 R >>" } else { "" };
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents {} 0 R /Resources << /Font << /F1 3 0 R >> {xobject} >> >>",
                6 + 2 * i
            )
            .into_bytes(),
        );
        let mut o = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
        o.extend_from_slice(content);
        o.extend_from_slice(b"\nendstream");
        objects.push(o);
    }
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = vec![];
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(o);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes());
    out
}

/// A page showing `text` (Latin-1, as WinAnsi encodes French).
fn text_page(text: &str) -> Vec<u8> {
    let mut s = b"BT /F1 28 Tf 40 700 Td (".to_vec();
    s.extend(text.chars().map(|c| u8::try_from(u32::from(c)).expect("Latin-1")));
    s.extend_from_slice(b") Tj ET");
    s
}

/// Runs poppler's `pdftoppm` on `pdf` with `args`, returning what it wrote.
fn pdftoppm(pdf: &[u8], args: &[&str]) -> Vec<u8> {
    let mut child = Command::new("pdftoppm")
        .args(args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("pdftoppm (poppler-utils) is installed");
    child.stdin.take().expect("stdin").write_all(pdf).expect("write");
    let out = child.wait_with_output().expect("pdftoppm");
    assert!(out.status.success());
    out.stdout
}

/// A scan: the text PDF rendered to a grey bitmap, placed alone on a page (no text layer).
fn scanned_pdf(text: &str) -> Vec<u8> {
    let pgm = pdftoppm(&pdf(&[text_page(text)], None), &["-gray", "-r", "150", "-singlefile"]);
    // P5\n<w> <h>\n255\n<data>
    let mut fields = pgm.splitn(4, |b| b.is_ascii_whitespace());
    let (_, w, h) = (fields.next(), fields.next().expect("w"), fields.next().expect("h"));
    let number = |b: &[u8]| -> u32 { std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()).expect("a PGM dimension") };
    let (w, h) = (number(w), number(h));
    let data = &pgm[pgm.len() - (w * h) as usize..];
    pdf(&[b"q 595 0 0 842 0 0 cm /Im1 Do Q".to_vec()], Some((w, h, data)))
}

fn extractor() -> Extractor {
    Extractor::default()
}

fn reason(outcome: Result<String, Unavailable>) -> Reason {
    match outcome {
        Ok(text) => panic!("expected text unavailable, got {text:?}"),
        Err(e) => e.reason,
    }
}

fn folded(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn a_pdf_text_layer_is_read_with_its_accents() {
    let doc = pdf(&[text_page(FRENCH), text_page("Page deux : hémoglobine")], None);
    let text = extractor().extract("application/pdf", &doc).await.expect("text");
    assert!(folded(&text).contains(FRENCH), "{text}");
    assert!(text.contains("hémoglobine"), "{text}");
}

#[tokio::test]
async fn a_scanned_pdf_a_png_and_a_jpeg_are_read_by_french_ocr() {
    let text = extractor().extract("application/pdf", &scanned_pdf(FRENCH)).await.expect("OCR text");
    assert!(folded(&text).contains("pénicilline") && text.contains("créatinine"), "{text}");
    let png = pdftoppm(&pdf(&[text_page(FRENCH)], None), &["-png", "-r", "150", "-singlefile"]);
    let text = extractor().extract("image/png", &png).await.expect("OCR text");
    assert!(folded(&text).contains("Allergie à la pénicilline"), "{text}");
    let jpeg = pdftoppm(&pdf(&[text_page(FRENCH)], None), &["-jpeg", "-r", "150", "-singlefile"]);
    let text = extractor().extract("image/jpeg", &jpeg).await.expect("OCR text");
    assert!(folded(&text).contains("créatinine élevée"), "{text}");
}

#[tokio::test]
async fn cda_level_3_gives_titles_and_narratives() {
    let cda = r#"<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <id root="1.2.250.1.213.1.1.9" extension="CR-BIO-1"/>
  <code code="11502-2" codeSystem="2.16.840.1.113883.6.1" displayName="CR d'examens biologiques"/>
  <title>Compte rendu de biologie</title>
  <component><structuredBody>
    <component><section>
      <code code="18719-5" codeSystem="2.16.840.1.113883.6.1"/>
      <title>Biochimie</title>
      <text><table><tr><td>Créatinine</td><td>98 µmol/l</td></tr></table>
        <paragraph>Fonction rénale &lt;normale&gt;</paragraph></text>
      <entry><observation classCode="OBS" moodCode="EVN"><code code="2160-0" displayName="ignored"/></observation></entry>
      <component><section><title>Allergies</title><text><list><item>Pénicilline</item></list></text></section></component>
    </section></component>
  </structuredBody></component>
</ClinicalDocument>"#;
    let text = extractor().extract("text/xml", cda.as_bytes()).await.expect("text");
    for expected in
        ["Compte rendu de biologie", "Biochimie", "Créatinine", "98 µmol/l", "Fonction rénale <normale>", "Allergies", "Pénicilline"]
    {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    assert!(!text.contains("2160-0") && !text.contains("ignored") && !text.contains("CR-BIO-1"), "{text}");
}

#[tokio::test]
async fn cda_level_1_extracts_its_embedded_pdf_or_text() {
    let level1 = |media_type: &str, body: &[u8]| {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3"><title>Lettre</title>
  <component><nonXMLBody><text mediaType="{media_type}" representation="B64">{}</text></nonXMLBody></component>
</ClinicalDocument>"#,
            base64::engine::general_purpose::STANDARD.encode(body)
        )
    };
    let embedded = pdf(&[text_page(FRENCH)], None);
    let text = extractor().extract("text/xml", level1("application/pdf", &embedded).as_bytes()).await.expect("text");
    assert!(folded(&text).contains(FRENCH), "{text}");
    let text =
        extractor().extract("text/xml", level1("text/plain", "Ordonnance : amoxicilline".as_bytes()).as_bytes()).await.expect("text");
    assert_eq!(text, "Ordonnance : amoxicilline");
}

#[tokio::test]
async fn hostile_documents_end_as_text_unavailable_with_their_reason() {
    let e = extractor();
    // A PDF with 10,000 pages.
    let pages: Vec<Vec<u8>> = (0..10_000).map(|_| b"".to_vec()).collect();
    assert_eq!(reason(e.extract("application/pdf", &pdf(&pages, None)).await), Reason::TooManyPages);
    // A scan with more pages than are OCR'd.
    let scan = scanned_pdf("x");
    let limited = Extractor { limits: ToolLimits { max_ocr_pages: 0, ..ToolLimits::default() }, ..Extractor::default() };
    assert_eq!(reason(limited.extract("application/pdf", &scan).await), Reason::TooManyPages);
    // A truncated PDF.
    let whole = pdf(&[text_page(FRENCH)], None);
    assert!(matches!(reason(e.extract("application/pdf", &whole[..whole.len() / 3]).await), Reason::Malformed | Reason::ToolFailed));
    // Not a PDF at all.
    assert_eq!(reason(e.extract("application/pdf", b"GIF89a").await), Reason::Malformed);
    // A 1-pixel-high 100,000 × 100,000 PNG header: refused before any decoding.
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    png.extend_from_slice(&100_000u32.to_be_bytes());
    png.extend_from_slice(&100_000u32.to_be_bytes());
    png.extend_from_slice(&[8, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(reason(e.extract("image/png", &png).await), Reason::TooManyPixels);
    // An XML bomb.
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><ClinicalDocument><title>&lol1;</title></ClinicalDocument>"#;
    assert_eq!(reason(e.extract("text/xml", bomb.as_bytes()).await), Reason::Malformed);
    // A binary labelled text/plain.
    let binary: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    assert_eq!(reason(e.extract("text/plain", &binary).await), Reason::Malformed);
    // A type nothing reads.
    assert_eq!(reason(e.extract("application/zip", b"PK").await), Reason::Unsupported);
    // A document with no text.
    assert_eq!(reason(e.extract("text/plain", b"  \n ").await), Reason::NoText);
}

#[tokio::test]
async fn a_pdf_decompression_bomb_is_stopped_by_the_limits() {
    // 256 MiB of spaces behind FlateDecode, compressed by Python's zlib.
    let out = Command::new("python3")
        .args(["-c", "import sys,zlib; c=zlib.compressobj(9); sys.stdout.buffer.write(b''.join(c.compress(b' '*(1<<24)) for _ in range(16))+c.flush())"])
        .output()
        .expect("python3");
    let mut content = Vec::new();
    let stream = out.stdout;
    let mut doc = pdf(&[b"".to_vec()], None);
    // Swap the empty content stream for the compressed one.
    let marker = b"<< /Length 0 >>\nstream\n\nendstream";
    let at = doc.windows(marker.len()).position(|w| w == marker).expect("content stream");
    content.extend_from_slice(format!("<< /Length {} /Filter /FlateDecode >>\nstream\n", stream.len()).as_bytes());
    content.extend_from_slice(&stream);
    content.extend_from_slice(b"\nendstream");
    doc.splice(at..at + marker.len(), content);
    let tight = Extractor {
        limits: ToolLimits { timeout: Duration::from_secs(5), memory_bytes: 256 * 1024 * 1024, ..ToolLimits::default() },
        ..Extractor::default()
    };
    let started = std::time::Instant::now();
    let outcome = tight.extract("application/pdf", &doc).await;
    let refused = outcome.expect_err("no text from a bomb");
    assert!(matches!(refused.reason, Reason::NoText | Reason::Timeout | Reason::ToolFailed), "{refused}");
    eprintln!("{refused}");
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[tokio::test]
async fn a_hanging_tool_is_killed_at_its_deadline_and_a_missing_one_is_named() {
    let dir = tempfile::tempdir().expect("dir");
    let hang = dir.path().join("pdfinfo");
    std::fs::write(&hang, "#!/bin/sh\nexec sleep 30\n").expect("script");
    std::fs::set_permissions(&hang, std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
    let hanging = Extractor {
        tools: Tools { pdfinfo: hang, ..Tools::default() },
        limits: ToolLimits { timeout: Duration::from_millis(500), ..ToolLimits::default() },
        ..Extractor::default()
    };
    let started = std::time::Instant::now();
    assert_eq!(reason(hanging.extract("application/pdf", &pdf(&[text_page(FRENCH)], None)).await), Reason::Timeout);
    assert!(started.elapsed() < Duration::from_secs(10));

    let missing = Extractor { tools: Tools { pdftotext: "/nonexistent/pdftotext".into(), ..Tools::default() }, ..Extractor::default() };
    let refused = missing.extract("application/pdf", &pdf(&[text_page(FRENCH)], None)).await.expect_err("missing");
    assert_eq!(refused.reason, Reason::ToolMissing);
    assert!(refused.detail.contains("/nonexistent/pdftotext"), "{refused}");
}

#[tokio::test]
async fn a_tool_over_its_memory_limit_fails_and_the_caller_goes_on() {
    let small = Extractor { limits: ToolLimits { memory_bytes: 4 * 1024 * 1024, ..ToolLimits::default() }, ..Extractor::default() };
    assert_eq!(reason(small.extract("application/pdf", &pdf(&[text_page(FRENCH)], None)).await), Reason::ToolFailed);
    // The same document with the default limits.
    assert!(extractor().extract("application/pdf", &pdf(&[text_page(FRENCH)], None)).await.is_ok());
}
