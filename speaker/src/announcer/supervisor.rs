//! The supervisor: follows the desired state, keeps one task per interface, and hands each
//! task its owned VIPs through a `watch`.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::{oneshot, watch};
use tokio::task::{AbortHandle, Id, JoinSet};
use tracing::{error, info};

use super::plan::{Change, Owned, diff};
use super::{AnnouncerOptions, Desired, Stats, interface_task};

/// One interface being answered on.
struct Iface {
    owned: watch::Sender<Owned>,
    task: AbortHandle,
}

struct Supervisor {
    opts: AnnouncerOptions,
    stats: Arc<Stats>,
    tasks: JoinSet<()>,
    ifaces: BTreeMap<String, Iface>,
    /// Numbers each gain, so that a VIP lost and gained again is announced again.
    epoch: u64,
}

pub(super) async fn run(
    mut desired: watch::Receiver<Desired>,
    opts: AnnouncerOptions,
    stats: Arc<Stats>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut sup = Supervisor {
        opts,
        stats,
        tasks: JoinSet::new(),
        ifaces: BTreeMap::new(),
        epoch: 0,
    };
    let mut current = Desired::new();
    loop {
        let new = desired.borrow_and_update().clone();
        for change in diff(&current, &new) {
            sup.apply(change);
        }
        current = new;
        tokio::select! {
            _ = &mut stop => break,
            changed = desired.changed() => {
                if changed.is_err() {
                    info!("desired state sender dropped; announcer stopping");
                    break;
                }
            }
            Some(ended) = sup.tasks.join_next_with_id() => {
                let (id, outcome) = match ended {
                    Ok((id, ())) => (id, "ended".to_string()),
                    Err(e) => (e.id(), e.to_string()),
                };
                sup.task_ended(id, &outcome);
            }
        }
    }
    sup.tasks.shutdown().await;
    info!("announcer stopped");
}

impl Supervisor {
    fn apply(&mut self, change: Change) {
        match change {
            Change::OpenIface { iface } => {
                info!(iface, "interface added");
                let (owned, rx) = watch::channel(Owned::new());
                let task = self.spawn(&iface, rx, false);
                self.ifaces.insert(iface, Iface { owned, task });
            }
            Change::Gained { iface, ip } => {
                info!(iface, %ip, "VIP gained");
                self.epoch += 1;
                let epoch = self.epoch;
                if let Some(entry) = self.ifaces.get(&iface) {
                    entry.owned.send_modify(|owned| {
                        owned.insert(ip, epoch);
                    });
                }
            }
            Change::Lost { iface, ip } => {
                info!(iface, %ip, "VIP lost");
                if let Some(entry) = self.ifaces.get(&iface) {
                    entry.owned.send_modify(|owned| {
                        owned.remove(&ip);
                    });
                }
            }
            Change::CloseIface { iface } => {
                info!(iface, "interface removed");
                if let Some(entry) = self.ifaces.remove(&iface) {
                    entry.task.abort();
                }
            }
        }
    }

    fn spawn(
        &mut self,
        iface: &str,
        owned: watch::Receiver<Owned>,
        after_crash: bool,
    ) -> AbortHandle {
        let delay = if after_crash {
            self.opts.retry_max
        } else {
            std::time::Duration::ZERO
        };
        self.tasks.spawn(interface_task::run(
            iface.to_string(),
            owned,
            self.opts.clone(),
            Arc::clone(&self.stats),
            delay,
        ))
    }

    /// An interface task ended. Expected after `CloseIface` (aborted); otherwise (a panic) it
    /// is logged, counted and restarted after `retry_max`.
    fn task_ended(&mut self, id: Id, outcome: &str) {
        let Some(iface) = self
            .ifaces
            .iter()
            .find(|(_, entry)| entry.task.id() == id)
            .map(|(name, _)| name.clone())
        else {
            return;
        };
        error!(
            iface,
            error = outcome,
            "interface task ended unexpectedly; restarting it"
        );
        Stats::add(&self.stats.errors, 1);
        let Some(rx) = self.ifaces.get(&iface).map(|e| e.owned.subscribe()) else {
            return;
        };
        let task = self.spawn(&iface, rx, true);
        if let Some(entry) = self.ifaces.get_mut(&iface) {
            entry.task = task;
        }
    }
}
