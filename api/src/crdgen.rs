//! Renders the CRD YAML under `crds/` from the Rust types.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray,
};
use kube::CustomResourceExt;

use crate::{ExternalIPPolicy, L2AnnouncementPolicy, ServiceAnnouncement, VIPPool};

/// The command that regenerates `crds/` (and the chart's copy) from the types.
pub const REGENERATE: &str = "cargo xtask crds";

/// Where [`REGENERATE`] writes [`render`]'s files, relative to the repository: `crds/` (what
/// `kubectl apply -f crds/` installs) and the Helm chart's `crds/` (installed once by
/// `helm install`, never upgraded or deleted by Helm).
pub const DIRS: [&str; 2] = ["crds", "charts/ferrolb/crds"];

/// Error rendering a CRD.
#[derive(Debug, thiserror::Error)]
#[error("rendering CRD {name} as YAML: {source}")]
pub struct RenderError {
    name: String,
    #[source]
    source: serde_norway::Error,
}

/// Every CRD ferrolb defines, with the merge markers of [`mark_merge_strategy`].
pub fn all() -> Vec<CustomResourceDefinition> {
    let mut crds = vec![
        VIPPool::crd(),
        L2AnnouncementPolicy::crd(),
        ExternalIPPolicy::crd(),
        ServiceAnnouncement::crd(),
    ];
    for crd in &mut crds {
        for version in &mut crd.spec.versions {
            if let Some(schema) = version
                .schema
                .as_mut()
                .and_then(|s| s.open_api_v3_schema.as_mut())
            {
                mark_merge_strategy(schema);
            }
        }
    }
    crds
}

/// How server-side apply merges what Kubernetes' own types mark the same way: every
/// `conditions` list is a map keyed by `type` (each writer owns its own conditions), and every
/// label selector (`...Selector`) is atomic (replaced whole, never merged key by key).
pub fn mark_merge_strategy(schema: &mut JSONSchemaProps) {
    if let Some(props) = schema.properties.as_mut() {
        for (name, prop) in props.iter_mut() {
            if name == "conditions" && prop.type_.as_deref() == Some("array") {
                prop.x_kubernetes_list_type = Some("map".into());
                prop.x_kubernetes_list_map_keys = Some(vec!["type".into()]);
            }
            if name.ends_with("Selector") && prop.type_.as_deref() == Some("object") {
                prop.x_kubernetes_map_type = Some("atomic".into());
            }
            mark_merge_strategy(prop);
        }
    }
    if let Some(JSONSchemaPropsOrArray::Schema(items)) = schema.items.as_mut() {
        mark_merge_strategy(items);
    }
}

/// Each CRD as (its name, its YAML without a header), in [`all`]'s order.
pub fn yaml() -> Result<Vec<(String, String)>, RenderError> {
    all()
        .into_iter()
        .map(|crd| {
            let name = crd.metadata.name.clone().unwrap_or_default();
            let yaml = serde_norway::to_string(&crd).map_err(|source| RenderError {
                name: name.clone(),
                source,
            })?;
            Ok((name, yaml))
        })
        .collect()
}

/// Each CRD as (file name under `crds/`, YAML text).
pub fn render() -> Result<Vec<(String, String)>, RenderError> {
    let header =
        format!("# Generated from the Rust types in api/ by `{REGENERATE}`. Do not edit.\n");
    Ok(yaml()?
        .into_iter()
        .map(|(name, yaml)| (format!("{name}.yaml"), format!("{header}{yaml}")))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn committed_crds_match_the_types() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let files = render().expect("render");
        for dir in DIRS {
            for (file, yaml) in &files {
                let committed =
                    std::fs::read_to_string(repo.join(dir).join(file)).unwrap_or_default();
                assert!(
                    committed == *yaml,
                    "{dir}/{file} differs from what the Rust types generate; run `{REGENERATE}` and commit the result"
                );
            }
            let mut present: Vec<String> = std::fs::read_dir(repo.join(dir))
                .expect("the CRD directory")
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect();
            present.sort();
            let mut want: Vec<String> = files.iter().map(|(f, _)| f.clone()).collect();
            want.sort();
            assert_eq!(
                present, want,
                "{dir} holds other files than `{REGENERATE}` writes; run it and remove the rest"
            );
        }
    }

    #[test]
    fn conditions_are_list_maps_and_selectors_atomic() {
        let mut conditions = 0;
        let mut selectors = 0;
        fn walk(v: &serde_json::Value, conditions: &mut usize, selectors: &mut usize) {
            if let Some(props) = v.get("properties").and_then(|p| p.as_object()) {
                for (k, sub) in props {
                    if k == "conditions" {
                        assert_eq!(sub["x-kubernetes-list-type"], "map", "{k}");
                        assert_eq!(
                            sub["x-kubernetes-list-map-keys"],
                            serde_json::json!(["type"])
                        );
                        *conditions += 1;
                    }
                    if k.ends_with("Selector") {
                        assert_eq!(sub["x-kubernetes-map-type"], "atomic", "{k}");
                        *selectors += 1;
                    }
                    walk(sub, conditions, selectors);
                }
            }
            if let Some(items) = v.get("items") {
                walk(items, conditions, selectors);
            }
        }
        for crd in all() {
            let v = serde_json::to_value(&crd.spec.versions[0].schema).expect("json");
            walk(&v["openAPIV3Schema"], &mut conditions, &mut selectors);
        }
        assert!(
            conditions >= 1 && selectors >= 5,
            "{conditions} {selectors}"
        );
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
