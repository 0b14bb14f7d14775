//! Plain input types for the externalIPs review (no Kubernetes client types).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::RangeInclusive;

use ferrolb_adapter::selector::Selector;

/// An ExternalIPPolicy: which externalIPs may be used, by which namespaces and users.
///
/// A policy *applies* to a request when its `namespace_selector` (if any) matches the
/// Service's namespace labels AND, when `allowed_users` or `allowed_groups` is non-empty,
/// the requester is one of `allowed_users` or belongs to one of `allowed_groups`.
/// With an unknown requester (reconcile time, `requester = None`) a policy limited to
/// users or groups does NOT apply; namespace-only policies still do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// The policy's object name (reported as the reason an address was allowed).
    pub name: String,
    /// CIDRs (`192.0.2.0/24`, `2001:db8::/64`, or a bare address for one host) whose
    /// addresses may be used. A malformed entry is reported and ignored; the good ones apply.
    pub allowed_cidrs: Vec<String>,
    /// Which namespaces the policy covers; `None` means every namespace.
    pub namespace_selector: Option<Selector>,
    /// Usernames allowed to use the policy; empty together with `allowed_groups` means anyone.
    pub allowed_users: Vec<String>,
    /// Groups allowed to use the policy; empty together with `allowed_users` means anyone.
    pub allowed_groups: Vec<String>,
}

impl Policy {
    /// Whether the policy is limited to certain users or groups.
    pub fn is_user_limited(&self) -> bool {
        !self.allowed_users.is_empty() || !self.allowed_groups.is_empty()
    }

    /// Whether this policy applies to a Service in a namespace with `namespace_labels`,
    /// requested by `requester` (`None` = unknown requester, see the type docs).
    pub fn applies_to(
        &self,
        namespace_labels: &BTreeMap<String, String>,
        requester: Option<&UserInfo>,
    ) -> bool {
        let namespace_ok = self
            .namespace_selector
            .as_ref()
            .is_none_or(|s| s.matches(namespace_labels));
        let user_ok = !self.is_user_limited()
            || requester.is_some_and(|u| {
                self.allowed_users.contains(&u.username)
                    || u.groups.iter().any(|g| self.allowed_groups.contains(g))
            });
        namespace_ok && user_ok
    }
}

/// The user asking for the change (from the admission request's `userInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// The authenticated username, e.g. `alice` or `system:serviceaccount:ns:sa`.
    pub username: String,
    /// The user's groups.
    pub groups: Vec<String>,
}

/// The Service under review.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceRef {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub name: String,
    /// Labels of the Service's namespace (for policies' `namespace_selector`).
    pub namespace_labels: BTreeMap<String, String>,
    /// `spec.externalIPs`, exactly as written.
    pub external_ips: Vec<String>,
}

/// What kind of address another Service holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClaimKind {
    /// Listed in that Service's `spec.externalIPs`.
    ExternalIP,
    /// Assigned to that Service as a LoadBalancer ingress IP.
    LoadBalancerIP,
}

impl ClaimKind {
    /// How the kind reads in a message ("externalIP" / "LoadBalancer IP").
    pub fn describe(self) -> &'static str {
        match self {
            ClaimKind::ExternalIP => "externalIP",
            ClaimKind::LoadBalancerIP => "LoadBalancer IP",
        }
    }
}

/// An address some Service already holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Claim {
    /// The holding Service's namespace.
    pub namespace: String,
    /// The holding Service's name.
    pub name: String,
    /// The address held.
    pub ip: IpAddr,
    /// How it is held.
    pub kind: ClaimKind,
}

/// Facts about the cluster the review checks addresses against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterFacts {
    /// Every address of every Node, as `(node name, address)`.
    pub node_addresses: Vec<(String, IpAddr)>,
    /// Service ClusterIP ranges as CIDR strings (e.g. `10.96.0.0/12`). A malformed entry
    /// is reported; one with host bits set or in IPv4-mapped form is still protected in
    /// its corrected form.
    pub service_cidrs: Vec<String>,
    /// VIPPools, as `(pool name, address ranges)`; ferrolb hands these addresses out itself.
    pub pools: Vec<(String, Vec<RangeInclusive<IpAddr>>)>,
    /// Addresses other Services already hold.
    pub claims: Vec<Claim>,
}
