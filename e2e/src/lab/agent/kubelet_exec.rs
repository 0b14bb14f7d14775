//! What the lab's kubelet exec server (`lab-kubelet`, one per node on port 10250, where the
//! Nodes' `daemonEndpoints` point) needs from the agent: the exec map, and the servers
//! themselves, started with the agent.
//!
//! The exec map is a directory, `<lab>/exec/<namespace>/<pod>`: one file per Pod the agent
//! runs (echo, agnhost and ferrolb Pods), holding exactly the name of the network namespace
//! the Pod's processes run in (the node's for hostNetwork Pods). `kubectl exec` runs the
//! host's tools in that namespace. Files are written atomically (a temporary file renamed)
//! and removed when the Pod is.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::lab::controlplane;
use crate::lab::plan::{IpStack, NodePlan};
use crate::lab::process::{self, Spawn};
use crate::{Error, Lab};

/// The port the kubelet serves on (`daemonEndpoints.kubeletEndpoint.Port`).
pub const KUBELET_PORT: u16 = 10250;

/// The exec map's file of Pod `namespace`/`name` under `dir`.
pub fn entry_path(dir: &Path, namespace: &str, name: &str) -> PathBuf {
    dir.join(namespace).join(name)
}

/// The lab role of node `node`'s exec server.
pub fn kubelet_role(node: &NodePlan) -> String {
    format!("lab-kubelet-{}", node.name())
}

/// The argv of node `node`'s exec server (`bin`: the `lab-kubelet` binary), listening on the
/// node's addresses of `stack`.
pub fn kubelet_argv(bin: &Path, node: &NodePlan, lab_dir: &Path, stack: IpStack) -> Vec<String> {
    let mut argv = vec![bin.display().to_string()];
    for ip in stack.addresses(node.host.v4, node.host.v6) {
        argv.push("--listen".into());
        argv.push(SocketAddr::new(ip, KUBELET_PORT).to_string());
    }
    argv.extend([
        "--pods-dir".into(),
        lab_dir.join("exec").display().to_string(),
        "--client-ca".into(),
        lab_dir.join("pki/ca.crt").display().to_string(),
        "--kubeconfig".into(),
        lab_dir.join("admin-lan.kubeconfig").display().to_string(),
    ]);
    argv
}

/// Starts every node's exec server that does not run, in the node's network namespace; says
/// so on stderr and starts none when the binary is missing.
pub fn start_kubelets(lab: &Lab, nodes: &[NodePlan], stack: IpStack) -> Result<(), Error> {
    let bin = controlplane::bin("lab-kubelet");
    if !bin.is_file() {
        eprintln!(
            "agent: {} is missing: no kubelet exec server (kubectl exec into the lab's Pods fails)",
            bin.display()
        );
        return Ok(());
    }
    for node in nodes {
        let role = kubelet_role(node);
        if !process::find(&lab.names.lab, Some(&role)).is_empty() {
            continue;
        }
        process::spawn(&Spawn {
            lab: &lab.names.lab,
            role: &role,
            netns: Some(&lab.names.netns(node.name())),
            argv: kubelet_argv(&bin, node, &lab.dir, stack),
            env: Vec::new(),
            log: &lab.log(&role),
        })?;
    }
    Ok(())
}

/// The exec map, and which Pod (uid) wrote each entry, so a Pod removed late never takes the
/// entry of a new Pod of the same name.
#[derive(Debug)]
pub struct ExecMap {
    dir: PathBuf,
    owners: Mutex<BTreeMap<PathBuf, String>>,
}

impl ExecMap {
    /// The lab's exec map, emptied: the agent writes it afresh for the Pods it runs.
    pub fn new(lab: &Lab) -> ExecMap {
        let dir = lab.dir.join("exec");
        if dir.exists()
            && let Err(e) = std::fs::remove_dir_all(&dir)
        {
            eprintln!("agent: emptying {}: {e}", dir.display());
        }
        ExecMap {
            dir,
            owners: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records that Pod `namespace`/`name` (`uid`) runs in network namespace `netns`
    /// (nothing to do when it already is).
    pub fn add(&self, namespace: &str, name: &str, uid: &str, netns: &str) -> Result<(), Error> {
        let path = entry_path(&self.dir, namespace, name);
        let mut owners = self
            .owners
            .lock()
            .map_err(|_| Error::msg("the exec map's lock is poisoned"))?;
        if owners.get(&path).is_some_and(|o| o == uid) && path.is_file() {
            return Ok(());
        }
        let parent = self.dir.join(namespace);
        std::fs::create_dir_all(&parent)
            .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
        let tmp = parent.join(format!(".{name}.{uid}.tmp"));
        std::fs::write(&tmp, netns)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        owners.insert(path, uid.to_string());
        Ok(())
    }

    /// Removes Pod `namespace`/`name`'s entry if Pod `uid` wrote it.
    pub fn remove(&self, namespace: &str, name: &str, uid: &str) {
        let path = entry_path(&self.dir, namespace, name);
        let Ok(mut owners) = self.owners.lock() else {
            return;
        };
        if owners.get(&path).is_none_or(|o| o != uid) {
            return;
        }
        owners.remove(&path);
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("agent: removing {}: {e}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::plan::NODES;

    #[test]
    fn the_exec_server_listens_on_the_nodes_addresses_and_reads_the_map() {
        let argv = kubelet_argv(
            Path::new("/cache/lab-kubelet"),
            &NODES[1],
            Path::new("/labs/x"),
            IpStack::DualStack,
        );
        assert_eq!(
            argv,
            [
                "/cache/lab-kubelet",
                "--listen",
                "198.51.100.12:10250",
                "--listen",
                "[2001:db8:100::12]:10250",
                "--pods-dir",
                "/labs/x/exec",
                "--client-ca",
                "/labs/x/pki/ca.crt",
                "--kubeconfig",
                "/labs/x/admin-lan.kubeconfig",
            ]
        );
        assert_eq!(kubelet_role(&NODES[1]), "lab-kubelet-node-b");
        let v6 = kubelet_argv(
            Path::new("/k"),
            &NODES[1],
            Path::new("/x"),
            IpStack::Ipv6Only,
        );
        assert_eq!(v6[1..3], ["--listen", "[2001:db8:100::12]:10250"]);
        assert_eq!(v6[3], "--pods-dir");
    }

    #[test]
    fn entries_are_written_whole_and_removed_only_by_their_pod() {
        let root = std::env::temp_dir().join(format!("flb-execmap-{}", std::process::id()));
        let map = ExecMap {
            dir: root.join("exec"),
            owners: Mutex::new(BTreeMap::new()),
        };
        map.add("ns1", "web-0", "uid-1", "flb-x-pod-1").unwrap();
        let path = entry_path(&root.join("exec"), "ns1", "web-0");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "flb-x-pod-1");
        // The same name again, a new Pod: the old one's late removal keeps the new entry.
        map.add("ns1", "web-0", "uid-2", "flb-x-node-a").unwrap();
        map.remove("ns1", "web-0", "uid-1");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "flb-x-node-a");
        map.remove("ns1", "web-0", "uid-2");
        assert!(!path.exists());
        let left: Vec<_> = std::fs::read_dir(root.join("exec/ns1")).unwrap().collect();
        assert!(left.is_empty(), "no temporary files left: {left:?}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
