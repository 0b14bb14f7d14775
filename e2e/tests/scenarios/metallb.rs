//! Migrating from MetalLB in the lab: MetalLB's CRDs (a minimal schema,
//! tests/manifests/metallb/crds.yaml), its documentation examples adapted to the lab
//! (config.yaml), and Services whose status MetalLB's controller wrote (field manager
//! `metallb-controller`) while ferrolb's controller, running with `--default-class=false`
//! next to MetalLB as a migration would run it, does not own them. Then `kubectl ferrolb
//! import-metallb --apply`, then the cutover: the controller owns classless Services and
//! honours MetalLB's annotations (`FERROLB_METALLB_ANNOTATIONS=true`). Every address is
//! unchanged and now proven; a status address written after the import (recorded nowhere) is
//! still replaced.
//!
//! A scenario of the controller binary's lab, run alone with
//! `cargo test -p ferrolb-e2e --features root-tests --test controller -- metallb`.

use std::path::Path;
use std::time::Duration;

use ferrolb_api::VIPPool;
use ferrolb_api::names::ANN_ALLOCATION_PROOF;
use ferrolb_e2e::testlab::{TestLab, build_packages, repo_root};
use ferrolb_e2e::{k8s, lab_test};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

/// The namespace of the migrated Services.
const NS: &str = "metallb-migration";
/// MetalLB's controller's field manager.
const METALLB_MANAGER: &str = "metallb-controller";
/// The controller Deployment.
const DEPLOYMENT: &str = "deployment/ferrolb-controller";
/// Rollouts and waits.
const LIMIT: Duration = Duration::from_secs(180);

fn step(what: &str) {
    eprintln!("==> {what}");
}

fn manifests() -> std::path::PathBuf {
    repo_root().join("e2e/tests/manifests/metallb")
}

fn kubectl(lab: &TestLab, args: &[&str]) -> String {
    let out = lab.kubectl().args(args).output().expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sets (`NAME=value`) or removes (`NAME-`) environment variables of the controller
/// Deployment, then waits for the rollout and for both replicas to serve the webhook.
async fn controller_env(lab: &TestLab, env: &[&str]) {
    let mut args = vec!["-n", "ferrolb-system", "set", "env", DEPLOYMENT];
    args.extend_from_slice(env);
    kubectl(lab, &args);
    kubectl(
        lab,
        &[
            "-n",
            "ferrolb-system",
            "rollout",
            "status",
            DEPLOYMENT,
            "--timeout=180s",
        ],
    );
    lab.controllers_serving(LIMIT)
        .await
        .expect("both controllers serving");
}

/// The migrated Services: name, annotations, extra spec, the addresses MetalLB gave.
fn services() -> Vec<(&'static str, Value, Value, Vec<&'static str>)> {
    vec![
        (
            "nginx",
            json!({"metallb.io/loadBalancerIPs": "198.51.100.212"}),
            json!({}),
            vec!["198.51.100.212"],
        ),
        (
            "pooled",
            json!({"metallb.io/address-pool": "expensive"}),
            json!({}),
            vec!["198.51.100.221"],
        ),
        (
            "dns-service-tcp",
            json!({"metallb.io/allow-shared-ip": "key-to-share-203"}),
            json!({"loadBalancerIP": "198.51.100.203",
                "ports": [{"name": "dnstcp", "protocol": "TCP", "port": 53, "targetPort": 53}]}),
            vec!["198.51.100.203"],
        ),
        (
            "dns-service-udp",
            json!({"metallb.io/allow-shared-ip": "key-to-share-203"}),
            json!({"loadBalancerIP": "198.51.100.203",
                "ports": [{"name": "dnsudp", "protocol": "UDP", "port": 53, "targetPort": 53}]}),
            vec!["198.51.100.203"],
        ),
        (
            "dual",
            json!({}),
            json!({"ipFamilyPolicy": "RequireDualStack", "ipFamilies": ["IPv4", "IPv6"]}),
            vec!["198.51.100.201", "2001:db8:100::201"],
        ),
        ("selected", json!({}), json!({}), vec!["198.51.100.225"]),
        ("plain", json!({}), json!({}), vec!["198.51.100.204"]),
    ]
}

/// Creates Service `name` and writes `ips` into its status as MetalLB's controller does.
async fn metallb_service(client: &Client, name: &str, ann: Value, extra: Value, ips: &[&str]) {
    let mut body = k8s::service_body(name, ann, extra);
    if name == "selected" {
        body["metadata"]["labels"] = json!({"app": "bar"});
    }
    k8s::apply_service(client, NS, &body)
        .await
        .expect("the Service");
    let api: Api<Service> = Api::namespaced(client.clone(), NS);
    let ingress: Vec<Value> = ips
        .iter()
        .map(|ip| json!({"ip": ip, "ipMode": "VIP"}))
        .collect();
    let params = PatchParams {
        field_manager: Some(METALLB_MANAGER.into()),
        ..PatchParams::default()
    };
    api.patch_status(
        name,
        &params,
        &Patch::Merge(json!({"status": {"loadBalancer": {"ingress": ingress}}})),
    )
    .await
    .expect("MetalLB's status");
}

fn proven(svc: &Service) -> bool {
    svc.annotations().contains_key(ANN_ALLOCATION_PROOF)
}

lab_test!(import_and_cutover_keep_every_address, |turn| {
    let lab = turn.lab;
    let client = &turn.client;
    let since = jiff::Timestamp::now();

    step("ferrolb next to MetalLB: the controller owns no classless Service");
    controller_env(lab, &["FERROLB_DEFAULT_CLASS=false"]).await;

    step("MetalLB's CRDs and its documented configuration, adapted to the lab");
    let dir = manifests();
    kubectl(
        lab,
        &[
            "apply",
            "--server-side",
            "-f",
            &dir.join("crds.yaml").display().to_string(),
        ],
    );
    kubectl(
        lab,
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd",
            "-l",
            "ferrolb.io/test=metallb",
        ],
    );
    k8s::namespace(client, "metallb-system", json!({}))
        .await
        .expect("metallb-system");
    k8s::namespace(client, NS, json!({})).await.expect(NS);
    kubectl(
        lab,
        &[
            "apply",
            "--server-side",
            "-f",
            &dir.join("config.yaml").display().to_string(),
        ],
    );

    step("Services whose status MetalLB's controller wrote");
    for (name, ann, extra, ips) in services() {
        metallb_service(client, name, ann, extra, &ips).await;
    }
    let api: Api<Service> = Api::namespaced(client.clone(), NS);
    for (name, _, _, ips) in services() {
        let svc = api.get(name).await.expect("the Service");
        assert_eq!(k8s::ips(&svc), ips, "{name}: MetalLB's addresses");
        let managers: Vec<String> = svc
            .managed_fields()
            .iter()
            .filter(|m| m.subresource.as_deref() == Some("status"))
            .filter_map(|m| m.manager.clone())
            .collect();
        assert_eq!(
            managers,
            [METALLB_MANAGER],
            "{name}: status written by MetalLB only"
        );
    }

    step("kubectl ferrolb import-metallb --apply");
    build_packages(&["ferrolb-plugin"]).expect("kubectl-ferrolb built");
    let plugin = Path::new(env!("CARGO_BIN_EXE_ferrolb-lab")).with_file_name("kubectl-ferrolb");
    let out = std::process::Command::new(&plugin)
        .arg("--kubeconfig")
        .arg(lab.kubeconfig())
        .args(["import-metallb", "--apply"])
        .output()
        .expect("kubectl-ferrolb runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "import failed: {stderr}");
    eprintln!("{}{stderr}", String::from_utf8_lossy(&out.stdout));
    let pools: Api<VIPPool> = Api::all(client.clone());
    let mut recorded = Vec::new();
    for pool in ["first-pool", "expensive", "ippool-ns-service-alloc-sample"] {
        let p = pools.get(pool).await.expect("an imported pool");
        for a in &p.spec.adopted_addresses {
            assert!(a.uid.is_some(), "{pool}: {a:?} pinned to the Service's UID");
            recorded.push((a.name.clone(), a.addresses.clone()));
        }
    }
    recorded.sort();
    let mut expected: Vec<(String, Vec<String>)> = services()
        .into_iter()
        .map(|(n, _, _, ips)| (n.to_string(), ips.iter().map(|s| s.to_string()).collect()))
        .collect();
    expected.sort();
    assert_eq!(recorded, expected, "one record per Service");

    step("a status written after the import: recorded nowhere");
    metallb_service(client, "forged", json!({}), json!({}), &["198.51.100.205"]).await;
    // The controller, not owning classless Services yet, has touched none of them.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (name, _, _, ips) in services() {
        let svc = api.get(name).await.expect("the Service");
        assert_eq!(k8s::ips(&svc), ips, "{name}: untouched before the cutover");
        assert!(!proven(&svc), "{name}: not proven before the cutover");
    }

    step(
        "the cutover: MetalLB gone, ferrolb owns classless Services and honours MetalLB's annotations",
    );
    controller_env(
        lab,
        &["FERROLB_DEFAULT_CLASS-", "FERROLB_METALLB_ANNOTATIONS=true"],
    )
    .await;
    let mut moved = Vec::new();
    for (name, _, _, ips) in services() {
        let svc = k8s::wait_service(client, NS, name, "proven", proven)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (status, reason, message) = k8s::condition(&svc).expect("the condition");
        assert_eq!(status, "True", "{name}: {reason}: {message}");
        if k8s::ips(&svc) != ips {
            moved.push(format!("{name}: {ips:?} became {:?}", k8s::ips(&svc)));
        }
    }
    assert!(
        moved.is_empty(),
        "addresses changed through the cutover: {moved:?}"
    );
    for (name, _, _, ips) in services() {
        k8s::wait_event(client, NS, name, ("AddressAdopted", ips[0]), since)
            .await
            .unwrap_or_else(|e| panic!("{name}: the adoption event: {e}"));
    }
    let forged = k8s::wait_service(client, NS, "forged", "replaced", |s| {
        proven(s) && !k8s::ips(s).is_empty()
    })
    .await
    .expect("the forged address replaced");
    assert_ne!(
        k8s::ips(&forged),
        ["198.51.100.205"],
        "the unrecorded address is replaced"
    );
    k8s::wait_event(
        client,
        NS,
        "forged",
        ("UnprovenAddressReplaced", "198.51.100.205"),
        since,
    )
    .await
    .expect("the Warning event");

    step("clean up: Services, imported objects, MetalLB's objects and CRDs, the controller's env");
    for (name, _, _, _) in services() {
        k8s::delete_service(client, NS, name)
            .await
            .expect("deleted");
    }
    k8s::delete_service(client, NS, "forged")
        .await
        .expect("deleted");
    ferrolb_e2e::wait_for("the Services gone", LIMIT, || async {
        api.list(&Default::default())
            .await
            .ok()
            .filter(|l| l.items.is_empty())
            .map(|_| ())
    })
    .await
    .expect("Services released");
    // Forced: on this binary's shared lab, Services other scenarios left without a pool took
    // addresses from the imported pools once the controller owned classless Services again;
    // they go back to pending, as before this scenario.
    for pool in ["first-pool", "expensive", "ippool-ns-service-alloc-sample"] {
        k8s::force_pool(client, pool).await.expect("pool forced");
        k8s::delete_pool(client, pool).await.expect("pool deleted");
    }
    kubectl(
        lab,
        &[
            "delete",
            "l2announcementpolicies",
            "example",
            "example-nodes-1",
            "example-nodes-2",
        ],
    );
    kubectl(
        lab,
        &["delete", "-f", &dir.join("crds.yaml").display().to_string()],
    );
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    for ns in [NS, "metallb-system"] {
        namespaces
            .delete(ns, &DeleteParams::default())
            .await
            .expect("namespace deleted");
    }
    controller_env(lab, &["FERROLB_METALLB_ANNOTATIONS-"]).await;
});
