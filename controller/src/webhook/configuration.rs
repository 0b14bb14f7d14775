//! The ValidatingWebhookConfiguration the controller keeps current (pure body builder).

use serde_json::{Value, json};

/// Where the webhook is and how the apiserver should treat its failures.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Name of the ValidatingWebhookConfiguration.
    pub configuration: String,
    /// The controller's namespace (skipped by the Service webhook).
    pub namespace: String,
    /// The webhook Service's name.
    pub service: String,
    /// The webhook Service's port.
    pub service_port: u16,
    /// The Secret holding the serving certificate.
    pub secret: String,
    /// `Fail` or `Ignore`.
    pub failure_policy: String,
    /// The ClusterRole that owns both configurations (`--webhook-owner`): deleting it lets the
    /// garbage collector remove them, so uninstalling deploy/ leaves no webhook behind.
    pub owner: String,
}

/// The owner ClusterRole as the API gave it: the `ownerReferences` entry needs its UID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Its name.
    pub name: String,
    /// Its UID.
    pub uid: String,
}

/// `metadata` of both configurations: the name, the managed-by label and the owner reference
/// (no `blockOwnerDeletion`: nothing waits for the webhooks when the ClusterRole goes).
fn metadata(cfg: &WebhookConfig, owner: &Owner) -> Value {
    json!({
        "name": cfg.configuration,
        "labels": {"app.kubernetes.io/managed-by": "ferrolb-controller"},
        "ownerReferences": [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "name": owner.name, "uid": owner.uid}],
    })
}

/// The whole configuration, with `ca_bundle` (PEM) trusted for the webhook's certificate.
///
/// The Service webhook only sees Services that have `spec.externalIPs` (a match condition), so
/// a webhook outage never blocks ordinary Services; and it skips the controller's own
/// namespace so the controller can always be (re)deployed.
pub fn body(cfg: &WebhookConfig, owner: &Owner, ca_bundle: &str) -> Value {
    // ByteString serializes as base64, which is what `caBundle` holds.
    let bundle = serde_json::to_value(k8s_openapi::ByteString(ca_bundle.as_bytes().to_vec()))
        .unwrap_or(Value::Null);
    let client = |path: &str| {
        json!({
            "service": {"namespace": cfg.namespace, "name": cfg.service, "path": path, "port": cfg.service_port},
            "caBundle": bundle,
        })
    };
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": metadata(cfg, owner),
        "webhooks": [
            {
                "name": "services.ferrolb.io",
                "clientConfig": client("/validate/services"),
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                           "resources": ["services"], "scope": "Namespaced"}],
                "namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name",
                    "operator": "NotIn", "values": [cfg.namespace]}]},
                "matchConditions": [{"name": "has-external-ips",
                    "expression": "has(object.spec.externalIPs) && size(object.spec.externalIPs) > 0"}],
                "failurePolicy": cfg.failure_policy,
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 5,
            },
            {
                "name": "vippools.ferrolb.io",
                "clientConfig": client("/validate/vippools"),
                "rules": [{"apiGroups": ["ferrolb.io"], "apiVersions": ["v1alpha1"],
                           "operations": ["CREATE", "UPDATE", "DELETE"], "resources": ["vippools"], "scope": "Cluster"}],
                "failurePolicy": cfg.failure_policy,
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 5,
            },
        ],
    })
}

/// The MutatingWebhookConfiguration: stamps Services that have externalIPs with who admitted
/// them ([`crate::admission_stamp`]). Always `Ignore`: without a stamp the reconcile-time review only
/// counts policies that are not limited to users (fail closed), it never lets more through.
pub fn mutating_body(cfg: &WebhookConfig, owner: &Owner, ca_bundle: &str) -> Value {
    let validating = body(cfg, owner, ca_bundle);
    let mut hook = validating["webhooks"][0].clone();
    hook["name"] = json!("stamp.services.ferrolb.io");
    hook["clientConfig"]["service"]["path"] = json!("/mutate/services");
    hook["failurePolicy"] = json!("Ignore");
    hook["reinvocationPolicy"] = json!("IfNeeded");
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": validating["metadata"].clone(),
        "webhooks": [hook],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> WebhookConfig {
        WebhookConfig {
            configuration: "ferrolb-webhook".into(),
            namespace: "ferrolb-system".into(),
            service: "ferrolb-webhook".into(),
            service_port: 443,
            secret: "ferrolb-webhook-tls".into(),
            failure_policy: "Fail".into(),
            owner: "ferrolb-controller".into(),
        }
    }

    #[test]
    fn both_configurations_are_owned_by_the_cluster_role() {
        let owner = Owner {
            name: "ferrolb-controller".into(),
            uid: "6f1c".into(),
        };
        let want = json!([{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "name": "ferrolb-controller", "uid": "6f1c"}]);
        for b in [
            body(&cfg(), &owner, "CA"),
            mutating_body(&cfg(), &owner, "CA"),
        ] {
            assert_eq!(b["metadata"]["ownerReferences"], want, "{b}");
            assert_eq!(b["metadata"]["name"], "ferrolb-webhook");
            assert!(b["metadata"]["ownerReferences"][0]["blockOwnerDeletion"].is_null());
        }
    }
}
