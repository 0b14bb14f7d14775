//! What the demo prints: kubectl's view, the `ServiceAnnouncement`, the failover measurement
//! and how to look around afterwards.

use std::net::IpAddr;

use ferrolb_api::ServiceAnnouncement;
use kube::Client;
use kube::api::Api;

use super::{NAME, NS, Outcome};
use crate::bench::failover::Trial;
use crate::lab::DEFAULT_LAB;
use crate::lab::plan;
use crate::lab::topology;
use crate::{Error, Lab};

/// Prints `kubectl ARGS` and its output, indented.
pub(super) fn show(lab: &Lab, args: &[&str]) -> Result<(), Error> {
    println!("  $ kubectl {}", args.join(" "));
    let out = lab
        .kubectl()
        .args(args)
        .output()
        .map_err(|e| Error::io("running kubectl", e))?;
    if !out.status.success() {
        return Err(Error::command(format!("kubectl {}", args.join(" ")), &out));
    }
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        println!("    {line}");
    }
    Ok(())
}

/// Prints who answers each address, from the `ServiceAnnouncement`'s status.
pub(super) async fn announcements(client: &Client) -> Result<(), Error> {
    let api: Api<ServiceAnnouncement> = Api::namespaced(client.clone(), NS);
    let sa = api
        .get(NAME)
        .await
        .map_err(|e| Error::kube(format!("reading ServiceAnnouncement {NS}/{NAME}"), e))?;
    println!("  ServiceAnnouncement {NS}/{NAME}:");
    for a in sa.status.map(|s| s.announcements).unwrap_or_default() {
        println!(
            "    {:<18} answered by {} on {}: {}",
            a.ip,
            a.node,
            a.interfaces.join(","),
            a.reason
        );
    }
    Ok(())
}

/// `http://IP/` (brackets for IPv6).
pub(super) fn url(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("http://{v4}/"),
        IpAddr::V6(v6) => format!("http://[{v6}]/"),
    }
}

/// Prints the failover measurement: the kill at t=0, what the client's prober saw after it.
pub(super) fn report(t: &Trial, old: &str, new: &str) {
    let ms = |v: Option<f64>| v.map_or_else(|| "not within 3 s".into(), |v| format!("{v:.0} ms"));
    let rows = [
        (
            format!("the client's ARP entry moved to {new}"),
            ms(t.takeover_ms),
        ),
        (
            format!("first connection through {new}"),
            ms(t.first_connect_ms),
        ),
        (
            "longest time without an answer".to_string(),
            format!("{:.0} ms", t.max_gap_ms),
        ),
    ];
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    println!("  {new} took over from {old}; after the kill:");
    for (k, v) in rows {
        println!("    {k:<width$}  {v:>14}");
    }
    println!(
        "  (a killed speaker leaves its node's rules in place, so {old} still forwards what reaches it until the client follows {new})"
    );
}

/// How to look around afterwards and how to take the lab down.
pub fn hints(lab: &Lab, o: &Outcome) -> String {
    let x = if lab.names.lab == DEFAULT_LAB {
        "cargo xtask lab".to_string()
    } else {
        format!("cargo xtask lab --lab {}", lab.names.lab)
    };
    let v4 = o.vips.iter().find(|ip| ip.is_ipv4()).copied();
    let vip = v4.map_or_else(|| "VIP".to_string(), |ip| ip.to_string());
    let node_ip = plan::node(&o.announcer).map_or_else(|| "NODE".into(), |n| n.host.v4.to_string());
    let up = topology::UPLINK;
    format!(
        "look around:\n\
        \x20 {x} kubectl -- get svc -A\n\
        \x20 {x} kubectl -- get vippools,l2announcementpolicies,serviceannouncements -A\n\
        \x20 {x} kubectl -- describe svc {NAME}\n\
        \x20 {x} exec client -- curl -s http://{vip}/\n\
        \x20 {x} exec client -- arping -c2 -I {up} {vip}\n\
        \x20 {x} exec client -- curl -s -H \"Authorization: Bearer $({x} kubectl -- create token -n ferrolb-system lab-scraper)\" http://{node_ip}:7473/debug/state   # {}'s speaker\n\
        \x20 {x} exec {} -- nft list table inet ferrolb\n\
        \x20 {x} kill speaker-{}    # then: {x} start speaker-{}\n\
        \x20 logs: {}\n\
        take it down:\n\
        \x20 {x} down\n",
        o.announcer,
        o.announcer,
        o.announcer,
        o.announcer,
        lab.dir.join("logs").display(),
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn outcome() -> Outcome {
        Outcome {
            vips: vec![
                "198.51.100.200".parse().unwrap(),
                "2001:db8:100::200".parse().unwrap(),
            ],
            announcer: "node-b".into(),
            pods: vec!["hostnames-1".into()],
            successor: "node-c".into(),
            trial: Trial {
                takeover_ms: Some(550.0),
                first_connect_ms: Some(551.0),
                max_gap_ms: 9.0,
            },
        }
    }

    #[test]
    fn urls_bracket_ipv6() {
        assert_eq!(
            url("198.51.100.200".parse().unwrap()),
            "http://198.51.100.200/"
        );
        assert_eq!(
            url("2001:db8:100::200".parse().unwrap()),
            "http://[2001:db8:100::200]/"
        );
    }

    #[test]
    fn hints_name_the_lab_the_vip_and_the_announcing_speaker() {
        let default = hints(&Lab::new(DEFAULT_LAB, Path::new("/x")), &outcome());
        assert!(default.contains("cargo xtask lab exec client -- curl -s http://198.51.100.200/"));
        assert!(default.contains("http://198.51.100.12:7473/debug/state"));
        assert!(default.contains("cargo xtask lab kill speaker-node-b"));
        assert!(default.contains("\n  cargo xtask lab down\n"));
        let other = hints(&Lab::new("demo", Path::new("/x")), &outcome());
        assert!(other.contains("cargo xtask lab --lab demo kubectl -- get svc -A"));
        assert!(other.contains("cargo xtask lab --lab demo down"));
    }
}
