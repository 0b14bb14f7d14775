use std::sync::Arc;

use ferrolb_core::{Protocol, SourceRanges};
use serde_json::json;

use super::*;

mod fixtures;
mod props;

use fixtures::*;

#[test]
fn an_edge_service_gives_one_frontend_per_address_and_port() {
    let d = with(vec![service(
        "web",
        &["198.51.100.150", "2001:db8:100::150"],
        "edge",
    )]);
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    let ids: Vec<String> = d.frontends.iter().map(|f| f.id().to_string()).collect();
    assert_eq!(
        ids,
        [
            "198.51.100.150:80/TCP",
            "198.51.100.150:53/UDP",
            "[2001:db8:100::150]:80/TCP",
            "[2001:db8:100::150]:53/UDP"
        ]
    );
    let tcp = &d.frontends[0];
    assert_eq!(
        (tcp.port, tcp.node_port, tcp.protocol),
        (80, 30080, Protocol::Tcp)
    );
    assert_eq!(
        names(tcp),
        [
            ("node-a", ip("198.51.100.11")),
            ("node-b", ip("198.51.100.12")),
            ("node-e", ip("198.51.100.15"))
        ],
        "Ready and not excluded; InternalIP before ExternalIP"
    );
    assert_eq!(
        names(&d.frontends[2]),
        [("node-a", ip("2001:db8:100::11"))],
        "only nodes of the family"
    );
    assert_eq!(tcp.source_ranges, SourceRanges::Any);
    let t = tcp.probe_target(&tcp.candidates[0]);
    assert_eq!(t.to_string(), "http://198.51.100.11:10256/healthz");
    assert_eq!(
        tcp.upstream(&tcp.candidates[1]).to_string(),
        "198.51.100.12:30080"
    );
    let key = ServiceKey {
        namespace: "web".into(),
        name: "web".into(),
    };
    assert_eq!(d.services[&key].frontends.len(), 4);
    assert_eq!(d.services[&key].generation, Some(3));
    assert_eq!(d.edge_ranges.0.len(), 2);
}

#[test]
fn which_services_are_edge_services() {
    let mut unset = service("unset", &["198.51.100.151"], "edge");
    unset["spec"]
        .as_object_mut()
        .unwrap()
        .remove("loadBalancerClass");
    let mut other = service("other", &["198.51.100.152"], "edge");
    other["spec"]["loadBalancerClass"] = json!("example.com/lb");
    let mut plain = service("plain", &["198.51.100.153"], "edge");
    plain["metadata"]["annotations"]
        .as_object_mut()
        .unwrap()
        .remove("ferrolb.io/mode");
    let mut cip = service("cip", &["198.51.100.154"], "edge");
    cip["spec"]["type"] = json!("ClusterIP");
    let d = with(vec![unset, other, plain, cip]);
    let served: Vec<&str> = d.services.keys().map(|k| &*k.name).collect();
    assert_eq!(served, ["unset"]);
    assert_eq!(d.frontends.len(), 2);
}

#[test]
fn forged_or_foreign_addresses_are_never_served() {
    let mut forged = service("forged", &["198.51.100.150"], "edge");
    forged["metadata"]["managedFields"] = json!([{
        "manager": "kubectl", "operation": "Update", "subresource": "status",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:loadBalancer": {"f:ingress": {}}}},
    }]);
    let lan = service("lan", &["198.51.100.200"], "lan");
    let elsewhere = service("elsewhere", &["198.51.100.151"], "lan");
    let none = service("none", &[], "edge");
    let d = with(vec![forged, lan, elsewhere, none]);
    assert!(d.frontends.is_empty(), "{:?}", d.frontends);
    let w: Vec<String> = d.warnings.iter().map(ToString::to_string).collect();
    assert!(w[0].starts_with("web/elsewhere: 198.51.100.151 lies in VIPPool edge, not in the pool(s) ferrolb.io/allocated-from names (lan)"), "{w:?}");
    assert!(
        w[1].contains(
            "web/forged: no ferrolb.io/allocation-proof annotation: the controller did not allocate these addresses"
        ),
        "{w:?}"
    );
    assert!(
        w[2].contains("web/lan: 198.51.100.200 lies in VIPPool lan, which is not an edge pool"),
        "{w:?}"
    );
    assert!(
        w[3].contains("web/none: no address in status.loadBalancer.ingress yet"),
        "{w:?}"
    );
}

#[test]
fn unsupported_ports_are_skipped_with_a_reason() {
    let mut s = service("s", &["198.51.100.150"], "edge");
    s["spec"]["ports"] = json!([
        {"name": "sctp", "port": 9, "protocol": "SCTP", "nodePort": 30009},
        {"name": "nonp", "port": 81, "protocol": "TCP"},
        {"port": 82, "protocol": "TCP", "nodePort": 30082},
    ]);
    let d = with(vec![s]);
    assert_eq!(d.frontends.len(), 1);
    assert_eq!(d.frontends[0].port, 82);
    let w: Vec<&str> = d.warnings.iter().map(|w| w.message.as_str()).collect();
    assert!(
        w.iter()
            .any(|m| m.contains("sctp (9): protocol SCTP is not supported")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|m| m.contains("nonp (81): no nodePort allocated")),
        "{w:?}"
    );
}

#[test]
fn local_services_probe_their_health_check_node_port() {
    let mut local = service("local", &["198.51.100.150"], "edge");
    local["spec"]["externalTrafficPolicy"] = json!("Local");
    local["spec"]["healthCheckNodePort"] = json!(32000);
    local["spec"]["loadBalancerSourceRanges"] = json!(["198.51.100.100/32", "bogus"]);
    let mut broken = service("broken", &["198.51.100.151"], "edge");
    broken["spec"]["externalTrafficPolicy"] = json!("Local");
    let d = with(vec![local, broken]);
    assert!(d.frontends.iter().all(|f| &*f.service.name == "local"));
    let f = &d.frontends[0];
    assert_eq!(f.traffic_policy, TrafficPolicy::Local);
    assert_eq!(
        f.probe_target(&f.candidates[0]).to_string(),
        "http://198.51.100.11:32000/"
    );
    assert!(
        f.source_ranges.allows(ip("198.51.100.100"))
            && !f.source_ranges.allows(ip("198.51.100.101"))
    );
    let w: Vec<String> = d.warnings.iter().map(ToString::to_string).collect();
    assert!(
        w.iter()
            .any(|m| m
                .contains("web/broken: externalTrafficPolicy Local without a healthCheckNodePort")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|m| m.contains("web/local: loadBalancerSourceRanges entry \"bogus\"")),
        "{w:?}"
    );
}

#[test]
fn an_address_is_shared_only_with_proven_sharing_keys_and_other_ports() {
    let mut old = service("old", &["198.51.100.150"], "edge");
    let mut young = service("young", &["198.51.100.150"], "edge");
    young["metadata"]["creationTimestamp"] = json!("2024-06-01T00:00:00Z");
    young["spec"]["ports"] = json!([{"port": 8080, "protocol": "TCP", "nodePort": 31081}]);
    let owners = |d: &Desired| -> Vec<(String, String)> {
        d.frontends
            .iter()
            .map(|f| (f.id().to_string(), f.service.name.to_string()))
            .collect()
    };
    // No sharing key: one of them gets the address (equal proofs: the first by name).
    let d = with(vec![young.clone(), old.clone()]);
    assert_eq!(
        owners(&d),
        [
            ("198.51.100.150:80/TCP".to_string(), "old".to_string()),
            ("198.51.100.150:53/UDP".to_string(), "old".to_string()),
        ]
    );
    assert!(
        d.warnings.iter().any(|w| w
            .to_string()
            .starts_with("web/young: 198.51.100.150 was allocated later to Service web/old")
            && w.to_string().contains("the proven sharing keys differ")),
        "{:?}",
        d.warnings
    );
    // The same proven sharing key and other ports: both are served.
    for s in [&mut young, &mut old] {
        s["metadata"]["annotations"]["ferrolb.io/sharing-key"] = json!("k");
    }
    let d = with(vec![young, old]);
    assert_eq!(
        owners(&d),
        [
            ("198.51.100.150:80/TCP".to_string(), "old".to_string()),
            ("198.51.100.150:8080/TCP".to_string(), "young".to_string()),
            ("198.51.100.150:53/UDP".to_string(), "old".to_string()),
        ]
    );
}

#[test]
fn conditions_are_released_and_endpoints_counted() {
    let mut was = service("was-edge", &["198.51.100.150"], "edge");
    was["metadata"]["annotations"] = json!({});
    was["metadata"]["managedFields"] = json!([{
        "manager": "ferrolb-edge", "operation": "Apply", "subresource": "status",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:conditions": {"k:{\"type\":\"ferrolb.io/EdgeServing\"}": {}}}},
    }]);
    was["status"]["conditions"] = json!([{"type": "ferrolb.io/EdgeServing", "status": "True", "reason": "Serving", "message": "", "lastTransitionTime": "2024-01-01T00:00:00Z"}]);
    let mut snap = lab();
    snap.services = vec![svc(was), svc(service("web", &["198.51.100.151"], "edge"))];
    snap.slices = vec![Arc::new(serde_json::from_value(json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": {"name": "web-1", "namespace": "web", "labels": {"kubernetes.io/service-name": "web"}},
        "endpoints": [
            {"addresses": ["192.0.2.2"], "nodeName": "node-a", "conditions": {"ready": true}},
            {"addresses": ["192.0.2.3"], "nodeName": "node-a"},
            {"addresses": ["192.0.2.66"], "nodeName": "node-b", "conditions": {"ready": false}},
        ],
    })).unwrap())];
    let d = desired(&snap, OPTS);
    assert_eq!(
        d.release,
        [ServiceKey {
            namespace: "web".into(),
            name: "was-edge".into()
        }]
    );
    let web = &d.services[&ServiceKey {
        namespace: "web".into(),
        name: "web".into(),
    }];
    assert_eq!(web.ready_endpoints.get("node-a"), Some(&2));
    assert_eq!(web.ready_endpoints.get("node-b"), None);
}

/// What may concern the edge: the edge's annotation, its condition, or an address of an edge
/// pool; not a Service of another pool, nor one without addresses.
#[test]
fn only_edge_services_their_conditions_and_edge_addresses_concern_the_edge() {
    let pools = lab().pools;
    let concerns = |v: serde_json::Value| may_concern(&svc(v), &pools);
    assert!(concerns(service("web", &["198.51.100.150"], "edge")));
    let mut asking = service("asking", &[], "edge");
    asking["status"] = json!({});
    assert!(
        concerns(asking.clone()),
        "asks for the edge, no address yet"
    );
    let mut other = service("other", &["198.51.100.200"], "lan");
    other["metadata"]["annotations"] = json!({"ferrolb.io/allocated-from": "lan"});
    assert!(!concerns(other.clone()), "another pool's address");
    let mut bare = other.clone();
    bare["status"] = json!({});
    assert!(!concerns(bare), "no address");
    let mut squatting = other.clone();
    squatting["status"]["loadBalancer"]["ingress"] = json!([{"ip": "2001:db8:100::151"}]);
    assert!(
        concerns(squatting),
        "an edge pool's address, whoever claims it"
    );
    let mut released = other;
    released["status"]["conditions"] = json!([{"type": "ferrolb.io/EdgeServing", "status": "True", "reason": "Serving", "message": "", "lastTransitionTime": "2024-01-01T00:00:00Z"}]);
    assert!(concerns(released), "carries the edge's condition");
}
