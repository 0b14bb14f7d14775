//! At least 30 refused externalIPs, each with its expected message, through the real
//! apiserver: the cluster-independent rows of the controller's own table plus rows written
//! for the lab's nodes, ClusterIP ranges, pools and claims.

use ferrolb_controller::externalips::Rule;
use ferrolb_controller::externalips::examples::bad_input_table;

use super::{ALICE, Eip};

const NODE: &str = "(CVE-2020-8554); externalIPs may never be a node's address";
const CLAIMED: &str =
    "in another namespace; an address may be used by one namespace only, pick another address";
const POOL: &str = "whose addresses ferrolb assigns itself; use a Service of type LoadBalancer to get an address from that pool instead";

/// Rows whose message depends on the lab: (externalIP, expected message).
fn lab_rows() -> Vec<(&'static str, String)> {
    let not_allowed = |a: &str| {
        format!(
            "externalIP {a} refused: it is not in the allowedCIDRs of any ExternalIPPolicy that applies to \
             namespace tenant-a and user \"alice\" (applying: tenant-a-public); to allow it, \
             add {a} to the allowedCIDRs of an ExternalIPPolicy that applies to them"
        )
    };
    vec![
        ("2001:db8:100::12", format!("externalIP 2001:db8:100::12 refused: it is node node-b's address {NODE}")),
        ("198.51.100.13", format!("externalIP 198.51.100.13 refused: it is node node-c's address {NODE}")),
        ("203.0.113.10", "externalIP 203.0.113.10 refused: it is inside the Service ClusterIP range 203.0.113.0/24; externalIPs may never overlap ClusterIPs, pick an address outside 203.0.113.0/24".into()),
        ("2001:db8:300::a", "externalIP 2001:db8:300::a refused: it is inside the Service ClusterIP range 2001:db8:300::/112; externalIPs may never overlap ClusterIPs, pick an address outside 2001:db8:300::/112".into()),
        ("192.0.2.10", format!("externalIP 192.0.2.10 refused: it is inside VIPPool pool-a (range 192.0.2.0-192.0.2.63), {POOL}")),
        ("198.51.100.50", format!("externalIP 198.51.100.50 refused: it is already the externalIP of Service other-ns/web {CLAIMED}")),
        // A LoadBalancer IP is inside its pool: the pool rule comes first.
        ("198.51.100.51", format!("externalIP 198.51.100.51 refused: it is inside VIPPool pool-other (range 198.51.100.51-198.51.100.51), {POOL}")),
        ("2001:db8:500::1", not_allowed("2001:db8:500::1")),
        ("192.0.2.241", not_allowed("192.0.2.241")),
    ]
}

impl Eip<'_> {
    pub async fn bad_input_table(&self) {
        use Rule::*;
        // The controller's table rows that do not depend on the example cluster's facts
        // (the lab's node-a and node-b IPv4 addresses match the example's).
        let mut rows: Vec<(String, String, bool)> = bad_input_table()
            .into_iter()
            .filter(|r| {
                matches!(
                    r.rule,
                    Malformed | Unspecified | Loopback | LinkLocal | Multicast | Broadcast
                ) || (r.rule == NodeAddress && !r.external_ip.starts_with("2001:"))
            })
            .map(|r| {
                (
                    r.external_ip.to_string(),
                    r.message,
                    r.apiserver_may_reject_first,
                )
            })
            .collect();
        rows.extend(
            lab_rows()
                .into_iter()
                .map(|(ip, m)| (ip.to_string(), m, false)),
        );
        assert!(rows.len() >= 30, "{} rows", rows.len());
        let mut failures = Vec::new();
        for (ip, message, early) in &rows {
            let svc = Self::service("tenant-a", "web", &[ip.as_str()]);
            match self.apply_as(&svc, Some(ALICE)) {
                Ok(out) => failures.push(format!("{ip:?}: admitted ({out})")),
                Err(err) => {
                    let ours =
                        err.contains(message.as_str()) && err.contains("services.ferrolb.io");
                    let apiservers = *early && err.contains("spec.externalIPs");
                    if !(ours || apiservers) {
                        failures.push(format!("{ip:?}: expected {message:?}, got {err:?}"));
                    }
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {} rows wrong:\n{}",
            failures.len(),
            rows.len(),
            failures.join("\n")
        );
    }
}
