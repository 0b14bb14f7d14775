//! The RBAC in deploy/: only real resources and verbs, what each component's code does is
//! allowed (each need names its code path), and neighbouring requests are refused.

use k8s_openapi::Resource;

use super::rbac::{self, Request};
use super::{read_dir, strings};
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

/// (verbs, group, resource, namespace, name, where the code does it).
type Need<'a> = (
    &'a [&'a str],
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    &'a str,
);

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
        of::<k8s_openapi::api::events::v1::Event>(),
        of::<k8s_openapi::api::coordination::v1::Lease>(),
        of::<k8s_openapi::api::discovery::v1::EndpointSlice>(),
        of::<k8s_openapi::api::networking::v1::ServiceCIDR>(),
        of::<adm::ValidatingWebhookConfiguration>(),
        of::<adm::MutatingWebhookConfiguration>(),
        // The Service status subresource (kube's `Api::patch_status`).
        (String::new(), "services/status".to_string()),
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

fn check(sa: (&str, &str), needs: &[Need<'_>], refused: &[Need<'_>]) {
    let docs = deploy();
    for (expect, list) in [(true, needs), (false, refused)] {
        for &(verbs, group, resource, namespace, name, why) in list {
            for &verb in verbs {
                let req = Request {
                    verb,
                    group,
                    resource,
                    namespace,
                    name,
                };
                assert_eq!(
                    rbac::allows(&docs, sa, &req),
                    expect,
                    "{}/{}: {req:?} ({why})",
                    sa.0,
                    sa.1
                );
            }
        }
    }
}

#[test]
fn controller_may_do_what_its_code_does_and_no_more() {
    let docs = deploy();
    let (d, args) = controller(&docs);
    let sa = d.value["spec"]["template"]["spec"]["serviceAccountName"]
        .as_str()
        .unwrap();
    let ns = Some(args.namespace.as_str());
    let (lease, secret) = (
        Some(args.lease_name.as_str()),
        Some(args.webhook_secret.as_str()),
    );
    let config = Some(args.webhook_configuration.as_str());
    let web = Some("web");
    let lw: &[&str] = &["list", "watch"];
    let needs: &[Need<'_>] = &[
        (
            lw,
            "",
            "services",
            None,
            None,
            "reconciler.rs start_watches",
        ),
        (
            lw,
            "",
            "namespaces",
            None,
            None,
            "reconciler.rs start_watches",
        ),
        (lw, "", "nodes", None, None, "reconciler.rs start_watches"),
        (
            lw,
            "ferrolb.io",
            "ippools",
            None,
            None,
            "reconciler.rs start_watches",
        ),
        (
            lw,
            "ferrolb.io",
            "externalippolicies",
            None,
            None,
            "reconciler.rs start_watches",
        ),
        (
            lw,
            "networking.k8s.io",
            "servicecidrs",
            None,
            None,
            "reconciler.rs start_watches",
        ),
        (
            &["patch"],
            "",
            "services",
            web,
            Some("app"),
            "writer.rs apply_service (annotation)",
        ),
        (
            &["patch"],
            "",
            "services/status",
            web,
            Some("app"),
            "writer.rs apply_service",
        ),
        (
            &["patch"],
            "ferrolb.io",
            "ippools/status",
            None,
            Some("lan"),
            "writer.rs apply_pool",
        ),
        (
            &["create", "patch"],
            "events.k8s.io",
            "events",
            web,
            Some("app.1"),
            "writer.rs Recorder",
        ),
        (
            &["create", "patch"],
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
            None,
            config,
            "webhook/secret.rs apply_configuration",
        ),
        (
            &["create", "patch"],
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations",
            None,
            config,
            "webhook/secret.rs apply_configuration",
        ),
        (
            &["create"],
            "coordination.k8s.io",
            "leases",
            ns,
            None,
            "leader.rs (kube-lease-manager AutoCreate)",
        ),
        (
            &["get", "patch"],
            "coordination.k8s.io",
            "leases",
            ns,
            lease,
            "leader.rs (kube-lease-manager)",
        ),
        (
            lw,
            "coordination.k8s.io",
            "leases",
            ns,
            lease,
            "leader.rs watch_release (name field selector)",
        ),
        (
            &["create"],
            "",
            "secrets",
            ns,
            None,
            "webhook/secret.rs ensure",
        ),
        (
            &["get", "update"],
            "",
            "secrets",
            ns,
            secret,
            "webhook/secret.rs ensure (get_opt, replace)",
        ),
        (
            &["create"],
            "",
            "services",
            Some("default"),
            None,
            "webhook/secret.rs reachability (dry run)",
        ),
    ];
    let refused: &[Need<'_>] = &[
        (
            &["create", "update", "delete"],
            "",
            "services",
            web,
            None,
            "Services are only patched",
        ),
        (
            &["get", "list"],
            "",
            "secrets",
            ns,
            None,
            "no Secret but its own",
        ),
        (
            &["get", "update"],
            "",
            "secrets",
            ns,
            Some("other"),
            "no Secret but its own",
        ),
        (
            &["patch"],
            "coordination.k8s.io",
            "leases",
            ns,
            Some("other"),
            "no Lease but its own",
        ),
        (
            &["create", "patch"],
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
            None,
            Some("other"),
            "no other webhook",
        ),
        (
            &["patch"],
            "ferrolb.io",
            "ippools",
            None,
            Some("lan"),
            "pools' spec belongs to users",
        ),
        (
            &["create"],
            "ferrolb.io",
            "serviceannouncements",
            web,
            None,
            "the speakers' objects",
        ),
        (
            &["create"],
            "",
            "services",
            ns,
            None,
            "the probe only runs in default",
        ),
    ];
    check((args.namespace.as_str(), sa), needs, refused);
}

#[test]
fn speaker_may_do_what_its_code_does_and_no_more() {
    let docs = deploy();
    let (d, _) = speaker(&docs);
    let sa = d.value["spec"]["template"]["spec"]["serviceAccountName"]
        .as_str()
        .unwrap();
    let ns = d.namespace().unwrap();
    let lw: &[&str] = &["list", "watch"];
    let web = Some("web");
    let needs: &[Need<'_>] = &[
        (lw, "", "services", None, None, "daemon/watches.rs"),
        (lw, "", "nodes", None, None, "daemon/watches.rs"),
        (
            lw,
            "discovery.k8s.io",
            "endpointslices",
            None,
            None,
            "daemon/watches.rs",
        ),
        (lw, "ferrolb.io", "ippools", None, None, "daemon/watches.rs"),
        (
            lw,
            "ferrolb.io",
            "l2announcements",
            None,
            None,
            "daemon/watches.rs",
        ),
        (
            &["create", "patch", "delete"],
            "ferrolb.io",
            "serviceannouncements",
            web,
            Some("app"),
            "daemon/publish.rs (SSA creates)",
        ),
        (
            &["patch"],
            "ferrolb.io",
            "serviceannouncements/status",
            web,
            Some("app"),
            "daemon/publish.rs",
        ),
    ];
    let refused: &[Need<'_>] = &[
        (
            &["patch"],
            "",
            "services",
            web,
            Some("app"),
            "the controller's job",
        ),
        (
            &["patch"],
            "",
            "services/status",
            web,
            Some("app"),
            "the controller's job",
        ),
        (
            &["create"],
            "events.k8s.io",
            "events",
            web,
            None,
            "the speaker publishes no events",
        ),
        (&["get", "list"], "", "secrets", None, None, "no secrets"),
        (
            &["patch"],
            "",
            "nodes",
            None,
            Some("node-a"),
            "nodes are read only",
        ),
        (
            &["patch"],
            "ferrolb.io",
            "ippools/status",
            None,
            Some("lan"),
            "the controller's job",
        ),
    ];
    check((ns, sa), needs, refused);
}
