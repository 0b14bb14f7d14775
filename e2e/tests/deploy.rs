//! deploy/ against the code, without a cluster: every object reads as its API type; each
//! container's args and environment parse with its binary's own flag parser and agree with
//! the probes, ports, webhook Service, RBAC names and the images `cargo xtask image` builds;
//! the RBAC allows what the code does (each need names its code path) and refuses the rest;
//! the kind samples read as ferrolb objects.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod manifests;

use std::path::Path;

use clap::{CommandFactory, Parser};
use ferrolb_api::{L2AnnouncementPolicy, VIPPool};
use ferrolb_controller::cli::Args as ControllerArgs;
use ferrolb_e2e::image::{self, ImageSpec};
use ferrolb_speaker::daemon::Args as SpeakerArgs;
use ferrolb_speaker::dataplane::Mode;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{Namespace, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use manifests::{Doc, find, port_of, read, round_trip, strings, yaml_files};
use serde_json::Value;

const NS: &str = "ferrolb-system";
/// The one object outside ferrolb-system: the webhook reachability probe's Role(Binding).
const PROBE_ROLE: &str = "ferrolb-controller-webhook-probe";

/// deploy/ as kustomize renders it: deploy/base/'s files in the order its kustomization lists them.
fn deploy() -> Vec<Doc> {
    render("deploy")
}

fn container(doc: &Doc) -> &Value {
    let containers = doc.value["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    assert_eq!(containers.len(), 1, "{}: one container", doc.name());
    &containers[0]
}

/// The argv the container's process sees: its args, then each environment variable as the flag
/// that reads it (clap's `env`), Downward API fields replaced by the sample values of
/// `downward` (env name, fieldPath it must come from, value).
fn argv(cmd: clap::Command, c: &Value, downward: &[(&str, &str, &str)]) -> Vec<String> {
    let mut argv = vec![cmd.get_name().to_string()];
    argv.extend(strings(&c["args"]).iter().map(|s| s.to_string()));
    for env in c["env"].as_array().into_iter().flatten() {
        let name = env["name"].as_str().expect("env name");
        let value = match env["value"].as_str() {
            Some(v) => v.to_string(),
            None => {
                let field = env["valueFrom"]["fieldRef"]["fieldPath"].as_str();
                let &(_, _, sample) = downward
                    .iter()
                    .find(|(n, f, _)| *n == name && Some(*f) == field)
                    .unwrap_or_else(|| {
                        panic!("{name} comes from {field:?}, not what its flag needs")
                    });
                sample.to_string()
            }
        };
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_env().is_some_and(|e| e == name))
            .unwrap_or_else(|| panic!("{name} is read by no flag of {}", cmd.get_name()));
        argv.push(format!(
            "--{}={value}",
            arg.get_long().expect("a long flag")
        ));
    }
    argv
}

fn controller(docs: &[Doc]) -> (&Doc, ControllerArgs) {
    let d = find(docs, "Deployment", "ferrolb-controller");
    let downward = [
        ("POD_NAME", "metadata.name", "ferrolb-controller-7d9f-x2x4q"),
        (
            "POD_NAMESPACE",
            "metadata.namespace",
            d.namespace().unwrap(),
        ),
    ];
    let argv = argv(ControllerArgs::command(), container(d), &downward);
    let args = ControllerArgs::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    args.validate().unwrap();
    (d, args)
}

fn speaker(docs: &[Doc]) -> (&Doc, SpeakerArgs) {
    let d = find(docs, "DaemonSet", "ferrolb-speaker");
    let downward = [
        ("FERROLB_NODE_NAME", "spec.nodeName", "node-a"),
        ("POD_NAMESPACE", "metadata.namespace", NS),
    ];
    let argv = argv(SpeakerArgs::command(), container(d), &downward);
    let args = SpeakerArgs::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    (d, args)
}

fn probe(c: &Value, which: &str) -> (String, u16) {
    let get = &c[which]["httpGet"];
    let path = get["path"]
        .as_str()
        .unwrap_or_else(|| panic!("{which}: httpGet.path"));
    (path.to_string(), port_of(c, &get["port"]))
}

fn selects(selector: &Value, labels: &Value) -> bool {
    let selector = selector.as_object().expect("a selector");
    !selector.is_empty() && selector.iter().all(|(k, v)| labels[k] == *v)
}

fn assert_runs_image(doc: &Doc, spec: &ImageSpec) {
    let c = container(doc);
    assert_eq!(
        c["image"],
        spec.reference(),
        "{}: the image xtask builds",
        doc.name()
    );
    assert_eq!(
        c["imagePullPolicy"], "IfNotPresent",
        "kind-loaded images are never pulled"
    );
    assert!(
        c["command"].is_null(),
        "{}: the image's entrypoint runs",
        doc.name()
    );
    assert_eq!(spec.entrypoint, format!("/{}", spec.binary));
    assert!(image::IMAGES.contains(spec));
}

#[test]
fn every_object_reads_as_its_api_type_in_its_namespace() {
    for doc in deploy() {
        match doc.kind() {
            "Namespace" => round_trip::<Namespace>(&doc),
            "ServiceAccount" => round_trip::<ServiceAccount>(&doc),
            "ClusterRole" => round_trip::<ClusterRole>(&doc),
            "ClusterRoleBinding" => round_trip::<ClusterRoleBinding>(&doc),
            "Role" => round_trip::<Role>(&doc),
            "RoleBinding" => round_trip::<RoleBinding>(&doc),
            "Deployment" => round_trip::<Deployment>(&doc),
            "DaemonSet" => round_trip::<DaemonSet>(&doc),
            "Service" => round_trip::<Service>(&doc),
            "PodDisruptionBudget" => round_trip::<PodDisruptionBudget>(&doc),
            other => panic!("{}: unexpected kind {other}", doc.file),
        }
        let want = match doc.kind() {
            "Namespace" | "ClusterRole" | "ClusterRoleBinding" => None,
            _ if doc.name() == PROBE_ROLE => Some("default"),
            _ => Some(NS),
        };
        assert_eq!(doc.namespace(), want, "{} {}", doc.kind(), doc.name());
    }
}

#[test]
fn the_kustomization_lists_every_manifest_and_moves_nothing() {
    let docs = read("deploy/base/kustomization.yaml");
    let k = &docs[0].value;
    assert_eq!(k["kind"], "Kustomization");
    let mut listed: Vec<&str> = strings(&k["resources"]);
    listed.sort_unstable();
    assert_eq!(
        listed,
        yaml_files("deploy/base"),
        "every deploy/base/*.yaml, once"
    );
    assert!(
        k["namespace"].is_null(),
        "a namespace transformer would move the probe Role"
    );
    // deploy/ is its base, unchanged; deploy/ itself holds no manifests of its own.
    let top = read("deploy/kustomization.yaml");
    assert_eq!(strings(&top[0].value["resources"]), ["base"]);
    assert_eq!(
        top[0].value.as_object().unwrap().len(),
        3,
        "apiVersion, kind, resources"
    );
    assert!(
        yaml_files("deploy").is_empty(),
        "manifests belong in deploy/base/"
    );
}

#[test]
fn controller_args_agree_with_probes_ports_webhook_service_and_image() {
    let docs = deploy();
    let (d, args) = controller(&docs);
    let c = container(d);
    let pod = &d.value["spec"]["template"];
    assert_eq!(d.value["spec"]["replicas"], 2);
    assert_eq!(args.namespace, NS);
    assert_eq!(
        args.identity.as_deref(),
        Some("ferrolb-controller-7d9f-x2x4q")
    );
    let health = args.health_addr.port();
    assert_eq!(probe(c, "readinessProbe"), ("/readyz".into(), health));
    assert_eq!(probe(c, "livenessProbe"), ("/healthz".into(), health));

    let svc = find(&docs, "Service", &args.webhook_service);
    assert_eq!(svc.namespace(), Some(args.namespace.as_str()));
    let ports = svc.value["spec"]["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0]["port"], args.webhook_service_port);
    assert_eq!(
        port_of(c, &ports[0]["targetPort"]),
        args.webhook_addr.port()
    );
    assert!(selects(
        &svc.value["spec"]["selector"],
        &pod["metadata"]["labels"]
    ));

    let pdb = find(&docs, "PodDisruptionBudget", "ferrolb-controller");
    assert_eq!(pdb.value["spec"]["minAvailable"], 1);
    let selector = &pdb.value["spec"]["selector"]["matchLabels"];
    assert!(selects(selector, &pod["metadata"]["labels"]));
    assert_eq!(pod["spec"]["serviceAccountName"], "ferrolb-controller");
    // The webhook configurations' owner is deploy/'s own ClusterRole, so uninstalling removes them.
    find(&docs, "ClusterRole", &args.webhook_owner);
    assert_runs_image(d, &image::CONTROLLER);
}

#[test]
fn speaker_args_agree_with_probes_ports_and_image() {
    let docs = deploy();
    let (d, args) = speaker(&docs);
    let c = container(d);
    let pod = &d.value["spec"]["template"]["spec"];
    assert_eq!(args.node_name, "node-a");
    assert_eq!(pod["hostNetwork"], true);
    let health = args.health_addr.port();
    assert_ne!(
        health, 10256,
        "kube-proxy's port: a hostNetwork speaker would not start there"
    );
    // /healthz is 503 on nodes tainted for deletion or not known yet: never a kubelet probe.
    assert_eq!(probe(c, "livenessProbe"), ("/livez".into(), health));
    assert_eq!(probe(c, "readinessProbe"), ("/livez".into(), health));
    assert_eq!(port_of(c, &Value::from("health")), health);
    let gossip = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "gossip");
    let gossip = gossip.expect("a gossip port");
    assert_eq!(
        (&gossip["containerPort"], &gossip["protocol"]),
        (&Value::from(args.gossip_port), &Value::from("UDP"))
    );
    assert_eq!(pod["serviceAccountName"], "ferrolb-speaker");
    // /metrics and /debug/state on their own port, where the scrape annotations point.
    let metrics = args.metrics_addr.port();
    assert_ne!(metrics, health, "not on the port load balancers probe");
    assert_eq!(port_of(c, &Value::from("metrics")), metrics);
    let annotations = &d.value["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/port"], metrics.to_string());
    assert_eq!(annotations["prometheus.io/path"], "/metrics");
    assert_runs_image(d, &image::SPEAKER);
}

#[test]
fn components_have_the_priority_of_what_depends_on_them() {
    // The speaker as kube-proxy and Cilium's agent (node-level: the node's Service addresses),
    // the controller as CoreDNS (cluster-level: every Service's address and the webhook). Both
    // classes exist in every cluster (the apiserver creates them) and may be used in any
    // namespace since Kubernetes 1.17.
    for docs in [deploy(), without_kube_proxy()] {
        let pod = |kind: &str, name: &str| {
            find(&docs, kind, name).value["spec"]["template"]["spec"].clone()
        };
        assert_eq!(
            pod("DaemonSet", "ferrolb-speaker")["priorityClassName"],
            "system-node-critical"
        );
        assert_eq!(
            pod("Deployment", "ferrolb-controller")["priorityClassName"],
            "system-cluster-critical"
        );
    }
}

#[test]
fn security_contexts_fit_each_image() {
    let docs = deploy();
    let (ctl, _) = controller(&docs);
    let pod = &ctl.value["spec"]["template"]["spec"]["securityContext"];
    let (uid, gid) = image::CONTROLLER.user;
    assert_eq!(
        (&pod["runAsNonRoot"], &pod["runAsUser"], &pod["runAsGroup"]),
        (&Value::from(true), &Value::from(uid), &Value::from(gid))
    );
    let (spk, _) = speaker(&docs);
    for (doc, add) in [(ctl, vec![]), (spk, vec!["NET_ADMIN", "NET_RAW"])] {
        let sc = &container(doc)["securityContext"];
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{}", doc.name());
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{}", doc.name());
        assert!(sc["privileged"].is_null() || sc["privileged"] == false);
        assert_eq!(
            strings(&sc["capabilities"]["drop"]),
            ["ALL"],
            "{}",
            doc.name()
        );
        let mut added = strings(&sc["capabilities"]["add"]);
        added.sort_unstable();
        assert_eq!(added, add, "{}", doc.name());
    }
    // Added capabilities reach only a root process: the speaker runs as the image's root.
    assert_eq!(
        container(spk)["securityContext"]["runAsUser"],
        image::SPEAKER.user.0
    );
    let tolerations = &spk.value["spec"]["template"]["spec"]["tolerations"];
    for (key, effect) in [
        (Some("node-role.kubernetes.io/control-plane"), "NoSchedule"),
        (None, "NoSchedule"),
        (None, "NoExecute"),
    ] {
        let found = tolerations.as_array().unwrap().iter().any(|t| {
            t["key"].as_str() == key && t["operator"] == "Exists" && t["effect"] == effect
        });
        assert!(found, "the speaker tolerates {key:?} {effect}");
    }
}

#[test]
fn kind_samples_read_as_ferrolb_objects_and_fit_together() {
    assert_eq!(
        yaml_files("deploy/samples"),
        ["l2announcementpolicy.yaml", "vippool.yaml"]
    );
    let pool = read("deploy/samples/vippool.yaml");
    let l2 = read("deploy/samples/l2announcementpolicy.yaml");
    assert_eq!((pool.len(), l2.len()), (1, 1));
    round_trip::<VIPPool>(&pool[0]);
    round_trip::<L2AnnouncementPolicy>(&l2[0]);
    assert!(strings(&l2[0].value["spec"]["ipPools"]).contains(&pool[0].name()));
    // The quick-start script replaces the range on the marked line.
    let text =
        std::fs::read_to_string(manifests::repo().join("deploy/samples/vippool.yaml")).unwrap();
    let marked: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("KIND_LB_RANGE"))
        .collect();
    let addresses = strings(&pool[0].value["spec"]["addresses"]);
    assert_eq!(addresses.len(), 1);
    let line = marked.iter().find(|l| !l.trim_start().starts_with('#'));
    let line = line.expect("one address line marked KIND_LB_RANGE");
    assert!(
        line.trim_start()
            .starts_with(&format!("- {} ", addresses[0])),
        "{line}"
    );
}

/// deploy/without-kube-proxy/ as kustomize renders it (ferrolb_e2e::kustomize: deploy/base/
/// with the overlay's patches; checked against the real kustomize in the lab's dry-run test).
fn without_kube_proxy() -> Vec<Doc> {
    let k = read("deploy/without-kube-proxy/kustomization.yaml");
    assert_eq!(
        strings(&k[0].value["resources"]),
        ["../base"],
        "the overlay is deploy/base/ plus patches"
    );
    render("deploy/without-kube-proxy")
}

/// The kustomization in `dir` (relative to the repository, or absolute), rendered.
fn render(dir: &str) -> Vec<Doc> {
    ferrolb_e2e::kustomize::render(&manifests::repo(), Path::new(dir))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Every container image of every Pod template in `docs`.
fn images(docs: &[Doc]) -> Vec<String> {
    docs.iter()
        .flat_map(|d| {
            let spec = &d.value["spec"]["template"]["spec"];
            let all: Vec<Value> = ["initContainers", "containers"]
                .iter()
                .flat_map(|l| spec[l].as_array().cloned().unwrap_or_default())
                .collect();
            all
        })
        .map(|c| c["image"].as_str().expect("an image").to_string())
        .collect()
}

#[test]
fn deploy_runs_exactly_the_images_xtask_builds_under_the_workspace_version() {
    let want: Vec<String> = image::IMAGES.iter().map(ImageSpec::reference).collect();
    assert_eq!(image::TAG, format!("v{}", env!("CARGO_PKG_VERSION")));
    for i in image::IMAGES {
        assert!(
            i.reference().starts_with(&format!("{}/", image::REGISTRY)),
            "{}",
            i.reference()
        );
    }
    for dir in ["deploy", "deploy/without-kube-proxy"] {
        let mut got = images(&render(dir));
        got.sort();
        assert_eq!(
            got, want,
            "{dir}: one container per image, exactly these references"
        );
    }
    // README shows them; a version bump must update it.
    let readme = std::fs::read_to_string(manifests::repo().join("README.md")).unwrap();
    for r in &want {
        assert!(readme.contains(r.as_str()), "README.md names {r}");
    }
}

/// README's overlay (the YAML block starting `# my-ferrolb/kustomization.yaml`), with its
/// `resources` pointing at this repository's `base` (deploy or deploy/without-kube-proxy).
fn readme_overlay(base: &str) -> (std::path::PathBuf, Value) {
    let readme = std::fs::read_to_string(manifests::repo().join("README.md")).unwrap();
    let start = readme
        .find("# my-ferrolb/kustomization.yaml")
        .expect("README shows an images overlay");
    let block = &readme[start..];
    let block = &block[..block.find("```").expect("the block ends")];
    let mut k: Value = serde_norway::from_str(block).unwrap();
    assert_eq!(strings(&k["resources"]), ["../deploy"]);
    k["resources"] = serde_json::json!([manifests::repo().join(base)]);
    let dir = std::env::temp_dir().join(format!(
        "ferrolb-overlay-{}-{}",
        std::process::id(),
        base.replace('/', "-")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("kustomization.yaml"),
        serde_norway::to_string(&k).unwrap(),
    )
    .unwrap();
    (dir, k)
}

#[test]
fn readmes_images_overlay_changes_repository_and_tag_and_nothing_else() {
    for base in ["deploy", "deploy/without-kube-proxy"] {
        let (dir, k) = readme_overlay(base);
        let overridden = render(dir.to_str().unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
        let plain = render(base);
        let mut want: Vec<String> = k["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                format!(
                    "{}:{}",
                    i["newName"].as_str().unwrap(),
                    i["newTag"].as_str().unwrap()
                )
            })
            .collect();
        want.sort();
        let mut got = images(&overridden);
        got.sort();
        assert_eq!(got, want, "{base}: every ferrolb image renamed");
        for i in k["images"].as_array().unwrap() {
            let name = i["name"].as_str().unwrap();
            assert!(
                image::IMAGES.iter().any(|s| s.repository() == name),
                "README's overlay names {name}, not one of ferrolb's repositories"
            );
        }
        // Only the image lines differ.
        assert_eq!(plain.len(), overridden.len());
        for (a, b) in plain.iter().zip(&overridden) {
            let mut b = b.value.clone();
            if let Some(cs) = b
                .pointer_mut("/spec/template/spec/containers")
                .and_then(Value::as_array_mut)
            {
                for (c, orig) in cs.iter_mut().zip(
                    a.value["spec"]["template"]["spec"]["containers"]
                        .as_array()
                        .unwrap(),
                ) {
                    c["image"] = orig["image"].clone();
                }
            }
            assert_eq!(a.value, b, "{} {}", a.kind(), a.name());
        }
    }
}

#[test]
fn without_kube_proxy_the_speaker_programs_the_node_and_serves_kube_proxys_health_port() {
    let base = deploy();
    let overlay = without_kube_proxy();
    let (_, base_args) = speaker(&base);
    let (d, args) = speaker(&overlay);
    let c = container(d);
    assert_eq!(args.dataplane.mode(), Mode::Nftables);
    assert_eq!(
        base_args.dataplane.mode(),
        Mode::AnnounceOnly,
        "deploy/ is for clusters that run kube-proxy: the speakers only announce"
    );
    assert_eq!(args.health_addr.port(), 10256, "kube-proxy's health port");
    assert_eq!(port_of(c, &Value::from("health")), 10256);
    assert_eq!(probe(c, "livenessProbe"), ("/livez".into(), 10256));
    assert_eq!(probe(c, "readinessProbe"), ("/livez".into(), 10256));
    // Every other flag as deploy/ has it: an arg added there must be added to the overlay.
    let others = |args: &[&str]| -> Vec<String> {
        args.iter()
            .filter(|a| !a.starts_with("--dataplane") && !a.starts_with("--health-addr"))
            .map(|a| a.to_string())
            .collect()
    };
    let base_doc = find(&base, "DaemonSet", "ferrolb-speaker");
    assert_eq!(
        others(&strings(&c["args"])),
        others(&strings(&container(base_doc)["args"])),
        "the overlay's args are deploy/'s but --dataplane and --health-addr"
    );
    assert_eq!(args.gossip_port, base_args.gossip_port);
    // Nothing else changes.
    for (a, b) in base.iter().zip(&overlay) {
        if a.kind() != "DaemonSet" {
            assert_eq!(a.value, b.value, "{} {}", a.kind(), a.name());
        }
    }
}
