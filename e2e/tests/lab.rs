//! The lab itself, end to end: a real control plane that runs our CRDs and refuses malformed
//! objects naming the bad value; pods scheduled, started and published by the real controllers;
//! and the client reaching every pod across the LAN over IPv4 and IPv6.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use ferrolb_e2e::lab::agent::{ANN_HEARTBEAT, ANN_READY};
use ferrolb_e2e::lab::plan::{CLIENT, K8S_VERSION};
use ferrolb_e2e::lab::process;
use ferrolb_e2e::testlab::{TestLab, repo_root};
use ferrolb_e2e::traffic::echo::Reply;
use ferrolb_e2e::wait_for;
use ferrolb_testkit as netns;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_ferrolb-lab");
const LIMIT: Duration = Duration::from_secs(60);

fn step(s: &str) {
    eprintln!("--- {s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
async fn lab_end_to_end() -> anyhow::Result<()> {
    let lab = TestLab::start(BIN).await.context("starting the lab")?;
    let client = lab.client().await?;

    step("the apiserver reports the pinned release");
    let version = client.apiserver_version().await?;
    ensure!(
        version.git_version == K8S_VERSION,
        "apiserver says {}",
        version.git_version
    );

    crds_and_validation(&lab).await?;
    documented_examples(&lab)?;
    foreign_crds(&lab).await?;
    pods_and_endpoints(&lab).await?;
    node_heartbeats(&lab).await?;

    step("lab down removes every process and namespace");
    lab.down()?;
    ensure!(
        process::find(&lab.names.lab, None).is_empty(),
        "processes left"
    );
    let left = netns::list(&lab.names.netns(""));
    ensure!(left.is_empty(), "namespaces left: {left:?}");
    Ok(())
}

/// Runs `kubectl ARGS` against the lab; an error with its standard error when it fails.
/// `kubectl apply --server-side -f path`, then waits until the CRDs `which` names (names or
/// `-l SELECTOR`) are Established.
fn apply_established(lab: &TestLab, path: &str, which: &[&str]) -> anyhow::Result<()> {
    kubectl(lab, &["apply", "--server-side", "-f", path])?;
    let mut wait = vec![
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd",
    ];
    wait.extend_from_slice(which);
    kubectl(lab, &wait)
}

fn kubectl(lab: &TestLab, args: &[&str]) -> anyhow::Result<()> {
    let out = lab.kubectl().args(args).output()?;
    ensure!(
        out.status.success(),
        "kubectl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

async fn crds_and_validation(lab: &TestLab) -> anyhow::Result<()> {
    step("CRDs from crds/ apply and become Established");
    let crds = repo_root().join("crds").display().to_string();
    apply_established(
        lab,
        &crds,
        &[
            "vippools.ferrolb.io",
            "l2announcementpolicies.ferrolb.io",
            "externalippolicies.ferrolb.io",
            "serviceannouncements.ferrolb.io",
        ],
    )
    .context("apply crds")?;
    let explain = lab
        .kubectl()
        .args(["explain", "vippool.spec.autoAssign"])
        .output()?;
    let text = String::from_utf8_lossy(&explain.stdout);
    ensure!(
        text.contains("only explicit requests"),
        "kubectl explain shows the doc comment: {text}"
    );

    step("valid objects of every kind are accepted");
    let client = lab.client().await?;
    let good = [
        (
            "VIPPool",
            None,
            json!({"addresses": ["198.51.100.200-198.51.100.249", "2001:db8:100::200-2001:db8:100::2ff", "192.0.2.192/26"], "serviceAllocation": {"priority": 10, "namespaces": ["default"]}}),
        ),
        (
            "L2AnnouncementPolicy",
            None,
            json!({"ipPools": ["good"], "interfaces": ["eth0", "en*"], "externalIPs": true}),
        ),
        (
            "ExternalIPPolicy",
            None,
            json!({"allowedCIDRs": ["198.51.100.160/28", "2001:db8:100::1:0/112"], "allowedGroups": ["ops"]}),
        ),
        (
            "ServiceAnnouncement",
            Some("default"),
            json!({"serviceName": "web"}),
        ),
    ];
    for (kind, ns, spec) in good {
        create(&client, kind, ns, "good", spec)
            .await
            .with_context(|| format!("valid {kind}"))?;
    }

    step("malformed objects are refused by the apiserver, naming the bad value");
    for (kind, spec, expect) in malformed() {
        let err = match create(&client, kind, None, "bad", spec.clone()).await {
            Ok(()) => bail!("{kind} {spec} was accepted; expected a refusal mentioning {expect:?}"),
            Err(e) => e,
        };
        let msg = format!("{err:#}");
        ensure!(
            msg.contains(expect),
            "{kind} {spec}: message {msg:?} does not mention {expect:?}"
        );
    }
    Ok(())
}

/// Every ferrolb object README and deploy/'s documentation show, applied to the apiserver
/// (`kubectl apply --dry-run=server`: the CRD's schema, CEL rules and formats, strict field
/// validation, nothing stored): each must be accepted, and a broken copy of the first refused.
fn documented_examples(lab: &TestLab) -> anyhow::Result<()> {
    step("every ferrolb object in README and deploy/'s docs is accepted by the apiserver");
    let examples = ferrolb_e2e::docs::examples(&repo_root()).map_err(anyhow::Error::msg)?;
    ensure!(
        examples.len() >= 3,
        "only {} examples found",
        examples.len()
    );
    let apply = |object: &serde_json::Value| -> anyhow::Result<std::process::Output> {
        use std::io::Write as _;
        let mut child = lab
            .kubectl()
            .args(["apply", "--dry-run=server", "--validate=strict", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .context("kubectl's stdin")?
            .write_all(object.to_string().as_bytes())?;
        Ok(child.wait_with_output()?)
    };
    for (at, object) in &examples {
        let out = apply(object)?;
        ensure!(
            out.status.success(),
            "{at}: refused by the apiserver: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (at, first) = &examples[0];
    let mut broken = first.clone();
    broken["spec"]["notAField"] = json!(true);
    let out = apply(&broken)?;
    let refusal = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !out.status.success() && refusal.contains("notAField"),
        "{at} with an unknown field was not refused naming it: {refusal}"
    );
    Ok(())
}

/// Calico's and Cilium's CRDs (e2e/tests/manifests/foreign-crds/, their exact names) beside
/// ferrolb's: every plural, singular, kind and short name of ferrolb's CRDs still finds
/// ferrolb's object (the `good` ones [`crds_and_validation`] created), `kubectl get ferrolb`
/// lists only ferrolb's, while `ippools` finds Calico's and `lbippool` Cilium's. Discovery is
/// read fresh (its own kubectl cache), so the new names count. The foreign CRDs go at the end.
async fn foreign_crds(lab: &TestLab) -> anyhow::Result<()> {
    use ferrolb_e2e::manifests::crd_names;
    step("Calico's and Cilium's CRDs applied beside ferrolb's");
    let dir = repo_root().join("e2e/tests/manifests/foreign-crds");
    let dir = dir.display().to_string();
    let selector = "e2e.ferrolb.io/foreign-crd=true";
    apply_established(lab, &dir, &["-l", selector]).context("apply foreign CRDs")?;
    let objects = r#"
{"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool", "metadata": {"name": "names-check"}, "spec": {"cidr": "192.0.2.0/26"}}
---
{"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": "names-check"}, "spec": {"cidr": "192.0.2.0/26"}}
---
{"apiVersion": "cilium.io/v2", "kind": "CiliumLoadBalancerIPPool", "metadata": {"name": "names-check"}, "spec": {"blocks": [{"cidr": "198.51.100.240/29"}]}}
"#;
    let out = lab.kubectl_input(&["apply", "--server-side", "-f", "-"], objects)?;
    ensure!(
        out.status.success(),
        "creating the foreign objects: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let cache = std::env::temp_dir().join(format!("ferrolb-foreign-crds-{}", std::process::id()));
    let cache_arg = format!("--cache-dir={}", cache.display());
    // `kubectl get NAME OBJECT` with discovery read afresh: the object's apiVersion.
    let api_version = |name: &str, object: &str, ns: Option<&str>| -> anyhow::Result<String> {
        let _ = std::fs::remove_dir_all(&cache);
        let mut c = lab.kubectl();
        c.arg(&cache_arg)
            .args(["get", name, object, "-o", "jsonpath={.apiVersion}"]);
        if let Some(ns) = ns {
            c.args(["-n", ns]);
        }
        let out = c.output()?;
        ensure!(
            out.status.success(),
            "kubectl get {name} {object}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    // Discovery may trail Established: wait until Cilium's short name is served.
    wait_for("discovery serves lbippool", LIMIT, || async {
        api_version("lbippool", "names-check", None)
            .ok()
            .filter(|v| v == "cilium.io/v2")
    })
    .await?;

    step("every name of ferrolb's CRDs finds ferrolb's object; ippools finds Calico's");
    let mut checked = Vec::new();
    for crd in ferrolb_api::crdgen::all() {
        let crd = serde_json::to_value(&crd)?;
        let ns = (crd["spec"]["scope"] == "Namespaced").then_some("default");
        for name in crd_names(&crd) {
            let v = api_version(&name, "good", ns)?;
            ensure!(
                v == "ferrolb.io/v1alpha1",
                "kubectl get {name} resolves to {v:?}, not ferrolb.io (beside Calico and Cilium)"
            );
            checked.push(name);
        }
    }
    eprintln!("resolved to ferrolb.io: {}", checked.join(" "));
    for (name, want) in [
        ("ippools", "projectcalico.org/"),
        ("lbippools", "cilium.io/"),
    ] {
        let v = api_version(name, "names-check", None)?;
        ensure!(
            v.contains(want),
            "kubectl get {name} resolves to {v:?}, not {want}"
        );
    }
    let _ = std::fs::remove_dir_all(&cache);
    let out = lab
        .kubectl()
        .arg(&cache_arg)
        .args([
            "get",
            "ferrolb",
            "-A",
            "-o",
            "jsonpath={.items[*].apiVersion}",
        ])
        .output()?;
    let versions = String::from_utf8_lossy(&out.stdout).to_string();
    ensure!(
        out.status.success()
            && versions.split_whitespace().count() >= 4
            && versions
                .split_whitespace()
                .all(|v| v == "ferrolb.io/v1alpha1"),
        "kubectl get ferrolb (the category) lists {versions:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&cache);

    // Deleted, not waited for: nothing after this reads them, and the apiserver tears the
    // CRDs down one after another (71 s once, more than 180 s another time, on two loaded
    // cores), which checked nothing of ferrolb's. The lab goes with them at the end.
    step("the foreign CRDs deleted");
    kubectl(lab, &["delete", "crd", "-l", selector, "--wait=false"])?;
    Ok(())
}

/// (kind, spec, text the apiserver's refusal must contain — the bad value or the rule).
fn malformed() -> Vec<(&'static str, serde_json::Value, &'static str)> {
    let address = |a: &str, expect| ("VIPPool", json!({"addresses": [a]}), expect);
    let pool = |spec, expect| ("VIPPool", spec, expect);
    let allocation = |alloc, expect| {
        let spec = json!({"addresses": ["198.51.100.0/24"], "serviceAllocation": alloc});
        ("VIPPool", spec, expect)
    };
    let policy = |spec, expect| ("ExternalIPPolicy", spec, expect);
    let l2 = |spec, expect| ("L2AnnouncementPolicy", spec, expect);
    vec![
        address("198.51.100.300/24", "\"198.51.100.300/24\" is not a CIDR"),
        address("2001:db8::/129", "\"2001:db8::/129\" is not a CIDR"),
        address("not-an-address", "\"not-an-address\" is not a CIDR"),
        address("198.51.100.10-", "\"198.51.100.10-\" is not a CIDR"),
        address("198.51.100.1-198.51.100.2-198.51.100.3", "is not a CIDR"),
        address(
            "198.51.100.20-198.51.100.10",
            "range \"198.51.100.20-198.51.100.10\" starts after it ends",
        ),
        address(
            "198.51.100.1-2001:db8::1",
            "range \"198.51.100.1-2001:db8::1\" mixes IPv4 and IPv6",
        ),
        address("", "must not be empty or blank"),
        address("   ", "must not be empty or blank"),
        pool(json!({"addresses": []}), "should have at least 1 items"),
        pool(
            json!({"autoAssign": true}),
            "spec.addresses: Required value",
        ),
        allocation(json!({"priority": -1}), "greater than or equal to 0"),
        allocation(json!({"priority": 10001}), "less than or equal to 10000"),
        allocation(json!({"namespaces": [" "]}), "\" \" must not be blank"),
        policy(
            json!({"allowedCIDRs": ["198.51.100.7"]}),
            "\"198.51.100.7\" is not a CIDR",
        ),
        policy(json!({"allowedCIDRs": []}), "should have at least 1 items"),
        l2(
            json!({"interfaces": ["eth0; rm -rf"]}),
            "interface \"eth0; rm -rf\" is not an interface name",
        ),
        l2(json!({"ipPools": [""]}), "should be at least 1 chars long"),
    ]
}

async fn create(
    client: &kube::Client,
    kind: &str,
    ns: Option<&str>,
    name: &str,
    spec: serde_json::Value,
) -> anyhow::Result<()> {
    let plural = format!("{}s", kind.to_lowercase()).replace("policys", "policies");
    let ar = ApiResource {
        group: "ferrolb.io".into(),
        version: "v1alpha1".into(),
        api_version: "ferrolb.io/v1alpha1".into(),
        kind: kind.into(),
        plural,
    };
    let api: Api<DynamicObject> = match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "ferrolb.io/v1alpha1", "kind": kind,
        "metadata": {"name": name}, "spec": spec,
    }))?;
    api.create(&PostParams::default(), &obj).await?;
    Ok(())
}

/// The Ready pods of app `app` (none when they cannot be listed).
async fn ready_pods(pods: &Api<Pod>, app: &str) -> Vec<Pod> {
    let params = ListParams::default().labels(&format!("app={app}"));
    pods.list(&params)
        .await
        .map(|list| list.items.into_iter().filter(pod_ready).collect())
        .unwrap_or_default()
}

fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

/// Endpoint readiness by pod name, over every slice of a Service and family.
async fn slice_readiness(
    slices: &Api<EndpointSlice>,
    svc: &str,
    family: &str,
) -> Vec<(String, bool, Option<String>)> {
    let lp = ListParams::default().labels(&format!("kubernetes.io/service-name={svc}"));
    let Ok(list) = slices.list(&lp).await else {
        return Vec::new();
    };
    let mut v: Vec<_> = list
        .items
        .iter()
        .filter(|s| s.address_type == family)
        .flat_map(|s| s.endpoints.iter())
        .map(|e| {
            let pod = e
                .target_ref
                .as_ref()
                .and_then(|t| t.name.clone())
                .unwrap_or_default();
            let ready = e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false);
            (pod, ready, e.node_name.clone())
        })
        .collect();
    v.sort();
    v
}

fn probe(lab: &TestLab, proto: &str, to: SocketAddr) -> anyhow::Result<Reply> {
    let out = lab
        .exec(
            "client",
            &[BIN.into(), "probe".into(), proto.into(), to.to_string()],
        )?
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "probe {proto} {to}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Reply::parse(&text).with_context(|| format!("probe {proto} {to} answered {text:?}"))
}

async fn pods_and_endpoints(lab: &TestLab) -> anyhow::Result<()> {
    let client = lab.client().await?;
    step("kubectl create deployment: pods scheduled by the real scheduler and started");
    kubectl(
        lab,
        &[
            "create",
            "deployment",
            "hostnames",
            "--image=anything",
            "--replicas=3",
            "--port=9376",
        ],
    )?;
    // A UDP port too, on a Deployment applied through the API.
    let udp: k8s_openapi::api::apps::v1::Deployment = serde_json::from_value(json!({
        "metadata": {"name": "udp-echo"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "udp-echo"}},
            "template": {"metadata": {"labels": {"app": "udp-echo"}}, "spec": {"containers": [
                {"name": "echo", "image": "anything", "ports": [{"containerPort": 5353, "protocol": "UDP"}]}]}}},
    }))?;
    Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &udp)
        .await?;
    let svc: k8s_openapi::api::core::v1::Service = serde_json::from_value(json!({
        "metadata": {"name": "hostnames"},
        "spec": {"selector": {"app": "hostnames"}, "ipFamilyPolicy": "RequireDualStack",
            "ports": [{"port": 80, "targetPort": 9376, "protocol": "TCP"}]},
    }))?;
    Api::<k8s_openapi::api::core::v1::Service>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &svc)
        .await?;

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let running = wait_for("3 hostnames pods Running and Ready", LIMIT, || async {
        let ready = ready_pods(&pods, "hostnames").await;
        (ready.len() == 3).then_some(ready)
    })
    .await?;
    let nodes: BTreeSet<String> = running
        .iter()
        .filter_map(|p| p.spec.as_ref()?.node_name.clone())
        .collect();
    ensure!(!nodes.is_empty(), "pods are bound to lab nodes");

    step("the real EndpointSlice controller publishes them, IPv4 and IPv6, ready");
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    for family in ["IPv4", "IPv6"] {
        wait_for(
            &format!("{family} slice with 3 ready endpoints"),
            LIMIT,
            || {
                let slices = slices.clone();
                async move {
                    let r = slice_readiness(&slices, "hostnames", family).await;
                    (r.len() == 3 && r.iter().all(|(_, ready, node)| *ready && node.is_some()))
                        .then_some(())
                }
            },
        )
        .await?;
    }

    step(
        "the client reaches every pod's echo backend by pod IP, IPv4 and IPv6, keeping its address",
    );
    for p in &running {
        let name = p.metadata.name.clone().unwrap_or_default();
        let ips: Vec<IpAddr> = p
            .status
            .iter()
            .flat_map(|s| s.pod_ips.iter().flatten())
            .filter_map(|ip| ip.ip.parse().ok())
            .collect();
        ensure!(
            ips.len() == 2,
            "{name} has an IPv4 and an IPv6 address: {ips:?}"
        );
        for ip in ips {
            let reply = probe(lab, "tcp", SocketAddr::new(ip, 9376))?;
            ensure!(reply.pod == name, "{ip} answered as {}", reply.pod);
            let expect: IpAddr = if ip.is_ipv4() {
                CLIENT.v4.into()
            } else {
                CLIENT.v6.into()
            };
            ensure!(
                reply.client == expect,
                "{name} saw {} instead of {expect}",
                reply.client
            );
        }
    }
    let udp_pod = wait_for("the udp-echo pod Ready", LIMIT, || async {
        ready_pods(&pods, "udp-echo").await.into_iter().next()
    })
    .await?;
    for ip in udp_pod
        .status
        .iter()
        .flat_map(|s| s.pod_ips.iter().flatten())
    {
        let reply = probe(lab, "udp", SocketAddr::new(ip.ip.parse()?, 5353))?;
        ensure!(
            Some(reply.pod) == udp_pod.metadata.name,
            "udp answer from the udp-echo pod"
        );
    }

    step("a pod flipped unready shows ready=false in both slices; flipped back, ready again");
    let victim = running[0].metadata.name.clone().unwrap_or_default();
    for (value, want) in [("false", false), ("true", true)] {
        let patch = json!({"metadata": {"annotations": {ANN_READY: value}}});
        pods.patch(&victim, &PatchParams::default(), &Patch::Merge(patch))
            .await?;
        for family in ["IPv4", "IPv6"] {
            wait_for(
                &format!("{victim} ready={want} in the {family} slice"),
                LIMIT,
                || {
                    let slices = slices.clone();
                    let victim = victim.clone();
                    async move {
                        let r = slice_readiness(&slices, "hostnames", family).await;
                        let others_ready = r
                            .iter()
                            .filter(|(p, ..)| *p != victim)
                            .all(|(_, ready, _)| *ready);
                        let mine = r.iter().any(|(p, ready, _)| *p == victim && *ready == want);
                        (r.len() == 3 && others_ready && mine).then_some(())
                    }
                },
            )
            .await?;
        }
    }

    step("deleting a pod removes its namespace; the ReplicaSet's replacement starts");
    let ns_of_victim = lab.netns_of(&victim)?;
    pods.delete(&victim, &Default::default()).await?;
    wait_for("the deleted pod's namespace to go", LIMIT, || {
        let ns = ns_of_victim.clone();
        async move { (!netns::exists(&ns)).then_some(()) }
    })
    .await?;
    wait_for(
        "3 ready hostnames pods again, none of them the deleted one",
        LIMIT,
        || {
            let pods = pods.clone();
            let victim = victim.clone();
            async move {
                let list = pods
                    .list(&ListParams::default().labels("app=hostnames"))
                    .await
                    .ok()?;
                let ready: Vec<_> = list
                    .items
                    .iter()
                    .filter(|p| pod_ready(p) && p.metadata.name.as_deref() != Some(&victim))
                    .collect();
                (ready.len() == 3).then_some(())
            }
        },
    )
    .await?;
    Ok(())
}

async fn node_heartbeats(lab: &TestLab) -> anyhow::Result<()> {
    step("a node whose heartbeats stop is marked NotReady by the real node-lifecycle controller");
    let nodes: Api<Node> = Api::all(lab.client().await?);
    heartbeats(&nodes, "off", "Unknown", Duration::from_secs(90)).await?;
    step("heartbeats back: Ready again");
    heartbeats(&nodes, "on", "True", LIMIT).await
}

/// Turns node-c's heartbeats `on_off` and waits up to `limit` until its Ready condition's
/// status is `ready`.
async fn heartbeats(
    nodes: &Api<Node>,
    on_off: &str,
    ready: &str,
    limit: Duration,
) -> anyhow::Result<()> {
    let patch = json!({"metadata": {"annotations": {ANN_HEARTBEAT: on_off}}});
    nodes
        .patch("node-c", &PatchParams::default(), &Patch::Merge(patch))
        .await?;
    wait_for(&format!("node-c Ready={ready}"), limit, || async move {
        let node = nodes.get("node-c").await.ok()?;
        let conditions = node.status?.conditions?;
        let status = conditions.into_iter().find(|c| c.type_ == "Ready")?.status;
        (status == ready).then_some(())
    })
    .await?;
    Ok(())
}
