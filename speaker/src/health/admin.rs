//! The speaker's private endpoints, served by `ferrolb_runtime::access` on their own listener
//! behind a TokenReview and a SubjectAccessReview, never on the health port load balancers
//! reach:
//!
//! - `/metrics`: the registry as OpenMetrics text;
//! - `/debug/state`: the node's whole desired and observed state;
//! - `/debug/probe?address=IP[&windowMs=N]`: who answers ARP/NDP for a LoadBalancer address
//!   on this node's LAN ([`crate::wire`]);
//! - `/debug/rules?address=IP`: what the kernel's tables (ferrolb's, kube-proxy's) do with a
//!   LoadBalancer address now ([`crate::dataplane::inspect`]).
//!
//! The two `/debug` questions answer only for addresses some Service has in
//! `status.loadBalancer.ingress` (400 otherwise, so the endpoint cannot scan the LAN); refusals
//! are plain text naming the value and the fix.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio::sync::Semaphore;
use tracing::{info, warn};

use super::answers;
use super::server::{SnapshotRx, respond};
use crate::dataplane::Nft;
use crate::dataplane::inspect::{self, RuleTable, RulesReport};
use crate::ruleset::TABLE;
use crate::wire::{self, ProbeReport};

/// Deadline of one `nft -j list table` run for `/debug/rules`.
const LIST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct AdminState {
    rx: SnapshotRx,
    registry: Arc<Registry>,
    /// One probe at a time: a second one gets 429.
    probing: Arc<Semaphore>,
    nft: Nft,
}

/// `/metrics`, `/debug/state`, `/debug/probe` and `/debug/rules`; other paths 404.
pub fn router(rx: SnapshotRx, registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/debug/state", get(debug_state))
        .route("/debug/probe", get(debug_probe))
        .route("/debug/rules", get(debug_rules))
        .with_state(AdminState {
            rx,
            registry,
            probing: Arc::new(Semaphore::new(1)),
            nft: Nft::new(None).with_timeout(LIST_TIMEOUT),
        })
}

async fn metrics(State(s): State<AdminState>) -> Response {
    ferrolb_runtime::metrics::response(&s.registry)
}

async fn debug_state(State(s): State<AdminState>) -> Response {
    let snapshot = s.rx.borrow().clone();
    respond(answers::debug_state(&snapshot))
}

fn text(status: StatusCode, body: String) -> Response {
    let headers = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    (status, headers, body).into_response()
}

type Params = Query<HashMap<String, String>>;

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params.get(name).map(String::as_str)
}

async fn debug_probe(State(s): State<AdminState>, params: Params) -> Response {
    let (address, window) =
        match wire::parse_query(param(&params, "address"), param(&params, "windowMs")) {
            Ok(query) => query,
            Err(why) => return text(StatusCode::BAD_REQUEST, why),
        };
    let known = Arc::clone(&s.rx.borrow().probes);
    let Some(on) = known.on(address) else {
        return text(StatusCode::BAD_REQUEST, wire::unknown_address(address));
    };
    let Ok(_one_at_a_time) = s.probing.try_acquire() else {
        return text(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "another probe of this speaker is running (one at a time): ask again for {address} in a few seconds"
            ),
        );
    };
    if on.interfaces.is_empty() {
        return text(StatusCode::SERVICE_UNAVAILABLE, no_interface(address));
    }
    let probed = wire::shell::probe(&on.interfaces, address, window).await;
    if probed.interfaces.is_empty() {
        let names: Vec<&str> = on.interfaces.iter().map(String::as_str).collect();
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "could not probe {address} out of any of {}: see this speaker's log (interface down, no address, or no raw socket: the speaker needs CAP_NET_RAW)",
                names.join(", ")
            ),
        );
    }
    let report = ProbeReport {
        node: known.node.clone(),
        address,
        announced: on.announced,
        window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
        interfaces: probed.interfaces,
        answers: probed.collector.answers(),
    };
    info!(%address, answers = report.answers.len(), announced = report.announced, "probed");
    Json(report).into_response()
}

fn no_interface(address: IpAddr) -> String {
    format!(
        "no interface to probe {address} on: no L2AnnouncementPolicy covering it selects an interface of this node, and this node announces nothing; check the policies' interfaces and nodeSelector, or probe from another speaker"
    )
}

async fn debug_rules(State(s): State<AdminState>, params: Params) -> Response {
    let address = match wire::parse_address(param(&params, "address")) {
        Ok(address) => address,
        Err(why) => return text(StatusCode::BAD_REQUEST, why),
    };
    let node = {
        let known = &s.rx.borrow().probes;
        if known.on(address).is_none() {
            return text(StatusCode::BAD_REQUEST, wire::unknown_address(address));
        }
        known.node.clone()
    };
    let ferrolb = read(&s.nft, ("inet", TABLE), RuleTable::Ferrolb, address).await;
    let kube_proxy = read(
        &s.nft,
        inspect::kube_proxy_table(address),
        RuleTable::KubeProxy,
        address,
    )
    .await;
    match (ferrolb, kube_proxy) {
        (Ok(ferrolb), Ok(kube_proxy)) => Json(RulesReport {
            node,
            address,
            ferrolb,
            kube_proxy,
        })
        .into_response(),
        (Err(why), _) | (_, Err(why)) => {
            warn!(%address, error = %why, "reading the rules failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, why)
        }
    }
}

/// Lists one table and reads the address's ports in it.
async fn read(
    nft: &Nft,
    table: (&'static str, &'static str),
    kind: RuleTable,
    address: IpAddr,
) -> Result<inspect::TableRules, String> {
    let (family, name) = table;
    let listing = nft
        .list_table_json(family, name)
        .await
        .map_err(|e| format!("cannot list table {family} {name}: {e}"))?;
    inspect::table_rules(table, listing.as_deref(), kind, address)
        .map_err(|e| format!("cannot read table {family} {name}: {e}"))
}
