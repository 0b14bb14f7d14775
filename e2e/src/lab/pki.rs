//! Certificates for the lab's control plane: one CA, the apiserver's serving certificate, client
//! certificates for the admin and the controllers, and the ServiceAccount signing key.

use std::fs;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use crate::Error;
use crate::lab::plan::{CONTROL_PLANE, SERVICE_CIDRS};

fn rc(what: &str) -> impl Fn(rcgen::Error) -> Error + '_ {
    move |e| Error::msg(format!("generating {what}: {e}"))
}

fn write(dir: &Path, name: &str, text: &str) -> Result<(), Error> {
    let path = dir.join(name);
    fs::write(&path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// The client identities the lab issues certificates for: (file stem, CN, groups).
pub const CLIENTS: [(&str, &str, &[&str]); 4] = [
    ("admin", "lab-admin", &["system:masters"]),
    // The apiserver's client of the nodes' exec endpoint (`lab-kubelet`).
    (
        "apiserver-kubelet-client",
        "kube-apiserver-kubelet-client",
        &[],
    ),
    ("kcm", "system:kube-controller-manager", &[]),
    ("scheduler", "system:kube-scheduler", &[]),
];

/// Writes every certificate and key into `dir` unless `ca.crt` is already there.
pub fn ensure(dir: &Path) -> Result<(), Error> {
    if dir.join("ca.crt").exists() && dir.join("sa.pub").exists() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;

    let ca_key = KeyPair::generate().map_err(rc("CA key"))?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(rc("CA"))?;
    ca.distinguished_name = dn("ferrolb-lab-ca", &[]);
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).map_err(rc("CA"))?;
    write(dir, "ca.crt", &ca_cert.pem())?;
    write(dir, "ca.key", &ca_key.serialize_pem())?;
    let issuer = Issuer::new(ca, ca_key);

    leaf(
        dir,
        "apiserver",
        &issuer,
        apiserver_sans(),
        dn("kube-apiserver", &[]),
        true,
    )?;
    for (stem, cn, groups) in CLIENTS {
        leaf(dir, stem, &issuer, Vec::new(), dn(cn, groups), false)?;
    }

    let sa = KeyPair::generate().map_err(rc("ServiceAccount key"))?;
    write(dir, "sa.key", &sa.serialize_pem())?;
    write(dir, "sa.pub", &sa.public_key_pem())?;
    Ok(())
}

/// The names and addresses the apiserver's certificate covers: its LAN addresses (where
/// host processes and, without kube-proxy, Pods reach it), loopback, and the `kubernetes`
/// Service's names and ClusterIPs (the first address of each Service range), where Pods reach
/// it once kube-proxy runs.
pub fn apiserver_sans() -> Vec<String> {
    let mut sans = vec![
        CONTROL_PLANE.v4.to_string(),
        CONTROL_PLANE.v6.to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
        "localhost".to_string(),
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
        "kubernetes.default.svc".to_string(),
        "kubernetes.default.svc.cluster.local".to_string(),
    ];
    sans.extend(SERVICE_CIDRS.split(',').filter_map(first_host));
    sans
}

fn first_host(cidr: &str) -> Option<String> {
    let net: ipnet::IpNet = cidr.parse().ok()?;
    net.hosts().next().map(|a| a.to_string())
}

fn dn(cn: &str, orgs: &[&str]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    for o in orgs {
        dn.push(DnType::OrganizationName, *o);
    }
    dn
}

fn leaf(
    dir: &Path,
    stem: &str,
    issuer: &Issuer<'_, KeyPair>,
    sans: Vec<String>,
    subject: DistinguishedName,
    server: bool,
) -> Result<(), Error> {
    let key = KeyPair::generate().map_err(rc(stem))?;
    let mut params = CertificateParams::new(sans).map_err(rc(stem))?;
    params.distinguished_name = subject;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![if server {
        ExtendedKeyUsagePurpose::ServerAuth
    } else {
        ExtendedKeyUsagePurpose::ClientAuth
    }];
    let cert = params.signed_by(&key, issuer).map_err(rc(stem))?;
    write(dir, &format!("{stem}.crt"), &cert.pem())?;
    write(dir, &format!("{stem}.key"), &key.serialize_pem())?;
    Ok(())
}

/// Writes a kubeconfig for client `stem` (a file from [`CLIENTS`]) talking to `server`.
pub fn kubeconfig(dir: &Path, stem: &str, server: &str, out: &Path) -> Result<(), Error> {
    let p = |f: &str| dir.join(f).display().to_string();
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\nusers:\n- name: {stem}\n  user:\n    client-certificate: {crt}\n    client-key: {key}\ncontexts:\n- name: lab\n  context:\n    cluster: lab\n    user: {stem}\ncurrent-context: lab\n",
        ca = p("ca.crt"),
        crt = p(&format!("{stem}.crt")),
        key = p(&format!("{stem}.key")),
    );
    fs::write(out, text).map_err(|e| Error::io(format!("writing {}", out.display()), e))
}

/// Writes a kubeconfig (readable by its owner only) for `user` authenticating with `token` to
/// `server`, trusting the lab's CA in `dir`, with `namespace` as its default.
pub fn token_kubeconfig(
    dir: &Path,
    user: &str,
    token: &str,
    server: &str,
    namespace: &str,
    out: &Path,
) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\nusers:\n- name: {user}\n  user:\n    token: {token}\ncontexts:\n- name: lab\n  context:\n    cluster: lab\n    user: {user}\n    namespace: {namespace}\ncurrent-context: lab\n",
        ca = dir.join("ca.crt").display(),
    );
    let io = |e| Error::io(format!("writing {}", out.display()), e);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(out)
        .map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::install::apiserver_for_pods;

    #[test]
    fn the_certificate_covers_where_pods_reach_the_apiserver_with_and_without_kube_proxy() {
        let sans = apiserver_sans();
        for mode in crate::lab::KubeProxyMode::ALL {
            for stack in crate::lab::plan::IpStack::ALL {
                let ip = apiserver_for_pods(mode, stack).ip().to_string();
                assert!(sans.contains(&ip), "{ip} not in {sans:?}");
            }
        }
    }
}
