//! [`NodeDesired`] as JSON for `/debug/state` (the rule-builder and health types are not
//! serde types, so they are summarised by hand).

use serde_json::{Value, json};

use crate::ruleset::NftProtocol;

use super::NodeDesired;

/// The desired state as one JSON document.
pub fn to_json(d: &NodeDesired) -> Value {
    let services: Vec<Value> = d
        .ruleset_input
        .services
        .iter()
        .map(|s| {
            json!({
                "service": s.key.to_string(),
                "vips": s.vips,
                "ports": s.ports.iter().map(|p| json!({
                    "name": p.name,
                    "protocol": p.protocol.nft_name(),
                    "port": p.port,
                    "nodePort": p.node_port,
                    "target": match &p.target {
                        ferrolb_core::TargetPort::Number(n) => json!(n),
                        ferrolb_core::TargetPort::Named(n) => json!(n),
                    },
                })).collect::<Vec<_>>(),
                "externalTrafficPolicy": format!("{:?}", s.etp),
                "sourceRanges": s.source_ranges,
                "affinitySeconds": s.affinity,
                "endpoints": s.endpoints.iter().map(|e| json!({
                    "ip": e.ip,
                    "node": e.node,
                    "ready": e.ready,
                    "serving": e.serving,
                    "terminating": e.terminating,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let health: serde_json::Map<String, Value> = d
        .health_services
        .iter()
        .map(|(k, h)| {
            (
                k.to_string(),
                json!({
                    "localReadyEndpoints": h.local_ready_endpoints,
                    "healthCheckNodePort": h.health_check_node_port,
                }),
            )
        })
        .collect();
    json!({
        "node": d.ruleset_input.node_name,
        "announce": d.announce,
        "silent": d.silent.iter().map(|(ip, why)| json!({"ip": ip, "reason": why})).collect::<Vec<_>>(),
        "announcements": d.announcements,
        "election": d.election,
        "rules": {
            "nodeIPs": d.ruleset_input.node_ips,
            "services": services,
        },
        "health": health,
        "warnings": d.warnings,
    })
}
