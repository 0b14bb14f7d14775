use super::*;
use crate::image::{CONTROLLER, SPEAKER};
use crate::manifests;
use serde_json::json;

/// A Pod made from deploy/'s workload `kind`/`name` in `file`, named `pod`, on node-a.
fn pod_of(file: &str, kind: &str, name: &str, pod: &str) -> Pod {
    let docs = manifests::read(&crate::testlab::repo_root(), file).unwrap();
    let doc = manifests::find(&docs, kind, name).unwrap();
    let mut template = doc.value["spec"]["template"].clone();
    template["metadata"]["name"] = json!(pod);
    template["metadata"]["namespace"] = json!("ferrolb-system");
    template["metadata"]["uid"] = json!("0f0f0f0f-aaaa");
    template["spec"]["nodeName"] = json!("node-a");
    serde_json::from_value(template).unwrap()
}

fn ctx<'a>(pod: &'a Pod, dir: &'a Path) -> PodContext<'a> {
    PodContext {
        pod,
        node_name: "node-a",
        pod_ip: "192.0.2.2".parse().unwrap(),
        host_ip: "198.51.100.11".parse().unwrap(),
        apiserver: "198.51.100.1:6443".parse().unwrap(),
        pod_dir: dir,
        host_dir: Path::new("/lab/hostpath/node-a"),
        markers: vec![("FERROLB_LAB".into(), "t".into())],
    }
}

fn env<'a>(p: &'a RunPlan, name: &str) -> Option<&'a str> {
    p.env
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn the_controller_runs_as_deploy_says_nonroot_without_capabilities() {
    let pod = pod_of(
        "deploy/base/controller-deployment.yaml",
        "Deployment",
        "ferrolb-controller",
        "ferrolb-controller-abc-x1",
    );
    let dir = Path::new("/lab/pods/uid");
    let c = &pod.spec.as_ref().unwrap().containers[0];
    let p = plan(&ctx(&pod, dir), c, &CONTROLLER, Path::new("/cache/rootfs")).unwrap();
    assert_eq!(
        (p.uid, p.gid, p.groups.clone()),
        (65532, 65532, vec![65532])
    );
    assert!(p.capabilities.is_empty(), "{:?}", p.capabilities);
    assert!(p.no_new_privs && p.read_only_root);
    assert_eq!(p.argv[0], "/ferrolb-controller");
    assert!(p.argv.contains(&"--health-addr=0.0.0.0:7472".to_string()));
    assert_eq!(env(&p, "POD_NAME"), Some("ferrolb-controller-abc-x1"));
    assert_eq!(env(&p, "POD_NAMESPACE"), Some("ferrolb-system"));
    assert_eq!(env(&p, "KUBERNETES_SERVICE_HOST"), Some("198.51.100.1"));
    assert_eq!(env(&p, "KUBERNETES_SERVICE_PORT"), Some("6443"));
    assert_eq!(env(&p, "PATH"), Some(PATH));
    assert_eq!(env(&p, "FERROLB_LAB"), Some("t"));
    assert_eq!(p.hostname.as_deref(), Some("ferrolb-controller-abc-x1"));
    let sa = p
        .mounts
        .iter()
        .find(|m| m.target == SERVICE_ACCOUNT_DIR)
        .unwrap();
    assert_eq!(sa.source, dir.join("serviceaccount"));
    assert!(sa.read_only);
}

#[test]
fn the_speaker_runs_as_root_with_exactly_its_added_capabilities_on_the_node() {
    let pod = pod_of(
        "deploy/base/speaker-daemonset.yaml",
        "DaemonSet",
        "ferrolb-speaker",
        "ferrolb-speaker-q7",
    );
    let c = &pod.spec.as_ref().unwrap().containers[0];
    let p = plan(&ctx(&pod, Path::new("/d")), c, &SPEAKER, Path::new("/r")).unwrap();
    assert_eq!((p.uid, p.gid), (0, 0));
    assert_eq!(p.capabilities, ["CAP_NET_ADMIN", "CAP_NET_RAW"]);
    assert_eq!(p.hostname, None, "hostNetwork: the node's UTS namespace");
    assert_eq!(env(&p, "FERROLB_NODE_NAME"), Some("node-a"));
    assert_eq!(env(&p, "HOSTNAME"), Some("node-a"));
    // --kept-state's hostPath: the node's own directory of the lab.
    let kept = p
        .mounts
        .iter()
        .find(|m| m.target == "/run/ferrolb")
        .unwrap();
    assert_eq!(kept.source, Path::new("/lab/hostpath/node-a/run/ferrolb"));
    assert!(!kept.read_only);
}

#[test]
fn run_as_non_root_refuses_uid_zero_naming_the_container() {
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"},
        "spec": {"securityContext": {"runAsNonRoot": true},
                 "containers": [{"name": "c", "image": SPEAKER.reference()}]}}))
    .unwrap();
    let c = &pod.spec.as_ref().unwrap().containers[0];
    let e = plan(&ctx(&pod, Path::new("/d")), c, &SPEAKER, Path::new("/r"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("container c") && e.contains("runAsNonRoot"),
        "{e}"
    );
}

#[test]
fn env_and_args_expand_earlier_variables_and_downward_fields() {
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "n"},
        "spec": {"serviceAccountName": "sa", "hostname": "h", "automountServiceAccountToken": false,
          "containers": [{"name": "c", "command": ["run"], "args": ["--at=$(IP):$(PORT)", "$$(IP)", "$(NOPE)"],
            "env": [{"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "PORT", "value": "80"},
                    {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
                    {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}]}]}}))
    .unwrap();
    let c = &pod.spec.as_ref().unwrap().containers[0];
    let p = plan(&ctx(&pod, Path::new("/d")), c, &CONTROLLER, Path::new("/r")).unwrap();
    assert_eq!(p.argv, ["run", "--at=192.0.2.2:80", "$(IP)", "$(NOPE)"]);
    assert_eq!(env(&p, "SA"), Some("sa"));
    assert_eq!(env(&p, "HOST"), Some("198.51.100.11"));
    assert_eq!(p.hostname.as_deref(), Some("h"));
    assert!(p.mounts.iter().all(|m| m.target != SERVICE_ACCOUNT_DIR));
    let bad: Pod = serde_json::from_value(json!({"metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "env": [{"name": "X",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['a']"}}}]}]}}))
    .unwrap();
    let c = &bad.spec.as_ref().unwrap().containers[0];
    let e = plan(&ctx(&bad, Path::new("/d")), c, &CONTROLLER, Path::new("/r"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("metadata.labels['a']"), "{e}");
}

#[test]
fn capabilities_are_the_runtime_default_less_drop_plus_add() {
    let c = |sc: serde_json::Value| -> Container {
        serde_json::from_value(json!({"name": "c", "securityContext": sc})).unwrap()
    };
    let default = capabilities(&c(json!({}))).unwrap();
    assert_eq!(default.len(), RUNTIME_DEFAULT_CAPS.len());
    let fewer = capabilities(&c(
        json!({"capabilities": {"drop": ["NET_RAW", "KILL"], "add": ["SYS_TIME"]}}),
    ))
    .unwrap();
    assert!(
        !fewer.contains(&"CAP_NET_RAW".to_string()) && !fewer.contains(&"CAP_KILL".to_string())
    );
    assert!(fewer.contains(&"CAP_SYS_TIME".to_string()));
    assert_eq!(
        capabilities(&c(json!({"privileged": true}))).unwrap().len(),
        caps::all().len()
    );
    let e = capabilities(&c(json!({"capabilities": {"add": ["NET_NOPE"]}})))
        .unwrap_err()
        .to_string();
    assert!(e.contains("NET_NOPE"), "{e}");
}

#[test]
fn expansion_follows_the_kubelets_rules() {
    let vars: BTreeMap<String, String> = [("A".to_string(), "1".to_string())].into();
    assert_eq!(expand("$(A)$(B)$$(A)$$$(A)$", &vars), "1$(B)$(A)$1$");
    assert_eq!(expand("$(A", &vars), "$(A");
}
