//! Changes between two desired states (pure).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::Desired;

/// One difference between two desired states. An interface with an empty set counts as absent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// Start answering on an interface (open its socket). Comes before its `Gained`.
    OpenIface { iface: String },
    /// Start answering for `ip` on `iface` (and announce it).
    Gained { iface: String, ip: IpAddr },
    /// Stop answering for `ip` on `iface`.
    Lost { iface: String, ip: IpAddr },
    /// Stop answering on an interface (close its socket). Comes after its `Lost`.
    CloseIface { iface: String },
}

/// The changes turning `old` into `new`, interface by interface in name order; within one
/// interface: `OpenIface`, then `Lost` and `Gained` in address order, then `CloseIface`.
pub fn diff(old: &Desired, new: &Desired) -> Vec<Change> {
    let empty = BTreeSet::new();
    let ifaces: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut changes = Vec::new();
    for iface in ifaces {
        let before = old.get(iface).unwrap_or(&empty);
        let after = new.get(iface).unwrap_or(&empty);
        if before.is_empty() && !after.is_empty() {
            changes.push(Change::OpenIface {
                iface: iface.clone(),
            });
        }
        for ip in before.difference(after) {
            changes.push(Change::Lost {
                iface: iface.clone(),
                ip: *ip,
            });
        }
        for ip in after.difference(before) {
            changes.push(Change::Gained {
                iface: iface.clone(),
                ip: *ip,
            });
        }
        if !before.is_empty() && after.is_empty() {
            changes.push(Change::CloseIface {
                iface: iface.clone(),
            });
        }
    }
    changes
}

/// The addresses one interface answers for, each with the number of the change that gained
/// it (its "epoch"): a VIP lost and gained again gets a new epoch, so its interface task
/// announces it again even if it never saw it missing.
pub type Owned = BTreeMap<IpAddr, u64>;

/// What an interface task has to do to go from what it has `announced` (joined groups for,
/// burst) to `owned`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconcile {
    /// To announce (takeover burst), with their epoch.
    pub announce: Vec<(IpAddr, u64)>,
    /// Newly owned: join their multicast group (a subset of `announce`).
    pub join: Vec<IpAddr>,
    /// No longer owned: leave their multicast group and stop their burst.
    pub leave: Vec<IpAddr>,
}

/// Compares what a task has `announced` with what it `owns` now (pure).
pub fn reconcile(announced: &Owned, owned: &Owned) -> Reconcile {
    let mut out = Reconcile::default();
    for (ip, epoch) in owned {
        match announced.get(ip) {
            Some(seen) if seen == epoch => {}
            Some(_) => out.announce.push((*ip, *epoch)),
            None => {
                out.announce.push((*ip, *epoch));
                out.join.push(*ip);
            }
        }
    }
    out.leave = announced
        .keys()
        .filter(|ip| !owned.contains_key(ip))
        .copied()
        .collect();
    out
}
