//! The single-file, versioned release manifests under `deploy/release/`
//! (`cargo xtask manifest`): ferrolb's CRDs (from api/'s types, as `cargo xtask crds` writes
//! crds/) followed by a kustomization of deploy/ rendered by [`crate::kustomize`]:
//!
//! - `ferrolb-v<version>.yaml`: deploy/, for clusters with kube-proxy (the speakers only
//!   announce);
//! - `ferrolb-v<version>-without-kube-proxy.yaml`: deploy/without-kube-proxy/.
//!
//! The files are committed; a unit test fails while they differ from what this renders.

use std::path::Path;

use crate::Error;
use crate::image::{IMAGES, TAG};

/// The command that regenerates the release manifests.
pub const REGENERATE: &str = "cargo xtask manifest";

/// Where the release manifests are, relative to the repository.
pub const DIR: &str = "deploy/release";

/// Each variant: the file name's suffix, the kustomization rendered, what it is for.
pub const VARIANTS: [(&str, &str, &str); 2] = [
    (
        "",
        "deploy",
        "clusters with kube-proxy: the speakers only announce (deploy/)",
    ),
    (
        "-without-kube-proxy",
        "deploy/without-kube-proxy",
        "clusters without kube-proxy: the speakers also program the Service rules and serve port 10256 (deploy/without-kube-proxy/)",
    ),
];

/// The file name of a variant: `ferrolb-v0.1.0<suffix>.yaml`.
pub fn file_name(suffix: &str) -> String {
    format!("ferrolb-{TAG}{suffix}.yaml")
}

/// Each release manifest as (file name under [`DIR`], YAML text).
pub fn render(repo: &Path) -> Result<Vec<(String, String)>, Error> {
    let mut crds = String::new();
    for (_, yaml) in ferrolb_api::crdgen::yaml().map_err(|e| Error::msg(e.to_string()))? {
        crds.push_str("---\n");
        crds.push_str(&yaml);
    }
    let images: Vec<String> = IMAGES.iter().map(|i| i.reference()).collect();
    VARIANTS
        .iter()
        .map(|(suffix, dir, what)| {
            let file = file_name(suffix);
            let mut text = format!(
                "# ferrolb {TAG}: the CRDs and {dir}/ in one manifest, for {what}.\n\
                 # Install: kubectl apply --server-side -f {file}\n\
                 # Images: {}\n\
                 # Generated from api/'s types and {dir}/ by `{REGENERATE}` (e2e/src/release.rs). Do not edit.\n",
                images.join(", ")
            );
            text.push_str(&crds);
            for doc in crate::kustomize::render(repo, Path::new(dir))? {
                let yaml = serde_norway::to_string(&doc.value)
                    .map_err(|e| Error::msg(format!("rendering {}: {e}", doc.file)))?;
                text.push_str("---\n");
                text.push_str(&yaml);
            }
            Ok((file, text))
        })
        .collect()
}

/// Writes every release manifest into `repo`/[`DIR`] and removes the other `ferrolb-*.yaml`
/// there (an older version's); returns the files written.
pub fn write(repo: &Path) -> Result<Vec<String>, Error> {
    let dir = repo.join(DIR);
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let files = render(repo)?;
    for old in stale(repo, &files)? {
        let p = dir.join(&old);
        std::fs::remove_file(&p).map_err(|e| Error::io(format!("removing {}", p.display()), e))?;
    }
    for (file, text) in &files {
        let p = dir.join(file);
        std::fs::write(&p, text).map_err(|e| Error::io(format!("writing {}", p.display()), e))?;
    }
    Ok(files
        .into_iter()
        .map(|(f, _)| format!("{DIR}/{f}"))
        .collect())
}

/// The `ferrolb-*.yaml` files in [`DIR`] that `files` does not name.
fn stale(repo: &Path, files: &[(String, String)]) -> Result<Vec<String>, Error> {
    let dir = repo.join(DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("reading {}", dir.display()), e)),
    };
    let mut old = Vec::new();
    for e in entries {
        let name = e
            .map_err(|e| Error::io(format!("reading {}", dir.display()), e))?
            .file_name()
            .to_string_lossy()
            .into_owned();
        let ours = name.starts_with("ferrolb-") && name.ends_with(".yaml");
        if ours && !files.iter().any(|(f, _)| *f == name) {
            old.push(name);
        }
    }
    old.sort();
    Ok(old)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests;

    fn repo() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    #[test]
    fn committed_release_manifests_are_current() {
        let files = render(&repo()).unwrap();
        for (file, text) in &files {
            let committed =
                std::fs::read_to_string(repo().join(DIR).join(file)).unwrap_or_default();
            assert!(
                committed == *text,
                "{DIR}/{file} differs from what crds/'s types and deploy/ generate; run `{REGENERATE}` and commit the result"
            );
        }
        let stale = stale(&repo(), &files).unwrap();
        assert!(
            stale.is_empty(),
            "{DIR} holds {stale:?}, which `{REGENERATE}` no longer writes; run it and commit the result"
        );
    }

    #[test]
    fn each_manifest_is_the_crds_then_its_kustomization() {
        for ((file, text), (_, dir, _)) in render(&repo()).unwrap().iter().zip(VARIANTS) {
            assert!(file.contains(TAG), "{file}");
            assert!(text.lines().next().unwrap().contains(TAG));
            assert!(text.contains(REGENERATE));
            let docs = manifests::parse(file, text).unwrap();
            let crds = ferrolb_api::crdgen::all().len();
            assert!(
                docs[..crds]
                    .iter()
                    .all(|d| d.kind() == "CustomResourceDefinition")
            );
            let deploy = crate::kustomize::render(&repo(), Path::new(dir)).unwrap();
            let rest: Vec<_> = docs[crds..].iter().map(|d| &d.value).collect();
            let want: Vec<_> = deploy.iter().map(|d| &d.value).collect();
            assert_eq!(rest, want, "{file}");
            for i in IMAGES {
                assert!(
                    text.contains(&format!("image: {}\n", i.reference())),
                    "{file}"
                );
            }
        }
    }
}
