//! A JSON value with the FHIRPath of where it sits, so every refusal names its element.

use serde_json::Value;

use super::MhdError;
use crate::render::IssueType;

#[derive(Debug, Clone)]
pub(crate) struct Node<'a> {
    pub v: &'a Value,
    pub path: String,
}

/// A value for a message: short, escaped, never the whole input.
pub(crate) fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    format!("{out:?}")
}

impl<'a> Node<'a> {
    pub fn root(v: &'a Value, path: &str) -> Node<'a> {
        Node { v, path: path.to_owned() }
    }

    pub fn error(&self, code: IssueType, message: impl Into<String>) -> MhdError {
        MhdError { path: self.path.clone(), code, message: message.into() }
    }

    pub fn child_path(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    /// The element `key`, if present and not `null`. Not an object → `None` as well: callers
    /// that need an object call [`Node::object`] first.
    pub fn get(&self, key: &str) -> Option<Node<'a>> {
        match self.v.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(Node { v, path: self.child_path(key) }),
        }
    }

    pub fn req(&self, key: &str) -> Result<Node<'a>, MhdError> {
        self.get(key).ok_or_else(|| MhdError { path: self.child_path(key), code: IssueType::Required, message: "is required".into() })
    }

    pub fn object(&self) -> Result<&Self, MhdError> {
        if self.v.is_object() { Ok(self) } else { Err(self.error(IssueType::Structure, "must be a JSON object")) }
    }

    pub fn str(&self) -> Result<&'a str, MhdError> {
        match self.v {
            Value::String(s) => Ok(s.as_str()),
            _ => Err(self.error(IssueType::Structure, "must be a string")),
        }
    }

    /// A non-blank string.
    pub fn text(&self) -> Result<&'a str, MhdError> {
        let s = self.str()?;
        if s.trim().is_empty() { Err(self.error(IssueType::Value, "must not be empty")) } else { Ok(s) }
    }

    pub fn opt_text(&self, key: &str) -> Result<Option<&'a str>, MhdError> {
        self.get(key).map(|n| n.text()).transpose()
    }

    pub fn req_text(&self, key: &str) -> Result<&'a str, MhdError> {
        self.req(key)?.text()
    }

    pub fn u64(&self) -> Result<u64, MhdError> {
        self.v.as_u64().ok_or_else(|| self.error(IssueType::Structure, "must be a non-negative integer"))
    }

    /// The items of an array element (absent → none).
    pub fn items(&self, key: &str) -> Result<Vec<Node<'a>>, MhdError> {
        let Some(n) = self.get(key) else { return Ok(vec![]) };
        let Value::Array(items) = n.v else { return Err(n.error(IssueType::Structure, "must be an array")) };
        Ok(items.iter().enumerate().map(|(i, v)| Node { v, path: format!("{}[{i}]", n.path) }).collect())
    }
}

/// FHIR: "a system that does not understand a modifier extension SHALL reject" the resource.
/// Carnet understands none, so any `modifierExtension` (and `implicitRules`, which may change
/// what the resource means) anywhere is refused with its path. Depth is bounded by serde_json's
/// recursion limit (128), so this walk cannot exhaust the stack.
pub(crate) fn refuse_modifiers(node: &Node<'_>) -> Result<(), MhdError> {
    match node.v {
        Value::Object(map) => {
            for (key, v) in map {
                let child = Node { v, path: node.child_path(key) };
                match key.as_str() {
                    "modifierExtension" if !matches!(v, Value::Array(a) if a.is_empty()) => {
                        let url = v.get(0).and_then(|e| e.get("url")).and_then(Value::as_str).map(shown).unwrap_or_default();
                        return Err(child.error(
                            IssueType::NotSupported,
                            format!("Carnet does not understand this modifier extension {url} and may not ignore it"),
                        ));
                    }
                    "implicitRules" => {
                        return Err(child.error(IssueType::NotSupported, "resources under implicit rules are not accepted"));
                    }
                    _ => refuse_modifiers(&child)?,
                }
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                refuse_modifiers(&Node { v, path: format!("{}[{i}]", node.path) })?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
