//! Output of a review: one verdict per externalIP, plus configuration problems seen.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use super::cidr::PolicyError;
use ferrolb_adapter::selector::SelectorError;

/// The rule that refused an externalIP. Rules are checked in declaration order;
/// the first that matches wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// Not a single plain IP address (`"not-an-ip"`, `""`, `" 1.2.3.4"`, `"1.2.3.0/24"`).
    Malformed,
    /// `0.0.0.0` or `::`.
    Unspecified,
    /// `127.0.0.0/8` or `::1`.
    Loopback,
    /// `169.254.0.0/16` or `fe80::/10`.
    LinkLocal,
    /// `224.0.0.0/4` or `ff00::/8`.
    Multicast,
    /// The IPv4 limited broadcast address `255.255.255.255`.
    Broadcast,
    /// A Node's own address (CVE-2020-8554).
    NodeAddress,
    /// Inside a Service ClusterIP range.
    ServiceCidr,
    /// Inside a VIPPool, whose addresses ferrolb assigns itself.
    IpPool,
    /// Another namespace's Service already holds it (as externalIP or LoadBalancer IP).
    ClaimedByOtherNamespace,
    /// No ExternalIPPolicy exists at all (secure default: refuse everything).
    NoPolicy,
    /// Policies exist, but none that applies to this request contains the address.
    NotAllowedByPolicy,
}

impl Rule {
    /// Every rule, in the order they are checked.
    pub const ALL: [Rule; 12] = [
        Rule::Malformed,
        Rule::Unspecified,
        Rule::Loopback,
        Rule::LinkLocal,
        Rule::Multicast,
        Rule::Broadcast,
        Rule::NodeAddress,
        Rule::ServiceCidr,
        Rule::IpPool,
        Rule::ClaimedByOtherNamespace,
        Rule::NoPolicy,
        Rule::NotAllowedByPolicy,
    ];

    /// Stable kebab-case identifier (for metrics, events, conditions and tests).
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Malformed => "malformed",
            Rule::Unspecified => "unspecified",
            Rule::Loopback => "loopback",
            Rule::LinkLocal => "link-local",
            Rule::Multicast => "multicast",
            Rule::Broadcast => "broadcast",
            Rule::NodeAddress => "node-address",
            Rule::ServiceCidr => "service-cidr",
            Rule::IpPool => "vippool",
            Rule::ClaimedByOtherNamespace => "claimed-by-other-namespace",
            Rule::NoPolicy => "no-policy",
            Rule::NotAllowedByPolicy => "not-allowed-by-policy",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What was decided for one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Allowed; `policy` is the name of an applying ExternalIPPolicy containing the
    /// address (the lexicographically smallest if several do, so the result does not
    /// depend on policy order).
    Allowed {
        /// Name of the ExternalIPPolicy that allows it.
        policy: String,
    },
    /// Refused by `rule`; `message` is one human sentence naming the address, e.g.
    /// `externalIP 198.51.100.11 refused: it is node node-a's address (CVE-2020-8554);
    /// externalIPs may never be a node's address`.
    Refused {
        /// The first rule that matched.
        rule: Rule,
        /// The sentence for the user, without a trailing period.
        message: String,
    },
}

/// The decision for one `spec.externalIPs` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The entry exactly as written.
    pub address: String,
    /// The address as judged: parsed, with IPv4-mapped IPv6 (`::ffff:a.b.c.d`) turned into
    /// IPv4 `a.b.c.d`. `None` when malformed.
    pub ip: Option<IpAddr>,
    /// Allowed or refused.
    pub outcome: Outcome,
}

impl Verdict {
    /// Whether the address is allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self.outcome, Outcome::Allowed { .. })
    }

    /// The refusing rule, if refused.
    pub fn rule(&self) -> Option<Rule> {
        match &self.outcome {
            Outcome::Allowed { .. } => None,
            Outcome::Refused { rule, .. } => Some(*rule),
        }
    }

    /// The refusal sentence, if refused.
    pub fn refusal(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Allowed { .. } => None,
            Outcome::Refused { message, .. } => Some(message),
        }
    }
}

/// A configuration problem noticed during a review. It never makes an address allowed;
/// the shell should surface it (policy status, event, log) so an admin fixes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, thiserror::Error)]
pub enum ConfigProblem {
    /// A bad `allowedCIDRs` entry; it is ignored, the policy's other entries still apply.
    #[error(
        "ExternalIPPolicy {policy}: allowedCIDRs {error}; that entry is ignored, \
         the policy's other entries still apply"
    )]
    PolicyCidr {
        /// The policy's name.
        policy: String,
        /// The bad entry.
        error: PolicyError,
    },
    /// An invalid `namespaceSelector`; the policy applies to no namespace until fixed.
    #[error(
        "ExternalIPPolicy {policy}: namespaceSelector {error}; the policy applies to \
         no namespace until it is fixed"
    )]
    PolicySelector {
        /// The policy's name.
        policy: String,
        /// What is wrong with the selector.
        error: SelectorError,
    },
    /// A bad Service ClusterIP range; when a corrected form exists it is still protected.
    #[error("Service ClusterIP ranges: {error}; {}", protected_note(.protected))]
    ServiceCidr {
        /// The bad entry.
        error: PolicyError,
        /// The range still protected in its place, if any.
        protected: Option<IpNet>,
    },
    /// A VIPPool range whose ends are of different families or reversed; it is ignored.
    #[error(
        "VIPPool {pool}: range {start}-{end} is empty or mixes IPv4 and IPv6, so it \
         protects nothing; write the lower address first, both of one family"
    )]
    PoolRange {
        /// The pool's name.
        pool: String,
        /// The range's first address.
        start: IpAddr,
        /// The range's last address.
        end: IpAddr,
    },
}

fn protected_note(protected: &Option<IpNet>) -> String {
    match protected {
        Some(net) => format!("{net} is protected in its place"),
        None => "it protects nothing until it is fixed".to_string(),
    }
}

/// The result of reviewing a Service's `spec.externalIPs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// One verdict per entry, in the order written.
    pub verdicts: Vec<Verdict>,
    /// Configuration problems seen (sorted, without duplicates). They do not change
    /// the admission decision but should be reported to an admin.
    pub problems: Vec<ConfigProblem>,
}

impl Review {
    /// True when every entry is allowed (vacuously true for no externalIPs).
    pub fn allowed(&self) -> bool {
        self.verdicts.iter().all(Verdict::is_allowed)
    }

    /// The admission rejection message: one sentence per refused address, in the order
    /// written, each ending with a period. `None` when everything is allowed.
    pub fn message(&self) -> Option<String> {
        let sentences: Vec<String> = self
            .verdicts
            .iter()
            .filter_map(Verdict::refusal)
            .map(|m| format!("{m}."))
            .collect();
        (!sentences.is_empty()).then(|| sentences.join(" "))
    }

    /// The allowed addresses (as judged), sorted and without duplicates: what the
    /// dataplane may program at reconcile time.
    pub fn allowed_ips(&self) -> Vec<IpAddr> {
        let mut ips: Vec<IpAddr> = self
            .verdicts
            .iter()
            .filter(|v| v.is_allowed())
            .filter_map(|v| v.ip)
            .collect();
        ips.sort();
        ips.dedup();
        ips
    }
}
