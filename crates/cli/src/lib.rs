//! yubin as a library: the three servers on one store, and a test helper.
//!
//! Most people use the `yubin` binary. Rust tests can start a whole mail server
//! in-process with `yubin-testing` (re-exported here as [`testing`]).
#![forbid(unsafe_code)]

pub use yubin_testing::servers;
pub mod testing;
