//! Message flags (RFC 3501 §2.3.2): the five system flags a store keeps, plus keywords.
//!
//! `\Recent` is not a [`Flag`]: it is a property of a session, not of a message, and the
//! store exposes it through [`crate::Mailbox::claim_recent`] instead.

use std::collections::BTreeSet;
use std::fmt;

/// One message flag.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flag {
    /// `\Seen`: the message has been read.
    Seen,
    /// `\Answered`: the message has been answered.
    Answered,
    /// `\Flagged`: marked for urgent or special attention.
    Flagged,
    /// `\Deleted`: marked for removal by a later EXPUNGE.
    Deleted,
    /// `\Draft`: not complete (a draft).
    Draft,
    /// A keyword (an atom without a backslash), e.g. `$Forwarded` or `Junk`.
    Keyword(String),
}

/// A set of flags, ordered so that printing it is deterministic.
pub type Flags = BTreeSet<Flag>;

/// How [`crate::Mailbox::set_flags`] combines the given flags with a message's own
/// (IMAP `FLAGS`, `+FLAGS`, `-FLAGS`, RFC 3501 §6.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    /// The message's flags become exactly the given ones.
    Replace,
    /// The given flags are added.
    Add,
    /// The given flags are removed.
    Remove,
}

impl FlagOp {
    /// The flags a message has after this operation.
    pub fn apply(self, current: &Flags, given: &Flags) -> Flags {
        match self {
            FlagOp::Replace => given.clone(),
            FlagOp::Add => current.union(given).cloned().collect(),
            FlagOp::Remove => current.difference(given).cloned().collect(),
        }
    }
}

impl Flag {
    /// Parses an IMAP flag: system flags case-insensitively (`\seen` is `\Seen`), anything
    /// else as a keyword. Returns `None` for `\Recent` and unknown backslash flags, which a
    /// client cannot set (RFC 3501 §2.3.2).
    pub fn from_imap(s: &str) -> Option<Flag> {
        if let Some(system) = s.strip_prefix('\\') {
            return match system.to_ascii_lowercase().as_str() {
                "seen" => Some(Flag::Seen),
                "answered" => Some(Flag::Answered),
                "flagged" => Some(Flag::Flagged),
                "deleted" => Some(Flag::Deleted),
                "draft" => Some(Flag::Draft),
                _ => None,
            };
        }
        if s.is_empty() {
            return None;
        }
        Some(Flag::Keyword(s.to_owned()))
    }
}

impl fmt::Display for Flag {
    /// The IMAP form: `\Seen`, `$Forwarded`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Flag::Seen => f.write_str("\\Seen"),
            Flag::Answered => f.write_str("\\Answered"),
            Flag::Flagged => f.write_str("\\Flagged"),
            Flag::Deleted => f.write_str("\\Deleted"),
            Flag::Draft => f.write_str("\\Draft"),
            Flag::Keyword(k) => f.write_str(k),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(flags: &[Flag]) -> Flags {
        flags.iter().cloned().collect()
    }

    #[test]
    fn ops_combine_as_imap_store_does() {
        let cur = set(&[Flag::Seen, Flag::Keyword("a".into())]);
        let given = set(&[Flag::Seen, Flag::Flagged]);
        assert_eq!(FlagOp::Replace.apply(&cur, &given), given);
        assert_eq!(
            FlagOp::Add.apply(&cur, &given),
            set(&[Flag::Seen, Flag::Flagged, Flag::Keyword("a".into())])
        );
        assert_eq!(
            FlagOp::Remove.apply(&cur, &given),
            set(&[Flag::Keyword("a".into())])
        );
    }

    #[test]
    fn imap_names_round_trip() {
        for f in [
            Flag::Seen,
            Flag::Answered,
            Flag::Flagged,
            Flag::Deleted,
            Flag::Draft,
            Flag::Keyword("$Forwarded".into()),
        ] {
            assert_eq!(Flag::from_imap(&f.to_string()), Some(f));
        }
        assert_eq!(Flag::from_imap("\\SEEN"), Some(Flag::Seen));
        assert_eq!(Flag::from_imap("\\Recent"), None);
    }
}
