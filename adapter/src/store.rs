//! The store a reflector keeps its objects in ([`ObjectStore`]), read by the binaries'
//! snapshots, and the writer that feeds it from watch events ([`StoreWriter`]).
//!
//! kube's `reflector::Store` keys each object by an `ObjectRef`: its kind's dynamic type, name,
//! namespace, resourceVersion and UID copied out of the object, about 220 bytes an object with
//! its map slot (issue 21: 6.5 MB of a speaker's heap at 10,000 Services). This store keys an
//! object by its own namespace and name, read from the object when looked up: a slot is the
//! object's `Arc`.
//!
//! The semantics are kube's: a re-list (`Init` … `InitDone`) builds a new set of objects while
//! the store goes on showing the last one, then replaces it at once; the store is ready from the
//! end of its first list.

use std::borrow::Cow;
use std::hash::BuildHasher;
use std::sync::{Arc, RwLock};

use foldhash::fast::RandomState;
use hashbrown::HashTable;
use kube::runtime::reflector::Lookup;
use kube::runtime::watcher::Event;
use tokio::sync::watch;

/// The objects of one kind a reflector has seen, by namespace and name. Cloning shares it.
pub struct ObjectStore<K> {
    shared: Arc<Shared<K>>,
    ready: watch::Receiver<bool>,
}

impl<K> Clone for ObjectStore<K> {
    fn clone(&self) -> Self {
        ObjectStore {
            shared: Arc::clone(&self.shared),
            ready: self.ready.clone(),
        }
    }
}

/// What the store and its writer share.
struct Shared<K> {
    objects: RwLock<Objects<K>>,
}

/// A set of objects by namespace and name.
struct Objects<K> {
    table: HashTable<Arc<K>>,
    hasher: RandomState,
}

/// Feeds an [`ObjectStore`] from watch events.
pub struct StoreWriter<K> {
    shared: Arc<Shared<K>>,
    ready: watch::Sender<bool>,
    /// The objects of a re-list in progress (from `Init` to `InitDone`).
    relisted: Option<Objects<K>>,
}

/// The store could not become ready: its writer is gone (the watch's task ended).
#[derive(Debug, thiserror::Error)]
#[error("the watch ended before its first list")]
pub struct WatchEnded;

/// A new empty store and its writer.
pub fn store<K: Lookup>() -> (ObjectStore<K>, StoreWriter<K>) {
    let shared = Arc::new(Shared {
        objects: RwLock::new(Objects::new()),
    });
    let (ready_tx, ready_rx) = watch::channel(false);
    (
        ObjectStore {
            shared: Arc::clone(&shared),
            ready: ready_rx,
        },
        StoreWriter {
            shared,
            ready: ready_tx,
            relisted: None,
        },
    )
}

/// The namespace ("" when cluster-scoped) and name of `object`.
fn key_of<K: Lookup>(object: &K) -> (Cow<'_, str>, Cow<'_, str>) {
    (
        object.namespace().unwrap_or_default(),
        object.name().unwrap_or_default(),
    )
}

impl<K: Lookup> Objects<K> {
    fn new() -> Self {
        Objects {
            table: HashTable::new(),
            hasher: RandomState::default(),
        }
    }

    fn hash(hasher: &RandomState, namespace: &str, name: &str) -> u64 {
        hasher.hash_one((namespace, name))
    }

    /// Whether `object` is `name` in `namespace`.
    fn is(object: &K, namespace: &str, name: &str) -> bool {
        let (ns, n) = key_of(object);
        ns == namespace && n == name
    }

    fn get(&self, namespace: &str, name: &str) -> Option<&Arc<K>> {
        let hash = Self::hash(&self.hasher, namespace, name);
        self.table.find(hash, |o| Self::is(o, namespace, name))
    }

    fn insert(&mut self, object: Arc<K>) {
        let (namespace, name) = key_of(object.as_ref());
        let hasher = &self.hasher;
        let entry = self.table.entry(
            Self::hash(hasher, &namespace, &name),
            |o| Self::is(o, &namespace, &name),
            |o| {
                let (ns, n) = key_of(o.as_ref());
                Self::hash(hasher, &ns, &n)
            },
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(mut slot) => *slot.get_mut() = object,
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert(object);
            }
        }
    }

    fn remove(&mut self, object: &K) {
        let (namespace, name) = key_of(object);
        let hash = Self::hash(&self.hasher, &namespace, &name);
        if let Ok(slot) = self
            .table
            .find_entry(hash, |o| Self::is(o, &namespace, &name))
        {
            slot.remove();
        }
    }
}

impl<K: Lookup> ObjectStore<K> {
    /// Every object now, in no particular order.
    pub fn state(&self) -> Vec<Arc<K>> {
        self.read().table.iter().cloned().collect()
    }

    /// The object `name` in `namespace` ("" for a cluster-scoped kind).
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        self.read().get(namespace, name).cloned()
    }

    /// The object stored under the namespace and name of `object`.
    pub fn get_like(&self, object: &K) -> Option<Arc<K>> {
        let (namespace, name) = key_of(object);
        self.get(&namespace, &name)
    }

    /// How many objects it holds.
    pub fn len(&self) -> usize {
        self.read().table.len()
    }

    /// Whether it holds no object.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its objects to read (a writer that panicked left them whole: each change is one call).
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Objects<K>> {
        self.shared
            .objects
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether its first list is done.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Returns once its first list is done; `Err` when the watch ended before.
    pub async fn wait_until_ready(&self) -> Result<(), WatchEnded> {
        let mut ready = self.ready.clone();
        ready
            .wait_for(|r| *r)
            .await
            .map(|_| ())
            .map_err(|_| WatchEnded)
    }
}

impl<K: Lookup + Clone> StoreWriter<K> {
    /// Applies one watch event: an object added, changed or deleted, or a step of a re-list.
    pub fn apply(&mut self, event: &Event<K>) {
        self.apply_owned(event.clone());
    }

    /// [`apply`](Self::apply), the event's object moved into the store.
    pub fn apply_owned(&mut self, event: Event<K>) {
        match event {
            Event::Apply(object) => self.write().insert(Arc::new(object)),
            Event::Delete(object) => self.write().remove(&object),
            Event::Init => self.relisted = Some(Objects::new()),
            Event::InitApply(object) => self
                .relisted
                .get_or_insert_with(Objects::new)
                .insert(Arc::new(object)),
            Event::InitDone => {
                let relisted = self.relisted.take().unwrap_or_else(Objects::new);
                *self.write() = relisted;
                self.ready.send_replace(true);
            }
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Objects<K>> {
        self.shared
            .objects
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;

    use super::*;

    fn cm(namespace: &str, name: &str, value: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(namespace.into()),
                ..ObjectMeta::default()
            },
            data: Some([("v".to_string(), value.to_string())].into()),
            ..ConfigMap::default()
        }
    }

    fn value(store: &ObjectStore<ConfigMap>, namespace: &str, name: &str) -> Option<String> {
        store
            .get(namespace, name)
            .and_then(|c| c.data.as_ref()?.get("v").cloned())
    }

    /// Objects are found by namespace and name, replaced and deleted; a re-list shows the last
    /// state until it is done, then only what it listed.
    #[test]
    fn a_store_follows_its_watch_events() {
        let (store, mut writer) = store::<ConfigMap>();
        assert!(!store.is_ready());
        writer.apply(&Event::Init);
        writer.apply(&Event::InitApply(cm("a", "x", "1")));
        assert!(store.is_empty(), "nothing shown before the list is done");
        writer.apply(&Event::InitDone);
        assert!(store.is_ready());
        assert_eq!(value(&store, "a", "x").as_deref(), Some("1"));
        assert_eq!(value(&store, "b", "x"), None, "another namespace");

        writer.apply(&Event::Apply(cm("b", "x", "2")));
        writer.apply(&Event::Apply(cm("a", "x", "3")));
        assert_eq!(store.len(), 2);
        assert_eq!(value(&store, "a", "x").as_deref(), Some("3"), "replaced");
        assert_eq!(
            store.get_like(&cm("b", "x", "")).map(|c| c.data.clone()),
            Some(Some([("v".to_string(), "2".to_string())].into()))
        );
        writer.apply(&Event::Delete(cm("b", "x", "")));
        assert_eq!(value(&store, "b", "x"), None);

        writer.apply(&Event::Init);
        writer.apply(&Event::InitApply(cm("c", "y", "4")));
        assert_eq!(
            value(&store, "a", "x").as_deref(),
            Some("3"),
            "kept meanwhile"
        );
        writer.apply(&Event::InitDone);
        assert_eq!(value(&store, "a", "x"), None, "gone from the new list");
        assert_eq!(value(&store, "c", "y").as_deref(), Some("4"));
        assert_eq!(store.state().len(), 1);
    }

    /// Many objects: each found under its own key, none lost to another's slot.
    #[test]
    fn every_object_is_found_under_its_own_key() {
        let (store, mut writer) = store::<ConfigMap>();
        for i in 0..2_000 {
            writer.apply(&Event::Apply(cm(
                &format!("n{}", i % 7),
                &format!("o{i}"),
                &i.to_string(),
            )));
        }
        assert_eq!(store.len(), 2_000);
        for i in 0..2_000 {
            assert_eq!(
                value(&store, &format!("n{}", i % 7), &format!("o{i}")),
                Some(i.to_string())
            );
        }
        for i in (0..2_000).step_by(2) {
            writer.apply(&Event::Delete(cm(
                &format!("n{}", i % 7),
                &format!("o{i}"),
                "",
            )));
        }
        assert_eq!(store.len(), 1_000);
        assert_eq!(value(&store, "n1", "o1").as_deref(), Some("1"));
        assert_eq!(value(&store, "n0", "o0"), None);
    }

    #[tokio::test]
    async fn ready_after_the_first_list_or_an_error_when_the_watch_ends() {
        let (listed, mut writer) = store::<ConfigMap>();
        let waiting = tokio::spawn({
            let listed = listed.clone();
            async move { listed.wait_until_ready().await.is_ok() }
        });
        writer.apply(&Event::Init);
        writer.apply(&Event::InitDone);
        assert!(waiting.await.unwrap_or(false));

        let (never, writer) = store::<ConfigMap>();
        drop(writer);
        assert!(never.wait_until_ready().await.is_err());
    }
}
