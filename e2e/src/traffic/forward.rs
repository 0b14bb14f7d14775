//! A loopback forwarder: listens on the host's loopback and opens each upstream connection from
//! inside a lab namespace. This is how host processes (kubectl, the tests, the node agent) reach
//! the apiserver without the lab touching the host's interfaces or routes.

use std::fs::File;
use std::net::SocketAddr;
use std::path::Path;

use nix::sched::{CloneFlags, setns};
use tokio::net::{TcpListener, TcpStream};

use crate::Error;

/// Binds `listen` in the current (host) namespace, writes the bound port to `port_file`, then
/// moves this process into network namespace `netns` and forwards every connection to `to`.
/// Call before any runtime threads exist: the threads created afterwards inherit the namespace,
/// while the listening socket stays in the host's.
pub fn run(netns: &str, listen: SocketAddr, to: SocketAddr, port_file: &Path) -> Result<(), Error> {
    let listener = std::net::TcpListener::bind(listen)
        .map_err(|e| Error::io(format!("binding {listen}"), e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::io("setting the listener non-blocking", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::io("reading the bound port", e))?
        .port();
    let tmp = port_file.with_extension("tmp");
    std::fs::write(&tmp, port.to_string()).map_err(|e| Error::io("writing the port file", e))?;
    std::fs::rename(&tmp, port_file).map_err(|e| Error::io("writing the port file", e))?;

    let ns = File::open(format!("/run/netns/{netns}"))
        .map_err(|e| Error::io(format!("opening network namespace {netns}"), e))?;
    setns(&ns, CloneFlags::CLONE_NEWNET)
        .map_err(|e| Error::msg(format!("entering network namespace {netns}: {e}")))?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the runtime", e))?;
    rt.block_on(async move {
        let listener =
            TcpListener::from_std(listener).map_err(|e| Error::io("adopting the listener", e))?;
        loop {
            let (mut inbound, _) = listener
                .accept()
                .await
                .map_err(|e| Error::io("accepting", e))?;
            tokio::spawn(async move {
                if let Ok(mut upstream) = TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut upstream).await;
                }
            });
        }
    })
}
