//! ferrolb beside the real kube-proxy (nftables mode) on every node, as on kind and most kubeadm
//! clusters: kube-proxy programs the Service rules and serves the healthCheckNodePorts, ferrolb's
//! speakers (deploy/'s `--dataplane=announce-only`) answer ARP/NDP for the VIPs. Through the VIP
//! over IPv4 and IPv6, eTP=Local keeping the client's address, failover, and the speaker's
//! `--dataplane=auto` following kube-proxy as it stops, is cleaned up, starts and restarts.
//!
//! One lab for the whole binary (`lab up --kube-proxy nftables`); each scenario takes its turn
//! from the speaker scenarios' ground (Service `web` with a pod per node), so any one runs alone
//! (`cargo test -p ferrolb-e2e --features root-tests --test kubeproxy -- local`).

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod kp;
#[allow(dead_code)]
#[path = "spk/mod.rs"]
mod spk;

use spk::Spk;

ferrolb_e2e::lab_test!(vips, kube_proxy = Nftables, |turn| {
    let s = Spk::of(&turn);
    let web = s.begin().await;
    kp::vips_through_kube_proxy(&s, &web, ("ip", "kube-proxy")).await;
});

ferrolb_e2e::lab_test!(local, kube_proxy = Nftables, |turn| {
    let s = Spk::of(&turn);
    s.begin().await;
    kp::local_through_kube_proxy(&s).await;
});

ferrolb_e2e::lab_test!(kill_announcer, kube_proxy = Nftables, |turn| {
    let s = Spk::of(&turn);
    let web = s.begin().await;
    s.kill_announcer(web[0]).await;
    kp::kill_announcer_v6(&s, web[1]).await;
});

ferrolb_e2e::lab_test!(auto_follows, kube_proxy = Nftables, |turn| {
    let s = Spk::of(&turn);
    s.begin().await;
    kp::auto_follows_kube_proxy(&s).await;
});

ferrolb_e2e::lab_test!(edge_probes_kube_proxy, kube_proxy = Nftables, |turn| {
    let s = Spk::of(&turn);
    s.begin().await;
    kp::edge_probes_kube_proxy(&s).await;
});

// Issue 20's data-path proof: `kubectl ferrolb why` names kube-proxy's missing rules.
ferrolb_e2e::lab_test!(why_names_missing_rules, kube_proxy = Nftables, |turn| {
    let s = Spk::of(&turn);
    let web = s.begin().await;
    s.why_kube_proxy_rules(web[0]).await;
});

ferrolb_e2e::lab_test!(
    health_api_matches_kube_proxys,
    kube_proxy = Nftables,
    |turn| {
        let s = Spk::of(&turn);
        s.begin().await;
        kp::health_api::matches_kube_proxy(&s).await;
    }
);

ferrolb_e2e::lab_test!(
    private_endpoints_are_reviewed,
    kube_proxy = Nftables,
    |turn| {
        let s = Spk::of(&turn);
        s.begin().await;
        kp::health_api::private_endpoints_are_reviewed(&s).await;
    }
);
