//! Kubernetes objects to ferrolb's domain model (`ferrolb-core`), in one place: the one reading
//! of a Service ([`service`]), the one decision whether a Service is ferrolb's
//! ([`classify`]), who wrote its status ([`ownership`], [`ingress`]), pools as address sets
//! ([`pools`]), label selectors ([`selector`]), and the watches the binaries decide from
//! ([`reflect`] into [`store`]s, [`stores`]); the annotations a Service's request is read from ([`requested`]).
#![forbid(unsafe_code)]

pub mod allocations;
pub mod classify;
pub mod ingress;
pub mod node_service;
pub mod ownership;
pub mod pools;
pub mod project;
pub mod proof;
pub mod reflect;
pub mod requested;
pub mod selector;
pub mod service;
pub mod slice;
pub mod store;
pub mod stores;

pub use classify::{Classification, DefaultClass, Mode, classify};
