//! What the agent decides for a container of the upstream e2e image `agnhost`
//! (`registry.k8s.io/e2e-test-images/agnhost:<tag>`): whether an image is agnhost, and the argv
//! of the real agnhost binary ([`crate::lab::controlplane::bin`]`("agnhost")`) the container
//! runs, as a runtime would run the image: its entrypoint is `/agnhost` and its default command
//! `pause`; `command` replaces the entrypoint (only agnhost itself, by any path, is accepted:
//! the lab has no root filesystem of the image to run anything else from), `args` replace the
//! default command. `$(VAR)` references are expanded from the container's environment.
//!
//! Pure: the agent's I/O is in [`super::agnhost_pods`].

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::core::v1::{Container, Pod, Probe};

use super::spec::expand;

/// The image's name: the last path component of a reference (`registry/path/agnhost:2.63.0`,
/// `agnhost@sha256:...`) without its tag and digest.
fn image_name(reference: &str) -> &str {
    let no_digest = reference.split('@').next().unwrap_or(reference);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    last.split(':').next().unwrap_or(last)
}

/// Whether image `reference` is agnhost (any registry, tag or digest).
pub fn is_agnhost_image(reference: &str) -> bool {
    image_name(reference) == "agnhost"
}

/// Whether the agent runs `pod` as an agnhost Pod (one of its containers runs agnhost).
pub fn is_agnhost_pod(pod: &Pod) -> bool {
    pod.spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .any(|c| c.image.as_deref().is_some_and(is_agnhost_image))
}

/// The argv that runs container `c` with the agnhost binary at `program` (the environment
/// `vars` expands `$(VAR)`), or why the lab cannot run it.
pub fn argv(
    c: &Container,
    program: &Path,
    vars: &BTreeMap<String, String>,
) -> Result<Vec<String>, String> {
    let image = c.image.as_deref().unwrap_or_default();
    if !is_agnhost_image(image) {
        return Err(format!(
            "container {} runs image {image:?}: the lab agent runs only agnhost in an agnhost Pod",
            c.name
        ));
    }
    let args: Vec<String> = c.args.iter().flatten().map(|a| expand(a, vars)).collect();
    let mut out = vec![program.display().to_string()];
    match c.command.as_deref() {
        None | Some([]) => {
            // The image's CMD, unless args replace it.
            if args.is_empty() {
                out.push("pause".into());
            }
        }
        Some([first, rest @ ..]) => {
            let first = expand(first, vars);
            if Path::new(&first).file_name().and_then(|n| n.to_str()) != Some("agnhost") {
                return Err(format!(
                    "container {}: command {:?} is not agnhost: the lab agent runs only the \
                     agnhost binary for agnhost's image",
                    c.name, c.command
                ));
            }
            out.extend(rest.iter().map(|a| expand(a, vars)));
        }
    }
    out.extend(args);
    Ok(out)
}

/// Whether a probe is one the agent makes (`httpGet`, `tcpSocket`); others (`exec`, `grpc`)
/// it counts as passing, so they are left out of the container it probes.
fn probed(p: &Option<Probe>) -> bool {
    p.as_ref()
        .is_some_and(|p| p.http_get.is_some() || p.tcp_socket.is_some())
}

/// `c` with only the probes the agent makes: an `exec` or `grpc` probe always passes (an
/// `exec` readiness probe: ready once running). The names of the probes left out, for a note.
pub fn probed_only(c: &Container) -> (Container, Vec<&'static str>) {
    let mut out = c.clone();
    let mut dropped = Vec::new();
    for (name, p) in [
        ("startup", &mut out.startup_probe),
        ("liveness", &mut out.liveness_probe),
        ("readiness", &mut out.readiness_probe),
    ] {
        if p.is_some() && !probed(p) {
            *p = None;
            dropped.push(name);
        }
    }
    (out, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn container(v: serde_json::Value) -> Container {
        serde_json::from_value(v).unwrap()
    }

    const BIN: &str = "/cache/agnhost";

    fn run(v: serde_json::Value) -> Result<Vec<String>, String> {
        let vars = BTreeMap::from([("PORT".to_string(), "8080".to_string())]);
        argv(&container(v), Path::new(BIN), &vars)
    }

    #[test]
    fn agnhost_is_the_last_path_component_without_tag_or_digest() {
        for yes in [
            "registry.k8s.io/e2e-test-images/agnhost:2.63.0",
            "agnhost",
            "agnhost:2.55",
            "localhost:5000/agnhost:2.63.0",
            "example.test/e2e/agnhost@sha256:0123abcd",
            "example.test/agnhost:2.63.0@sha256:0123abcd",
        ] {
            assert!(is_agnhost_image(yes), "{yes}");
        }
        for no in [
            "registry.k8s.io/pause:3.10",
            "agnhost-private:2.6",
            "registry.k8s.io/agnhost/busybox:1",
            &crate::image::CONTROLLER.reference(),
            "localhost:5000/busybox",
            "",
        ] {
            assert!(!is_agnhost_image(no), "{no}");
        }
    }

    #[test]
    fn args_follow_the_entrypoint_and_replace_the_default_pause() {
        let image = "registry.k8s.io/e2e-test-images/agnhost:2.63.0";
        assert_eq!(
            run(json!({"name": "c", "image": image})).unwrap(),
            [BIN, "pause"]
        );
        assert_eq!(
            run(json!({"name": "c", "image": image,
                "args": ["netexec", "--http-port=$(PORT)", "--udp-port=80"]}))
            .unwrap(),
            [BIN, "netexec", "--http-port=8080", "--udp-port=80"]
        );
    }

    #[test]
    fn a_command_naming_agnhost_by_any_path_runs_with_the_args_after_it() {
        let image = "agnhost:2.63.0";
        assert_eq!(
            run(json!({"name": "c", "image": image,
                "command": ["/agnhost", "serve-hostname", "--http=false"], "args": ["--udp"]}))
            .unwrap(),
            [BIN, "serve-hostname", "--http=false", "--udp"]
        );
        assert_eq!(
            run(json!({"name": "c", "image": image, "command": ["agnhost"]})).unwrap(),
            [BIN],
            "a command without args drops the image's default command"
        );
    }

    #[test]
    fn other_commands_and_images_are_refused_naming_them() {
        let e = run(json!({"name": "c", "image": "agnhost:1", "command": ["/bin/sh", "-c", "x"]}))
            .unwrap_err();
        assert!(e.contains("/bin/sh") && e.contains("container c"), "{e}");
        let e = run(json!({"name": "side", "image": "busybox:1"})).unwrap_err();
        assert!(e.contains("busybox") && e.contains("side"), "{e}");
    }

    #[test]
    fn exec_probes_are_left_out_and_named() {
        let c = container(json!({"name": "c", "image": "agnhost",
            "readinessProbe": {"exec": {"command": ["true"]}},
            "livenessProbe": {"httpGet": {"port": 80, "path": "/healthz"}}}));
        let (probed, dropped) = probed_only(&c);
        assert_eq!(dropped, ["readiness"]);
        assert!(probed.readiness_probe.is_none());
        assert!(probed.liveness_probe.is_some());
    }
}
