//! Reading the components' private endpoints (`/metrics`, `/debug/state`) as Prometheus does:
//! with a ServiceAccount token that the component reviews (TokenReview, SubjectAccessReview).
//! [`token`] makes a ServiceAccount in the lab's namespace, bound (or not) to deploy/'s
//! ClusterRole `ferrolb-metrics-reader`, and returns a fresh token of it.

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::json;

use super::install::NAMESPACE;
use crate::{Error, k8s};

/// deploy/'s ClusterRole granting `get` on `/metrics` and `/debug/state`.
pub const READER_ROLE: &str = "ferrolb-metrics-reader";
/// The lab's scraper, bound to [`READER_ROLE`].
pub const SCRAPER: &str = "lab-scraper";
/// A ServiceAccount without that grant.
pub const STRANGER: &str = "lab-stranger";

/// A token of ServiceAccount `NAMESPACE/name` (created if missing), bound to
/// [`READER_ROLE`] when `reader`.
pub async fn token(client: &Client, name: &str, reader: bool) -> Result<String, Error> {
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), NAMESPACE);
    k8s::apply(
        &sas,
        &json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": NAMESPACE}}),
    )
    .await?;
    if reader {
        let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
        k8s::apply(
            &bindings,
            &json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": READER_ROLE},
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}]}),
        )
        .await?;
    }
    let req: TokenRequest = serde_json::from_value(json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"audiences": [], "expirationSeconds": 3600},
    }))
    .map_err(|e| Error::msg(format!("building a TokenRequest: {e}")))?;
    let got = sas
        .create_token_request(name, &PostParams::default(), &req)
        .await
        .map_err(|e| Error::kube(format!("requesting a token of {NAMESPACE}/{name}"), e))?;
    got.status.map(|s| s.token).ok_or_else(|| {
        Error::msg(format!(
            "the TokenRequest of {NAMESPACE}/{name} has no status"
        ))
    })
}

/// The `Authorization` header of `token`, as `probe http --header` takes it.
pub fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}")
}
