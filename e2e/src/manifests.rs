//! Reading the YAML of deploy/ and crds/: each file's objects as JSON values, for the lab
//! (which runs ferrolb with deploy/'s identities, args and env) and the manifest tests.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::Error;

/// One object from a YAML file.
#[derive(Debug, Clone)]
pub struct Doc {
    /// The file it came from (relative to the repository).
    pub file: String,
    /// The object.
    pub value: Value,
}

impl Doc {
    /// Its `kind` ("" when missing).
    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }
    /// Its `metadata.name` ("" when missing).
    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }
    /// Its `metadata.namespace`.
    pub fn namespace(&self) -> Option<&str> {
        self.value["metadata"]["namespace"].as_str()
    }
}

/// Every object of the YAML `text` of `file` (documents separated by `---`; empty ones skipped).
pub fn parse(file: &str, text: &str) -> Result<Vec<Doc>, Error> {
    serde_norway::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).map_err(|e| Error::msg(format!("{file}: {e}"))))
        .filter(|v| !v.as_ref().is_ok_and(Value::is_null))
        .map(|v| {
            v.map(|value| Doc {
                file: file.to_string(),
                value,
            })
        })
        .collect()
}

/// Every object of the file `path` (relative to `repo`).
pub fn read(repo: &Path, path: &str) -> Result<Vec<Doc>, Error> {
    let full = repo.join(path);
    let text = std::fs::read_to_string(&full)
        .map_err(|e| Error::io(format!("reading {}", full.display()), e))?;
    parse(path, &text)
}

/// The one object of `kind` named `name` in `docs`.
pub fn find<'a>(docs: &'a [Doc], kind: &str, name: &str) -> Result<&'a Doc, Error> {
    let mut found = docs.iter().filter(|d| d.kind() == kind && d.name() == name);
    match (found.next(), found.next()) {
        (Some(d), None) => Ok(d),
        (None, _) => Err(Error::msg(format!("no {kind} {name} in the manifests"))),
        (Some(_), Some(_)) => Err(Error::msg(format!("more than one {kind} {name}"))),
    }
}

/// The names `kubectl get NAME` resolves to the CustomResourceDefinition `crd`: its plural,
/// singular, kind (lowercased, as kubectl matches it) and short names, in that order, each once.
pub fn crd_names(crd: &Value) -> Vec<String> {
    let names = &crd["spec"]["names"];
    let mut all: Vec<String> = ["plural", "singular", "kind"]
        .iter()
        .filter_map(|f| names[f].as_str())
        .map(str::to_lowercase)
        .collect();
    all.extend(
        names["shortNames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_lowercase),
    );
    let mut seen = std::collections::HashSet::new();
    all.retain(|n| seen.insert(n.clone()));
    all
}

/// The categories of the CustomResourceDefinition `crd` (`kubectl get CATEGORY`).
pub fn crd_categories(crd: &Value) -> Vec<String> {
    crd["spec"]["names"]["categories"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}
