//! The upstream Kubernetes e2e tests against ferrolb in the lab: the `[Feature:LoadBalancer]`
//! tests and the Service tests about LoadBalancers and externalTrafficPolicy of the pinned
//! release (`test/e2e/network`), compiled into `conformance.test` (`e2e/controlplane/conformance`),
//! run one test per process from the lab's client namespace, beside the real kube-proxy and
//! with ferrolb installed as Pods. A committed skip list (`e2e/conformance/skips.yaml`) names
//! what the lab cannot run and why; everything else must pass.

pub mod far_client;
pub mod report;
pub mod runner;
pub mod selection;

pub use report::{Outcome, State};
pub use runner::{Options, run};
pub use selection::{FOCUS, SUBSET, Skip, load_skips};

use crate::{Error, Lab, k8s};

/// The pool the upstream tests' Services get addresses from: the lab's LoadBalancer range, for
/// every namespace (the tests make their own).
pub const POOL: &str = "conformance";

/// Readies a lab with kube-proxy and ferrolb installed for the suite: the pool and its
/// announcement policy, IPv4-only node addresses, and the runner's far-client address.
pub async fn prepare(lab: &Lab) -> Result<(), Error> {
    let client = lab.client().await?;
    k8s::announced_pool(&client, POOL, &crate::demo::POOL_ADDRESSES).await?;
    ipv4_node_addresses(&client).await?;
    far_client::set_up(lab)
}

/// Reports each lab Node with its IPv4 InternalIP only, as on an IPv4 cluster (the suite's
/// Services are single-stack IPv4): upstream's externalTrafficPolicy=Local tests ask every
/// InternalIP of every node for the Service's health check node port, and kube-proxy rightly
/// serves an IPv4 Service's port on IPv4 only. The agent writes addresses once, at start.
async fn ipv4_node_addresses(client: &kube::Client) -> Result<(), Error> {
    use k8s_openapi::api::core::v1::Node;
    use kube::api::{Api, Patch, PatchParams};
    let nodes: Api<Node> = Api::all(client.clone());
    for node in crate::lab::plan::NODES {
        let name = node.name();
        let body = serde_json::json!({"status": {"addresses": [
            {"type": "InternalIP", "address": node.host.v4.to_string()},
            {"type": "Hostname", "address": name},
        ]}});
        nodes
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&body))
            .await
            .map_err(|e| Error::kube(format!("setting the addresses of Node {name}"), e))?;
    }
    Ok(())
}
