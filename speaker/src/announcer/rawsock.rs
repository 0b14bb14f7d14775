//! `AF_PACKET` raw sockets bound to one interface, for tokio. Needs only `CAP_NET_RAW`.
//!
//! The only module of the crate allowed `unsafe`: `bind` with a `sockaddr_ll` and the
//! `PACKET_ADD_MEMBERSHIP` / `PACKET_DROP_MEMBERSHIP` socket options, which neither `socket2`
//! nor `nix` offer safely, and registering the descriptor with tokio (`AsyncFd::register`).
//! Everything else goes through `socket2`.
//!
//! A socket listens to every ethertype (`ETH_P_ALL`) of its interface behind an in-kernel BPF
//! filter ([`Receive`]): one descriptor per interface for both ARP and IPv6, and the node's
//! data traffic (all of IPv6 on a dual-stack node) never reaches userspace. Binding to
//! `ETH_P_IPV6` instead would copy every IPv6 packet of the node to us. The filter is attached
//! before the socket is bound, so no unfiltered frame is ever queued.
#![allow(unsafe_code)]

use std::io::{self, Read};
use std::mem::size_of;
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, SockFilter, Socket, Type};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::filter::{self, Receive};
use crate::packets::Mac;

/// A non-blocking `AF_PACKET`/`SOCK_RAW` socket bound to one interface. Frames are whole
/// Ethernet frames (destination MAC first). Dropping it closes the socket, which also drops its
/// multicast memberships.
#[derive(Debug)]
pub struct RawSocket {
    fd: AsyncFd<Socket>,
    /// Checked to fit the kernel's `int` at open.
    ifindex: i32,
}

impl RawSocket {
    /// Opens a socket on interface `ifindex`, receiving the frames `receive` selects. Must be
    /// called inside a tokio runtime (with I/O enabled), in the network namespace of the
    /// interface.
    pub fn open(ifindex: u32, receive: Receive) -> io::Result<Self> {
        let c_ifindex = i32::try_from(ifindex)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index"))?;
        // Protocol 0: the socket receives nothing until bound, i.e. until the filter is on.
        let socket = Socket::new(
            Domain::PACKET,
            Type::RAW.nonblocking(),
            Some(Protocol::from(0)),
        )?;
        let program: Vec<SockFilter> = filter::program(receive)
            .into_iter()
            .map(|i| SockFilter::new(i.code, i.jt, i.jf, i.k))
            .collect();
        socket.attach_filter(&program)?;
        let addr = libc::sockaddr_ll {
            sll_family: libc::AF_PACKET as u16,
            sll_protocol: (libc::ETH_P_ALL as u16).to_be(),
            sll_ifindex: c_ifindex,
            sll_hatype: 0,
            sll_pkttype: 0,
            sll_halen: 0,
            sll_addr: [0; 8],
        };
        // SAFETY: `addr` is a fully initialised `sockaddr_ll` living on the stack for the whole
        // call, and the length passed is exactly its size; the descriptor is open (owned by
        // `socket`). `bind` does not keep the pointer.
        let rc = unsafe {
            libc::bind(
                socket.as_raw_fd(),
                (&raw const addr).cast::<libc::sockaddr>(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `socket` owns its descriptor, which stays open and the same until the
        // `Socket` is dropped, and `AsyncFd` owns the `Socket` and drops it last; nothing here
        // hands out the `Socket` by value or mutably, so it cannot be closed or replaced.
        let fd = unsafe { AsyncFd::register(socket) }.map_err(|e| e.into_parts().1)?;
        Ok(RawSocket {
            fd,
            ifindex: c_ifindex,
        })
    }

    /// The interface index the socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex.unsigned_abs()
    }

    /// Waits for the next frame and copies it into `buf`, returning its length (a frame longer
    /// than `buf` is truncated). Errors are those of the socket, e.g. `ENETDOWN` once the
    /// interface went down or away: the socket should then be reopened.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // ERROR too: when the interface goes down or away the kernel only raises the
            // socket error (EPOLLERR), which tokio does not count as readable.
            let mut ready = self.fd.ready(Interest::READABLE | Interest::ERROR).await?;
            match ready.try_io(|inner| {
                let mut socket: &Socket = inner.get_ref();
                socket.read(buf)
            }) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Sends one whole Ethernet frame out of the interface.
    pub async fn send(&self, frame: &[u8]) -> io::Result<()> {
        loop {
            let mut ready = self.fd.writable().await?;
            match ready.try_io(|inner| inner.get_ref().send(frame)) {
                Ok(Ok(n)) if n == frame.len() => return Ok(()),
                Ok(Ok(n)) => {
                    let msg = format!("short send: {n} of {} bytes", frame.len());
                    return Err(io::Error::other(msg));
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    /// Adds `mac` to the interface's multicast filter for as long as this socket is open
    /// (`PACKET_ADD_MEMBERSHIP`, `PACKET_MR_MULTICAST`). Memberships are counted: joining the
    /// same group twice needs two [`leave_multicast`](Self::leave_multicast).
    pub fn join_multicast(&self, mac: Mac) -> io::Result<()> {
        self.membership(libc::PACKET_ADD_MEMBERSHIP, mac)
    }

    /// Undoes one [`join_multicast`](Self::join_multicast) of `mac`.
    pub fn leave_multicast(&self, mac: Mac) -> io::Result<()> {
        self.membership(libc::PACKET_DROP_MEMBERSHIP, mac)
    }

    fn membership(&self, option: libc::c_int, mac: Mac) -> io::Result<()> {
        let mut address = [0u8; 8];
        address[..6].copy_from_slice(&mac);
        let mreq = libc::packet_mreq {
            mr_ifindex: self.ifindex,
            mr_type: libc::PACKET_MR_MULTICAST as u16,
            mr_alen: 6,
            mr_address: address,
        };
        // SAFETY: `mreq` is a fully initialised `packet_mreq` on the stack for the whole call,
        // the length passed is exactly its size, and the descriptor is open (owned by `fd`).
        // The kernel copies the value and keeps no pointer.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.get_ref().as_raw_fd(),
                libc::SOL_PACKET,
                option,
                (&raw const mreq).cast::<libc::c_void>(),
                size_of::<libc::packet_mreq>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}
