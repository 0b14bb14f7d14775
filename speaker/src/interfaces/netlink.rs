//! The two rtnetlink dumps behind [`super::local_interfaces`], over one `rtnetlink`
//! connection. Its socket is opened when the future is first polled, so the dumps read the
//! network namespace of the thread that polls it (tests enter a namespace on a thread and run
//! a current-thread runtime there).

use futures::TryStreamExt;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use rtnetlink::Handle;
use tokio::task::JoinHandle;

use super::{AddrFacts, InterfacesError, LinkFacts};

/// Every link and every address of every family.
pub async fn links_and_addresses() -> Result<(Vec<LinkFacts>, Vec<AddrFacts>), InterfacesError> {
    let (connection, handle, _) = rtnetlink::new_connection().map_err(InterfacesError::Socket)?;
    let _connection = Abort(tokio::spawn(connection));
    let links = links(&handle).await?;
    let addresses = addresses(&handle).await?;
    Ok((links, addresses))
}

/// Ends the connection's task when the dumps are done (or failed).
struct Abort(JoinHandle<()>);

impl Drop for Abort {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn links(handle: &Handle) -> Result<Vec<LinkFacts>, InterfacesError> {
    let messages: Vec<LinkMessage> = handle.link().get().execute().try_collect().await?;
    Ok(messages.into_iter().filter_map(link_facts).collect())
}

async fn addresses(handle: &Handle) -> Result<Vec<AddrFacts>, InterfacesError> {
    let mut dump = handle.address().get().execute();
    let mut out = Vec::new();
    while let Some(addr) = dump.try_next().await? {
        let mut local = None;
        let mut address = None;
        for attr in addr.attributes {
            match attr {
                AddressAttribute::Local(ip) => local = Some(ip),
                AddressAttribute::Address(ip) => address = Some(ip),
                _ => {}
            }
        }
        // IFA_LOCAL is the local end (IFA_ADDRESS is the peer on point-to-point links).
        if let Some(ip) = local.or(address) {
            out.push(AddrFacts {
                index: addr.header.index,
                addr: ip,
                prefix: addr.header.prefix_len,
            });
        }
    }
    Ok(out)
}

fn link_facts(link: LinkMessage) -> Option<LinkFacts> {
    let flags = link.header.flags;
    let mut facts = LinkFacts {
        index: link.header.index,
        admin_up: flags.contains(LinkFlags::Up),
        running: flags.contains(LinkFlags::Running),
        broadcast: flags.contains(LinkFlags::Broadcast),
        loopback: flags.contains(LinkFlags::Loopback),
        ..LinkFacts::default()
    };
    let mut named = false;
    for attr in link.attributes {
        match attr {
            LinkAttribute::IfName(name) => {
                facts.name = name;
                named = true;
            }
            LinkAttribute::Address(mac) => facts.lladdr = Some(mac),
            LinkAttribute::Controller(index) => facts.controller = Some(index),
            LinkAttribute::LinkNetNsId(id) => facts.peer_netnsid = Some(id),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::Kind(kind) => facts.kind = Some(kind.to_string()),
                        LinkInfo::PortKind(kind) => facts.port_kind = Some(kind.to_string()),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    named.then_some(facts)
}
