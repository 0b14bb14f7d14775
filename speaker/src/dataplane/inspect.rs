//! What the kernel's Service rules do with one address (pure): from `nft -j list table …`
//! JSON to the ports of the address and the endpoints each one sends to. Read by
//! `/debug/rules`, for `kubectl ferrolb why`'s data-path step.
//!
//! Two tables are understood:
//! - ferrolb's own, `inet ferrolb` ([`RuleTable::Ferrolb`]): the `service_ips4` /
//!   `service_ips6` verdict maps (`ADDRESS . PROTO . PORT : goto …`), then either a shared
//!   spread chain, whose `dnat … to ip daddr . tcp dport . numgen random mod N [offset O] map
//!   @endpointsN_PROTO` reads the elements `ADDRESS . PORT . INDEX : IP . PORT` with INDEX in
//!   `O..O+N`, or (ClientIP affinity) the Service's own chain and its `numgen` / `jhash`
//!   cascade of `dnat`s;
//! - kube-proxy's nftables mode, `ip kube-proxy` / `ip6 kube-proxy`
//!   ([`RuleTable::KubeProxy`]): map `service-ips` (`ADDRESS . PROTO . PORT : goto
//!   external-…` or `service-…`), then `goto` / `vmap` verdicts to `local-…` / `service-…`
//!   chains, which either `dnat … to numgen random mod N map { 0 : IP . PORT, … }` or jump to
//!   chains named `endpoint-HASH-NS/SVC/PROTO/PORTNAME__IP/PORT` (affinity), whose suffix is
//!   the endpoint (IPv6 with `.` for `:`).
//!
//! From the map element, `jump`, `goto` and `vmap` verdicts are followed
//! [`MAX_DEPTH`] chains deep at most. Rules that branch on the **source** (`fib saddr type
//! local`: the node's own traffic; `ip saddr 10.0.0.0/8`: kube-proxy's pod short-circuit;
//! `ip saddr @affinity-…`: an endpoint the spread reaches anyway) are not followed: the
//! endpoints reported are those traffic from outside the node reaches, so an
//! `externalTrafficPolicy: Local` Service shows only this node's endpoints.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use ferrolb_core::Protocol;
use serde::Serialize;
use serde_json::Value;

/// How many chains deep verdicts are followed from the map element.
pub const MAX_DEPTH: usize = 8;

/// Which table's conventions to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleTable {
    /// `inet ferrolb`: maps `service_ips4` and `service_ips6`.
    Ferrolb,
    /// `ip kube-proxy` / `ip6 kube-proxy`: map `service-ips`.
    KubeProxy,
}

impl RuleTable {
    /// The verdict maps keyed by `ADDRESS . PROTO . PORT` for `address`'s family.
    fn maps(self, address: IpAddr) -> &'static [&'static str] {
        match (self, address) {
            (RuleTable::Ferrolb, IpAddr::V4(_)) => &["service_ips4"],
            (RuleTable::Ferrolb, IpAddr::V6(_)) => &["service_ips6"],
            (RuleTable::KubeProxy, _) => &["service-ips"],
        }
    }
}

/// One port of the address as the kernel's table has it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortRules {
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: Protocol,
    /// The Service port.
    pub port: u16,
    /// Where new connections are sent, `IP:PORT` (`[IPv6]:PORT`), sorted; empty when the
    /// rules drop or reject.
    pub endpoints: Vec<String>,
}

/// What `/debug/rules` answers (200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RulesReport {
    /// This node.
    pub node: String,
    /// The address asked about.
    pub address: IpAddr,
    /// ferrolb's table, `inet ferrolb`.
    pub ferrolb: TableRules,
    /// kube-proxy's table for the address's family, `ip kube-proxy` or `ip6 kube-proxy`.
    pub kube_proxy: TableRules,
}

/// One table's rules for the address, as the kernel has them now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableRules {
    /// `FAMILY NAME`, e.g. `inet ferrolb`.
    pub table: String,
    /// The table exists (a missing table is no error: kube-proxy may not run here, ferrolb
    /// may be announce-only).
    pub present: bool,
    /// The address's ports in it, sorted by protocol and port.
    pub ports: Vec<PortRules>,
}

/// kube-proxy's nftables table for `address`'s family: `("ip", "kube-proxy")` or
/// `("ip6", "kube-proxy")`.
pub fn kube_proxy_table(address: IpAddr) -> (&'static str, &'static str) {
    match address {
        IpAddr::V4(_) => ("ip", "kube-proxy"),
        IpAddr::V6(_) => ("ip6", "kube-proxy"),
    }
}

/// [`TableRules`] of table `family name` from its listing (`None`: the table does not exist).
pub fn table_rules(
    (family, name): (&str, &str),
    listing: Option<&str>,
    kind: RuleTable,
    address: IpAddr,
) -> Result<TableRules, String> {
    let ports = match listing {
        Some(json) => ports_for(json, kind, address)?,
        None => Vec::new(),
    };
    Ok(TableRules {
        table: format!("{family} {name}"),
        present: listing.is_some(),
        ports,
    })
}

/// The ports of `address` in the table listed as `json` (`nft -j list table …`), sorted by
/// protocol and port. An error names what could not be read.
pub fn ports_for(json: &str, table: RuleTable, address: IpAddr) -> Result<Vec<PortRules>, String> {
    let doc: Value = serde_json::from_str(json).map_err(|e| format!("nft JSON: {e}"))?;
    let objects = doc
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or("nft JSON without an \"nftables\" array")?;
    let mut ports = Vec::new();
    for map in objects.iter().filter_map(|o| o.get("map")) {
        let name = map.get("name").and_then(Value::as_str).unwrap_or_default();
        if !table.maps(address).contains(&name) {
            continue;
        }
        let elems = map.get("elem").and_then(Value::as_array);
        for elem in elems.into_iter().flatten() {
            let Some((ip, protocol, port, verdict)) = map_element(elem) else {
                continue;
            };
            if ip != address {
                continue;
            }
            let mut endpoints = BTreeSet::new();
            let mut seen = BTreeSet::new();
            if let Some(target) = chain_target(verdict) {
                let destination = Destination {
                    objects,
                    address,
                    port,
                };
                walk(&destination, target, 0, &mut seen, &mut endpoints);
            }
            ports.push(PortRules {
                protocol,
                port,
                endpoints: sort_endpoints(endpoints),
            });
        }
    }
    ports.sort();
    Ok(ports)
}

/// `[KEY, VERDICT]` of a verdict map, the key `{"concat": [IP, PROTO, PORT]}`, possibly
/// wrapped as `{"elem": {"val": …, "comment": …}}`.
fn map_element(elem: &Value) -> Option<(IpAddr, Protocol, u16, &Value)> {
    let [key, verdict] = elem.as_array()?.as_slice() else {
        return None;
    };
    let key = key.get("elem").and_then(|e| e.get("val")).unwrap_or(key);
    let [ip, proto, port] = key.get("concat")?.as_array()?.as_slice() else {
        return None;
    };
    let ip: IpAddr = ip.as_str()?.parse().ok()?;
    let protocol = match proto.as_str()? {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        "sctp" => Protocol::Sctp,
        _ => return None,
    };
    Some((ip, protocol, number(port)?, verdict))
}

/// A port as nft prints it: a number (or a numeric string).
fn number(v: &Value) -> Option<u16> {
    match v {
        Value::Number(n) => u16::try_from(n.as_u64()?).ok(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The chain a `{"jump": …}` or `{"goto": …}` verdict goes to.
fn chain_target(verdict: &Value) -> Option<&str> {
    ["goto", "jump"]
        .iter()
        .find_map(|k| verdict.get(k)?.get("target")?.as_str())
}

/// The table and the address and port whose rules are walked.
struct Destination<'a> {
    objects: &'a [Value],
    address: IpAddr,
    port: u16,
}

/// Collects the endpoints reachable from chain `name`: its own name if it is a kube-proxy
/// endpoint chain, every `dnat` of its rules, and (recursively) the chains its rules' verdicts
/// go to, except rules matching on the source.
fn walk<'a>(
    destination: &Destination<'a>,
    name: &'a str,
    depth: usize,
    seen: &mut BTreeSet<&'a str>,
    endpoints: &mut BTreeSet<SocketAddr>,
) {
    if depth >= MAX_DEPTH || !seen.insert(name) {
        return;
    }
    endpoints.extend(endpoint_chain(name));
    let rules = destination
        .objects
        .iter()
        .filter_map(|o| o.get("rule"))
        .filter(|r| r.get("chain").and_then(Value::as_str) == Some(name));
    for rule in rules {
        let exprs = rule.get("expr").and_then(Value::as_array);
        let exprs = exprs.map(Vec::as_slice).unwrap_or_default();
        if exprs.iter().any(matches_source) {
            continue;
        }
        let mut next = Vec::new();
        for expr in exprs {
            if let Some(dnat) = expr.get("dnat") {
                endpoints.extend(dnat_endpoints(dnat));
                endpoints.extend(dnat_map_endpoints(dnat, destination));
            }
            if let Some(target) = chain_target(expr) {
                next.push(target);
            }
            if let Some(set) = expr.get("vmap").and_then(|v| v.get("data")?.get("set")) {
                let pairs = set.as_array().into_iter().flatten();
                next.extend(pairs.filter_map(|p| chain_target(p.as_array()?.get(1)?)));
            }
        }
        for target in next {
            walk(destination, target, depth + 1, seen, endpoints);
        }
    }
}

/// Whether a rule expression matches on the packet's source (address or `fib saddr`).
fn matches_source(expr: &Value) -> bool {
    let Some(left) = expr.get("match").and_then(|m| m.get("left")) else {
        return false;
    };
    let payload_saddr = left.get("payload").and_then(|p| p.get("field")) == Some(&"saddr".into());
    let fib_saddr = left
        .get("fib")
        .and_then(|f| f.get("flags"))
        .and_then(Value::as_array)
        .is_some_and(|flags| flags.iter().any(|f| f == "saddr"));
    payload_saddr || fib_saddr
}

/// The endpoints of a `dnat` statement: `{"addr": IP, "port": N}`, or kube-proxy's
/// `{"addr": {"map": {"data": {"set": [[0, {"concat": [IP, PORT]}], …]}}}}`.
fn dnat_endpoints(dnat: &Value) -> Vec<SocketAddr> {
    let addr = dnat.get("addr");
    if let (Some(ip), Some(port)) = (addr.and_then(Value::as_str), dnat.get("port")) {
        return socket(ip, port).into_iter().collect();
    }
    let set = addr
        .and_then(|a| a.get("map")?.get("data")?.get("set")?.as_array())
        .into_iter()
        .flatten();
    set.filter_map(|pair| {
        let [ip, port] = pair
            .as_array()?
            .get(1)?
            .get("concat")?
            .as_array()?
            .as_slice()
        else {
            return None;
        };
        socket(ip.as_str()?, port)
    })
    .collect()
}

/// The endpoints of ferrolb's `dnat … to ip daddr . tcp dport . numgen random mod N offset O
/// map @NAME`: the elements of map NAME keyed `ADDRESS . PORT . INDEX` (NodePort maps:
/// `PORT . INDEX`) with the destination's address and port and INDEX in `O..O+N`.
fn dnat_map_endpoints(dnat: &Value, destination: &Destination<'_>) -> Vec<SocketAddr> {
    let Some(lookup) = dnat.get("addr").and_then(|a| a.get("map")) else {
        return Vec::new();
    };
    let Some(name) = lookup
        .get("data")
        .and_then(Value::as_str)
        .and_then(|data| data.strip_prefix('@'))
    else {
        return Vec::new();
    };
    let key = lookup.get("key").and_then(|k| k.get("concat")?.as_array());
    let key = key.map(Vec::as_slice).unwrap_or_default();
    let Some((modulus, offset)) = key.iter().find_map(|part| {
        let numgen = part.get("numgen")?;
        Some((
            numgen.get("mod")?.as_i64()?,
            numgen.get("offset").and_then(Value::as_i64).unwrap_or(0),
        ))
    }) else {
        return Vec::new();
    };
    // nft's JSON prints an offset of 2^31 or more as a negative number.
    let first = offset.rem_euclid(1 << 32);
    let by_address = key
        .first()
        .and_then(|part| part.get("payload")?.get("field")?.as_str())
        == Some("daddr");
    let map = destination
        .objects
        .iter()
        .filter_map(|o| o.get("map"))
        .find(|map| map.get("name").and_then(Value::as_str) == Some(name));
    let elements = map
        .and_then(|m| m.get("elem")?.as_array())
        .into_iter()
        .flatten();
    elements
        .filter_map(|element| {
            let [key, data] = element.as_array()?.as_slice() else {
                return None;
            };
            let key = key.get("elem").and_then(|e| e.get("val")).unwrap_or(key);
            let key = key.get("concat")?.as_array()?;
            let (address, rest) = if by_address {
                let (address, rest) = key.split_first()?;
                (Some(address.as_str()?.parse::<IpAddr>().ok()?), rest)
            } else {
                (None, key.as_slice())
            };
            let [port, index] = rest else {
                return None;
            };
            let index = index.as_i64()?.rem_euclid(1 << 32);
            let wanted = address.is_none_or(|a| a == destination.address)
                && number(port) == Some(destination.port)
                && (first..first + modulus).contains(&index);
            let [ip, target] = data.get("concat")?.as_array()?.as_slice() else {
                return None;
            };
            socket(ip.as_str()?, target).filter(|_| wanted)
        })
        .collect()
}

fn socket(ip: &str, port: &Value) -> Option<SocketAddr> {
    Some(SocketAddr::new(ip.parse().ok()?, number(port)?))
}

/// The endpoint a kube-proxy chain `endpoint-HASH-NS/SVC/PROTO/PORTNAME__IP/PORT` names
/// (`:` of an IPv6 address written `.`), `None` for any other chain.
fn endpoint_chain(name: &str) -> Option<SocketAddr> {
    let rest = name.strip_prefix("endpoint-")?;
    let (_, endpoint) = rest.rsplit_once("__")?;
    let (ip, port) = endpoint.rsplit_once('/')?;
    let ip: IpAddr = ip.parse().or_else(|_| ip.replace('.', ":").parse()).ok()?;
    Some(SocketAddr::new(ip, port.parse().ok()?))
}

/// `IP:PORT` / `[IPv6]:PORT`, sorted by address then port.
fn sort_endpoints(endpoints: BTreeSet<SocketAddr>) -> Vec<String> {
    endpoints.into_iter().map(|e| e.to_string()).collect()
}
