//! ferrolb's speaker Pods as the plugin finds and judges them (shared by `why` and `status`).

use k8s_openapi::api::core::v1::Pod;

/// The label selector of the speakers' Pods (deploy/'s and the chart's labels).
pub const SELECTOR: &str = "app.kubernetes.io/name=ferrolb,app.kubernetes.io/component=speaker";

/// Whether a speaker Pod's Ready condition is True (the plugin's view of a live speaker).
pub fn ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}
