//! Names that clients choose: mailbox names and account names.
//!
//! Every name is checked here before it reaches a backend, so nothing a client names can
//! leave the account's directory: no `..`, no absolute path, no NUL or control character,
//! no empty component. Mailbox names are otherwise opaque strings (IMAP sends modified
//! UTF-7, RFC 3501 §5.1.3; the store does not decode it).

use crate::error::StoreError;

/// The hierarchy delimiter of mailbox names (IMAP `LIST` reports it).
pub const DELIMITER: char = '/';

/// The one mailbox name that is case-insensitive (RFC 3501 §5.1).
pub const INBOX: &str = "INBOX";

/// Longest mailbox name accepted, in bytes. A Maildir++ directory name is about as long
/// as the mailbox name, and file systems commonly cap a name at 255 bytes.
pub const MAX_MAILBOX_NAME: usize = 255;

/// Longest account name accepted, in bytes.
pub const MAX_ACCOUNT_NAME: usize = 64;

fn invalid(name: &str, reason: &'static str) -> StoreError {
    StoreError::InvalidName {
        name: name.to_owned(),
        reason,
    }
}

/// Checks a mailbox name and returns its canonical form: `INBOX` in any case becomes
/// `INBOX`, also as the first component of a hierarchical name (`inbox/x` → `INBOX/x`),
/// as Dovecot does. Everything else is case-sensitive.
pub fn canonical_mailbox(name: &str) -> Result<String, StoreError> {
    if name.is_empty() {
        return Err(invalid(name, "empty name"));
    }
    if name.len() > MAX_MAILBOX_NAME {
        return Err(invalid(name, "longer than 255 bytes"));
    }
    if name.contains('\0') {
        return Err(invalid(name, "contains NUL"));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(name, "contains a control character"));
    }
    if name.starts_with(DELIMITER) {
        return Err(invalid(name, "starts with the hierarchy delimiter"));
    }
    if name.contains("..") {
        return Err(invalid(name, "contains \"..\""));
    }
    let mut parts = Vec::new();
    for (i, part) in name.split(DELIMITER).enumerate() {
        if part.is_empty() {
            return Err(invalid(name, "has an empty component"));
        }
        if part == "." {
            return Err(invalid(name, "has a \".\" component"));
        }
        if i == 0 && part.eq_ignore_ascii_case(INBOX) {
            parts.push(INBOX);
        } else {
            parts.push(part);
        }
    }
    Ok(parts.join("/"))
}

/// The directory in a data directory that holds the server's own state (TLS material,
/// anything that is not an account): a dot-name, which no account name can be
/// ([`check_account`]), so an account can never collide with it.
pub const STATE_DIR: &str = ".yubin";

/// The server-state directory of the data directory `data` ([`STATE_DIR`]).
pub fn state_dir(data: &std::path::Path) -> std::path::PathBuf {
    data.join(STATE_DIR)
}

/// Checks an account name: it becomes a directory name, so it must be one plain
/// component (no `/`, `\`, `..`, NUL, control characters), 1 to 64 bytes.
pub fn check_account(name: &str) -> Result<(), StoreError> {
    if name.is_empty() {
        return Err(invalid(name, "empty name"));
    }
    if name.len() > MAX_ACCOUNT_NAME {
        return Err(invalid(name, "longer than 64 bytes"));
    }
    if name.contains('/') || name.contains('\\') {
        return Err(invalid(name, "contains a path separator"));
    }
    if name.contains("..") || name == "." {
        return Err(invalid(name, "contains \"..\" or is \".\""));
    }
    if name.starts_with('.') {
        // Dot-names are the server's own ([`STATE_DIR`]) and hidden in a listing.
        return Err(invalid(name, "begins with \".\""));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(name, "contains a control character"));
    }
    Ok(())
}

/// Whether `name` is `ancestor` or lies below it in the hierarchy.
pub(crate) fn is_within(name: &str, ancestor: &str) -> bool {
    name == ancestor
        || (name.len() > ancestor.len()
            && name.starts_with(ancestor)
            && name[ancestor.len()..].starts_with(DELIMITER))
}

/// The ancestors of a hierarchical name, outermost first: `a/b/c` → `a`, `a/b`.
pub fn ancestors(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices(DELIMITER).map(|(i, _)| &name[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_names_that_could_escape_or_confuse() {
        let long = "x".repeat(256);
        for bad in [
            "",
            "/abs",
            "a/../b",
            "..",
            "a..b",
            "a//b",
            "a/",
            "a/./b",
            ".",
            "nul\0",
            "tab\tname",
            "new\nline",
            "del\u{7f}",
            long.as_str(),
        ] {
            assert!(
                matches!(canonical_mailbox(bad), Err(StoreError::InvalidName { .. })),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn inbox_is_case_insensitive_and_the_rest_is_not() {
        assert_eq!(canonical_mailbox("inbox").unwrap(), "INBOX");
        assert_eq!(canonical_mailbox("InBoX/Sub").unwrap(), "INBOX/Sub");
        assert_eq!(canonical_mailbox("Sent").unwrap(), "Sent");
        assert_eq!(canonical_mailbox("sent").unwrap(), "sent");
        assert_eq!(
            canonical_mailbox("a.b/c d/&ZeVnLIqe-").unwrap(),
            "a.b/c d/&ZeVnLIqe-"
        );
        assert_eq!(canonical_mailbox(&"x".repeat(255)).unwrap().len(), 255);
    }

    #[test]
    fn account_names_are_one_plain_component() {
        for bad in [
            "",
            "a/b",
            "..",
            ".",
            ".yubin",
            ".hidden",
            "a\\b",
            "a\0",
            &"x".repeat(65),
        ] {
            assert!(check_account(bad).is_err(), "{bad:?}");
        }
        for good in ["alice", "bob@example.com", "x.y"] {
            check_account(good).unwrap();
        }
    }

    #[test]
    fn hierarchy_helpers() {
        assert!(is_within("a/b", "a"));
        assert!(is_within("a", "a"));
        assert!(!is_within("ab", "a"));
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), ["a", "a/b"]);
    }
}
