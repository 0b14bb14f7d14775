//! `kubectl ferrolb why` against the lab (issue 20's proof, steps 1–4 and externalIPs): each
//! case breaks one link, waits until `why -o json` (run from the client, [`Lab::ferrolb`])
//! names the expected first failed step with a fix naming the cause and exits 1, applies that
//! fix, and waits until `why` exits 0 with `served: true`. Every case runs even when an
//! earlier one fails; the scenario then fails naming each failed case, after putting the
//! ground back.
//!
//! [`Lab::ferrolb`]: ferrolb_e2e::lab::Lab::ferrolb

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ferrolb_api::names::{
    ANN_IP_POOL, ANN_LOAD_BALANCER_IPS, ANN_SHARING_KEY, LABEL_EXCLUDE_FROM_LB,
};
use ferrolb_e2e::Node as LabNode;
use ferrolb_e2e::k8s;
use ferrolb_e2e::lab::kubeproxy;
use ferrolb_plugin::why::{
    STEP_ALLOCATION, STEP_DATA_PATH, STEP_ELECTION, STEP_ENDPOINTS, STEP_EXTERNAL_IPS,
};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};

use super::{LAN_ADDRESSES, NS, PORT, Spk, speaker_on, step};

/// How long a case waits for `why` to show the break, then the fix.
const WHY_LIMIT: Duration = Duration::from_secs(30);
/// `why` runs this often while a case waits.
const WHY_EVERY: Duration = Duration::from_millis(500);
/// The pool of the cases (autoAssign false: only Services naming it use it).
const POOL: &str = "why";
/// The namespace no pool selects until its case's fix.
const OTHER_NS: &str = "why-ns";
/// An externalIP outside every pool, node and Service range.
const EXTERNAL_IP: &str = "198.51.100.61";
/// The node of the speaker-dead case (the only one its policy lets announce).
const LONE_NODE: &str = "node-c";
/// The node the partition case cuts off from the others' gossip.
const PARTITIONED: &str = "node-a";
/// The partition case's own table in that node (never ferrolb's).
const PARTITION_TABLE: &str = "why_partition";

/// One run of `why -o json`.
struct Why {
    code: Option<i32>,
    report: Value,
    output: String,
}

impl Why {
    fn failed_step(&self) -> Option<&Value> {
        let steps = self.report["steps"].as_array()?;
        steps.iter().find(|s| s["outcome"] == "failed")
    }

    /// The first failed step: (name, fix).
    fn first_failed(&self) -> Option<(String, String)> {
        let s = self.failed_step()?;
        Some((
            s["name"].as_str().unwrap_or_default().to_string(),
            s["fix"].as_str().unwrap_or_default().to_string(),
        ))
    }

    /// Served, with every step checked (the wire, data path and health steps included: the
    /// plugin reached the speakers).
    fn served(&self) -> bool {
        self.code == Some(0)
            && self.report["served"] == true
            && self.report["unchecked"]
                .as_array()
                .is_some_and(Vec::is_empty)
    }

    /// What it said, short: exit code and the first failed step.
    fn summary(&self) -> String {
        match self.first_failed() {
            Some((name, fix)) => format!(
                "exit {:?}, served {}, first failed step {name:?}, fix {fix:?}, evidence {}",
                self.code,
                self.report["served"],
                self.failed_step()
                    .map_or(Value::Null, |s| s["evidence"].clone())
            ),
            None => format!(
                "exit {:?}, served {}, no failed step; output: {}",
                self.code, self.report["served"], self.output
            ),
        }
    }
}

impl Spk<'_> {
    /// Drops (or stops dropping) gossip (UDP 7946) in and out of `node`, with a table of the
    /// test's own in that node's namespace; Err with nft's complaint.
    fn partition(&self, node: &str, cut: bool) -> Result<(), String> {
        let script = if cut {
            format!(
                "table inet {PARTITION_TABLE} {{\n\
                 chain in {{ type filter hook input priority -10; udp dport 7946 drop; }}\n\
                 chain out {{ type filter hook output priority -10; udp dport 7946 drop; }}\n\
                 }}\n"
            )
        } else {
            format!("delete table inet {PARTITION_TABLE}\n")
        };
        let path =
            std::env::temp_dir().join(format!("ferrolb-why-partition-{}.nft", std::process::id()));
        std::fs::write(&path, &script).expect("writing the nft script");
        let argv = ["nft".to_string(), "-f".into(), path.display().to_string()];
        let out = self
            .lab
            .exec(node, &argv)
            .expect("nft in the node")
            .output()
            .expect("running nft");
        let _ = std::fs::remove_file(&path);
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "nft in {node}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// `kubectl ferrolb status -o json` exits 1 with a problem containing each of `phrases`
    /// (polled like `why`). A miss is pushed to `failures`.
    async fn status_names(&self, failures: &mut Vec<String>, case: &str, phrases: &[&str]) {
        let start = Instant::now();
        loop {
            let out = self
                .lab
                .ferrolb(&["status", "-o", "json"])
                .expect("kubectl-ferrolb runs");
            let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            let problems = report["problems"].to_string();
            if out.status.code() == Some(1) && phrases.iter().all(|p| problems.contains(p)) {
                eprintln!("{case}: status names it: {problems}");
                return;
            }
            if start.elapsed() > WHY_LIMIT {
                let miss = format!(
                    "{case}: status did not name {phrases:?} within {WHY_LIMIT:?}; last: exit {:?}, problems {problems}",
                    out.status.code()
                );
                eprintln!("{miss}");
                failures.push(miss);
                return;
            }
            tokio::time::sleep(WHY_EVERY).await;
        }
    }

    /// `kubectl ferrolb why -n ns svc -o json` from the client.
    fn why(&self, ns: &str, svc: &str) -> Why {
        let out = self
            .lab
            .ferrolb(&["why", "-n", ns, svc, "-o", "json"])
            .expect("kubectl-ferrolb runs");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        Why {
            code: out.status.code(),
            report: serde_json::from_str(&stdout).unwrap_or(Value::Null),
            output: format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
        }
    }

    /// Runs `why` every [`WHY_EVERY`] until `done` holds ([`WHY_LIMIT`]): Ok with that run,
    /// else Err with the last one.
    async fn why_until(
        &self,
        ns: &str,
        svc: &str,
        done: impl Fn(&Why) -> bool,
    ) -> Result<Why, Why> {
        let start = Instant::now();
        loop {
            let w = self.why(ns, svc);
            if done(&w) {
                return Ok(w);
            }
            if start.elapsed() > WHY_LIMIT {
                return Err(w);
            }
            tokio::time::sleep(WHY_EVERY).await;
        }
    }

    /// Case `case`, broken: `why` exits 1 with `expected` as the first failed step and a fix
    /// containing `phrase`. A miss is pushed to `failures`.
    async fn why_fails(
        &self,
        failures: &mut Vec<String>,
        case: &str,
        (ns, svc): (&str, &str),
        expected: &str,
        phrase: &str,
    ) {
        let seen = self
            .why_until(ns, svc, |w| {
                w.code == Some(1)
                    && w.first_failed()
                        .is_some_and(|(name, fix)| name == expected && fix.contains(phrase))
            })
            .await;
        match seen {
            Ok(w) => eprintln!("{case}: broken: {}", w.summary()),
            Err(w) => {
                let miss = format!(
                    "{case}: expected exit 1 with first failed step {expected:?} and a fix containing {phrase:?} within {WHY_LIMIT:?}; last: {}",
                    w.summary()
                );
                eprintln!("{miss}");
                failures.push(miss);
            }
        }
    }

    /// Case `case`, fixed: `why` exits 0 with `served: true`. A miss is pushed to `failures`.
    async fn why_served(&self, failures: &mut Vec<String>, case: &str, (ns, svc): (&str, &str)) {
        let start = Instant::now();
        match self.why_until(ns, svc, Why::served).await {
            Ok(_) => eprintln!(
                "{case}: served {:.1}s after the fix",
                start.elapsed().as_secs_f64()
            ),
            Err(w) => {
                let miss = format!(
                    "{case}: not served within {WHY_LIMIT:?} of the fix; last: {}",
                    w.summary()
                );
                eprintln!("{miss}");
                failures.push(miss);
            }
        }
    }

    /// Applies LoadBalancer Service `name` in `ns` of pods `app` (port 80 → [`PORT`]) with
    /// `annotations` and `spec` merged in; waits for nothing.
    async fn why_service(&self, ns: &str, name: &str, app: &str, annotations: Value, spec: Value) {
        let mut body = k8s::service_body(name, annotations, spec);
        body["spec"]["selector"] = json!({"app": app});
        if body["spec"]["ports"][0].get("targetPort").is_none() {
            body["spec"]["ports"] =
                json!([{"name": "p80", "port": 80, "targetPort": PORT, "protocol": "TCP"}]);
        }
        k8s::apply_service(&self.client, ns, &body)
            .await
            .expect("service");
    }

    /// Pool [`POOL`] with `addresses`.
    async fn why_pool(&self, addresses: &[&str]) {
        k8s::pool(
            &self.client,
            POOL,
            json!({"addresses": addresses, "autoAssign": false}),
        )
        .await
        .expect("pool why");
    }

    /// Pool `lan` restricted to `namespaces`.
    async fn lan_for(&self, namespaces: &[&str]) {
        k8s::pool(
            &self.client,
            "lan",
            json!({"addresses": LAN_ADDRESSES, "serviceAllocation": {"namespaces": namespaces}}),
        )
        .await
        .expect("pool lan");
    }

    async fn exclude(&self, node: &str, excluded: bool) {
        let api: Api<Node> = Api::all(self.client.clone());
        let patch =
            json!({"metadata": {"labels": {LABEL_EXCLUDE_FROM_LB: excluded.then_some("true")}}});
        api.patch(node, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("labelling the Node");
    }

    async fn eip_policy(&self, cidr: &str) {
        let api: Api<ferrolb_api::ExternalIPPolicy> = Api::all(self.client.clone());
        let body = json!({"apiVersion": "ferrolb.io/v1alpha1", "kind": "ExternalIPPolicy",
            "metadata": {"name": "why"},
            "spec": {"allowedCIDRs": [cidr],
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": NS}}}});
        k8s::apply(&api, &body).await.expect("ExternalIPPolicy");
    }

    /// Removes what the cases made (also after a failed run) and waits until namespace
    /// [`OTHER_NS`] is gone, so the ground is the common one again.
    async fn why_clean(&self) {
        // A partition an interrupted run left (absent: nothing to undo).
        let _ = self.partition(PARTITIONED, false);
        let services: Api<Service> = Api::namespaced(self.client.clone(), NS);
        for s in [
            "why-req",
            "why-full",
            "why-share-a",
            "why-share-b",
            "why-eip",
            "why-l2",
            "why-local",
        ] {
            let _ = services.delete(s, &DeleteParams::default()).await;
        }
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), NS);
        let _ = pods
            .delete("why-local-b", &DeleteParams::default().grace_period(0))
            .await;
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let _ = namespaces.delete(OTHER_NS, &DeleteParams::default()).await;
        let l2: Api<ferrolb_api::L2AnnouncementPolicy> = Api::all(self.client.clone());
        let _ = l2.delete(POOL, &DeleteParams::default()).await;
        let eip: Api<ferrolb_api::ExternalIPPolicy> = Api::all(self.client.clone());
        let _ = eip.delete("why", &DeleteParams::default()).await;
        k8s::force_pool(&self.client, POOL)
            .await
            .expect("forcing pool why");
        k8s::delete_pool(&self.client, POOL)
            .await
            .expect("deleting pool why");
        self.exclude("node-b", false).await;
        self.setup().await;
        ferrolb_e2e::wait_for(
            &format!("namespace {OTHER_NS} gone"),
            Duration::from_secs(60),
            || {
                let namespaces = namespaces.clone();
                async move {
                    namespaces
                        .get_opt(OTHER_NS)
                        .await
                        .ok()?
                        .is_none()
                        .then_some(())
                }
            },
        )
        .await
        .expect("namespace gone");
    }

    /// Steps 1 and 2: requested address outside every pool, pool exhausted, sharing key
    /// conflict, no pool selecting the namespace, an externalIP refused by policy.
    pub async fn why_address(&self) {
        let started = Instant::now();
        self.why_clean().await;
        let mut failures = Vec::new();
        let f = &mut failures;
        self.l2(POOL, json!({"ipPools": [POOL]})).await;

        let case = "requested address outside every pool";
        step(case);
        let ann = json!({ANN_LOAD_BALANCER_IPS: "198.51.100.252", ANN_IP_POOL: POOL});
        self.why_service(NS, "why-req", "web", ann, json!({})).await;
        self.why_fails(
            f,
            case,
            (NS, "why-req"),
            STEP_ALLOCATION,
            "outside every VIPPool",
        )
        .await;
        self.why_pool(&["198.51.100.252/32"]).await;
        self.why_served(f, case, (NS, "why-req")).await;

        let case = "pool exhausted";
        step(case);
        self.why_service(NS, "why-full", "web", json!({ANN_IP_POOL: POOL}), json!({}))
            .await;
        self.why_fails(f, case, (NS, "why-full"), STEP_ALLOCATION, "is exhausted")
            .await;
        self.why_pool(&["198.51.100.252-198.51.100.253"]).await;
        self.why_served(f, case, (NS, "why-full")).await;

        let case = "sharing key conflict";
        step(case);
        let key = json!({ANN_SHARING_KEY: "why"});
        self.why_service(NS, "why-share-a", "web", key.clone(), json!({}))
            .await;
        self.why_served(
            f,
            "sharing key conflict (first Service)",
            (NS, "why-share-a"),
        )
        .await;
        self.why_service(NS, "why-share-b", "web", key.clone(), json!({}))
            .await;
        self.why_fails(
            f,
            case,
            (NS, "why-share-b"),
            STEP_ALLOCATION,
            "sharing key conflict",
        )
        .await;
        let other_port = json!({"ports": [{"name": "p8080", "port": 8080, "targetPort": PORT, "protocol": "TCP"}]});
        self.why_service(NS, "why-share-b", "web", key, other_port)
            .await;
        self.why_served(f, case, (NS, "why-share-b")).await;

        let case = "no pool selects the namespace";
        step(case);
        k8s::namespace(&self.client, OTHER_NS, json!({}))
            .await
            .expect("namespace");
        self.pod_in(OTHER_NS, "why-a", "why", "node-a", true).await;
        self.lan_for(&[NS]).await;
        self.why_service(OTHER_NS, "why", "why", json!({}), json!({}))
            .await;
        self.why_fails(
            f,
            case,
            (OTHER_NS, "why"),
            STEP_ALLOCATION,
            &format!("no VIPPool selects namespace {OTHER_NS}"),
        )
        .await;
        self.lan_for(&[NS, OTHER_NS]).await;
        self.why_served(f, case, (OTHER_NS, "why")).await;

        let case = "externalIP refused by policy";
        step(case);
        self.l2(POOL, json!({"ipPools": [POOL], "externalIPs": true}))
            .await;
        self.eip_policy(&format!("{EXTERNAL_IP}/32")).await;
        let body = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "why-eip"},
            "spec": {"selector": {"app": "web"}, "externalIPs": [EXTERNAL_IP],
                "ports": [{"name": "p80", "port": 80, "targetPort": PORT, "protocol": "TCP"}]}});
        k8s::apply_service(&self.client, NS, &body)
            .await
            .expect("admitted: the policy allows it");
        self.why_served(
            f,
            "externalIP refused by policy (admitted)",
            (NS, "why-eip"),
        )
        .await;
        // Tightened after admission: only the controller's reconcile-time review sees it.
        self.eip_policy("198.51.100.62/32").await;
        self.why_fails(
            f,
            case,
            (NS, "why-eip"),
            STEP_EXTERNAL_IPS,
            "refused by policy",
        )
        .await;
        self.eip_policy(&format!("{EXTERNAL_IP}/32")).await;
        self.why_served(f, case, (NS, "why-eip")).await;

        self.why_clean().await;
        eprintln!("why_address: {:.0} s", started.elapsed().as_secs_f64());
        assert!(
            failures.is_empty(),
            "why cases failed:\n{}",
            failures.join("\n")
        );
    }

    /// Steps 3 and 4: no L2AnnouncementPolicy covering the pool, a nodeSelector matching no
    /// node, eTP=Local without a ready endpoint, every node with an endpoint excluded by label,
    /// the speaker dead on every eligible node, an interface glob matching nothing.
    pub async fn why_announcer(&self) {
        let started = Instant::now();
        self.why_clean().await;
        let mut failures = Vec::new();
        let f = &mut failures;
        self.why_pool(&["198.51.100.250-198.51.100.254"]).await;
        let svc = (NS, "why-l2");

        let case = "no L2AnnouncementPolicy covers the pool";
        step(case);
        self.why_service(NS, "why-l2", "web", json!({ANN_IP_POOL: POOL}), json!({}))
            .await;
        self.why_fails(
            f,
            case,
            svc,
            STEP_ELECTION,
            "create an L2AnnouncementPolicy listing pool why",
        )
        .await;
        self.l2(POOL, json!({"ipPools": [POOL]})).await;
        self.why_served(f, case, svc).await;

        let case = "nodeSelector matches no node";
        step(case);
        let nowhere = json!({"matchLabels": {"why-announce": "yes"}});
        self.l2(POOL, json!({"ipPools": [POOL], "nodeSelector": nowhere}))
            .await;
        self.why_fails(f, case, svc, STEP_ELECTION, "nodeSelector matches no node")
            .await;
        self.l2(POOL, json!({"ipPools": [POOL]})).await;
        self.why_served(f, case, svc).await;

        let case = "speaker dead on every eligible node";
        step(case);
        let lone = json!({"matchLabels": {"kubernetes.io/hostname": LONE_NODE}});
        self.l2(POOL, json!({"ipPools": [POOL], "nodeSelector": lone}))
            .await;
        self.why_served(f, "speaker dead (policy narrowed)", svc)
            .await;
        self.lab
            .stop(speaker_on(LONE_NODE))
            .expect("stopping the speaker");
        self.why_fails(f, case, svc, STEP_ELECTION, "speaker is not ready")
            .await;
        self.lab
            .start_ready(&[speaker_on(LONE_NODE)], Duration::from_secs(60))
            .await
            .expect("the speaker started again");
        self.why_served(f, case, svc).await;
        self.l2(POOL, json!({"ipPools": [POOL]})).await;

        let case = "eTP=Local with no ready endpoint";
        step(case);
        let local = (NS, "why-local");
        self.pod("why-local-b", "why-local", "node-b", false).await;
        let etp = json!({"externalTrafficPolicy": "Local"});
        self.why_service(
            NS,
            "why-local",
            "why-local",
            json!({ANN_IP_POOL: POOL}),
            etp,
        )
        .await;
        self.why_fails(
            f,
            case,
            local,
            STEP_ENDPOINTS,
            "eTP=Local with no ready endpoint",
        )
        .await;
        self.pod("why-local-b", "why-local", "node-b", true).await;
        self.why_served(f, case, local).await;

        let case = "every node with an endpoint excluded by label";
        step(case);
        self.exclude("node-b", true).await;
        self.why_fails(f, case, local, STEP_ELECTION, "excluded by label")
            .await;
        self.exclude("node-b", false).await;
        self.why_served(f, case, local).await;

        // The API cannot show interfaces: `why` reads the speakers' own reason.
        let case = "interface glob matches nothing";
        step(case);
        self.l2(POOL, json!({"ipPools": [POOL], "interfaces": ["nomatch*"]}))
            .await;
        self.why_fails(f, case, svc, STEP_ELECTION, "interface")
            .await;
        self.l2(POOL, json!({"ipPools": [POOL]})).await;
        self.why_served(f, case, svc).await;

        let case = "a gossip partition with two answering nodes";
        step(case);
        self.partition(PARTITIONED, true).expect("cutting gossip");
        self.why_fails(f, case, svc, STEP_ELECTION, "split brain")
            .await;
        self.status_names(f, case, &["gossip views differ", "split brain"])
            .await;
        self.partition(PARTITIONED, false)
            .expect("restoring gossip");
        self.why_served(f, case, svc).await;

        self.why_clean().await;
        eprintln!("why_announcer: {:.0} s", started.elapsed().as_secs_f64());
        assert!(
            failures.is_empty(),
            "why cases failed:\n{}",
            failures.join("\n")
        );
    }

    /// Beside kube-proxy (the kubeproxy binary's lab, speakers announce-only): kube-proxy
    /// stopped on the announcer and its tables removed there (`kube-proxy --cleanup`), so the
    /// announcer answers ARP/NDP but nothing forwards. The speaker there cannot reach the
    /// apiserver either (the `kubernetes` Service's address needs kube-proxy's rules), so it
    /// cannot be asked; `why` names the data path and kube-proxy from the node's proxy health
    /// (port 10256); the fix (start it again) serves.
    #[allow(dead_code)] // the kubeproxy binary's scenario; the speaker binary has no kube-proxy
    pub async fn why_kube_proxy_rules(&self, web: IpAddr) {
        let case = "the rules table deleted on the announcer while kube-proxy is stopped";
        step(case);
        let mut failures = Vec::new();
        let f = &mut failures;
        let svc = (NS, "web");
        self.why_served(f, "web before the break", svc).await;
        let announcer = self.settled("web", web).await;
        let node: LabNode = announcer.parse().expect("a lab node");
        kubeproxy::stop(self.lab, node);
        kubeproxy::cleanup(self.lab, node).expect("kube-proxy --cleanup");
        self.why_fails(
            f,
            case,
            svc,
            STEP_DATA_PATH,
            &format!("kube-proxy on {announcer} is down"),
        )
        .await;
        kubeproxy::start(self.lab, node).expect("kube-proxy started again");
        self.why_served(f, case, svc).await;
        assert!(
            failures.is_empty(),
            "why cases failed:\n{}",
            failures.join("\n")
        );
    }
}
