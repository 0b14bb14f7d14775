//! deploy/kind/quickstart.sh without Docker: the script parses (`bash -n`, and shellcheck when
//! installed), and its range derivation (`--print-range`) and pool (`--print-pool`) turn
//! sample `docker network inspect` JSON into ranges inside the network's subnets, at its top
//! where Docker does not hand out addresses, and into a VIPPool that reads as one.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Output, Stdio};

use ferrolb_api::VIPPool;
use ferrolb_e2e::testlab::repo_root;
use ipnet::IpNet;

/// What `docker network inspect kind` prints for kind's usual network (Docker 28).
const KIND_NETWORK: &str = r#"[
    {
        "Name": "kind",
        "Id": "4c0b1cb4a1b05c1f2d7b4e55f3e1c0f0d1c1b7b2a9d1f4e6a3b2c1d0e9f8a7b6",
        "Scope": "local",
        "Driver": "bridge",
        "EnableIPv4": true,
        "EnableIPv6": true,
        "IPAM": {
            "Driver": "default",
            "Options": {},
            "Config": [
                {
                    "Subnet": "fc00:f853:ccd:e793::/64",
                    "Gateway": "fc00:f853:ccd:e793::1"
                },
                {
                    "Subnet": "172.18.0.0/16",
                    "Gateway": "172.18.0.1"
                }
            ]
        },
        "Options": {
            "com.docker.network.bridge.enable_ip_masquerade": "true",
            "com.docker.network.driver.mtu": "1500"
        }
    }
]
"#;

fn script() -> String {
    repo_root()
        .join("deploy/kind/quickstart.sh")
        .display()
        .to_string()
}

/// Runs the script with `args`, `stdin` on its standard input.
fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new("bash")
        .arg(script())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// `--print-range -` of `json`: the lines printed.
fn ranges(json: &str) -> Vec<String> {
    let out = run(&["--print-range", "-"], json);
    assert!(
        out.status.success(),
        "--print-range failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// A range `A-B` as two addresses, both inside `subnet`, A before B.
fn check_range(range: &str, subnet: &str) -> (IpAddr, IpAddr) {
    let net: IpNet = subnet.parse().expect("subnet");
    let (a, b) = range.split_once('-').expect("a range A-B");
    let (a, b): (IpAddr, IpAddr) = (a.parse().expect("first"), b.parse().expect("last"));
    assert!(
        net.contains(&a) && net.contains(&b),
        "{range} not in {subnet}"
    );
    assert!(a < b, "{range} is not in order");
    (a, b)
}

#[test]
fn script_parses_and_is_shellcheck_clean() {
    let out = Command::new("bash")
        .args(["-n", &script()])
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    match Command::new("shellcheck").arg(script()).output() {
        Ok(out) => assert!(
            out.status.success(),
            "shellcheck:\n{}",
            String::from_utf8_lossy(&out.stdout)
        ),
        // `cargo xtask test` (feature root-tests) installs it: missing there is a failure.
        Err(e) if cfg!(feature = "root-tests") => {
            panic!("shellcheck not installed ({e}): apt-get install shellcheck")
        }
        Err(e) => eprintln!("shellcheck not installed ({e}): only `bash -n` checked"),
    }
}

#[test]
fn kinds_network_gives_its_last_ipv4_slash_28_and_a_small_ipv6_range() {
    let file =
        std::env::temp_dir().join(format!("ferrolb-kind-network-{}.json", std::process::id()));
    std::fs::write(&file, KIND_NETWORK).expect("write sample");
    let out = run(&["--print-range", &file.display().to_string()], "");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(
        lines,
        [
            "172.18.255.240-172.18.255.254",
            "fc00:f853:ccd:e793::ff00-fc00:f853:ccd:e793::ff0f"
        ]
    );
    let (_, last) = check_range(&lines[0], "172.18.0.0/16");
    assert_ne!(
        last,
        "172.18.255.255".parse::<IpAddr>().unwrap(),
        "the broadcast address"
    );
    check_range(&lines[1], "fc00:f853:ccd:e793::/64");
}

#[test]
fn other_networks_compact_json_and_ipv6_without_double_colon() {
    let v4_only = r#"[{"Name":"kind","IPAM":{"Config":[{"Subnet":"198.51.100.0/24","Gateway":"198.51.100.1"}]}}]"#;
    let got = ranges(v4_only);
    assert_eq!(got, ["198.51.100.240-198.51.100.254"]);
    check_range(&got[0], "198.51.100.0/24");

    let exact = r#"[{"IPAM":{"Config":[{"Subnet":"192.0.2.0/28"},{"Subnet":"2001:db8:1:2:3:4:5:0/112"}]}}]"#;
    let got = ranges(exact);
    assert_eq!(
        got,
        [
            "192.0.2.0-192.0.2.14",
            "2001:db8:1:2:3:4:5:ff00-2001:db8:1:2:3:4:5:ff0f"
        ]
    );
    check_range(&got[1], "2001:db8:1:2:3:4:5:0/112");

    let v6_too_small =
        r#"[{"IPAM":{"Config":[{"Subnet":"198.51.100.0/26"},{"Subnet":"2001:db8::/120"}]}}]"#;
    assert_eq!(ranges(v6_too_small), ["198.51.100.48-198.51.100.62"]);
}

#[test]
fn unusable_networks_fail_with_a_clear_message() {
    for (json, says) in [
        (
            r#"[{"IPAM":{"Config":[{"Subnet":"198.51.100.0/29"}]}}]"#,
            "smaller than a /28",
        ),
        (
            r#"[{"IPAM":{"Config":[{"Subnet":"2001:db8::/64"}]}}]"#,
            "no IPv4 subnet",
        ),
        ("[]", "no IPv4 subnet"),
    ] {
        let out = run(&["--print-range", "-"], json);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{json}: accepted");
        assert!(err.contains(says), "{json}: {err}");
        assert!(out.stdout.is_empty(), "{json}: printed a range anyway");
    }
}

#[test]
fn print_pool_is_the_sample_ippool_with_the_derived_ranges() {
    let out = run(&["--print-pool", "-"], KIND_NETWORK);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8_lossy(&out.stdout);
    let pool: VIPPool = serde_norway::from_str(&yaml).expect("a VIPPool");
    assert_eq!(pool.metadata.name.as_deref(), Some("kind"));
    assert_eq!(pool.spec.addresses, ranges(KIND_NETWORK));
}
