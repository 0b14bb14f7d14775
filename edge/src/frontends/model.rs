//! The frontend model: Services, listeners' identities, candidate nodes.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use ferrolb_core::{Protocol, ServiceKey, SourceRanges, TrafficPolicy};
use serde::Serialize;

use crate::health::ProbeTarget;

/// What identifies a listener: address, protocol, port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct FrontendId {
    /// The frontend address (owned on the edge's interface).
    pub ip: IpAddr,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The Service port.
    pub port: u16,
}

impl fmt::Display for FrontendId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}",
            SocketAddr::new(self.ip, self.port),
            self.protocol
        )
    }
}

/// A node that may receive the frontend's traffic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Candidate {
    /// Node name.
    pub node: String,
    /// Node address of the frontend's family.
    pub ip: IpAddr,
}

/// One frontend and everything needed to serve it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Frontend {
    /// The Service.
    pub service: ServiceKey,
    /// Frontend address.
    pub ip: IpAddr,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Service port (where the edge listens).
    pub port: u16,
    /// Where traffic goes on each node.
    pub node_port: u16,
    /// `spec.externalTrafficPolicy`.
    pub traffic_policy: TrafficPolicy,
    /// `spec.healthCheckNodePort` (eTP=Local).
    pub health_check_node_port: Option<u16>,
    /// The nodes' health API port, probed for eTP=Cluster (`--health-port`).
    pub health_port: u16,
    /// `spec.loadBalancerSourceRanges`.
    pub source_ranges: SourceRanges,
    /// Candidate nodes, sorted by name.
    pub candidates: Vec<Candidate>,
}

impl Frontend {
    /// Its listener's identity.
    pub fn id(&self) -> FrontendId {
        FrontendId {
            ip: self.ip,
            protocol: self.protocol,
            port: self.port,
        }
    }

    /// What to probe for `c`: for eTP=Local with a healthCheckNodePort `GET /` there,
    /// otherwise `GET /healthz` on the health port.
    pub fn probe_target(&self, c: &Candidate) -> ProbeTarget {
        match (self.traffic_policy, self.health_check_node_port) {
            (TrafficPolicy::Local, Some(port)) => ProbeTarget {
                ip: c.ip,
                port,
                path: "/".into(),
            },
            _ => ProbeTarget {
                ip: c.ip,
                port: self.health_port,
                path: "/healthz".into(),
            },
        }
    }

    /// Where traffic for `c` goes.
    pub fn upstream(&self, c: &Candidate) -> SocketAddr {
        SocketAddr::new(c.ip, self.node_port)
    }
}

/// Something skipped, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Warning {
    /// The Service concerned.
    pub service: ServiceKey,
    /// What was skipped and why.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.service, self.message)
    }
}
