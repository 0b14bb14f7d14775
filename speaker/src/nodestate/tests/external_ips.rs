//! externalIPs: allowed by the controller's signature over the Service's list and its condition
//! for the current generation, else never announced nor programmed.

use ferrolb_adapter::proof::testing::key;
use ferrolb_adapter::proof::{Claim, ExternalIpsClaim, SigningKey};
use ferrolb_api::AnnouncementKind;
use ferrolb_api::names::ANN_EXTERNAL_IPS_PROOF;
use k8s_openapi::api::core::v1::Service;
use serde_json::json;

use super::fixtures::{World, eip_json, ip, l2_json, merge, programmed, silent_reason, slice_json};

const EIP: &str = "198.51.100.165";

fn world(svc: serde_json::Value) -> World {
    let mut w = World::new();
    w.services.push(svc);
    w.slices
        .push(slice_json("ext", &[("192.0.2.10", "node-a", true, false)]));
    w
}

#[test]
fn allowed_external_ip_is_announced_and_programmed() {
    let w = world(eip_json("ext", &[EIP], true));
    let announcers = w.announcers(EIP);
    assert_eq!(announcers.len(), 1);
    let d = w.on(announcers[0]);
    assert_eq!(
        d.announcements[0].announced[0].kind,
        AnnouncementKind::ExternalIP
    );
    assert_eq!(programmed(&d, "ext"), Some(vec![ip(EIP)]));
    let port = &d.rules.input.services[0].ports[0];
    assert_eq!(
        port.node_port, None,
        "NodePorts only for ferrolb's LoadBalancer Services"
    );
}

#[test]
fn allowed_external_ip_without_an_l2announcementpolicy_enabling_them_is_programmed_not_announced() {
    let mut w = world(eip_json("ext", &[EIP], true));
    w.l2 = vec![l2_json("lan", json!({"ipPools": ["blue"]}))];
    assert!(w.announcers(EIP).is_empty());
    let d = w.on("node-a");
    assert!(
        silent_reason(&d, EIP)
            .unwrap()
            .contains("externalIPs: true")
    );
    assert_eq!(programmed(&d, "ext"), Some(vec![ip(EIP)]));
}

#[test]
fn refused_external_ip_is_neither_announced_nor_programmed() {
    let w = world(eip_json("ext", &[EIP], false));
    assert!(w.announcers(EIP).is_empty());
    let d = w.on("node-a");
    assert_eq!(programmed(&d, "ext"), None);
    let why = silent_reason(&d, EIP).unwrap();
    assert!(
        why.starts_with("externalIPs refused by ferrolb-controller"),
        "{why}"
    );
}

/// The condition names the controller's field manager (a name any client may use) and says
/// True, but the controller's signature is missing, another key's, or over another list.
#[test]
fn a_condition_without_the_controllers_signature_over_this_list_is_not_trusted() {
    let template: Service =
        serde_json::from_value(eip_json("ext", &[EIP], true)).expect("a Service");
    let mut longer = ExternalIpsClaim::of(&template);
    longer.ips.insert("198.51.100.166".into());
    let stranger = SigningKey::generate().expect("a key");
    let proofs = [
        ("garbage", "v1.k.1.AAAA".to_string()),
        (
            "another key",
            stranger.sign(&ExternalIpsClaim::of(&template), 1).render(),
        ),
        ("another list", key().sign(&longer, 1).render()),
        (
            "an allocation proof",
            key().sign(&Claim::of(&template), 1).render(),
        ),
    ];
    for (what, proof) in proofs {
        let mut svc = eip_json("ext", &[EIP], true);
        merge(
            &mut svc,
            json!({"metadata": {"annotations": {ANN_EXTERNAL_IPS_PROOF: proof}}}),
        );
        let w = world(svc);
        assert!(w.announcers(EIP).is_empty(), "{what}");
        let d = w.on("node-b");
        assert_eq!(programmed(&d, "ext"), None, "{what}");
        let why = silent_reason(&d, EIP).unwrap();
        assert!(
            why.starts_with("externalIPs refused: ferrolb.io/external-ips-proof"),
            "{what}: {why}"
        );
    }
}

#[test]
fn without_generations_as_the_apiserver_stores_services_it_is_announced() {
    let mut svc = eip_json("ext", &[EIP], true);
    svc["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("generation");
    let condition = &mut svc["status"]["conditions"][0];
    condition
        .as_object_mut()
        .unwrap()
        .remove("observedGeneration");
    assert_eq!(world(svc).announcers(EIP).len(), 1);
}

#[test]
fn condition_for_an_older_generation_is_not_trusted() {
    let mut svc = eip_json("ext", &[EIP], true);
    merge(&mut svc, json!({"metadata": {"generation": 4}}));
    let w = world(svc);
    assert!(w.announcers(EIP).is_empty());
    let d = w.on("node-a");
    assert_eq!(programmed(&d, "ext"), None);
    assert!(
        silent_reason(&d, EIP)
            .unwrap()
            .contains("changed since the review")
    );

    let mut none = eip_json("ext", &[EIP], true);
    merge(&mut none, json!({"status": {"conditions": []}}));
    assert!(
        silent_reason(&world(none).on("node-a"), EIP)
            .unwrap()
            .contains("not reviewed yet")
    );
}
