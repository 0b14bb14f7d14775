//! Renders the CRD YAML under `crds/` from the Rust types.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::{ExternalIPPolicy, L2AnnouncementPolicy, ServiceAnnouncement, VIPPool};

/// The command that regenerates `crds/` from the types.
pub const REGENERATE: &str = "cargo xtask crds";

/// Error rendering a CRD.
#[derive(Debug, thiserror::Error)]
#[error("rendering CRD {name} as YAML: {source}")]
pub struct RenderError {
    name: String,
    #[source]
    source: serde_norway::Error,
}

/// Every CRD ferrolb defines.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![
        VIPPool::crd(),
        L2AnnouncementPolicy::crd(),
        ExternalIPPolicy::crd(),
        ServiceAnnouncement::crd(),
    ]
}

/// Each CRD as (file name under `crds/`, YAML text).
pub fn render() -> Result<Vec<(String, String)>, RenderError> {
    all()
        .into_iter()
        .map(|crd| {
            let name = crd.metadata.name.clone().unwrap_or_default();
            let yaml = serde_norway::to_string(&crd).map_err(|source| RenderError {
                name: name.clone(),
                source,
            })?;
            let header = format!(
                "# Generated from the Rust types in api/ by `{REGENERATE}`. Do not edit.\n"
            );
            Ok((format!("{name}.yaml"), format!("{header}{yaml}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn committed_crds_match_the_types() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds");
        for (file, yaml) in render().expect("render") {
            let committed = std::fs::read_to_string(dir.join(&file)).unwrap_or_default();
            assert!(
                committed == yaml,
                "crds/{file} differs from what the Rust types generate; run `{REGENERATE}` and commit the result"
            );
        }
    }

    #[test]
    fn every_field_is_explained() {
        // `kubectl explain` shows descriptions: every property of every spec/status has one.
        fn walk(path: &str, v: &serde_json::Value, missing: &mut Vec<String>) {
            if let Some(props) = v.get("properties").and_then(|p| p.as_object()) {
                for (k, sub) in props {
                    let p = format!("{path}.{k}");
                    let is_meta = path.ends_with(".metadata")
                        || k == "apiVersion"
                        || k == "kind"
                        || k == "metadata";
                    if !is_meta && sub.get("description").is_none() {
                        missing.push(p.clone());
                    }
                    walk(&p, sub, missing);
                }
            }
            if let Some(items) = v.get("items") {
                walk(&format!("{path}[]"), items, missing);
            }
        }
        let mut missing = Vec::new();
        for crd in all() {
            let v = serde_json::to_value(&crd.spec.versions[0].schema).expect("json");
            walk(&crd.spec.names.kind, &v["openAPIV3Schema"], &mut missing);
        }
        // Condition and LabelSelector come from Kubernetes with their own docs.
        missing.retain(|p| !p.contains("conditions[]") && !p.contains("Selector."));
        assert!(
            missing.is_empty(),
            "fields without a doc comment: {missing:?}"
        );
    }
}
