//! What the controller signs: a Service's allocation ([`Claim`]) and the externalIPs it allowed
//! ([`ExternalIpsClaim`]).

use std::collections::BTreeSet;
use std::net::IpAddr;

use ferrolb_api::names::{ANN_ALLOCATED_FROM, ANN_ALLOCATION_PROOF, ANN_EXTERNAL_IPS_PROOF};
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;

use super::Claimed;
use crate::ingress::ingress_ips;
use crate::requested::{Honour, Requested};
use crate::service::ServiceView;

/// One Service's allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// `metadata.uid`.
    pub uid: String,
    /// The addresses of `status.loadBalancer.ingress`.
    pub ips: BTreeSet<IpAddr>,
    /// The [`ANN_ALLOCATED_FROM`] annotation as written.
    pub pools: String,
    /// The [`ferrolb_api::names::ANN_SHARING_KEY`] annotation, else MetalLB's `allow-shared-ip`
    /// ([`crate::requested`]; empty without one).
    pub sharing: String,
    /// `PROTOCOL/port` of each Service port, sorted; only with a sharing key (empty otherwise).
    pub ports: Vec<String>,
}

impl Claim {
    /// The claim a Service makes now: its UID, status addresses, annotations and ports.
    pub fn of(svc: &Service) -> Claim {
        Claim::with_ips(svc, ingress_ips(svc), annotation(svc, ANN_ALLOCATED_FROM))
    }

    /// The claim `svc` will make once its status holds `ips` and its annotation `pools`.
    pub fn with_ips(svc: &Service, ips: BTreeSet<IpAddr>, pools: String) -> Claim {
        // MetalLB's sharing annotation too, whatever the controller's `--metallb-annotations`:
        // speakers and the edge verify without knowing the flag, and without it the controller
        // never lets two Services share an address on that annotation anyway.
        let sharing = Requested::of(svc.annotations(), Honour::MetalLb)
            .sharing_key
            .map(|a| a.value.to_string())
            .unwrap_or_default();
        let ports = if sharing.is_empty() {
            Vec::new()
        } else {
            let mut ports: Vec<String> = ServiceView::of(svc)
                .ports
                .iter()
                .map(|p| format!("{}/{}", p.protocol.as_str(), p.port))
                .collect();
            ports.sort();
            ports.dedup();
            ports
        };
        Claim {
            uid: svc.uid().unwrap_or_default(),
            ips,
            pools,
            sharing,
            ports,
        }
    }
}

impl Claimed for Claim {
    const ANNOTATION: &'static str = ANN_ALLOCATION_PROOF;
    const CONTEXT: &'static str = "ferrolb.io/allocation-proof/v1";
    const BINDS: &'static str =
        "the Service's UID, addresses, ferrolb.io/allocated-from, sharing key or ports";
    const MISSING: &'static str = "the controller did not allocate these addresses";

    fn fields(&self) -> Vec<String> {
        let ips: Vec<String> = self.ips.iter().map(ToString::to_string).collect();
        vec![
            self.uid.clone(),
            ips.join(","),
            self.pools.clone(),
            self.sharing.clone(),
            self.ports.join(","),
        ]
    }
}

/// The externalIPs the controller allowed for one Service: its UID and `spec.externalIPs`
/// (trimmed, sorted, without duplicates: the order of the list means nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIpsClaim {
    /// `metadata.uid`.
    pub uid: String,
    /// `spec.externalIPs`, as written.
    pub ips: BTreeSet<String>,
}

impl ExternalIpsClaim {
    /// The claim a Service makes now.
    pub fn of(svc: &Service) -> ExternalIpsClaim {
        let ips = svc
            .spec
            .as_ref()
            .and_then(|s| s.external_ips.as_ref())
            .into_iter()
            .flatten()
            .map(|ip| ip.trim().to_string())
            .collect();
        ExternalIpsClaim {
            uid: svc.uid().unwrap_or_default(),
            ips,
        }
    }
}

impl Claimed for ExternalIpsClaim {
    const ANNOTATION: &'static str = ANN_EXTERNAL_IPS_PROOF;
    const CONTEXT: &'static str = "ferrolb.io/external-ips-proof/v1";
    const BINDS: &'static str = "the Service's UID and spec.externalIPs";
    const MISSING: &'static str = "the controller has not allowed these externalIPs";

    fn fields(&self) -> Vec<String> {
        let ips: Vec<&str> = self.ips.iter().map(String::as_str).collect();
        vec![self.uid.clone(), ips.join(",")]
    }
}

fn annotation(svc: &Service, name: &str) -> String {
    svc.annotations().get(name).cloned().unwrap_or_default()
}
