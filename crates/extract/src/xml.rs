//! A hardened XML reader into a small element tree, for documents that are read for their
//! structure (CDA R2). Never reads a DTD: a `<!DOCTYPE` is refused, so no entity can be declared
//! (no XXE, no "billion laughs"), and any entity but XML's five and character references is
//! refused. Size, depth, element count, attribute count and attribute and text lengths are
//! bounded, so the tree is a bounded multiple of the input. Every refusal names where it
//! happened, as an XPath of local names.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};

/// Bounds on what the reader accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlLimits {
    /// Largest document, in bytes.
    pub max_input: usize,
    /// Deepest element nesting.
    pub max_depth: usize,
    /// Most elements in the document.
    pub max_elements: usize,
    /// Most attributes on one element.
    pub max_attributes: usize,
    /// Longest attribute value, in bytes.
    pub max_attribute_len: usize,
    /// Longest text content of one element, in bytes.
    pub max_text_len: usize,
}

impl Default for XmlLimits {
    fn default() -> Self {
        XmlLimits {
            max_input: 64 * 1024 * 1024,
            max_depth: 128,
            max_elements: 200_000,
            max_attributes: 32,
            max_attribute_len: 64 * 1024,
            // A level 1 CDA's base64 body is one text node.
            max_text_len: 64 * 1024 * 1024,
        }
    }
}

/// Why XML was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XmlRefusal {
    NotWellFormed,
    Doctype,
    Entity,
    TooLarge,
    TooDeep,
    TooManyElements,
    TooManyAttributes,
    AttributeTooLong,
    TextTooLong,
}

impl XmlRefusal {
    /// Stable code, for problem details and logs.
    pub fn code(self) -> &'static str {
        match self {
            XmlRefusal::NotWellFormed => "not_well_formed",
            XmlRefusal::Doctype => "doctype",
            XmlRefusal::Entity => "entity",
            XmlRefusal::TooLarge => "too_large",
            XmlRefusal::TooDeep => "too_deep",
            XmlRefusal::TooManyElements => "too_many_elements",
            XmlRefusal::TooManyAttributes => "too_many_attributes",
            XmlRefusal::AttributeTooLong => "attribute_too_long",
            XmlRefusal::TextTooLong => "text_too_long",
        }
    }
}

/// A refusal, where it happened (an XPath) and a short detail (never document content).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} at {path}: {detail}", kind.code())]
pub struct XmlError {
    pub kind: XmlRefusal,
    pub path: String,
    pub detail: String,
}

/// An element: its local name, attributes (local names, unescaped values), children and its
/// own text (character data directly inside it, concatenated; whitespace between elements is
/// kept as at most one space, and none before its first words).
///
/// Names, and values and text written without a reference (`&amp;`, `&#233;`), are slices of
/// the document read: a structured deposit's ~1,000 elements then allocate only their lists,
/// not a string per name, attribute and text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element<'a> {
    pub name: &'a str,
    pub attributes: Vec<(&'a str, Cow<'a, str>)>,
    pub children: Vec<Element<'a>>,
    pub text: Cow<'a, str>,
}

impl<'a> Element<'a> {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_ref())
    }

    /// The first child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element<'a>> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Children with this local name, each with its XPath step (`name` or `name[n]` when there
    /// are several).
    pub fn children_named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = (String, &'s Element<'a>)> + 's {
        let count = self.children.iter().filter(|c| c.name == name).count();
        self.children.iter().filter(move |c| c.name == name).enumerate().map(move |(i, c)| {
            let step = if count > 1 { format!("{name}[{}]", i + 1) } else { name.to_owned() };
            (step, c)
        })
    }

    /// The element at a path of child names (first match at each step).
    pub fn at(&self, names: &[&str]) -> Option<&Element<'a>> {
        names.iter().try_fold(self, |e, n| e.child(n))
    }

    /// All the text inside, descendants included, whitespace collapsed. Depth is bounded by the
    /// reader's limit.
    pub fn all_text(&self) -> String {
        fn walk(e: &Element<'_>, out: &mut String) {
            out.push_str(&e.text);
            out.push(' ');
            for c in &e.children {
                walk(c, out);
            }
        }
        let mut raw = String::new();
        walk(self, &mut raw);
        raw.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// A detail cut to 300 bytes at a character boundary: quick-xml's messages may quote input.
fn short(mut detail: String) -> String {
    if detail.len() > 300 {
        let mut end = 300;
        while !detail.is_char_boundary(end) {
            end -= 1;
        }
        detail.truncate(end);
    }
    detail
}

fn path_of(stack: &[Element<'_>], name: Option<&str>) -> String {
    let mut path: String = stack.iter().map(|e| format!("/{}", e.name)).collect();
    if let Some(name) = name {
        path.push('/');
        path.push_str(name);
    }
    if path.is_empty() {
        path.push('/');
    }
    path
}

/// `part` as the slice of `input` it is, when it is one: quick-xml's events borrow what they
/// read from the input, unless they had to change it (unescaping).
fn within<'a>(input: &'a str, part: &[u8]) -> Option<&'a str> {
    let start = (part.as_ptr() as usize).checked_sub(input.as_ptr() as usize)?;
    input.get(start..start.checked_add(part.len())?)
}

/// `part` borrowed from `input` if it is a slice of it, else copied.
fn borrowed<'a>(input: &'a str, part: Cow<'_, str>) -> Cow<'a, str> {
    match part {
        Cow::Borrowed(b) => within(input, b.as_bytes()).map_or_else(|| Cow::Owned(b.to_owned()), Cow::Borrowed),
        Cow::Owned(o) => Cow::Owned(o),
    }
}

/// Reads a whole document into its root element. The document is UTF-8 (what CDA R2 documents
/// are written in); the tree borrows from it.
pub fn read<'a>(bytes: &'a [u8], limits: &XmlLimits) -> Result<Element<'a>, XmlError> {
    let refuse = |kind, path: String, detail: String| XmlError { kind, path, detail: short(detail) };
    if bytes.len() > limits.max_input {
        return Err(refuse(XmlRefusal::TooLarge, "/".into(), format!("{} bytes, at most {} are read", bytes.len(), limits.max_input)));
    }
    let input = std::str::from_utf8(bytes).map_err(|e| {
        refuse(XmlRefusal::NotWellFormed, "/".into(), format!("byte {} is not UTF-8 (documents are read as UTF-8)", e.valid_up_to()))
    })?;
    let mut reader = quick_xml::Reader::from_str(input);
    reader.config_mut().check_end_names = true;
    // Open elements, innermost last.
    let mut stack: Vec<Element<'a>> = Vec::new();
    let mut root: Option<Element<'a>> = None;
    let mut elements = 0usize;
    loop {
        let event = reader.read_event().map_err(|e| refuse(XmlRefusal::NotWellFormed, path_of(&stack, None), e.to_string()))?;
        match event {
            Event::DocType(_) => {
                return Err(refuse(XmlRefusal::Doctype, "/".into(), "a DOCTYPE is refused (no DTD, no entity is ever declared)".into()));
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                if root.is_some() {
                    return Err(refuse(XmlRefusal::NotWellFormed, "/".into(), "content after the root element".into()));
                }
                elements += 1;
                let element = open(input, e, &stack, limits, &refuse)?;
                if elements > limits.max_elements {
                    return Err(refuse(
                        XmlRefusal::TooManyElements,
                        path_of(&stack, Some(element.name)),
                        format!("more than {} elements", limits.max_elements),
                    ));
                }
                if stack.len() + 1 > limits.max_depth {
                    return Err(refuse(
                        XmlRefusal::TooDeep,
                        path_of(&stack, Some(element.name)),
                        format!("nested deeper than {}", limits.max_depth),
                    ));
                }
                if empty {
                    close(element, &mut stack, &mut root);
                } else {
                    stack.push(element);
                }
            }
            Event::End(_) => {
                let Some(element) = stack.pop() else {
                    return Err(refuse(XmlRefusal::NotWellFormed, "/".into(), "an end tag without a start".into()));
                };
                close(element, &mut stack, &mut root);
            }
            Event::Text(ref t) => {
                let text = t.decode().map_err(|e| refuse(XmlRefusal::NotWellFormed, path_of(&stack, None), e.to_string()))?;
                push_text(&mut stack, borrowed(input, text), limits, &refuse)?;
            }
            Event::CData(ref t) => {
                let text = t.decode().map_err(|e| refuse(XmlRefusal::NotWellFormed, path_of(&stack, None), e.to_string()))?;
                push_text(&mut stack, borrowed(input, text), limits, &refuse)?;
            }
            Event::GeneralRef(ref r) => {
                let c = reference_char(r).map_err(|refused| {
                    let kind = match refused {
                        RefRefused::Entity => XmlRefusal::Entity,
                        RefRefused::BadCharacter => XmlRefusal::NotWellFormed,
                    };
                    refuse(kind, path_of(&stack, None), refused.detail().into())
                })?;
                let mut buf = [0u8; 4];
                push_text(&mut stack, Cow::Owned(c.encode_utf8(&mut buf).to_owned()), limits, &refuse)?;
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(refuse(XmlRefusal::NotWellFormed, path_of(&stack, None), "truncated: elements left open".into()));
    }
    root.ok_or_else(|| refuse(XmlRefusal::NotWellFormed, "/".into(), "no root element".into()))
}

/// Why a reference in text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefRefused {
    /// An entity other than XML's five: none can be declared, since no DTD is read.
    Entity,
    BadCharacter,
}

impl RefRefused {
    pub(crate) fn detail(self) -> &'static str {
        match self {
            RefRefused::Entity => "entities other than XML's five are refused",
            RefRefused::BadCharacter => "bad character reference",
        }
    }
}

/// The character a reference in text stands for: a character reference or one of XML's five
/// entities. Shared by every XML reader of this crate.
pub(crate) fn reference_char(r: &quick_xml::events::BytesRef<'_>) -> Result<char, RefRefused> {
    if r.is_char_ref() {
        return r.resolve_char_ref().ok().flatten().ok_or(RefRefused::BadCharacter);
    }
    match r.as_ref() {
        b"lt" => Ok('<'),
        b"gt" => Ok('>'),
        b"amp" => Ok('&'),
        b"apos" => Ok('\''),
        b"quot" => Ok('"'),
        _ => Err(RefRefused::Entity),
    }
}

fn open<'a>(
    input: &'a str,
    e: &BytesStart<'_>,
    stack: &[Element<'a>],
    limits: &XmlLimits,
    refuse: &impl Fn(XmlRefusal, String, String) -> XmlError,
) -> Result<Element<'a>, XmlError> {
    // Names are never unescaped: always slices of the input (a name cut inside a character is
    // not well-formed).
    let name_of = |part: &[u8]| {
        within(input, part).ok_or_else(|| refuse(XmlRefusal::NotWellFormed, path_of(stack, None), "a name cut inside a character".into()))
    };
    let name = name_of(e.local_name().as_ref())?;
    let mut attributes = Vec::new();
    for attr in e.attributes() {
        let path = || path_of(stack, Some(name));
        let attr = attr.map_err(|err| refuse(XmlRefusal::NotWellFormed, path(), err.to_string()))?;
        let key = name_of(attr.key.local_name().as_ref())?;
        if attributes.len() >= limits.max_attributes {
            return Err(refuse(XmlRefusal::TooManyAttributes, path(), format!("more than {} attributes", limits.max_attributes)));
        }
        // Checked on the raw bytes, before anything is copied.
        if attr.value.len() > limits.max_attribute_len {
            return Err(refuse(
                XmlRefusal::AttributeTooLong,
                format!("{}/@{key}", path()),
                format!("{} bytes, at most {}", attr.value.len(), limits.max_attribute_len),
            ));
        }
        let value = attr.unescape_value().map_err(|err| {
            let entity = matches!(err, quick_xml::Error::Escape(_));
            let kind = if entity { XmlRefusal::Entity } else { XmlRefusal::NotWellFormed };
            refuse(kind, format!("{}/@{key}", path()), format!("entities other than XML's five are refused ({err})"))
        })?;
        attributes.push((key, borrowed(input, value)));
    }
    Ok(Element { name, attributes, children: Vec::new(), text: Cow::Borrowed("") })
}

fn close<'a>(element: Element<'a>, stack: &mut [Element<'a>], root: &mut Option<Element<'a>>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

fn push_text<'a>(
    stack: &mut [Element<'a>],
    text: Cow<'a, str>,
    limits: &XmlLimits,
    refuse: &impl Fn(XmlRefusal, String, String) -> XmlError,
) -> Result<(), XmlError> {
    let Some(current) = stack.last_mut() else {
        // Text outside the root: only whitespace is XML.
        if text.trim().is_empty() {
            return Ok(());
        }
        return Err(refuse(XmlRefusal::NotWellFormed, "/".into(), "text outside the root element".into()));
    };
    // Whitespace between elements (a document's indentation) is kept as at most one space, and
    // not at all before the element's first text: every reading of text collapses whitespace,
    // and an element's own text is then only a string of its own when it holds words in several
    // pieces (else it is the slice of the input that holds them).
    if text.trim().is_empty() {
        if current.text.len() < limits.max_text_len && current.text.chars().next_back().is_some_and(|c| !c.is_whitespace()) {
            current.text.to_mut().push(' ');
        }
        return Ok(());
    }
    if current.text.len() + text.len() > limits.max_text_len {
        let path = path_of(stack, None);
        return Err(refuse(XmlRefusal::TextTooLong, path, format!("text over {} bytes", limits.max_text_len)));
    }
    if current.text.is_empty() {
        current.text = text;
    } else {
        current.text.to_mut().push_str(&text);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_tree_with_unescaped_text_and_attributes() {
        let doc = r#"<?xml version="1.0"?><!-- c --><a xmlns="urn:hl7-org:v3" x="1 &amp; 2"><b>t&lt;&#233;</b><b/><![CDATA[<z>]]></a>"#;
        let root = read(doc.as_bytes(), &XmlLimits::default()).unwrap();
        assert_eq!(root.name, "a");
        assert_eq!(root.attr("x"), Some("1 & 2"));
        assert_eq!(root.children.len(), 2);
        assert_eq!(root.children[0].text, "t<é");
        assert_eq!(root.text, "<z>");
        let steps: Vec<String> = root.children_named("b").map(|(s, _)| s).collect();
        assert_eq!(steps, ["b[1]", "b[2]"]);
    }

    #[test]
    fn indentation_is_no_text_and_reads_the_same() {
        let compact = "<a><b>un <i>deux</i> trois</b><c x='1'/>quatre&#32;<d/>cinq</a>";
        let indented = "<a>\n  <b>\n    un <i>deux</i>\n    trois\n  </b>\n  <c x='1'/>\n  quatre&#32;\n  <d/>\n  cinq\n</a>\n";
        let (compact, indented) =
            (read(compact.as_bytes(), &XmlLimits::default()).unwrap(), read(indented.as_bytes(), &XmlLimits::default()).unwrap());
        assert_eq!(compact.all_text(), "quatre cinq un trois deux");
        assert_eq!(indented.all_text(), compact.all_text());
        let c = indented.child("c").unwrap();
        assert!(matches!(c.text, Cow::Borrowed("")), "an element of whitespace only holds no string");
        // Text in one piece is the input's slice; in several, or unescaped, a string of its own.
        let i = indented.at(&["b", "i"]).unwrap();
        assert!(matches!(i.text, Cow::Borrowed("deux")));
        assert!(matches!(indented.child("b").unwrap().text, Cow::Owned(_)));
        assert!(matches!(c.attributes[..], [("x", Cow::Borrowed("1"))]));
        // Words on either side of whitespace stay apart.
        assert_eq!(read(b"<a>x<!-- -->\n<!-- -->y</a>", &XmlLimits::default()).unwrap().all_text(), "x y");
    }

    #[test]
    fn refusals_name_the_element() {
        let limits = XmlLimits { max_attributes: 2, max_attribute_len: 8, max_text_len: 8, ..XmlLimits::default() };
        let cases: [(&str, XmlRefusal, &str); 7] = [
            ("<a><b x='1' y='2' z='3'/></a>", XmlRefusal::TooManyAttributes, "/a/b"),
            ("<a><b x='123456789'/></a>", XmlRefusal::AttributeTooLong, "/a/b/@x"),
            ("<a><b>123456789</b></a>", XmlRefusal::TextTooLong, "/a/b"),
            ("<a><b>&lol;</b></a>", XmlRefusal::Entity, "/a/b"),
            ("<a><b x='&lol;'/></a>", XmlRefusal::Entity, "/a/b/@x"),
            ("<a><b></c></a>", XmlRefusal::NotWellFormed, "/a/b"),
            ("<a><b>", XmlRefusal::NotWellFormed, "/a/b"),
        ];
        for (doc, kind, path) in cases {
            let err = read(doc.as_bytes(), &limits).unwrap_err();
            assert_eq!((err.kind, err.path.as_str()), (kind, path), "{doc}: {err}");
        }
        assert_eq!(read(b"<a/><b/>", &limits).unwrap_err().kind, XmlRefusal::NotWellFormed);
        // Latin-1 bytes are not read as text: the refusal says where.
        let latin1 = read(b"<a>caf\xe9</a>", &limits).unwrap_err();
        assert_eq!((latin1.kind, latin1.detail.as_str()), (XmlRefusal::NotWellFormed, "byte 6 is not UTF-8 (documents are read as UTF-8)"));
        assert_eq!(read(b"", &limits).unwrap_err().kind, XmlRefusal::NotWellFormed);
    }
}
