//! Proofs: what makes a Service's LoadBalancer addresses, and its allowed externalIPs, the
//! controller's decision, in a way a client cannot fake.
//!
//! Anyone with `services/status` rights can write `status.loadBalancer.ingress`, and field
//! manager names in `managedFields` are chosen by the client, so neither proves who allocated
//! an address (CVE-2020-8554). The controller therefore signs each allocation with an Ed25519
//! key that only its ServiceAccount can read (kept in its webhook Secret) and writes the
//! signature in annotation [`ANN_ALLOCATION_PROOF`]. The signed [`Claim`] binds the Service's
//! UID (so a proof cannot be copied to another Service), its addresses, the pools of
//! [`ANN_ALLOCATED_FROM`], its sharing key and, when it has one, its ports (so sharing is
//! checked against the ports the controller saw), and the time of signing (so a replayed old
//! proof loses to a newer allocation of the same address: [`crate::allocations`]).
//!
//! The controller's externalIPs verdict is signed the same way ([`ExternalIpsClaim`], annotation
//! [`ANN_EXTERNAL_IPS_PROOF`]): speakers announce an externalIP only when the controller
//! signed exactly the Service's current list, never because a condition says so.
//!
//! The public keys are published in the ConfigMap [`ALLOCATION_KEYS_CONFIGMAP`] of ferrolb's
//! namespace, which only ferrolb's controller may write; speakers and the edge verify with them.
//! Pure: keys are values the I/O shells load.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

pub use claim::{Claim, ExternalIpsClaim};
pub use ferrolb_api::names::ALLOCATION_KEYS_CONFIGMAP;
#[cfg(doc)]
use ferrolb_api::names::{ANN_ALLOCATED_FROM, ANN_ALLOCATION_PROOF, ANN_EXTERNAL_IPS_PROOF};

/// The proof format's version (first field of the annotation).
const VERSION: &str = "v1";

/// Something the controller signs. Each kind has its own annotation and its own context
/// string, so a signature over one kind never verifies as another.
pub trait Claimed {
    /// The Service annotation that holds the proof.
    const ANNOTATION: &'static str;
    /// Domain separation: these bytes sign nothing else.
    const CONTEXT: &'static str;
    /// What the signature binds, in words for a failed verification.
    const BINDS: &'static str;
    /// What a Service without the annotation means, in words an operator can act on.
    const MISSING: &'static str;
    /// The signed fields, in order.
    fn fields(&self) -> Vec<String>;

    /// The signed bytes: the context, every field and the time, each length-prefixed (no two
    /// claims give the same bytes).
    fn message(&self, issued: i64) -> Vec<u8> {
        let mut out = Vec::new();
        let mut push = |s: &str| {
            out.extend_from_slice(&(s.len() as u64).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        push(Self::CONTEXT);
        for field in self.fields() {
            push(&field);
        }
        push(&issued.to_string());
        out
    }
}

/// A proof as the annotation holds it: `v1.<key id>.<issued, unix seconds>.<signature>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// Which key signed ([`key_id`]).
    pub key_id: String,
    /// When the controller signed (unix seconds).
    pub issued: i64,
    /// The Ed25519 signature.
    pub signature: Vec<u8>,
}

impl Proof {
    /// Reads an annotation value.
    pub fn parse(text: &str) -> Result<Proof, String> {
        let parts: Vec<&str> = text.trim().split('.').collect();
        let [version, key_id, issued, signature] = parts[..] else {
            return Err(format!(
                "the proof {text:?} is not v1.<key>.<issued>.<signature>"
            ));
        };
        if version != VERSION {
            return Err(format!(
                "the proof has version {version:?}; this build reads {VERSION}"
            ));
        }
        let issued = issued
            .parse()
            .map_err(|_| format!("the proof's issued time {issued:?} is not a number"))?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| "the proof's signature is not base64url".to_string())?;
        Ok(Proof {
            key_id: key_id.to_string(),
            issued,
            signature,
        })
    }

    /// The annotation value.
    pub fn render(&self) -> String {
        format!(
            "{VERSION}.{}.{}.{}",
            self.key_id,
            self.issued,
            URL_SAFE_NO_PAD.encode(&self.signature)
        )
    }
}

/// A key's id: the first 8 bytes of SHA-256 of its public key, in hex.
pub fn key_id(public_key: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, public_key);
    digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The public keys proofs are verified with, by key id, and the verifications already made
/// with them ([`verified`]: each proof is checked once however often it is asked about).
#[derive(Debug, Clone, Default)]
pub struct VerifyKeys(BTreeMap<String, Vec<u8>>, verified::Verified);

impl PartialEq for VerifyKeys {
    fn eq(&self, other: &VerifyKeys) -> bool {
        self.0 == other.0
    }
}

impl Eq for VerifyKeys {}

impl VerifyKeys {
    /// Keys from the ConfigMap's data: `<key id>: <base64 public key>`. Entries whose id does
    /// not match their key, or that do not decode, are skipped with the reason.
    pub fn from_data(data: &BTreeMap<String, String>) -> (VerifyKeys, Vec<String>) {
        let mut keys = BTreeMap::new();
        let mut problems = Vec::new();
        for (id, text) in data {
            match STANDARD.decode(text.trim()) {
                Ok(key) if key.len() == 32 && key_id(&key) == *id => {
                    keys.insert(id.clone(), key);
                }
                Ok(_) => problems.push(format!(
                    "ConfigMap {ALLOCATION_KEYS_CONFIGMAP}: entry {id:?} is not a 32-byte Ed25519 public key with that id; ignored"
                )),
                Err(_) => problems.push(format!(
                    "ConfigMap {ALLOCATION_KEYS_CONFIGMAP}: entry {id:?} is not base64; ignored"
                )),
            }
        }
        (VerifyKeys(keys, verified::Verified::default()), problems)
    }

    /// These keys, remembering their verifications in `earlier`'s memo (shared from then on):
    /// keys read again from a changed ConfigMap keep what was verified before, which stays
    /// right because a memo entry digests the public key with the message and signature.
    pub fn remembering_with(self, earlier: &VerifyKeys) -> VerifyKeys {
        VerifyKeys(self.0, earlier.1.clone())
    }

    /// How many successful verifications these keys remember.
    pub fn remembered(&self) -> usize {
        self.1.len()
    }

    /// Adds one public key.
    pub fn insert(&mut self, public_key: &[u8]) {
        self.0.insert(key_id(public_key), public_key.to_vec());
    }

    /// No key is known (nothing can be verified).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The ConfigMap data for these keys.
    pub fn to_data(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .map(|(id, key)| (id.clone(), STANDARD.encode(key)))
            .collect()
    }

    /// Whether `proof` signs `claim` under a known key; `Err` says why not, in words an
    /// operator can act on.
    pub fn verify<C: Claimed>(&self, claim: &C, proof: &Proof) -> Result<(), String> {
        let Some(key) = self.0.get(&proof.key_id) else {
            return Err(format!(
                "{} names key {}, which ConfigMap {ALLOCATION_KEYS_CONFIGMAP} does not publish",
                C::ANNOTATION,
                proof.key_id
            ));
        };
        let message = claim.message(proof.issued);
        self.1.check(key, &message, &proof.signature, || {
            UnparsedPublicKey::new(&ED25519, key)
                .verify(&message, &proof.signature)
                .map_err(|_| format!("{} does not match {}", C::ANNOTATION, C::BINDS))
        })
    }

    /// Verifies the proof `svc` carries in `C`'s annotation for `claim`, what it claims now;
    /// the proof is returned when it holds.
    pub fn verify_annotation<C: Claimed>(&self, svc: &Service, claim: &C) -> Result<Proof, String> {
        let Some(text) = svc.annotations().get(C::ANNOTATION) else {
            return Err(format!("no {} annotation: {}", C::ANNOTATION, C::MISSING));
        };
        let proof = Proof::parse(text).map_err(|e| format!("{}: {e}", C::ANNOTATION))?;
        self.verify(claim, &proof)?;
        Ok(proof)
    }

    /// Verifies `svc`'s allocation proof for its current addresses ([`Claim::of`]).
    pub fn verify_service(&self, svc: &Service) -> Result<Proof, String> {
        self.verify_annotation(svc, &Claim::of(svc))
    }

    /// Verifies `svc`'s externalIPs proof for its current `spec.externalIPs`
    /// ([`ExternalIpsClaim::of`]).
    pub fn verify_external_ips(&self, svc: &Service) -> Result<Proof, String> {
        self.verify_annotation(svc, &ExternalIpsClaim::of(svc))
    }
}

/// The controller's signing key (Ed25519, PKCS#8). Its bytes never show in `Debug` output.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    pkcs8: Vec<u8>,
    /// [`key_id`] of the public key, computed once.
    id: String,
}

impl SigningKey {
    /// A key from stored PKCS#8 bytes.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<SigningKey, String> {
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8)
            .map_err(|e| format!("the allocation signing key is not Ed25519 PKCS#8: {e}"))?;
        let id = key_id(pair.public_key().as_ref());
        Ok(SigningKey {
            pair,
            pkcs8: pkcs8.to_vec(),
            id,
        })
    }

    /// A fresh random key.
    pub fn generate() -> Result<SigningKey, String> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| "no random numbers for an allocation signing key".to_string())?;
        SigningKey::from_pkcs8(pkcs8.as_ref())
    }

    /// The bytes to store.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key.
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// The public key's [`key_id`].
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Signs `claim` at `issued` (unix seconds).
    pub fn sign<C: Claimed>(&self, claim: &C, issued: i64) -> Proof {
        Proof {
            key_id: self.id.clone(),
            issued,
            signature: self.pair.sign(&claim.message(issued)).as_ref().to_vec(),
        }
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.id)
    }
}

mod claim;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;
mod verified;
