//! The entry points: review a Service's externalIPs on create, update and reconcile.

use std::net::IpAddr;

use super::cidr::{parse_external_ip, quoted};
use super::fixed_rules::{PreparedFacts, special_address};
use super::model::{ClusterFacts, Policy, ServiceRef, UserInfo};
use super::policy_rules::PreparedPolicies;
use super::verdict::{Outcome, Review, Rule, Verdict};

/// Reviews every entry of `service.external_ips`.
///
/// Each entry is judged on its own, rules in [`Rule`] order, first match wins:
/// malformed; then, on the address with IPv4-mapped IPv6 turned into IPv4, unspecified,
/// loopback, link-local, multicast, broadcast, node address, Service ClusterIP range,
/// VIPPool, another namespace's claim; finally policy (`no-policy` when `policies` is
/// empty, else `not-allowed-by-policy` unless an applying policy contains the address).
///
/// `requester` is the admission request's user. Pass `None` at reconcile time when the
/// requester is unknown: user- or group-limited policies then do not apply (fail closed),
/// namespace-only policies still do. If the shell recorded who admitted the Service, it
/// may pass that user instead.
///
/// Pure and deterministic: the result does not depend on the order of `policies` or
/// of the facts' lists.
pub fn review(
    service: &ServiceRef,
    requester: Option<&UserInfo>,
    policies: &[Policy],
    facts: &ClusterFacts,
) -> Review {
    let mut problems = Vec::new();
    let facts = PreparedFacts::new(facts, &mut problems);
    let policies = PreparedPolicies::new(policies, service, requester, &mut problems);
    problems.sort();
    problems.dedup();
    let verdicts = service
        .external_ips
        .iter()
        .map(|written| judge(written, &service.namespace, &facts, &policies))
        .collect();
    Review { verdicts, problems }
}

fn judge(
    written: &str,
    namespace: &str,
    facts: &PreparedFacts,
    policies: &PreparedPolicies,
) -> Verdict {
    let parsed = match parse_external_ip(written) {
        Ok(ip) => ip,
        Err(reason) => {
            return Verdict {
                address: written.to_string(),
                ip: None,
                outcome: Outcome::Refused {
                    rule: Rule::Malformed,
                    message: format!("externalIP {} refused: {reason}", quoted(written)),
                },
            };
        }
    };
    let ip = parsed.to_canonical();
    let decision = match special_address(ip).or_else(|| facts.conflict(ip, namespace)) {
        Some(refusal) => Err(refusal),
        None => policies.judge(ip),
    };
    let outcome = match decision {
        Ok(policy) => Outcome::Allowed { policy },
        Err(refusal) => Outcome::Refused {
            rule: refusal.rule,
            message: format!(
                "externalIP {} refused: {}",
                shown(written, parsed, ip),
                refusal.reason
            ),
        },
    };
    Verdict {
        address: written.to_string(),
        ip: Some(ip),
        outcome,
    }
}

/// How a parsed address is named in a message; IPv4-mapped forms also show their IPv4.
fn shown(written: &str, parsed: IpAddr, judged: IpAddr) -> String {
    if parsed == judged {
        written.to_string()
    } else {
        format!("{written} (the IPv4-mapped form of {judged})")
    }
}

/// The review of an update of `spec.externalIPs`, see [`review_update`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateReview {
    /// The full review of the new list (kept entries included).
    pub review: Review,
    /// Whether the new list has an entry (compared as written) the old one lacked.
    pub adds_addresses: bool,
}

impl UpdateReview {
    /// Whether admission lets the update through: always when nothing is added,
    /// otherwise only when every entry of the new list is allowed.
    pub fn allowed(&self) -> bool {
        !self.adds_addresses || self.review.allowed()
    }

    /// The rejection message (see [`Review::message`]); `None` when allowed.
    pub fn message(&self) -> Option<String> {
        if self.allowed() {
            None
        } else {
            self.review.message()
        }
    }

    /// Admission warnings: for an update that adds nothing, one per kept entry that is
    /// now refused (it passes admission, but reconcile will not serve it).
    pub fn warnings(&self) -> Vec<String> {
        if self.adds_addresses {
            return Vec::new();
        }
        self.review
            .verdicts
            .iter()
            .filter_map(Verdict::refusal)
            .map(|m| {
                format!(
                    "{m}; it is kept because this update adds no externalIP, but it is not \
                     served until fixed"
                )
            })
            .collect()
    }
}

/// Reviews an update from `old_external_ips` to `service.external_ips`.
///
/// Chosen rule, and why:
/// - An update that adds no entry (compared exactly as written: removals, reordering,
///   or edits of other fields) is always admitted, even if a kept entry is refused today
///   (policy deleted, a node took the address). Removing addresses only shrinks exposure,
///   and blocking such updates would stop every edit of the Service, including the one
///   removing the bad address. Nothing unsafe passes: the reconcile-time [`review`] still
///   refuses that entry, so it is not served; [`UpdateReview::warnings`] tells the user.
/// - An update that adds any entry re-reviews the whole new list, kept entries included,
///   and is rejected if any is refused: an earlier admission is not a lasting grant
///   (policies and cluster facts change), so admission never blesses a list that the
///   reconcile loop would not fully serve, and the message names every stale entry.
pub fn review_update(
    old_external_ips: &[String],
    service: &ServiceRef,
    requester: Option<&UserInfo>,
    policies: &[Policy],
    facts: &ClusterFacts,
) -> UpdateReview {
    let adds_addresses = service
        .external_ips
        .iter()
        .any(|ip| !old_external_ips.contains(ip));
    UpdateReview {
        review: review(service, requester, policies, facts),
        adds_addresses,
    }
}
