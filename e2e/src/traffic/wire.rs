//! Looking at the lab's wire from a lab host: who answers ARP/NDP for an address (iputils
//! `arping`, `ndisc6`), a host's MAC, and one probe of a Service through an address.

use std::net::{IpAddr, SocketAddr};
use std::process::Output;
use std::time::Duration;

use crate::lab::topology::UPLINK;
use crate::traffic::echo::Reply;
use crate::{Error, Lab};

/// Probes arping may send in a window: more than one a second can send, so arping never stops
/// early for having had that many replies and listens to the end of the window.
const ARPING_NEVER_ENOUGH: &str = "1000";

/// Every MAC that answered broadcast ARP requests for `ip` sent from `from` (one a second)
/// during `window_secs` seconds: arping listens to the end of the window, so a second
/// answering node is seen too (sorted, lowercase, without duplicates; empty when nobody
/// answered).
pub(crate) fn arping(
    lab: &Lab,
    from: &str,
    ip: IpAddr,
    window_secs: u32,
) -> Result<Vec<String>, Error> {
    let (window, ip) = (window_secs.max(1).to_string(), ip.to_string());
    let argv = [
        "arping",
        "-b",
        "-c",
        ARPING_NEVER_ENOUGH,
        "-w",
        &window,
        "-I",
        UPLINK,
        &ip,
    ];
    let out = run(lab, from, &argv, "running arping")?;
    Ok(arping_macs(&String::from_utf8_lossy(&out.stdout)))
}

/// Every MAC in the Neighbor Advertisements answering one solicitation for `ip` from `from`
/// within a second (`ndisc6 -m`: all advertisements until the wait ends, not the first
/// only; sorted, lowercase, without duplicates; empty when nobody answered).
pub(crate) fn ndisc(lab: &Lab, from: &str, ip: IpAddr) -> Result<Vec<String>, Error> {
    ndisc_within(lab, from, ip, Duration::from_secs(1))
}

/// [`ndisc`] waiting `wait` for the advertisements instead of a second.
pub(crate) fn ndisc_within(
    lab: &Lab,
    from: &str,
    ip: IpAddr,
    wait: Duration,
) -> Result<Vec<String>, Error> {
    ndisc6(lab, from, ip, &["-m", "-r", "1", "-w", &millis(wait)])
}

/// The MAC in the first Neighbor Advertisement for `ip` answering solicitations from `from`,
/// one sent every `every` up to `tries` (`ndisc6 -1`: it exits at the first advertisement;
/// empty when nobody answered). For timing the first answer; [`ndisc`] counts every answer.
pub(crate) fn ndisc_first(
    lab: &Lab,
    from: &str,
    ip: IpAddr,
    (tries, every): (u32, Duration),
) -> Result<Vec<String>, Error> {
    let tries = tries.max(1).to_string();
    ndisc6(lab, from, ip, &["-1", "-r", &tries, "-w", &millis(every)])
}

/// The MACs ndisc6 with `options` prints for `ip`, run from `from` on the LAN interface.
fn ndisc6(lab: &Lab, from: &str, ip: IpAddr, options: &[&str]) -> Result<Vec<String>, Error> {
    let ip = ip.to_string();
    let mut argv = vec!["ndisc6"];
    argv.extend_from_slice(options);
    argv.extend([ip.as_str(), UPLINK]);
    let out = run(lab, from, &argv, "running ndisc6")?;
    Ok(ndisc_macs(&String::from_utf8_lossy(&out.stdout)))
}

/// `d` in whole milliseconds, at least 1 (ndisc6's `-w`).
fn millis(d: Duration) -> String {
    d.as_millis().max(1).to_string()
}

/// The MAC of a lab host's LAN interface (`node-a`, `client`, ...).
pub(crate) fn mac(lab: &Lab, host: &str) -> Result<String, Error> {
    let path = format!("/sys/class/net/{UPLINK}/address");
    let out = run(lab, host, &["cat", &path], "reading a MAC")?;
    let mac = String::from_utf8_lossy(&out.stdout).trim().to_lowercase();
    if mac.is_empty() {
        return Err(Error::msg(format!("no MAC for {host}'s {UPLINK}")));
    }
    Ok(mac)
}

/// One probe (`tcp`, `udp` or `http`) from `from` to `to`: the backend's answer.
pub(crate) fn probe(lab: &Lab, from: &str, proto: &str, to: SocketAddr) -> Result<Reply, Error> {
    let (bin, to_arg) = (lab.bin.display().to_string(), to.to_string());
    let out = run(
        lab,
        from,
        &[&bin, "probe", proto, &to_arg],
        "running the probe",
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    Reply::parse(&text).ok_or_else(|| {
        Error::msg(format!(
            "probe {proto} {to} from {from}: {}{}",
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    })
}

/// An HTTP GET from inside `from`'s network namespace: (status code, body).
pub(crate) fn http_get(
    lab: &Lab,
    from: &str,
    to: SocketAddr,
    path: &str,
) -> Result<(u16, String), Error> {
    let (bin, to_arg) = (lab.bin.display().to_string(), to.to_string());
    let argv = [bin.as_str(), "probe", "http", &to_arg, "--path", path];
    let out = run(lab, from, &argv, "running the http probe")?;
    let text = String::from_utf8_lossy(&out.stdout);
    crate::traffic::probe::parse_http(&text).ok_or_else(|| {
        Error::msg(format!(
            "GET http://{to}{path} from {from}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    })
}

/// One HTTP/1.1 request from lab host `from` with `method`, `path` and extra `headers`
/// (`Name: value`): the raw response.
pub(crate) fn http_raw(
    lab: &Lab,
    from: &str,
    to: SocketAddr,
    (method, path): (&str, &str),
    headers: &[String],
) -> Result<String, Error> {
    let (bin, to_arg) = (lab.bin.display().to_string(), to.to_string());
    let mut argv = vec![
        bin.as_str(),
        "probe",
        "http",
        &to_arg,
        "--path",
        path,
        "--method",
        method,
    ];
    for h in headers {
        argv.extend(["--header", h.as_str()]);
    }
    let out = run(lab, from, &argv, "running the http probe")?;
    if !out.status.success() {
        return Err(Error::msg(format!(
            "{method} http://{to}{path} from {from}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `argv` inside `host`'s network namespace to its end; `doing` names it in the error.
fn run(lab: &Lab, host: &str, argv: &[&str], doing: &str) -> Result<Output, Error> {
    let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
    lab.exec(host, &argv)?
        .output()
        .map_err(|e| Error::io(doing, e))
}

/// MACs in iputils arping's output (`Unicast reply from IP [MAC]  0.6ms`).
pub fn arping_macs(text: &str) -> Vec<String> {
    let mut macs: Vec<String> = text
        .lines()
        .filter(|l| l.contains("reply from"))
        .filter_map(|l| Some(l.split_once('[')?.1.split_once(']')?.0.to_lowercase()))
        .collect();
    macs.sort();
    macs.dedup();
    macs
}

/// The MACs in ndisc6's output (`Target link-layer address: MAC`, one per advertisement;
/// sorted, lowercase, without duplicates).
pub fn ndisc_macs(text: &str) -> Vec<String> {
    let mut macs: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Target link-layer address:"))
        .map(|m| m.trim().to_lowercase())
        .collect();
    macs.sort();
    macs.dedup();
    macs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tool_output() {
        let arping = "ARPING 198.51.100.200 from 198.51.100.100 eth0\n\
            Unicast reply from 198.51.100.200 [AA:BB:CC:00:00:01]  0.603ms\n\
            Unicast reply from 198.51.100.200 [aa:bb:cc:00:00:01]  0.503ms\n\
            Unicast reply from 198.51.100.200 [AA:BB:CC:00:00:02]  0.503ms\n\
            Sent 2 probes (2 broadcast(s))\nReceived 3 response(s)\n";
        assert_eq!(
            arping_macs(arping),
            ["aa:bb:cc:00:00:01", "aa:bb:cc:00:00:02"]
        );
        assert!(arping_macs("Sent 1 probes\nReceived 0 response(s)\n").is_empty());
        let ndisc = "Soliciting 2001:db8:100::200 (2001:db8:100::200) on eth0...\n\
            Target link-layer address: 02:AB:00:00:00:12\n from 2001:db8:100::12\n\
            Target link-layer address: 02:AB:00:00:00:11\n from 2001:db8:100::11\n\
            Target link-layer address: 02:ab:00:00:00:11\n from 2001:db8:100::11\n";
        assert_eq!(
            ndisc_macs(ndisc),
            ["02:ab:00:00:00:11", "02:ab:00:00:00:12"]
        );
        assert!(ndisc_macs("Timed out.\nNo response.\n").is_empty());
    }
}
