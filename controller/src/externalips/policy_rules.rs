//! The policy step: is the address inside an applying ExternalIPPolicy's `allowedCIDRs`?

use std::net::IpAddr;

use ipnet::IpNet;

use super::cidr::{parse_cidr_list, quoted};
use super::fixed_rules::Refusal;
use super::model::{Policy, ServiceRef, UserInfo};
use super::verdict::{ConfigProblem, Rule};

/// Policies evaluated once per review against one Service and requester.
#[derive(Debug, Clone)]
pub(super) struct PreparedPolicies {
    /// Whether any policy exists at all.
    any: bool,
    /// Applying policies as `(name, good CIDRs)`, sorted by name.
    applying: Vec<(String, Vec<IpNet>)>,
    /// The namespace and requester, for messages.
    namespace: String,
    requester: Option<String>,
    /// A user- or group-limited policy was skipped because the requester is unknown.
    skipped_user_limited: bool,
}

impl PreparedPolicies {
    /// Decides which policies apply, pushing bad CIDR entries and selectors (of every
    /// policy, applying or not) onto `problems`.
    pub(super) fn new(
        policies: &[Policy],
        service: &ServiceRef,
        requester: Option<&UserInfo>,
        problems: &mut Vec<ConfigProblem>,
    ) -> Self {
        let mut applying = Vec::new();
        let mut skipped_user_limited = false;
        for policy in policies {
            let (nets, errors) = parse_cidr_list(&policy.allowed_cidrs);
            problems.extend(errors.into_iter().map(|error| ConfigProblem::PolicyCidr {
                policy: policy.name.clone(),
                error,
            }));
            if let Some(Err(error)) = policy.namespace_selector.as_ref().map(|s| s.validate()) {
                problems.push(ConfigProblem::PolicySelector {
                    policy: policy.name.clone(),
                    error,
                });
            }
            if policy.applies_to(&service.namespace_labels, requester) {
                applying.push((policy.name.clone(), nets));
            } else if requester.is_none()
                && policy.is_user_limited()
                && policy
                    .namespace_selector
                    .as_ref()
                    .is_none_or(|s| s.matches(&service.namespace_labels))
            {
                skipped_user_limited = true;
            }
        }
        applying.sort();
        Self {
            any: !policies.is_empty(),
            applying,
            namespace: service.namespace.clone(),
            requester: requester.map(|u| u.username.clone()),
            skipped_user_limited,
        }
    }

    /// `Ok(policy name)` when an applying policy contains `ip` (the smallest name wins),
    /// otherwise the refusal (`no-policy` or `not-allowed-by-policy`).
    pub(super) fn judge(&self, ip: IpAddr) -> Result<String, Refusal> {
        if let Some((name, _)) = self
            .applying
            .iter()
            .find(|(_, nets)| nets.iter().any(|n| n.contains(&ip)))
        {
            return Ok(name.clone());
        }
        if !self.any {
            return Err(Refusal {
                rule: Rule::NoPolicy,
                reason: format!(
                    "no ExternalIPPolicy exists, so every externalIP is refused; to allow it, \
                     create an ExternalIPPolicy whose allowedCIDRs contains {ip}"
                ),
            });
        }
        let who = match &self.requester {
            Some(user) => format!("user {}", quoted(user)),
            None => "an unknown requester".to_string(),
        };
        let mut detail = if self.applying.is_empty() {
            "no policy applies".to_string()
        } else {
            let names: Vec<&str> = self.applying.iter().map(|(n, _)| n.as_str()).collect();
            format!("applying: {}", names.join(", "))
        };
        if self.skipped_user_limited {
            detail.push_str(
                "; policies limited to users or groups do not apply when the requester is \
                 unknown",
            );
        }
        Err(Refusal {
            rule: Rule::NotAllowedByPolicy,
            reason: format!(
                "it is not in the allowedCIDRs of any ExternalIPPolicy that applies to \
                 namespace {} and {who} ({detail}); to allow it, add {ip} to the allowedCIDRs \
                 of an ExternalIPPolicy that applies to them",
                self.namespace
            ),
        })
    }
}
