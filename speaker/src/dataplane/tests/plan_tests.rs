//! Full or update, conntrack deletions and reading the tools' answers.

use super::super::plan::says_missing;
use super::super::{
    ConntrackDeletion, FullReason, SyncMode, choose_mode, conntrack_deletions, deleted_flow_count,
    sync_tokens,
};
use crate::ruleset::tests::fixtures::{self, NODE, ip};
use crate::ruleset::{NodeInput, build};
use ferrolb_core::Protocol;

/// UDP Service `default/dns` on node `node-a`: 192.0.2.53 and 2001:db8::53 port 53 (NodePort
/// 30053) → 5353.
fn dns(endpoints: &[&str]) -> NodeInput {
    let mut port = fixtures::port(Protocol::Udp, 53, 5353);
    port.node_port = Some(30053);
    let endpoints = endpoints.iter().map(|a| fixtures::ready(a, NODE)).collect();
    let dns = fixtures::service(
        "dns",
        &["192.0.2.53", "2001:db8::53"],
        vec![port],
        endpoints,
    );
    fixtures::node(vec![dns])
}

#[test]
fn full_replacement_unless_the_recorded_table_is_still_there() {
    assert_eq!(
        choose_mode(None, None),
        SyncMode::Full(FullReason::NothingApplied)
    );
    assert_eq!(
        choose_mode(None, Some(&[7])),
        SyncMode::Full(FullReason::NothingApplied),
        "a table left by an earlier run is replaced, its content is unknown"
    );
    assert_eq!(
        choose_mode(Some(7), None),
        SyncMode::Full(FullReason::TableMissing)
    );
    for found in [&[9][..], &[], &[7, 9]] {
        assert_eq!(
            choose_mode(Some(7), Some(found)),
            SyncMode::Full(FullReason::TableReplaced),
            "{found:?}"
        );
    }
    assert_eq!(choose_mode(Some(7), Some(&[7])), SyncMode::Update);
}

#[test]
fn reasons_read_as_sentences() {
    assert_eq!(
        FullReason::TableMissing.to_string(),
        "table inet ferrolb is missing"
    );
    let failed = FullReason::UpdateFailed("Error: Could not process rule".to_string());
    assert!(failed.to_string().ends_with("Could not process rule"));
}

#[test]
fn removed_udp_endpoints_of_both_families_get_one_deletion_each() {
    let old = build(&dns(&["10.244.1.5", "10.244.2.7", "fd00:244::5"]));
    let new = build(&dns(&["10.244.1.5"]));
    let deletions = conntrack_deletions(&old, &new);
    assert_eq!(
        deletions,
        [
            ConntrackDeletion {
                ip: ip("10.244.2.7"),
                port: 5353
            },
            ConntrackDeletion {
                ip: ip("fd00:244::5"),
                port: 5353
            },
        ]
    );
    assert_eq!(
        deletions[1].args(),
        [
            "-D",
            "-p",
            "udp",
            "--reply-src",
            "fd00:244::5",
            "--reply-port-src",
            "5353",
            "--dst-nat"
        ]
    );
    assert!(conntrack_deletions(&new, &new).is_empty());
    assert!(
        conntrack_deletions(&new, &old).is_empty(),
        "added endpoints leave flows alone"
    );
}

#[test]
fn conntrack_counts_are_read_from_its_message_whatever_the_exit_code() {
    let none = "conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n";
    assert_eq!(deleted_flow_count(none), Some(0));
    let two = "conntrack v1.4.7 (conntrack-tools): 2 flow entries have been deleted.\n";
    assert_eq!(deleted_flow_count(two), Some(2));
    let refused = "conntrack v1.4.7 (conntrack-tools): Operation failed: Operation not permitted\n";
    assert_eq!(deleted_flow_count(refused), None);
    assert_eq!(deleted_flow_count(""), None);
}

#[test]
fn sync_tokens_are_read_from_the_set_listing() {
    let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
        {"set": {"family": "inet", "name": "sync_token", "table": "ferrolb", "type": "mark",
        "handle": 2, "elem": [305441741]}}]}"#;
    assert_eq!(sync_tokens(json), Ok(vec![305_441_741]));
    let empty =
        r#"{"nftables": [{"set": {"family": "inet", "name": "sync_token", "type": "mark"}}]}"#;
    assert_eq!(sync_tokens(empty), Ok(vec![]));
    assert!(sync_tokens("table inet ferrolb").is_err());
    assert!(sync_tokens(r#"{"nftables": []}"#).is_err());
    let too_big = r#"{"nftables": [{"set": {"elem": [4294967296]}}]}"#;
    assert!(sync_tokens(too_big).is_err());
}

#[test]
fn missing_objects_are_recognised_in_nft_errors() {
    assert!(says_missing(
        "Error: No such file or directory\nlist table inet ferrolb\n"
    ));
    assert!(!says_missing("Error: Operation not permitted"));
}
