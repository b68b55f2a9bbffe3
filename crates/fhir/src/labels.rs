//! Security labels in FHIR input: the one rule for a label coding, and the readers of the two
//! ways to change an existing document's labels (`PUT` and JSON Patch `PATCH` of
//! `DocumentReference/{id}`). ITI-65 (`mhd`) and the Synthea import read a new document's
//! labels with the same function (`read_labels`), so a coding means the same on every path.
//!
//! # The rule for a label coding
//!
//! `securityLabel` is an array of CodeableConcepts; each has at least one `coding`, and every
//! coding has a `system` and a `code` (codes are case-sensitive, as FHIR's are). A system is
//! recognised in three spellings: its canonical URL, its `urn:oid:` form, and its bare OID (as
//! XDS metadata carries it and XDS↔FHIR gateways copy it). Carnet writes `urn:oid:` only.
//!
//! - TRE_A07 (`systems::TRE_A07`, `urn:oid:1.2.250.1.213.1.1.4.13`, `1.2.250.1.213.1.1.4.13`)
//!   with `MASQUE_PS`, `INVISIBLE_PATIENT` or `INVISIBLE_REPRESENTANTS_LEGAUX`: that label.
//! - "Normal", `N`, in HL7 v3-Confidentiality (`systems::V3_CONFIDENTIALITY`,
//!   `urn:oid:2.16.840.1.113883.5.25`, `2.16.840.1.113883.5.25`) or in TRE_A07 (ANS's PDSm
//!   examples code it there): no restriction, so accepted and ignored.
//! - Anything else is refused (`code-invalid`): another TRE_A07 code, another v3 code (`R`,
//!   `V`…), another system. A restriction Carnet cannot enforce must not be silently dropped.
//!
//! Labels are a set: the same label twice (in one concept or in two) is that label once; the
//! result keeps the order of first appearance. A concept whose codings are all "normal" adds
//! nothing.
//!
//! # Updates
//!
//! Both readers work in two steps, so a malformed body is refused before the document is loaded
//! (and its read logged): [`read_label_put`] / [`read_label_patch`] check the body alone, then
//! `apply` takes the stored resource as the caller reads it (`render::document_reference`) and
//! returns the [`LabelUpdate`]. Every refusal is an [`MhdError`] naming its element:
//! `DocumentReference.…` for a PUT body and for the labels a patch produces; a JSON Patch has no
//! FHIRPath of its own, so its operations are named as FHIRPath Patch names them,
//! `Parameters.operation[i]`, followed by the member at fault (`.op`, `.path`, `.value`).
//! An operation that cannot be applied is `processing`, `not-supported`, `business-rule` (a path
//! outside `/securityLabel`) or `conflict` (a failed `test`), all of which the edge answers 422;
//! the labels themselves are refused by the rule, with the codes ITI-65 gives them.
//!
//! - `PUT`: the body is the whole DocumentReference, with the id of the URL; only
//!   `securityLabel` may differ from the stored resource (`meta` and `text` are not compared:
//!   clients rewrite them).
//! - `PATCH`: a JSON Patch (RFC 6902) of `/securityLabel` only, on whole labels: `add`
//!   (`/securityLabel`, `/securityLabel/-`, `/securityLabel/<i>`), `remove` and `replace`
//!   (`/securityLabel`, `/securityLabel/<i>`), `test` (the same, compared as JSON). An absent
//!   `securityLabel` is the empty array, so `add /securityLabel/-` works on a document without
//!   labels. Then the resulting array is read by the rule above.

use carnet_domain::SecurityLabel;
use serde_json::Value;

use crate::mhd::MhdError;
use crate::mhd::reader::{Node, shown};
use crate::model::DocumentReference;
use crate::render::IssueType;
use crate::systems;

type Result<T> = std::result::Result<T, MhdError>;

/// The code systems a label coding may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LabelSystem {
    TreA07,
    V3Confidentiality,
    Other,
}

impl LabelSystem {
    /// By its canonical URL, its `urn:oid:` form or its bare OID.
    fn of(system: &str) -> LabelSystem {
        let oid = system.strip_prefix("urn:oid:").unwrap_or(system);
        if system == systems::TRE_A07 || oid == SecurityLabel::SYSTEM_OID {
            LabelSystem::TreA07
        } else if system == systems::V3_CONFIDENTIALITY || oid == systems::V3_CONFIDENTIALITY_OID {
            LabelSystem::V3Confidentiality
        } else {
            LabelSystem::Other
        }
    }
}

/// What one coding says by the rule in the module docs: a label, "normal" (`Ok(None)`), or a
/// refusal ("not a TRE_A07 code" when the system is TRE_A07's, else "not a label Carnet enforces").
fn coding_meaning(system: &str, code: &str) -> std::result::Result<Option<SecurityLabel>, LabelSystem> {
    match (LabelSystem::of(system), code) {
        (LabelSystem::TreA07 | LabelSystem::V3Confidentiality, "N") => Ok(None),
        (LabelSystem::TreA07, code) => SecurityLabel::parse(code).map(Some).ok_or(LabelSystem::TreA07),
        (other, _) => Err(other),
    }
}

/// The labels of a resource's `securityLabel` element (absent: none), by the rule in the module
/// docs. ITI-65, the Synthea import and both update paths call this.
pub(crate) fn read_labels(resource: &Node<'_>) -> Result<Vec<SecurityLabel>> {
    let mut labels = Vec::new();
    for concept in resource.items("securityLabel")? {
        let codings = concept.items("coding")?;
        if codings.is_empty() {
            return Err(concept.error(IssueType::Required, "a security label is a coding from TRE_A07"));
        }
        for coding in codings {
            let system = coding.req("system")?;
            let code = coding.req("code")?;
            let (system_text, code_text) = (system.text()?, code.text()?);
            match coding_meaning(system_text, code_text) {
                Ok(Some(label)) => {
                    if !labels.contains(&label) {
                        labels.push(label);
                    }
                }
                Ok(None) => {}
                Err(LabelSystem::TreA07) => {
                    let allowed: Vec<&str> = SecurityLabel::ALL.iter().map(|l| l.code()).collect();
                    return Err(code.error(
                        IssueType::CodeInvalid,
                        format!("{} is not a TRE_A07 label; allowed: {} (or N, normal)", shown(code_text), allowed.join(", ")),
                    ));
                }
                Err(_) => {
                    return Err(coding.error(
                        IssueType::CodeInvalid,
                        format!(
                            "{}|{} is not a label Carnet enforces: only TRE_A07 ({}) labels, or {}|N, are accepted, since a restriction Carnet cannot enforce must not be silently dropped",
                            shown(system_text),
                            shown(code_text),
                            systems::TRE_A07,
                            systems::V3_CONFIDENTIALITY
                        ),
                    ));
                }
            }
        }
    }
    Ok(labels)
}

/// A label change, read: the labels the document carries after it, each once, and how they
/// differ from the labels it carries now. The service decides whether the caller may.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelUpdate {
    pub labels: Vec<SecurityLabel>,
    /// In `labels`, not carried now.
    pub added: Vec<SecurityLabel>,
    /// Carried now, not in `labels`.
    pub removed: Vec<SecurityLabel>,
}

impl LabelUpdate {
    fn between(stored: &[SecurityLabel], labels: Vec<SecurityLabel>) -> LabelUpdate {
        let added = labels.iter().copied().filter(|l| !stored.contains(l)).collect();
        let removed = stored.iter().copied().filter(|l| !labels.contains(l)).collect();
        LabelUpdate { labels, added, removed }
    }
}

const RESOURCE: &str = "DocumentReference";

/// The stored resource as JSON, and its labels. Carnet rendered it, so neither step fails but
/// by a bug; if one does, the refusal says so rather than panicking.
fn stored_json(stored: &DocumentReference) -> Result<(Value, Vec<SecurityLabel>)> {
    let value = serde_json::to_value(stored).map_err(|e| MhdError {
        path: RESOURCE.into(),
        code: IssueType::Exception,
        message: format!("the stored resource could not be written as JSON: {e}"),
    })?;
    let labels = read_labels(&Node::root(&value, RESOURCE))?;
    Ok((value, labels))
}

/// Elements a PUT does not compare: the labels (the change), and what clients rewrite.
const NOT_COMPARED: [&str; 3] = ["securityLabel", "meta", "text"];

/// A `PUT` body, checked on its own: what it says besides the labels, and its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelPut {
    rest: Value,
    labels: Vec<SecurityLabel>,
}

/// Reads the body of `PUT DocumentReference/{id}` (`id` as in the URL): FHIR JSON, a
/// DocumentReference, with that id, whose labels follow the rule.
pub fn read_label_put(id: &str, body: &[u8]) -> Result<LabelPut> {
    let mut value: Value = serde_json::from_slice(body).map_err(|e| MhdError {
        path: RESOURCE.into(),
        code: IssueType::Structure,
        message: format!("not FHIR JSON: {e}"),
    })?;
    let root = Node::root(&value, RESOURCE);
    root.object()?;
    let resource_type = root.get("resourceType").and_then(|n| n.str().ok());
    if resource_type != Some(RESOURCE) {
        return Err(MhdError {
            path: root.child_path("resourceType"),
            code: IssueType::Invalid,
            message: format!("the body is a DocumentReference, found {}", resource_type.map(shown).unwrap_or_else(|| "none".into())),
        });
    }
    if root.get("id").and_then(|n| n.str().ok()) != Some(id) {
        return Err(MhdError {
            path: root.child_path("id"),
            code: IssueType::Invalid,
            message: "the body's id must be the id in the URL".into(),
        });
    }
    let labels = read_labels(&root)?;
    if let Some(o) = value.as_object_mut() {
        for k in NOT_COMPARED {
            o.remove(k);
        }
    }
    Ok(LabelPut { rest: value, labels })
}

impl LabelPut {
    /// The labels the body asks for, each once.
    pub fn labels(&self) -> &[SecurityLabel] {
        &self.labels
    }

    /// Against the stored resource: nothing but `securityLabel` (and `meta`, `text`) differs.
    pub fn apply(&self, stored: &DocumentReference) -> Result<LabelUpdate> {
        let (mut now, stored_labels) = stored_json(stored)?;
        if let Some(o) = now.as_object_mut() {
            for k in NOT_COMPARED {
                o.remove(k);
            }
        }
        if let Some(path) = first_difference(&now, &self.rest, RESOURCE) {
            return Err(MhdError {
                path,
                code: IssueType::BusinessRule,
                message: "only securityLabel may be changed: a document's other metadata is fixed (replace the document to change it)"
                    .into(),
            });
        }
        Ok(LabelUpdate::between(&stored_labels, self.labels.clone()))
    }
}

/// The first path where two JSON values differ, as a FHIRPath under `at`.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(p), Some(q)) => first_difference(p, q, &format!("{at}.{k}")),
                _ => Some(format!("{at}.{k}")),
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (p, q))| first_difference(p, q, &format!("{at}[{i}]")))
        }
        _ if a == b => None,
        _ => Some(at.to_owned()),
    }
}

/// Where in `securityLabel` an operation acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// `/securityLabel`: the whole array.
    All,
    /// `/securityLabel/-`: after the last label (`add` only).
    End,
    /// `/securityLabel/<i>`.
    At(usize),
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Add(Target, Value),
    Remove(Target),
    Replace(Target, Value),
    Test(Target, Value),
}

/// A JSON Patch of `/securityLabel`, checked on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelPatch {
    ops: Vec<Op>,
}

const PATCH: &str = "Parameters";

/// Reads a JSON Patch (RFC 6902) body: an array of operations on `/securityLabel` (module docs).
pub fn read_label_patch(body: &[u8]) -> Result<LabelPatch> {
    let value: Value = serde_json::from_slice(body).map_err(|e| MhdError {
        path: PATCH.into(),
        code: IssueType::Structure,
        message: format!("not JSON: {e}"),
    })?;
    let Value::Array(items) = &value else {
        return Err(MhdError { path: PATCH.into(), code: IssueType::Structure, message: "a JSON Patch is an array of operations".into() });
    };
    let ops = items.iter().enumerate().map(|(i, op)| read_op(&Node { v: op, path: format!("{PATCH}.operation[{i}]") }));
    Ok(LabelPatch { ops: ops.collect::<Result<_>>()? })
}

/// A refusal of an operation that is well-formed JSON but cannot be applied (422 at the edge,
/// like every refusal of a patch operation).
fn unprocessable(node: &Node<'_>, message: impl Into<String>) -> MhdError {
    node.error(IssueType::Processing, message)
}

fn read_op(op: &Node<'_>) -> Result<Op> {
    if !op.v.is_object() {
        return Err(unprocessable(op, "an operation is an object {op, path, value}"));
    }
    let member = |key: &str| Node { v: op.v.get(key).unwrap_or(&Value::Null), path: op.child_path(key) };
    let (kind, path) = (member("op"), member("path"));
    let kind_text = kind.v.as_str().ok_or_else(|| unprocessable(&kind, "an operation needs op, a string"))?;
    let path_text = path.v.as_str().ok_or_else(|| unprocessable(&path, "an operation needs path, a JSON Pointer"))?;
    if !matches!(kind_text, "add" | "remove" | "replace" | "test") {
        return Err(kind.error(
            IssueType::NotSupported,
            format!("op {} is not supported on securityLabel (add, remove, replace, test)", shown(kind_text)),
        ));
    }
    let target = read_target(&path, path_text)?;
    // `null` is a value (RFC 6902): only an absent member is missing.
    let value = || op.v.get("value").cloned().ok_or_else(|| unprocessable(&member("value"), format!("{kind_text} needs a value")));
    match (kind_text, target) {
        ("add", _) => Ok(Op::Add(target, value()?)),
        (_, Target::End) => Err(unprocessable(&path, format!("{}: \"-\" names no label (only add appends there)", shown(path_text)))),
        ("remove", _) => Ok(Op::Remove(target)),
        ("replace", _) => Ok(Op::Replace(target, value()?)),
        _ => Ok(Op::Test(target, value()?)),
    }
}

fn read_target(node: &Node<'_>, pointer: &str) -> Result<Target> {
    let Some(rest) = pointer.strip_prefix("/securityLabel").filter(|r| r.is_empty() || r.starts_with('/')) else {
        return Err(node.error(
            IssueType::BusinessRule,
            format!(
                "{}: only /securityLabel may be patched: a document's other metadata is fixed (replace the document to change it)",
                shown(pointer)
            ),
        ));
    };
    let Some(step) = rest.strip_prefix('/') else { return Ok(Target::All) };
    if step.contains('/') {
        return Err(node
            .error(IssueType::NotSupported, format!("{}: patch whole labels (/securityLabel/<index>), not their parts", shown(pointer))));
    }
    if step == "-" {
        return Ok(Target::End);
    }
    // RFC 6901 array indices: digits, no leading zero.
    let index = (!step.is_empty() && step.bytes().all(|b| b.is_ascii_digit()) && (step == "0" || !step.starts_with('0')))
        .then(|| step.parse::<usize>().ok())
        .flatten();
    index.map(Target::At).ok_or_else(|| unprocessable(node, format!("{}: not an index into securityLabel", shown(pointer))))
}

impl LabelPatch {
    /// The operations, in order, on the stored resource's labels; then the result, read by the rule.
    pub fn apply(&self, stored: &DocumentReference) -> Result<LabelUpdate> {
        let (now, stored_labels) = stored_json(stored)?;
        let mut labels = now.get("securityLabel").cloned().unwrap_or_else(|| Value::Array(vec![]));
        for (i, op) in self.ops.iter().enumerate() {
            apply_op(&mut labels, op).map_err(|(member, code, message)| MhdError {
                path: format!("{PATCH}.operation[{i}]{member}"),
                code,
                message,
            })?;
        }
        let patched = serde_json::json!({ "securityLabel": labels });
        Ok(LabelUpdate::between(&stored_labels, read_labels(&Node::root(&patched, RESOURCE))?))
    }
}

/// One operation on the `securityLabel` array; a refusal names the operation's member at fault.
fn apply_op(labels: &mut Value, op: &Op) -> std::result::Result<(), (&'static str, IssueType, String)> {
    let processing = |member: &'static str, m: &str| (member, IssueType::Processing, m.to_owned());
    match op {
        Op::Test(target, value) => {
            let found = match target {
                Target::All => Some(&*labels),
                Target::At(i) => labels.get(*i),
                Target::End => None,
            };
            if found == Some(value) {
                Ok(())
            } else {
                Err(("", IssueType::Conflict, "test failed: the labels are not what the patch expects".into()))
            }
        }
        Op::Add(Target::All, value) | Op::Replace(Target::All, value) => {
            *labels = value.clone();
            Ok(())
        }
        Op::Remove(Target::All) => {
            *labels = Value::Array(vec![]);
            Ok(())
        }
        Op::Add(target, value) => {
            let Value::Array(items) = labels else { return Err(processing(".path", "securityLabel is not an array")) };
            let at = match target {
                Target::At(i) => *i,
                _ => items.len(),
            };
            if at > items.len() {
                return Err(processing(".path", "beyond the end of securityLabel"));
            }
            items.insert(at, value.clone());
            Ok(())
        }
        Op::Remove(target) | Op::Replace(target, _) => {
            let Value::Array(items) = labels else { return Err(processing(".path", "securityLabel is not an array")) };
            let i = match target {
                Target::At(i) if *i < items.len() => *i,
                _ => return Err(processing(".path", "no such label")),
            };
            if let Op::Replace(_, value) = op {
                items[i] = value.clone();
            } else {
                items.remove(i);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
