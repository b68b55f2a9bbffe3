//! In-process extractors: plain text, HTML, FHIR JSON, CDA R2, and image headers. Pure
//! functions over bounded input; nothing here allocates more than a small multiple of the input
//! or recurses deeper than `InlineLimits::max_depth`.

use base64::Engine as _;
use quick_xml::events::Event;

use crate::{InlineLimits, Outcome, Reason, TextSink, Unavailable};

/// What a CDA R2 document holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cda {
    /// Level 3 (structured body: section titles and narrative) or a level 1 body given as text.
    Text(String),
    /// Level 1: the `nonXMLBody`'s base64 content, with its declared media type, to extract in
    /// turn.
    Embedded { media_type: String, bytes: Vec<u8> },
}

fn check_size(bytes: &[u8], limits: &InlineLimits) -> Outcome<()> {
    if bytes.len() > limits.max_input {
        return Err(Unavailable::new(Reason::TooLarge, format!("{} bytes, at most {} are parsed", bytes.len(), limits.max_input)));
    }
    Ok(())
}

/// Text from bytes that claim to be text: UTF-8 (with or without a byte-order mark), else
/// Windows-1252 when no byte is a control character. Bytes that are mostly not text (a binary
/// labelled `text/plain`) are refused.
pub fn decode_text(bytes: &[u8]) -> Outcome<std::borrow::Cow<'_, str>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let is_control = |c: char| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0C');
    match std::str::from_utf8(bytes) {
        Ok(s) => {
            let controls = s.chars().filter(|&c| is_control(c)).count();
            // A text has almost none; a binary that happens to be valid UTF-8 has many.
            if controls > s.len() / 100 {
                return Err(Unavailable::new(Reason::Malformed, "control characters: not text"));
            }
            Ok(std::borrow::Cow::Borrowed(s))
        }
        Err(_) => {
            // Windows-1252 (Latin-1 with typographic signs where Latin-1 has control codes):
            // what French text files not in UTF-8 are written in.
            let mut text = String::with_capacity(bytes.len());
            for &b in bytes {
                let c = match b {
                    0x80..=0x9F => Some(WINDOWS_1252[usize::from(b - 0x80)]).filter(|&c| c != '\0'),
                    b if b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C) => None,
                    0x7F => None,
                    b => Some(char::from(b)),
                };
                text.push(c.ok_or_else(|| Unavailable::new(Reason::Malformed, "neither UTF-8 nor Windows-1252 text"))?);
            }
            Ok(std::borrow::Cow::Owned(text))
        }
    }
}

/// Windows-1252's characters for bytes 0x80 to 0x9F (`'\0'`: undefined).
const WINDOWS_1252: [char; 32] = [
    '€', '\0', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\0', 'Ž', '\0', '\0', '‘', '’', '“', '”', '•', '–', '—', '˜', '™',
    'š', '›', 'œ', '\0', 'ž', 'Ÿ',
];

/// `text/plain`.
pub fn plain_text(bytes: &[u8], limits: &InlineLimits) -> Outcome<String> {
    check_size(bytes, limits)?;
    let text = decode_text(bytes)?;
    let mut sink = TextSink::new(limits.max_output);
    sink.push(&text);
    Ok(sink.finish())
}

/// `text/html`: the text content, without scripts, styles and comments.
pub fn html(bytes: &[u8], limits: &InlineLimits) -> Outcome<String> {
    check_size(bytes, limits)?;
    let text = decode_text(bytes)?;
    let mut sink = TextSink::new(limits.max_output);
    html_text(&text, &mut sink);
    Ok(sink.finish())
}

/// Elements after which the text goes on on a new line.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "br",
    "li",
    "tr",
    "td",
    "th",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "ul",
    "ol",
    "section",
    "article",
    "header",
    "footer",
    "title",
    "caption",
    "dt",
    "dd",
    "blockquote",
    "pre",
    "hr",
    "paragraph",
    "item",
    "list",
];

/// Position just past the first case-insensitive occurrence of `pattern`, or the end.
fn past(haystack: &str, pattern: &str) -> usize {
    let (h, p) = (haystack.as_bytes(), pattern.as_bytes());
    match h.windows(p.len()).position(|w| w.eq_ignore_ascii_case(p)) {
        Some(i) => i + p.len(),
        None => h.len(),
    }
}

/// Strips the markup of an HTML (or XHTML narrative) text into `sink`. Linear in the input.
pub fn html_text(src: &str, sink: &mut TextSink) {
    let mut rest = src;
    while !rest.is_empty() && !sink.is_full() {
        let Some(open) = rest.find('<') else {
            push_decoded(rest, sink);
            break;
        };
        push_decoded(&rest[..open], sink);
        rest = &rest[open..];
        if rest.starts_with("<!--") {
            rest = &rest[past(rest, "-->")..];
            continue;
        }
        let Some(close) = rest.find('>') else { break };
        let tag = &rest[1..close];
        rest = &rest[close + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag.trim_start_matches('/').chars().take_while(|c| c.is_ascii_alphanumeric() || *c == ':').collect();
        let name = name.rsplit(':').next().unwrap_or("").to_ascii_lowercase();
        if !closing && !tag.ends_with('/') && (name == "script" || name == "style") {
            let end = format!("</{name}");
            let at = past(rest, &end);
            rest = &rest[at..];
            rest = match rest.find('>') {
                Some(i) => &rest[i + 1..],
                None => "",
            };
            continue;
        }
        if BLOCKS.contains(&name.as_str()) {
            sink.block();
        }
    }
}

/// Pushes text with HTML character references decoded (the common named ones and numeric).
fn push_decoded(text: &str, sink: &mut TextSink) {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        sink.push(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest.char_indices().take(12).find(|&(_, c)| c == ';').map(|(i, _)| i);
        let decoded = end.and_then(|end| entity(&rest[1..end]).map(|c| (c, end)));
        match decoded {
            Some((c, end)) => {
                let mut buf = [0u8; 4];
                sink.push(c.encode_utf8(&mut buf));
                rest = &rest[end + 1..];
            }
            None => {
                sink.push("&");
                rest = &rest[1..];
            }
        }
    }
    sink.push(rest);
}

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix('x').or_else(|| num.strip_prefix('X')) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "eacute" => 'é',
        "egrave" => 'è',
        "ecirc" => 'ê',
        "euml" => 'ë',
        "agrave" => 'à',
        "acirc" => 'â',
        "ccedil" => 'ç',
        "icirc" => 'î',
        "iuml" => 'ï',
        "ocirc" => 'ô',
        "ugrave" => 'ù',
        "ucirc" => 'û',
        "uuml" => 'ü',
        "oelig" => 'œ',
        "Eacute" => 'É',
        "Egrave" => 'È',
        "Agrave" => 'À',
        "Ccedil" => 'Ç',
        "laquo" => '«',
        "raquo" => '»',
        "rsquo" => '’',
        "lsquo" => '‘',
        "hellip" => '…',
        "deg" => '°',
        "micro" => 'µ',
        _ => return None,
    })
}

/// Keys of a FHIR resource whose string values are worth indexing.
const FHIR_TEXT_KEYS: &[&str] =
    &["text", "display", "title", "description", "comment", "conclusion", "valueString", "summary", "note", "name", "detail"];

/// FHIR JSON (a resource or a Bundle of them, typically a document Bundle with a Composition):
/// narratives (`text.div`) and the string values worth indexing.
pub fn fhir_json(bytes: &[u8], limits: &InlineLimits) -> Outcome<String> {
    check_size(bytes, limits)?;
    // serde_json refuses nesting deeper than 128 by itself.
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| Unavailable::new(Reason::Malformed, format!("not JSON: {e}")))?;
    if value.get("resourceType").and_then(|t| t.as_str()).is_none() {
        return Err(Unavailable::new(Reason::Malformed, "not a FHIR resource: no resourceType"));
    }
    let mut sink = TextSink::new(limits.max_output);
    walk_json(&value, None, 0, limits.max_depth, &mut sink)?;
    Ok(sink.finish())
}

fn walk_json(value: &serde_json::Value, key: Option<&str>, depth: usize, max_depth: usize, sink: &mut TextSink) -> Outcome<()> {
    if depth > max_depth {
        return Err(Unavailable::new(Reason::Malformed, format!("nested deeper than {max_depth}")));
    }
    if sink.is_full() {
        return Ok(());
    }
    match value {
        serde_json::Value::String(s) => match key {
            Some("div") => {
                html_text(s, sink);
                sink.block();
            }
            Some(k) if FHIR_TEXT_KEYS.contains(&k) => {
                sink.push(s);
                sink.block();
            }
            _ => {}
        },
        serde_json::Value::Array(items) => {
            for item in items {
                walk_json(item, key, depth + 1, max_depth, sink)?;
            }
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                walk_json(v, Some(k), depth + 1, max_depth, sink)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Where a CDA element's text goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Capture {
    /// A document or section title, or a section's narrative.
    Narrative,
    /// A level 1 `nonXMLBody/text`.
    Body,
}

/// CDA R2: level 3 gives the document title, section titles and narratives; level 1 gives the
/// `nonXMLBody` (base64 bytes with their media type, or text). Refuses a `<!DOCTYPE` (so no
/// entity can be declared, hence no entity expansion bomb) and any entity but XML's five.
pub fn cda(bytes: &[u8], limits: &InlineLimits) -> Outcome<Cda> {
    check_size(bytes, limits)?;
    let malformed = |e: &dyn std::fmt::Display| Unavailable::new(Reason::Malformed, format!("CDA: {e}"));
    let mut reader = quick_xml::Reader::from_reader(bytes);
    reader.config_mut().check_end_names = true;
    // Local names of the open elements.
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut capture: Option<(Capture, usize)> = None;
    let mut sink = TextSink::new(limits.max_output);
    let mut body = String::new();
    let mut body_media_type: Option<String> = None;
    let mut body_b64 = false;
    let mut seen_body = false;
    loop {
        let event = reader.read_event().map_err(|e| malformed(&e))?;
        match event {
            Event::DocType(_) => return Err(malformed(&"a DOCTYPE is refused")),
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = e.local_name().as_ref().to_vec();
                if stack.is_empty() && name != b"ClinicalDocument" {
                    return Err(malformed(&"the root is not ClinicalDocument"));
                }
                let empty = matches!(event, Event::Empty(_));
                if capture.is_none() {
                    let parent = stack.last().map(Vec::as_slice);
                    let kind = match (parent, name.as_slice()) {
                        (Some(b"ClinicalDocument") | Some(b"section"), b"title") | (Some(b"section"), b"text") => Some(Capture::Narrative),
                        (Some(b"nonXMLBody"), b"text") => Some(Capture::Body),
                        _ => None,
                    };
                    if kind == Some(Capture::Body) {
                        seen_body = true;
                        for attr in e.attributes() {
                            let attr = attr.map_err(|e| malformed(&e))?;
                            let value = String::from_utf8_lossy(&attr.value).into_owned();
                            match attr.key.local_name().as_ref() {
                                b"mediaType" => body_media_type = Some(value),
                                b"representation" => body_b64 = value.eq_ignore_ascii_case("B64"),
                                _ => {}
                            }
                        }
                    }
                    if let (Some(kind), false) = (kind, empty) {
                        capture = Some((kind, stack.len()));
                    }
                } else if BLOCKS.contains(&String::from_utf8_lossy(&name).as_ref()) {
                    sink.block();
                }
                if !empty {
                    if stack.len() >= limits.max_depth {
                        return Err(malformed(&format_args!("nested deeper than {}", limits.max_depth)));
                    }
                    stack.push(name);
                }
            }
            Event::End(_) => {
                stack.pop();
                if let Some((_, depth)) = capture
                    && depth == stack.len()
                {
                    capture = None;
                    sink.block();
                } else if capture.is_some() {
                    sink.push(" ");
                }
            }
            Event::Text(ref t) => {
                let text = t.decode().map_err(|e| malformed(&e))?;
                push_captured(capture, &text, &mut sink, &mut body, limits)?;
            }
            Event::CData(ref t) => {
                let text = t.decode().map_err(|e| malformed(&e))?;
                push_captured(capture, &text, &mut sink, &mut body, limits)?;
            }
            Event::GeneralRef(ref r) => {
                let c = crate::xml::reference_char(r).map_err(|refused| malformed(&refused.detail()))?;
                let mut buf = [0u8; 4];
                push_captured(capture, c.encode_utf8(&mut buf), &mut sink, &mut body, limits)?;
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(malformed(&"truncated"));
    }
    if seen_body {
        if body_b64 {
            let compact: Vec<u8> = body.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&compact)
                .map_err(|e| malformed(&format_args!("nonXMLBody is not base64: {e}")))?;
            let media_type = body_media_type.unwrap_or_else(|| "text/plain".to_owned());
            return Ok(Cda::Embedded { media_type, bytes });
        }
        let mut text = TextSink::new(limits.max_output);
        text.push(&body);
        return Ok(Cda::Text(text.finish()));
    }
    Ok(Cda::Text(sink.finish()))
}

fn push_captured(
    capture: Option<(Capture, usize)>,
    text: &str,
    sink: &mut TextSink,
    body: &mut String,
    limits: &InlineLimits,
) -> Outcome<()> {
    match capture {
        Some((Capture::Narrative, _)) => sink.push(text),
        Some((Capture::Body, _)) => {
            // The body is bounded by the input, itself bounded.
            if body.len() + text.len() > limits.max_input {
                return Err(Unavailable::new(Reason::TooLarge, "nonXMLBody"));
            }
            body.push_str(text);
        }
        None => {}
    }
    Ok(())
}

/// Width and height of a PNG or JPEG image, read from its header (before any decoding, so
/// that a decompression bomb is refused by its declared size).
pub fn image_size(bytes: &[u8]) -> Outcome<(u32, u32)> {
    let malformed = |what: &str| Unavailable::new(Reason::Malformed, format!("image: {what}"));
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        if bytes.get(12..16) != Some(b"IHDR") {
            return Err(malformed("no PNG header"));
        }
        let be = |r: std::ops::Range<usize>| bytes.get(r).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(u32::from_be_bytes);
        return match (be(16..20), be(20..24)) {
            (Some(w), Some(h)) => Ok((w, h)),
            _ => Err(malformed("truncated PNG header")),
        };
    }
    if bytes.starts_with(&[0xFF, 0xD8]) {
        let be16 = |i: usize| bytes.get(i..i + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
        let mut i = 2;
        while i < bytes.len() {
            if bytes[i] != 0xFF {
                return Err(malformed("bad JPEG marker"));
            }
            let Some(&marker) = bytes.get(i + 1) else { break };
            match marker {
                0xFF => i += 1,
                0xD0..=0xD9 | 0x01 => i += 2,
                0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                    return match (be16(i + 5), be16(i + 7)) {
                        (Some(h), Some(w)) => Ok((u32::from(w), u32::from(h))),
                        _ => Err(malformed("truncated JPEG frame header")),
                    };
                }
                _ => {
                    let len = be16(i + 2).ok_or_else(|| malformed("truncated JPEG segment"))?;
                    i += 2 + usize::from(len);
                }
            }
        }
        return Err(malformed("no JPEG frame header"));
    }
    Err(malformed("neither PNG nor JPEG"))
}

/// What the in-process extractors make of a document, without running any tool: the text, a
/// CDA's embedded body, or `None` for a kind that needs a tool (PDF, images). What the fuzz
/// target drives.
pub fn extract(kind: crate::Kind, bytes: &[u8], limits: &InlineLimits) -> Outcome<Option<Cda>> {
    Ok(Some(match kind {
        crate::Kind::Text => Cda::Text(plain_text(bytes, limits)?),
        crate::Kind::Html => Cda::Text(html(bytes, limits)?),
        crate::Kind::FhirJson => Cda::Text(fhir_json(bytes, limits)?),
        crate::Kind::Cda => cda(bytes, limits)?,
        crate::Kind::Image => {
            image_size(bytes)?;
            return Ok(None);
        }
        crate::Kind::Pdf => return Ok(None),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limits() -> InlineLimits {
        InlineLimits::default()
    }

    #[test]
    fn plain_text_keeps_french_and_refuses_binaries() {
        assert_eq!(plain_text("Créatinine  élevée\r\n\r\nà revoir".as_bytes(), &limits()).unwrap(), "Créatinine élevée\nà revoir");
        assert_eq!(plain_text(b"cr\xe9atinine", &limits()).unwrap(), "créatinine", "Latin-1 is read as such");
        assert_eq!(plain_text(b"l\x92\x9cd\xe8me\x85", &limits()).unwrap(), "l’œdème…", "and Windows-1252");
        let binary: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        assert_eq!(plain_text(&binary, &limits()).unwrap_err().reason, Reason::Malformed);
        let utf8_binary = "\u{1}\u{2}\u{3}abc".repeat(100);
        assert_eq!(plain_text(utf8_binary.as_bytes(), &limits()).unwrap_err().reason, Reason::Malformed);
    }

    #[test]
    fn html_gives_text_without_scripts_styles_or_comments() {
        let page = "<html><head><title>Compte rendu</title><style>p { color: red }</style>\
            <script>var secret = 'script';</script></head><body><!-- commentaire --><p>Allergie &agrave; la \
            p&eacute;nicilline</p><p>Cr<b>éat</b>inine&nbsp;: 98 &micro;mol/l</p><SCRIPT type=x>alert(1)</SCRIPT></body></html>";
        let text = html(page.as_bytes(), &limits()).unwrap();
        assert_eq!(text, "Compte rendu\nAllergie à la pénicilline\nCréatinine : 98 µmol/l");
    }

    #[test]
    fn fhir_json_gives_narratives_and_text_values() {
        let doc = r#"{"resourceType":"Bundle","type":"document","entry":[{"resource":{"resourceType":"Composition",
            "title":"Lettre de sortie","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Patient allergique</p></div>"},
            "section":[{"title":"Biologie","code":{"coding":[{"system":"http://loinc.org","code":"2160-0","display":"Créatinine"}]}}]}},
            {"resource":{"resourceType":"Binary","id":"abc","data":"c2VjcmV0"}}]}"#;
        let text = fhir_json(doc.as_bytes(), &limits()).unwrap();
        assert!(text.contains("Lettre de sortie") && text.contains("Patient allergique") && text.contains("Biologie"), "{text}");
        assert!(text.contains("Créatinine"));
        assert!(!text.contains("2160-0") && !text.contains("c2VjcmV0") && !text.contains("Composition"), "{text}");
        assert_eq!(fhir_json(br#"{"a":1}"#, &limits()).unwrap_err().reason, Reason::Malformed);
        let deep = format!("{{\"resourceType\":\"X\",\"a\":{}1{}}}", "[".repeat(5000), "]".repeat(5000));
        assert_eq!(fhir_json(deep.as_bytes(), &limits()).unwrap_err().reason, Reason::Malformed);
    }

    #[test]
    fn cda_refuses_doctype_and_entities() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>
            <ClinicalDocument xmlns="urn:hl7-org:v3"><title>&lol2;</title></ClinicalDocument>"#;
        let refused = cda(bomb.as_bytes(), &limits()).unwrap_err();
        assert_eq!(refused.reason, Reason::Malformed);
        assert!(refused.detail.contains("DOCTYPE"), "{refused}");
        let undeclared = r#"<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&lol;</title></ClinicalDocument>"#;
        assert!(cda(undeclared.as_bytes(), &limits()).unwrap_err().detail.contains("entities"));
        let deep = format!("<ClinicalDocument>{}{}</ClinicalDocument>", "<a>".repeat(1000), "</a>".repeat(1000));
        assert_eq!(cda(deep.as_bytes(), &limits()).unwrap_err().reason, Reason::Malformed);
        let truncated = r#"<ClinicalDocument xmlns="urn:hl7-org:v3"><title>Compte"#;
        assert_eq!(cda(truncated.as_bytes(), &limits()).unwrap_err().reason, Reason::Malformed);
    }

    #[test]
    fn png_and_jpeg_sizes_come_from_headers() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&100_000u32.to_be_bytes());
        png.extend_from_slice(&100_000u32.to_be_bytes());
        assert_eq!(image_size(&png).unwrap(), (100_000, 100_000));
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0, 0, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x02, 0x58, 0x03, 0x20];
        assert_eq!(image_size(&jpeg).unwrap(), (800, 600));
        assert_eq!(image_size(b"GIF89a").unwrap_err().reason, Reason::Malformed);
    }

    #[test]
    fn output_is_capped_at_a_character_boundary() {
        let limits = InlineLimits { max_output: 5, ..InlineLimits::default() };
        assert_eq!(plain_text("ééé".as_bytes(), &limits).unwrap(), "éé");
    }

    proptest! {
        #[test]
        fn no_input_makes_an_extractor_panic_or_exceed_its_output(bytes in proptest::collection::vec(any::<u8>(), 0..2048), k in 0usize..6) {
            let kinds = [crate::Kind::Text, crate::Kind::Html, crate::Kind::FhirJson, crate::Kind::Cda, crate::Kind::Image, crate::Kind::Pdf];
            let limits = InlineLimits { max_output: 256, max_depth: 16, ..InlineLimits::default() };
            if let Ok(Some(Cda::Text(t))) = extract(kinds[k], &bytes, &limits) {
                prop_assert!(t.len() <= 256);
            }
        }

        #[test]
        fn html_markup_never_reaches_the_text(words in proptest::collection::vec("[a-zéèà]{1,8}", 1..20)) {
            let page: String = words.iter().map(|w| format!("<p class=\"x\">{w}</p><script>{w}()</script>")).collect();
            let text = html(page.as_bytes(), &InlineLimits::default()).unwrap();
            prop_assert_eq!(text, words.join("\n"));
        }
    }
}
