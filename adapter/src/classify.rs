//! Is a Service ferrolb's, and how is it served? Decided here once for the controller, the
//! speakers and the edge.
//!
//! A Service is ferrolb's when it is `type: LoadBalancer` and either names the class
//! [`LOAD_BALANCER_CLASS`] or names no class while ferrolb is the cluster's default class.
//! Only the controller knows the latter (its `--default-class` flag); speakers and the edge
//! take a class-less Service as ferrolb's exactly when the controller's allocation proof on it
//! verifies ([`crate::allocations::Allocations::is_proven`]), never from field manager names a
//! client chooses.

use ferrolb_api::names::{ANN_MODE, LOAD_BALANCER_CLASS, MODE_EDGE};
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;

/// How a Service without `spec.loadBalancerClass` is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultClass {
    /// ferrolb is the cluster's default class: class-less Services are ours (the controller
    /// with `--default-class`).
    Claimed,
    /// ferrolb is not the default class: class-less Services are someone else's.
    NotClaimed,
}

impl DefaultClass {
    /// [`Claimed`](Self::Claimed) or [`NotClaimed`](Self::NotClaimed) from a flag.
    pub fn claimed(default_class: bool) -> DefaultClass {
        if default_class {
            DefaultClass::Claimed
        } else {
            DefaultClass::NotClaimed
        }
    }
}

/// How a ferrolb Service is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    /// Speakers answer ARP/NDP for its addresses and program the nodes (the default).
    L2,
    /// The edge load balancer serves it (annotation `ferrolb.io/mode: edge`).
    Edge,
}

/// Why a Service is ferrolb's, and how it is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    /// It names [`LOAD_BALANCER_CLASS`] (`false`: no class, ours as the default class).
    pub explicit_class: bool,
    /// L2 or edge.
    pub mode: Mode,
}

/// Whether `svc` is ferrolb's (`Some`) and how it is served; `None` for any other Service.
pub fn classify(svc: &Service, default_class: DefaultClass) -> Option<Classification> {
    let spec = svc.spec.as_ref()?;
    if spec.type_.as_deref() != Some("LoadBalancer") {
        return None;
    }
    let explicit_class = match spec.load_balancer_class.as_deref() {
        Some(class) if class == LOAD_BALANCER_CLASS => true,
        Some(_) => return None,
        None => match default_class {
            DefaultClass::Claimed => false,
            DefaultClass::NotClaimed => return None,
        },
    };
    Some(Classification {
        explicit_class,
        mode: mode(svc),
    })
}

/// How `svc` asks to be served: [`Mode::Edge`] with annotation `ferrolb.io/mode: edge`, else
/// [`Mode::L2`] (whether it is ferrolb's at all is [`classify`]'s answer).
pub fn mode(svc: &Service) -> Mode {
    if svc.annotations().get(ANN_MODE).map(|m| m.trim()) == Some(MODE_EDGE) {
        Mode::Edge
    } else {
        Mode::L2
    }
}

#[cfg(test)]
mod tests {
    use ferrolb_core::names::MANAGER_CONTROLLER;
    use serde_json::{Value, json};

    use super::*;

    fn service(spec: Value, annotations: Value, managed: Value) -> Service {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "default",
                         "annotations": annotations, "managedFields": managed},
            "spec": spec,
        }))
        .unwrap()
    }

    fn lb(class: Option<&str>) -> Value {
        match class {
            Some(c) => json!({"type": "LoadBalancer", "loadBalancerClass": c}),
            None => json!({"type": "LoadBalancer"}),
        }
    }

    fn written_by_controller() -> Value {
        json!([{
            "manager": MANAGER_CONTROLLER, "operation": "Apply", "subresource": "status",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:status": {"f:loadBalancer": {"f:ingress": {}}}},
        }])
    }

    const EVERY: [DefaultClass; 2] = [DefaultClass::Claimed, DefaultClass::NotClaimed];

    #[test]
    fn our_class_is_ours_whatever_the_default() {
        let svc = service(lb(Some(LOAD_BALANCER_CLASS)), json!({}), json!([]));
        for d in EVERY {
            assert_eq!(
                classify(&svc, d),
                Some(Classification {
                    explicit_class: true,
                    mode: Mode::L2
                })
            );
        }
    }

    #[test]
    fn other_classes_and_types_are_never_ours() {
        let other = service(
            lb(Some("example.com/lb")),
            json!({}),
            written_by_controller(),
        );
        let cluster_ip = service(json!({"type": "ClusterIP"}), json!({}), json!([]));
        let no_spec: Service = serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}}),
        )
        .unwrap();
        for d in EVERY {
            assert_eq!(classify(&other, d), None);
            assert_eq!(classify(&cluster_ip, d), None);
            assert_eq!(classify(&no_spec, d), None);
        }
    }

    #[test]
    fn no_class_follows_the_default() {
        let bare = service(lb(None), json!({}), json!([]));
        let ours = Some(Classification {
            explicit_class: false,
            mode: Mode::L2,
        });
        assert_eq!(classify(&bare, DefaultClass::claimed(true)), ours);
        assert_eq!(classify(&bare, DefaultClass::claimed(false)), None);
        // A field manager name proves nothing (speakers ask the allocation proof instead).
        let written = service(lb(None), json!({}), written_by_controller());
        assert_eq!(classify(&written, DefaultClass::claimed(false)), None);
    }

    #[test]
    fn the_mode_annotation_selects_the_edge() {
        let edge = service(
            lb(Some(LOAD_BALANCER_CLASS)),
            json!({ANN_MODE: " edge "}),
            json!([]),
        );
        assert_eq!(
            classify(&edge, DefaultClass::NotClaimed).map(|c| c.mode),
            Some(Mode::Edge)
        );
        let other = service(
            lb(Some(LOAD_BALANCER_CLASS)),
            json!({ANN_MODE: "l2"}),
            json!([]),
        );
        assert_eq!(
            classify(&other, DefaultClass::NotClaimed).map(|c| c.mode),
            Some(Mode::L2)
        );
    }
}
