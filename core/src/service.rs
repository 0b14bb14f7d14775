//! The words for a Service: its key, port protocols, traffic policy, address families and
//! family policy. Kubernetes spellings parse with [`FromStr`] and print with
//! [`Display`](fmt::Display).

use std::borrow::Borrow;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A Service's namespace and name; displays as `namespace/name`.
///
/// Both are shared strings: a speaker keeps several copies of each Service's key (its row,
/// claim, election inputs, rules, plan, publication, …), and a clone now shares them instead
/// of copying two `String`s (issue 21: 1.3 MB less heap at 10,000 Services in the heap
/// harness).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServiceKey {
    /// The Service's namespace.
    pub namespace: Arc<str>,
    /// The Service's name.
    pub name: Arc<str>,
}

impl ServiceKey {
    /// Builds a key from namespace and name.
    pub fn new(namespace: impl Into<Arc<str>>, name: impl Into<Arc<str>>) -> ServiceKey {
        ServiceKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// Whether this is the key of `name` in `namespace`.
    pub fn is(&self, namespace: &str, name: &str) -> bool {
        &*self.namespace == namespace && &*self.name == name
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A spelling that is not one of the values Kubernetes allows for a field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {value:?} is not known; use one of {allowed}")]
pub struct UnknownValue {
    /// The field, e.g. `protocol`.
    pub field: &'static str,
    /// The value as written.
    pub value: String,
    /// The allowed spellings, comma separated.
    pub allowed: &'static str,
}

/// Transport protocol of a Service port; Kubernetes spelling `TCP`, `UDP`, `SCTP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// The Kubernetes spelling: `TCP`, `UDP` or `SCTP`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "TCP" => Ok(Protocol::Tcp),
            "UDP" => Ok(Protocol::Udp),
            "SCTP" => Ok(Protocol::Sctp),
            other => Err(UnknownValue {
                field: "protocol",
                value: other.to_string(),
                allowed: "TCP, UDP, SCTP",
            }),
        }
    }
}

/// `targetPort` of a Service port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(untagged)]
pub enum TargetPort {
    /// A port number, used for every endpoint (0 is invalid: such endpoints are skipped).
    Number(u16),
    /// A named port, resolved per endpoint.
    Named(String),
}

/// `spec.externalTrafficPolicy` (and `spec.internalTrafficPolicy`): `Cluster` when unset.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum TrafficPolicy {
    /// Any node may receive traffic and forward it to endpoints anywhere (the client address
    /// is masqueraded).
    #[default]
    Cluster,
    /// Only nodes hosting a ready endpoint serve, and only to their local endpoints (the
    /// client address is preserved).
    Local,
}

impl TrafficPolicy {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TrafficPolicy::Cluster => "Cluster",
            TrafficPolicy::Local => "Local",
        }
    }
}

impl fmt::Display for TrafficPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TrafficPolicy {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Cluster" => Ok(TrafficPolicy::Cluster),
            "Local" => Ok(TrafficPolicy::Local),
            other => Err(UnknownValue {
                field: "traffic policy",
                value: other.to_string(),
                allowed: "Cluster, Local",
            }),
        }
    }
}

/// An IP address family; Kubernetes spelling `IPv4`, `IPv6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum IpFamily {
    /// IPv4 (32-bit addresses).
    #[serde(rename = "IPv4")]
    V4,
    /// IPv6 (128-bit addresses).
    #[serde(rename = "IPv6")]
    V6,
}

impl IpFamily {
    /// Both families, IPv4 first.
    pub const ALL: [IpFamily; 2] = [IpFamily::V4, IpFamily::V6];

    /// The family of an address (taken by value or by reference).
    pub fn of(ip: impl Borrow<IpAddr>) -> IpFamily {
        match ip.borrow() {
            IpAddr::V4(_) => IpFamily::V4,
            IpAddr::V6(_) => IpFamily::V6,
        }
    }

    /// The Kubernetes spelling: `IPv4` or `IPv6`.
    pub fn as_str(self) -> &'static str {
        match self {
            IpFamily::V4 => "IPv4",
            IpFamily::V6 => "IPv6",
        }
    }

    /// Number of address bits: 32 or 128.
    pub fn bits(self) -> u32 {
        match self {
            IpFamily::V4 => 32,
            IpFamily::V6 => 128,
        }
    }

    /// 0 for IPv4, 1 for IPv6: the index into per-family arrays.
    pub fn index(self) -> usize {
        match self {
            IpFamily::V4 => 0,
            IpFamily::V6 => 1,
        }
    }
}

impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IpFamily {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "IPv4" => Ok(IpFamily::V4),
            "IPv6" => Ok(IpFamily::V6),
            other => Err(UnknownValue {
                field: "IP family",
                value: other.to_string(),
                allowed: "IPv4, IPv6",
            }),
        }
    }
}

/// `spec.ipFamilyPolicy`: `SingleStack` when unset.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum FamilyPolicy {
    /// One address, of the primary (first listed) family.
    #[default]
    SingleStack,
    /// Every listed family when possible, else what can be had; missing ones are added later.
    PreferDualStack,
    /// Both families or nothing.
    RequireDualStack,
}

impl FamilyPolicy {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FamilyPolicy::SingleStack => "SingleStack",
            FamilyPolicy::PreferDualStack => "PreferDualStack",
            FamilyPolicy::RequireDualStack => "RequireDualStack",
        }
    }
}

impl fmt::Display for FamilyPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FamilyPolicy {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "SingleStack" => Ok(FamilyPolicy::SingleStack),
            "PreferDualStack" => Ok(FamilyPolicy::PreferDualStack),
            "RequireDualStack" => Ok(FamilyPolicy::RequireDualStack),
            other => Err(UnknownValue {
                field: "IP family policy",
                value: other.to_string(),
                allowed: "SingleStack, PreferDualStack, RequireDualStack",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_display_and_sort_by_namespace_then_name() {
        let a = ServiceKey::new("a", "z");
        let b = ServiceKey::new(String::from("b"), "a");
        assert_eq!(a.to_string(), "a/z");
        assert!(a < b);
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            serde_json::json!({"namespace": "a", "name": "z"})
        );
    }

    #[test]
    fn kubernetes_spellings_round_trip() {
        for p in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
            assert_eq!(p.to_string().parse::<Protocol>(), Ok(p));
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
        for t in [TrafficPolicy::Cluster, TrafficPolicy::Local] {
            assert_eq!(t.to_string().parse::<TrafficPolicy>(), Ok(t));
        }
        for f in IpFamily::ALL {
            assert_eq!(f.to_string().parse::<IpFamily>(), Ok(f));
            assert_eq!(serde_json::to_value(f).unwrap(), f.as_str());
        }
        for p in [
            FamilyPolicy::SingleStack,
            FamilyPolicy::PreferDualStack,
            FamilyPolicy::RequireDualStack,
        ] {
            assert_eq!(p.to_string().parse::<FamilyPolicy>(), Ok(p));
        }
        let err = "tcp".parse::<Protocol>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "protocol \"tcp\" is not known; use one of TCP, UDP, SCTP"
        );
    }

    #[test]
    fn family_of_an_address() {
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(IpFamily::of(v4), IpFamily::V4);
        let by_reference: &IpAddr = &v6;
        assert_eq!(IpFamily::of(by_reference), IpFamily::V6);
        assert_eq!((IpFamily::V4.bits(), IpFamily::V6.bits()), (32, 128));
        assert_eq!((IpFamily::V4.index(), IpFamily::V6.index()), (0, 1));
    }
}
