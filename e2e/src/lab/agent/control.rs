//! The agent's control socket, `<lab>/agent.sock`: how the lab's CLI and tests (other
//! processes) list ferrolb's containers and kill, stop and start them — what `crictl` is to a
//! kubelet's runtime. One JSON request a connection, one JSON answer; the answer to `kill` and
//! `stop` comes once the process is gone, to `start` once it runs.
//!
//! Components ([`Component`]) name containers of deploy/'s workloads in ferrolb-system:
//! `speaker-node-a` is the speaker DaemonSet's Pod on node-a; `controller-N` is the N-th Pod of
//! the controller's ReplicaSets, ordered by node then Pod name, Pods being deleted left out (a
//! killed or stopped container keeps its Pod, so the numbering holds). Other Pods running
//! ferrolb's images (a test's) are no component.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use tokio::sync::oneshot;

use super::Agent;
use super::container::Control;
use crate::image::{CONTROLLER, SPEAKER};
use crate::lab::components::{Component, Node};
use crate::lab::install::NAMESPACE;
use crate::{Error, Lab};

/// One container of a ferrolb Pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// The component it is (`speaker-node-a`, `controller-0`), if any.
    pub component: Option<String>,
    /// The Pod's namespace.
    pub namespace: String,
    /// The Pod's name.
    pub pod: String,
    /// The Pod's uid.
    pub uid: String,
    /// The container's name.
    pub container: String,
    /// The kind of the Pod's controller (`DaemonSet`, `ReplicaSet`), if any.
    pub owner: Option<String>,
    /// Its image.
    pub image: String,
    /// The node.
    pub node: String,
    /// The Pod's IPv4 address (the node's for hostNetwork).
    pub pod_ip: String,
    /// The container port named `health`.
    pub health_port: Option<u16>,
    /// Its process, while it runs.
    pub pid: Option<u32>,
    /// Held down by the lab (`lab kill`/`lab stop`) until `lab start`.
    pub held: bool,
    /// Ready (readiness probe).
    pub ready: bool,
    /// Restarts so far.
    pub restart_count: u32,
    /// Its Pod is being deleted.
    pub terminating: bool,
    /// Its log file.
    pub log: String,
}

/// Names each container's component (see the module docs).
pub fn assign(all: &mut [ContainerInfo]) {
    for c in all.iter_mut() {
        c.component = None;
    }
    let of = |c: &ContainerInfo, image: &str, owner: &str| {
        c.namespace == NAMESPACE
            && c.image == image
            && c.owner.as_deref() == Some(owner)
            && !c.terminating
    };
    for c in all.iter_mut() {
        if of(c, &SPEAKER.reference(), "DaemonSet")
            && let Ok(node) = c.node.parse::<Node>()
        {
            c.component = Some(Component::Speaker(node).to_string());
        }
    }
    let mut controllers: Vec<&mut ContainerInfo> = all
        .iter_mut()
        .filter(|c| of(c, &CONTROLLER.reference(), "ReplicaSet"))
        .collect();
    controllers.sort_by(|a, b| (&a.node, &a.pod).cmp(&(&b.node, &b.pod)));
    for (n, c) in controllers.into_iter().enumerate() {
        if let Ok(n) = u8::try_from(n) {
            c.component = Some(Component::Controller(n).to_string());
        }
    }
}

/// A request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    /// Every container.
    List,
    /// SIGKILL, then hold.
    Kill {
        /// Which.
        component: String,
    },
    /// SIGTERM, grace, SIGKILL, then hold.
    Stop {
        /// Which.
        component: String,
    },
    /// Release the hold; start at once.
    Start {
        /// Which.
        component: String,
    },
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// Every container (`list`), or the one acted on, as it is afterwards.
    pub containers: Vec<ContainerInfo>,
    /// What went wrong.
    pub error: Option<String>,
}

fn socket(lab: &Lab) -> PathBuf {
    lab.dir.join("agent.sock")
}

/// Listens on the lab's control socket.
pub(super) fn serve(agent: Arc<Agent>) -> Result<(), Error> {
    let path = socket(&agent.lab);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)
        .map_err(|e| Error::io(format!("listening on {}", path.display()), e))?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let agent = agent.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut line = String::new();
                if tokio::io::BufReader::new(read)
                    .read_line(&mut line)
                    .await
                    .is_err()
                {
                    return;
                }
                let response = match serde_json::from_str::<Request>(&line) {
                    Ok(req) => handle(&agent, req).await,
                    Err(e) => Response {
                        containers: Vec::new(),
                        error: Some(format!("bad request {line:?}: {e}")),
                    },
                };
                if let Ok(mut text) = serde_json::to_string(&response) {
                    text.push('\n');
                    let _ = write.write_all(text.as_bytes()).await;
                }
            });
        }
    });
    Ok(())
}

async fn handle(agent: &Agent, req: Request) -> Response {
    let (component, make): (String, fn(super::container::Reply) -> Control) = match req {
        Request::List => {
            return Response {
                containers: agent.ferrolb_containers().await,
                error: None,
            };
        }
        Request::Kill { component } => (component, Control::Kill),
        Request::Stop { component } => (component, Control::Stop),
        Request::Start { component } => (component, Control::Start),
    };
    let fail = |error: String| Response {
        containers: Vec::new(),
        error: Some(error),
    };
    let all = agent.ferrolb_containers().await;
    let Some(target) = all
        .iter()
        .find(|c| c.component.as_deref() == Some(&component))
    else {
        return fail(format!(
            "no Pod runs {component} (is ferrolb installed? `cargo xtask lab install`)"
        ));
    };
    let Some(tx) = agent.ferrolb_control(&target.uid, &target.container).await else {
        return fail(format!("{component}: its Pod is gone"));
    };
    let (reply, answer) = oneshot::channel();
    if tx.send(make(reply)).await.is_err() {
        return fail(format!("{component}: its Pod is being deleted"));
    }
    match answer.await {
        Ok(Ok(_)) => {
            let uid = target.uid.clone();
            let containers = agent
                .ferrolb_containers()
                .await
                .into_iter()
                .filter(|c| c.uid == uid)
                .collect();
            Response {
                containers,
                error: None,
            }
        }
        Ok(Err(e)) => fail(format!("{component}: {e}")),
        Err(_) => fail(format!("{component}: its Pod is being deleted")),
    }
}

/// Sends `req` to the lab's agent and returns its answer (`limit`: how long to wait for it).
pub fn request(lab: &Lab, req: &Request, limit: Duration) -> Result<Response, Error> {
    let path = socket(lab);
    let io = |what: &str| {
        let what = format!("{what} the lab's agent at {}", path.display());
        move |e| Error::io(what, e)
    };
    let mut stream = UnixStream::connect(&path).map_err(io("connecting to"))?;
    stream
        .set_read_timeout(Some(limit))
        .map_err(io("talking to"))?;
    let mut text =
        serde_json::to_string(req).map_err(|e| Error::msg(format!("encoding {req:?}: {e}")))?;
    text.push('\n');
    stream
        .write_all(text.as_bytes())
        .map_err(io("writing to"))?;
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .map_err(io("reading from"))?;
    let response: Response = serde_json::from_str(&line)
        .map_err(|e| Error::msg(format!("the agent answered {line:?}: {e}")))?;
    match response.error {
        Some(e) => Err(Error::msg(e)),
        None => Ok(response),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(pod: &str, node: &str, image: &str, terminating: bool) -> ContainerInfo {
        let owner = if image == SPEAKER.reference() {
            "DaemonSet"
        } else {
            "ReplicaSet"
        };
        ContainerInfo {
            component: None,
            namespace: "ferrolb-system".into(),
            pod: pod.into(),
            uid: pod.into(),
            container: "c".into(),
            owner: Some(owner.into()),
            image: image.into(),
            node: node.into(),
            pod_ip: String::new(),
            health_port: None,
            pid: None,
            held: false,
            ready: false,
            restart_count: 0,
            terminating,
            log: String::new(),
        }
    }

    #[test]
    fn controllers_are_numbered_by_node_then_name_speakers_by_node() {
        let c = &CONTROLLER.reference();
        let s = &SPEAKER.reference();
        let mut all = vec![
            info("ctl-zz", "node-a", c, false),
            info("ctl-aa", "node-c", c, false),
            info("ctl-mm", "node-a", c, false),
            info("ctl-old", "node-a", c, true),
            info("spk-1", "node-b", s, false),
            info("spk-old", "node-b", s, true),
            info("other", "node-a", "busybox", false),
            ContainerInfo {
                namespace: "default".into(),
                ..info("test-speaker", "node-a", s, false)
            },
            ContainerInfo {
                owner: None,
                ..info("bare-controller", "node-a", c, false)
            },
        ];
        assign(&mut all);
        let got: Vec<(&str, Option<&str>)> = all
            .iter()
            .map(|c| (c.pod.as_str(), c.component.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("ctl-zz", Some("controller-1")),
                ("ctl-aa", Some("controller-2")),
                ("ctl-mm", Some("controller-0")),
                ("ctl-old", None),
                ("spk-1", Some("speaker-node-b")),
                ("spk-old", None),
                ("other", None),
                ("test-speaker", None),
                ("bare-controller", None),
            ]
        );
    }

    #[test]
    fn requests_are_one_json_line_each() {
        let r = Request::Kill {
            component: "speaker-node-a".into(),
        };
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(text, r#"{"op":"kill","component":"speaker-node-a"}"#);
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), r);
    }
}
