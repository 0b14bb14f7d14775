//! `--dataplane=auto` switching for real (root): the real supervisor (`nft list chains`), the
//! real dataplane task with its `Applier`, and the real health API, all inside a fresh network
//! namespace; kube-proxy is played by its tables (`table ip kube-proxy` of its nftables mode,
//! `chain KUBE-SERVICES` in `table ip nat` of its iptables mode). A stand-in for the loop hands
//! each decision out as the loop does ([`Wanted::from_desired`], `serve_node_ports`).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrolb_core::{Protocol, ServiceKey, TargetPort};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::metrics::Metrics;
use super::rules::{self, RulesStatus, Wanted};
use crate::dataplane::{
    self, Applier, ChangeLabels, Decision, KubeProxy, Mode, Nft, SupervisorConfig,
};
use crate::health::{HealthConfig, HealthServer, HealthSnapshot, ServiceHealth};
use crate::ruleset::{Endpoint, NodeInput, PortInput, Ruleset, ServiceInput, build};

const INTERVAL: Duration = Duration::from_millis(200);
const DELAY: Duration = Duration::from_secs(1);
/// "Within 3 detection intervals", with a 3x margin for a busy 2-core machine.
const HANDOVER: Duration = Duration::from_millis(200 * 3 * 3);
const POLL: Duration = Duration::from_millis(50);
const HC_PORT: u16 = 30_123;

/// TCP Service `default/web` on 198.51.100.200:80 → 192.0.2.10:8080, eTP=Local style.
fn web() -> Arc<Ruleset> {
    let port = PortInput {
        name: None,
        protocol: Protocol::Tcp,
        port: 80,
        node_port: None,
        target: TargetPort::Number(8080),
    };
    Arc::new(build(&NodeInput {
        node_name: "node-a".to_string(),
        node_ips: Vec::new(),
        services: vec![Arc::new(ServiceInput::new(
            ServiceKey::new("default", "web"),
            vec!["198.51.100.200".parse().unwrap()],
            vec![port],
            vec![Endpoint::ready("192.0.2.10".parse().unwrap(), "node-a")],
        ))],
    }))
}

/// What the loop does with each decision: the ruleset or "withdraw" to the dataplane task,
/// and whether to serve the healthCheckNodePorts to the health API.
async fn stand_in_loop(
    mut decisions: watch::Receiver<Decision>,
    rules: watch::Sender<Wanted>,
    health: watch::Sender<Arc<HealthSnapshot>>,
) {
    let ruleset = web();
    let services = BTreeMap::from([(
        ServiceKey::new("default", "web"),
        ServiceHealth {
            local_ready_endpoints: 1,
            health_check_node_port: Some(HC_PORT),
        },
    )]);
    loop {
        let enabled = decisions.borrow_and_update().enabled;
        let built = enabled.then(|| ruleset.clone());
        rules.send_replace(Wanted::from_desired(built.as_ref()));
        health.send_replace(Arc::new(HealthSnapshot {
            synced: true,
            node_known: true,
            services: services.clone(),
            serve_node_ports: enabled,
            ..HealthSnapshot::default()
        }));
        if decisions.changed().await.is_err() {
            return;
        }
    }
}

/// The namespace's view: is table `inet ferrolb` there, is the healthCheckNodePort bound.
struct Node {
    ns: String,
}

impl Node {
    fn nft(&self, script: &str) {
        let quoted = format!("nft -f - <<'EOF'\n{script}\nEOF\n");
        ferrolb_testkit::exec(&self.ns, &["sh", "-c", &quoted]).unwrap();
    }

    async fn programmed(&self) -> bool {
        let table = Nft::new(Some(self.ns.clone())).list_table().await;
        table.expect("nft list table").is_some()
    }

    async fn node_port_bound(&self) -> bool {
        let hc = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), HC_PORT);
        TcpStream::connect(hc).await.is_ok()
    }

    async fn state(&self) -> (bool, bool) {
        (self.programmed().await, self.node_port_bound().await)
    }

    /// Polls until the table and the port are both `on` (or both gone); the time it took.
    async fn reaches(&self, on: bool, since: Instant, bound: Duration, what: &str) -> Duration {
        loop {
            let state = self.state().await;
            let took = since.elapsed();
            if state == (on, on) {
                return took;
            }
            assert!(
                took < bound,
                "{what}: (table, port) = {state:?} after {took:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// kube-proxy leaves at `gone`: nothing comes back before the takeover delay, everything
    /// within the delay and three intervals (with margin).
    async fn taken_over_after_the_delay(&self, gone: Instant, what: &str) {
        loop {
            let state = self.state().await;
            if gone.elapsed() >= DELAY {
                break;
            }
            assert_eq!(state, (false, false), "{what}: back before the delay");
            tokio::time::sleep(POLL).await;
        }
        let took = self.reaches(true, gone, DELAY + HANDOVER, what).await;
        println!("{what}: taken over after {took:?}");
    }
}

fn changes(metrics: &Metrics, to: &str) -> u64 {
    let to = ChangeLabels { to: to.into() };
    metrics.dataplane.changes.get_or_create(&to).get()
}

#[test]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
fn auto_follows_kube_proxy_in_and_out_of_the_node() {
    ferrolb_testkit::needs(&["ip", "nft"]);
    let netns = ferrolb_testkit::Netns::new("dpsw").expect("namespace");
    let ns = netns.name().to_string();
    netns
        .block_on(move || async move { run(Node { ns }).await })
        .expect("runs in the namespace");
}

async fn run(node: Node) {
    let (metrics, _) = Metrics::new();
    let metrics = Arc::new(metrics);
    let (rules_tx, rules_rx) = watch::channel(Wanted::NotYet);
    let (status_tx, status_rx) = watch::channel(RulesStatus::default());
    let _rules = rules::spawn(
        Applier::new(Some(node.ns.clone())),
        rules_rx,
        status_tx,
        metrics.clone(),
    );
    let (health_tx, health_rx) = watch::channel(Arc::new(HealthSnapshot::default()));
    let mut config = HealthConfig::new(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0));
    config.node_port_ip = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    config.bind_retry = Duration::from_millis(100);
    let _health = HealthServer::spawn(config, health_rx)
        .await
        .expect("health API");
    let supervisor = SupervisorConfig {
        mode: Mode::Auto,
        detect_interval: INTERVAL,
        takeover_delay: DELAY,
    };
    let nft = Nft::new(Some(node.ns.clone()));
    let (decisions, _supervisor) =
        dataplane::supervise(supervisor, nft, metrics.dataplane.clone()).await;
    let watch_decisions = decisions.clone();
    tokio::spawn(stand_in_loop(decisions, rules_tx, health_tx));

    // No kube-proxy at start: programmed at once.
    let start = Instant::now();
    node.reaches(true, start, Duration::from_secs(5), "start")
        .await;
    assert_eq!(watch_decisions.borrow().kube_proxy, Some(KubeProxy::Absent));

    for (what, arrives, leaves) in [
        (
            "kube-proxy nftables",
            "table ip kube-proxy {\n\tchain services {\n\t}\n}",
            "delete table ip kube-proxy",
        ),
        (
            "kube-proxy iptables",
            "table ip nat {\n\tchain KUBE-SERVICES {\n\t}\n}",
            "delete table ip nat",
        ),
    ] {
        let arrived = Instant::now();
        node.nft(arrives);
        let took = node.reaches(false, arrived, HANDOVER, what).await;
        println!("{what}: withdrawn after {took:?}");
        let seen = watch_decisions.borrow().kube_proxy.clone();
        assert!(matches!(seen, Some(KubeProxy::Present(_))), "{seen:?}");
        assert_eq!(status_rx.borrow().withdraw_error, None);

        let gone = Instant::now();
        node.nft(leaves);
        node.taken_over_after_the_delay(gone, what).await;
    }
    assert_eq!(changes(&metrics, "announce-only"), 2);
    assert_eq!(changes(&metrics, "nftables"), 2);
    assert_eq!(metrics.dataplane.programming.get(), 1);
}
