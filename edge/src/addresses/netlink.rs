//! rtnetlink requests of the address manager, on a blocking `NETLINK_ROUTE` socket opened in
//! the calling thread's network namespace: dump links (name → index), dump one link's
//! addresses, add and delete one address (acknowledged).

use std::net::IpAddr;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressHeaderFlags, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use super::AddressError;

/// Receive buffer: the kernel never puts more than 32 KiB of a dump in one datagram.
const RECV_BUFFER: usize = 64 * 1024;
/// Upper bound on datagrams per answer.
const MAX_DATAGRAMS: usize = 100_000;

/// The index of link `name`, if it exists.
pub fn link_index(name: &str) -> Result<Option<u32>, AddressError> {
    let request = RouteNetlinkMessage::GetLink(LinkMessage::default());
    for msg in exchange(request, NLM_F_DUMP)? {
        if let RouteNetlinkMessage::NewLink(link) = msg {
            let named = link
                .attributes
                .iter()
                .any(|a| matches!(a, LinkAttribute::IfName(n) if n == name));
            if named {
                return Ok(Some(link.header.index));
            }
        }
    }
    Ok(None)
}

/// The addresses of link `index` with their prefix lengths.
pub fn addresses(index: u32) -> Result<Vec<(IpAddr, u8)>, AddressError> {
    let request = RouteNetlinkMessage::GetAddress(AddressMessage::default());
    let mut out = Vec::new();
    for msg in exchange(request, NLM_F_DUMP)? {
        if let RouteNetlinkMessage::NewAddress(a) = msg
            && a.header.index == index
        {
            let mut local = None;
            let mut address = None;
            for attr in &a.attributes {
                match attr {
                    AddressAttribute::Local(ip) => local = Some(*ip),
                    AddressAttribute::Address(ip) => address = Some(*ip),
                    _ => {}
                }
            }
            if let Some(ip) = local.or(address) {
                out.push((ip, a.header.prefix_len));
            }
        }
    }
    Ok(out)
}

/// Adds `ip/prefix` to link `index` (IPv6 without duplicate address detection). An address
/// already present is not an error.
pub fn add(index: u32, ip: IpAddr, prefix: u8) -> Result<(), AddressError> {
    let msg = address_message(index, ip, prefix);
    match exchange(
        RouteNetlinkMessage::NewAddress(msg),
        NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
    ) {
        Err(AddressError::Kernel(errno)) if errno == libc::EEXIST => Ok(()),
        other => other.map(|_| ()),
    }
}

/// Deletes `ip/prefix` from link `index`. An address already gone is not an error.
pub fn delete(index: u32, ip: IpAddr, prefix: u8) -> Result<(), AddressError> {
    let msg = address_message(index, ip, prefix);
    match exchange(RouteNetlinkMessage::DelAddress(msg), NLM_F_ACK) {
        Err(AddressError::Kernel(errno)) if errno == libc::EADDRNOTAVAIL => Ok(()),
        other => other.map(|_| ()),
    }
}

fn address_message(index: u32, ip: IpAddr, prefix: u8) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.index = index;
    msg.header.prefix_len = prefix;
    msg.header.family = if ip.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    if ip.is_ipv6() {
        msg.header.flags = AddressHeaderFlags::Nodad;
    }
    msg.attributes.push(AddressAttribute::Local(ip));
    msg.attributes.push(AddressAttribute::Address(ip));
    msg
}

/// Sends one request (`NLM_F_REQUEST` plus `flags`) and collects the answers until the dump
/// ends or the acknowledgement arrives.
fn exchange(
    request: RouteNetlinkMessage,
    flags: u16,
) -> Result<Vec<RouteNetlinkMessage>, AddressError> {
    let mut socket = Socket::new(NETLINK_ROUTE).map_err(AddressError::Socket)?;
    socket.bind_auto().map_err(AddressError::Socket)?;
    socket
        .connect(&SocketAddr::new(0, 0))
        .map_err(AddressError::Socket)?;

    let mut packet = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(request));
    packet.header.flags = NLM_F_REQUEST | flags;
    packet.header.sequence_number = 1;
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf);
    socket.send(&buf, 0).map_err(AddressError::Socket)?;

    let mut out = Vec::new();
    let mut datagram: Vec<u8> = Vec::with_capacity(RECV_BUFFER);
    for _ in 0..MAX_DATAGRAMS {
        datagram.clear();
        let size = socket
            .recv(&mut datagram, libc::MSG_TRUNC)
            .map_err(AddressError::Socket)?;
        if size > datagram.len() {
            return Err(AddressError::Decode(format!(
                "answer larger than the buffer ({size} bytes)"
            )));
        }
        let mut offset = 0;
        while offset < datagram.len() {
            let msg: NetlinkMessage<RouteNetlinkMessage> =
                NetlinkMessage::deserialize(&datagram[offset..])
                    .map_err(|e| AddressError::Decode(e.to_string()))?;
            let len = msg.header.length as usize;
            match msg.payload {
                NetlinkPayload::Done(_) => return Ok(out),
                NetlinkPayload::Error(e) => {
                    return match e.code {
                        Some(code) => Err(AddressError::Kernel(-code.get())),
                        None => Ok(out),
                    };
                }
                NetlinkPayload::InnerMessage(inner) => out.push(inner),
                _ => {}
            }
            if len == 0 {
                return Err(AddressError::Decode("zero-length message".into()));
            }
            offset += len.div_ceil(4) * 4;
        }
    }
    Err(AddressError::Decode("answer did not end".into()))
}
