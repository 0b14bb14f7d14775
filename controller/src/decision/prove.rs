//! The allocation proof a Service's fields should carry, and the account of addresses nobody
//! proved. Pure: the keys are values ([`ProofKeys`]) the I/O shell loads.

use std::sync::Arc;

use ferrolb_adapter::proof::{Claim, Claimed, ExternalIpsClaim, Proof, SigningKey, VerifyKeys};
use ferrolb_api::names::ANN_ALLOCATION_PROOF;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::diff::EventSpec;
use crate::inputs::current_fields::Observed;
use crate::owned_fields::{OwnedFields, join_ips};

/// What the decision signs and verifies allocations with.
#[derive(Debug, Clone)]
pub struct ProofKeys {
    /// The controller's key.
    pub signer: Arc<SigningKey>,
    /// Every published key and the controller's own.
    pub verify: VerifyKeys,
}

impl ProofKeys {
    /// Keys of `signer` alone.
    pub fn of(signer: SigningKey) -> ProofKeys {
        let mut verify = VerifyKeys::default();
        verify.insert(signer.public_key());
        ProofKeys {
            signer: Arc::new(signer),
            verify,
        }
    }
}

/// The proof `want` needs on `svc`: none without addresses; the current one while it signs
/// exactly `want` under the controller's own key; else a new one issued `now`.
pub fn proof_for(
    svc: &Service,
    want: &OwnedFields,
    have: &OwnedFields,
    keys: &ProofKeys,
    now: &Time,
) -> Option<String> {
    if want.ips.is_empty() {
        return None;
    }
    let claim = Claim::with_ips(
        svc,
        want.ips.iter().copied().collect(),
        want.pool.clone().unwrap_or_default(),
    );
    Some(kept_or_signed(&claim, have.proof.as_deref(), keys, now))
}

/// The externalIPs proof `want` needs on `svc`: only while `want`'s condition allows its
/// externalIPs; the current one while it signs exactly them under the controller's own key;
/// else a new one issued `now`.
pub fn external_ips_proof_for(
    svc: &Service,
    want: &OwnedFields,
    have: &OwnedFields,
    keys: &ProofKeys,
    now: &Time,
) -> Option<String> {
    if !want.external_ips.as_ref().is_some_and(|c| c.status) {
        return None;
    }
    let claim = ExternalIpsClaim::of(svc);
    Some(kept_or_signed(
        &claim,
        have.external_ips_proof.as_deref(),
        keys,
        now,
    ))
}

/// `current` while it signs `claim` under the controller's own key, else a new proof.
fn kept_or_signed<C: Claimed>(
    claim: &C,
    current: Option<&str>,
    keys: &ProofKeys,
    now: &Time,
) -> String {
    let current = current
        .and_then(|text| Proof::parse(text).ok())
        .filter(|p| p.key_id == keys.signer.id() && keys.verify.verify(claim, p).is_ok());
    match current {
        Some(p) => p.render(),
        None => keys.signer.sign(claim, now.0.as_second()).render(),
    }
}

/// The Warning event for status addresses without a valid proof that the controller replaces
/// with `want`'s (`None` when there are none).
pub fn unproven_event(seen: &Observed, want: &OwnedFields) -> Option<EventSpec> {
    if seen.foreign_ips.is_empty() {
        return None;
    }
    let with = if want.ips.is_empty() {
        "nothing".to_string()
    } else {
        join_ips(&want.ips)
    };
    Some(EventSpec {
        warning: true,
        reason: "UnprovenAddressReplaced".into(),
        note: format!(
            "status.loadBalancer.ingress held {}, which this controller did not allocate (no valid {ANN_ALLOCATION_PROOF}): replaced with {with}",
            join_ips(&seen.foreign_ips)
        ),
    })
}

/// The fixed test key ([`ferrolb_adapter::proof::testing`]) for every test of the crate.
#[cfg(test)]
pub fn test_keys() -> &'static ProofKeys {
    static KEYS: std::sync::LazyLock<ProofKeys> =
        std::sync::LazyLock::new(|| ProofKeys::of(ferrolb_adapter::proof::testing::key()));
    &KEYS
}

#[cfg(test)]
pub use ferrolb_adapter::proof::testing::signed;
