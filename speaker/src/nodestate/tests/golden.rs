//! Golden snapshots of the whole desired state ([`desired`](super::super::desired)) of a few
//! clusters, as `/debug/state` prints it (under `desired`). The `.snap` files next to this one
//! are documentation: each starts with the cluster it shows. After an intended change, review
//! and accept them with `cargo insta review` (or `INSTA_UPDATE=always cargo test`).

use serde_json::{Value, json};

use super::fixtures::{World, lb_json, merge, slice_json};
use crate::nodestate::NodeDesired;

/// Compares `d` with the snapshot `name`, whose header says `what`.
fn golden(name: &str, what: &str, d: &NodeDesired) {
    let mut settings = insta::Settings::clone_current();
    settings.set_description(what);
    settings.set_omit_expression(true);
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_yaml_snapshot!(name, d));
}

/// `default/web` on 198.51.100.200 with one ready endpoint on node-b.
fn single_stack() -> World {
    let mut w = World::new();
    w.services.push(lb_json("web", &["198.51.100.200"], "blue"));
    w.slices
        .push(slice_json("web", &[("192.0.2.10", "node-b", true, false)]));
    w
}

#[test]
fn single_stack_service_on_the_node_that_wins_it() {
    let w = single_stack();
    let winner = w.announcers("198.51.100.200")[0];
    golden(
        "single_stack",
        &format!(
            "LoadBalancer Service default/web, 198.51.100.200 from pool blue (covered by \
             L2AnnouncementPolicy lan), eTP=Cluster, one ready endpoint on node-b; seen from {winner}, \
             which wins the address"
        ),
        &w.on(winner),
    );
}

/// An IPv6 EndpointSlice of `default/<service>`.
fn slice6(service: &str, address: &str, node: &str) -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("{service}-x6"), "namespace": "default",
                     "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv6",
        "endpoints": [{"addresses": [address], "nodeName": node,
                       "conditions": {"ready": true, "serving": true, "terminating": false}}],
        "ports": [{"name": "web", "protocol": "TCP", "port": 8080}],
    })
}

#[test]
fn dual_stack_service() {
    let mut w = World::new();
    merge(
        &mut w.pools[0],
        json!({"spec": {"addresses": ["198.51.100.200-198.51.100.249", "2001:db8:100::/112"]}}),
    );
    let mut svc = lb_json("web", &["198.51.100.201", "2001:db8:100::201"], "blue");
    merge(
        &mut svc,
        json!({"spec": {"ipFamilies": ["IPv4", "IPv6"], "ipFamilyPolicy": "RequireDualStack"}}),
    );
    w.services.push(svc);
    w.slices
        .push(slice_json("web", &[("192.0.2.10", "node-a", true, false)]));
    w.slices.push(slice6("web", "2001:db8:1::10", "node-a"));
    let winner = w.announcers("2001:db8:100::201")[0];
    golden(
        "dual_stack",
        &format!(
            "Dual-stack LoadBalancer Service default/web: 198.51.100.201 and 2001:db8:100::201 \
             from pool blue, endpoints 192.0.2.10 and 2001:db8:1::10 on node-a; each address is \
             elected on its own (both NodePort families programmed); seen from {winner}, which \
             wins the IPv6 address"
        ),
        &w.on(winner),
    );
}

/// `default/web`, eTP=Local with healthCheckNodePort 32000, one ready endpoint on node-b.
fn local_policy() -> World {
    let mut w = World::new();
    let mut svc = lb_json("web", &["198.51.100.210"], "blue");
    merge(
        &mut svc,
        json!({"spec": {"externalTrafficPolicy": "Local", "healthCheckNodePort": 32000}}),
    );
    w.services.push(svc);
    w.slices
        .push(slice_json("web", &[("192.0.2.70", "node-b", true, false)]));
    w
}

#[test]
fn local_policy_with_a_local_endpoint() {
    golden(
        "local_with_endpoint",
        "eTP=Local Service default/web (198.51.100.210, healthCheckNodePort 32000), its only \
         ready endpoint on node-b; seen from node-b: it announces, its health answer counts 1 \
         local endpoint and its rules deliver locally",
        &local_policy().on("node-b"),
    );
}

#[test]
fn local_policy_without_a_local_endpoint() {
    golden(
        "local_without_endpoint",
        "The same eTP=Local Service seen from node-a, which has no endpoint: not a candidate, \
         0 local endpoints in its health answer, rules that drop",
        &local_policy().on("node-a"),
    );
}

#[test]
fn shared_ip() {
    let mut w = World::new();
    w.services.push(lb_json("web", &["198.51.100.205"], "blue"));
    let mut dns = lb_json("dns", &["198.51.100.205"], "blue");
    merge(
        &mut dns,
        json!({"spec": {"ports": [{"name": "dns", "protocol": "UDP", "port": 53, "targetPort": 5353, "nodePort": 30053}]}}),
    );
    w.services.push(dns);
    for s in w.services.iter_mut() {
        merge(
            s,
            json!({"metadata": {"annotations": {"ferrolb.io/sharing-key": "k"}}}),
        );
    }
    w.slices
        .push(slice_json("web", &[("192.0.2.10", "node-c", true, false)]));
    let mut dns_slice = slice_json("dns", &[("192.0.2.11", "node-c", true, false)]);
    merge(
        &mut dns_slice,
        json!({"ports": [{"name": "dns", "protocol": "UDP", "port": 5353}]}),
    );
    w.slices.push(dns_slice);
    let winner = w.announcers("198.51.100.205")[0];
    golden(
        "shared_ip",
        &format!(
            "Two Services sharing 198.51.100.205: default/web (80/TCP) and default/dns (53/UDP); \
             one decision for the address, both Services in it; seen from {winner}, which wins it"
        ),
        &w.on(winner),
    );
}

#[test]
fn edge_pool_is_programmed_not_announced() {
    let mut w = single_stack();
    merge(
        &mut w.pools[0],
        json!({"metadata": {"labels": {"ferrolb.io/mode": "edge"}}}),
    );
    golden(
        "edge_pool",
        "default/web's address comes from an edge pool (label ferrolb.io/mode=edge): nobody \
         announces it over L2 (silent, with why) but every node programs it; seen from node-b",
        &w.on("node-b"),
    );
}

#[test]
fn excluded_node() {
    let mut w = single_stack();
    merge(
        &mut w.nodes[1],
        json!({"metadata": {"labels": {"node.kubernetes.io/exclude-from-external-load-balancers": ""}}}),
    );
    golden(
        "excluded_node",
        "node-b carries node.kubernetes.io/exclude-from-external-load-balancers: not eligible \
         (with why), another node announces; its /healthz facts say eligible, as kube-proxy's \
         (only the autoscaler's taint excludes); seen from node-b",
        &w.on("node-b"),
    );
}
