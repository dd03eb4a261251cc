//! A mail server for your own tests: the `yubin-testing` crate, re-exported. Depend on
//! `yubin-testing` directly; it does not pull in the CLI.

pub use yubin_testing::*;
