//! agnhost Pods ([`super::agnhost::is_agnhost_pod`]): each container runs the real agnhost
//! binary built with the control plane ([`controlplane::bin`]`("agnhost")`) as a host
//! process in the Pod's network namespace (the node's for hostNetwork), with a host name of its
//! own ([`super::uts_run`]) and the container's environment. The rest is the kubelet's, shared
//! with ferrolb's Pods ([`super::ferrolb_pods`]): readiness, liveness and startup probes
//! (`httpGet`, `tcpSocket`; `exec` and `grpc` probes count as passing), restarts with back-off,
//! SIGTERM, the grace period and SIGKILL on deletion, the Pod's status.
//!
//! A container the lab cannot run (another image or command, an environment source other than
//! `value` and `fieldRef`, a missing agnhost binary) is reported waiting with reason
//! `CreateContainerError` and a `Failed` event saying why.

use std::path::Path;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Container, Pod};

use super::admit::{Prepared, hostname, role};
use super::container::Launch;
use super::ferrolb_pods::Entry;
use super::pod_state::PodKey;
use super::{Agent, agnhost, probes, spec};
use crate::Error;
use crate::lab::controlplane;
use crate::lab::plan::NodePlan;

/// How container `c` starts (or why it cannot).
fn launch(
    ctx: &spec::PodContext<'_>,
    c: &Container,
    program: &Path,
    hostname: &str,
) -> Result<Launch, String> {
    if !program.is_file() {
        return Err(format!(
            "the agnhost binary {} is missing (it is built with the lab's control plane)",
            program.display()
        ));
    }
    let env = spec::environment(ctx, c, hostname).map_err(|e| e.to_string())?;
    let vars = env.iter().cloned().collect();
    let argv = agnhost::argv(c, program, &vars)?;
    Ok(Launch::Host {
        hostname: hostname.to_string(),
        argv,
        env,
    })
}

impl Agent {
    /// Prepares and starts an agnhost Pod.
    pub(super) async fn admit_agnhost(
        self: &Arc<Self>,
        pod: &Pod,
        node: &'static NodePlan,
        k: &PodKey,
    ) -> Result<Entry, Error> {
        let spec = pod
            .spec
            .as_ref()
            .ok_or_else(|| Error::msg("a Pod without a spec"))?;
        let sandbox = self.sandbox(pod, node, &k.uid).await?;
        let hostname = hostname(pod, node);
        let pod_dir = self.lab.dir.join("pods").join(&k.uid);
        let ctx = spec::PodContext {
            pod,
            node_name: node.name(),
            pod_ip: sandbox.primary(self.stack),
            host_ip: self.stack.primary(node.host.v4, node.host.v6),
            apiserver: self.lab.apiserver_for_pods()?,
            pod_dir: &pod_dir,
            host_dir: &self.lab.dir.join("hostpath").join(node.name()),
            markers: Vec::new(),
        };
        let program = controlplane::bin("agnhost");
        let prepared = spec
            .containers
            .iter()
            .map(|c| {
                let (probed, unprobed) = agnhost::probed_only(c);
                if !unprobed.is_empty() {
                    eprintln!(
                        "agent: pod {}/{} container {}: {} probe counted as passing \
                         (the lab makes httpGet and tcpSocket probes only)",
                        k.namespace,
                        k.name,
                        c.name,
                        unprobed.join(", ")
                    );
                }
                let (launch, probes) = match (
                    launch(&ctx, c, &program, &hostname),
                    probes::probes(&probed),
                ) {
                    (Ok(l), Ok(p)) => (l, p),
                    (Err(why), _) => (Launch::Refused(why), Vec::new()),
                    (_, Err(e)) => (Launch::Refused(e.to_string()), Vec::new()),
                };
                Prepared {
                    name: c.name.clone(),
                    image: c.image.clone().unwrap_or_default(),
                    health: None,
                    launch,
                    role: role(k, &c.name),
                    probes,
                }
            })
            .collect();
        self.start_pod(pod, node, k, &sandbox, prepared, Vec::new())
            .await
    }
}
