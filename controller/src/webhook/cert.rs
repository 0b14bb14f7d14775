//! The webhook's own certificates: a CA and a serving certificate for the webhook Service's
//! DNS names, made with rcgen. Pure apart from the clock the caller passes in.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// How long a certificate lives.
pub const VALIDITY: Duration = Duration::days(365);
/// Renew when less than this is left.
pub const RENEW_BEFORE: Duration = Duration::days(30);

/// A CA and a serving certificate signed by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Material {
    /// The CA certificate (PEM).
    pub ca_pem: String,
    /// The serving certificate (PEM).
    pub cert_pem: String,
    /// The serving certificate's private key (PEM).
    pub key_pem: String,
    /// When both expire (unix seconds).
    pub not_after: i64,
    /// The DNS names the serving certificate is for.
    pub names: Vec<String>,
}

/// The DNS names the apiserver uses for a webhook Service.
pub fn service_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

/// Issues a new CA and serving certificate for `names`, valid from `now` for [`VALIDITY`].
pub fn issue(names: &[String], now: OffsetDateTime) -> Result<Material, rcgen::Error> {
    let not_before = now - Duration::minutes(5);
    let not_after = now + VALIDITY;
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name = dn("ferrolb-webhook-ca");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(names.to_vec())?;
    leaf.distinguished_name = dn(names.first().map_or("ferrolb-webhook", String::as_str));
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = not_before;
    leaf.not_after = not_after;
    let cert = leaf.signed_by(&key, &issuer)?;
    Ok(Material {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        not_after: not_after.unix_timestamp(),
        names: names.to_vec(),
    })
}

/// Why `m` must be replaced, if it must.
pub fn renewal_reason(m: &Material, names: &[String], now: OffsetDateTime) -> Option<String> {
    let mut want = names.to_vec();
    want.sort();
    let mut have = m.names.clone();
    have.sort();
    if want != have {
        return Some(format!("the certificate is for {have:?}, not {want:?}"));
    }
    let left = m.not_after - now.unix_timestamp();
    if left < RENEW_BEFORE.whole_seconds() {
        return Some(format!("the certificate expires in {} days", left / 86_400));
    }
    None
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_for_the_service_names_and_renews_near_expiry() {
        let names = service_names("ferrolb-webhook", "ferrolb-system");
        let now = OffsetDateTime::now_utc();
        let m = issue(&names, now).expect("issued");
        assert!(m.cert_pem.contains("BEGIN CERTIFICATE"));
        assert!(m.key_pem.contains("PRIVATE KEY"));
        assert_eq!(renewal_reason(&m, &names, now), None);
        let late = now + VALIDITY - Duration::days(10);
        assert!(renewal_reason(&m, &names, late).is_some_and(|r| r.contains("expires")));
        let other = service_names("other", "ferrolb-system");
        assert!(renewal_reason(&m, &other, now).is_some());
    }
}
