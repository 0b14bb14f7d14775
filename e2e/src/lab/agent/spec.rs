//! What one container of a ferrolb Pod runs with, decided from the Pod's spec the way the
//! kubelet and a container runtime decide it: the [`RunPlan`] the agent writes for
//! `ferrolb-lab pod-run` ([`super::pod_run`]), which only carries it out.
//!
//! - argv: `command` or the image's entrypoint, then `args`; `$(VAR)` references expanded;
//! - environment: `KUBERNETES_SERVICE_HOST`/`_PORT` (what in-cluster config reads), the
//!   container's `env` with Downward API fields, the image's `PATH`, `HOSTNAME`;
//! - user: `runAsUser`/`runAsGroup` of the container, else of the Pod, else the image's;
//!   `runAsNonRoot` refuses uid 0 as the kubelet does;
//! - capabilities: the container runtime's default set, less `drop` (`ALL`: everything), plus
//!   `add`; `privileged`: all; `allowPrivilegeEscalation: false` sets no_new_privs;
//! - filesystem: the image's root (read-only with `readOnlyRootFilesystem`), the
//!   ServiceAccount's token, CA and namespace at the usual path, `/etc/hosts`,
//!   `/etc/resolv.conf`; each `hostPath` volume a container mounts, as a directory of the
//!   node's own under the lab ([`host_path`]: the lab's nodes share the host's filesystem).
//!
//! Not applied (the lab has no use for them; said here so nobody relies on them): seccomp
//! profiles, resource limits (cgroups), a PID namespace (containers see the host's processes,
//! which is how the lab finds them), volumes other than the ServiceAccount's and `hostPath`.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::image::{ImageSpec, PATH};

/// Where in-cluster config finds the ServiceAccount's credentials.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The capabilities containerd (and CRI-O) give a container unless told otherwise.
pub const RUNTIME_DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// A host path bound into the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindMount {
    /// Host path (file or directory).
    pub source: PathBuf,
    /// Absolute path inside the container (must exist in the image's root: the agent makes
    /// the mount points when it assembles the root).
    pub target: String,
    /// Read-only.
    pub read_only: bool,
}

/// Everything `pod-run` needs to start one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunPlan {
    /// The image's root filesystem (host path, shared by the containers of the image).
    pub rootfs: PathBuf,
    /// Mount the root read-only; otherwise writes go to an overlay on a fresh tmpfs.
    pub read_only_root: bool,
    /// A host directory of the container's own where the writable overlay's tmpfs is mounted
    /// (inside the container's mount namespace only).
    pub scratch: PathBuf,
    /// A UTS namespace of its own with this host name (Pods without hostNetwork).
    pub hostname: Option<String>,
    /// Bind mounts.
    pub mounts: Vec<BindMount>,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// The container's capabilities (`CAP_...`); a process running as a non-root user gets
    /// none of them after exec, as with any runtime (Kubernetes sets no ambient capabilities).
    pub capabilities: Vec<String>,
    /// Set no_new_privs (`allowPrivilegeEscalation: false`).
    pub no_new_privs: bool,
    /// Program (a path inside the container, or a name looked up in its `PATH`) and arguments.
    pub argv: Vec<String>,
    /// Environment, in order.
    pub env: Vec<(String, String)>,
    /// Working directory inside the container.
    pub workdir: String,
}

/// What the Pod's containers have in common.
#[derive(Debug, Clone)]
pub struct PodContext<'a> {
    /// The Pod.
    pub pod: &'a Pod,
    /// Its node.
    pub node_name: &'a str,
    /// The Pod's IP (the node's for hostNetwork).
    pub pod_ip: IpAddr,
    /// The node's IP.
    pub host_ip: IpAddr,
    /// Where in-cluster config reaches the apiserver ([`crate::Lab::apiserver_for_pods`]).
    pub apiserver: SocketAddr,
    /// The Pod's directory on the host: `serviceaccount/`, `hosts`, `resolv.conf`, scratch.
    pub pod_dir: &'a Path,
    /// The node's filesystem for `hostPath` volumes ([`host_path`]).
    pub host_dir: &'a Path,
    /// Environment the lab adds to find its processes (`FERROLB_LAB`, `FERROLB_LAB_ROLE`).
    pub markers: Vec<(String, String)>,
}

fn spec(pod: &Pod) -> Result<&PodSpec, Error> {
    pod.spec
        .as_ref()
        .ok_or_else(|| Error::msg("a Pod without a spec"))
}

/// Expands `$(NAME)` from `vars` as the kubelet does: unknown names stay as written, `$$`
/// is a literal `$`.
pub fn expand(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            match vars.get(name) {
                Some(v) => out.push_str(v),
                None => out.push_str(&format!("$({name})")),
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A Downward API field's value.
fn field(ctx: &PodContext<'_>, path: &str) -> Result<String, Error> {
    let m = &ctx.pod.metadata;
    let s = spec(ctx.pod)?;
    Ok(match path {
        "metadata.name" => m.name.clone().unwrap_or_default(),
        "metadata.namespace" => m.namespace.clone().unwrap_or_default(),
        "metadata.uid" => m.uid.clone().unwrap_or_default(),
        "spec.nodeName" => ctx.node_name.to_string(),
        "spec.serviceAccountName" => s.service_account_name.clone().unwrap_or_default(),
        "status.podIP" => ctx.pod_ip.to_string(),
        "status.hostIP" => ctx.host_ip.to_string(),
        other => {
            return Err(Error::msg(format!(
                "fieldRef {other:?}: the lab agent fills in metadata.name, metadata.namespace, \
                 metadata.uid, spec.nodeName, spec.serviceAccountName, status.podIP and status.hostIP"
            )));
        }
    })
}

/// Container `c`'s environment as the kubelet makes it: `KUBERNETES_SERVICE_HOST`/`_PORT`,
/// the container's `env` (literal values expanded, Downward API `fieldRef`s resolved), the
/// image's `PATH` and `HOSTNAME` unless set, then the lab's markers.
pub(super) fn environment(
    ctx: &PodContext<'_>,
    c: &Container,
    hostname: &str,
) -> Result<Vec<(String, String)>, Error> {
    let mut env: Vec<(String, String)> = vec![
        (
            "KUBERNETES_SERVICE_HOST".into(),
            ctx.apiserver.ip().to_string(),
        ),
        (
            "KUBERNETES_SERVICE_PORT".into(),
            ctx.apiserver.port().to_string(),
        ),
    ];
    let mut vars: BTreeMap<String, String> = env.iter().cloned().collect();
    for e in c.env.iter().flatten() {
        let value = match (&e.value, &e.value_from) {
            (Some(v), _) => expand(v, &vars),
            (None, Some(from)) => match &from.field_ref {
                Some(f) => field(ctx, &f.field_path)?,
                None => {
                    return Err(Error::msg(format!(
                        "container {}: env {}: the lab agent resolves fieldRef only",
                        c.name, e.name
                    )));
                }
            },
            (None, None) => String::new(),
        };
        vars.insert(e.name.clone(), value.clone());
        env.retain(|(k, _)| *k != e.name);
        env.push((e.name.clone(), value));
    }
    for (k, v) in [("PATH", PATH), ("HOSTNAME", hostname)] {
        if !vars.contains_key(k) {
            env.push((k.into(), v.into()));
        }
    }
    env.extend(ctx.markers.iter().cloned());
    Ok(env)
}

/// uid, gid and supplementary groups, or why the container may not start.
fn identity(s: &PodSpec, c: &Container, image: &ImageSpec) -> Result<(u32, u32, Vec<u32>), Error> {
    let pod = s.security_context.as_ref();
    let ctr = c.security_context.as_ref();
    let id = |v: Option<i64>, what: &str| -> Result<Option<u32>, Error> {
        v.map(|v| {
            u32::try_from(v).map_err(|_| Error::msg(format!("container {}: {what} {v}", c.name)))
        })
        .transpose()
    };
    let uid = id(ctr.and_then(|s| s.run_as_user), "runAsUser")?
        .or(id(pod.and_then(|p| p.run_as_user), "runAsUser")?)
        .unwrap_or(image.user.0);
    let gid = id(ctr.and_then(|s| s.run_as_group), "runAsGroup")?
        .or(id(pod.and_then(|p| p.run_as_group), "runAsGroup")?)
        .unwrap_or(image.user.1);
    let non_root = ctr
        .and_then(|s| s.run_as_non_root)
        .or(pod.and_then(|p| p.run_as_non_root))
        .unwrap_or(false);
    if non_root && uid == 0 {
        return Err(Error::msg(format!(
            "container {}: runAsNonRoot and the container would run as root (uid 0)",
            c.name
        )));
    }
    let mut groups = vec![gid];
    for g in pod
        .iter()
        .flat_map(|p| p.supplemental_groups.iter().flatten())
    {
        groups.push(id(Some(*g), "supplementalGroups")?.unwrap_or(gid));
    }
    if let Some(fs) = id(pod.and_then(|p| p.fs_group), "fsGroup")? {
        groups.push(fs);
    }
    groups.sort_unstable();
    groups.dedup();
    Ok((uid, gid, groups))
}

/// `NET_ADMIN` → `CAP_NET_ADMIN`.
fn cap_name(k8s: &str) -> String {
    let upper = k8s.to_ascii_uppercase();
    if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

/// The container's capabilities (sorted `CAP_...` names).
pub fn capabilities(c: &Container) -> Result<Vec<String>, Error> {
    let sc = c.security_context.as_ref();
    let all = || {
        let mut v: Vec<String> = caps::all().iter().map(ToString::to_string).collect();
        v.sort();
        v
    };
    if sc.and_then(|s| s.privileged) == Some(true) {
        return Ok(all());
    }
    let cs = sc.and_then(|s| s.capabilities.as_ref());
    let drop: Vec<String> = cs
        .into_iter()
        .flat_map(|c| c.drop.iter().flatten())
        .map(|d| cap_name(d))
        .collect();
    let mut out: Vec<String> = if drop.iter().any(|d| d == "CAP_ALL") {
        Vec::new()
    } else {
        RUNTIME_DEFAULT_CAPS
            .iter()
            .map(ToString::to_string)
            .filter(|c| !drop.contains(c))
            .collect()
    };
    for add in cs.into_iter().flat_map(|c| c.add.iter().flatten()) {
        let name = cap_name(add);
        if name == "CAP_ALL" {
            return Ok(all());
        }
        if name.parse::<caps::Capability>().is_err() {
            return Err(Error::msg(format!(
                "container {}: capability {add:?} is not one Linux knows",
                c.name
            )));
        }
        out.push(name);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The run plan of container `c` of `image`, whose root filesystem is at `rootfs`.
pub fn plan(
    ctx: &PodContext<'_>,
    c: &Container,
    image: &ImageSpec,
    rootfs: &Path,
) -> Result<RunPlan, Error> {
    let s = spec(ctx.pod)?;
    let host_network = s.host_network == Some(true);
    let pod_name = ctx.pod.metadata.name.clone().unwrap_or_default();
    let hostname = if host_network {
        ctx.node_name.to_string()
    } else {
        s.hostname.clone().unwrap_or_else(|| pod_name.clone())
    };
    let env = environment(ctx, c, &hostname)?;
    let vars: BTreeMap<String, String> = env.iter().cloned().collect();
    let mut argv: Vec<String> = match &c.command {
        Some(cmd) if !cmd.is_empty() => cmd.iter().map(|a| expand(a, &vars)).collect(),
        _ => vec![image.entrypoint.to_string()],
    };
    argv.extend(c.args.iter().flatten().map(|a| expand(a, &vars)));
    let (uid, gid, groups) = identity(s, c, image)?;
    let sc = c.security_context.as_ref();
    let mut mounts = vec![
        BindMount {
            source: ctx.pod_dir.join("hosts"),
            target: "/etc/hosts".into(),
            read_only: false,
        },
        BindMount {
            source: ctx.pod_dir.join("resolv.conf"),
            target: "/etc/resolv.conf".into(),
            read_only: false,
        },
    ];
    if s.automount_service_account_token != Some(false) {
        mounts.push(BindMount {
            source: ctx.pod_dir.join("serviceaccount"),
            target: SERVICE_ACCOUNT_DIR.into(),
            read_only: true,
        });
    }
    mounts.extend(host_path_mounts(ctx, s, c));
    Ok(RunPlan {
        rootfs: rootfs.to_path_buf(),
        read_only_root: sc.and_then(|s| s.read_only_root_filesystem) == Some(true),
        scratch: ctx.pod_dir.join(format!("scratch-{}", c.name)),
        hostname: (!host_network).then_some(hostname),
        mounts,
        uid,
        gid,
        groups,
        capabilities: capabilities(c)?,
        no_new_privs: sc.and_then(|s| s.allow_privilege_escalation) == Some(false),
        argv,
        env,
        workdir: c.working_dir.clone().unwrap_or_else(|| "/".into()),
    })
}

/// Where a node's `hostPath` `path` is in the lab: under `host_dir`, the node's own directory
/// (always a directory, made when the Pod starts: `DirectoryOrCreate`).
pub fn host_path(host_dir: &Path, path: &str) -> PathBuf {
    host_dir.join(path.trim_start_matches('/'))
}

/// The bind mounts of `c`'s `volumeMounts` of `hostPath` volumes.
fn host_path_mounts(ctx: &PodContext<'_>, s: &PodSpec, c: &Container) -> Vec<BindMount> {
    let mut out = Vec::new();
    for m in c.volume_mounts.iter().flatten() {
        let volume = s.volumes.iter().flatten().find(|v| v.name == m.name);
        // Others are not applied (the ServiceAccount's projected volume is mounted apart).
        let Some(host) = volume.and_then(|v| v.host_path.as_ref()) else {
            continue;
        };
        out.push(BindMount {
            source: host_path(ctx.host_dir, &host.path),
            target: m.mount_path.clone(),
            read_only: m.read_only == Some(true),
        });
    }
    out
}

/// `/etc/hosts` as the kubelet writes it for a Pod.
pub fn hosts_file(ip: IpAddr, hostname: &str) -> String {
    format!(
        "# Kubernetes-managed hosts file (the ferrolb lab's node agent).\n127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\n\
         fe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n{ip}\t{hostname}\n"
    )
}

/// `/etc/resolv.conf` for a Pod of `namespace`: the cluster's search path. The lab runs no
/// cluster DNS, so there is no nameserver; ferrolb resolves no names (it reaches the
/// apiserver by address).
pub fn resolv_conf(namespace: &str) -> String {
    format!(
        "# The ferrolb lab runs no cluster DNS.\nsearch {namespace}.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"
    )
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
