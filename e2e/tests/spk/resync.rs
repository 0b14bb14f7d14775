//! The node's table is deleted behind the speaker's back (a firewall reload's
//! `nft flush ruleset`): the speaker notices and writes it again, without waiting for a Service
//! to change, and traffic through the node flows again.

use std::net::{IpAddr, SocketAddr};

use super::{Spk, step};

impl Spk<'_> {
    fn has_table(&self, node: &str) -> bool {
        self.lab.has_table(node).expect("nft in the node")
    }

    /// `ip` is the Service `web`'s address, announced.
    pub async fn table_restored(&self, ip: IpAddr) {
        step("table inet ferrolb deleted on the announcing node: written again, traffic flows");
        let node = self.settled("web", ip).await;
        assert!(self.has_table(&node));
        let argv = ["nft", "delete", "table", "inet", "ferrolb"].map(String::from);
        let out = self
            .lab
            .exec(&node, &argv)
            .expect("nft in the node")
            .output()
            .expect("running nft");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lab = self.lab;
        let to = SocketAddr::new(ip, 80);
        let node = &node;
        ferrolb_e2e::wait_for(
            &format!("{node}'s table written again and TCP through {to}"),
            super::WIRE,
            || async move {
                (self.has_table(node) && lab.probe("client", "tcp", to).is_ok()).then_some(())
            },
        )
        .await
        .expect("table restored");
    }
}
