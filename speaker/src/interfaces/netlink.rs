//! The two rtnetlink dumps behind [`super::local_interfaces`]: a blocking `NETLINK_ROUTE`
//! socket opened in the calling thread's network namespace, one request, answers read until
//! `NLMSG_DONE`.

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use super::{AddrFacts, InterfacesError, LinkFacts};

/// Receive buffer: the kernel never puts more than 32 KiB of a dump in one datagram.
const RECV_BUFFER: usize = 64 * 1024;
/// Upper bound on datagrams per dump (a dump of thousands of links is far below it).
const MAX_DATAGRAMS: usize = 100_000;

/// Every link.
pub fn links() -> Result<Vec<LinkFacts>, InterfacesError> {
    let request = RouteNetlinkMessage::GetLink(LinkMessage::default());
    let mut out = Vec::new();
    for msg in dump(request)? {
        if let RouteNetlinkMessage::NewLink(link) = msg
            && let Some(facts) = link_facts(link)
        {
            out.push(facts);
        }
    }
    Ok(out)
}

/// Every address of every family.
pub fn addresses() -> Result<Vec<AddrFacts>, InterfacesError> {
    let request = RouteNetlinkMessage::GetAddress(AddressMessage::default());
    let mut out = Vec::new();
    for msg in dump(request)? {
        if let RouteNetlinkMessage::NewAddress(addr) = msg {
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

/// Sends one dump request and collects the answers.
fn dump(request: RouteNetlinkMessage) -> Result<Vec<RouteNetlinkMessage>, InterfacesError> {
    let mut socket = Socket::new(NETLINK_ROUTE).map_err(InterfacesError::Socket)?;
    socket.bind_auto().map_err(InterfacesError::Socket)?;
    socket
        .connect(&SocketAddr::new(0, 0))
        .map_err(InterfacesError::Socket)?;

    let mut packet = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(request));
    packet.header.flags = NLM_F_DUMP | NLM_F_REQUEST;
    packet.header.sequence_number = 1;
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf);
    socket.send(&buf, 0).map_err(InterfacesError::Send)?;

    let mut out = Vec::new();
    let mut datagram: Vec<u8> = Vec::with_capacity(RECV_BUFFER);
    for _ in 0..MAX_DATAGRAMS {
        datagram.clear();
        let size = socket
            .recv(&mut datagram, libc::MSG_TRUNC)
            .map_err(InterfacesError::Recv)?;
        if size > datagram.len() {
            return Err(InterfacesError::Truncated(size));
        }
        let mut offset = 0;
        while offset < datagram.len() {
            let msg: NetlinkMessage<RouteNetlinkMessage> =
                NetlinkMessage::deserialize(&datagram[offset..])
                    .map_err(|e| InterfacesError::Decode(e.to_string()))?;
            let len = msg.header.length as usize;
            match msg.payload {
                NetlinkPayload::Done(_) => return Ok(out),
                NetlinkPayload::Error(e) => match e.code {
                    Some(code) => return Err(InterfacesError::Kernel(code.get())),
                    None => return Ok(out),
                },
                NetlinkPayload::InnerMessage(inner) => out.push(inner),
                _ => {}
            }
            if len == 0 {
                return Err(InterfacesError::Decode("zero-length message".into()));
            }
            // Messages are aligned to 4 bytes within a datagram.
            offset += len.div_ceil(4) * 4;
        }
    }
    Err(InterfacesError::Decode("dump did not end".into()))
}
