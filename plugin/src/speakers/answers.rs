//! What the speakers answer the plugin, as the plugin reads it (pure types): the parts of
//! `/debug/state` it uses, `/debug/probe` (ARP/NDP on the LAN) and `/debug/rules` (the kernel's
//! rules for an address), and a healthCheckNodePort's answer (kube-proxy's format).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ferrolb_speaker::election::IpDecision;
use serde::Deserialize;

/// A fetch that may have failed: the error says what and why (shown as evidence).
pub type Fetched<T> = Result<T, String>;

/// The parts of a speaker's `/debug/state` the plugin uses.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SpeakerState {
    /// The node's desired state.
    pub desired: DesiredView,
    /// Runtime facts.
    pub observed: ObservedView,
}

/// `desired`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredView {
    /// The speaker's node.
    pub node: String,
    /// What it answers ARP/NDP for: interface → addresses.
    #[serde(default)]
    pub announce: BTreeMap<String, BTreeSet<IpAddr>>,
    /// The election as this speaker computed it.
    #[serde(default)]
    pub election: ElectionView,
}

/// `desired.election`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ElectionView {
    /// Every address's decision.
    #[serde(default)]
    pub per_ip: BTreeMap<IpAddr, IpDecision>,
}

/// `observed`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedView {
    /// The dataplane decision.
    #[serde(default)]
    pub dataplane: DataplaneView,
    /// The gossip membership as this speaker sees it.
    #[serde(default)]
    pub gossip: GossipView,
}

/// `observed.dataplane`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataplaneView {
    /// The speaker programs table `inet ferrolb` (else kube-proxy is expected to).
    #[serde(default)]
    pub enabled: bool,
}

/// `observed.gossip`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GossipView {
    /// This speaker's node.
    #[serde(default)]
    pub local: String,
    /// Every member it knows.
    #[serde(default)]
    pub nodes: BTreeMap<String, Member>,
}

/// One gossip member.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Member {
    /// Whether this speaker sees it alive.
    #[serde(default)]
    pub alive: bool,
    /// Its interfaces' names.
    #[serde(default)]
    pub interfaces: Vec<String>,
}

impl SpeakerState {
    /// The nodes this speaker sees alive (itself included).
    pub fn live(&self) -> BTreeSet<String> {
        let g = &self.observed.gossip;
        g.nodes
            .iter()
            .filter(|(_, m)| m.alive)
            .map(|(n, _)| n.clone())
            .chain((!g.local.is_empty()).then(|| g.local.clone()))
            .collect()
    }
}

/// Each speaker whose state was read, with the nodes it sees alive.
pub fn lives(states: &BTreeMap<String, Fetched<SpeakerState>>) -> BTreeMap<&str, BTreeSet<String>> {
    states
        .iter()
        .filter_map(|(n, s)| Some((n.as_str(), s.as_ref().ok()?.live())))
        .collect()
}

/// The live set every speaker in `lives` sees, when some were read and they all agree.
pub fn agreed<'a>(lives: &'a BTreeMap<&str, BTreeSet<String>>) -> Option<&'a BTreeSet<String>> {
    let mut sets = lives.values();
    let first = sets.next()?;
    sets.all(|l| l == first).then_some(first)
}

/// Per address, the speakers (whose state was read) that answer for it.
pub fn answering(
    states: &BTreeMap<String, Fetched<SpeakerState>>,
) -> BTreeMap<IpAddr, BTreeSet<&str>> {
    let mut out: BTreeMap<IpAddr, BTreeSet<&str>> = BTreeMap::new();
    for (node, s) in states {
        let Ok(s) = s else { continue };
        for ip in s.desired.announce.values().flatten() {
            out.entry(*ip).or_default().insert(node.as_str());
        }
    }
    out
}

/// `/debug/probe`: one ARP request / Neighbor Solicitation for an address from one node, and
/// every answer seen within the window (the node's own answers are not seen on its socket).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeAnswer {
    /// The probing node.
    pub node: String,
    /// The probed address.
    pub address: String,
    /// Whether this node's desired state answers for the address.
    pub announced: bool,
    /// Where the probe went, with this node's MAC there.
    #[serde(default)]
    pub interfaces: Vec<ProbeInterface>,
    /// Every answer, in order, not deduplicated.
    #[serde(default)]
    pub answers: Vec<WireAnswer>,
}

/// An interface a probe went out of.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProbeInterface {
    /// Its name.
    pub name: String,
    /// This node's MAC on it.
    pub mac: String,
}

/// One ARP reply / Neighbor Advertisement.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireAnswer {
    /// Where it arrived.
    pub interface: String,
    /// Who answered.
    pub mac: String,
}

/// `/debug/rules`: the kernel's rules for an address on one node.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RulesAnswer {
    /// The node.
    pub node: String,
    /// ferrolb's table.
    pub ferrolb: TableRules,
    /// kube-proxy's nftables table.
    pub kube_proxy: TableRules,
}

/// One table's rules for the address.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TableRules {
    /// The table, e.g. `inet ferrolb`.
    #[serde(default)]
    pub table: String,
    /// Whether it exists.
    pub present: bool,
    /// The address's ports in it.
    #[serde(default)]
    pub ports: Vec<PortRules>,
}

/// One port of the address and where its rules send traffic.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct PortRules {
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// The port.
    pub port: u16,
    /// `IP:PORT` of every endpoint, sorted.
    #[serde(default)]
    pub endpoints: Vec<String>,
}

/// A healthCheckNodePort's answer (kube-proxy's `pkg/proxy/healthcheck` format).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HealthAnswer {
    /// The HTTP status (200: local endpoints; 503: none).
    #[serde(skip)]
    pub status: u16,
    /// Local endpoints the node counts.
    #[serde(default)]
    pub local_endpoints: u32,
}
