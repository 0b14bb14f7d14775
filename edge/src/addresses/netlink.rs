//! rtnetlink requests of the address manager over one `rtnetlink` connection, whose socket
//! [`Netlink::open`] opens in the calling thread's network namespace: look a link up by name,
//! dump one link's addresses, add and delete one address (acknowledged).

use std::net::IpAddr;

use futures::TryStreamExt;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::address::{AddressAttribute, AddressHeaderFlags, AddressMessage};
use rtnetlink::Handle;
use tokio::task::JoinHandle;

use super::AddressError;

/// A connection to the kernel's routing netlink; its task ends when this is dropped.
#[derive(Debug)]
pub struct Netlink {
    handle: Handle,
    connection: JoinHandle<()>,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

impl Netlink {
    /// Opens the socket in the calling thread's network namespace and spawns the connection's
    /// task (on the current tokio runtime).
    pub fn open() -> Result<Netlink, AddressError> {
        let (connection, handle, _) = rtnetlink::new_connection().map_err(AddressError::Socket)?;
        Ok(Netlink {
            handle,
            connection: tokio::spawn(connection),
        })
    }

    /// The index of link `name`, if it exists.
    pub async fn link_index(&self, name: &str) -> Result<Option<u32>, AddressError> {
        let mut links = self.handle.link().get().match_name(name).execute();
        match links.try_next().await {
            Ok(link) => Ok(link.map(|l| l.header.index)),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The addresses of link `index` with their prefix lengths.
    pub async fn addresses(&self, index: u32) -> Result<Vec<(IpAddr, u8)>, AddressError> {
        let mut dump = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        let mut out = Vec::new();
        while let Some(a) = dump.try_next().await? {
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
        Ok(out)
    }

    /// Adds `ip/prefix` to link `index` (IPv6 without duplicate address detection). An
    /// address already present is not an error.
    pub async fn add(&self, index: u32, ip: IpAddr, prefix: u8) -> Result<(), AddressError> {
        let mut request = self.handle.address().add(index, ip, prefix);
        if ip.is_ipv6() {
            request.message_mut().header.flags = AddressHeaderFlags::Nodad;
        }
        match request.execute().await {
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
            other => Ok(other?),
        }
    }

    /// Deletes `ip/prefix` from link `index`. An address already gone is not an error.
    pub async fn delete(&self, index: u32, ip: IpAddr, prefix: u8) -> Result<(), AddressError> {
        let request = self
            .handle
            .address()
            .del(address_message(index, ip, prefix));
        match request.execute().await {
            Err(e) if errno(&e) == Some(libc::EADDRNOTAVAIL) => Ok(()),
            other => Ok(other?),
        }
    }
}

/// The errno of a request the kernel refused.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
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
    msg.attributes.push(AddressAttribute::Local(ip));
    msg.attributes.push(AddressAttribute::Address(ip));
    msg
}
