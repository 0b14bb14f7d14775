//! Behaviour tests of the whole election (unit tests of helpers live next to them).

pub(super) mod fixtures;
mod handover;
mod props;
mod rules;
mod sharing;
