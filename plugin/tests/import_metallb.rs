//! `import-metallb` on MetalLB's documented examples (tests/fixtures/metallb/): the ferrolb
//! objects and warnings (golden), and that no field of a MetalLB object is dropped without a
//! warning.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use ferrolb_plugin::import::{from_files, render};
use ferrolb_plugin::metallb::{self, Imported};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/metallb")
        .join(name)
}

fn fixtures() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(fixture(""))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    out.sort();
    out
}

fn imported(path: &Path) -> (Vec<Value>, Imported) {
    let objects = from_files(&[path.to_path_buf()]).unwrap();
    let imported = metallb::import(&objects);
    (objects, imported)
}

/// What the operator sees: stdout, then stderr.
fn shown(imported: &Imported) -> String {
    let mut out = render(imported).unwrap();
    for w in &imported.warnings {
        out.push_str(&format!("# warning: {w}\n"));
    }
    for n in &imported.notes {
        out.push_str(&format!("# note: {n}\n"));
    }
    out
}

#[test]
fn every_documented_example_imports_as_recorded() {
    for path in fixtures() {
        let (_, imported) = imported(&path);
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        insta::assert_snapshot!(name, shown(&imported));
    }
}

/// MetalLB's field (under `spec`) → ferrolb's (under the converted object's `spec`).
const MAPPED: &[(&str, &str, &str)] = &[
    ("IPAddressPool", "addresses", "addresses"),
    ("IPAddressPool", "autoAssign", "autoAssign"),
    ("IPAddressPool", "avoidBuggyIPs", "avoidBuggyIps"),
    (
        "IPAddressPool",
        "serviceAllocation/priority",
        "serviceAllocation/priority",
    ),
    (
        "IPAddressPool",
        "serviceAllocation/namespaces",
        "serviceAllocation/namespaces",
    ),
    (
        "IPAddressPool",
        "serviceAllocation/namespaceSelectors",
        "serviceAllocation/namespaceSelector",
    ),
    (
        "IPAddressPool",
        "serviceAllocation/serviceSelectors",
        "serviceAllocation/serviceSelector",
    ),
    ("L2Advertisement", "ipAddressPools", "ipPools"),
    (
        "L2Advertisement",
        "ipAddressPoolSelectors",
        "ipPoolSelector",
    ),
    ("L2Advertisement", "nodeSelectors", "nodeSelector"),
    ("L2Advertisement", "interfaces", "interfaces"),
];

/// Every field a MetalLB object sets under `spec` (two levels) reaches the ferrolb object it
/// became, or a warning names the object and that field.
#[test]
fn no_field_is_dropped_without_a_warning() {
    for path in fixtures() {
        let (objects, imported) = imported(&path);
        let out: Vec<Value> = imported
            .pools
            .iter()
            .map(|p| serde_json::to_value(p).unwrap())
            .chain(
                imported
                    .policies
                    .iter()
                    .map(|p| serde_json::to_value(p).unwrap()),
            )
            .collect();
        for obj in objects.iter().filter(|o| {
            o["apiVersion"]
                .as_str()
                .unwrap_or_default()
                .starts_with("metallb.io/")
        }) {
            let kind = obj["kind"].as_str().unwrap();
            let name = obj["metadata"]["name"].as_str().unwrap();
            let described = metallb::describe(obj);
            let warned = |field: &str| {
                imported.warnings.iter().any(|w| {
                    w.starts_with(&format!("{described}:"))
                        && (field.is_empty() || w.contains(field))
                })
            };
            let mut fields = Vec::new();
            for (k, v) in obj["spec"].as_object().into_iter().flatten() {
                match v.as_object() {
                    Some(inner) if k == "serviceAllocation" => {
                        fields.extend(inner.keys().map(|i| format!("{k}/{i}")))
                    }
                    _ => fields.push(k.clone()),
                }
            }
            // Converted objects: the pool of that name, the policies named NAME or NAME-n.
            let converted: Vec<&Value> = out
                .iter()
                .filter(|o| {
                    o["kind"].as_str()
                        == Some(if kind == "IPAddressPool" {
                            "VIPPool"
                        } else {
                            "L2AnnouncementPolicy"
                        })
                        && o["metadata"]["name"].as_str().is_some_and(|n| {
                            n == name || n.strip_prefix(name).is_some_and(|r| r.starts_with('-'))
                        })
                })
                .collect();
            if converted.is_empty() {
                assert!(
                    warned(""),
                    "{}: {described} neither imported nor warned about",
                    path.display()
                );
                continue;
            }
            for field in fields {
                let mapped = MAPPED
                    .iter()
                    .find(|(k, from, _)| *k == kind && *from == field);
                let reached = mapped.is_some_and(|(_, from, to)| {
                    let source = obj["spec"].pointer(&format!("/{from}")).unwrap();
                    converted
                        .iter()
                        .all(|c| match c["spec"].pointer(&format!("/{to}")) {
                            None | Some(Value::Null) => false,
                            Some(Value::Bool(b)) => Some(*b) == source.as_bool(),
                            Some(Value::Array(a)) => !a.is_empty(),
                            Some(_) => true,
                        })
                });
                let leaf = field.rsplit('/').next().unwrap();
                assert!(
                    reached || warned(leaf),
                    "{}: {described}: spec.{field} reached no ferrolb field and no warning names it",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn services_give_adoption_records_pinned_to_their_uid_when_known() {
    let (_, imported) = imported(&fixture("services.yaml"));
    let pool = &imported.pools[0];
    let records: Vec<(String, Option<String>, Vec<String>)> = pool
        .spec
        .adopted_addresses
        .iter()
        .map(|a| {
            (
                format!("{}/{}", a.namespace, a.name),
                a.uid.clone(),
                a.addresses.clone(),
            )
        })
        .collect();
    assert_eq!(
        records,
        [
            (
                "default/dns-service-tcp".into(),
                None,
                vec!["1.2.3.4".into()]
            ),
            (
                "default/dns-service-udp".into(),
                None,
                vec!["1.2.3.4".into()]
            ),
            (
                "default/nginx".into(),
                Some("6a1e3c1e-0000-4000-8000-000000000001".into()),
                vec!["192.168.1.100".into()]
            ),
        ]
    );
    assert!(
        imported
            .warnings
            .iter()
            .any(|w| w.contains("Service other/elsewhere") && w.contains("203.0.113.9")),
        "{:?}",
        imported.warnings
    );
}
