//! Tests of the rule set builder.

mod compare;
pub(crate) mod fixtures;
mod input_checks;
mod nft;
mod nft_check;
mod properties;
mod rules;
mod scale;
mod snapshots;
