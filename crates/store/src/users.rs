//! The users file: TOML with one table of `name = "password"` pairs.
//!
//! ```toml
//! [users]
//! alice = "secret"
//! bob = "hunter2"
//! ```
//!
//! Errors name the file and a line number, never the offending text: that text could be a
//! password.

use std::path::Path;

use crate::error::IoContext;
use crate::{Result, Secret, StoreError};

/// Reads a users file into `(name, password)` pairs, in file order.
pub(crate) fn read(path: &Path) -> Result<Vec<(String, Secret)>> {
    let text = std::fs::read_to_string(path).ctx(|| format!("reading {}", path.display()))?;
    // Not `Corrupt` ("corrupt store state"): the store is fine, the file given is not.
    parse(&text).map_err(|why| StoreError::Config(format!("users file {}: {why}", path.display())))
}

/// Parses the users file's text; the error says where, not what.
pub(crate) fn parse(text: &str) -> std::result::Result<Vec<(String, Secret)>, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| match e.span() {
        Some(span) => format!("invalid TOML at line {}", line_of(text, span.start)),
        None => "invalid TOML".to_owned(),
    })?;
    let Some(users) = table.get("users") else {
        return Err("no [users] table".to_owned());
    };
    let Some(users) = users.as_table() else {
        return Err("`users` is not a table".to_owned());
    };
    users
        .iter()
        .map(|(name, value)| match value.as_str() {
            Some(password) => Ok((name.clone(), Secret::new(password))),
            None => Err(format!("the password of user {name:?} is not a string")),
        })
        .collect()
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_users_table() {
        let users = parse("[users]\nalice = \"secret\"\n\"bob@x\" = \"pw\"\n").unwrap();
        let names: Vec<&str> = users.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["alice", "bob@x"]);
        assert_eq!(users[0].1.expose(), "secret");
    }

    #[test]
    fn errors_never_quote_the_file() {
        for bad in [
            "[users]\nalice = \"hunter2",
            "[users]\nalice = hunter2\n",
            "[users]\nalice = 42\n",
            "alice = \"hunter2\"\n",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(!err.contains("hunter2"), "{err}");
        }
        assert_eq!(
            parse("[users]\n\nalice = hunter2\n").unwrap_err(),
            "invalid TOML at line 3"
        );
    }
}
