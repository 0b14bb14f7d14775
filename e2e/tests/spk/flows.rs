//! Flows through a VIP that the plain probes cannot show: SCTP (which this kernel cannot
//! terminate) crafted on a raw socket and caught, translated, in the pod's namespace; and a
//! long-lived TCP connection that keeps working while other endpoints of its Service come and go.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ferrolb_e2e::lab::plan;
use ferrolb_e2e::traffic::hold::HoldReport;
use ferrolb_e2e::traffic::sctp::{CHUNK_INIT, Caught};
use ferrolb_e2e::{k8s, wait_for};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use serde_json::json;

use crate::spk::{NS, PORT, Spk, WIRE, step};

/// How long the held connection lasts: the endpoint changes happen well inside it.
const HOLD_SECONDS: u64 = 20;
/// Milliseconds between the held connection's lines.
const HOLD_INTERVAL_MS: u64 = 200;

/// A process this test started, killed (by its own handle) if the test leaves early.
struct Spawned(Child);

impl Spawned {
    /// Whether it has exited.
    fn exited(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(Some(_)))
    }

    /// Kills it now (it was started by this test; its own handle).
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// Its standard output to the end (call once it has exited).
    fn read_stdout(&mut self) -> String {
        let mut out = String::new();
        if let Some(mut s) = self.0.stdout.take() {
            let _ = s.read_to_string(&mut out);
        }
        out
    }

    /// Its standard error to the end (call once it has exited).
    fn read_stderr(&mut self) -> String {
        let mut out = String::new();
        if let Some(mut s) = self.0.stderr.take() {
            let _ = s.read_to_string(&mut out);
        }
        out
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Addresses a Cluster backend may see as its client: each node's LAN address and its
/// pod-side gateway (masquerade picks the address of the interface toward the pod).
fn node_addresses() -> Vec<Ipv4Addr> {
    plan::NODES
        .iter()
        .flat_map(|n| [n.host.v4, n.gateway().0])
        .collect()
}

impl Spk<'_> {
    pub async fn flows(&self) {
        let t = std::time::Instant::now();
        self.sctp_through_vip().await;
        eprintln!("flows: SCTP step took {:.1?}", t.elapsed());
        let t = std::time::Instant::now();
        self.held_flow().await;
        eprintln!("flows: held-flow step took {:.1?}", t.elapsed());
    }

    /// Runs `ferrolb-lab ARGS...` in `target`'s namespace, stdout and stderr piped.
    fn spawn_lab(&self, target: &str, args: &[String]) -> Spawned {
        let mut argv = vec![self.lab.bin.display().to_string()];
        argv.extend(args.iter().cloned());
        let child = self
            .lab
            .exec(target, &argv)
            .expect("a lab namespace")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning ferrolb-lab");
        Spawned(child)
    }

    /// The IPv4 address of a running pod (once the agent has reported it).
    async fn pod_ip(&self, name: &str) -> Ipv4Addr {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), NS);
        let api = &api;
        let lab = self.lab;
        let target = format!("{NS}/{name}");
        let target = &target;
        wait_for(&format!("pod {name} running"), WIRE, || async move {
            let pod = api.get_opt(name).await.ok().flatten()?;
            let ip = pod.status?.pod_ip?.parse().ok()?;
            lab.netns_of(target).ok().map(|_| ip)
        })
        .await
        .expect("pod running")
    }

    async fn sctp_through_vip(&self) {
        step(
            "flows: SCTP INITs crafted on a raw socket reach the pod translated (DNAT, masquerade)",
        );
        self.pod("sctp-b", "sctp", "node-b", true).await;
        let spec =
            json!({"ports": [{"name": "s", "port": 80, "targetPort": PORT, "protocol": "SCTP"}]});
        let IpAddr::V4(vip) = self.service("sctp", "sctp", spec, 1).await[0] else {
            panic!("the sctp Service got an IPv6 address first");
        };
        self.announcer("sctp", vip.into()).await;
        let pod_ip = self.pod_ip("sctp-b").await;

        let catch = [
            "sctp-catch".to_string(),
            "--port".into(),
            PORT.to_string(),
            "--timeout".into(),
            "30s".into(),
        ];
        let catcher = RefCell::new(self.spawn_lab(&format!("{NS}/sctp-b"), &catch));
        let catcher_ref = &catcher;
        let to = format!("{vip}:80");
        let send = [
            "sctp-send".to_string(),
            to.clone(),
            "--count".into(),
            "1".into(),
        ];
        let send = &send;
        let mut sends = 0u32;
        let sends_ref = &mut sends;
        // Each try is a new association (fresh source port): one that reached the node before
        // its rules were in place cannot pin an untranslated conntrack entry on later tries.
        let caught = wait_for("an SCTP INIT caught in the pod", WIRE, || {
            *sends_ref += 1;
            async move {
                let mut argv = vec![self.lab.bin.display().to_string()];
                argv.extend(send.iter().cloned());
                let out = self.lab.exec("client", &argv).ok()?.output().ok()?;
                if !out.status.success() {
                    eprintln!("sctp-send: {}", String::from_utf8_lossy(&out.stderr).trim());
                }
                catcher_ref.borrow_mut().exited().then_some(())
            }
        })
        .await;
        let mut catcher = catcher.into_inner();
        if caught.is_err() {
            catcher.kill();
        }
        let (out, err) = (catcher.read_stdout(), catcher.read_stderr());
        assert!(
            caught.is_ok(),
            "no SCTP packet reached sctp-b after {sends} INITs to {to}; sctp-catch: {err}"
        );
        let got: Caught = serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("sctp-catch printed {out:?} ({e}); stderr: {err}"));
        eprintln!("sent {sends} INIT(s) to {to}; caught in sctp-b: {got:?}");
        assert_eq!(got.dst, pod_ip, "DNAT to the pod's address");
        assert_eq!(got.sctp.dst_port, PORT, "DNAT to the targetPort");
        assert_eq!(got.sctp.chunk, Some(CHUNK_INIT));
        assert_eq!(got.sctp.vtag, 0, "an INIT carries verification tag 0");
        assert!(
            got.sctp.checksum_ok,
            "the translated packet's CRC32c is right"
        );
        assert_ne!(got.src, plan::CLIENT.v4, "Cluster masquerades the client");
        assert!(
            node_addresses().contains(&got.src),
            "masqueraded to a node's address, got {}",
            got.src
        );
        self.delete_pod("sctp-b").await;
        k8s::delete_service(&self.client, NS, "sctp")
            .await
            .expect("delete sctp");
    }

    async fn held_flow(&self) {
        step("flows: a held TCP connection survives endpoints of its Service coming and going");
        self.pod("hold-a", "hold", "node-a", true).await;
        self.pod("hold-b", "hold", "node-b", true).await;
        let ip = self.service("hold", "hold", json!({}), 1).await[0];
        self.announcer("hold", ip).await;
        let to = SocketAddr::new(ip, 80);
        self.wait_pods(to, &["hold-a", "hold-b"], &[]).await;

        let args = [
            "probe-hold".to_string(),
            to.to_string(),
            "--for".into(),
            format!("{HOLD_SECONDS}s"),
            "--interval".into(),
            format!("{HOLD_INTERVAL_MS}ms"),
        ];
        let mut held = self.spawn_lab("client", &args);
        let stderr = held.0.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel::<String>();
        // Reads the held probe's stderr to its end (the probe exits within HOLD_SECONDS + ε).
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let rx = &rx;
        let first = wait_for("the held connection's first answer", WIRE, || async move {
            rx.try_iter()
                .find_map(|l| l.split_once("pod=").map(|(_, p)| p.trim().to_string()))
        })
        .await
        .expect("the held connection answered");
        let gone = if first == "hold-a" {
            "hold-b"
        } else {
            "hold-a"
        };
        eprintln!("held connection talks to {first}; adding hold-c, deleting {gone}");

        self.pod("hold-c", "hold", "node-c", true).await;
        self.delete_pod(gone).await;
        // New connections reach the new pod and the one left, never the deleted one.
        self.wait_pods(to, &[first.as_str(), "hold-c"], &[gone])
            .await;
        assert!(
            matches!(held.0.try_wait(), Ok(None)),
            "the endpoint change outlasted the held connection ({HOLD_SECONDS} s): nothing proven"
        );

        let limit = Duration::from_secs(HOLD_SECONDS + 10);
        let held = RefCell::new(held);
        let held_ref = &held;
        wait_for("the held connection's end", limit, || async move {
            held_ref.borrow_mut().exited().then_some(())
        })
        .await
        .expect("probe-hold finished");
        let out = held.into_inner().read_stdout();
        let _ = reader.join();
        let report: HoldReport = serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("probe-hold printed {out:?}: {e}"));
        eprintln!("held connection: {report:?}");
        assert_eq!(report.failed, 0, "the held connection broke: {report:?}");
        assert_eq!(report.pods, [first.as_str()], "one connection, one pod");
        assert_eq!(
            report.answered,
            HOLD_SECONDS * 1000 / HOLD_INTERVAL_MS,
            "every line answered"
        );

        for pod in [first.as_str(), "hold-c"] {
            self.delete_pod(pod).await;
        }
        k8s::delete_service(&self.client, NS, "hold")
            .await
            .expect("delete hold");
    }

    /// Waits until a round of TCP probes of `to` reaches exactly the pods `want` (each at
    /// least once) and none of `never`.
    async fn wait_pods(&self, to: SocketAddr, want: &[&str], never: &[&str]) {
        let lab = self.lab;
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.sort();
        let want = &want;
        let seen = wait_for(&format!("{to} reaching {want:?}"), WIRE, || async move {
            let mut pods = Vec::new();
            for _ in 0..12 {
                pods.push(lab.probe("client", "tcp", to).ok()?.pod);
            }
            pods.sort();
            pods.dedup();
            (pods == *want).then_some(pods)
        })
        .await
        .expect("spread over the wanted pods");
        assert!(seen.iter().all(|p| !never.contains(&p.as_str())));
    }
}
