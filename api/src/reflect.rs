//! The one way ferrolb's binaries watch a kind: a reflector over every object of `K`, kept
//! through watch errors (the store keeps the last state seen, the watch retries with backoff),
//! notifying `changed` on every change after the first list.

use std::sync::Arc;

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
        watcher(Api::<K>::all(client.clone()), watcher::Config::default()),
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
