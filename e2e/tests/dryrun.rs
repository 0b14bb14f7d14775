//! deploy/ against the lab's real apiserver: every object of crds/, of deploy/ as kustomize
//! renders it (what `kubectl apply -k deploy/` sends) and of deploy/samples/ is accepted by a
//! server-side apply with `dryRun=All` (field manager `ferrolb-dryrun`, strict field
//! validation), and nothing is stored; deliberately broken copies are refused naming the bad
//! field, so the check can fail. Only the control plane is needed: ferrolb is not installed.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use ferrolb_e2e::lab::controlplane;
use ferrolb_e2e::manifests::{self, Doc};
use ferrolb_e2e::testlab::{TestLab, repo_root};
use ferrolb_e2e::wait_for;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use kube::api::{Api, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::discovery::{Scope, pinned_kind};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_ferrolb-lab");
const MANAGER: &str = "ferrolb-dryrun";

fn step(s: &str) {
    eprintln!("--- {s}");
}

/// The objects of every YAML file in `dir` (relative to the repository), by file name.
fn read_dir(dir: &str) -> Vec<Doc> {
    let mut files: Vec<String> = std::fs::read_dir(repo_root().join(dir))
        .expect("read dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no YAML in {dir}");
    files
        .iter()
        .flat_map(|f| manifests::read(&repo_root(), &format!("{dir}/{f}")).expect("yaml"))
        .collect()
}

/// deploy/ as `kubectl apply -k deploy/` sends it: rendered by the pinned kubectl's kustomize.
fn kustomized(dir: &Path) -> Vec<Doc> {
    let out = std::process::Command::new(controlplane::bin("kubectl"))
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl kustomize");
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    manifests::parse(
        "kubectl kustomize deploy",
        &String::from_utf8_lossy(&out.stdout),
    )
    .expect("kustomize output")
}

/// Server-side apply of `doc` (with `dryRun=All` when `dry`), strict field validation.
async fn apply(client: &Client, doc: &Doc, dry: bool) -> Result<(), String> {
    let what = format!(
        "{} {} {} ({})",
        doc.kind(),
        doc.namespace().unwrap_or(""),
        doc.name(),
        doc.file
    );
    let api_version = doc.value["apiVersion"].as_str().unwrap_or_default();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, doc.kind());
    let (ar, caps) = pinned_kind(client, &gvk).await.map_err(|e| {
        format!(
            "{what}: the apiserver does not serve {api_version} {}: {e}",
            doc.kind()
        )
    })?;
    let api: Api<DynamicObject> = match caps.scope {
        Scope::Cluster => Api::all_with(client.clone(), &ar),
        Scope::Namespaced => {
            Api::namespaced_with(client.clone(), doc.namespace().unwrap_or("default"), &ar)
        }
    };
    let mut params = PatchParams::apply(MANAGER).force().validation_strict();
    if dry {
        params = params.dry_run();
    }
    api.patch(doc.name(), &params, &Patch::Apply(&doc.value))
        .await
        .map(|_| ())
        .map_err(|e| format!("{what}: {e}"))
}

/// Dry-runs every doc; returns the refusals.
async fn dry_run_all(client: &Client, docs: &[Doc]) -> Vec<String> {
    let mut refused = Vec::new();
    for doc in docs {
        if let Err(e) = apply(client, doc, true).await {
            refused.push(e);
        }
    }
    refused
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
async fn deploy_dry_runs_clean_on_the_real_apiserver() {
    let lab = TestLab::start(BIN)
        .await
        .expect("a lab (control plane only)");
    let client = lab.client().await.expect("client");
    let crds = read_dir("crds");
    let deploy = kustomized(&repo_root().join("deploy"));
    let samples = read_dir("deploy/samples");
    assert!(
        deploy.iter().any(|d| d.kind() == "DaemonSet"),
        "kustomize output: {deploy:?}"
    );

    step("the Rust rendering (release manifests, deploy tests) is what the real kustomize renders");
    for dir in ["deploy", "deploy/without-kube-proxy"] {
        let real = kustomized(&repo_root().join(dir));
        let ours = ferrolb_e2e::kustomize::render(&repo_root(), Path::new(dir)).expect("render");
        let key = |d: &Doc| {
            let ns = d.namespace().unwrap_or_default().to_string();
            (
                d.kind().to_string(),
                ns,
                d.name().to_string(),
                d.value.to_string(),
            )
        };
        let mut real: Vec<_> = real.iter().map(key).collect();
        let mut ours: Vec<_> = ours.iter().map(key).collect();
        real.sort();
        ours.sort();
        assert_eq!(
            real, ours,
            "{dir}: e2e/src/kustomize.rs renders what kubectl kustomize does"
        );
    }

    step("as new objects: the CRDs and the Namespace dry-run clean (what the rest needs first)");
    let first: Vec<Doc> = crds
        .iter()
        .chain(deploy.iter().filter(|d| d.kind() == "Namespace"))
        .cloned()
        .collect();
    assert_eq!(dry_run_all(&client, &first).await, Vec::<String>::new());

    step("the CRDs and the Namespace applied for real; the CRDs served");
    for doc in &first {
        apply(&client, doc, false).await.expect("applying for real");
    }
    for doc in &samples {
        let gvk = GroupVersionKind::gvk("ferrolb.io", "v1alpha1", doc.kind());
        let client = &client;
        let gvk = &gvk;
        wait_for(
            &format!("{} served", doc.kind()),
            Duration::from_secs(30),
            || async move { pinned_kind(client, gvk).await.ok() },
        )
        .await
        .expect("CRD served");
    }

    step("every object of crds/, deploy/ (kustomized) and deploy/samples/ dry-runs clean");
    let all: Vec<Doc> = crds
        .iter()
        .chain(&deploy)
        .chain(&samples)
        .cloned()
        .collect();
    let refused = dry_run_all(&client, &all).await;
    assert!(
        refused.is_empty(),
        "refused by the apiserver:\n{}",
        refused.join("\n")
    );
    eprintln!("{} objects accepted with dryRun=All", all.len());

    step("dryRun stored nothing");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "ferrolb-system");
    assert!(
        deployments
            .get_opt("ferrolb-controller")
            .await
            .expect("get")
            .is_none(),
        "a dry run created the Deployment"
    );

    step("broken copies are refused, naming the bad field");
    let controller = deploy
        .iter()
        .find(|d| d.kind() == "Deployment")
        .expect("a Deployment in deploy/");
    let pool = samples
        .iter()
        .find(|d| d.kind() == "VIPPool")
        .expect("a VIPPool sample");
    for (mutate, field) in [
        (
            broken(controller, "/spec", "replicaz", json!(2)),
            "replicaz",
        ),
        (
            broken(controller, "/spec", "replicas", json!(-1)),
            "spec.replicas",
        ),
        (
            broken(
                pool,
                "/spec",
                "addresses",
                json!(["198.51.100.20-198.51.100.10"]),
            ),
            "spec.addresses[0]",
        ),
        (
            broken(pool, "/spec", "addresses", json!(["198.51.100.7/24"])),
            "has host bits set after the prefix",
        ),
    ] {
        let err = apply(&client, &mutate, true)
            .await
            .expect_err("a broken object must be refused");
        assert!(err.contains(field), "refusal does not name {field}: {err}");
        eprintln!("refused as expected: {err}");
    }
}

/// A copy of `doc` with `key` set to `value` in the object at `pointer`.
fn broken(doc: &Doc, pointer: &str, key: &str, value: Value) -> Doc {
    let mut copy = doc.clone();
    copy.file = format!("{} (broken: {key})", doc.file);
    copy.value
        .pointer_mut(pointer)
        .and_then(Value::as_object_mut)
        .expect("object at pointer")
        .insert(key.to_string(), value);
    copy
}
