//! The RBAC in deploy/: only real resources and verbs, what each component's code does is
//! allowed (each need names its code path), and neighbouring requests are refused.

use k8s_openapi::Resource;

use super::rbac::{self, Request};
use super::{Doc, read_dir, strings};
use crate::{controller, deploy, speaker};

const VERBS: [&str; 8] = [
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

fn of<K: Resource>() -> (String, String) {
    (K::GROUP.to_string(), K::URL_PATH_SEGMENT.to_string())
}

/// Resources the apiserver serves that deploy/ may name: built-in ones by their API types,
/// ferrolb's from crds/ (with `/status` where the CRD has that subresource).
fn known_resources() -> Vec<(String, String)> {
    use k8s_openapi::api::{admissionregistration::v1 as adm, core::v1 as core};
    let mut known = vec![
        of::<core::Service>(),
        of::<core::Node>(),
        of::<core::Namespace>(),
        of::<core::Secret>(),
        of::<core::ConfigMap>(),
        of::<k8s_openapi::api::events::v1::Event>(),
        of::<k8s_openapi::api::coordination::v1::Lease>(),
        of::<k8s_openapi::api::discovery::v1::EndpointSlice>(),
        of::<k8s_openapi::api::networking::v1::ServiceCIDR>(),
        of::<adm::ValidatingWebhookConfiguration>(),
        of::<adm::MutatingWebhookConfiguration>(),
        of::<k8s_openapi::api::authentication::v1::TokenReview>(),
        of::<k8s_openapi::api::authorization::v1::SubjectAccessReview>(),
        of::<k8s_openapi::api::rbac::v1::ClusterRole>(),
        of::<k8s_openapi::api::apps::v1::DaemonSet>(),
        // The Service status subresource (kube's `Api::patch_status`).
        (String::new(), "services/status".to_string()),
        // Tokens of ServiceAccount ferrolb-diagnostics, which `kubectl ferrolb why` mints
        // (diagnostics.yaml's Role ferrolb-why, for people to bind).
        (String::new(), "serviceaccounts/token".to_string()),
    ];
    for crd in read_dir("crds") {
        let spec = &crd.value["spec"];
        let group = spec["group"].as_str().unwrap().to_string();
        let plural = spec["names"]["plural"].as_str().unwrap().to_string();
        let versions = spec["versions"].as_array().unwrap();
        if versions
            .iter()
            .any(|v| !v["subresources"]["status"].is_null())
        {
            known.push((group.clone(), format!("{plural}/status")));
        }
        known.push((group, plural));
    }
    known
}

#[test]
fn rules_name_only_real_resources_and_verbs_and_no_wildcards() {
    let known = known_resources();
    for (at, rule) in rbac::rules(&deploy()) {
        if !rule["nonResourceURLs"].is_null() {
            // Only the private endpoints, only read: metrics-reader.yaml's, and diagnostics.yaml's
            // for `kubectl ferrolb why` (no /metrics there).
            let urls = strings(&rule["nonResourceURLs"]);
            assert!(
                urls == ["/metrics", "/debug/state"]
                    || urls == ["/debug/state", "/debug/probe", "/debug/rules"],
                "{at}: {urls:?}"
            );
            assert_eq!(strings(&rule["verbs"]), ["get"], "{at}");
            continue;
        }
        let groups = strings(&rule["apiGroups"]);
        let resources = strings(&rule["resources"]);
        let verbs = strings(&rule["verbs"]);
        assert!(
            !groups.is_empty() && !resources.is_empty() && !verbs.is_empty(),
            "{at}: {rule}"
        );
        for v in &verbs {
            assert!(VERBS.contains(v), "{at}: verb {v} (no wildcards)");
        }
        for g in &groups {
            for r in &resources {
                let real = known.iter().any(|(kg, kr)| kg == g && kr == r);
                assert!(real, "{at}: {r} in group {g:?} is no resource ferrolb uses");
            }
        }
    }
}

/// Checks every line of `table` (`allow|refuse verbs group resource namespace name why…`;
/// `core` is the "" group, `*` all namespaces or cluster-scoped, `-` no name; `$VAR`s replaced
/// from `vars`) against what deploy/ lets ServiceAccount `sa` do.
fn check(sa: (&str, &str), table: &str, vars: &[(&str, &str)]) {
    let docs = deploy();
    for line in table
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut line = line.to_string();
        for (var, value) in vars {
            line = line.replace(var, value);
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let [expect, verbs, group, resource, namespace, name, why @ ..] = f.as_slice() else {
            panic!("malformed line: {line}");
        };
        assert!(matches!(*expect, "allow" | "refuse"), "{line}");
        for verb in verbs.split(',') {
            let req = Request {
                verb,
                group: if *group == "core" { "" } else { group },
                resource,
                namespace: Some(*namespace).filter(|n| *n != "*"),
                name: Some(*name).filter(|n| *n != "-"),
            };
            let allowed = rbac::allows(&docs, sa, &req);
            assert_eq!(
                allowed,
                *expect == "allow",
                "{}/{}: {req:?} ({})",
                sa.0,
                sa.1,
                why.join(" ")
            );
        }
    }
}

/// What the controller's code does (allow, with the code path) and neighbouring requests it
/// must not be able to make (refuse).
const CONTROLLER: &str = "
allow  list,watch    core  services  *  -  watches.rs start
allow  list,watch    core  namespaces  *  -  watches.rs start
allow  list,watch    core  nodes  *  -  watches.rs start
allow  list,watch    ferrolb.io  vippools  *  -  watches.rs start
allow  list,watch    ferrolb.io  externalippolicies  *  -  watches.rs start
allow  list,watch    networking.k8s.io  servicecidrs  *  -  watches.rs start
allow  patch         core  services  web  app  apply.rs service (annotation, SSA)
allow  patch         core  services/status  web  app  apply.rs service (status, SSA)
allow  patch         ferrolb.io  vippools/status  *  lan  apply.rs pool
allow  create,patch  events.k8s.io  events  web  app.1  apply.rs kube Recorder
allow  create,patch  admissionregistration.k8s.io  validatingwebhookconfigurations  *  $CONFIG  webhook/secret.rs apply_configuration
allow  create,patch  admissionregistration.k8s.io  mutatingwebhookconfigurations  *  $CONFIG  webhook/secret.rs apply_configuration
allow  get           rbac.authorization.k8s.io  clusterroles  *  $OWNER  webhook/secret.rs owner (the configurations' owner)
refuse get,list      rbac.authorization.k8s.io  clusterroles  *  -  no other ClusterRole
refuse patch,delete  rbac.authorization.k8s.io  clusterroles  *  $OWNER  the owner is read only
allow  create        coordination.k8s.io  leases  $NS  -  leader.rs kube-lease-manager AutoCreate
allow  get,patch     coordination.k8s.io  leases  $NS  $LEASE  leader.rs kube-lease-manager
allow  list,watch    coordination.k8s.io  leases  $NS  $LEASE  leader.rs watch_release (name field selector)
allow  create        core  secrets  $NS  -  webhook/secret.rs ensure
allow  get,update    core  secrets  $NS  $SECRET  webhook/secret.rs ensure (get_opt, replace)
allow  create        core  services  default  -  webhook/secret.rs reachability (dry run)
allow  get           core  secrets  $NS  ferrolb-allocation-signing-key  allocation_keys.rs signing_key
allow  create        core  configmaps  $NS  -  allocation_keys.rs ensure (apply creates it)
allow  get,patch     core  configmaps  $NS  ferrolb-allocation-keys  allocation_keys.rs ensure
refuse get,patch     core  configmaps  $NS  other  no ConfigMap but the proof keys
refuse update        core  secrets  $NS  ferrolb-allocation-signing-key  the key is never rewritten
refuse create,update,delete  core  services  web  -  Services are only patched
refuse get,list      core  secrets  $NS  -  no Secret but its own
refuse get,update    core  secrets  $NS  other  no Secret but its own
refuse patch         coordination.k8s.io  leases  $NS  other  no Lease but its own
refuse create,patch  admissionregistration.k8s.io  validatingwebhookconfigurations  *  other  no other webhook
refuse patch         ferrolb.io  vippools  *  lan  pools' spec belongs to users
refuse create        ferrolb.io  serviceannouncements  web  -  the speakers' objects
refuse create        core  services  $NS  -  the probe only runs in default
";

/// What the speaker's code does, and neighbouring requests it must not be able to make.
const SPEAKER: &str = "
allow  list,watch    core  services  *  -  daemon/watches.rs
allow  list,watch    core  nodes  *  -  daemon/watches.rs
allow  list,watch    discovery.k8s.io  endpointslices  *  -  daemon/watches.rs
allow  list,watch    ferrolb.io  vippools  *  -  daemon/watches.rs
allow  list,watch    ferrolb.io  l2announcementpolicies  *  -  daemon/watches.rs
allow  list,watch    ferrolb.io  serviceannouncements  *  -  daemon/watches.rs
allow  create,patch,delete  ferrolb.io  serviceannouncements  web  app  daemon/publish.rs (SSA creates)
allow  patch         ferrolb.io  serviceannouncements/status  web  app  daemon/publish.rs
allow  create,patch  events.k8s.io  events  web  app.1  daemon/events.rs kube Recorder (takeovers)
allow  create        authentication.k8s.io  tokenreviews  *  -  ferrolb-runtime access/review.rs
allow  create        authorization.k8s.io  subjectaccessreviews  *  -  ferrolb-runtime access/review.rs
refuse patch         core  services  web  app  the controller's job
refuse patch         core  services/status  web  app  the controller's job
refuse get,list      core  secrets  *  -  no secrets
allow  get,list,watch  core  configmaps  ferrolb-system  ferrolb-allocation-keys  ferrolb-adapter stores.rs (proof keys)
refuse patch,update  core  configmaps  ferrolb-system  ferrolb-allocation-keys  only the controller publishes keys
refuse get           core  secrets  ferrolb-system  ferrolb-allocation-signing-key  only the controller signs
refuse patch         core  nodes  *  node-a  nodes are read only
refuse patch         ferrolb.io  vippools/status  *  lan  the controller's job
allow  get           apps  daemonsets  ferrolb-system  $DS  daemon/uninstall.rs (is ferrolb being uninstalled?)
refuse get,list      apps  daemonsets  ferrolb-system  -  no other DaemonSet
refuse patch,delete  apps  daemonsets  ferrolb-system  $DS  its DaemonSet is read only
";

/// The ServiceAccount a Deployment's or DaemonSet's pods run as.
fn service_account(d: &Doc) -> &str {
    d.value["spec"]["template"]["spec"]["serviceAccountName"]
        .as_str()
        .unwrap()
}

#[test]
fn controller_may_do_what_its_code_does_and_no_more() {
    let docs = deploy();
    let (d, args) = controller(&docs);
    let sa = service_account(d);
    let vars = [
        ("$NS", args.namespace.as_str()),
        ("$LEASE", args.lease_name.as_str()),
        ("$SECRET", args.webhook_secret.as_str()),
        ("$CONFIG", args.webhook_configuration.as_str()),
        ("$OWNER", args.webhook_owner.as_str()),
    ];
    check((args.namespace.as_str(), sa), CONTROLLER, &vars);
}

#[test]
fn speaker_may_do_what_its_code_does_and_no_more() {
    let docs = deploy();
    let (d, args) = speaker(&docs);
    let sa = service_account(d);
    assert_eq!(
        args.daemonset,
        d.name(),
        "--daemonset names the speakers' own DaemonSet"
    );
    let vars = [("$DS", args.daemonset.as_str())];
    check((d.namespace().unwrap(), sa), SPEAKER, &vars);
}
