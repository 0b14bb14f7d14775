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
}

/// The whole configuration, with `ca_bundle` (PEM) trusted for the webhook's certificate.
///
/// The Service webhook only sees Services that have `spec.externalIPs` (a match condition), so
/// a webhook outage never blocks ordinary Services; and it skips the controller's own
/// namespace so the controller can always be (re)deployed.
pub fn body(cfg: &WebhookConfig, ca_bundle: &str) -> Value {
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
        "metadata": {"name": cfg.configuration, "labels": {"app.kubernetes.io/managed-by": "ferrolb-controller"}},
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
pub fn mutating_body(cfg: &WebhookConfig, ca_bundle: &str) -> Value {
    let validating = body(cfg, ca_bundle);
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
