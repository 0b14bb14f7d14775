//! The one way ferrolb's binaries watch a kind: a reflector over every object of `K`, kept
//! through watch errors (the store keeps the last state seen, the watch retries with backoff),
//! notifying `changed` on every change after the first list.
//!
//! The stores keep only ferrolb's own `managedFields` entries (the controller's ownership of a
//! Service's ingress is all anyone reads of them): the others are most of an object's size in
//! memory, for 10,000 Services and their EndpointSlices.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use ferrolb_core::names::MANAGER_PREFIX;
use futures::{Stream, StreamExt};
use kube::runtime::reflector::{self, Lookup, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tracing::warn;

/// A kind the reflectors can watch.
pub trait Watchable:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static
{
}

impl<K> Watchable for K where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static
{
}

/// Implements [`Lookup`] for `$kept`, the shape of its own in which a reflector keeps objects
/// of the Kubernetes kind `$kind` ([`watch_all_into`]): the kind's names, and the namespace
/// and name that `$namespace` and `$name` read from `$kept` (no resourceVersion or UID is
/// kept).
#[macro_export]
macro_rules! kept_lookup {
    ($kept:ty, $kind:ty, |$s:ident| ($namespace:expr, $name:expr)) => {
        impl ::kube::runtime::reflector::Lookup for $kept {
            type DynamicType = ();

            fn kind(_: &()) -> ::std::borrow::Cow<'_, str> {
                <$kind as ::kube::Resource>::kind(&())
            }

            fn group(_: &()) -> ::std::borrow::Cow<'_, str> {
                <$kind as ::kube::Resource>::group(&())
            }

            fn version(_: &()) -> ::std::borrow::Cow<'_, str> {
                <$kind as ::kube::Resource>::version(&())
            }

            fn plural(_: &()) -> ::std::borrow::Cow<'_, str> {
                <$kind as ::kube::Resource>::plural(&())
            }

            fn name(&self) -> Option<::std::borrow::Cow<'_, str>> {
                let $s = self;
                Some(::std::borrow::Cow::Borrowed($name))
            }

            fn namespace(&self) -> Option<::std::borrow::Cow<'_, str>> {
                let $s = self;
                Some(::std::borrow::Cow::Borrowed($namespace))
            }

            fn resource_version(&self) -> Option<::std::borrow::Cow<'_, str>> {
                None
            }

            fn uid(&self) -> Option<::std::borrow::Cow<'_, str>> {
                None
            }
        }
    };
}

/// Which watch events of a kind notify the binary's loop: those `relevant` keeps, judged
/// before the event enters the store (which then still holds the object's last state). The
/// others only update the store: the loop reads them with its next snapshot.
pub type Relevance<P> = Arc<dyn Fn(&Store<P>, &watcher::Event<P>) -> bool + Send + Sync>;

/// Told of every event of a kind's watch that notifies the binary's loop (re-lists included,
/// not those a [`Relevance`] keeps quiet) once the store holds it, before the loop is
/// notified: whatever the loop reads after its wake-up has the store showing at least those
/// events.
pub type Observer<P> = Arc<dyn Fn(&watcher::Event<P>) + Send + Sync>;

/// Starts watching every `K` on the current tokio runtime; returns the store.
pub fn watch_all<K: Watchable>(client: &Client, changed: Arc<Notify>) -> Store<K> {
    watch_all_with(client, changed, |_| {})
}

/// [`watch_all`], each object also passed through `project` (e.g. [`crate::project`]: only
/// the fields the binary reads) before it enters the store.
pub fn watch_all_with<K: Watchable>(
    client: &Client,
    changed: Arc<Notify>,
    project: fn(&mut K),
) -> Store<K> {
    watch_all_relevant(client, changed, project, None)
}

/// [`watch_all_with`], notifying only the events `relevant` keeps (all without it).
pub fn watch_all_relevant<K: Watchable>(
    client: &Client,
    changed: Arc<Notify>,
    project: fn(&mut K),
    relevant: Option<Relevance<K>>,
) -> Store<K> {
    watch(
        Api::<K>::all(client.clone()),
        watcher::Config::default(),
        changed,
        project,
        Hooks::relevant(relevant),
    )
}

/// [`watch_all_relevant`], every event that notifies also told to `observe` ([`Observer`]).
pub fn watch_all_observed<K: Watchable>(
    client: &Client,
    changed: Arc<Notify>,
    relevant: Option<Relevance<K>>,
    observe: Observer<K>,
) -> Store<K> {
    watch(
        Api::<K>::all(client.clone()),
        watcher::Config::default(),
        changed,
        |_| {},
        Hooks {
            relevant,
            observe: Some(observe),
        },
    )
}

/// [`watch_all`], each object turned into a `P` (e.g. [`NodeSlice`](crate::slice::NodeSlice):
/// only what the binary reads, in a smaller shape) before it enters the store.
pub fn watch_all_into<K, P>(client: &Client, changed: Arc<Notify>, into: fn(K) -> P) -> Store<P>
where
    K: Watchable,
    P: Lookup<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    watch_all_into_relevant(client, changed, into, None)
}

/// [`watch_all_into`], notifying only the events `relevant` keeps (all without it).
pub fn watch_all_into_relevant<K, P>(
    client: &Client,
    changed: Arc<Notify>,
    into: fn(K) -> P,
    relevant: Option<Relevance<P>>,
) -> Store<P>
where
    K: Watchable,
    P: Lookup<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    let events =
        watcher(Api::<K>::all(client.clone()), watcher::Config::default()).map(move |event| {
            event.map(|event| match event {
                watcher::Event::Apply(k) => watcher::Event::Apply(into(k)),
                watcher::Event::Delete(k) => watcher::Event::Delete(into(k)),
                watcher::Event::InitApply(k) => watcher::Event::InitApply(into(k)),
                watcher::Event::Init => watcher::Event::Init,
                watcher::Event::InitDone => watcher::Event::InitDone,
            })
        });
    reflect(
        events,
        K::kind(&()).to_string(),
        changed,
        Hooks::relevant(relevant),
    )
}

/// Starts watching the one object `name` of kind `K` in `namespace` (a field selector on its
/// name, so RBAC may limit the reader to it with `resourceNames`); returns the store.
pub fn watch_named<K>(
    client: &Client,
    namespace: &str,
    name: &str,
    changed: Arc<Notify>,
) -> Store<K>
where
    K: Watchable + Resource<Scope = k8s_openapi::NamespaceResourceScope>,
{
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    watch(
        Api::<K>::namespaced(client.clone(), namespace),
        config,
        changed,
        |_| {},
        Hooks::relevant(None),
    )
}

/// What a reflector is told besides its store: which events notify, and who observes them.
struct Hooks<P: Lookup<DynamicType = ()> + Clone + 'static> {
    relevant: Option<Relevance<P>>,
    observe: Option<Observer<P>>,
}

impl<P: Lookup<DynamicType = ()> + Clone + 'static> Hooks<P> {
    /// Notifying what `relevant` keeps (everything without it); nobody observes.
    fn relevant(relevant: Option<Relevance<P>>) -> Self {
        Hooks {
            relevant,
            observe: None,
        }
    }
}

fn watch<K: Watchable>(
    api: Api<K>,
    config: watcher::Config,
    changed: Arc<Notify>,
    project: fn(&mut K),
    hooks: Hooks<K>,
) -> Store<K> {
    let modify = move |object: &mut K| {
        trim(object);
        project(object);
    };
    reflect(
        watcher(api, config).modify(modify),
        K::kind(&()).to_string(),
        changed,
        hooks,
    )
}

/// The store fed by `events` (of kind `kind`), notifying `changed` on every change after the
/// first list that `hooks.relevant` keeps (every change without it), telling `hooks.observe`
/// of every event that notifies (and of the first list) once the store holds it, and keeping
/// the last state through errors.
fn reflect<P>(
    events: impl Stream<Item = watcher::Result<watcher::Event<P>>> + Send + 'static,
    kind: String,
    changed: Arc<Notify>,
    Hooks { relevant, observe }: Hooks<P>,
) -> Store<P>
where
    P: Lookup<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    // Judged as each event is pulled into the reflector, before it enters the store; read
    // when the reflector hands the same event on (it handles one event at a time).
    let judged_relevant = Arc::new(AtomicBool::new(true));
    let events = {
        let (reader, judged) = (reader.clone(), Arc::clone(&judged_relevant));
        events.inspect(move |event| {
            if let (Some(relevant), Ok(event)) = (&relevant, event) {
                judged.store(relevant(&reader, event), Ordering::Relaxed);
            }
        })
    };
    let stream = reflector::reflector(writer, events).default_backoff();
    tokio::spawn(async move {
        let mut stream = stream.boxed();
        while let Some(event) = stream.next().await {
            match event {
                Ok(event @ (watcher::Event::Init | watcher::Event::InitApply(_))) => {
                    if let Some(observe) = &observe {
                        observe(&event);
                    }
                }
                Ok(event) => {
                    record_error(&kind, None);
                    let quiet =
                        matches!(event, watcher::Event::Apply(_) | watcher::Event::Delete(_))
                            && !judged_relevant.load(Ordering::Relaxed);
                    if !quiet {
                        if let Some(observe) = &observe {
                            observe(&event);
                        }
                        changed.notify_one();
                    }
                }
                Err(e) => {
                    warn!(kind = %kind, error = %e, "watch failed; keeping the last state and retrying");
                    record_error(&kind, Some(e.to_string()));
                }
            }
        }
    });
    reader
}

/// The last error of each kind's watch, cleared by its next success.
static LAST_ERRORS: LazyLock<Mutex<BTreeMap<String, String>>> = LazyLock::new(Default::default);

fn record_error(kind: &str, error: Option<String>) {
    if let Ok(mut errors) = LAST_ERRORS.lock() {
        match error {
            Some(e) => errors.insert(kind.to_string(), e),
            None => errors.remove(kind),
        };
    }
}

/// The watches whose last attempt failed, `kind: error`, sorted (for readiness and logs while
/// waiting for a first list).
pub fn failing_watches() -> Vec<String> {
    LAST_ERRORS
        .lock()
        .map(|errors| errors.iter().map(|(k, e)| format!("{k}: {e}")).collect())
        .unwrap_or_default()
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
