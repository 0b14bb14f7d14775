//! Every ferrolb object in the documentation (each `yaml` block of README.md and of the
//! Markdown under deploy/) against the schema the CRDs give the apiserver: a field the schema
//! does not know is refused (as `kubectl apply`'s strict field validation refuses it), a
//! required field must be there, and each value must have its schema's type and enum.
//! CEL rules and formats are the apiserver's business: `lab_end_to_end` applies each example
//! to the lab's apiserver with a server-side dry run.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;

fn examples() -> Vec<(String, Value)> {
    ferrolb_e2e::docs::examples(&ferrolb_e2e::testlab::repo_root()).unwrap()
}

/// The openAPIV3Schema of `kind` in `api_version`, from the CRDs `crds/` is generated from.
fn schema(api_version: &str, kind: &str) -> Option<Value> {
    ferrolb_api::crdgen::all().into_iter().find_map(|crd| {
        let group = crd.spec.group.clone();
        (crd.spec.names.kind == kind)
            .then(|| {
                crd.spec.versions.into_iter().find_map(|v| {
                    (format!("{group}/{}", v.name) == api_version)
                        .then(|| serde_json::to_value(v.schema?.open_api_v3_schema?).ok())
                        .flatten()
                })
            })
            .flatten()
    })
}

/// Where `value` breaks `schema` (paths as `spec.addresses[0]`).
fn check(path: &str, value: &Value, schema: &Value, problems: &mut Vec<String>) {
    if schema["x-kubernetes-preserve-unknown-fields"] == true {
        return;
    }
    if value.is_null() && schema["nullable"] == true {
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        problems.push(format!("{path}: {value} is not one of {allowed:?}"));
    }
    let int_or_string = schema["x-kubernetes-int-or-string"] == true;
    let fits = match schema["type"].as_str() {
        _ if int_or_string => value.is_i64() || value.is_u64() || value.is_string(),
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        _ => true,
    };
    if !fits {
        problems.push(format!("{path}: {value} is not of type {}", schema["type"]));
        return;
    }
    if let Some(items) = value.as_array() {
        for (i, item) in items.iter().enumerate() {
            check(&format!("{path}[{i}]"), item, &schema["items"], problems);
        }
    }
    if let Some(fields) = value.as_object() {
        for required in schema["required"].as_array().into_iter().flatten() {
            let required = required.as_str().unwrap_or_default();
            if !fields.contains_key(required) {
                problems.push(format!("{path}.{required}: required, missing"));
            }
        }
        let properties = schema["properties"].as_object();
        for (name, sub) in fields {
            let at = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            match (
                properties.and_then(|p| p.get(name)),
                &schema["additionalProperties"],
            ) {
                (Some(field), _) => check(&at, sub, field, problems),
                (None, extra) if extra.is_object() => check(&at, sub, extra, problems),
                (None, _) if properties.is_some() || schema["type"] == "object" => {
                    problems.push(format!("{at}: unknown field"));
                }
                (None, _) => {}
            }
        }
    }
}

/// Where `object` breaks its CRD's schema (apiVersion, kind and metadata are the apiserver's).
fn problems(object: &Value) -> Vec<String> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    let Some(schema) = schema(api_version, kind) else {
        return vec![format!("no CRD defines {kind} in {api_version}")];
    };
    let mut body = object.clone();
    if let Some(fields) = body.as_object_mut() {
        for own in ["apiVersion", "kind", "metadata"] {
            fields.remove(own);
        }
    }
    let mut problems = Vec::new();
    check("", &body, &schema, &mut problems);
    problems
}

#[test]
fn every_documented_object_fits_its_crd() {
    let examples = examples();
    let kinds: std::collections::BTreeSet<&str> = examples
        .iter()
        .filter_map(|(_, v)| v["kind"].as_str())
        .collect();
    // README's CRD section shows these three; the edge's README a VIPPool.
    for kind in ["VIPPool", "L2AnnouncementPolicy", "ExternalIPPolicy"] {
        assert!(kinds.contains(kind), "no {kind} example found: {kinds:?}");
    }
    let wrong: Vec<String> = examples
        .iter()
        .flat_map(|(at, v)| problems(v).into_iter().map(move |p| format!("{at}: {p}")))
        .collect();
    assert!(
        wrong.is_empty(),
        "documented objects the apiserver refuses:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_check_refuses_what_the_apiserver_refuses() {
    let pool = |spec: Value| {
        serde_json::json!({
            "apiVersion": "ferrolb.io/v1alpha1",
            "kind": "VIPPool",
            "metadata": {"name": "lan"},
            "spec": spec,
        })
    };
    assert_eq!(
        problems(&pool(serde_json::json!({"addresses": ["192.0.2.0/28"]}))),
        Vec::<String>::new()
    );
    let refused = [
        (
            serde_json::json!({"addresses": ["192.0.2.0/28"], "avoidBuggyIPs": true}),
            "spec.avoidBuggyIPs: unknown field",
        ),
        (
            serde_json::json!({"autoAssign": true}),
            "spec.addresses: required, missing",
        ),
        (
            serde_json::json!({"addresses": "192.0.2.0/28"}),
            "spec.addresses: \"192.0.2.0/28\" is not of type \"array\"",
        ),
        (
            serde_json::json!({"addresses": ["192.0.2.0/28"], "serviceAllocation": {"priority": "high"}}),
            "spec.serviceAllocation.priority: \"high\" is not of type \"integer\"",
        ),
        (
            serde_json::json!({"addresses": ["192.0.2.0/28"], "serviceAllocation": {"namespaceSelector": {"matchLabels": {"a": "b"}, "matchLabel": {}}}}),
            "spec.serviceAllocation.namespaceSelector.matchLabel: unknown field",
        ),
    ];
    for (spec, problem) in refused {
        assert_eq!(
            problems(&pool(spec.clone())),
            vec![problem.to_string()],
            "{spec}"
        );
    }
    let unknown =
        serde_json::json!({"apiVersion": "ferrolb.io/v1alpha1", "kind": "IPPool", "spec": {}});
    assert_eq!(
        problems(&unknown),
        vec!["no CRD defines IPPool in ferrolb.io/v1alpha1".to_string()]
    );
}
