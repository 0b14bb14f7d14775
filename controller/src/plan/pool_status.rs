//! An VIPPool's status from the plan's usage figures. Pure.

use std::net::IpAddr;

use ferrolb_api::{FamilyCounts, VIPPoolStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::ipam::{FamilyUsage, PoolUsage};

/// Everything a pool's status is made of.
#[derive(Debug, Clone, Default)]
pub struct PoolFacts<'a> {
    /// The plan's figures for the pool (default: the pool is not in the plan).
    pub usage: Option<&'a PoolUsage>,
    /// Node addresses inside the pool (never allocated).
    pub reserved: &'a [IpAddr],
    /// Problems with the pool's spec that the apiserver could not catch (selectors).
    pub problems: &'a [String],
    /// `spec.disabled`.
    pub disabled: bool,
    /// `metadata.generation`.
    pub generation: Option<i64>,
}

/// The status the pool should have. Conditions keep their `lastTransitionTime` from
/// `previous` when their status did not change.
pub fn desired(
    facts: &PoolFacts<'_>,
    previous: Option<&VIPPoolStatus>,
    now: &Time,
) -> VIPPoolStatus {
    let empty = PoolUsage::default();
    let usage = facts.usage.unwrap_or(&empty);
    let counts = |f: &FamilyUsage| {
        (f.total > 0).then(|| FamilyCounts {
            total: f.total.to_string(),
            used: f.used.to_string(),
            available: f.available.to_string(),
        })
    };
    let invalid: Vec<String> = usage
        .invalid_entries
        .iter()
        .map(|e| format!("{:?}: {}", e.entry, e.error))
        .collect();
    let total = usage.ipv4.total.saturating_add(usage.ipv6.total);
    let available = usage.ipv4.available.saturating_add(usage.ipv6.available);
    let (ready, reason, mut message) = if !facts.problems.is_empty() {
        (false, "InvalidSelector", facts.problems.join("; "))
    } else if total == 0 {
        (
            false,
            "NoValidAddresses",
            "no valid address entry: fix spec.addresses".to_string(),
        )
    } else if facts.disabled {
        (
            false,
            "Disabled",
            "spec.disabled is true: no new allocation; existing ones are kept".to_string(),
        )
    } else {
        (true, "Ready", format!("{available} addresses available"))
    };
    if !invalid.is_empty() {
        message.push_str(&format!(
            "; invalid entries ignored (fix or remove them): {}",
            invalid.join("; ")
        ));
    }
    if !facts.reserved.is_empty() {
        message.push_str(&format!(
            "; {} node address(es) inside the pool are never allocated",
            facts.reserved.len()
        ));
    }
    let conflict = usage
        .conflicts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>();
    let conditions = vec![
        condition(
            previous,
            "Ready",
            ready,
            reason,
            message,
            facts.generation,
            now,
        ),
        if conflict.is_empty() {
            condition(
                previous,
                "Conflict",
                false,
                "NoOverlap",
                "no other pool shares addresses with this one".into(),
                facts.generation,
                now,
            )
        } else {
            condition(
                previous,
                "Conflict",
                true,
                "Overlap",
                conflict.join("; "),
                facts.generation,
                now,
            )
        },
    ];
    VIPPoolStatus {
        ipv4: counts(&usage.ipv4),
        ipv6: counts(&usage.ipv6),
        used: Some(usage.ipv4.used.saturating_add(usage.ipv6.used).to_string()),
        available: Some(available.to_string()),
        reserved_node_addresses: facts.reserved.iter().map(ToString::to_string).collect(),
        conditions,
        observed_generation: facts.generation,
    }
}

fn condition(
    previous: Option<&VIPPoolStatus>,
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    let status = if status { "True" } else { "False" }.to_string();
    let since = previous
        .and_then(|p| p.conditions.iter().find(|c| c.type_ == type_))
        .filter(|c| c.status == status)
        .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
    Condition {
        type_: type_.to_string(),
        status,
        reason: reason.to_string(),
        message,
        observed_generation: generation,
        last_transition_time: since,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use k8s_openapi::jiff::Timestamp;
    use serde_json::Value;

    use super::*;

    /// The condition types a `conditions` field's description declares: each backticked word
    /// followed by a colon (`` `Ready`: ... ``), as `kubectl explain` shows them.
    fn declared(description: &str) -> BTreeSet<String> {
        let parts: Vec<&str> = description.split('`').collect();
        parts
            .iter()
            .enumerate()
            .skip(1)
            .step_by(2)
            .filter(|(i, _)| parts.get(i + 1).is_some_and(|after| after.starts_with(':')))
            .map(|(_, name)| name.to_string())
            .collect()
    }

    /// Every `conditions` field of `schema`, as (path, declared types).
    fn conditions(path: &str, schema: &Value, found: &mut Vec<(String, BTreeSet<String>)>) {
        for (name, sub) in schema["properties"].as_object().into_iter().flatten() {
            let at = format!("{path}.{name}");
            if name == "conditions" {
                let description = sub["description"].as_str().unwrap_or_default();
                found.push((at.clone(), declared(description)));
            }
            conditions(&at, sub, found);
        }
        if let Some(items) = schema.get("items") {
            conditions(&format!("{path}[]"), items, found);
        }
    }

    #[test]
    fn every_condition_a_crd_declares_is_written() {
        let mut found = Vec::new();
        for crd in ferrolb_api::crdgen::all() {
            for version in crd.spec.versions {
                let schema = serde_json::to_value(version.schema).unwrap();
                conditions(&crd.spec.names.kind, &schema["openAPIV3Schema"], &mut found);
            }
        }
        let now = Time(Timestamp::UNIX_EPOCH);
        let written: BTreeSet<String> = desired(&PoolFacts::default(), None, &now)
            .conditions
            .into_iter()
            .map(|c| c.type_)
            .collect();
        // Only VIPPool has conditions, written here; a CRD that declares more needs its
        // writer checked in this test.
        assert_eq!(
            found,
            vec![("VIPPool.status.conditions".to_string(), written)],
            "declared conditions (left) against what the controller writes (right)"
        );
    }

    #[test]
    fn declared_types_are_backticked_words_before_a_colon() {
        let d = declared("`Ready`: usable. `Conflict`: overlaps (see `spec.addresses`).");
        assert_eq!(d, BTreeSet::from(["Ready".into(), "Conflict".into()]));
    }
}
