//! A fixed, publicly known signing key for tests of every crate (feature `testing`): Ed25519
//! signatures are deterministic, so snapshots of signed objects are stable. Never for
//! production use: anyone can sign with it.

use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;

use ferrolb_api::names::{ANN_ALLOCATION_PROOF, ANN_EXTERNAL_IPS_PROOF};
use ferrolb_core::names::CONDITION_EXTERNAL_IPS;

use super::{Claim, ExternalIpsClaim, SigningKey, VerifyKeys};
use crate::ownership::{owns_condition, owns_ingress};

/// PKCS#8 v2 of the Ed25519 seed 0, 1, ..., 31.
const PKCS8: &str = "3053020101300506032b657004220420000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fa12303210003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8";

/// The test key.
pub fn key() -> SigningKey {
    let bytes: Vec<u8> = (0..PKCS8.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&PKCS8[i..i + 2], 16).ok())
        .collect();
    match SigningKey::from_pkcs8(&bytes) {
        Ok(key) => key,
        Err(e) => panic!("the fixed test key: {e}"),
    }
}

/// The keys verifying [`key`]'s proofs.
pub fn verify_keys() -> VerifyKeys {
    let mut keys = VerifyKeys::default();
    keys.insert(key().public_key());
    keys
}

/// `svc` signed with [`key`] at `issued`, as the controller leaves it.
pub fn signed(mut svc: Service, issued: i64) -> Service {
    let proof = key().sign(&Claim::of(&svc), issued).render();
    svc.annotations_mut()
        .insert(ANN_ALLOCATION_PROOF.into(), proof);
    svc
}

/// `svc` with its current `spec.externalIPs` allowed by [`key`], as the controller leaves it.
pub fn external_ips_signed(mut svc: Service) -> Service {
    let proof = key().sign(&ExternalIpsClaim::of(&svc), 1).render();
    svc.annotations_mut()
        .insert(ANN_EXTERNAL_IPS_PROOF.into(), proof);
    svc
}

/// Fixtures written before proofs existed mark the controller's writes with its field manager:
/// its allocation is signed, and its externalIPs where its condition allows them; every other
/// Service is left as it is.
pub fn signed_where_the_controller_wrote(mut svc: Service) -> Service {
    if owns_ingress(&svc) && !svc.annotations().contains_key(ANN_ALLOCATION_PROOF) {
        svc = signed(svc, 1);
    }
    let allowed = svc
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == CONDITION_EXTERNAL_IPS))
        .is_some_and(|c| c.status == "True");
    if allowed
        && owns_condition(&svc, CONDITION_EXTERNAL_IPS)
        && !svc.annotations().contains_key(ANN_EXTERNAL_IPS_PROOF)
    {
        svc = external_ips_signed(svc);
    }
    svc
}
