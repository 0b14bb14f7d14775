mod core_tests;
mod seal_tests;
mod sim;
mod unit;
