//! Unit tests of the pure decisions (no process is run).

mod detect_tests;
mod plan_tests;
