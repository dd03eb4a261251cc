//! yubin as a library: the three servers on one store, and a test helper.
//!
//! Most people use the `yubin` binary. Rust tests can start a whole mail server
//! in-process with [`testing::MailServer`].
#![forbid(unsafe_code)]

pub mod servers;
pub mod testing;
