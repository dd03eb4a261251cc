//! `yubin-secret`: a value that must never be printed: passwords and SASL credentials.
//!
//! A leaf crate with no dependencies, so that the store (which needs [`Secret`] in its
//! API) does not have to build the TLS stack of `yubin-core` just for this one type.
#![forbid(unsafe_code)]

use std::fmt;

/// Wraps a credential so that `Debug` and `Display` never show it, in debug builds too.
///
/// The inner value is reached only through [`Secret::expose`], which makes every place
/// that looks at a password easy to find.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The wrapped value. Call it only where the value is compared or stored.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::from("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }
}
