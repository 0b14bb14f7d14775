//! ferrolb beside the real kube-proxy in iptables mode (through Debian's iptables-nft): the VIP
//! over IPv4 and IPv6, eTP=Local and `--dataplane=auto` following kube-proxy, as in
//! `kubeproxy.rs`, with the other mode kind and older kubeadm clusters run.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The edge scenario runs in the nftables binary only.
#[allow(dead_code)]
mod kp;
#[allow(dead_code)]
#[path = "spk/mod.rs"]
mod spk;

use spk::Spk;

ferrolb_e2e::lab_test!(iptables_vips_and_local, kube_proxy = Iptables, |turn| {
    let s = Spk::of(&turn);
    let web = s.begin().await;
    kp::vips_through_kube_proxy(&s, &web, ("ip", "nat")).await;
    kp::local_through_kube_proxy(&s).await;
});

ferrolb_e2e::lab_test!(iptables_auto_follows, kube_proxy = Iptables, |turn| {
    let s = Spk::of(&turn);
    s.begin().await;
    kp::auto_follows_kube_proxy(&s).await;
});
