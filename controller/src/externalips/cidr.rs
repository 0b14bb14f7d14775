//! Strict parsing of externalIP strings and CIDR lists, with fix-it hints.
//!
//! Nothing is trimmed or guessed: `" 192.0.2.1"`, `"010.0.0.1"` or `"192.0.2.1/32"`
//! are refused with a message that says what to write instead.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;

/// Longest user-supplied value echoed in a message, in characters.
const MAX_SHOWN: usize = 64;

const EXAMPLE_ADDRESS: &str =
    "write a single IPv4 or IPv6 address such as 192.0.2.10 or 2001:db8::10";

/// Quotes a user-supplied value for a message: escapes control characters and
/// shortens values longer than 64 characters.
pub(super) fn quoted(value: &str) -> String {
    let count = value.chars().count();
    if count <= MAX_SHOWN {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(MAX_SHOWN).collect();
        format!("{head:?}... ({count} characters)")
    }
}

/// Parses one `spec.externalIPs` entry exactly as written. On failure returns the
/// reason, phrased "it ...; write ...", for a [`super::verdict::Rule::Malformed`] refusal.
pub(super) fn parse_external_ip(written: &str) -> Result<IpAddr, String> {
    written
        .parse::<IpAddr>()
        .map_err(|_| malformed_reason(written))
}

fn malformed_reason(written: &str) -> String {
    if written.is_empty() {
        return format!("it is empty; {EXAMPLE_ADDRESS}");
    }
    let trimmed = written.trim();
    if trimmed.is_empty() {
        return format!("it is only whitespace; {EXAMPLE_ADDRESS}");
    }
    if trimmed != written {
        return match trimmed.parse::<IpAddr>() {
            Ok(ip) => format!("it has leading or trailing whitespace; write it as {ip}"),
            Err(_) => format!("it has leading or trailing whitespace; {EXAMPLE_ADDRESS}"),
        };
    }
    if let Some((addr, _)) = written.split_once('/')
        && let Ok(ip) = addr.parse::<IpAddr>()
    {
        return format!(
            "it is a CIDR range, but an externalIP is a single address; \
             list each address on its own, e.g. {ip}"
        );
    }
    if let Some((addr, _)) = written.split_once('%')
        && let Ok(ip) = addr.parse::<Ipv6Addr>()
    {
        return format!(
            "it carries an IPv6 zone index, which externalIPs do not take; write it as {ip}"
        );
    }
    if let Some(inner) = written.strip_prefix('[').and_then(|s| s.strip_suffix(']'))
        && let Ok(ip) = inner.parse::<Ipv6Addr>()
    {
        return format!("it is wrapped in brackets; write it as {ip}");
    }
    if let Ok(sock) = written.parse::<SocketAddr>() {
        return format!(
            "it includes a port; write only the address {} and put the port in spec.ports",
            sock.ip()
        );
    }
    if let Some(decimal) = leading_zero_ipv4(written) {
        return format!(
            "an octet has a leading zero, which some software reads as octal and some as \
             decimal; write it without leading zeros (read as decimal it is {decimal})"
        );
    }
    format!("it is not an IPv4 or IPv6 address; {EXAMPLE_ADDRESS}")
}

/// `Some(decimal form)` when `s` is a dotted quad whose octets are decimal numbers
/// up to 255 and at least one has a leading zero (`010.0.0.1`).
fn leading_zero_ipv4(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split('.').collect();
    let well_formed = parts.len() == 4
        && parts
            .iter()
            .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    if !well_formed || !parts.iter().any(|p| p.len() > 1 && p.starts_with('0')) {
        return None;
    }
    let octets: Option<Vec<String>> = parts
        .iter()
        .map(|p| p.parse::<u8>().ok().map(|o| o.to_string()))
        .collect();
    octets.map(|o| o.join("."))
}

/// Why one CIDR entry was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, thiserror::Error)]
pub enum CidrProblem {
    /// Not parseable as `address/prefix-length` (or a bare address).
    #[error(
        "is not a valid CIDR ({reason}); write it as address/prefix-length, \
         e.g. 192.0.2.0/24 or 2001:db8::/64"
    )]
    Invalid {
        /// What exactly is wrong.
        reason: String,
    },
    /// Bits are set after the prefix (`10.0.0.1/8`), so the intended range is unclear.
    #[error(
        "has address bits set past its /{prefix} prefix, so the intended range is unclear; \
         write it as {network}"
    )]
    HostBitsSet {
        /// The prefix length written.
        prefix: u8,
        /// The network the entry truncates to.
        network: IpNet,
    },
    /// An IPv6 CIDR inside `::ffff:0:0/96`; addresses are judged in IPv4 form, so it
    /// would never match.
    #[error(
        "is written in IPv4-mapped IPv6 form, which never matches because such addresses \
         are judged in their IPv4 form; write it as {ipv4}"
    )]
    Ipv4Mapped {
        /// The equivalent IPv4 network.
        ipv4: IpNet,
    },
}

impl CidrProblem {
    /// The network a list of *protected* ranges (Service CIDRs) should still cover
    /// despite the problem: the corrected form, or `None` if nothing sensible was written.
    pub fn corrected(&self) -> Option<IpNet> {
        match self {
            CidrProblem::Invalid { .. } => None,
            CidrProblem::HostBitsSet { network, .. } => Some(*network),
            CidrProblem::Ipv4Mapped { ipv4 } => Some(*ipv4),
        }
    }
}

/// A bad entry in a CIDR list (e.g. an ExternalIPPolicy's `allowedCIDRs`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, thiserror::Error)]
#[error("entry {index} {} {problem}", quoted(.value))]
pub struct PolicyError {
    /// Zero-based position of the entry in the list.
    pub index: usize,
    /// The entry as written.
    pub value: String,
    /// What is wrong with it.
    pub problem: CidrProblem,
}

/// Parses one CIDR strictly: `address/prefix-length`, or a bare address meaning a
/// single host (`/32` or `/128`). No whitespace, no host bits, no IPv4-mapped form.
pub fn parse_cidr(value: &str) -> Result<IpNet, CidrProblem> {
    let invalid = |reason: String| CidrProblem::Invalid { reason };
    if value.is_empty() {
        return Err(invalid("it is empty".into()));
    }
    if value.trim() != value {
        return Err(invalid("it has leading or trailing whitespace".into()));
    }
    let (addr_text, prefix_text) = match value.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (value, None),
    };
    let addr: IpAddr = addr_text.parse().map_err(|_| {
        invalid(format!(
            "the address part {} is not an IP address",
            quoted(addr_text)
        ))
    })?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix_text {
        None => max,
        Some(p) => {
            let digits = !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit());
            match p.parse::<u8>() {
                Ok(n) if digits && n <= max => n,
                _ => {
                    return Err(invalid(format!(
                        "the prefix length {} is not a number from 0 to {max}",
                        quoted(p)
                    )));
                }
            }
        }
    };
    let net = IpNet::new(addr, prefix)
        .map_err(|_| invalid(format!("the prefix length {prefix} is over {max}")))?;
    if net.trunc() != net {
        return Err(CidrProblem::HostBitsSet {
            prefix,
            network: net.trunc(),
        });
    }
    if let IpNet::V6(v6) = net
        && prefix >= 96
        && let Some(v4) = v6.network().to_ipv4_mapped()
        && let Ok(ipv4) = IpNet::new(IpAddr::V4(v4), prefix - 96)
    {
        return Err(CidrProblem::Ipv4Mapped { ipv4 });
    }
    Ok(net)
}

/// Parses a CIDR list (an ExternalIPPolicy's `allowedCIDRs`): returns the good entries in
/// the order written and one [`PolicyError`] per bad entry. Bad entries grant nothing.
pub fn parse_cidr_list(values: &[String]) -> (Vec<IpNet>, Vec<PolicyError>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (index, value) in values.iter().enumerate() {
        match parse_cidr(value) {
            Ok(net) => good.push(net),
            Err(problem) => bad.push(PolicyError {
                index,
                value: value.clone(),
                problem,
            }),
        }
    }
    (good, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(value: &str) -> String {
        let (good, bad) = parse_cidr_list(&[value.to_string()]);
        assert!(good.is_empty(), "{value} unexpectedly accepted");
        bad[0].to_string()
    }

    #[test]
    fn good_entries_apply_and_bad_ones_are_reported() {
        let list: Vec<String> = ["192.0.2.0/24", "nope", "2001:db8::/64", "198.51.100.7"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (good, bad) = parse_cidr_list(&list);
        let shown: Vec<String> = good.iter().map(|n| n.to_string()).collect();
        assert_eq!(shown, ["192.0.2.0/24", "2001:db8::/64", "198.51.100.7/32"]);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].index, 1);
    }

    #[test]
    fn cidr_error_messages() {
        let fix = "write it as address/prefix-length, e.g. 192.0.2.0/24 or 2001:db8::/64";
        assert_eq!(
            err(""),
            format!("entry 0 \"\" is not a valid CIDR (it is empty); {fix}")
        );
        assert_eq!(
            err(" 10.0.0.0/8"),
            format!(
                "entry 0 \" 10.0.0.0/8\" is not a valid CIDR \
                 (it has leading or trailing whitespace); {fix}"
            )
        );
        assert_eq!(
            err("10.0.0.0/33"),
            format!(
                "entry 0 \"10.0.0.0/33\" is not a valid CIDR \
                 (the prefix length \"33\" is not a number from 0 to 32); {fix}"
            )
        );
        assert_eq!(
            err("10.0.0.0/+8"),
            format!(
                "entry 0 \"10.0.0.0/+8\" is not a valid CIDR \
                 (the prefix length \"+8\" is not a number from 0 to 32); {fix}"
            )
        );
        assert_eq!(
            err("10.0.0/8"),
            format!(
                "entry 0 \"10.0.0/8\" is not a valid CIDR \
                 (the address part \"10.0.0\" is not an IP address); {fix}"
            )
        );
        assert_eq!(
            err("10.0.0.1/8"),
            "entry 0 \"10.0.0.1/8\" has address bits set past its /8 prefix, so the intended \
             range is unclear; write it as 10.0.0.0/8"
        );
        assert_eq!(
            err("2001:db8::1/64"),
            "entry 0 \"2001:db8::1/64\" has address bits set past its /64 prefix, so the \
             intended range is unclear; write it as 2001:db8::/64"
        );
        assert_eq!(
            err("::ffff:192.0.2.0/120"),
            "entry 0 \"::ffff:192.0.2.0/120\" is written in IPv4-mapped IPv6 form, which never \
             matches because such addresses are judged in their IPv4 form; \
             write it as 192.0.2.0/24"
        );
    }

    #[test]
    fn corrected_forms_for_protected_ranges() {
        assert_eq!(
            parse_cidr("10.96.0.1/12").unwrap_err().corrected(),
            Some("10.96.0.0/12".parse().unwrap())
        );
        assert_eq!(
            parse_cidr("::ffff:10.96.0.0/108").unwrap_err().corrected(),
            Some("10.96.0.0/12".parse().unwrap())
        );
        assert_eq!(parse_cidr("x").unwrap_err().corrected(), None);
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let long = "a".repeat(100);
        let shown = quoted(&long);
        assert!(shown.ends_with("... (100 characters)"), "{shown}");
        assert!(shown.len() < 100);
        assert_eq!(quoted("a\nb"), "\"a\\nb\"");
    }

    #[test]
    fn external_ip_parsing_is_strict() {
        assert!(parse_external_ip("192.0.2.1").is_ok());
        assert!(parse_external_ip("::ffff:192.0.2.1").is_ok());
        for bad in [
            "",
            " 192.0.2.1",
            "192.0.2.1/32",
            "010.0.0.1",
            "[::1]",
            "1.2.3.4:80",
        ] {
            assert!(parse_external_ip(bad).is_err(), "{bad:?} accepted");
        }
    }
}
