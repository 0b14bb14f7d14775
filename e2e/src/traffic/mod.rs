//! What runs on the lab's wire: the pods' echo backend, probes (one-shot, looped, held),
//! crafted SCTP on raw sockets, the apiserver forwarder, and looking at ARP/NDP answers.

pub mod echo;
pub mod forward;
pub mod gossip;
pub mod hold;
pub mod probe;
pub mod rawsctp;
pub mod sctp;
pub mod wire;
