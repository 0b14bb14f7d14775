//! The nftables applier for real, inside network namespaces the tests create
//! (the test kit's `flbt-<pid>-…`, removed on drop, also on failure). Needs root, iproute2,
//! nftables and conntrack. Only documentation addresses and pod-like
//! private ones, only inside those namespaces.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_core::{Protocol, ServiceKey, TargetPort};
use ferrolb_speaker::dataplane::{
    Applier, FullReason, KubeProxy, Nft, SyncMode, detect_kube_proxy,
};
use ferrolb_speaker::ruleset::{Endpoint, NodeInput, PortInput, Ruleset, ServiceInput, build};

/// What these tests need besides root.
const TOOLS: [&str; 3] = ["ip", "nft", "conntrack"];

/// A fresh network namespace of the test kit with `lo` up; deleted on drop.
struct Netns(ferrolb_testkit::Netns);

impl Netns {
    fn new(tag: &str) -> Netns {
        ferrolb_testkit::needs(&TOOLS);
        Netns(ferrolb_testkit::Netns::new(&format!("dp{tag}")).expect("namespace"))
    }

    /// Runs a command inside; it must succeed; its stdout.
    fn exec(&self, argv: &[&str]) -> String {
        self.0.exec(argv).unwrap()
    }

    /// `nft -f -` of `script` inside (the "someone else" of these tests).
    fn nft_script(&self, script: &str) {
        let quoted = format!("nft -f - <<'EOF'\n{script}\nEOF\n");
        self.exec(&["sh", "-c", &quoted]);
    }

    fn nft(&self) -> Nft {
        Nft::new(Some(self.0.name().to_string()))
    }

    fn applier(&self) -> Applier {
        Applier::new(Some(self.0.name().to_string()))
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// UDP Service `default/dns` on node `node-a`: 192.0.2.53 and 2001:db8::53 port 53 → 5353.
fn dns(endpoints: &[&str]) -> Ruleset {
    let port = PortInput {
        name: None,
        protocol: Protocol::Udp,
        port: 53,
        node_port: None,
        target: TargetPort::Number(5353),
    };
    build(&NodeInput {
        node_name: "node-a".to_string(),
        node_ips: Vec::new(),
        services: vec![Arc::new(ServiceInput::new(
            ServiceKey::new("default", "dns"),
            vec![ip("192.0.2.53"), ip("2001:db8::53")],
            vec![port],
            endpoints
                .iter()
                .map(|address| Endpoint::ready(ip(address), "node-a"))
                .collect(),
        ))],
    })
}

const OTHER: &str = "table inet other {
	chain input {
		type filter hook input priority 0; policy accept;
		udp dport 9999 counter accept
	}
}";

fn other_table(netns: &Netns) -> String {
    netns.exec(&["nft", "list", "table", "inet", "other"])
}

async fn kernel_table(netns: &Netns) -> String {
    netns
        .nft()
        .list_table()
        .await
        .unwrap()
        .expect("table exists")
}

/// Whether the listed table sends some Service to `target` (`IP:PORT`): an element of an
/// endpoint map, `… : IP . PORT`.
fn delivers(table: &str, target: &str) -> bool {
    let (ip, port) = target.rsplit_once(':').expect("IP:PORT");
    table.contains(&format!(": {ip} . {port}"))
}

async fn dnats_to(netns: &Netns, target: &str) -> bool {
    delivers(&kernel_table(netns).await, target)
}

#[tokio::test]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
async fn replaces_first_then_updates_and_leaves_other_tables_alone() {
    let netns = Netns::new("u");
    netns.nft_script(OTHER);
    let other = other_table(&netns);
    assert_eq!(netns.nft().list_table().await.unwrap(), None);

    let mut applier = netns.applier();
    let report = applier
        .sync(&dns(&["10.244.1.5", "10.244.2.7"]))
        .await
        .unwrap();
    assert_eq!(report.mode, SyncMode::Full(FullReason::NothingApplied));
    assert!(report.bytes > 0);
    let table = kernel_table(&netns).await;
    assert!(delivers(&table, "10.244.1.5:5353"), "{table}");
    assert!(delivers(&table, "10.244.2.7:5353"), "{table}");

    let report = applier
        .sync(&dns(&["10.244.1.5", "10.244.3.9"]))
        .await
        .unwrap();
    assert_eq!(report.mode, SyncMode::Update);
    let table = kernel_table(&netns).await;
    assert!(delivers(&table, "10.244.3.9:5353"), "{table}");
    assert!(!table.contains("10.244.2.7"), "{table}");
    assert_eq!(report.conntrack.endpoints, 1, "10.244.2.7 went away");
    assert!(report.conntrack.errors.is_empty(), "{report:?}");

    // The same rule set again: nothing to write but the table command.
    let report = applier
        .sync(&dns(&["10.244.1.5", "10.244.3.9"]))
        .await
        .unwrap();
    assert_eq!(report.mode, SyncMode::Update);
    assert!(report.bytes < 200, "{report:?}");
    assert!(applier.in_sync().await.unwrap());

    // A rule added by hand survives updates, and is dropped by the periodic resync.
    netns.exec(&[
        "nft", "add", "rule", "inet", "ferrolb", "services", "udp", "dport", "7", "drop",
    ]);
    let report = applier
        .sync(&dns(&["10.244.1.5", "10.244.3.9", "10.244.4.4"]))
        .await
        .unwrap();
    assert_eq!(report.mode, SyncMode::Update);
    assert!(kernel_table(&netns).await.contains("dport 7 drop"));
    let mut applier = applier.resync_every(std::time::Duration::ZERO);
    let report = applier
        .sync(&dns(&["10.244.1.5", "10.244.3.9"]))
        .await
        .unwrap();
    assert_eq!(report.mode, SyncMode::Resync);
    assert!(!kernel_table(&netns).await.contains("dport 7 drop"));
    assert!(!kernel_table(&netns).await.contains("10.244.4.4"));
    assert!(applier.in_sync().await.unwrap(), "the resync wrote a token");

    netns.nft().delete_table().await.unwrap();
    netns.nft().delete_table().await.unwrap();
    assert_eq!(netns.nft().list_table().await.unwrap(), None);
    assert_eq!(other_table(&netns), other, "inet other untouched");
}

#[tokio::test]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
async fn a_table_removed_recreated_or_broken_behind_its_back_is_replaced() {
    let netns = Netns::new("r");
    netns.nft_script(OTHER);
    let other = other_table(&netns);
    let rules = dns(&["10.244.1.5"]);
    let mut applier = netns.applier();
    applier.sync(&rules).await.unwrap();

    netns.exec(&["nft", "delete", "table", "inet", "ferrolb"]);
    assert!(!applier.in_sync().await.unwrap());
    let report = applier.sync(&rules).await.unwrap();
    assert_eq!(report.mode, SyncMode::Full(FullReason::TableMissing));
    assert!(dnats_to(&netns, "10.244.1.5:5353").await);
    assert!(applier.in_sync().await.unwrap());

    // Emptied by hand (`nft flush ruleset` and a new empty table): the token set went too.
    netns.nft_script("delete table inet ferrolb\ntable inet ferrolb {\n}");
    assert!(!applier.in_sync().await.unwrap());
    let report = applier.sync(&rules).await.unwrap();
    assert_eq!(report.mode, SyncMode::Full(FullReason::TableMissing));

    // Written by another applier (a second speaker): another token.
    let mut intruder = netns.applier();
    intruder.sync(&dns(&["10.244.9.9"])).await.unwrap();
    assert!(!applier.in_sync().await.unwrap());
    let report = applier.sync(&rules).await.unwrap();
    assert_eq!(report.mode, SyncMode::Full(FullReason::TableReplaced));
    assert!(dnats_to(&netns, "10.244.1.5:5353").await);
    assert!(!dnats_to(&netns, "10.244.9.9:5353").await);

    // An element deleted by hand (the endpoint's hairpin pair): the next change, which deletes
    // it, trips over it, and the whole table is replaced instead.
    netns.nft_script("delete element inet ferrolb hairpin4 { 10.244.1.5 . 10.244.1.5 }");
    let moved = dns(&["10.244.2.7"]);
    let report = applier.sync(&moved).await.unwrap();
    assert!(
        matches!(&report.mode, SyncMode::Full(FullReason::UpdateFailed(error)) if !error.is_empty()),
        "{report:?}"
    );
    assert!(dnats_to(&netns, "10.244.2.7:5353").await);
    assert_eq!(applier.sync(&moved).await.unwrap().mode, SyncMode::Update);
    assert_eq!(other_table(&netns), other, "inet other untouched");
}

#[tokio::test]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
async fn check_validates_without_applying_and_errors_carry_nft_stderr() {
    let netns = Netns::new("c");
    let nft = netns.nft();
    nft.check(&dns(&["10.244.1.5"]).to_nft_script())
        .await
        .unwrap();
    assert_eq!(
        nft.list_table().await.unwrap(),
        None,
        "check applies nothing"
    );
    let error = nft
        .apply("add chain inet ferrolb x { bogus }\n")
        .await
        .unwrap_err();
    assert!(
        error
            .stderr()
            .is_some_and(|stderr| stderr.contains("Error")),
        "{error}"
    );
    assert!(error.to_string().contains("nft -f -"), "{error}");
}

#[tokio::test]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
async fn removed_udp_endpoints_lose_their_dnat_flows_only() {
    let netns = Netns::new("ct");
    for address in [
        "10.244.1.5/32",
        "10.244.2.7/32",
        "fd00:244::5/128",
        "fd00:244::7/128",
    ] {
        netns.exec(&["ip", "addr", "add", address, "dev", "lo"]);
    }
    netns.exec(&["ip", "route", "add", "192.0.2.0/24", "dev", "lo"]);
    netns.exec(&["ip", "route", "add", "2001:db8::/64", "dev", "lo"]);
    let mut applier = netns.applier();
    applier
        .sync(&dns(&["10.244.1.5", "fd00:244::5"]))
        .await
        .unwrap();

    // One flow per family through the VIPs (DNATed), one straight to the pod.
    let send = "echo a > /dev/udp/192.0.2.53/53; echo b > /dev/udp/2001:db8::53/53; \
                echo c > /dev/udp/10.244.1.5/5353";
    netns.exec(&["bash", "-c", send]);
    let flows = |family: &str| netns.exec(&["conntrack", "-L", "-p", "udp", "-f", family]);
    let dnat4 = "dst=192.0.2.53 sport=";
    assert!(flows("ipv4").contains(dnat4), "{}", flows("ipv4"));
    assert!(
        flows("ipv6").contains("dst=2001:db8::53 "),
        "{}",
        flows("ipv6")
    );

    let report = applier
        .sync(&dns(&["10.244.2.7", "fd00:244::7"]))
        .await
        .unwrap();
    assert_eq!(report.mode, SyncMode::Update);
    assert_eq!(report.conntrack.endpoints, 2);
    assert_eq!(report.conntrack.flows_deleted, 2, "{report:?}");
    assert!(report.conntrack.errors.is_empty(), "{report:?}");
    let (v4, v6) = (flows("ipv4"), flows("ipv6"));
    assert!(!v4.contains(dnat4), "{v4}");
    assert!(!v6.contains("2001:db8::53"), "{v6}");
    assert!(
        v4.contains("dst=10.244.1.5 sport="),
        "direct flow kept: {v4}"
    );

    // Nothing left to delete: "0 flow entries" (exit code 1) is success.
    let report = applier
        .sync(&dns(&["10.244.1.5", "fd00:244::5"]))
        .await
        .unwrap();
    assert_eq!(report.conntrack.endpoints, 2);
    assert_eq!(report.conntrack.flows_deleted, 0);
    assert!(report.conntrack.errors.is_empty(), "{report:?}");
}

#[tokio::test]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
async fn remove_deletes_only_inet_ferrolb_and_the_next_sync_writes_it_whole() {
    let netns = Netns::new("r");
    netns.nft_script(OTHER);
    netns.nft_script("table ip kube-proxy {\n\tchain services {\n\t}\n}");
    let before = netns.exec(&["nft", "list", "tables"]);
    let mut applier = netns.applier();
    applier.sync(&dns(&["10.244.1.5"])).await.unwrap();

    applier.remove().await.unwrap();
    assert_eq!(netns.nft().list_table().await.unwrap(), None);
    assert_eq!(applier.last_applied(), None);
    assert_eq!(netns.exec(&["nft", "list", "tables"]), before);
    applier.remove().await.expect("no table: nothing to do");

    let report = applier.sync(&dns(&["10.244.1.5"])).await.unwrap();
    assert_eq!(report.mode, SyncMode::Full(FullReason::NothingApplied));
    assert!(dnats_to(&netns, "10.244.1.5:5353").await);
}

#[tokio::test]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
async fn detects_kube_proxy_tables_and_chains() {
    let netns = Netns::new("k");
    let nft = netns.nft();
    netns.applier().sync(&dns(&["10.244.1.5"])).await.unwrap();
    netns.nft_script(OTHER);
    assert_eq!(detect_kube_proxy(&nft).await, KubeProxy::Absent);

    netns.nft_script("table ip nat {\n\tchain KUBE-SERVICES {\n\t}\n}");
    let found = detect_kube_proxy(&nft).await;
    assert_eq!(
        found,
        KubeProxy::Present("chain KUBE-SERVICES in table ip nat".to_string())
    );
    netns.exec(&["nft", "delete", "table", "ip", "nat"]);

    netns.nft_script("table ip kube-proxy {\n\tchain services {\n\t}\n}");
    let found = detect_kube_proxy(&nft).await;
    assert_eq!(found, KubeProxy::Present("table ip kube-proxy".to_string()));

    let nowhere = Nft::new(Some(format!("{}-missing", netns.0.name())));
    let unknown = detect_kube_proxy(&nowhere).await;
    assert!(
        matches!(&unknown, KubeProxy::Unknown(error) if !error.is_empty()),
        "{unknown:?}"
    );
}

/// `web` with ClientIP affinity (a dynamic set in the table) and a NodePort on node `node-a`.
fn web_with_affinity() -> Ruleset {
    let port = PortInput {
        name: None,
        protocol: Protocol::Tcp,
        port: 80,
        node_port: Some(30080),
        target: TargetPort::Number(8080),
    };
    let mut web = ServiceInput::new(
        ServiceKey::new("default", "web"),
        vec![ip("192.0.2.80")],
        vec![port],
        vec![Endpoint::ready(ip("10.244.1.5"), "node-a")],
    );
    web.affinity = Some(10_800);
    build(&NodeInput {
        node_name: "node-a".to_string(),
        node_ips: vec![ip("192.0.2.10")],
        services: vec![Arc::new(web)],
    })
}

#[tokio::test]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
async fn a_restarted_speakers_first_sync_replaces_the_table_it_finds() {
    let netns = Netns::new("f");
    let rules = web_with_affinity();
    netns.applier().sync(&rules).await.unwrap();
    // A restarted speaker: a fresh applier, the previous run's table (with its token and its
    // dynamic affinity set) in the kernel. Its first-sync script must be valid on it, for the
    // same rules and for others (here: none).
    for next in [
        rules.clone(),
        dns(&["10.244.2.7"]),
        build(&NodeInput::default()),
    ] {
        let mut restarted = netns.applier();
        let report = restarted
            .sync(&next)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.mode, SyncMode::Full(FullReason::NothingApplied));
        assert!(
            restarted.in_sync().await.unwrap(),
            "its token is in the table"
        );
    }
    assert!(!kernel_table(&netns).await.contains("192.0.2.80"));
}

/// `/debug/rules`' reading, from the kernel: ferrolb's table as the applier wrote it, and a
/// kube-proxy table (the unit tests' `kp4.nft`, written from kube-proxy's own expectations)
/// present for IPv4 and absent for IPv6.
#[tokio::test]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
async fn debug_rules_reads_the_kernels_tables() {
    use ferrolb_speaker::dataplane::inspect::{
        PortRules, RuleTable, TableRules, kube_proxy_table, table_rules,
    };
    let netns = Netns::new("rd");
    let nft = netns.nft();
    let read = async |table: (&str, &str), kind, address: IpAddr| -> TableRules {
        let listing = nft.list_table_json(table.0, table.1).await.unwrap();
        table_rules(table, listing.as_deref(), kind, address).unwrap()
    };
    let udp = |endpoints: &[&str]| PortRules {
        protocol: Protocol::Udp,
        port: 53,
        endpoints: endpoints.iter().map(|e| e.to_string()).collect(),
    };

    let vip = ip("192.0.2.53");
    let absent = read(("inet", "ferrolb"), RuleTable::Ferrolb, vip).await;
    assert!(!absent.present && absent.ports.is_empty());
    netns
        .applier()
        .sync(&dns(&["10.244.1.5", "10.244.2.7", "fd00::5"]))
        .await
        .unwrap();
    let ferrolb = read(("inet", "ferrolb"), RuleTable::Ferrolb, vip).await;
    assert!(ferrolb.present);
    assert_eq!(
        ferrolb.ports,
        [udp(&["10.244.1.5:5353", "10.244.2.7:5353"])]
    );
    let v6 = read(("inet", "ferrolb"), RuleTable::Ferrolb, ip("2001:db8::53")).await;
    assert_eq!(v6.ports, [udp(&["[fd00::5]:5353"])]);

    netns.nft_script(include_str!("../src/dataplane/tests/nft_json/kp4.nft"));
    let lb = ip("198.51.100.33");
    let kube_proxy = read(kube_proxy_table(lb), RuleTable::KubeProxy, lb).await;
    assert_eq!(kube_proxy.table, "ip kube-proxy");
    assert!(kube_proxy.present);
    assert_eq!(kube_proxy.ports.len(), 2, "{kube_proxy:?}");
    let lb6 = ip("2001:db8:1::7");
    let none = read(kube_proxy_table(lb6), RuleTable::KubeProxy, lb6).await;
    assert_eq!(
        (none.table.as_str(), none.present),
        ("ip6 kube-proxy", false)
    );
}
