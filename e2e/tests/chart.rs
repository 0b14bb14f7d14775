//! The Helm chart (charts/ferrolb) against deploy/, with the pinned helm (`e2e/helm`, built
//! into the cache by `cargo xtask test` and `cargo xtask lab build`; a test that needs it fails
//! naming the command when it is missing): `helm template` with the default values renders the
//! objects of deploy/release/ferrolb-v<version>.yaml, and with `dataplane: nftables` those of
//! the -without-kube-proxy one (every field but labels and annotations; container args in any
//! order), except the Namespace (Helm installs into one) and the CRDs (the chart's crds/, kept
//! current by api's crdgen test), so the chart and deploy/ cannot drift; `helm lint --strict`
//! passes with the values off and on; the optional objects render when asked; the chart's
//! version is the images' tag.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use clap::Parser;
use ferrolb_controller::cli::{Args as ControllerArgs, Command as ControllerCommand};
use ferrolb_e2e::image::{CONTROLLER, IMAGES, TAG};
use ferrolb_e2e::lab::helm::{self, CHART, RELEASE};
use ferrolb_e2e::lab::install::NAMESPACE;
use ferrolb_e2e::manifests::{self, Doc};
use ferrolb_e2e::release;
use ferrolb_e2e::testlab::repo_root;
use serde_json::Value;

/// `helm ARGS` with the pinned helm; its stdout, or a panic with its stderr.
fn run_helm(args: &[&str]) -> Result<String, String> {
    let bin = helm::require().unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(&bin)
        .args(args)
        .current_dir(repo_root())
        .env(
            "HELM_CACHE_HOME",
            std::env::temp_dir().join("ferrolb-helm-test"),
        )
        .env(
            "HELM_CONFIG_HOME",
            std::env::temp_dir().join("ferrolb-helm-test"),
        )
        .env(
            "HELM_DATA_HOME",
            std::env::temp_dir().join("ferrolb-helm-test"),
        )
        .output()
        .expect("running helm");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if out.status.success() {
        Ok(text(&out.stdout))
    } else {
        Err(format!("{}{}", text(&out.stdout), text(&out.stderr)))
    }
}

/// `helm template` of the chart as release [`RELEASE`] in [`NAMESPACE`] with `--set`s.
fn template(sets: &[&str]) -> Result<Vec<Doc>, String> {
    let mut args = vec!["template", RELEASE, CHART, "--namespace", NAMESPACE];
    for s in sets {
        args.extend(["--set", s]);
    }
    let text = run_helm(&args)?;
    Ok(manifests::parse("helm template", &text).unwrap())
}

fn is_hook(d: &Doc) -> bool {
    d.value["metadata"]["annotations"]["helm.sh/hook"].is_string()
}

/// An object as compared: without labels and annotations (Helm adds its own), container args
/// sorted (flags, order-free).
fn normalized(d: &Doc) -> (String, String, String, Value) {
    let mut v = d.value.clone();
    if let Some(meta) = v["metadata"].as_object_mut() {
        meta.remove("labels");
        meta.remove("annotations");
    }
    if let Some(containers) = v
        .pointer_mut("/spec/template/spec/containers")
        .and_then(Value::as_array_mut)
    {
        for c in containers {
            if let Some(args) = c["args"].as_array_mut() {
                args.sort_by_key(|a| a.as_str().unwrap_or_default().to_string());
            }
        }
    }
    (
        d.kind().to_string(),
        d.namespace().unwrap_or_default().to_string(),
        d.name().to_string(),
        v,
    )
}

/// The release manifest `suffix`'s objects that the chart installs: all but the CRDs and the
/// Namespace.
fn release_objects(suffix: &str) -> Vec<Doc> {
    let file = format!("{}/{}", release::DIR, release::file_name(suffix));
    let docs = manifests::read(&repo_root(), &file).unwrap();
    let kinds: Vec<&str> = docs.iter().map(Doc::kind).collect();
    assert!(
        kinds.contains(&"Namespace") && kinds.contains(&"CustomResourceDefinition"),
        "{file}: {kinds:?}"
    );
    docs.into_iter()
        .filter(|d| !matches!(d.kind(), "Namespace" | "CustomResourceDefinition"))
        .collect()
}

fn assert_same(chart: &[Doc], release: &[Doc], what: &str) {
    let mut ours: Vec<_> = chart
        .iter()
        .filter(|d| !is_hook(d))
        .map(normalized)
        .collect();
    let mut theirs: Vec<_> = release.iter().map(normalized).collect();
    ours.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    theirs.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    let names = |v: &[(String, String, String, Value)]| -> Vec<String> {
        v.iter()
            .map(|(k, n, m, _)| format!("{k} {n}/{m}"))
            .collect()
    };
    assert_eq!(
        names(&ours),
        names(&theirs),
        "{what}: the chart's objects (kind, namespace, name) differ from the release manifest's"
    );
    for (o, t) in ours.iter().zip(&theirs) {
        assert!(
            o.3 == t.3,
            "{what}: {} {}/{} differs between the chart and the release manifest:\nchart:   {}\nrelease: {}",
            o.0,
            o.1,
            o.2,
            serde_json::to_string(&o.3).unwrap(),
            serde_json::to_string(&t.3).unwrap()
        );
    }
}

#[test]
fn default_values_render_what_deploy_installs() {
    assert_same(
        &template(&[]).unwrap(),
        &release_objects(""),
        "defaults vs deploy/",
    );
}

#[test]
fn dataplane_nftables_renders_what_deploy_without_kube_proxy_installs() {
    assert_same(
        &template(&["dataplane=nftables"]).unwrap(),
        &release_objects("-without-kube-proxy"),
        "dataplane=nftables vs deploy/without-kube-proxy/",
    );
}

#[test]
fn helm_lint_strict_passes_with_the_options_off_and_on() {
    for sets in [
        vec![],
        vec![
            "dataplane=nftables",
            "podMonitor.enabled=true",
            "serviceMonitor.enabled=true",
            "networkPolicy.enabled=true",
            "controller.logLevel=debug",
        ],
    ] {
        let mut args = vec!["lint", "--strict", CHART];
        for s in &sets {
            args.extend(["--set", s]);
        }
        let out = run_helm(&args).unwrap_or_else(|e| panic!("helm lint --strict {sets:?}: {e}"));
        assert!(out.contains("0 chart(s) failed"), "{out}");
    }
}

#[test]
fn options_render_their_objects_and_a_bad_dataplane_is_refused() {
    let docs = template(&[
        "podMonitor.enabled=true",
        "serviceMonitor.enabled=true",
        "networkPolicy.enabled=true",
        "speaker.logLevel=debug",
        "controller.image.tag=v9.9.9",
        "controller.defaultClass=false",
        "controller.metallbAnnotations=true",
    ])
    .unwrap();
    let count = |kind: &str| docs.iter().filter(|d| d.kind() == kind).count();
    assert_eq!(count("PodMonitor"), 2);
    assert_eq!(count("ServiceMonitor"), 2);
    assert_eq!(count("NetworkPolicy"), 1);
    let ds = manifests::find(&docs, "DaemonSet", "ferrolb-speaker").unwrap();
    let args = &ds.value["spec"]["template"]["spec"]["containers"][0]["args"];
    assert!(
        args.as_array()
            .unwrap()
            .contains(&"--log-level=debug".into()),
        "{args}"
    );
    let deploy = manifests::find(&docs, "Deployment", "ferrolb-controller").unwrap();
    let controller = &deploy.value["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(controller["image"], "ghcr.io/ferrolb/controller:v9.9.9");
    for arg in ["--default-class=false", "--metallb-annotations=true"] {
        assert!(
            controller["args"].as_array().unwrap().contains(&arg.into()),
            "{arg}: {}",
            controller["args"]
        );
    }
    let err = template(&["dataplane=auto"]).expect_err("dataplane=auto must be refused");
    assert!(
        err.contains("dataplane must be announce-only or nftables"),
        "{err}"
    );
    let off = template(&["preDeleteHook.enabled=false"]).unwrap();
    assert!(!off.iter().any(is_hook), "preDeleteHook.enabled=false");
}

#[test]
fn the_pre_delete_hook_runs_release_finalizers_with_its_own_rbac() {
    let docs = template(&[]).unwrap();
    let hooks: Vec<&Doc> = docs.iter().filter(|d| is_hook(d)).collect();
    let mut kinds: Vec<&str> = hooks.iter().map(|d| d.kind()).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "Job",
            "Role",
            "RoleBinding",
            "ServiceAccount"
        ]
    );
    for h in &hooks {
        let ann = &h.value["metadata"]["annotations"];
        assert_eq!(ann["helm.sh/hook"], "pre-delete", "{}", h.kind());
        assert!(
            ann["helm.sh/hook-delete-policy"]
                .as_str()
                .unwrap()
                .contains("hook-succeeded"),
            "{}",
            h.kind()
        );
    }
    let job = hooks.iter().find(|d| d.kind() == "Job").unwrap();
    let c = &job.value["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], CONTROLLER.reference());
    let mut argv = vec!["ferrolb-controller".to_string()];
    argv.extend(
        c["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string()),
    );
    let parsed = ControllerArgs::try_parse_from(&argv).unwrap();
    match parsed.command {
        Some(ControllerCommand::ReleaseFinalizers(r)) => {
            assert_eq!(r.stop_deployment.as_deref(), Some("ferrolb-controller"));
        }
        None => panic!("the Job runs the controller, not release-finalizers: {argv:?}"),
    }
    let rules =
        |kind: &str| hooks.iter().find(|d| d.kind() == kind).unwrap().value["rules"].clone();
    assert_eq!(
        rules("ClusterRole"),
        serde_json::json!([{"apiGroups": [""], "resources": ["services"], "verbs": ["list", "patch"]}])
    );
    assert_eq!(
        rules("Role")[0]["resourceNames"],
        serde_json::json!(["ferrolb-controller"])
    );
}

#[test]
fn the_charts_version_is_the_workspaces_and_its_images_are_deploys() {
    let chart: Value = serde_norway::from_str(
        &std::fs::read_to_string(repo_root().join(CHART).join("Chart.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(chart["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(chart["appVersion"], TAG);
    let values: Value = serde_norway::from_str(
        &std::fs::read_to_string(repo_root().join(CHART).join("values.yaml")).unwrap(),
    )
    .unwrap();
    for i in IMAGES {
        let image = &values[i.name]["image"];
        assert_eq!(image["repository"], i.repository(), "{}", i.name);
        assert_eq!(image["tag"], "", "{}: the tag follows appVersion", i.name);
        assert_eq!(image["pullPolicy"], "IfNotPresent", "{}", i.name);
    }
}
