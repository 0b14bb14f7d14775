//! ferrolb's test kit: network namespaces for tests and the lab.
//!
//! - [`Netns`]: a uniquely named namespace (`flbt-<pid>-<n>-<tag>`), removed on drop (also when
//!   the test fails); namespaces of killed test processes are removed the next time one is made;
//! - functions on namespace names ([`create`], [`delete`], [`veth`], [`addr`], [`route`],
//!   [`ip`], [`exec`]) for namespaces that outlive a process (the lab's);
//! - [`thread_in`] and [`task_in`]: a thread (with a tokio runtime) that entered a namespace,
//!   so every socket it opens belongs there;
//! - [`needs`] / [`require`]: what a root test needs (root, tools), failing with what is
//!   missing.
//!
//! Every device is created inside a namespace (veth peers directly in their target namespace):
//! nothing here touches the host's interfaces, routes or firewall.
#![forbid(unsafe_code)]

mod cmd;
mod error;
mod netns;
mod require;
mod thread;

pub use cmd::run;
pub use error::Error;
pub use netns::{
    Netns, PREFIX, Sysctls, VethEnd, addr, bridge, bridge_port, create, delete, exec, exists,
    has_link, ip, list, route, veth, veth_between,
};
pub use require::{needs, require, requirements};
pub use thread::{enter, join, task_in, thread_in};
