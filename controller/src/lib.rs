//! ferrolb controller: IP allocation from IPPools and externalIPs policy.
#![forbid(unsafe_code)]

pub mod externalips;
pub mod ipam;
