//! The text of a deposited document, for the record's full-text search.
//!
//! Two kinds of extractor, chosen by the document's declared MIME type and checked against its
//! first bytes:
//!
//! - **in process** (`inline`): plain text, HTML, FHIR JSON, CDA R2 (level 1: the embedded body
//!   is extracted in turn; level 3: section titles and narrative). Safe Rust over bounded input,
//!   with bounded depth and output; XML never reads a DTD and refuses `<!DOCTYPE` and entities
//!   other than XML's five and character references.
//! - **child processes** (`tools`, feature `tools`): the PDF text layer (poppler's `pdftotext`),
//!   scanned PDFs (`pdftoppm` then `tesseract`) and JPEG/PNG images (`tesseract`). Parsing PDF and
//!   images is where the bugs are, so those parsers never run inside the server: each child runs
//!   under `prlimit` (address space, CPU time, no files written, no core), is killed at a
//!   wall-clock deadline, and its output is capped. Page and pixel counts are checked before OCR.
//!
//! Beside the text, `cda` reads a CDA R2 document for its structure (header, level 3 entries)
//! through `xml`, a hardened reader into a bounded element tree; it is pure, and shared by the
//! deposit check.
//!
//! Every failure is an `Unavailable` with a stable reason code: the document stays stored and
//! readable, and its text is recorded as unavailable for that reason.

pub mod cda;
pub mod inline;
#[cfg(feature = "tools")]
pub mod tools;
pub mod xml;

use std::fmt;

/// Why a document has no text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No extractor for this MIME type.
    Unsupported,
    /// Extraction is switched off (`[extraction] enabled = false`) or OCR is.
    Disabled,
    /// The input is over the size limit.
    TooLarge,
    /// The bytes are not what the MIME type says, or do not parse.
    Malformed,
    /// More pages than may be extracted (or OCR'd).
    TooManyPages,
    /// An image with more pixels than may be OCR'd (a decompression bomb).
    TooManyPixels,
    /// A tool ran past its deadline and was killed.
    Timeout,
    /// A tool is not installed.
    ToolMissing,
    /// A tool failed (exit status, signal, limit reached).
    ToolFailed,
    /// The document parsed but holds no text.
    NoText,
}

impl Reason {
    /// Stable code: stored with the job and used as the metrics label.
    pub fn code(self) -> &'static str {
        match self {
            Reason::Unsupported => "unsupported",
            Reason::Disabled => "disabled",
            Reason::TooLarge => "too_large",
            Reason::Malformed => "malformed",
            Reason::TooManyPages => "too_many_pages",
            Reason::TooManyPixels => "too_many_pixels",
            Reason::Timeout => "timeout",
            Reason::ToolMissing => "tool_missing",
            Reason::ToolFailed => "tool_failed",
            Reason::NoText => "no_text",
        }
    }

    pub const ALL: [Reason; 10] = [
        Reason::Unsupported,
        Reason::Disabled,
        Reason::TooLarge,
        Reason::Malformed,
        Reason::TooManyPages,
        Reason::TooManyPixels,
        Reason::Timeout,
        Reason::ToolMissing,
        Reason::ToolFailed,
        Reason::NoText,
    ];
}

/// "Text unavailable", with the reason and a short detail (never document content).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("text unavailable ({}): {detail}", reason.code())]
pub struct Unavailable {
    pub reason: Reason,
    pub detail: String,
}

impl Unavailable {
    pub fn new(reason: Reason, detail: impl fmt::Display) -> Unavailable {
        let mut detail = detail.to_string();
        if detail.len() > 300 {
            let mut end = 300;
            while !detail.is_char_boundary(end) {
                end -= 1;
            }
            detail.truncate(end);
        }
        Unavailable { reason, detail }
    }
}

pub type Outcome<T> = std::result::Result<T, Unavailable>;

/// Bounds on what in-process extraction reads and writes.
#[derive(Debug, Clone, Copy)]
pub struct InlineLimits {
    /// Largest input parsed in process, in bytes.
    pub max_input: usize,
    /// Longest text kept, in bytes (longer text is cut at a character boundary).
    pub max_output: usize,
    /// Deepest XML element or JSON value nesting.
    pub max_depth: usize,
}

impl Default for InlineLimits {
    fn default() -> Self {
        InlineLimits { max_input: 32 * 1024 * 1024, max_output: 4 * 1024 * 1024, max_depth: 256 }
    }
}

/// What a document's MIME type makes of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Html,
    FhirJson,
    Cda,
    Pdf,
    Image,
}

impl Kind {
    /// The extractor for a declared MIME type (parameters such as `; charset=` ignored).
    pub fn of_mime(mime: &str) -> Option<Kind> {
        let essence = mime.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        Some(match essence.as_str() {
            "text/plain" => Kind::Text,
            "text/html" | "application/xhtml+xml" => Kind::Html,
            "application/fhir+json" | "application/json+fhir" | "application/json" => Kind::FhirJson,
            "text/xml" | "application/xml" | "application/hl7-v3+xml" | "application/hl7-cda+xml" => Kind::Cda,
            "application/pdf" => Kind::Pdf,
            "image/jpeg" | "image/png" => Kind::Image,
            _ => return None,
        })
    }
}

/// Extracted text grows through this: it keeps at most `max` bytes, collapses runs of blank
/// space, and remembers whether it had to cut.
#[derive(Debug)]
pub struct TextSink {
    out: String,
    max: usize,
    truncated: bool,
    /// A space is owed before the next word.
    pending_space: bool,
    pending_newline: bool,
}

impl TextSink {
    pub fn new(max: usize) -> TextSink {
        TextSink { out: String::new(), max, truncated: false, pending_space: false, pending_newline: false }
    }

    /// Appends text; whitespace runs become one space (or one line break if they held one).
    pub fn push(&mut self, text: &str) {
        for c in text.chars() {
            if self.truncated {
                return;
            }
            if c == '\n' || c == '\r' {
                self.pending_newline = true;
            } else if c.is_whitespace() {
                self.pending_space = true;
            } else if c.is_control() {
                // Control characters carry no text.
                self.pending_space = true;
            } else {
                if !self.out.is_empty() {
                    if self.pending_newline {
                        self.put('\n');
                    } else if self.pending_space {
                        self.put(' ');
                    }
                }
                self.pending_space = false;
                self.pending_newline = false;
                self.put(c);
            }
        }
    }

    /// Ends a block (paragraph, cell, section title): the next text starts on a new line.
    pub fn block(&mut self) {
        self.pending_newline = true;
    }

    fn put(&mut self, c: char) {
        if self.out.len() + c.len_utf8() > self.max {
            self.truncated = true;
        } else {
            self.out.push(c);
        }
    }

    pub fn is_full(&self) -> bool {
        self.truncated
    }

    pub fn len(&self) -> usize {
        self.out.len()
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Whether extracted text is worth keeping: a few letters at least (a scan's text layer is
/// often empty or a handful of stray glyphs).
pub fn has_text(text: &str) -> bool {
    text.chars().filter(|c| c.is_alphabetic()).take(8).count() >= 8
}
