use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use ferrolb_api::names::{
    ANN_ALLOCATED_FROM, ANN_ALLOCATION_PROOF, ANN_EXTERNAL_IPS_PROOF, ANN_SHARING_KEY,
};

pub(crate) fn service(uid: &str, annotations: Value, ips: &[&str], ports: Value) -> Service {
    let ingress: Vec<Value> = ips.iter().map(|i| json!({ "ip": i })).collect();
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default", "uid": uid, "annotations": annotations},
        "spec": {"type": "LoadBalancer", "ports": ports},
        "status": {"loadBalancer": {"ingress": ingress}},
    }))
    .unwrap()
}

fn signed(key: &SigningKey, mut svc: Service, issued: i64) -> Service {
    let proof = key.sign(&Claim::of(&svc), issued).render();
    svc.annotations_mut()
        .insert(ANN_ALLOCATION_PROOF.into(), proof);
    svc
}

fn keys_of(key: &SigningKey) -> VerifyKeys {
    let mut keys = VerifyKeys::default();
    keys.insert(key.public_key());
    keys
}

fn web(uid: &str) -> Service {
    service(
        uid,
        json!({ANN_ALLOCATED_FROM: "red"}),
        &["198.51.100.1", "2001:db8::1"],
        json!([{"port": 80}]),
    )
}

#[test]
fn a_signed_allocation_verifies_and_survives_a_round_trip() {
    let key = SigningKey::generate().unwrap();
    let svc = signed(&key, web("u1"), 1_700_000_000);
    let proof = keys_of(&key).verify_service(&svc).unwrap();
    assert_eq!(proof.issued, 1_700_000_000);
    assert_eq!(Proof::parse(&proof.render()).unwrap(), proof);
    let again = SigningKey::from_pkcs8(key.pkcs8()).unwrap();
    assert_eq!(again.public_key(), key.public_key());
}

#[test]
fn every_signed_field_matters() {
    let key = SigningKey::generate().unwrap();
    let keys = keys_of(&key);
    let good = signed(&key, web("u1"), 10);
    let proof = good.annotations()[ANN_ALLOCATION_PROOF].clone();
    let with_proof = |mut svc: Service| {
        svc.annotations_mut()
            .insert(ANN_ALLOCATION_PROOF.into(), proof.clone());
        svc
    };
    // Copied to another Service (another UID).
    assert!(keys.verify_service(&with_proof(web("u2"))).is_err());
    // Another address in the status.
    let mut other_ip = web("u1");
    other_ip
        .status
        .as_mut()
        .unwrap()
        .load_balancer
        .as_mut()
        .unwrap()
        .ingress
        .as_mut()
        .unwrap()[0]
        .ip = Some("198.51.100.2".into());
    assert!(keys.verify_service(&with_proof(other_ip)).is_err());
    // Another pool named.
    let mut other_pool = web("u1");
    other_pool
        .annotations_mut()
        .insert(ANN_ALLOCATED_FROM.into(), "blue".into());
    assert!(keys.verify_service(&with_proof(other_pool)).is_err());
    // A sharing key added after signing.
    let mut shared = web("u1");
    shared
        .annotations_mut()
        .insert(ANN_SHARING_KEY.into(), "k".into());
    assert!(keys.verify_service(&with_proof(shared)).is_err());
    // Another issued time.
    let forged_time = proof.replacen(".10.", ".11.", 1);
    let mut later = web("u1");
    later
        .annotations_mut()
        .insert(ANN_ALLOCATION_PROOF.into(), forged_time);
    assert!(keys.verify_service(&later).is_err());
    // Unknown key.
    let stranger = SigningKey::generate().unwrap();
    let err = keys_of(&stranger).verify_service(&good).unwrap_err();
    assert!(err.contains("does not publish"), "{err}");
    // No annotation at all.
    let err = keys.verify_service(&web("u1")).unwrap_err();
    assert!(
        err.contains("no ferrolb.io/allocation-proof annotation"),
        "{err}"
    );
}

#[test]
fn ports_count_only_with_a_sharing_key() {
    let key = SigningKey::generate().unwrap();
    let keys = keys_of(&key);
    let shared = |ports: Value| {
        service(
            "u1",
            json!({ANN_ALLOCATED_FROM: "red", ANN_SHARING_KEY: "k"}),
            &["198.51.100.1"],
            ports,
        )
    };
    let svc = signed(
        &key,
        shared(json!([{"port": 80}, {"port": 53, "protocol": "UDP"}])),
        5,
    );
    assert_eq!(Claim::of(&svc).ports, ["TCP/80", "UDP/53"]);
    let mut moved = shared(json!([{"port": 81}, {"port": 53, "protocol": "UDP"}]));
    moved.annotations_mut().insert(
        ANN_ALLOCATION_PROOF.into(),
        svc.annotations()[ANN_ALLOCATION_PROOF].clone(),
    );
    assert!(keys.verify_service(&moved).is_err());
    // Without a sharing key, ports may change freely.
    let plain = signed(&key, web("u1"), 5);
    let mut other_ports = web("u1");
    other_ports.spec.as_mut().unwrap().ports.as_mut().unwrap()[0].port = 443;
    other_ports.annotations_mut().insert(
        ANN_ALLOCATION_PROOF.into(),
        plain.annotations()[ANN_ALLOCATION_PROOF].clone(),
    );
    assert!(keys.verify_service(&other_ports).is_ok());
}

#[test]
fn published_keys_are_checked_against_their_ids() {
    let key = SigningKey::generate().unwrap();
    let data = keys_of(&key).to_data();
    let (keys, problems) = VerifyKeys::from_data(&data);
    assert!(problems.is_empty());
    assert_eq!(keys, keys_of(&key));
    let mut wrong = BTreeMap::new();
    let (id, value) = data.into_iter().next().unwrap();
    wrong.insert(format!("{id}00"), value);
    wrong.insert("x".into(), "not base64!".into());
    let (keys, problems) = VerifyKeys::from_data(&wrong);
    assert!(keys.is_empty());
    assert_eq!(problems.len(), 2, "{problems:?}");
}

#[test]
fn malformed_annotations_are_named() {
    let keys = keys_of(&SigningKey::generate().unwrap());
    for text in ["", "v1.a.b", "v2.k.1.AAAA", "v1.k.x.AAAA", "v1.k.1.***"] {
        let mut svc = web("u1");
        svc.annotations_mut()
            .insert(ANN_ALLOCATION_PROOF.into(), text.into());
        let err = keys.verify_service(&svc).unwrap_err();
        assert!(err.starts_with(ANN_ALLOCATION_PROOF), "{text}: {err}");
    }
}

fn with_external_ips(uid: &str, ips: &[&str]) -> Service {
    let mut svc = web(uid);
    svc.spec.as_mut().unwrap().external_ips = Some(ips.iter().map(|s| s.to_string()).collect());
    svc
}

#[test]
fn external_ips_proofs_bind_the_uid_and_the_list_but_not_its_order() {
    let key = SigningKey::generate().unwrap();
    let keys = keys_of(&key);
    let mut svc = with_external_ips("u1", &["192.0.2.7", "192.0.2.8"]);
    let proof = key.sign(&ExternalIpsClaim::of(&svc), 5).render();
    svc.annotations_mut()
        .insert(ANN_EXTERNAL_IPS_PROOF.into(), proof.clone());
    assert!(keys.verify_external_ips(&svc).is_ok());

    let mut reordered = with_external_ips("u1", &[" 192.0.2.8", "192.0.2.7"]);
    reordered
        .annotations_mut()
        .insert(ANN_EXTERNAL_IPS_PROOF.into(), proof.clone());
    assert!(keys.verify_external_ips(&reordered).is_ok());

    for (uid, ips) in [
        ("u2", &["192.0.2.7", "192.0.2.8"][..]),
        ("u1", &["192.0.2.7", "192.0.2.8", "203.0.113.9"][..]),
        ("u1", &["192.0.2.7"][..]),
    ] {
        let mut other = with_external_ips(uid, ips);
        other
            .annotations_mut()
            .insert(ANN_EXTERNAL_IPS_PROOF.into(), proof.clone());
        let err = keys.verify_external_ips(&other).unwrap_err();
        assert!(err.contains("spec.externalIPs"), "{uid} {ips:?}: {err}");
    }
    let err = keys
        .verify_external_ips(&with_external_ips("u1", &["192.0.2.7"]))
        .unwrap_err();
    assert!(err.starts_with("no ferrolb.io/external-ips-proof"), "{err}");
}

#[test]
fn a_proof_of_one_kind_never_verifies_as_the_other() {
    let key = SigningKey::generate().unwrap();
    let keys = keys_of(&key);
    // The same UID, and the same text in the one field both claims share the shape of.
    let mut svc = with_external_ips("u1", &[]);
    let allocation = key.sign(&Claim::of(&svc), 5).render();
    svc.annotations_mut()
        .insert(ANN_EXTERNAL_IPS_PROOF.into(), allocation);
    assert!(keys.verify_external_ips(&svc).is_err());
    let external = key.sign(&ExternalIpsClaim::of(&svc), 5).render();
    svc.annotations_mut()
        .insert(ANN_ALLOCATION_PROOF.into(), external);
    assert!(keys.verify_service(&svc).is_err());
}

proptest! {
    /// Any change of any byte of a proof makes it fail (or not parse).
    #[test]
    fn tampered_proofs_never_verify(pos in 0usize..200, byte in any::<u8>()) {
        let key = SigningKey::generate().unwrap();
        let good = signed(&key, web("u1"), 42);
        let mut text = good.annotations()[ANN_ALLOCATION_PROOF].clone().into_bytes();
        let pos = pos % text.len();
        prop_assume!(text[pos] != byte);
        text[pos] = byte;
        let Ok(text) = String::from_utf8(text) else { return Ok(()) };
        let mut svc = web("u1");
        svc.annotations_mut().insert(ANN_ALLOCATION_PROOF.into(), text.clone());
        // base64url without padding may decode two spellings of the last character to the
        // same bytes; a tampered proof either fails or carries the same signature and time.
        if let Ok(proof) = keys_of(&key).verify_service(&svc) {
            prop_assert_eq!(proof, Proof::parse(&good.annotations()[ANN_ALLOCATION_PROOF]).unwrap());
        }
    }
}

/// The verifications are remembered ([`verified`]): a Service verified once, then shown with
/// another key's signature, another address or under another key set, is checked again.
#[test]
fn a_remembered_verification_never_vouches_for_anything_else() {
    let key = SigningKey::generate().unwrap();
    let keys = keys_of(&key);
    let good = signed(&key, web("u1"), 10);
    for _ in 0..3 {
        assert!(keys.clone().verify_service(&good).is_ok());
    }
    let forger = SigningKey::generate().unwrap();
    let mut forged = signed(&forger, web("u1"), 10);
    // The forger's signature under the real key's id.
    let real_id = key_id(key.public_key());
    let text =
        forged.annotations()[ANN_ALLOCATION_PROOF].replace(&key_id(forger.public_key()), &real_id);
    forged
        .annotations_mut()
        .insert(ANN_ALLOCATION_PROOF.into(), text);
    assert!(keys.verify_service(&forged).is_err());
    let mut moved = good.clone();
    moved.status = web("u1").status.map(|mut s| {
        if let Some(lb) = s.load_balancer.as_mut() {
            lb.ingress = Some(vec![
                serde_json::from_value(json!({"ip": "198.51.100.9"})).unwrap(),
            ]);
        }
        s
    });
    assert!(keys.verify_service(&moved).is_err());
    assert!(keys_of(&forger).verify_service(&good).is_err());
}
