//! Unit tests of the pure decisions (no process is run).

mod decider_tests;
mod detect_tests;
mod inspect_tests;
mod plan_tests;
mod supervisor_tests;
