mod core_tests;
mod sim;
mod unit;
