//! Deterministic, valid nft object names for per-Service chains and sets.
//!
//! A name carries a readable part (sanitised namespace, name, protocol and
//! port) for people reading `nft list ruleset`, and a short stable hash of the
//! exact, unsanitised identity so that sanitising or truncating never makes two
//! Services collide. Every name starts with a fixed lowercase prefix, so it is
//! never an nft keyword, and stays far below nft's 256-byte limit.

use std::fmt::Write as _;
use std::net::IpAddr;

use ferrolb_core::{IpFamily, Protocol, ServiceKey};

/// Longest readable namespace or name fragment kept in an object name.
const MAX_FRAGMENT: usize = 20;

/// nft spellings of an address family.
pub trait NftFamily {
    /// nft payload keyword: `ip` or `ip6`.
    fn payload(self) -> &'static str;
    /// nft address type: `ipv4_addr` or `ipv6_addr`.
    fn addr_type(self) -> &'static str;
    /// Digit used in object names: `4` or `6`.
    fn digit(self) -> char;
}

impl NftFamily for IpFamily {
    fn payload(self) -> &'static str {
        match self {
            IpFamily::V4 => "ip",
            IpFamily::V6 => "ip6",
        }
    }

    fn addr_type(self) -> &'static str {
        match self {
            IpFamily::V4 => "ipv4_addr",
            IpFamily::V6 => "ipv6_addr",
        }
    }

    fn digit(self) -> char {
        match self {
            IpFamily::V4 => '4',
            IpFamily::V6 => '6',
        }
    }
}

/// nft spelling of a transport protocol.
pub trait NftProtocol {
    /// The nft keyword (`tcp`, `udp`, `sctp`), also used in chain names.
    fn nft_name(self) -> &'static str;
}

impl NftProtocol for Protocol {
    fn nft_name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// 64-bit FNV-1a: tiny, stable across Rust versions and platforms (unlike
/// `DefaultHasher`), which keeps names identical between speaker releases.
pub(super) fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (index, part) in parts.iter().enumerate() {
        if index > 0 {
            // Separator byte that cannot occur in names, so ("ab","c") != ("a","bc").
            hash ^= 0xff;
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        for byte in part.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// Keeps `[a-z0-9-]` (lowercased), maps everything else to `_`, truncates to
/// [`MAX_FRAGMENT`] characters.
pub(super) fn sanitize(fragment: &str) -> String {
    fragment
        .chars()
        .take(MAX_FRAGMENT)
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-') => c,
            _ => '_',
        })
        .collect()
}

/// Text safe inside an nft `#` comment: printable ASCII without newlines.
pub(super) fn comment_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// Address with `.`/`:` replaced by `_` (injective: `_` never occurs in an
/// address), for use inside a name.
fn addr_fragment(ip: &IpAddr) -> String {
    ip.to_string().replace(['.', ':'], "_")
}

/// Readable, collision-proof identity of one Service port, e.g.
/// `default_web_tcp80_1a2b3c4d`.
pub(super) fn service_port_id(key: &ServiceKey, protocol: Protocol, port: u16) -> String {
    let port_text = port.to_string();
    let hash = fnv1a(&[&key.namespace, &key.name, protocol.nft_name(), &port_text]);
    format!(
        "{}_{}_{}{}_{:08x}",
        sanitize(&key.namespace),
        sanitize(&key.name),
        protocol.nft_name(),
        port,
        hash & 0xffff_ffff
    )
}

/// Readable, collision-proof identity of one Service, e.g. `default_web_1a2b3c4d`.
pub(super) fn service_id(key: &ServiceKey) -> String {
    let hash = fnv1a(&[&key.namespace, &key.name]);
    format!(
        "{}_{}_{:08x}",
        sanitize(&key.namespace),
        sanitize(&key.name),
        hash & 0xffff_ffff
    )
}

/// Entry chain of a Service port for one family (VIPs and NodePort).
pub(super) fn service_chain(family: IpFamily, port_id: &str) -> String {
    format!("svc{}_{port_id}", family.digit())
}

/// Cluster-wide endpoint chain of an `externalTrafficPolicy: Local` Service
/// port, used for traffic the node itself originates.
pub(super) fn cluster_chain(family: IpFamily, port_id: &str) -> String {
    format!("clu{}_{port_id}", family.digit())
}

/// Source-range (firewall) chain of a Service for one family.
pub(super) fn firewall_chain(family: IpFamily, service_id: &str) -> String {
    format!("fw{}_{service_id}", family.digit())
}

/// Dynamic affinity set remembering the clients last sent to one endpoint.
pub(super) fn affinity_set(port_id: &str, ip: &IpAddr, target: u16) -> String {
    let mut name = format!("aff{}_{port_id}_", IpFamily::of(ip).digit());
    name.push_str(&addr_fragment(ip));
    let _ = write!(name, "_{target}");
    name
}
