//! Failover: the announcing speaker killed, stopped (SIGTERM handover), and killed while the
//! apiserver is down. Each time another node answers and TCP flows through it.

use std::net::IpAddr;
use std::time::Instant;

use ferrolb_e2e::lab::controlplane;
use ferrolb_e2e::lab::process;

use super::{Spk, speaker_on, step};

impl Spk<'_> {
    /// Waits until a node other than `old` answers for `ip`; returns it and how long it took.
    async fn moved_from(&self, ip: IpAddr, old: &str) -> (String, std::time::Duration) {
        let start = Instant::now();
        let old_mac = self.lab.mac(old).expect("mac");
        let old_mac = &old_mac;
        let macs = ferrolb_e2e::wait_for(
            &format!("{ip} answered by a node other than {old}"),
            super::WIRE,
            || async move {
                let macs = self.lab.arping("client", ip, 1).ok()?;
                (!macs.is_empty() && !macs.contains(old_mac)).then_some(macs)
            },
        )
        .await
        .expect("failover");
        let took = start.elapsed();
        let nodes = self.nodes_of(&macs);
        assert_eq!(nodes.len(), 1, "one node answers after failover: {macs:?}");
        (nodes[0].clone(), took)
    }

    /// Starts the speaker on `node` again and waits until it is ready.
    async fn restart(&self, node: &str) {
        self.lab
            .start_ready(&[speaker_on(node)], super::WIRE)
            .await
            .expect("restarted and ready again");
    }

    pub async fn kill_announcer(&self, ip: IpAddr) {
        step("the announcing speaker is killed: another node answers, TCP flows");
        let old = self.settled("web", ip).await;
        self.lab.kill(speaker_on(&old)).expect("kill");
        let (new, took) = self.moved_from(ip, &old).await;
        eprintln!(
            "SIGKILL {old}: {new} answers after {took:?} (arping-observed, 1 s probe granularity)"
        );
        assert!(!self.pods_via(ip, 3).is_empty());
        assert_eq!(self.settled("web", ip).await, new);
        let text = format!("{new} answers ARP/NDP for {ip}");
        let note =
            ferrolb_e2e::k8s::wait_event(&self.client, super::NS, "web", "Announcing", &text)
                .await
                .expect("a takeover event");
        eprintln!("event: {note}");
        self.restart(&old).await;
    }

    pub async fn stop_announcer(&self, ip: IpAddr) {
        step("the announcing speaker gets SIGTERM: it hands over before going quiet");
        let old = self.settled("web", ip).await;
        self.lab.stop(speaker_on(&old)).expect("stop");
        let (new, took) = self.moved_from(ip, &old).await;
        eprintln!("SIGTERM {old}: {new} answers after {took:?}");
        assert!(!self.pods_via(ip, 3).is_empty());
        self.restart(&old).await;
    }

    pub async fn apiserver_outage(&self, ip: IpAddr) {
        step("apiserver down: the VIP keeps answering, and killing its speaker still fails over");
        let old = self.settled("web", ip).await;
        let pids = process::find(&self.lab.names.lab, Some("kube-apiserver"));
        process::stop(&pids, std::time::Duration::from_secs(10));
        self.answered_by(ip, &old).await;
        self.lab.kill(speaker_on(&old)).expect("kill");
        let (new, took) = self.moved_from(ip, &old).await;
        eprintln!("apiserver down, SIGKILL {old}: {new} answers after {took:?}");
        assert!(!self.pods_via(ip, 3).is_empty());
        controlplane::start(self.lab, &["kube-apiserver"]).expect("apiserver back");
        self.lab.start(speaker_on(&old)).expect("restart");
        self.lab
            .wait_ready(speaker_on(&old), std::time::Duration::from_secs(60))
            .await
            .expect("ready again");
    }
}
