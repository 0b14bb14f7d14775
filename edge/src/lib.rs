//! ferrolb edge: a cloud-style external L4 load balancer that runs outside the cluster, owns
//! the frontend addresses of `ferrolb.io/mode: edge` Services and forwards TCP and UDP to
//! `nodeIP:nodePort` of the nodes whose health API says they can serve.
//!
//! Pure cores: [`frontends`] (snapshot → desired frontends), [`health`] (probe state
//! machines), [`balance`] (backend choice), [`status`] (the condition),
//! [`addresses::plan`]. I/O shells: [`prober`], [`proxy`], [`addresses`], [`status::writer`],
//! [`server`], tied together by [`engine`] and run by [`daemon`].
#![forbid(unsafe_code)]

pub mod addresses;
pub mod balance;
pub mod daemon;
pub mod engine;
pub mod frontends;
pub mod health;
pub mod metrics;
pub mod prober;
pub mod proxy;
pub mod server;
pub mod status;
pub mod timefmt;
