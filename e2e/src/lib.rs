//! The ferrolb lab: a real control plane (etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler built from a pinned release) and network-namespace nodes, pods and clients on
//! a real Layer-2 network, for the scenario tests, the benchmarks and the demo.
//!
//! - [`lab`]: the lab itself — control plane, topology, node agent, ferrolb's components;
//! - [`traffic`]: what runs on the lab's wire — echo backends, probes, SCTP, held flows;
//! - [`mod@bench`]: the benchmarks (`cargo xtask bench ...`);
//! - [`demo`]: `cargo xtask demo`;
//! - [`testlab`]: the lab the scenario tests share; [`k8s`]: their API helpers.
#![forbid(unsafe_code)]

pub mod bench;
pub mod conformance;
pub mod demo;
pub mod docs;
mod error;
pub mod image;
pub mod k8s;
pub mod krew;
pub mod kustomize;
pub mod lab;
pub mod manifests;
pub mod release;
pub mod testlab;
pub mod traffic;

pub use error::Error;
pub use lab::{Component, Lab, Names, Node, wait_for};
