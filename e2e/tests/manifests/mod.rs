//! Reading deploy/ and crds/ for the manifest tests, and the helpers they share.

mod permissions;
pub mod rbac;

use std::path::{Path, PathBuf};

use serde_json::Value;

pub use ferrolb_e2e::manifests::Doc;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e/ is inside the repository")
        .to_path_buf()
}

/// The `*.yaml` files directly in `dir` (relative to the repository), sorted, without
/// `kustomization.yaml`.
pub fn yaml_files(dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo().join(dir))
        .unwrap_or_else(|e| panic!("reading {dir}: {e}"))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".yaml") && f != "kustomization.yaml")
        .collect();
    files.sort();
    files
}

/// Every object of a YAML file (documents separated by `---`; empty ones skipped).
pub fn read(path: &str) -> Vec<Doc> {
    ferrolb_e2e::manifests::read(&repo(), path).unwrap_or_else(|e| panic!("{e}"))
}

/// Every object in the `*.yaml` files of `dir`.
pub fn read_dir(dir: &str) -> Vec<Doc> {
    yaml_files(dir)
        .iter()
        .flat_map(|f| read(&format!("{dir}/{f}")))
        .collect()
}

/// The one object of `kind` named `name`.
pub fn find<'a>(docs: &'a [Doc], kind: &str, name: &str) -> &'a Doc {
    ferrolb_e2e::manifests::find(docs, kind, name)
        .unwrap_or_else(|e| panic!("exactly one {kind} {name} in deploy/: {e}"))
}

/// Asserts that every field of `original` is in `typed` with the same value: `typed` is
/// `original` read through its API type and written back, so a misspelt or misplaced field
/// (which the type drops) fails here instead of being ignored by the apiserver.
pub fn assert_subset(at: &str, original: &Value, typed: &Value) {
    match (original, typed) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let Some(w) = b.get(k) else {
                    panic!("{at}.{k} is not a field of its type (misspelt or misplaced?)");
                };
                assert_subset(&format!("{at}.{k}"), v, w);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{at}: list length");
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                assert_subset(&format!("{at}[{i}]"), v, w);
            }
        }
        _ => assert_eq!(original, typed, "{at}"),
    }
}

/// Reads `doc` as `T` and back, and checks nothing was lost ([`assert_subset`]).
pub fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(doc: &Doc) {
    let at = format!("{} {}/{}", doc.file, doc.kind(), doc.name());
    let typed: T = serde_json::from_value(doc.value.clone())
        .unwrap_or_else(|e| panic!("{at} does not read as its type: {e}"));
    let back = serde_json::to_value(&typed).unwrap();
    assert_subset(&at, &doc.value, &back);
}

/// A container's port number: `port` as a number, or the `containerPort` of the port it names.
pub fn port_of(container: &Value, port: &Value) -> u16 {
    if let Some(n) = port.as_u64() {
        return u16::try_from(n).unwrap();
    }
    let name = port.as_str().expect("a port is a number or a name");
    let found = container["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no container port named {name}"));
    u16::try_from(found["containerPort"].as_u64().unwrap()).unwrap()
}

/// `values` as strings (a missing list is empty).
pub fn strings(values: &Value) -> Vec<&str> {
    values
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v.as_str().expect("a string"))
        .collect()
}
