//! Running the real `nft` binary from tests.
//!
//! `nft -c` (check only, never applies) runs inside a fresh, private network
//! namespace (`unshare -n`) when possible, so the host's own tables neither
//! influence nor see the check. The tests that run `nft` are ignored, visibly, without feature
//! `root-tests` (`cargo xtask test` turns it on); with it, an `nft` that cannot run fails them.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// How `nft` can be run here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nft {
    /// Not usable; the reason fails the test.
    Unavailable(String),
    /// Usable; `isolated` when wrapped in `unshare -n`.
    Ready { isolated: bool },
}

fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Detects (once) whether and how `nft` can be run.
pub fn nft() -> &'static Nft {
    static NFT: OnceLock<Nft> = OnceLock::new();
    NFT.get_or_init(|| {
        if !succeeds("nft", &["--version"]) {
            return Nft::Unavailable("`nft` not found (apt-get install nftables)".to_string());
        }
        let isolated = succeeds("unshare", &["-n", "true"]);
        let probe = run(
            isolated,
            &["-c", "-f", "/dev/stdin"],
            "add table inet ferrolb_probe\n",
        );
        match probe {
            Ok(()) => Nft::Ready { isolated },
            Err(error) => Nft::Unavailable(format!("`nft -c` cannot run here: {error}")),
        }
    })
}

fn run(isolated: bool, args: &[&str], stdin: &str) -> Result<(), String> {
    let mut command = if isolated {
        let mut command = Command::new("unshare");
        command.args(["-n", "nft"]);
        command
    } else {
        Command::new("nft")
    };
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| error.to_string())?;
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(stdin.as_bytes())
            .map_err(|error| error.to_string())?;
    }
    let output = child
        .wait_with_output()
        .map_err(|error| error.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// `nft -c -f` of `script`: the outcome with nft's error text (panics when nft cannot run).
pub fn check(script: &str) -> Result<(), String> {
    match nft() {
        Nft::Unavailable(reason) => panic!("nft check impossible: {reason}"),
        Nft::Ready { isolated } => run(*isolated, &["-c", "-f", "/dev/stdin"], script),
    }
}

/// Asserts that nft accepts `script`.
pub fn assert_accepted(label: &str, script: &str) {
    if let Err(error) = check(script) {
        panic!("nft -c rejected {label}:\n{error}\n--- script ---\n{script}");
    }
}

/// One step of [`apply_in_private_namespace`].
pub enum Step {
    /// `nft -f` of a whole script.
    Script(String),
    /// One nft command line, e.g. `list ruleset`.
    Command(String),
}

/// Runs `steps` for real, in order, inside one private network namespace
/// that disappears when the shell exits (never on the host's tables).
/// Returns the combined standard output (panics when not possible here).
pub fn apply_in_private_namespace(steps: &[Step]) -> String {
    if !succeeds("unshare", &["-n", "true"]) || !matches!(nft(), Nft::Ready { .. }) {
        panic!(
            "real application needs nft and `unshare -n` (root): {:?}",
            nft()
        );
    }
    let mut shell = String::from("set -e\n");
    for (index, step) in steps.iter().enumerate() {
        match step {
            Step::Script(script) => shell.push_str(&format!(
                "nft -f - <<'FERROLB_SCRIPT_{index}'\n{script}FERROLB_SCRIPT_{index}\n"
            )),
            Step::Command(command) => shell.push_str(&format!("nft {command}\n")),
        }
    }
    let output = Command::new("unshare")
        .args(["-n", "sh", "-s"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            if let Some(mut input) = child.stdin.take() {
                input.write_all(shell.as_bytes())?;
            }
            child.wait_with_output()
        })
        .unwrap();
    assert!(
        output.status.success(),
        "applying failed:\n{}\n--- shell ---\n{shell}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `nft -j list table inet ferrolb` after `steps`, normalised so that two
/// tables with the same content compare equal whatever order and handles
/// their objects got: `{ "chain NAME": [rules...], "map NAME": {spec and
/// sorted elements} }`.
pub fn table_content(steps: Vec<Step>) -> serde_json::Value {
    let mut steps = steps;
    steps.push(Step::Command("-j list table inet ferrolb".to_string()));
    let listing = apply_in_private_namespace(&steps);
    let json: serde_json::Value = serde_json::from_str(listing.trim()).unwrap();
    let mut content = serde_json::Map::new();
    for entry in json["nftables"].as_array().unwrap() {
        let Some((kind, object)) = entry.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        let mut object = object.clone();
        let fields = object.as_object_mut().unwrap();
        for volatile in ["handle", "family", "table"] {
            fields.remove(volatile);
        }
        match kind.as_str() {
            "chain" => {
                let name = fields["name"].as_str().unwrap().to_string();
                content
                    .entry(format!("chain {name}"))
                    .or_insert_with(|| serde_json::json!([]));
                let _ = object;
            }
            "rule" => {
                let chain = fields["chain"].as_str().unwrap().to_string();
                let rules = content
                    .entry(format!("chain {chain}"))
                    .or_insert_with(|| serde_json::json!([]));
                rules.as_array_mut().unwrap().push(fields["expr"].clone());
            }
            "set" | "map" => {
                if let Some(elements) = fields.get_mut("elem").and_then(|e| e.as_array_mut()) {
                    elements.sort_by_key(|element| element.to_string());
                }
                let name = fields["name"].as_str().unwrap().to_string();
                content.insert(format!("{kind} {name}"), object);
            }
            _ => {}
        }
    }
    serde_json::Value::Object(content)
}
