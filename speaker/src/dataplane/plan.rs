//! Pure decisions of the applier: full replacement or update, which
//! conntrack entries to delete, and how to read the tools' answers.

use std::fmt;
use std::net::IpAddr;

use crate::ruleset::{NeedsReplacement, Ruleset, SYNC_TOKEN_SET, TABLE, stale_udp_endpoints};

/// Why the whole table is replaced instead of updated in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FullReason {
    /// Nothing applied yet by this applier (first sync after start).
    NothingApplied,
    /// The table is not in the kernel (deleted by someone, or never created).
    TableMissing,
    /// The table was written by someone else since the last sync (it lacks
    /// the token of the last full write).
    TableReplaced,
    /// The in-place update was refused; nft's message.
    UpdateFailed(String),
    /// The change cannot be expressed in place.
    Incompatible(NeedsReplacement),
}

impl fmt::Display for FullReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FullReason::NothingApplied => f.write_str("first sync"),
            FullReason::TableMissing => write!(f, "table inet {TABLE} is missing"),
            FullReason::TableReplaced => {
                write!(f, "table inet {TABLE} was recreated by someone else")
            }
            FullReason::UpdateFailed(error) => write!(f, "the in-place update failed: {error}"),
            FullReason::Incompatible(why) => write!(f, "{why}"),
        }
    }
}

/// How a sync programmed the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncMode {
    /// Atomic replacement of the whole table ([`Ruleset::to_nft_script`]).
    Full(FullReason),
    /// Atomic in-place update carrying only the difference
    /// ([`Ruleset::to_nft_update_script`]), keeping ClientIP affinity state.
    Update,
    /// Atomic in-place rewrite of every rule and map
    /// ([`Ruleset::to_nft_resync_script`]), keeping ClientIP affinity state;
    /// done periodically so hand edits inside the table do not last.
    Resync,
}

/// Full or update, from the token written with the last full write (`None`:
/// nothing applied) and the tokens found in the kernel (`None`: the table or
/// its token set is missing).
///
/// A table deleted (e.g. `nft flush ruleset`) or written by someone else has
/// lost the token. Edits inside the table that keep it (a rule added by hand)
/// are not detected: an update that trips over them is refused and the
/// applier replaces the table; others last until the next periodic resync.
pub fn choose_mode(recorded: Option<u32>, kernel: Option<&[u32]>) -> SyncMode {
    match (recorded, kernel) {
        (None, _) => SyncMode::Full(FullReason::NothingApplied),
        (Some(_), None) => SyncMode::Full(FullReason::TableMissing),
        (Some(token), Some(found)) if found != [token] => SyncMode::Full(FullReason::TableReplaced),
        (Some(_), Some(_)) => SyncMode::Update,
    }
}

/// One `conntrack -D` to run: UDP flows DNATed to an endpoint that no longer
/// receives new flows.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConntrackDeletion {
    /// Endpoint address (reply source of the flow).
    pub ip: IpAddr,
    /// Endpoint port (reply source port).
    pub port: u16,
}

impl ConntrackDeletion {
    /// `conntrack` arguments. The flow's reply comes from the endpoint, and
    /// `--dst-nat` (without address: "was destination-NATed") keeps direct,
    /// non-Service traffic to the same pod. This covers VIP and NodePort
    /// flows alike; the family follows the address. `--dst-nat` comes last
    /// because its address is optional.
    pub fn args(&self) -> Vec<String> {
        vec![
            "-D".to_string(),
            "-p".to_string(),
            "udp".to_string(),
            "--reply-src".to_string(),
            self.ip.to_string(),
            "--reply-port-src".to_string(),
            self.port.to_string(),
            "--dst-nat".to_string(),
        ]
    }
}

/// Deletions needed after going from `old` (last applied) to `new`: one per
/// UDP endpoint that stopped receiving new flows for some Service port.
pub fn conntrack_deletions(old: &Ruleset, new: &Ruleset) -> Vec<ConntrackDeletion> {
    stale_udp_endpoints(old, new)
        .into_iter()
        .map(|(ip, port)| ConntrackDeletion { ip, port })
        .collect()
}

/// Number of flows `conntrack -D` reports as deleted ("N flow entries have
/// been deleted."), whatever its exit status: it exits 1 when nothing
/// matched, which is success here. `None` when the line is absent (a real
/// failure; show stderr).
pub fn deleted_flow_count(stderr: &str) -> Option<usize> {
    stderr.lines().find_map(|line| {
        let (_, rest) = line.split_once("): ")?;
        let count = rest.strip_suffix(" flow entries have been deleted.")?;
        count.trim().parse().ok()
    })
}

/// Elements of set [`SYNC_TOKEN_SET`] in the output of
/// `nft -j list set inet ferrolb sync_token`.
pub fn sync_tokens(json: &str) -> Result<Vec<u32>, String> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|error| format!("not JSON: {error}"))?;
    let entries = value
        .get("nftables")
        .and_then(serde_json::Value::as_array)
        .ok_or("no \"nftables\" array")?;
    let set = entries
        .iter()
        .find_map(|entry| entry.get("set"))
        .ok_or_else(|| format!("no set {SYNC_TOKEN_SET} in the listing"))?;
    let Some(elements) = set.get("elem") else {
        return Ok(Vec::new());
    };
    elements
        .as_array()
        .ok_or("\"elem\" is not an array")?
        .iter()
        .map(|element| {
            element
                .as_u64()
                .and_then(|token| u32::try_from(token).ok())
                .ok_or_else(|| format!("not a token: {element}"))
        })
        .collect()
}

/// Whether nft's error text says the object does not exist.
pub fn says_missing(stderr: &str) -> bool {
    stderr.contains("No such file or directory")
}
