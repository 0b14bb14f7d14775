//! ferrolb's resource names beside Calico's and Cilium's: every plural, singular, kind and short
//! name of ferrolb's CRDs (from api/'s types) differs from every name of their CRDs (committed
//! under e2e/tests/manifests/foreign-crds/ with their exact names and sources), so that
//! `kubectl get NAME` on a cluster with both never shows the other's resource; and ferrolb's
//! category names no resource and no category of theirs. The lab test `foreign_crds` (in
//! e2e/tests/lab.rs) asks a real apiserver and kubectl the same.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use ferrolb_e2e::manifests::{self, Doc, crd_categories, crd_names};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

const FOREIGN: &str = "e2e/tests/manifests/foreign-crds";

fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every CRD under [`FOREIGN`], each read as a CustomResourceDefinition.
fn foreign() -> Vec<Doc> {
    let mut files: Vec<String> = std::fs::read_dir(repo().join(FOREIGN))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".yaml"))
        .collect();
    files.sort();
    let docs: Vec<Doc> = files
        .iter()
        .flat_map(|f| manifests::read(&repo(), &format!("{FOREIGN}/{f}")).unwrap())
        .collect();
    for d in &docs {
        let _: CustomResourceDefinition = serde_json::from_value(d.value.clone())
            .unwrap_or_else(|e| panic!("{} {}: {e}", d.file, d.name()));
    }
    docs
}

fn ferrolb() -> Vec<serde_json::Value> {
    ferrolb_api::crdgen::all()
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect()
}

#[test]
fn the_foreign_crds_are_calicos_and_ciliums_with_the_names_that_clash_elsewhere() {
    let docs = foreign();
    let group = |g: &str| {
        docs.iter()
            .filter(|d| d.value["spec"]["group"] == g)
            .count()
    };
    assert!(group("crd.projectcalico.org") >= 20);
    assert!(group("projectcalico.org") >= 20);
    assert!(group("cilium.io") >= 15);
    let owners = |name: &str| -> Vec<&str> {
        docs.iter()
            .filter(|d| crd_names(&d.value).iter().any(|n| n == name))
            .map(|d| d.name())
            .collect()
    };
    // What made ferrolb rename its pools: Calico's plural and Cilium's short names.
    assert_eq!(
        owners("ippools"),
        [
            "ippools.crd.projectcalico.org",
            "ippools.projectcalico.org",
            "ciliumloadbalancerippools.cilium.io"
        ]
    );
    assert_eq!(
        owners("l2announcement"),
        ["ciliuml2announcementpolicies.cilium.io"]
    );
    assert_eq!(owners("cpip"), ["ciliumpodippools.cilium.io"]);
}

#[test]
fn ferrolbs_names_are_distinct_from_calicos_and_ciliums() {
    let mut foreign_names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut foreign_categories: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in foreign() {
        for n in crd_names(&d.value) {
            foreign_names
                .entry(n)
                .or_default()
                .push(d.name().to_string());
        }
        for c in crd_categories(&d.value) {
            foreign_categories
                .entry(c)
                .or_default()
                .push(d.name().to_string());
        }
    }
    let mut clashes = Vec::new();
    let mut ours: BTreeMap<String, String> = BTreeMap::new();
    for crd in ferrolb() {
        let name = crd["metadata"]["name"].as_str().unwrap().to_string();
        let names = crd_names(&crd);
        assert!(
            names.len() >= 4,
            "{name}: plural, singular (= kind) and two short names"
        );
        for n in names {
            if let Some(theirs) = foreign_names.get(&n) {
                clashes.push(format!("{n} ({name}) is also {theirs:?}"));
            }
            if let Some(other) = ours.insert(n.clone(), name.clone())
                && other != name
            {
                clashes.push(format!("{n} names both {other} and {name}"));
            }
        }
    }
    for crd in ferrolb() {
        let name = crd["metadata"]["name"].as_str().unwrap();
        let categories = crd_categories(&crd);
        assert_eq!(
            categories,
            ["ferrolb"],
            "{name}: one category, ferrolb's own"
        );
        for c in categories {
            if let Some(theirs) = foreign_categories.get(&c) {
                clashes.push(format!("category {c} ({name}) is also {theirs:?}'s"));
            }
            if let Some(theirs) = foreign_names.get(&c) {
                clashes.push(format!("category {c} ({name}) is the name of {theirs:?}"));
            }
            if let Some(ours) = ours.get(&c) {
                clashes.push(format!("category {c} ({name}) is the name of {ours}"));
            }
        }
    }
    assert!(
        clashes.is_empty(),
        "`kubectl get NAME` would be ambiguous on a cluster with Calico or Cilium:\n{}",
        clashes.join("\n")
    );
}
