//! Uninstalling as the README says (`kubectl delete -k` of what the lab installed): no webhook
//! configuration outlives ferrolb (the garbage collector removes them with their owner
//! ClusterRole), no node keeps table `inet ferrolb` (each speaker deletes it when its DaemonSet
//! goes), and a Service with externalIPs is accepted again. Before that, a rolling restart of
//! the speakers keeps the table on every node the whole time. Then ferrolb is installed again,
//! so the other scenarios find their ground.

use std::time::{Duration, Instant};

use ferrolb_e2e::lab::install::{self, NAMESPACE, SPEAKER_DAEMONSET};
use ferrolb_e2e::lab::plan::NODES;
use ferrolb_e2e::testlab::repo_root;

use super::Eip;

/// An externalIP no policy allows in tenant-a, for the admin as for alice.
const REFUSED_NS: &str = "tenant-a";
const REFUSED_IP: &str = "2001:db8:500::1";

fn step(s: &str) {
    eprintln!("[uninstall] {s}");
}

impl Eip<'_> {
    fn kubectl(&self, args: &[&str], input: &str) -> Result<String, String> {
        let out = self
            .lab
            .kubectl_input(args, input)
            .map_err(|e| e.to_string())?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            Ok(text)
        } else {
            Err(text)
        }
    }

    /// A rolling restart of the speakers: every node keeps its table throughout.
    async fn rolling_restart_keeps_tables(&self) {
        let all: Vec<&str> = NODES.iter().map(|n| n.host.role).collect();
        assert_eq!(
            self.lab.nodes_with_table(),
            all,
            "every node has its table before"
        );
        step("kubectl rollout restart of the speaker DaemonSet: every table stays");
        let ds = format!("daemonset/{SPEAKER_DAEMONSET}");
        self.kubectl(&["rollout", "restart", "-n", NAMESPACE, &ds], "")
            .expect("rollout restart");
        let mut status = self.lab.kubectl();
        status.args(["rollout", "status", "-n", NAMESPACE, &ds, "--timeout=180s"]);
        let rollout = tokio::task::spawn_blocking(move || status.output());
        let started = Instant::now();
        let mut checks = 0;
        while !rollout.is_finished() {
            let have = self.lab.nodes_with_table();
            assert_eq!(
                have,
                all,
                "a node lost table inet ferrolb during the rolling restart after {:?}",
                started.elapsed()
            );
            checks += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let out = rollout.await.unwrap().expect("kubectl rollout status");
        assert!(
            out.status.success(),
            "rollout: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            self.lab.nodes_with_table(),
            all,
            "every node has its table after"
        );
        step(&format!(
            "rollout done in {:?}; {checks} checks of every node's table",
            started.elapsed()
        ));
    }

    pub async fn uninstall(&self) {
        self.rolling_restart_keeps_tables().await;
        let refused = Self::service(REFUSED_NS, "after-uninstall", &[REFUSED_IP]);
        let err = self
            .apply_as(&refused, None)
            .expect_err("refused while installed");
        assert!(
            err.contains(&format!("externalIP {REFUSED_IP} refused")),
            "{err}"
        );

        step("kubectl delete of deploy/ as the lab installed it");
        let dir = install::deploy_dir(&repo_root(), self.lab.kube_proxy_mode().unwrap());
        let rendered = self
            .kubectl(&["kustomize", dir.to_str().unwrap()], "")
            .expect("kubectl kustomize");
        let started = Instant::now();
        let result = self.kubectl(&["delete", "--timeout=120s", "-f", "-"], &rendered);
        let outcome = match result {
            Ok(_) => self.after_uninstall().await,
            Err(e) => Err(format!("kubectl delete: {e}")),
        };
        step(&format!(
            "uninstall checked in {:?}; installing again",
            started.elapsed()
        ));
        self.lab
            .install(&repo_root())
            .await
            .expect("ferrolb installed again");
        if let Err(e) = outcome {
            panic!("{e}");
        }
    }

    /// Within bounds after `kubectl delete` returns: no configuration, no table, the refused
    /// Service accepted and deletable.
    async fn after_uninstall(&self) -> Result<(), String> {
        // The DaemonSet is gone when kubectl returns; each speaker decides within its grace period.
        self.lab
            .wait_uninstalled(Duration::from_secs(30))
            .await
            .map_err(|e| e.to_string())?;
        let svc = Self::service(REFUSED_NS, "after-uninstall", &[REFUSED_IP]);
        self.apply_as(&svc, None)
            .map_err(|e| format!("a Service with externalIPs refused after the uninstall: {e}"))?;
        self.kubectl(
            &[
                "delete",
                "service",
                "-n",
                REFUSED_NS,
                "after-uninstall",
                "--timeout=30s",
            ],
            "",
        )
        .map_err(|e| format!("deleting the Service after the uninstall: {e}"))?;
        Ok(())
    }
}
