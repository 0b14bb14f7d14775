//! externalIPs: allowed by the controller's condition for the current generation, else never
//! announced nor programmed.

use ferrolb_api::AnnouncementKind;
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

#[test]
fn condition_written_by_someone_else_is_not_trusted() {
    let mut svc = eip_json("ext", &[EIP], true);
    let forged = super::fixtures::controller_status(
        "kubectl-edit",
        false,
        &["ferrolb.io/ExternalIPsAllowed"],
    );
    // The controller still owns another condition: that does not vouch for this one.
    let other =
        super::fixtures::controller_status("ferrolb-controller", false, &["ferrolb.io/Allocated"]);
    merge(
        &mut svc,
        json!({"metadata": {"managedFields": [forged, other]}}),
    );
    let w = world(svc);
    assert!(w.announcers(EIP).is_empty());
    let d = w.on("node-b");
    assert_eq!(programmed(&d, "ext"), None);
    assert!(
        silent_reason(&d, EIP)
            .unwrap()
            .contains("not written by ferrolb-controller")
    );
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
