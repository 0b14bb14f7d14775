//! ferrolb's domain vocabulary, defined once and free of Kubernetes client types: what a
//! Service is called ([`ServiceKey`]), its protocols and policies, address families, VIPPool
//! address entries ([`AddrRange`]), `loadBalancerSourceRanges` ([`SourceRanges`]) and the
//! names (conditions, field managers) every component shares.
//!
//! The Kubernetes objects are converted into these types in one place, `ferrolb-adapter`.
#![forbid(unsafe_code)]

pub mod addresses;
pub mod names;
pub mod service;
pub mod sourceranges;

pub use addresses::{AddrRange, AddressError, ip_to_value, max_value, parse_address, value_to_ip};
pub use service::{FamilyPolicy, IpFamily, Protocol, ServiceKey, TargetPort, TrafficPolicy};
pub use sourceranges::{ParsedSourceRanges, SourceRanges};
