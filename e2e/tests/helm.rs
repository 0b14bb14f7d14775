//! ferrolb installed, upgraded and uninstalled with the Helm chart (charts/ferrolb) and the
//! pinned helm, on a lab of its own without kube-proxy (so `dataplane: nftables` and every
//! node has table `inet ferrolb`): a LoadBalancer Service gets its addresses and is answered;
//! `helm upgrade` with other log levels rolls both workloads and keeps the addresses, the
//! answers and every node's table (checked every 200 ms throughout); `helm uninstall` runs the
//! pre-delete hook and leaves no webhook configuration, no table on any node, no hook
//! resource, and the Service, whose finalizer the hook removed, is deleted at once.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ferrolb_api::names::LOAD_BALANCER_CLEANUP_FINALIZER;
use ferrolb_e2e::lab::helm::RELEASE;
use ferrolb_e2e::lab::install::{self, Method, NAMESPACE, SPEAKER_DAEMONSET};
use ferrolb_e2e::lab::plan::NODES;
use ferrolb_e2e::testlab::{TestLab, build_binaries, repo_root};
use ferrolb_e2e::{Lab, demo, k8s, wait_for};
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Service;
use kube::{Api, Client};

const BIN: &str = env!("CARGO_BIN_EXE_ferrolb-lab");
/// The webhook configurations' name (the chart's `--webhook-configuration`).
const CONFIGURATION: &str = "ferrolb-webhook";
/// The pre-delete hook's Job.
const HOOK_JOB: &str = "ferrolb-release-finalizers";

fn step(s: &str) {
    eprintln!("--- {s}");
}

fn nodes_with_table(lab: &Lab) -> Vec<&'static str> {
    NODES
        .iter()
        .map(|n| n.host.role)
        .filter(|n| lab.has_table(n).expect("nft in the node"))
        .collect()
}

fn all_nodes() -> Vec<&'static str> {
    NODES.iter().map(|n| n.host.role).collect()
}

async fn service(client: &Client) -> Service {
    let api: Api<Service> = Api::namespaced(client.clone(), demo::NS);
    api.get(demo::NAME).await.expect("the example Service")
}

fn addresses(svc: &Service) -> Vec<String> {
    let mut ips = k8s::ips(svc);
    ips.sort();
    ips
}

/// `kubectl rollout status` of `what` in ferrolb's namespace, every node's table checked every
/// 200 ms meanwhile.
async fn rollout_keeping_tables(lab: &Lab, what: &str) {
    let mut status = lab.kubectl();
    status.args(["rollout", "status", "-n", NAMESPACE, what, "--timeout=180s"]);
    let rollout = tokio::task::spawn_blocking(move || status.output());
    let started = Instant::now();
    while !rollout.is_finished() {
        assert_eq!(
            nodes_with_table(lab),
            all_nodes(),
            "a node lost table inet ferrolb during the rollout of {what} after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = rollout.await.unwrap().expect("kubectl rollout status");
    assert!(
        out.status.success(),
        "rollout of {what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
async fn helm_install_upgrade_uninstall() {
    build_binaries().expect("ferrolb's binaries");
    let lab = TestLab::start(BIN).await.expect("a lab without kube-proxy");
    let repo = repo_root();
    let client = lab.client().await.expect("client");

    step("helm upgrade --install of charts/ferrolb (dataplane nftables)");
    lab.install_with(&repo, Method::Helm)
        .await
        .expect("ferrolb installed with helm");
    let listed = install::helm(&lab, &["list", "--namespace", NAMESPACE], &[]).unwrap();
    assert!(
        listed.contains(RELEASE) && listed.contains("deployed"),
        "{listed}"
    );

    step("a LoadBalancer Service gets its addresses and is answered");
    let vips: Vec<IpAddr> = demo::example(&lab, &client).await.expect("the example");
    let before = addresses(&service(&client).await);
    assert!(!before.is_empty());
    wait_for(
        "table inet ferrolb on every node",
        Duration::from_secs(30),
        || async { (nodes_with_table(&lab) == all_nodes()).then_some(()) },
    )
    .await
    .unwrap();

    step("helm upgrade with debug log levels: both workloads roll, addresses and tables stay");
    install::helm_upgrade(
        &lab,
        &repo,
        &[
            "controller.logLevel=debug".into(),
            "speaker.logLevel=debug".into(),
        ],
    )
    .expect("helm upgrade");
    rollout_keeping_tables(&lab, &format!("daemonset/{SPEAKER_DAEMONSET}")).await;
    rollout_keeping_tables(&lab, "deployment/ferrolb-controller").await;
    let ds: Api<DaemonSet> = Api::namespaced(client.clone(), NAMESPACE);
    let args = ds
        .get(SPEAKER_DAEMONSET)
        .await
        .unwrap()
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers[0]
        .args
        .clone()
        .unwrap_or_default();
    assert!(args.contains(&"--log-level=debug".to_string()), "{args:?}");
    install::workloads_ready(&lab, Duration::from_secs(120))
        .await
        .expect("ready after the upgrade");
    assert_eq!(
        addresses(&service(&client).await),
        before,
        "the upgrade changed the Service's addresses"
    );
    demo::answered(&lab, &vips)
        .await
        .expect("answered after the upgrade");
    assert!(
        service(&client)
            .await
            .metadata
            .finalizers
            .unwrap_or_default()
            .contains(&LOAD_BALANCER_CLEANUP_FINALIZER.to_string()),
        "the controller added its finalizer"
    );

    step("helm uninstall: the pre-delete hook runs, then everything goes");
    let started = Instant::now();
    install::helm(
        &lab,
        &[
            "uninstall",
            RELEASE,
            "--namespace",
            NAMESPACE,
            "--wait",
            "--timeout",
            "180s",
        ],
        &[],
    )
    .expect("helm uninstall");
    step(&format!(
        "helm uninstall returned after {:?}",
        started.elapsed()
    ));
    let v: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let m: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    wait_for(
        "no ferrolb webhook configuration",
        Duration::from_secs(30),
        || {
            let (v, m) = (v.clone(), m.clone());
            async move {
                let gone = matches!(v.get_opt(CONFIGURATION).await, Ok(None))
                    && matches!(m.get_opt(CONFIGURATION).await, Ok(None));
                gone.then_some(())
            }
        },
    )
    .await
    .unwrap();
    wait_for(
        "no table inet ferrolb on any node",
        Duration::from_secs(30),
        || async { nodes_with_table(&lab).is_empty().then_some(()) },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}: still on {:?}", nodes_with_table(&lab)));
    let jobs: Api<Job> = Api::namespaced(client.clone(), NAMESPACE);
    assert!(
        jobs.get_opt(HOOK_JOB).await.unwrap().is_none(),
        "the hook's Job outlived the uninstall"
    );
    let svc = service(&client).await;
    assert!(
        !svc.metadata
            .finalizers
            .unwrap_or_default()
            .contains(&LOAD_BALANCER_CLEANUP_FINALIZER.to_string()),
        "the pre-delete hook left the finalizer"
    );

    step("the Service is deleted at once (no finalizer waits for a controller that is gone)");
    k8s::delete_service(&client, demo::NS, demo::NAME)
        .await
        .unwrap();
    let api: Api<Service> = Api::namespaced(client.clone(), demo::NS);
    wait_for("the Service gone", Duration::from_secs(15), || {
        let api = api.clone();
        async move { matches!(api.get_opt(demo::NAME).await, Ok(None)).then_some(()) }
    })
    .await
    .unwrap();
}
