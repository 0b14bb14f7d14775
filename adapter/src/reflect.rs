//! The one way ferrolb's binaries watch a kind: a reflector over every object of `K`, kept
//! through watch errors (the store keeps the last state seen, the watch retries with backoff),
//! notifying `changed` on every change after the first list.
//!
//! The stores keep only ferrolb's own `managedFields` entries (the controller's ownership of a
//! Service's ingress is all anyone reads of them): the others are most of an object's size in
//! memory, for 10,000 Services and their EndpointSlices.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use backon::ExponentialBuilder;
use ferrolb_core::names::MANAGER_PREFIX;
use futures::{Stream, StreamExt};
use kube::runtime::reflector::Lookup;
use kube::runtime::utils::ResetTimerBackoff;
use kube::runtime::watcher::ExponentialBackoff;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tracing::warn;

use crate::store::{ObjectStore, store};

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
pub type Relevance<P> = Arc<dyn Fn(&ObjectStore<P>, &watcher::Event<P>) -> bool + Send + Sync>;

/// Told of every event of a kind's watch that notifies the binary's loop (re-lists included,
/// not those a [`Relevance`] keeps quiet) once the store holds it, before the loop is
/// notified: whatever the loop reads after its wake-up has the store showing at least those
/// events.
pub type Observer<P> = Arc<dyn Fn(&watcher::Event<P>) + Send + Sync>;

/// Starts watching every `K` on the current tokio runtime; returns the store.
pub fn watch_all<K: Watchable>(client: &Client, changed: Arc<Notify>) -> ObjectStore<K> {
    watch_all_with(client, changed, |_| {})
}

/// [`watch_all`], each object also passed through `project` (e.g. [`crate::project`]: only
/// the fields the binary reads) before it enters the store.
pub fn watch_all_with<K: Watchable>(
    client: &Client,
    changed: Arc<Notify>,
    project: fn(&mut K),
) -> ObjectStore<K> {
    watch_all_relevant(client, changed, project, None)
}

/// [`watch_all_with`], notifying only the events `relevant` keeps (all without it).
pub fn watch_all_relevant<K: Watchable>(
    client: &Client,
    changed: Arc<Notify>,
    project: fn(&mut K),
    relevant: Option<Relevance<K>>,
) -> ObjectStore<K> {
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
) -> ObjectStore<K> {
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
pub fn watch_all_into<K, P>(
    client: &Client,
    changed: Arc<Notify>,
    into: fn(K) -> P,
) -> ObjectStore<P>
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
) -> ObjectStore<P>
where
    K: Watchable,
    P: Lookup<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    let api = Api::<K>::all(client.clone());
    let events = move || {
        watcher(api.clone(), watcher::Config::default()).map(move |event| {
            event.map(|event| match event {
                watcher::Event::Apply(k) => watcher::Event::Apply(into(k)),
                watcher::Event::Delete(k) => watcher::Event::Delete(into(k)),
                watcher::Event::InitApply(k) => watcher::Event::InitApply(into(k)),
                watcher::Event::Init => watcher::Event::Init,
                watcher::Event::InitDone => watcher::Event::InitDone,
            })
        })
    };
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
) -> ObjectStore<K>
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
) -> ObjectStore<K> {
    let modify = move |object: &mut K| {
        trim(object);
        project(object);
    };
    reflect(
        move || watcher(api.clone(), config.clone()).modify(modify),
        K::kind(&()).to_string(),
        changed,
        hooks,
    )
}

/// The store fed by the watch `events` makes (of kind `kind`), notifying `changed` on every
/// change after the first list that `hooks.relevant` keeps (every change without it), telling
/// `hooks.observe` of every event that notifies (and of the first list) once the store holds
/// it, and keeping the last state through errors. A watch that failed and then says nothing
/// for [`WATCH_STALL`] is dropped and made again (a new list, the store kept meanwhile).
fn reflect<P, S>(
    events: impl Fn() -> S + Send + 'static,
    kind: String,
    changed: Arc<Notify>,
    Hooks { relevant, observe }: Hooks<P>,
) -> ObjectStore<P>
where
    P: Lookup<DynamicType = ()> + Clone + Send + Sync + 'static,
    S: Stream<Item = watcher::Result<watcher::Event<P>>> + Send + 'static,
{
    let (reader, mut writer) = store();
    let store = reader.clone();
    tokio::spawn(async move {
        loop {
            let mut stream = events().backoff(watch_backoff()).boxed();
            // Since the last error, while no success (a list done, a change) followed it.
            let mut failing = false;
            loop {
                let next = if failing {
                    match tokio::time::timeout(WATCH_STALL, stream.next()).await {
                        Ok(next) => next,
                        Err(_) => {
                            warn!(kind = %kind, stall = ?WATCH_STALL, "failed watch silent; starting it again");
                            break;
                        }
                    }
                } else {
                    stream.next().await
                };
                let Some(event) = next else {
                    break;
                };
                let event = match event {
                    Ok(event) => event,
                    Err(e) => {
                        warn!(kind = %kind, error = %e, "watch failed; keeping the last state and retrying");
                        record_error(&kind, Some(e.to_string()));
                        failing = true;
                        continue;
                    }
                };
                // Judged before the event enters the store (which still holds the object's
                // last state).
                let relevant = relevant.as_ref().is_none_or(|r| r(&store, &event));
                let init = matches!(event, watcher::Event::Init | watcher::Event::InitApply(_));
                let quiet = matches!(event, watcher::Event::Apply(_) | watcher::Event::Delete(_))
                    && !relevant;
                match &observe {
                    Some(observe) => {
                        writer.apply(&event);
                        if init || !quiet {
                            observe(&event);
                        }
                    }
                    // Nobody reads the event after the store: it moves in, not a copy.
                    None => writer.apply_owned(event),
                }
                if !init {
                    record_error(&kind, None);
                    failing = false;
                    if !quiet {
                        changed.notify_one();
                    }
                }
            }
            // Made again after a pause: a watch that ended at once would otherwise spin.
            tokio::time::sleep(Duration::from_millis(800)).await;
        }
    });
    reader
}

/// How long a watch that failed may stay silent (no event, no error) before it is made again:
/// twice the longest wait between its attempts ([`WATCH_BACKOFF_MAX`] and its jitter), and
/// some. kube 5 sets no read timeout on a list: one that never answers would otherwise hold the
/// kind's store stale for good.
pub const WATCH_STALL: Duration = Duration::from_secs(30);

/// The longest wait between two failed attempts of a watch, before jitter (which adds up to as
/// much again).
pub const WATCH_BACKOFF_MAX: Duration = Duration::from_secs(8);

/// The waits between a watch's failed attempts: 0.8 s doubling to [`WATCH_BACKOFF_MAX`], with
/// jitter, from the start again after any success. kube's default doubles to 30 s (60 s with
/// its jitter), and a watch may sleep through more than one such wait after an outage (one
/// begun during it, one after its 410 before the re-list): after the lab's 22 s apiserver
/// outage the speakers' watches were back 50 s after it with kube's default, 20–27 s with
/// this. A refused connection costs a down apiserver little; a stale store costs the node every
/// change made meanwhile.
fn watch_backoff() -> ResetTimerBackoff<ExponentialBackoff> {
    ResetTimerBackoff::new(
        ExponentialBackoff::from(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(800))
                .with_max_delay(WATCH_BACKOFF_MAX)
                .with_factor(2.0)
                .with_jitter()
                .without_max_times(),
        ),
        Duration::from_secs(120),
    )
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

/// The watches whose last attempt failed, as [`failing_watches`] says at the moment it is
/// serialized (a sequence of `kind: error`), not when it was made: a document kept between
/// a binary's steps (`/debug/state`) then never shows a watch that has recovered since, whose
/// recovery woke no step (e.g. the speaker's `ServiceAnnouncement`s, which do not notify its
/// planning loop).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailingWatches;

impl serde::Serialize for FailingWatches {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(failing_watches())
    }
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
    use std::time::Duration;

    use k8s_openapi::api::core::v1::Service;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

    use super::{WATCH_BACKOFF_MAX, trim, watch_backoff};
    use ferrolb_core::names::MANAGER_CONTROLLER;

    /// A watch that fails and then goes silent is made again after [`WATCH_STALL`]; its new
    /// list clears the failure and fills the store, and a document made while it failed no
    /// longer lists it once printed after ([`FailingWatches`]).
    #[tokio::test(start_paused = true)]
    async fn a_failed_watch_gone_silent_is_made_again() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};

        use futures::{StreamExt, stream};
        use k8s_openapi::api::core::v1::ConfigMap;
        use kube::runtime::watcher;

        use super::{FailingWatches, Hooks, WATCH_STALL, failing_watches, reflect};

        const KIND: &str = "StalledTestKind";
        let made = Arc::new(AtomicUsize::new(0));
        let events = {
            let made = Arc::clone(&made);
            move || {
                let first = made.fetch_add(1, Ordering::SeqCst) == 0;
                let cm = ConfigMap {
                    metadata: kube::api::ObjectMeta {
                        name: Some("c".into()),
                        namespace: Some("n".into()),
                        ..Default::default()
                    },
                    ..Default::default()
                };
                let items: Vec<watcher::Result<watcher::Event<ConfigMap>>> = if first {
                    vec![Err(watcher::Error::NoResourceVersion)]
                } else {
                    vec![
                        Ok(watcher::Event::Init),
                        Ok(watcher::Event::InitApply(cm)),
                        Ok(watcher::Event::InitDone),
                    ]
                };
                stream::iter(items).chain(stream::pending())
            }
        };
        let store = reflect(events, KIND.into(), Arc::default(), Hooks::relevant(None));
        let failing = || failing_watches().iter().any(|w| w.starts_with(KIND));
        tokio::time::sleep(WATCH_STALL / 2).await;
        assert!(failing(), "{:?}", failing_watches());
        // A document made now (as the speaker's `/debug/state` is made at its last step) and
        // printed later says what is failing when printed.
        #[derive(serde::Serialize)]
        struct Document {
            failing_watches: FailingWatches,
        }
        let document = Document {
            failing_watches: FailingWatches,
        };
        let lists_kind = |document: &Document| {
            let printed = serde_json::to_string(document).unwrap();
            (printed.contains(KIND), printed)
        };
        let (listed, printed) = lists_kind(&document);
        assert!(listed, "{printed}");
        assert_eq!(made.load(Ordering::SeqCst), 1);
        tokio::time::sleep(WATCH_STALL + Duration::from_secs(2)).await;
        assert_eq!(made.load(Ordering::SeqCst), 2, "made again after the stall");
        assert!(!failing(), "{:?}", failing_watches());
        let (listed, printed) = lists_kind(&document);
        assert!(!listed, "the recovered watch is still printed: {printed}");
        assert_eq!(store.state().len(), 1);
    }

    #[test]
    fn a_failing_watch_retries_at_most_twice_the_cap_apart() {
        let waits: Vec<Duration> = watch_backoff().take(30).collect();
        assert_eq!(waits.len(), 30, "the retries never stop");
        assert!(waits[0] <= Duration::from_millis(1600), "{waits:?}");
        assert!(
            waits.iter().all(|w| *w <= 2 * WATCH_BACKOFF_MAX),
            "{waits:?}"
        );
        // The cap is reached: later waits are at least the cap itself (jitter only adds).
        assert!(
            waits[10..].iter().all(|w| *w >= WATCH_BACKOFF_MAX),
            "{waits:?}"
        );
    }

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
