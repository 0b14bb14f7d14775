//! Plain input types of the planner: pools and service requests, with no Kubernetes types.
//!
//! The I/O shell builds these from VIPPool objects, Services and Namespaces.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ferrolb_adapter::selector::{Labels, Selector};
use ferrolb_core::{FamilyPolicy, IpFamily, Protocol, ServiceKey, TrafficPolicy};

/// Addresses that are never allocated (typically Node addresses), each with why it is
/// reserved, e.g. `"address of node node-a"`. Pools may cover them; see [`super::plan_with`].
pub type Reserved = BTreeMap<IpAddr, String>;

/// Creation time (unix seconds) and uid: the deterministic age of an object. Older sorts first.
pub type CreationOrder = (i64, String);

/// An VIPPool as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// Pool name (unique cluster-wide).
    pub name: String,
    /// Address entries: CIDRs, `start-end` ranges or single addresses (see [`ferrolb_core::parse_address`]).
    pub addresses: Vec<String>,
    /// When false, only explicit requests (by address or by pool name) may take new addresses.
    pub auto_assign: bool,
    /// When true, IPv4 addresses ending in `.0` or `.255` are never handed out.
    pub avoid_buggy_ips: bool,
    /// When true, no new allocation is made from the pool; existing ones stay valid.
    pub disabled: bool,
    /// Which Services the pool serves, and with what priority; `None` serves everyone last.
    pub allocation: Option<ServiceAllocation>,
    /// Age of the pool: breaks priority ties and decides which pool owns overlapping addresses.
    pub creation_order: CreationOrder,
    /// Label `ferrolb.io/mode: edge`: the pool serves only Services in edge mode (and they
    /// only get addresses from such pools).
    pub edge: bool,
}

impl Pool {
    /// An enabled, auto-assigning pool without `allocation`, created at time 0 with uid = name.
    pub fn new(name: &str, addresses: &[&str]) -> Pool {
        Pool {
            name: name.to_string(),
            addresses: addresses.iter().map(|a| a.to_string()).collect(),
            auto_assign: true,
            avoid_buggy_ips: false,
            disabled: false,
            allocation: None,
            creation_order: (0, name.to_string()),
            edge: false,
        }
    }
}

/// `spec.serviceAllocation` of a pool: which Services it serves and at what priority.
/// Every criterion that is given must match; an empty `namespaces` list is "not given".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceAllocation {
    /// Lower is preferred; pools without a priority come after all pools with one.
    pub priority: Option<i32>,
    /// Namespaces served (empty: any namespace).
    pub namespaces: Vec<String>,
    /// Selector on the Service's namespace labels.
    pub namespace_selector: Option<Selector>,
    /// Selector on the Service's own labels.
    pub service_selector: Option<Selector>,
}

impl ServiceAllocation {
    /// Whether a Service in `namespace` (with those namespace labels and own labels) is served.
    pub fn matches(&self, namespace: &str, namespace_labels: &Labels, labels: &Labels) -> bool {
        (self.namespaces.is_empty() || self.namespaces.iter().any(|n| n == namespace))
            && self
                .namespace_selector
                .as_ref()
                .is_none_or(|s| s.matches(namespace_labels))
            && self
                .service_selector
                .as_ref()
                .is_none_or(|s| s.matches(labels))
    }

    /// Whether the valid criteria select the Service: like [`Self::matches`] but an invalid
    /// selector is skipped instead of matching nothing. Decides who may keep addresses from a
    /// pool whose selector is invalid (such a pool makes no new allocation).
    pub(super) fn matches_valid_parts(
        &self,
        namespace: &str,
        namespace_labels: &Labels,
        labels: &Labels,
    ) -> bool {
        let holds = |selector: &Option<Selector>, labels: &Labels| {
            selector
                .as_ref()
                .is_none_or(|s| s.validate().is_err() || s.matches(labels))
        };
        (self.namespaces.is_empty() || self.namespaces.iter().any(|n| n == namespace))
            && holds(&self.namespace_selector, namespace_labels)
            && holds(&self.service_selector, labels)
    }

    /// What is wrong with the selectors, one `serviceAllocation.<field>: <error>` per invalid
    /// selector, namespace selector first.
    pub(super) fn selector_errors(&self) -> Vec<String> {
        [
            ("namespaceSelector", &self.namespace_selector),
            ("serviceSelector", &self.service_selector),
        ]
        .into_iter()
        .filter_map(|(field, selector)| {
            let error = selector.as_ref()?.validate().err()?;
            Some(format!("serviceAllocation.{field}: {error}"))
        })
        .collect()
    }

    /// What is wrong with the selectors, one message per invalid selector naming its field
    /// (e.g. `serviceAllocation.serviceSelector: ...`). An invalid selector matches nothing,
    /// so while any is listed the pool makes no new allocation; Services keep the addresses
    /// they hold from it.
    pub fn selector_problems(&self) -> Vec<String> {
        self.selector_errors()
            .into_iter()
            .map(|error| {
                format!(
                    "{error}; until this is fixed the selector matches nothing and the pool makes \
                     no new allocation (Services keep the addresses they hold from it)"
                )
            })
            .collect()
    }
}

/// One `type: LoadBalancer` Service that the controller owns, as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRequest {
    /// Namespace and name.
    pub key: ServiceKey,
    /// The Service's uid.
    pub uid: String,
    /// Age of the Service: the older one wins a disputed address and is processed first.
    pub creation_order: CreationOrder,
    /// Labels of the Service's namespace.
    pub namespace_labels: Labels,
    /// Labels of the Service.
    pub labels: Labels,
    /// `spec.ipFamilies`, primary first.
    pub families: Vec<IpFamily>,
    /// `spec.ipFamilyPolicy`.
    pub family_policy: FamilyPolicy,
    /// Explicitly requested addresses (annotation and/or `spec.loadBalancerIP`, merged):
    /// at most one per family.
    pub requested_ips: Vec<IpAddr>,
    /// Pool named by the `ferrolb.io/ip-pool` annotation.
    pub requested_pool: Option<String>,
    /// Sharing key: Services of one namespace with the same key may share an address.
    pub sharing_key: Option<String>,
    /// `(protocol, port)` pairs of the Service.
    pub ports: Vec<(Protocol, u16)>,
    /// `spec.externalTrafficPolicy`.
    pub external_traffic_policy: TrafficPolicy,
    /// The Service's pod selector (Local sharing needs identical selectors).
    pub selector: Labels,
    /// Addresses currently in the Service's status.
    pub current: Vec<IpAddr>,
    /// Pool recorded with the current addresses. Informational only: the planner derives
    /// pools from addresses, so a plan never depends on what the shell wrote back.
    pub current_pool: Option<String>,
    /// Annotation `ferrolb.io/mode: edge`: served by the edge load balancer, from edge pools
    /// only.
    pub edge: bool,
}

impl ServiceRequest {
    /// Where the planner takes the Service: by creation order, then key (older first).
    pub fn planning_order(&self) -> (&CreationOrder, &ServiceKey) {
        (&self.creation_order, &self.key)
    }

    /// A single-stack IPv4, Cluster-policy Service with no request, no labels and no ports,
    /// created at time 0 with uid `namespace/name`.
    pub fn new(namespace: &str, name: &str) -> ServiceRequest {
        let key = ServiceKey::new(namespace, name);
        ServiceRequest {
            uid: key.to_string(),
            creation_order: (0, key.to_string()),
            key,
            namespace_labels: Labels::new(),
            labels: Labels::new(),
            families: vec![IpFamily::V4],
            family_policy: FamilyPolicy::SingleStack,
            requested_ips: Vec::new(),
            requested_pool: None,
            sharing_key: None,
            ports: Vec::new(),
            external_traffic_policy: TrafficPolicy::Cluster,
            selector: Labels::new(),
            current: Vec::new(),
            current_pool: None,
            edge: false,
        }
    }
}
