//! Choosing a backend for each new TCP connection or UDP flow (pure).
//!
//! Among the healthy backends the one with the fewest active connections wins; ties go round
//! robin (the search starts after the last pick), so short connections alternate evenly and
//! long ones do not pile up on one node.
//!
//! **No healthy backend: refuse.** The connection is closed (TCP) or the datagram dropped
//! (UDP), counted in the metrics and shown in `/debug/state`. Sending anyway ("fail open", as
//! some cloud load balancers do when every target is unhealthy) would hand traffic to nodes
//! that said they cannot serve it — for eTP=Local, nodes without a ready endpoint, where
//! the connection is dropped after the client waited for a timeout. Refusing at once tells the
//! client the truth quickly and keeps the health API the single source of truth; an outage of
//! every node's health API is visible (condition `ferrolb.io/EdgeServing: False`, metrics)
//! rather than hidden.

/// One backend as the balancer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// May receive new connections.
    pub healthy: bool,
    /// Connections (or flows) open now.
    pub active: u64,
}

/// Per-frontend round-robin position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Balancer {
    next: usize,
}

impl Balancer {
    /// Index of the chosen slot, or `None` when no slot is healthy.
    pub fn pick(&mut self, slots: &[Slot]) -> Option<usize> {
        let fewest = slots.iter().filter(|s| s.healthy).map(|s| s.active).min()?;
        let n = slots.len();
        let start = self.next % n;
        let chosen = (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| slots[i].healthy && slots[i].active == fewest)?;
        self.next = chosen + 1;
        Some(chosen)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn slot(healthy: bool, active: u64) -> Slot {
        Slot { healthy, active }
    }

    #[test]
    fn nobody_healthy_means_refuse() {
        let mut b = Balancer::default();
        assert_eq!(b.pick(&[]), None);
        assert_eq!(b.pick(&[slot(false, 0), slot(false, 3)]), None);
    }

    #[test]
    fn fewest_active_wins_and_ties_rotate() {
        let mut b = Balancer::default();
        assert_eq!(
            b.pick(&[slot(true, 5), slot(true, 2), slot(false, 0)]),
            Some(1)
        );
        let idle = [slot(true, 0), slot(false, 0), slot(true, 0), slot(true, 0)];
        let picks: Vec<_> = (0..6).map(|_| b.pick(&idle).unwrap()).collect();
        assert_eq!(picks, [2, 3, 0, 2, 3, 0]);
    }

    proptest! {
        /// Connections that stay open: after every pick the healthy backends' counts differ by
        /// at most one, and unhealthy ones never get any.
        #[test]
        fn long_connections_spread_evenly(health in proptest::collection::vec(any::<bool>(), 1..8), n in 0usize..200) {
            let mut b = Balancer::default();
            let mut slots: Vec<Slot> = health.iter().map(|h| slot(*h, 0)).collect();
            for _ in 0..n {
                match b.pick(&slots) {
                    Some(i) => slots[i].active += 1,
                    None => prop_assert!(health.iter().all(|h| !h)),
                }
                let counts: Vec<u64> = slots.iter().filter(|s| s.healthy).map(|s| s.active).collect();
                if let (Some(lo), Some(hi)) = (counts.iter().min(), counts.iter().max()) {
                    prop_assert!(hi - lo <= 1, "{slots:?}");
                }
                prop_assert!(slots.iter().filter(|s| !s.healthy).all(|s| s.active == 0));
            }
        }

        /// Connections that close at once: plain round robin, so each healthy backend gets
        /// its share within one, whatever the starting loads of unhealthy ones.
        #[test]
        fn short_connections_rotate(health in proptest::collection::vec(any::<bool>(), 1..8), loads in proptest::collection::vec(0u64..5, 8), n in 0usize..200) {
            let mut b = Balancer::default();
            let slots: Vec<Slot> = health.iter().zip(&loads).map(|(h, l)| slot(*h, if *h { 0 } else { *l })).collect();
            let mut got = vec![0usize; slots.len()];
            for _ in 0..n {
                if let Some(i) = b.pick(&slots) { got[i] += 1; }
            }
            let counts: Vec<usize> = got.iter().zip(&health).filter(|(_, h)| **h).map(|(g, _)| *g).collect();
            if let (Some(lo), Some(hi)) = (counts.iter().min(), counts.iter().max()) {
                prop_assert!(hi - lo <= 1, "{got:?}");
                prop_assert_eq!(counts.iter().sum::<usize>(), n);
            }
        }
    }
}
