//! Which L2AnnouncementPolicy policies cover a VIP, and policy validation.
//!
//! A policy covers a VIP when the VIP's pool is listed in `pools` (for external IPs: when the
//! policy has `external_ips: true`) **and** its `service_selector` matches the Service labels.
//! A policy that fails [`L2Policy::validate`] is ignored by the election (it covers nothing),
//! so a typo never widens what gets announced.

use thiserror::Error;

use super::model::{L2Policy, VipInput, VipKind};
use ferrolb_adapter::selector::{SelectorError, optional_matches};

/// Why an L2AnnouncementPolicy cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// A selector the Kubernetes API would reject.
    #[error("L2AnnouncementPolicy {policy:?} has an invalid {field}: {source}")]
    InvalidSelector {
        /// Policy name.
        policy: String,
        /// `nodeSelector` or `serviceSelector`.
        field: &'static str,
        /// What is wrong with it.
        source: SelectorError,
    },
    /// An empty string in the interface list (it would match no interface).
    #[error(
        "L2AnnouncementPolicy {policy:?} lists an empty interface name: remove it, or write a name or glob such as \"eth*\""
    )]
    EmptyInterfacePattern {
        /// Policy name.
        policy: String,
    },
}

impl L2Policy {
    /// Checks selectors and interface patterns; the election ignores policies that fail.
    pub fn validate(&self) -> Result<(), PolicyError> {
        for (field, selector) in [
            ("nodeSelector", &self.node_selector),
            ("serviceSelector", &self.service_selector),
        ] {
            if let Some(s) = selector {
                s.validate()
                    .map_err(|source| PolicyError::InvalidSelector {
                        policy: self.name.clone(),
                        field,
                        source,
                    })?;
            }
        }
        if self.interfaces.iter().any(String::is_empty) {
            return Err(PolicyError::EmptyInterfacePattern {
                policy: self.name.clone(),
            });
        }
        Ok(())
    }

    /// Whether this policy's pool/externalIPs clause includes `vip` (ignoring the service selector).
    pub fn covers_address(&self, vip: &VipInput) -> bool {
        match (vip.kind, &vip.pool) {
            (VipKind::ExternalIp, _) => self.external_ips,
            (VipKind::LoadBalancerIp, Some(pool)) => self.pools.contains(pool),
            (VipKind::LoadBalancerIp, None) => false,
        }
    }

    /// Whether this policy covers `vip`: address clause and service selector both match.
    pub fn covers(&self, vip: &VipInput) -> bool {
        self.covers_address(vip)
            && optional_matches(self.service_selector.as_ref(), &vip.service_labels)
    }
}

/// Policies (from the valid ones) that cover `vip`, or a human reason why none does.
pub fn covering<'a>(valid: &[&'a L2Policy], vip: &VipInput) -> Result<Vec<&'a L2Policy>, String> {
    let found: Vec<&L2Policy> = valid.iter().copied().filter(|p| p.covers(vip)).collect();
    if !found.is_empty() {
        return Ok(found);
    }
    let what = match (vip.kind, &vip.pool) {
        (VipKind::ExternalIp, _) => "external IPs (no policy with externalIPs: true)".to_string(),
        (VipKind::LoadBalancerIp, Some(pool)) => format!("pool {pool}"),
        (VipKind::LoadBalancerIp, None) => {
            return Err(format!(
                "LoadBalancer IP {} of {} has no pool, so no L2AnnouncementPolicy can cover it",
                vip.ip, vip.service
            ));
        }
    };
    let address_only: Vec<&str> = valid
        .iter()
        .filter(|p| p.covers_address(vip))
        .map(|p| p.name.as_str())
        .collect();
    if address_only.is_empty() {
        Err(format!("no L2AnnouncementPolicy covers {what}"))
    } else {
        Err(format!(
            "no L2AnnouncementPolicy covers {what} for {}: serviceSelector of {} does not match the Service labels",
            vip.service,
            address_only.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use ferrolb_adapter::selector::{Selector, SelectorOperator, SelectorRequirement};
    use ferrolb_core::{ServiceKey, TrafficPolicy};

    fn vip(kind: VipKind, pool: Option<&str>, labels: &[(&str, &str)]) -> VipInput {
        VipInput {
            service: ServiceKey {
                namespace: "ns".into(),
                name: "svc".into(),
            },
            ip: "192.0.2.1".parse().unwrap(),
            pool: pool.map(String::from),
            kind,
            service_labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            etp: TrafficPolicy::Cluster,
            endpoints: vec![],
        }
    }

    fn policy(name: &str, pools: &[&str], external_ips: bool) -> L2Policy {
        L2Policy {
            name: name.into(),
            pools: pools.iter().map(|s| s.to_string()).collect(),
            external_ips,
            ..Default::default()
        }
    }

    #[test]
    fn pool_must_be_listed() {
        let p = policy("a", &["blue"], false);
        assert!(p.covers(&vip(VipKind::LoadBalancerIp, Some("blue"), &[])));
        assert!(!p.covers(&vip(VipKind::LoadBalancerIp, Some("red"), &[])));
        assert!(!p.covers(&vip(VipKind::LoadBalancerIp, None, &[])));
        let err = covering(&[&p], &vip(VipKind::LoadBalancerIp, Some("red"), &[])).unwrap_err();
        assert_eq!(err, "no L2AnnouncementPolicy covers pool red");
    }

    #[test]
    fn external_ips_need_the_flag_not_a_pool() {
        let plain = policy("a", &["blue"], false);
        let ext = policy("b", &[], true);
        let v = vip(VipKind::ExternalIp, None, &[]);
        assert!(!plain.covers(&v));
        assert!(ext.covers(&v));
        assert!(
            covering(&[&plain], &v)
                .unwrap_err()
                .contains("externalIPs: true")
        );
    }

    #[test]
    fn service_selector_must_match() {
        let mut p = policy("edge", &["blue"], false);
        p.service_selector = Some(Selector {
            match_labels: BTreeMap::from([("expose".into(), "l2".into())]),
            ..Default::default()
        });
        assert!(p.covers(&vip(
            VipKind::LoadBalancerIp,
            Some("blue"),
            &[("expose", "l2")]
        )));
        let v = vip(VipKind::LoadBalancerIp, Some("blue"), &[]);
        let err = covering(&[&p], &v).unwrap_err();
        assert!(err.contains("serviceSelector of edge"), "{err}");
    }

    #[test]
    fn validation_reports_policy_and_field() {
        let mut p = policy("bad", &["blue"], false);
        p.node_selector = Some(Selector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![SelectorRequirement {
                key: "zone".into(),
                operator: SelectorOperator::In,
                values: vec![],
            }],
        });
        let err = p.validate().unwrap_err().to_string();
        assert!(
            err.contains("\"bad\"") && err.contains("nodeSelector") && err.contains("zone"),
            "{err}"
        );
        let mut q = policy("empty-if", &[], false);
        q.interfaces = vec!["".into()];
        assert!(
            q.validate()
                .unwrap_err()
                .to_string()
                .contains("empty interface name")
        );
        assert!(policy("ok", &["x"], true).validate().is_ok());
    }
}
