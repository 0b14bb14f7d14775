//! The kit on the real kernel: namespaces made and removed, a veth with addresses between
//! two of them, a command and a thread inside. Documentation addresses only.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};

use ferrolb_testkit::{Netns, Sysctls, VethEnd, exists, needs, veth};

#[test]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
fn namespaces_veths_commands_and_threads() {
    needs(&["ip", "sysctl"]);
    let a = Netns::with("kit-a", Sysctls::host(true)).unwrap();
    let b = Netns::new("kit-b").unwrap();
    assert_ne!(a.name(), b.name());
    assert!(
        a.name()
            .starts_with(&format!("flbt-{}-", std::process::id()))
    );
    veth(
        VethEnd::new(a.name(), "kit0").mac("02:00:00:00:0a:01"),
        VethEnd::new(b.name(), "kit0"),
    )
    .unwrap();
    a.addr("kit0", "192.0.2.1/24").unwrap();
    b.addr("kit0", "192.0.2.2/24").unwrap();
    assert!(
        a.ip(&["link", "show", "kit0"])
            .unwrap()
            .contains("02:00:00:00:0a:01")
    );
    assert_eq!(
        a.exec(&["sysctl", "-n", "net.ipv4.ip_forward"])
            .unwrap()
            .trim(),
        "1"
    );

    // A thread in `a` listens; one in `b` connects through the veth.
    let listener = a
        .thread(|| TcpListener::bind((Ipv4Addr::UNSPECIFIED, 7000)))
        .join()
        .unwrap()
        .unwrap()
        .unwrap();
    let to = SocketAddr::from(([192, 0, 2, 1], 7000));
    let connected = b.block_on(move || async move { TcpStream::connect(to).map(|_| ()) });
    connected.unwrap().unwrap();
    drop(listener);

    let names = [a.name().to_string(), b.name().to_string()];
    drop((a, b));
    for name in names {
        assert!(!exists(&name), "{name} left behind");
    }
}

#[test]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
fn a_thread_cannot_enter_a_missing_namespace() {
    needs(&["ip"]);
    let err = ferrolb_testkit::thread_in("flbt-0-0-missing", || ())
        .join()
        .unwrap()
        .unwrap_err();
    assert!(err.to_string().contains("flbt-0-0-missing"), "{err}");
}
