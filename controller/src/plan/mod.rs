//! What the controller's fields should say, planned from the inputs. Pure.
//!
//! - allocation: [`crate::ipam`] plans the addresses; [`service_fields`] turns each Service's
//!   outcome into its status, condition and annotation;
//! - [`external_ips`]: the externalIPs condition, from the [`crate::externalips`] review;
//! - [`pool_status`]: each VIPPool's status from the plan's usage figures;
//! - [`release`]: the load-balancer cleanup finalizer, deleted Services and the addresses
//!   they hold until released.

pub mod external_ips;
pub mod pool_status;
pub mod release;
pub mod service_fields;
