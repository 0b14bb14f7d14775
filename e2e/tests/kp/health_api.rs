//! The speaker's health API against the real kube-proxy's, on the same node with the same
//! inputs. With kube-proxy on the nodes, kube-proxy holds `NODE:10256` and the
//! healthCheckNodePorts while the speaker (deploy/, announce-only) serves the same API on
//! `NODE:10266`, so both answer from the same Node, Services and EndpointSlices at once: the
//! same requests (methods GET, HEAD, OPTIONS, POST; kube-proxy's paths and others; IPv4 and
//! IPv6) go to both, and status codes, the headers that matter and the bodies (times masked)
//! must agree. A Service's answer is compared between kube-proxy's healthCheckNodePort (any
//! path) and the speaker's `/services/NS/NAME`, which answers the same.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ferrolb_e2e::lab::kubeproxy;
use ferrolb_e2e::{Component, Node, wait_for};
use k8s_openapi::api::core::v1::Node as K8sNode;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use crate::spk::{NS, Spk, step};

/// The methods compared (HAProxy's default check is OPTIONS; some balancers POST).
const METHODS: [&str; 4] = ["GET", "HEAD", "OPTIONS", "POST"];
/// kube-proxy's paths and some it does not serve.
const PATHS: [&str; 7] = [
    "/healthz",
    "/livez",
    "/",
    "/healthz/",
    "/nope",
    "/metrics",
    "/debug/state",
];
/// Headers a load balancer or a person reads.
const HEADERS: [&str; 3] = [
    "content-type",
    "x-content-type-options",
    "x-load-balancing-endpoint-weight",
];
/// Attempts at one comparison: the two answers come a few milliseconds apart, so an answer
/// may change in between (a sync); a real difference stays.
const ATTEMPTS: usize = 5;

/// One answer with what may differ masked: status, the [`HEADERS`], the body (JSON with
/// `lastUpdated`/`currentTime` replaced, else the text).
#[derive(Debug, PartialEq)]
struct Seen {
    status: u16,
    headers: Vec<(String, Option<String>)>,
    body: Value,
}

fn mask(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                if k == "lastUpdated" || k == "currentTime" {
                    *x = json!("<time>");
                } else {
                    mask(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(mask),
        _ => {}
    }
}

fn seen(raw: &str) -> Seen {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {raw:?}"));
    let fields: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let headers = HEADERS
        .iter()
        .map(|h| {
            let v = fields.iter().find(|(n, _)| n == h).map(|(_, v)| v.clone());
            (h.to_string(), v)
        })
        .collect();
    let body = match serde_json::from_str::<Value>(body) {
        Ok(mut v) => {
            mask(&mut v);
            v
        }
        Err(_) => Value::String(body.to_string()),
    };
    Seen {
        status,
        headers,
        body,
    }
}

/// `method path` to kube-proxy at `theirs` and to the speaker at `ours` (`ours_path` there),
/// from the client; asserts they agree (after up to [`ATTEMPTS`]); kube-proxy's answer.
fn same(
    s: &Spk<'_>,
    theirs: SocketAddr,
    ours: SocketAddr,
    method: &str,
    paths: (&str, &str),
) -> Seen {
    let ask = |to, path| {
        let raw = s
            .lab
            .http_request("client", to, (method, path), &[])
            .unwrap_or_else(|e| panic!("{method} http://{to}{path}: {e}"));
        seen(&raw)
    };
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let (k, f) = (ask(theirs, paths.0), ask(ours, paths.1));
        if k == f {
            return k;
        }
        last = Some((k, f));
        std::thread::sleep(Duration::from_millis(200));
    }
    let (k, f) = last.expect("at least one attempt");
    panic!(
        "{method}: kube-proxy http://{theirs}{} and the speaker http://{ours}{} differ:\n  kube-proxy: {k:?}\n  speaker:    {f:?}",
        paths.0, paths.1
    );
}

/// Every method and path of the node API on both families of `node`; the `/healthz` status.
fn node_api_agrees(s: &Spk<'_>, node: Node) -> u16 {
    let speaker = s
        .lab
        .health_addr(Component::Speaker(node))
        .expect("speaker")
        .port();
    let mut healthz = None;
    for ip in [IpAddr::from(node.host().v4), IpAddr::from(node.host().v6)] {
        let theirs = SocketAddr::new(ip, kubeproxy::HEALTH_PORT);
        let ours = SocketAddr::new(ip, speaker);
        for method in METHODS {
            for path in PATHS {
                let k = same(s, theirs, ours, method, (path, path));
                if method == "HEAD" {
                    assert_eq!(k.body, Value::String(String::new()), "HEAD {path}: no body");
                }
                if (method, path) == ("GET", "/healthz") {
                    healthz = Some(k.status);
                }
            }
        }
    }
    healthz.expect("GET /healthz asked")
}

/// kube-proxy's healthCheckNodePort `hc` (any path) and the speaker's `/services/NS/NAME` on
/// both families of `node`; their status.
fn service_answers_agree(s: &Spk<'_>, node: Node, hc: u16, name: &str) -> u16 {
    let speaker = s
        .lab
        .health_addr(Component::Speaker(node))
        .expect("speaker")
        .port();
    let ours_path = format!("/services/{NS}/{name}");
    let mut status = None;
    for ip in [IpAddr::from(node.host().v4), IpAddr::from(node.host().v6)] {
        for method in METHODS {
            let k = same(
                s,
                SocketAddr::new(ip, hc),
                SocketAddr::new(ip, speaker),
                method,
                ("/", &ours_path),
            );
            status = Some(k.status);
        }
    }
    status.expect("asked")
}

/// Waits until kube-proxy's `/healthz` on `node` answers `code` (it follows its Node watch).
async fn kube_proxy_healthz(s: &Spk<'_>, node: Node, code: u16) {
    let to = kubeproxy::health_addr(node);
    let lab = s.lab;
    wait_for(
        &format!("kube-proxy on {node}: /healthz {code}"),
        Duration::from_secs(20),
        || async move {
            let (got, _) = lab.http_get("client", to, "/healthz").ok()?;
            (got == code).then_some(())
        },
    )
    .await
    .expect("kube-proxy's /healthz");
}

async fn patch_node(s: &Spk<'_>, node: Node, patch: Value) {
    let api: Api<K8sNode> = Api::all(s.client.clone());
    api.patch(node.name(), &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patching the Node");
}

pub async fn matches_kube_proxy(s: &Spk<'_>) {
    step("node API: every method and path, both families, kube-proxy and the speaker agree");
    for node in [Node::A, Node::B] {
        assert_eq!(node_api_agrees(s, node), 200, "{node}: a healthy node");
    }

    step("a dual-stack eTP=Local Service: 1 local endpoint on node-b, none on node-a");
    s.pod("hc-b", "hc", "node-b", true).await;
    let spec = json!({"externalTrafficPolicy": "Local",
        "ipFamilyPolicy": "RequireDualStack", "ipFamilies": ["IPv4", "IPv6"]});
    s.service("hc", "hc", spec, 2).await;
    let hc = super::health_check_node_port(s, "hc").await;
    super::answers(s, Node::B, hc, 200).await;
    assert_eq!(service_answers_agree(s, Node::B, hc, "hc"), 200);
    assert_eq!(service_answers_agree(s, Node::A, hc, "hc"), 503);

    step("the autoscaler's taint: nodeEligible false on both, /healthz 503");
    let taint = json!({"spec": {"taints": [{"key": "ToBeDeletedByClusterAutoscaler",
        "value": "1", "effect": "NoSchedule"}]}});
    patch_node(s, Node::C, taint).await;
    kube_proxy_healthz(s, Node::C, 503).await;
    assert_eq!(node_api_agrees(s, Node::C), 503);

    step("the exclusion label: kube-proxy's /healthz stays 200, so does the speaker's");
    patch_node(
        s,
        Node::C,
        json!({"spec": {"taints": null},
        "metadata": {"labels": {"node.kubernetes.io/exclude-from-external-load-balancers": ""}}}),
    )
    .await;
    kube_proxy_healthz(s, Node::C, 200).await;
    assert_eq!(node_api_agrees(s, Node::C), 200);
    patch_node(
        s,
        Node::C,
        json!({"metadata": {"labels": {"node.kubernetes.io/exclude-from-external-load-balancers": null}}}),
    )
    .await;
    s.delete_pod("hc-b").await;
}

/// `/metrics` and `/debug/state` of a speaker and of the edge, on their private ports against
/// the real apiserver's reviews: no token or a forged one 401, a token without the grant 403,
/// the scraper bound to deploy/'s `ferrolb-metrics-reader` 200. (Their absence from the health
/// port, a 404 like kube-proxy's, is compared in [`matches_kube_proxy`].)
pub async fn private_endpoints_are_reviewed(s: &Spk<'_>) {
    use ferrolb_e2e::lab::scraper;
    step("private endpoints: 401 without a token, 403 without the grant, 200 with it");
    let reader = scraper::token(&s.client, scraper::SCRAPER, true)
        .await
        .expect("the scraper's token");
    let stranger = scraper::token(&s.client, scraper::STRANGER, false)
        .await
        .expect("a stranger's token");
    for c in [Component::Speaker(Node::A), Component::Edge] {
        let to = s.lab.private_addr(c).expect("private address");
        for path in ["/metrics", "/debug/state"] {
            let lab = s.lab;
            let status = move |headers: Vec<String>| {
                let raw = lab
                    .http_request("client", to, ("GET", path), &headers)
                    .unwrap_or_else(|e| panic!("{c} {path}: {e}"));
                seen(&raw)
            };
            assert_eq!(status(vec![]).status, 401, "{c} {path} without a token");
            assert_eq!(
                status(vec![scraper::bearer("forged")]).status,
                401,
                "{c} {path} with a forged token"
            );
            let denied = status(vec![scraper::bearer(&stranger)]);
            assert_eq!(
                denied.status, 403,
                "{c} {path} without the grant: {denied:?}"
            );
            let granted = vec![scraper::bearer(&reader)];
            let body = wait_for(
                &format!("{c} {path} with the scraper's token"),
                Duration::from_secs(30),
                || {
                    let granted = granted.clone();
                    async move {
                        let seen = status(granted);
                        (seen.status == 200).then_some(seen.body)
                    }
                },
            )
            .await
            .expect("200 with the grant");
            if path == "/metrics" {
                let text = body.as_str().unwrap_or_default();
                assert!(text.contains("# TYPE ferrolb_"), "{c}: {text}");
            } else {
                assert!(body.is_object(), "{c}: /debug/state is JSON: {body}");
            }
        }
    }
}
