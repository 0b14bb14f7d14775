//! Who wrote a Service's fields, according to the apiserver's `managedFields`.
//!
//! Field manager names are chosen by the client, so this proves nothing about who wrote a
//! field: addresses and externalIPs are trusted only under the controller's signature
//! ([`crate::proof`]), never by these functions. They serve where a forged name can only
//! harm the forger's own Service (whether the controller may remove the cleanup finalizer it
//! added; whether the edge has a condition of its own to remove) and test fixtures.

use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;
use serde_json::Value;

use ferrolb_core::names::MANAGER_CONTROLLER;

/// The `f:status` field set of each status entry (subresource `status`) of field manager
/// `manager`.
pub fn status_fields<'a>(svc: &'a Service, manager: &'a str) -> impl Iterator<Item = &'a Value> {
    svc.managed_fields()
        .iter()
        .filter(move |m| {
            m.manager.as_deref() == Some(manager) && m.subresource.as_deref() == Some("status")
        })
        .filter_map(|m| m.fields_v1.as_ref()?.0.get("f:status"))
}

/// Whether the controller's field manager owns `status.loadBalancer.ingress`.
pub fn owns_ingress(svc: &Service) -> bool {
    status_fields(svc, MANAGER_CONTROLLER).any(|status| {
        status
            .get("f:loadBalancer")
            .and_then(|lb| lb.get("f:ingress"))
            .is_some()
    })
}

/// Whether the controller's field manager owns the condition `type_` in `status.conditions`
/// (a list-map keyed by `type`: the field set holds `k:{"type":"<type_>"}`). Owning another
/// condition is not enough: someone else may have written this one.
pub fn owns_condition(svc: &Service, type_: &str) -> bool {
    status_fields(svc, MANAGER_CONTROLLER).any(|status| {
        status
            .get("f:conditions")
            .and_then(Value::as_object)
            .is_some_and(|conditions| conditions.keys().any(|k| is_condition_key(k, type_)))
    })
}

/// Whether the controller's field manager added `finalizer` to `metadata.finalizers` (and
/// still holds it there): an entry of the main resource (any operation) lists it as a set
/// member, `v:"<finalizer>"`. A finalizer someone else added is not the controller's.
pub fn owns_finalizer(svc: &Service, finalizer: &str) -> bool {
    let member = format!("v:{}", Value::from(finalizer));
    svc.managed_fields()
        .iter()
        .filter(|m| {
            m.manager.as_deref() == Some(MANAGER_CONTROLLER)
                && m.subresource.as_deref().is_none_or(str::is_empty)
        })
        .filter_map(|m| m.fields_v1.as_ref()?.0.get("f:metadata"))
        .any(|meta| {
            meta.get("f:finalizers")
                .and_then(Value::as_object)
                .is_some_and(|set| set.contains_key(&member))
        })
}

/// `k:{"type":"..."}` naming `type_`.
fn is_condition_key(key: &str, type_: &str) -> bool {
    key.strip_prefix("k:")
        .and_then(|json| serde_json::from_str::<Value>(json).ok())
        .is_some_and(|k| k.get("type").and_then(Value::as_str) == Some(type_))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use ferrolb_core::names::MANAGER_EDGE;

    const ALLOWED: &str = "ferrolb.io/ExternalIPsAllowed";

    #[test]
    fn condition_keys_are_parsed_not_prefix_matched() {
        assert!(is_condition_key(
            r#"k:{"type":"ferrolb.io/ExternalIPsAllowed"}"#,
            ALLOWED
        ));
        assert!(!is_condition_key(
            r#"k:{"type":"ferrolb.io/ExternalIPsAllowedX"}"#,
            ALLOWED
        ));
        assert!(!is_condition_key(
            r#"k:{"type":"ferrolb.io/Allocated"}"#,
            ALLOWED
        ));
        assert!(!is_condition_key(".", ALLOWED));
        assert!(!is_condition_key("k:not json", ALLOWED));
    }

    fn service(entries: Value) -> Service {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "default", "managedFields": entries},
        }))
        .unwrap()
    }

    fn entry(manager: &str, subresource: Option<&str>, status: Value) -> Value {
        let mut e = json!({
            "manager": manager, "operation": "Apply", "apiVersion": "v1",
            "fieldsType": "FieldsV1", "fieldsV1": {"f:status": status},
        });
        if let Some(s) = subresource {
            e["subresource"] = json!(s);
        }
        e
    }

    #[test]
    fn only_the_controllers_status_entry_counts() {
        let ingress = json!({"f:loadBalancer": {"f:ingress": {}}});
        let ours = service(json!([entry(
            MANAGER_CONTROLLER,
            Some("status"),
            ingress.clone()
        )]));
        assert!(owns_ingress(&ours));
        for other in [
            entry("kubectl", Some("status"), ingress.clone()),
            entry(MANAGER_CONTROLLER, None, ingress.clone()),
            entry(
                MANAGER_CONTROLLER,
                Some("status"),
                json!({"f:loadBalancer": {}}),
            ),
        ] {
            assert!(!owns_ingress(&service(json!([other.clone()]))), "{other}");
        }
        assert!(!owns_ingress(&service(json!([]))));
    }

    #[test]
    fn a_finalizer_is_the_controllers_only_where_its_entry_lists_it() {
        const CLEANUP: &str = "service.kubernetes.io/load-balancer-cleanup";
        let meta = |manager: &str, subresource: Option<&str>, member: &str| {
            let mut e = json!({
                "manager": manager, "operation": "Update", "apiVersion": "v1",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:finalizers": {".": {}, member: {}}}},
            });
            if let Some(s) = subresource {
                e["subresource"] = json!(s);
            }
            e
        };
        let listed = format!("v:{}", json!(CLEANUP));
        assert!(owns_finalizer(
            &service(json!([meta(MANAGER_CONTROLLER, None, &listed)])),
            CLEANUP
        ));
        for other in [
            meta("cloud-controller-manager", None, &listed),
            meta(MANAGER_CONTROLLER, None, r#"v:"example.com/other""#),
            meta(MANAGER_CONTROLLER, Some("status"), &listed),
        ] {
            assert!(
                !owns_finalizer(&service(json!([other.clone()])), CLEANUP),
                "{other}"
            );
        }
        assert!(!owns_finalizer(&service(json!([])), CLEANUP));
    }

    #[test]
    fn conditions_are_owned_one_by_one() {
        let key = format!("k:{}", json!({ "type": ALLOWED }));
        let svc = service(json!([
            entry(
                MANAGER_CONTROLLER,
                Some("status"),
                json!({"f:conditions": {key.clone(): {}}})
            ),
            entry(MANAGER_EDGE, Some("status"), json!({"f:conditions": {}})),
        ]));
        assert!(owns_condition(&svc, ALLOWED));
        assert!(!owns_condition(&svc, "ferrolb.io/Allocated"));
        assert!(!owns_ingress(&svc));
        assert_eq!(status_fields(&svc, MANAGER_EDGE).count(), 1);
        assert_eq!(status_fields(&svc, "kubectl").count(), 0);
    }
}
