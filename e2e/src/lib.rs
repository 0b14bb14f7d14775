//! The ferrolb lab: a real control plane (etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler built from a pinned release) and network-namespace nodes, pods and clients on
//! a real Layer-2 network, for the scenario tests, the benchmarks and the demo.
#![forbid(unsafe_code)]

pub mod agent;
pub mod arpbench;
pub mod bench;
pub mod controlplane;
pub mod demo;
pub mod deps;
pub mod echo;
pub mod edgebench;
mod error;
pub mod failover;
pub mod forward;
pub mod hold;
pub mod image;
pub mod install;
pub mod k8s;
pub mod lab;
pub mod launch;
pub mod manifests;
pub mod netns;
pub mod pki;
pub mod plan;
pub mod probe;
pub mod process;
pub mod rawsctp;
pub mod rulesbench;
pub mod sctp;
pub mod speakerbench;
pub mod testlab;
pub mod topology;
pub mod wire;

pub use error::Error;
pub use lab::{Lab, Names, wait_for};
