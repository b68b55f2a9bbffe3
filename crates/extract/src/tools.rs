//! Extraction with the tools: PDF text layer (`pdftotext`), scanned PDFs (`pdfinfo`, `pdftoppm`
//! then `tesseract`), images (`tesseract`), and the in-process extractors for the rest.
//!
//! Each tool is a child process started through util-linux's `prlimit`, which sets the address
//! space, CPU time, file size (0: a tool writes no file) and core limits, then executes the tool:
//! the limits hold from the tool's first instruction. (`CommandExt::pre_exec` would do the same
//! without `prlimit`, but it is `unsafe` and the workspace forbids `unsafe`.) Documents go in on
//! standard input and text comes out on standard output: no plaintext touches the disk. A child
//! past its deadline is killed; output past its cap ends the child too.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::inline::{self, Cda};
use crate::{InlineLimits, Kind, Outcome, Reason, TextSink, Unavailable, has_text};

/// Where the tools are (a bare name is looked up in `PATH`).
#[derive(Debug, Clone)]
pub struct Tools {
    pub pdftotext: PathBuf,
    pub pdfinfo: PathBuf,
    pub pdftoppm: PathBuf,
    pub tesseract: PathBuf,
    pub prlimit: PathBuf,
    /// Tesseract's language (`fra`: the French model).
    pub ocr_language: String,
}

impl Default for Tools {
    fn default() -> Self {
        Tools {
            pdftotext: "pdftotext".into(),
            pdfinfo: "pdfinfo".into(),
            pdftoppm: "pdftoppm".into(),
            tesseract: "tesseract".into(),
            prlimit: "prlimit".into(),
            ocr_language: "fra".into(),
        }
    }
}

/// Limits on the tools.
#[derive(Debug, Clone, Copy)]
pub struct ToolLimits {
    /// Wall-clock time of one child.
    pub timeout: Duration,
    /// CPU seconds of one child.
    pub cpu_seconds: u64,
    /// Address space of one child, in bytes.
    pub memory_bytes: u64,
    /// Pages whose text layer is extracted (a PDF with more is refused).
    pub max_pages: u32,
    /// Pages OCR'd (a scanned PDF with more is refused).
    pub max_ocr_pages: u32,
    /// Pixels of an image OCR'd (width × height, from its header).
    pub max_pixels: u64,
    /// Largest rendered page image accepted from `pdftoppm`, in bytes.
    pub max_page_image: usize,
    /// Whether scanned PDFs and images are OCR'd at all.
    pub ocr: bool,
}

impl Default for ToolLimits {
    fn default() -> Self {
        ToolLimits {
            timeout: Duration::from_secs(60),
            cpu_seconds: 60,
            memory_bytes: 1024 * 1024 * 1024,
            max_pages: 2000,
            max_ocr_pages: 20,
            max_pixels: 40_000_000,
            max_page_image: 64 * 1024 * 1024,
            ocr: true,
        }
    }
}

/// Extracts the text of documents: in process or with the tools, as the type requires.
#[derive(Debug, Clone, Default)]
pub struct Extractor {
    pub tools: Tools,
    pub limits: ToolLimits,
    pub inline: InlineLimits,
}

/// Long side of a page rendered for OCR, in pixels (A4 at 300 dpi): bounds a page's pixels
/// whatever size the PDF declares.
const OCR_PAGE_PIXELS: &str = "2480";

impl Extractor {
    /// The text of a document of `mime` type.
    pub async fn extract(&self, mime: &str, bytes: &[u8]) -> Outcome<String> {
        let kind = Kind::of_mime(mime).ok_or_else(|| Unavailable::new(Reason::Unsupported, format!("no extractor for {mime}")))?;
        let text = self.extract_kind(kind, bytes, 0).await?;
        if text.trim().is_empty() {
            return Err(Unavailable::new(Reason::NoText, "the document holds no text"));
        }
        Ok(text)
    }

    async fn extract_kind(&self, kind: Kind, bytes: &[u8], nesting: u8) -> Outcome<String> {
        match kind {
            Kind::Pdf => self.pdf(bytes).await,
            Kind::Image => self.image(bytes).await,
            Kind::Cda => {
                let cda = self.in_process(kind, bytes).await?;
                match cda {
                    Some(Cda::Text(text)) => Ok(text),
                    Some(Cda::Embedded { media_type, bytes }) => {
                        let inner = Kind::of_mime(&media_type)
                            .filter(|k| *k != Kind::Cda || nesting == 0)
                            .ok_or_else(|| Unavailable::new(Reason::Unsupported, format!("CDA body of type {media_type}")))?;
                        Box::pin(self.extract_kind(inner, &bytes, nesting + 1)).await
                    }
                    None => Err(Unavailable::new(Reason::Unsupported, "CDA")),
                }
            }
            Kind::Text | Kind::Html | Kind::FhirJson => match self.in_process(kind, bytes).await? {
                Some(Cda::Text(text)) => Ok(text),
                _ => Err(Unavailable::new(Reason::Unsupported, "no text")),
            },
        }
    }

    /// Runs an in-process extractor on a blocking thread: a panic there (a bug) ends as a
    /// failed extraction, never as a failed server.
    async fn in_process(&self, kind: Kind, bytes: &[u8]) -> Outcome<Option<Cda>> {
        let (bytes, limits) = (bytes.to_vec(), self.inline);
        match tokio::task::spawn_blocking(move || inline::extract(kind, &bytes, &limits)).await {
            Ok(outcome) => outcome,
            Err(e) => Err(Unavailable::new(Reason::ToolFailed, format!("in-process extractor failed: {e}"))),
        }
    }

    async fn pdf(&self, bytes: &[u8]) -> Outcome<String> {
        if !bytes.get(..1024).unwrap_or(bytes).windows(5).any(|w| w == b"%PDF-") {
            return Err(Unavailable::new(Reason::Malformed, "not a PDF"));
        }
        let info = self.run(&self.tools.pdfinfo, &["-"], bytes, 64 * 1024).await?;
        let pages = String::from_utf8_lossy(&info.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("Pages:").and_then(|n| n.trim().parse::<u32>().ok()))
            .ok_or_else(|| Unavailable::new(Reason::Malformed, "pdfinfo found no page count"))?;
        if pages > self.limits.max_pages {
            return Err(Unavailable::new(Reason::TooManyPages, format!("{pages} pages, at most {} are read", self.limits.max_pages)));
        }
        let out = self.run(&self.tools.pdftotext, &["-enc", "UTF-8", "-q", "-", "-"], bytes, self.inline.max_output).await?;
        let mut sink = TextSink::new(self.inline.max_output);
        sink.push(&String::from_utf8_lossy(&out.stdout));
        let text = sink.finish();
        if has_text(&text) {
            return Ok(text);
        }
        // No text layer: a scan.
        if !self.limits.ocr {
            return Err(Unavailable::new(Reason::Disabled, "no text layer, and OCR is off"));
        }
        if pages > self.limits.max_ocr_pages {
            return Err(Unavailable::new(
                Reason::TooManyPages,
                format!("no text layer, and {pages} pages to OCR: at most {}", self.limits.max_ocr_pages),
            ));
        }
        let mut sink = TextSink::new(self.inline.max_output);
        for page in 1..=pages {
            let n = page.to_string();
            let args = ["-png", "-r", "300", "-scale-to", OCR_PAGE_PIXELS, "-singlefile", "-f", n.as_str(), "-l", n.as_str(), "-"];
            let image = self.run(&self.tools.pdftoppm, &args, bytes, self.limits.max_page_image).await?;
            if image.truncated {
                return Err(Unavailable::new(Reason::TooLarge, format!("page {page} rendered larger than the limit")));
            }
            sink.push(&self.ocr(&image.stdout).await?);
            sink.block();
            if sink.is_full() {
                break;
            }
        }
        Ok(sink.finish())
    }

    async fn image(&self, bytes: &[u8]) -> Outcome<String> {
        let (w, h) = inline::image_size(bytes)?;
        let pixels = u64::from(w) * u64::from(h);
        if pixels > self.limits.max_pixels || pixels == 0 {
            return Err(Unavailable::new(Reason::TooManyPixels, format!("{w} × {h} pixels, at most {} are OCR'd", self.limits.max_pixels)));
        }
        if !self.limits.ocr {
            return Err(Unavailable::new(Reason::Disabled, "OCR is off"));
        }
        self.ocr(bytes).await
    }

    async fn ocr(&self, image: &[u8]) -> Outcome<String> {
        let lang = self.tools.ocr_language.as_str();
        let out = self.run(&self.tools.tesseract, &["stdin", "stdout", "-l", lang, "--psm", "3"], image, self.inline.max_output).await?;
        let mut sink = TextSink::new(self.inline.max_output);
        sink.push(&String::from_utf8_lossy(&out.stdout));
        Ok(sink.finish())
    }

    /// Runs `tool args` under the limits with `input` on its standard input, keeping at most
    /// `max_output` bytes of its standard output (the child is killed past that).
    pub async fn run(&self, tool: &Path, args: &[&str], input: &[u8], max_output: usize) -> Outcome<ToolOutput> {
        let prlimit = resolve(&self.tools.prlimit)?;
        let program = resolve(tool)?;
        let name = tool.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let l = &self.limits;
        let mut command = tokio::process::Command::new(prlimit);
        command
            .arg(format!("--as={}", l.memory_bytes))
            .arg(format!("--cpu={}", l.cpu_seconds))
            .arg("--fsize=0")
            .arg("--core=0")
            .arg("--")
            .arg(program)
            .args(args)
            // Tesseract's OpenMP threads would take every core of a shared machine.
            .env("OMP_THREAD_LIMIT", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| Unavailable::new(Reason::ToolMissing, format!("prlimit: {e}")))?;
        let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take()) else {
            return Err(Unavailable::new(Reason::ToolFailed, format!("{name}: no pipes")));
        };
        let input = input.to_vec();
        let feed = async move {
            // A tool may stop reading early (an error, or it had enough): not our failure.
            let _ = stdin.write_all(&input).await;
            drop(stdin);
        };
        let read = async move {
            let mut out = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            let mut truncated = false;
            loop {
                match stdout.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let room = max_output.saturating_sub(out.len());
                        out.extend_from_slice(&buf[..n.min(room)]);
                        if n > room {
                            truncated = true;
                            break;
                        }
                    }
                }
            }
            (out, truncated)
        };
        let errors = async move {
            let mut err = Vec::new();
            let _ = (&mut stderr).take(4096).read_to_end(&mut err).await;
            err
        };
        let work = async {
            let ((), (stdout, truncated), err) = tokio::join!(feed, read, errors);
            (stdout, truncated, err)
        };
        let (stdout, truncated, err) = match tokio::time::timeout(l.timeout, work).await {
            Ok(done) => done,
            Err(_) => {
                let _ = child.kill().await;
                return Err(Unavailable::new(Reason::Timeout, format!("{name} ran past {} s and was killed", l.timeout.as_secs())));
            }
        };
        if truncated {
            // Enough output: the rest is not read, the child need not finish.
            let _ = child.kill().await;
            return Ok(ToolOutput { stdout, truncated });
        }
        let status = match tokio::time::timeout(l.timeout, child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => return Err(Unavailable::new(Reason::ToolFailed, format!("{name}: {e}"))),
            Err(_) => {
                let _ = child.kill().await;
                return Err(Unavailable::new(Reason::Timeout, format!("{name} did not exit")));
            }
        };
        if let Some(signal) = status.signal() {
            return Err(Unavailable::new(Reason::ToolFailed, format!("{name} killed by signal {signal} (a limit, or a crash)")));
        }
        if !status.success() {
            let first = String::from_utf8_lossy(&err).lines().next().unwrap_or("").to_owned();
            return Err(Unavailable::new(Reason::ToolFailed, format!("{name} failed ({status}): {first}")));
        }
        Ok(ToolOutput { stdout, truncated })
    }
}

/// What a tool wrote.
#[derive(Debug)]
pub struct ToolOutput {
    pub stdout: Vec<u8>,
    /// Output was cut at the cap.
    pub truncated: bool,
}

/// The tool's path: as given if it has a directory part, else found in `PATH`. A tool that is
/// not there is `ToolMissing` (not a failure of the document).
fn resolve(tool: &Path) -> Outcome<PathBuf> {
    let missing = || Unavailable::new(Reason::ToolMissing, format!("{} is not installed", tool.display()));
    if tool.components().count() > 1 {
        return if tool.is_file() { Ok(tool.to_path_buf()) } else { Err(missing()) };
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin"));
    std::env::split_paths(&path).map(|dir| dir.join(tool)).find(|p| p.is_file()).ok_or_else(missing)
}
