//! Small Kubernetes helpers for scenarios and benchmarks: apply objects, read what ferrolb
//! wrote, wait for conditions with deadlines.

use std::fmt::Debug;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use ferrolb_api::{ServiceAnnouncement, ServiceAnnouncementStatus, VIPPool};

use crate::{Error, wait_for};

/// Field manager of objects the scenarios write.
pub const MANAGER: &str = "ferrolb-e2e";
/// The controller's condition on Services.
pub const CONDITION: &str = "ferrolb.io/Allocated";

/// Server-side applies object `body` (its `kind` and `metadata.name` set) through `api` as
/// [`MANAGER`], taking over fields other managers own; the object as stored.
pub async fn apply<K>(api: &Api<K>, body: &Value) -> Result<K, Error>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug,
{
    let name = body["metadata"]["name"].as_str().unwrap_or_default();
    let kind = body["kind"].as_str().unwrap_or("object");
    let at = api
        .namespace()
        .map(|ns| format!("{ns}/"))
        .unwrap_or_default();
    api.patch(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(body),
    )
    .await
    .map_err(|e| Error::kube(format!("applying {kind} {at}{name}"), e))
}

/// Applies a namespace (with labels).
pub async fn namespace(client: &Client, name: &str, labels: Value) -> Result<(), Error> {
    let body = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": labels}});
    apply(&Api::<Namespace>::all(client.clone()), &body).await?;
    Ok(())
}

/// Applies a VIPPool with `spec`.
pub async fn pool(client: &Client, name: &str, spec: Value) -> Result<(), Error> {
    let body = json!({"apiVersion": "ferrolb.io/v1alpha1", "kind": "VIPPool",
        "metadata": {"name": name}, "spec": spec});
    apply(&Api::<VIPPool>::all(client.clone()), &body).await?;
    Ok(())
}

/// Applies VIPPool `name` with `addresses` and an `L2AnnouncementPolicy` of the same name
/// announcing it (every node, every suitable interface), then waits for the controller's
/// status of the pool.
pub async fn announced_pool(client: &Client, name: &str, addresses: &[&str]) -> Result<(), Error> {
    pool(client, name, json!({ "addresses": addresses })).await?;
    let l2 = json!({"apiVersion": "ferrolb.io/v1alpha1", "kind": "L2AnnouncementPolicy",
        "metadata": {"name": name}, "spec": {"ipPools": [name]}});
    apply(
        &Api::<ferrolb_api::L2AnnouncementPolicy>::all(client.clone()),
        &l2,
    )
    .await?;
    wait_pool(client, name, "status from the controller", |p| {
        p.status.as_ref().and_then(|s| s.observed_generation) == p.metadata.generation
    })
    .await?;
    Ok(())
}

/// Sets annotation `ferrolb.io/force: "true"` on a pool, so the webhook lets it shrink or go
/// although Services hold its addresses.
pub async fn force_pool(client: &Client, name: &str) -> Result<(), Error> {
    let api: Api<VIPPool> = Api::all(client.clone());
    let patch = json!({"metadata": {"annotations": {"ferrolb.io/force": "true"}}});
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::kube(format!("forcing pool {name}"), e)),
    }
}

/// Deletes a VIPPool (absent is fine).
pub async fn delete_pool(client: &Client, name: &str) -> Result<(), Error> {
    let api: Api<VIPPool> = Api::all(client.clone());
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::kube(format!("deleting pool {name}"), e)),
    }
}

/// A LoadBalancer Service body: one TCP port 80 unless `extra` says otherwise; `extra` is
/// merged into `spec`, `annotations` into metadata.
pub fn service_body(name: &str, annotations: Value, extra: Value) -> Value {
    let mut spec = json!({
        "type": "LoadBalancer",
        "selector": {"app": name},
        "ports": [{"name": "p80", "port": 80, "protocol": "TCP"}],
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "annotations": annotations}, "spec": spec})
}

/// Applies a Service body in `ns`.
pub async fn apply_service(client: &Client, ns: &str, body: &Value) -> Result<Service, Error> {
    apply(&Api::<Service>::namespaced(client.clone(), ns), body).await
}

/// Deletes a Service (absent is fine).
pub async fn delete_service(client: &Client, ns: &str, name: &str) -> Result<(), Error> {
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::kube(format!("deleting service {ns}/{name}"), e)),
    }
}

/// The LoadBalancer addresses in a Service's status, in order.
pub fn ips(svc: &Service) -> Vec<String> {
    svc.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|l| l.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.clone())
        .collect()
}

/// The controller's condition: (status, reason, message).
pub fn condition(svc: &Service) -> Option<(String, String, String)> {
    svc.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == CONDITION)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Waits until the Service satisfies `check` (20 s), returning it.
pub async fn wait_service<F>(
    client: &Client,
    ns: &str,
    name: &str,
    what: &str,
    check: F,
) -> Result<Service, Error>
where
    F: Fn(&Service) -> bool,
{
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    wait_object(&api, name, &format!("{ns}/{name}: {what}"), check).await
}

/// Waits (45 s: a debug controller on two loaded cores once needed more than 20 s to observe a
/// pool after the 1,000-Service scenario) until object `name` read through `api` satisfies
/// `check`, returning it; `what` names the wait in the timeout error.
async fn wait_object<K, F>(api: &Api<K>, name: &str, what: &str, check: F) -> Result<K, Error>
where
    K: Clone + DeserializeOwned + Debug,
    F: Fn(&K) -> bool,
{
    let check = &check;
    wait_for(what, Duration::from_secs(45), || async move {
        api.get_opt(name).await.ok().flatten().filter(|o| check(o))
    })
    .await
}

/// Waits up to `limit` until `pick` finds what it looks for in the status of
/// ServiceAnnouncement `ns/name`; returns it. `what` names the wait in the timeout error.
pub async fn wait_announcement<T, F>(
    client: &Client,
    ns: &str,
    name: &str,
    what: &str,
    limit: Duration,
    pick: F,
) -> Result<T, Error>
where
    F: Fn(ServiceAnnouncementStatus) -> Option<T>,
{
    let api: Api<ServiceAnnouncement> = Api::namespaced(client.clone(), ns);
    let (api, pick) = (&api, &pick);
    wait_for(&format!("{ns}/{name}: {what}"), limit, || async move {
        pick(api.get_opt(name).await.ok().flatten()?.status?)
    })
    .await
}

/// Events about a Service: (type, reason, note), oldest first.
pub async fn events(
    client: &Client,
    ns: &str,
    name: &str,
) -> Result<Vec<(String, String, String)>, Error> {
    Ok(events_since(client, ns, name, jiff::Timestamp::MIN)
        .await?
        .into_iter()
        .map(|(_, e)| e)
        .collect())
}

/// When an event last happened: its series' last observation, else its event time, else the
/// deprecated timestamps.
fn last_seen(e: &Event) -> Option<jiff::Timestamp> {
    e.series
        .as_ref()
        .map(|s| s.last_observed_time.0)
        .or(e.event_time.as_ref().map(|t| t.0))
        .or(e.deprecated_last_timestamp.as_ref().map(|t| t.0))
        .or(e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// Events about a Service last seen at or after `since`: (when, (type, reason, note)), oldest
/// first.
pub async fn events_since(
    client: &Client,
    ns: &str,
    name: &str,
    since: jiff::Timestamp,
) -> Result<Vec<(jiff::Timestamp, (String, String, String))>, Error> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    let list = api
        .list(&ListParams::default().fields(&format!("regarding.name={name}")))
        .await
        .map_err(|e| Error::kube("listing events", e))?;
    let mut items: Vec<(jiff::Timestamp, Event)> = list
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.kind.as_deref()) == Some("Service"))
        .filter_map(|e| Some((last_seen(&e)?, e)))
        .filter(|(at, _)| *at >= since)
        .collect();
    items.sort_by_key(|(at, _)| *at);
    Ok(items
        .into_iter()
        .map(|(at, e)| {
            (
                at,
                (
                    e.type_.unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.note.unwrap_or_default(),
                ),
            )
        })
        .collect())
}

/// Waits until an event with `reason` whose note contains `text`, last seen at or after
/// `since` (take it before the action that should cause the event), exists about the Service
/// (20 s), returning its note. An older event never matches.
pub async fn wait_event(
    client: &Client,
    ns: &str,
    name: &str,
    (reason, text): (&str, &str),
    since: jiff::Timestamp,
) -> Result<String, Error> {
    wait_for(
        &format!("an event {reason} mentioning {text:?} on {ns}/{name} since {since}"),
        Duration::from_secs(20),
        || async move {
            events_since(client, ns, name, since)
                .await
                .ok()?
                .into_iter()
                .find(|(_, e)| e.1 == reason && e.2.contains(text))
                .map(|(_, e)| e.2)
        },
    )
    .await
}

/// Waits until the pool's status satisfies `check` (20 s), returning the pool.
pub async fn wait_pool<F>(
    client: &Client,
    name: &str,
    what: &str,
    check: F,
) -> Result<VIPPool, Error>
where
    F: Fn(&VIPPool) -> bool,
{
    let api: Api<VIPPool> = Api::all(client.clone());
    wait_object(&api, name, &format!("pool {name}: {what}"), check).await
}

/// A pool condition: (status, reason, message).
pub fn pool_condition(p: &VIPPool, type_: &str) -> Option<(String, String, String)> {
    p.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Every Service in `ns` with its addresses, by name.
pub async fn all_ips(
    client: &Client,
    ns: &str,
) -> Result<std::collections::BTreeMap<String, Vec<String>>, Error> {
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::kube("listing services", e))?;
    Ok(list.items.iter().map(|s| (s.name_any(), ips(s))).collect())
}
