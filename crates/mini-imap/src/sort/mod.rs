//! The algorithms behind SORT and THREAD (RFC 5256) and SORT=DISPLAY (RFC 5957), kept
//! apart from the protocol: each works on plain values, so it can be tested and
//! measured without a mailbox.
//!
//! - [`cache`] keeps the facts of a mailbox's messages for every session;
//! - [`base_subject`] reduces a subject to what threads share (RFC 5256 §2.1);
//! - [`collate`] turns text into the key that orders it (i;unicode-casemap, RFC 5051);
//! - [`facts`] reads from a message's header what sorting and threading compare;
//! - [`order`] sorts by a list of criteria (RFC 5256 §3);
//! - [`thread`] builds ORDEREDSUBJECT and REFERENCES threads and writes them (§3, §4).

pub mod base_subject;
pub mod cache;
pub mod collate;
pub mod facts;
pub mod order;
pub mod thread;
