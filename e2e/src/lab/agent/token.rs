//! A Pod's ServiceAccount credentials, as the kubelet projects them
//! (`kube-api-access-*`): a token from the TokenRequest API bound to the Pod (it stops working
//! once the Pod is gone), the cluster's CA and the namespace, in a host directory the
//! container sees at `/var/run/secrets/kubernetes.io/serviceaccount` (a bind mount of the
//! directory, so a refreshed token reaches the running container). Each file is replaced by
//! rename, never rewritten in place.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::Error;

/// How long a token is valid.
pub const VALIDITY: Duration = Duration::from_secs(3600);

fn write(dir: &Path, name: &str, text: &[u8]) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    std::fs::write(&tmp, text).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))
        .map_err(|e| Error::io(format!("setting the mode of {}", tmp.display()), e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// Writes `ca.crt` (from `ca`) and `namespace` into `dir`.
pub fn write_static(dir: &Path, ca: &Path, namespace: &str) -> Result<(), Error> {
    let ca_text =
        std::fs::read(ca).map_err(|e| Error::io(format!("reading {}", ca.display()), e))?;
    write(dir, "ca.crt", &ca_text)?;
    write(dir, "namespace", namespace.as_bytes())
}

/// Requests a token for `pod`'s ServiceAccount bound to the Pod and writes it into `dir`;
/// returns when to refresh it (after 80 % of its life, as the kubelet does).
pub async fn refresh(client: &Client, pod: &Pod, dir: &Path) -> Result<Duration, Error> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let sa = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.clone())
        .unwrap_or_else(|| "default".into());
    let req: TokenRequest = serde_json::from_value(json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"audiences": [], "expirationSeconds": VALIDITY.as_secs(),
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": name, "uid": uid}},
    }))
    .map_err(|e| Error::msg(format!("building a TokenRequest: {e}")))?;
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    let got = api
        .create_token_request(&sa, &PostParams::default(), &req)
        .await
        .map_err(|e| Error::kube(format!("requesting a token of {ns}/{sa} for pod {name}"), e))?;
    let status = got.status.ok_or_else(|| {
        Error::msg(format!(
            "the TokenRequest for pod {ns}/{name} has no status"
        ))
    })?;
    write(dir, "token", status.token.as_bytes())?;
    let left = status
        .expiration_timestamp
        .0
        .duration_since(Timestamp::now());
    let left = if left.is_positive() {
        left.unsigned_abs()
    } else {
        Duration::ZERO
    };
    Ok(left.mul_f64(0.8).max(Duration::from_secs(10)))
}
