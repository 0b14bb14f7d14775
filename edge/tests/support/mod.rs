//! Helpers of the network-namespace test.

pub mod client;
pub mod edge;
pub mod node;
pub mod topology;
