//! SCTP packets made and read by hand (RFC 9260), for a kernel without SCTP sockets: the lab
//! sends `INIT`s on a raw socket and catches them, translated by a node's nftables, in a pod.
//! Pure: bytes in, bytes out. The checksum is CRC32c (Castagnoli), as conntrack checks it.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// IP protocol number of SCTP.
pub const IPPROTO_SCTP: i32 = 132;
/// Chunk type of `INIT`.
pub const CHUNK_INIT: u8 = 1;
/// Length of the common header (ports, verification tag, checksum).
const COMMON_HEADER: usize = 12;
/// Length of an `INIT` chunk without parameters.
const INIT_CHUNK: usize = 20;
/// Offset of the checksum in the common header.
const CHECKSUM_AT: usize = 8;

const CASTAGNOLI: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// Why bytes are not the SCTP packet expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SctpError {
    /// Fewer bytes than the header needs.
    #[error("{what} needs {need} bytes, got {got}")]
    Short {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes there.
        got: usize,
    },
    /// Not an IPv4 datagram.
    #[error("not IPv4 (version {0})")]
    NotIpv4(u8),
    /// An IPv4 datagram of another protocol.
    #[error("IP protocol {0}, not SCTP")]
    NotSctp(u8),
    /// A fragment other than the first.
    #[error("a non-first IPv4 fragment")]
    Fragment,
}

/// CRC32c of `data` (the SCTP and iSCSI checksum).
pub fn crc32c(data: &[u8]) -> u32 {
    CASTAGNOLI.checksum(data)
}

/// The checksum an SCTP packet should carry: CRC32c over the packet with the checksum field
/// zeroed, sent least significant byte first (RFC 9260 appendix A).
fn checksum_of(packet: &[u8]) -> [u8; 4] {
    let mut digest = CASTAGNOLI.digest();
    digest.update(packet.get(..CHECKSUM_AT).unwrap_or_default());
    digest.update(&[0; 4]);
    digest.update(packet.get(COMMON_HEADER..).unwrap_or_default());
    digest.finalize().to_le_bytes()
}

/// An `INIT`, the first packet of an association: what conntrack sees as a new SCTP flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Init {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// The sender's verification tag for the association (must not be 0).
    pub initiate_tag: u32,
    /// First transmission sequence number.
    pub initial_tsn: u32,
}

impl Init {
    /// The whole SCTP packet: common header (verification tag 0, as an `INIT` requires) and
    /// one `INIT` chunk without parameters, checksum filled in.
    pub fn packet(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(COMMON_HEADER + INIT_CHUNK);
        p.extend_from_slice(&self.src_port.to_be_bytes());
        p.extend_from_slice(&self.dst_port.to_be_bytes());
        p.extend_from_slice(&0u32.to_be_bytes()); // verification tag
        p.extend_from_slice(&[0; 4]); // checksum, below
        p.push(CHUNK_INIT);
        p.push(0); // flags
        p.extend_from_slice(&(INIT_CHUNK as u16).to_be_bytes());
        p.extend_from_slice(&self.initiate_tag.to_be_bytes());
        p.extend_from_slice(&65_535u32.to_be_bytes()); // advertised receiver window
        p.extend_from_slice(&1u16.to_be_bytes()); // outbound streams
        p.extend_from_slice(&1u16.to_be_bytes()); // inbound streams
        p.extend_from_slice(&self.initial_tsn.to_be_bytes());
        let sum = checksum_of(&p);
        p[CHECKSUM_AT..COMMON_HEADER].copy_from_slice(&sum);
        p
    }
}

/// An SCTP packet's common header and first chunk type, as read off the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sctp {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Verification tag.
    pub vtag: u32,
    /// Type of the first chunk (`None`: no chunk).
    pub chunk: Option<u8>,
    /// Whether the CRC32c matches (a NAT that rewrote ports must have fixed it).
    pub checksum_ok: bool,
}

/// Reads an SCTP packet (starting at its common header).
pub fn parse(packet: &[u8]) -> Result<Sctp, SctpError> {
    let h: &[u8; COMMON_HEADER] = packet
        .get(..COMMON_HEADER)
        .and_then(|h| h.try_into().ok())
        .ok_or(SctpError::Short {
            what: "an SCTP common header",
            need: COMMON_HEADER,
            got: packet.len(),
        })?;
    let sent = [h[8], h[9], h[10], h[11]];
    Ok(Sctp {
        src_port: u16::from_be_bytes([h[0], h[1]]),
        dst_port: u16::from_be_bytes([h[2], h[3]]),
        vtag: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        chunk: packet.get(COMMON_HEADER).copied(),
        checksum_ok: checksum_of(packet) == sent,
    })
}

/// An SCTP packet caught in an IPv4 datagram, with the datagram's addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caught {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// The SCTP packet.
    #[serde(flatten)]
    pub sctp: Sctp,
}

/// Reads an IPv4 datagram carrying SCTP, header included (what an IPv4 raw socket receives).
pub fn parse_ipv4(datagram: &[u8]) -> Result<Caught, SctpError> {
    let h = datagram.get(..20).ok_or(SctpError::Short {
        what: "an IPv4 header",
        need: 20,
        got: datagram.len(),
    })?;
    let version = h[0] >> 4;
    if version != 4 {
        return Err(SctpError::NotIpv4(version));
    }
    if h[9] != IPPROTO_SCTP as u8 {
        return Err(SctpError::NotSctp(h[9]));
    }
    if u16::from_be_bytes([h[6], h[7]]) & 0x1fff != 0 {
        return Err(SctpError::Fragment);
    }
    let header_len = usize::from(h[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([h[2], h[3]])).min(datagram.len());
    let payload = datagram.get(header_len..total).ok_or(SctpError::Short {
        what: "an IPv4 datagram",
        need: header_len,
        got: total,
    })?;
    Ok(Caught {
        src: Ipv4Addr::new(h[12], h[13], h[14], h[15]),
        dst: Ipv4Addr::new(h[16], h[17], h[18], h[19]),
        sctp: parse(payload)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_known_vectors() {
        // RFC 3720 appendix B.4 (values as u32; the RFC lists them least significant byte first).
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62a8_ab43);
        let up: Vec<u8> = (0u8..32).collect();
        assert_eq!(crc32c(&up), 0x46dd_794e);
        let down: Vec<u8> = (0u8..32).rev().collect();
        assert_eq!(crc32c(&down), 0x113f_db5c);
        // The catalogue's check value.
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn init_round_trips() {
        let init = Init {
            src_port: 50_000,
            dst_port: 80,
            initiate_tag: 0xdead_beef,
            initial_tsn: 7,
        };
        let p = init.packet();
        assert_eq!(p.len(), 32);
        assert_eq!(&p[..4], &[0xc3, 0x50, 0x00, 0x50]);
        assert_eq!(&p[12..16], &[CHUNK_INIT, 0, 0, 20]);
        let got = parse(&p).unwrap();
        assert_eq!(
            got,
            Sctp {
                src_port: 50_000,
                dst_port: 80,
                vtag: 0,
                chunk: Some(CHUNK_INIT),
                checksum_ok: true
            }
        );
        // The checksum is the CRC32c of the packet with a zero checksum field, LSB first.
        let mut zeroed = p.clone();
        zeroed[8..12].fill(0);
        assert_eq!(&p[8..12], &crc32c(&zeroed).to_le_bytes());
        let mut rewritten = p.clone();
        rewritten[3] = 81; // a port changed without fixing the checksum
        assert!(!parse(&rewritten).unwrap().checksum_ok);
    }

    #[test]
    fn reads_sctp_in_ipv4() {
        let sctp = Init {
            src_port: 1234,
            dst_port: 9376,
            initiate_tag: 1,
            initial_tsn: 1,
        }
        .packet();
        let mut d = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 132, 0, 0];
        d.extend_from_slice(&[198, 51, 100, 11, 192, 0, 2, 66]);
        d.extend_from_slice(&sctp);
        let len = d.len() as u16;
        d[2..4].copy_from_slice(&len.to_be_bytes());
        d.extend_from_slice(&[0; 6]); // trailing bytes past the IP length are ignored
        let c = parse_ipv4(&d).unwrap();
        assert_eq!(c.src, Ipv4Addr::new(198, 51, 100, 11));
        assert_eq!(c.dst, Ipv4Addr::new(192, 0, 2, 66));
        assert_eq!((c.sctp.src_port, c.sctp.dst_port), (1234, 9376));
        assert!(c.sctp.checksum_ok);
        let json = serde_json::to_value(c).unwrap();
        assert_eq!(json["dst"], "192.0.2.66");
        assert_eq!(json["dst_port"], 9376);
        assert_eq!(serde_json::from_value::<Caught>(json).unwrap(), c);

        let mut udp = d.clone();
        udp[9] = 17;
        assert_eq!(parse_ipv4(&udp), Err(SctpError::NotSctp(17)));
        assert!(matches!(parse_ipv4(&d[..25]), Err(SctpError::Short { .. })));
        assert_eq!(parse_ipv4(&[0x60; 40]), Err(SctpError::NotIpv4(6)));
    }
}
