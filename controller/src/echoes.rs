//! The controller's own writes coming back through its watches. Every Service and pool write
//! returns the object's new resourceVersion; the watch then shows that version. A wake-up whose
//! watch events are all such echoes needs no decision: the last decision already held what
//! they show (the written fields stay [pending](crate::decision::Pending) until the watch
//! shows them), so deciding again would write nothing. At 10,000 Services that decision costs
//! as much as the one a new Service needs, and it delayed the next Service's by as much.
//!
//! A resourceVersion is chosen by the apiserver, not by whoever writes: nobody else's write
//! can pass for the controller's. Any other event (someone else's version, a deletion, a
//! re-list, another kind) is foreign, and the loop decides.
//!
//! [`Journal`] collects what the watches showed since the loop last looked (I/O side, behind a
//! lock); [`Seen::only_echoes`] judges it (pure).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use ferrolb_api::VIPPool;
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;
use kube::runtime::watcher::Event;

/// The most events kept between two looks; beyond it the journal only says "foreign".
const MAX_KEPT: usize = 4096;

/// What the watches showed since the loop last looked.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `(uid, resourceVersion)` of every Service a watch event showed.
    pub services: Vec<(String, String)>,
    /// `(name, resourceVersion)` of every pool a watch event showed.
    pub pools: Vec<(String, String)>,
    /// Something else happened: a deletion, a re-list, another kind, an object without a
    /// uid or version, or more events than [`MAX_KEPT`].
    pub foreign: bool,
}

impl Seen {
    /// Every event shows a version one of the controller's writes returned: `service(uid, rv)`
    /// for Services, `pools[name] == rv` for pools. True when nothing was seen.
    pub fn only_echoes(
        &self,
        service: impl Fn(&str, &str) -> bool,
        pools: &HashMap<String, String>,
    ) -> bool {
        !self.foreign
            && self.services.iter().all(|(uid, rv)| service(uid, rv))
            && self
                .pools
                .iter()
                .all(|(name, rv)| pools.get(name).is_some_and(|ours| ours == rv))
    }

    fn record(&mut self, kind: Kind, key: Option<String>, rv: Option<String>) {
        if self.foreign {
            return;
        }
        match (key, rv) {
            (Some(key), Some(rv)) if self.services.len() + self.pools.len() < MAX_KEPT => {
                match kind {
                    Kind::Service => self.services.push((key, rv)),
                    Kind::Pool => self.pools.push((key, rv)),
                }
            }
            _ => self.mark_foreign(),
        }
    }

    fn mark_foreign(&mut self) {
        self.foreign = true;
        self.services = Vec::new();
        self.pools = Vec::new();
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Service,
    Pool,
}

/// What the watches showed since the loop last [took](Journal::take) it.
#[derive(Debug, Default)]
pub struct Journal {
    seen: Mutex<Seen>,
}

impl Journal {
    /// A Service watch event.
    pub fn service(&self, event: &Event<Service>) {
        match event {
            Event::Apply(svc) => self.apply(Kind::Service, svc.metadata.uid.clone(), svc),
            _ => self.foreign(),
        }
    }

    /// A pool watch event.
    pub fn pool(&self, event: &Event<VIPPool>) {
        match event {
            Event::Apply(pool) => self.apply(Kind::Pool, Some(pool.name_any()), pool),
            _ => self.foreign(),
        }
    }

    /// An event of any other kind.
    pub fn foreign(&self) {
        self.lock(Seen::mark_foreign);
    }

    /// What was seen since the last call; the journal starts empty again.
    pub fn take(&self) -> Seen {
        self.lock(std::mem::take)
    }

    fn apply<K: kube::Resource>(&self, kind: Kind, key: Option<String>, object: &K) {
        let rv = object.meta().resource_version.clone();
        self.lock(|seen| seen.record(kind, key, rv));
    }

    fn lock<T>(&self, f: impl FnOnce(&mut Seen) -> T) -> T {
        // Nothing panics while holding it; a poisoned lock still holds a whole `Seen`.
        f(&mut self.seen.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(uid: &str, rv: &str) -> Service {
        let mut s = Service::default();
        s.metadata.uid = Some(uid.into());
        s.metadata.resource_version = Some(rv.into());
        s
    }

    fn pool(name: &str, rv: &str) -> VIPPool {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "ferrolb.io/v1alpha1", "kind": "VIPPool",
            "metadata": {"name": name, "resourceVersion": rv},
            "spec": {"addresses": ["198.51.100.0/28"]},
        }))
        .expect("a VIPPool")
    }

    /// The controller wrote Service `u1` to versions 11 and 12 and pool `web` to 7.
    fn ours(uid: &str, rv: &str) -> bool {
        uid == "u1" && ["11", "12"].contains(&rv)
    }

    fn pools() -> HashMap<String, String> {
        HashMap::from([("web".to_string(), "7".to_string())])
    }

    #[test]
    fn the_controllers_own_versions_are_echoes() {
        let j = Journal::default();
        j.service(&Event::Apply(svc("u1", "11")));
        j.service(&Event::Apply(svc("u1", "12")));
        j.pool(&Event::Apply(pool("web", "7")));
        assert!(j.take().only_echoes(ours, &pools()));
        assert_eq!(j.take(), Seen::default(), "taken once");
        assert!(Seen::default().only_echoes(ours, &pools()));
    }

    #[test]
    fn any_other_version_uid_pool_or_event_is_foreign() {
        let foreign: [&dyn Fn(&Journal); 8] = [
            &|j| j.service(&Event::Apply(svc("u1", "13"))),
            &|j| j.service(&Event::Apply(svc("u2", "11"))),
            &|j| j.service(&Event::Apply(Service::default())),
            &|j| j.service(&Event::Delete(svc("u1", "12"))),
            &|j| j.service(&Event::InitDone),
            &|j| j.pool(&Event::Apply(pool("web", "8"))),
            &|j| j.pool(&Event::Apply(pool("gold", "7"))),
            &|j| j.foreign(),
        ];
        for (i, event) in foreign.iter().enumerate() {
            let j = Journal::default();
            j.service(&Event::Apply(svc("u1", "11")));
            event(&j);
            j.pool(&Event::Apply(pool("web", "7")));
            assert!(!j.take().only_echoes(ours, &pools()), "event {i}");
        }
    }

    #[test]
    fn too_many_events_are_foreign() {
        let j = Journal::default();
        for _ in 0..=MAX_KEPT {
            j.service(&Event::Apply(svc("u1", "11")));
        }
        let seen = j.take();
        assert!(seen.foreign && seen.services.is_empty());
    }
}
