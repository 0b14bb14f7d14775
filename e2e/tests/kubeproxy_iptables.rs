//! ferrolb beside the real kube-proxy in iptables mode (through Debian's iptables-nft): the VIP
//! over IPv4 and IPv6 and eTP=Local, as in `kubeproxy.rs`, once with the other mode kind and
//! older kubeadm clusters run.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

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
