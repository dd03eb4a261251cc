//! The classic socket lesson (placeholder until the socket-demo work lands).
#![forbid(unsafe_code)]
