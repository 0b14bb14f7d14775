//! The one way ferrolb's binaries watch a kind: a reflector over every object of `K`, kept
//! through watch errors (the store keeps the last state seen, the watch retries with backoff),
//! notifying `changed` on every change after the first list.
//!
//! The stores keep only ferrolb's own `managedFields` entries (the controller's ownership of a
//! Service's ingress is all anyone reads of them): the others are most of an object's size in
//! memory, for 10,000 Services and their EndpointSlices.

use std::sync::Arc;

use ferrolb_core::names::MANAGER_PREFIX;
use futures::StreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tracing::warn;

/// Starts watching every `K` on the current tokio runtime; returns the store.
pub fn watch_all<K>(client: &Client, changed: Arc<Notify>) -> Store<K>
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(
        writer,
        watcher(Api::<K>::all(client.clone()), watcher::Config::default()).modify(trim),
    )
    .default_backoff();
    tokio::spawn(async move {
        let mut stream = stream.boxed();
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
                Ok(_) => changed.notify_one(),
                Err(e) => {
                    warn!(kind = %K::kind(&()), error = %e, "watch failed; keeping the last state and retrying")
                }
            }
        }
    });
    reader
}

/// Drops the `managedFields` entries of every field manager but ferrolb's own.
pub fn trim<K: Resource>(object: &mut K) {
    if let Some(entries) = object.meta_mut().managed_fields.as_mut() {
        entries.retain(|entry| {
            entry
                .manager
                .as_deref()
                .is_some_and(|manager| manager.starts_with(MANAGER_PREFIX))
        });
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Service;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

    use super::trim;
    use ferrolb_core::names::MANAGER_CONTROLLER;

    #[test]
    fn only_ferrolb_managers_are_kept() {
        let entry = |manager: &str| ManagedFieldsEntry {
            manager: Some(manager.to_string()),
            ..ManagedFieldsEntry::default()
        };
        let mut svc = Service::default();
        svc.metadata.managed_fields = Some(vec![
            entry("kubectl"),
            entry(MANAGER_CONTROLLER),
            entry("kube-controller-manager"),
        ]);
        trim(&mut svc);
        let kept: Vec<_> = svc
            .metadata
            .managed_fields
            .unwrap_or_default()
            .into_iter()
            .filter_map(|e| e.manager)
            .collect();
        assert_eq!(kept, [MANAGER_CONTROLLER]);
        let mut bare = Service::default();
        trim(&mut bare);
        assert_eq!(bare.metadata.managed_fields, None);
    }
}
