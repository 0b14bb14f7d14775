//! Tests of the rule set builder.

mod compare;
mod fixtures;
mod input_checks;
mod nft;
mod nft_check;
mod properties;
mod rules;
mod scale;
mod snapshots;
