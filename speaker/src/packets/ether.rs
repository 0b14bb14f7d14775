//! Ethernet II framing shared by the ARP and NDP codecs.
//!
//! Only untagged Ethernet II frames are understood. A frame carrying an IEEE 802.1Q / 802.1ad
//! tag has ethertype 0x8100 / 0x88a8 in the position this module reads, so it is neither ARP
//! nor IPv6 and every decoder of the `packets` module returns `None` for it. On Linux the
//! kernel usually strips the tag before an `AF_PACKET` socket sees the frame (it is reported in
//! the packet auxdata instead), so a socket bound to a VLAN interface still receives untagged
//! frames.

use std::net::Ipv6Addr;

use pnet_packet::ethernet::EthernetPacket;

/// A 48-bit IEEE 802 MAC address, in transmission (network) byte order.
pub type Mac = [u8; 6];

/// The Ethernet broadcast address `ff:ff:ff:ff:ff:ff`.
pub const BROADCAST_MAC: Mac = [0xff; 6];

/// The all-zero MAC address, used for "unknown" hardware addresses in ARP requests.
pub const ZERO_MAC: Mac = [0; 6];

/// Length of an untagged Ethernet II header: destination, source, ethertype.
pub const ETHERNET_HEADER_LEN: usize = 14;

/// Minimum Ethernet frame length without the frame check sequence. Encoders pad shorter frames
/// with zeros to this length so that they do not depend on the driver to pad them.
pub const MIN_FRAME_LEN: usize = 60;

/// Ethertype of ARP (RFC 826).
pub const ETHERTYPE_ARP: u16 = 0x0806;

/// Ethertype of IPv4, as used in the ARP protocol type field.
pub const ETHERTYPE_IPV4: u16 = 0x0800;

/// Ethertype of IPv6 (RFC 2464).
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

/// Whether `mac` is a group (multicast or broadcast) address: the I/G bit of the first octet.
pub fn is_group_mac(mac: Mac) -> bool {
    mac[0] & 0x01 == 0x01
}

/// The Ethernet multicast MAC for an IPv6 multicast address (RFC 2464 §7): `33:33` followed by
/// the last four octets of the address. For `ff02::1` this is `33:33:00:00:00:01`.
///
/// The mapping is applied to any address, multicast or not; only multicast addresses give a
/// meaningful result.
pub fn multicast_mac(ip: Ipv6Addr) -> Mac {
    let o = ip.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// A decoded Ethernet II header and the bytes after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct EthernetFrame<'a> {
    /// Destination MAC.
    pub dst: Mac,
    /// Source MAC (never a group address: `parse_ethernet` rejects those).
    pub src: Mac,
    /// Ethertype field.
    pub ethertype: u16,
    /// Everything after the header, including any padding.
    pub payload: &'a [u8],
}

/// Splits an untagged Ethernet II frame. Returns `None` when the frame is shorter than a header
/// or its source address is a group address (IEEE 802.3 never sends from one, so such a frame
/// is forged or corrupt and must not be answered).
pub(super) fn parse_ethernet(frame: &[u8]) -> Option<EthernetFrame<'_>> {
    let eth = EthernetPacket::new(frame)?;
    let src = eth.get_source().octets();
    if is_group_mac(src) {
        return None;
    }
    Some(EthernetFrame {
        dst: eth.get_destination().octets(),
        src,
        ethertype: eth.get_ethertype().0,
        payload: frame.get(ETHERNET_HEADER_LEN..)?,
    })
}

/// Builds an Ethernet II frame, zero-padded to [`MIN_FRAME_LEN`].
pub(super) fn build_frame(dst: Mac, src: Mac, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let len = (ETHERNET_HEADER_LEN + payload.len()).max(MIN_FRAME_LEN);
    let mut frame = Vec::with_capacity(len);
    frame.extend_from_slice(&dst);
    frame.extend_from_slice(&src);
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(payload);
    frame.resize(len, 0);
    frame
}
