//! Unit tests of the announcer's pure parts.

mod filter_tests;
pub(super) mod frames;
mod link_tests;
mod plan_tests;
mod respond_tests;
mod schedule_tests;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::packets::Mac;

pub(super) const OUR_MAC: Mac = [0x02, 0, 0, 0xaa, 0xbb, 0xcc];
pub(super) const CLIENT_MAC: Mac = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
pub(super) const OTHER_MAC: Mac = [0x52, 0x54, 0, 0x99, 0x99, 0x99];
pub(super) const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
pub(super) const VIP_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 200);
pub(super) const CLIENT_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 2);
pub(super) const VIP_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0x200);

pub(super) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
