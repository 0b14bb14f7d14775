//! The part of kustomize deploy/ uses, in Rust: `resources` (files, and directories with their
//! own `kustomization.yaml`), `patches` (inline JSON patches, RFC 6902 `replace`, `add` and
//! `test`, on a target named by kind and name) and `images` (`newName`, `newTag`).
//!
//! So that plain `cargo test` renders deploy/ without kubectl (which only the lab builds): the
//! release manifests (`cargo xtask manifest`, [`crate::release`]) and the manifest tests use
//! it. Any other kustomize field, or another kind of patch, is refused by name rather than
//! ignored; the lab's dry-run test checks the result against the real `kubectl kustomize`.
//! Objects keep the order of `resources` (kustomize itself sorts them by kind).

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::Error;
use crate::manifests::{self, Doc};

/// The fields of a kustomization this renderer knows.
const KNOWN: [&str; 5] = ["apiVersion", "kind", "resources", "patches", "images"];

/// The objects `kubectl kustomize dir` renders (`dir` holds `kustomization.yaml`); `repo` is
/// where [`Doc::file`] names are relative to.
pub fn render(repo: &Path, dir: &Path) -> Result<Vec<Doc>, Error> {
    let dir = normalize(&repo.join(dir));
    let file = dir.join("kustomization.yaml");
    let at = shown(repo, &file);
    let k = manifests::read(repo, &at)?;
    let k = match k.as_slice() {
        [one] if one.kind() == "Kustomization" => &one.value,
        _ => return Err(Error::msg(format!("{at}: not one Kustomization"))),
    };
    if let Some(unknown) = k
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys())
        .find(|f| !KNOWN.contains(&f.as_str()))
    {
        return Err(Error::msg(format!(
            "{at}: field {unknown:?} is not one e2e/src/kustomize.rs renders ({KNOWN:?}); teach it or use kubectl kustomize"
        )));
    }
    let mut docs = Vec::new();
    for r in list(&k["resources"], &at, "resources")? {
        let r = r
            .as_str()
            .ok_or_else(|| Error::msg(format!("{at}: a resource is not a path")))?;
        let path = normalize(&dir.join(r));
        if path.is_dir() {
            docs.extend(render(repo, &path)?);
        } else {
            docs.extend(manifests::read(repo, &shown(repo, &path))?);
        }
    }
    for p in list(&k["patches"], &at, "patches")? {
        patch(&mut docs, p).map_err(|e| Error::msg(format!("{at}: {e}")))?;
    }
    for i in list(&k["images"], &at, "images")? {
        image(&mut docs, i).map_err(|e| Error::msg(format!("{at}: {e}")))?;
    }
    Ok(docs)
}

fn list<'a>(v: &'a Value, file: &str, field: &str) -> Result<&'a [Value], Error> {
    match v {
        Value::Null => Ok(&[]),
        Value::Array(a) => Ok(a),
        _ => Err(Error::msg(format!("{file}: {field} is not a list"))),
    }
}

/// Applies one `patches` entry: an inline JSON patch on the one object its target names.
fn patch(docs: &mut [Doc], p: &Value) -> Result<(), String> {
    let t = &p["target"];
    let text = p["patch"]
        .as_str()
        .ok_or("only inline patches (`patch: |-`) are rendered here")?;
    let ops: Value =
        serde_norway::from_str(text).map_err(|e| format!("the patch is not YAML: {e}"))?;
    if !ops.is_array() {
        return Err("only JSON patches (a list of operations) are rendered here".into());
    }
    let matches = |d: &Doc| {
        let api = d.value["apiVersion"].as_str().unwrap_or_default();
        let (group, version) = api.rsplit_once('/').unwrap_or(("", api));
        let is = |field: &str, have: &str| t[field].as_str().is_none_or(|want| want == have);
        is("kind", d.kind())
            && is("name", d.name())
            && is("namespace", d.namespace().unwrap_or_default())
            && is("group", group)
            && is("version", version)
    };
    let mut targets = docs.iter_mut().filter(|d| matches(d));
    match (targets.next(), targets.next()) {
        (Some(d), None) => json_patch(&mut d.value, &ops),
        (None, _) => Err(format!("the patch's target {t} is no object")),
        (Some(_), Some(_)) => Err(format!("the patch's target {t} is more than one object")),
    }
}

/// Applies the JSON patch `ops` (RFC 6902 `replace`, `add` and `test`) to `doc`; a failed
/// `test` is an error, as kustomize refuses to build.
pub fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    for op in ops.as_array().into_iter().flatten() {
        let path = op["path"].as_str().ok_or("an operation without a path")?;
        let value = op["value"].clone();
        match op["op"].as_str() {
            Some("replace") | Some("test") => {
                let at = doc
                    .pointer_mut(path)
                    .ok_or_else(|| format!("{path}: not in the object"))?;
                if op["op"] == "test" && *at != value {
                    return Err(format!("test {path}: {at} is not {value}"));
                }
                *at = value;
            }
            Some("add") => {
                let (parent, last) = path
                    .rsplit_once('/')
                    .ok_or_else(|| format!("{path}: not a JSON pointer"))?;
                let last = last.replace("~1", "/").replace("~0", "~");
                match doc.pointer_mut(parent) {
                    Some(Value::Object(o)) => {
                        o.insert(last, value);
                    }
                    Some(Value::Array(a)) if last == "-" => a.push(value),
                    Some(Value::Array(a)) => {
                        let i: usize = last.parse().map_err(|_| format!("{path}: index"))?;
                        if i > a.len() {
                            return Err(format!("{path}: index out of range"));
                        }
                        a.insert(i, value);
                    }
                    _ => return Err(format!("{path}: no object or list to add to")),
                }
            }
            other => return Err(format!("op {other:?} is not rendered here")),
        }
    }
    Ok(())
}

/// Applies one `images` entry to every container and init container of every Pod template.
fn image(docs: &mut [Doc], i: &Value) -> Result<(), String> {
    let name = i["name"].as_str().ok_or("an images entry without a name")?;
    if let Some(other) = i
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys())
        .find(|k| !["name", "newName", "newTag"].contains(&k.as_str()))
    {
        return Err(format!("images: {other:?} is not rendered here"));
    }
    for d in docs.iter_mut() {
        for list in ["initContainers", "containers"] {
            let at = format!("/spec/template/spec/{list}");
            let Some(cs) = d.value.pointer_mut(&at).and_then(Value::as_array_mut) else {
                continue;
            };
            for c in cs {
                let Some(reference) = c["image"].as_str() else {
                    continue;
                };
                let (repo, tag) = split_reference(reference);
                if repo != name {
                    continue;
                }
                let repo = i["newName"].as_str().unwrap_or(repo);
                let tag = i["newTag"].as_str().or(tag);
                c["image"] = Value::from(match tag {
                    Some(tag) => format!("{repo}:{tag}"),
                    None => repo.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// `registry:5000/a/b:tag` as (`registry:5000/a/b`, `tag`): a colon after the last slash.
fn split_reference(reference: &str) -> (&str, Option<&str>) {
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[slash..].rfind(':') {
        Some(c) => (&reference[..slash + c], Some(&reference[slash + c + 1..])),
        None => (reference, None),
    }
}

/// `a/b/../c` as `a/c`, without touching the file system.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// `path` relative to `repo` where it is inside, else whole.
fn shown(repo: &Path, path: &Path) -> String {
    let repo = normalize(repo);
    path.strip_prefix(&repo)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_split_at_the_tag_not_the_registry_port() {
        assert_eq!(
            split_reference("ghcr.io/ferrolb/speaker:v0.1.0"),
            ("ghcr.io/ferrolb/speaker", Some("v0.1.0"))
        );
        assert_eq!(
            split_reference("localhost:5000/speaker"),
            ("localhost:5000/speaker", None)
        );
    }

    #[test]
    fn json_patch_replaces_adds_and_refuses_a_failed_test() {
        let mut v = json!({"a": [1, 2], "b": {"c": 1}});
        json_patch(
            &mut v,
            &json!([{"op": "replace", "path": "/b/c", "value": 2},
                    {"op": "add", "path": "/a/-", "value": 3},
                    {"op": "add", "path": "/b/d", "value": 4},
                    {"op": "test", "path": "/a/0", "value": 1}]),
        )
        .unwrap();
        assert_eq!(v, json!({"a": [1, 2, 3], "b": {"c": 2, "d": 4}}));
        let e = json_patch(&mut v, &json!([{"op": "test", "path": "/a/0", "value": 9}]));
        assert!(e.unwrap_err().contains("test /a/0"));
        let e = json_patch(&mut v, &json!([{"op": "move", "path": "/a", "from": "/b"}]));
        assert!(e.unwrap_err().contains("move"));
    }
}
