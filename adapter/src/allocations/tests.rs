use std::sync::Arc;

use ferrolb_api::VIPPool;
use ferrolb_api::names::{ANN_ALLOCATED_FROM, ANN_ALLOCATION_PROOF, ANN_SHARING_KEY};
use kube::ResourceExt;
use serde_json::{Value, json};

use super::*;
use crate::proof::SigningKey;

fn pools() -> Pools {
    let pool = |name: &str, addresses: &[&str]| -> Arc<VIPPool> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "ferrolb.io/v1alpha1", "kind": "VIPPool",
                "metadata": {"name": name}, "spec": {"addresses": addresses},
            }))
            .unwrap(),
        )
    };
    Pools::new(&[
        pool("red", &["198.51.100.0/28"]),
        pool("blue", &["198.51.100.16/28", "2001:db8::/126"]),
    ])
}

struct Fixture {
    key: SigningKey,
    keys: VerifyKeys,
}

impl Fixture {
    fn new() -> Fixture {
        let key = SigningKey::generate().unwrap();
        let mut keys = VerifyKeys::default();
        keys.insert(key.public_key());
        Fixture { key, keys }
    }

    /// A Service `ns/name` with `ips`, annotations and ports, signed at `issued` (or not).
    fn service(
        &self,
        ns: &str,
        name: &str,
        annotations: Value,
        ips: &[&str],
        ports: Value,
        issued: Option<i64>,
    ) -> Arc<Service> {
        let ingress: Vec<Value> = ips.iter().map(|i| json!({ "ip": i })).collect();
        let mut svc: Service = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "uid": format!("{ns}-{name}"),
                         "annotations": annotations},
            "spec": {"type": "LoadBalancer", "ports": ports},
            "status": {"loadBalancer": {"ingress": ingress}},
        }))
        .unwrap();
        if let Some(at) = issued {
            let proof = self.key.sign(&Claim::of(&svc), at).render();
            svc.annotations_mut()
                .insert(ANN_ALLOCATION_PROOF.into(), proof);
        }
        Arc::new(svc)
    }

    fn judge(&self, services: &[Arc<Service>]) -> Allocations {
        Allocations::of(services, &pools(), &self.keys, "never served")
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn key(ns: &str, name: &str) -> ServiceKey {
    ServiceKey::new(ns, name)
}

#[test]
fn proven_addresses_in_a_named_pool_are_served() {
    let f = Fixture::new();
    let svc = f.service(
        "default",
        "web",
        json!({ANN_ALLOCATED_FROM: " red , ,blue"}),
        &[
            "2001:db8::1",
            "198.51.100.17",
            " 198.51.100.1 ",
            "bogus",
            "198.51.100.1",
        ],
        json!([{"port": 80}]),
        Some(1),
    );
    assert_eq!(
        f.judge(&[svc]).of_service(&key("default", "web")),
        [
            (ip("198.51.100.1"), Ok("red".to_string())),
            (ip("198.51.100.17"), Ok("blue".to_string())),
            (ip("2001:db8::1"), Ok("blue".to_string())),
        ]
    );
}

#[test]
fn unproven_and_out_of_pool_addresses_are_refused_with_the_reason() {
    let f = Fixture::new();
    let outside = f.service(
        "default",
        "web",
        json!({ANN_ALLOCATED_FROM: "red"}),
        &["198.51.100.17", "203.0.113.1"],
        json!([{"port": 80}]),
        Some(1),
    );
    let forged = f.service(
        "mallory",
        "thief",
        json!({ANN_ALLOCATED_FROM: "red"}),
        &["198.51.100.1"],
        json!([{"port": 80}]),
        None,
    );
    let all = f.judge(&[outside, forged]);
    assert_eq!(
        all.of_service(&key("default", "web")),
        [
            (ip("198.51.100.17"), Err("198.51.100.17 lies in VIPPool blue, not in the pool(s) ferrolb.io/allocated-from names (red): never served".to_string())),
            (ip("203.0.113.1"), Err("203.0.113.1 lies in no VIPPool, not in the pool(s) ferrolb.io/allocated-from names (red): never served".to_string())),
        ]
    );
    assert_eq!(
        all.of_service(&key("mallory", "thief")),
        [(ip("198.51.100.1"), Err("no ferrolb.io/allocation-proof annotation: the controller did not allocate these addresses: never served".to_string()))]
    );
    assert!(all.of_service(&key("x", "y")).is_empty());
}

#[test]
fn a_replayed_older_proof_loses_to_the_newer_allocation() {
    let f = Fixture::new();
    let ann = json!({ANN_ALLOCATED_FROM: "red"});
    let replayed = f.service(
        "mallory",
        "thief",
        ann.clone(),
        &["198.51.100.1"],
        json!([{"port": 80}]),
        Some(100),
    );
    let current = f.service(
        "default",
        "web",
        ann,
        &["198.51.100.1"],
        json!([{"port": 443}]),
        Some(200),
    );
    let all = f.judge(&[replayed, current]);
    assert_eq!(
        all.of_service(&key("default", "web"))[0].1,
        Ok("red".into())
    );
    let lost = all.of_service(&key("mallory", "thief"))[0]
        .1
        .clone()
        .unwrap_err();
    assert!(
        lost.contains("allocated later to Service default/web"),
        "{lost}"
    );
    assert!(lost.contains("sharing needs one namespace"), "{lost}");
}

#[test]
fn sharing_needs_equal_proven_keys_and_disjoint_ports() {
    let f = Fixture::new();
    let shared = |name: &str, key: &str, port: u16, at: i64| {
        f.service(
            "default",
            name,
            json!({ANN_ALLOCATED_FROM: "red", ANN_SHARING_KEY: key}),
            &["198.51.100.1"],
            json!([{"port": port}]),
            Some(at),
        )
    };
    let ok = f.judge(&[shared("a", "k", 80, 1), shared("b", "k", 443, 2)]);
    assert!(ok.of_service(&key("default", "a"))[0].1.is_ok());
    assert!(ok.of_service(&key("default", "b"))[0].1.is_ok());

    let keys_differ = f.judge(&[shared("a", "k", 80, 1), shared("b", "other", 443, 2)]);
    let why = keys_differ.of_service(&key("default", "a"))[0]
        .1
        .clone()
        .unwrap_err();
    assert!(why.contains("the proven sharing keys differ"), "{why}");
    assert!(keys_differ.of_service(&key("default", "b"))[0].1.is_ok());

    let same_port = f.judge(&[shared("a", "k", 80, 3), shared("b", "k", 80, 2)]);
    let why = same_port.of_service(&key("default", "b"))[0]
        .1
        .clone()
        .unwrap_err();
    assert!(why.contains("both use port TCP/80"), "{why}");
    assert!(same_port.of_service(&key("default", "a"))[0].1.is_ok());
}

/// Speakers and the edge do not know the controller's `--default-class`: a Service without a
/// class is ferrolb's for them exactly when its allocation proof holds (field manager names,
/// which a client chooses, play no part).
#[test]
fn a_class_less_service_is_ferrolbs_only_with_a_proven_allocation() {
    let f = Fixture::new();
    let red = json!({ANN_ALLOCATED_FROM: "red"});
    let signed = f.service(
        "default",
        "a",
        red.clone(),
        &["198.51.100.1"],
        json!([]),
        Some(1),
    );
    let unsigned = f.service("default", "b", red, &["198.51.100.2"], json!([]), None);
    let allocations = f.judge(&[signed.clone(), unsigned.clone()]);
    assert!(allocations.is_proven(&key("default", "a")));
    assert!(allocations.classify(&signed).is_some());
    assert!(!allocations.is_proven(&key("default", "b")));
    assert_eq!(allocations.classify(&unsigned), None);
}
