//! Failover: the announcing speaker killed (IPv4 and IPv6) and stopped (SIGTERM handover);
//! killed during an apiserver outage: `outage.rs`. Each time another node answers, alone, and
//! TCP flows through it. Kill and stop are timed from the signal by a prober in the client (a
//! TCP probe of the VIP every few ms, each reading the client's neighbour entry for it) and
//! bounded.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ferrolb_e2e::bench::failover::{Trial, collect, measure, now_us, start_prober};

use super::{Spk, speaker_on, step};

/// SIGKILL → first TCP answer through the new node. The gossip notices a dead speaker in about
/// 0.5–0.9 s (measured p95 0.71 s, README "Failover measured in the lab"): over 2x margin.
const KILL_BOUND: Duration = Duration::from_secs(2);
/// SIGTERM → first TCP answer through the new node, and the longest time without an answer:
/// the leave reaches the successors in milliseconds (measured p95 20 ms, gap p95 57 ms).
const TERM_BOUND: Duration = Duration::from_millis(300);
/// How long the prober runs after it starts; it starts [`PROBER_LEAD`] before the fault, so it
/// sees well past either bound (a speaker ignoring SIGTERM is killed only after its 10 s grace
/// period: no takeover in the window).
const PROBER_WINDOW: Duration = Duration::from_secs(4);
const PROBER_LEAD: Duration = Duration::from_millis(500);

/// Probe spacing: IPv6 samples run `ip -6 neigh` each (no /proc table), so a little wider.
fn probe_every(ip: IpAddr) -> Duration {
    Duration::from_millis(if ip.is_ipv6() { 10 } else { 5 })
}

impl Spk<'_> {
    /// Waits until a node other than `old` answers for `ip`, alone (every answer over a window
    /// counted); returns it and how long it took.
    pub(super) async fn moved_from(&self, ip: IpAddr, old: &str) -> (String, std::time::Duration) {
        let start = Instant::now();
        let old_mac = self.lab.mac(old).expect("mac");
        let old_mac = &old_mac;
        let macs = ferrolb_e2e::wait_for(
            &format!("{ip} answered by a node other than {old}"),
            super::WIRE,
            || async move {
                let macs = self.answers(ip);
                (!macs.is_empty() && !macs.contains(old_mac)).then_some(macs)
            },
        )
        .await
        .expect("failover");
        let took = start.elapsed();
        let nodes = self.nodes_of(&macs);
        assert_eq!(
            (nodes.len(), macs.len()),
            (1, 1),
            "one node answers after failover: {macs:?}"
        );
        (nodes[0].clone(), took)
    }

    /// Runs `fault` on `old`'s speaker while the client probes `ip`; the trial timed from
    /// just before the signal (so a slow `fault` call only makes the times longer).
    async fn timed(&self, ip: IpAddr, old: &str, fault: impl FnOnce()) -> Trial {
        let old_mac = self.lab.mac(old).expect("mac");
        let prober = start_prober(self.lab, ip, probe_every(ip), PROBER_WINDOW).expect("prober");
        tokio::time::sleep(PROBER_LEAD).await;
        let fault_us = now_us();
        fault();
        let samples = collect(prober).await.expect("the prober's samples");
        let through_old = samples
            .iter()
            .filter(|s| s.t_us < fault_us && s.ok && s.mac.as_deref() == Some(&old_mac))
            .count();
        assert!(
            through_old > 0,
            "the prober got no answer through {old} before the fault ({} samples)",
            samples.len()
        );
        measure(&samples, fault_us, &old_mac)
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
        let since = jiff::Timestamp::now();
        let trial = self
            .timed(ip, &old, || self.lab.kill(speaker_on(&old)).expect("kill"))
            .await;
        let (new, _) = self.moved_from(ip, &old).await;
        eprintln!("SIGKILL {old}: {new} answers; {trial:?}");
        let first = trial
            .first_connect_ms
            .expect("no answer through a new node within the prober's window");
        assert!(
            first < KILL_BOUND.as_secs_f64() * 1000.0,
            "SIGKILL {old}: first answer through {new} {first} ms after the kill (bound {KILL_BOUND:?})"
        );
        assert!(!self.pods_via(ip, 3).is_empty());
        assert_eq!(self.settled("web", ip).await, new);
        let text = format!("{new} answers ARP/NDP for {ip}");
        let note = ferrolb_e2e::k8s::wait_event(
            &self.client,
            super::NS,
            "web",
            ("Announcing", &text),
            since,
        )
        .await
        .expect("a takeover event");
        eprintln!("event: {note}");
        self.restart(&old).await;
    }

    pub async fn stop_announcer(&self, ip: IpAddr) {
        step("the announcing speaker gets SIGTERM: it hands over before going quiet");
        let old = self.settled("web", ip).await;
        let trial = self
            .timed(ip, &old, || self.lab.stop(speaker_on(&old)).expect("stop"))
            .await;
        let (new, _) = self.moved_from(ip, &old).await;
        eprintln!("SIGTERM {old}: {new} answers; {trial:?}");
        let bound = TERM_BOUND.as_secs_f64() * 1000.0;
        let first = trial
            .first_connect_ms
            .expect("no answer through a new node within the prober's window");
        assert!(
            first < bound,
            "SIGTERM {old}: first answer through {new} {first} ms after the signal (bound {TERM_BOUND:?})"
        );
        assert!(
            trial.max_gap_ms < bound,
            "SIGTERM {old}: {} ms without an answer (bound {TERM_BOUND:?})",
            trial.max_gap_ms
        );
        assert!(!self.pods_via(ip, 3).is_empty());
        self.restart(&old).await;
    }
}
