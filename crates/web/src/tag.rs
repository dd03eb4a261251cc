//! Tags are IMAP keywords (RFC 3501 §2.3.2), written so that any tag fits in an atom.
//!
//! An IMAP keyword is an atom: ASCII without space, `( ) { % * " \ ]` or controls
//! (RFC 3501 §9, `atom-specials`). A tag may hold any of these (Mailpit allows spaces),
//! so each such byte of the tag's UTF-8, and `+` itself, is written `+HH` (upper-case
//! hex). A keyword is shown as a tag decoded only if it is exactly the encoding of its
//! decoding, so a keyword an IMAP client chose (`C++`) is shown as it is.

use yubin_store::Flag;

/// The longest tag accepted, in bytes once encoded: IMAP servers commonly cap keywords
/// near this, and a tag is a short label.
pub const MAX_KEYWORD: usize = 200;

/// Whether a byte may stand for itself in a keyword.
fn plain(b: u8) -> bool {
    b.is_ascii_graphic()
        && !matches!(
            b,
            b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']' | b'+'
        )
}

/// The keyword that stores a tag; `None` for a tag that is empty (after trimming) or too
/// long. A leading `\` is escaped too, so a tag can never become a system flag.
pub fn keyword(tag: &str) -> Option<String> {
    let tag = tag.trim();
    if tag.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(tag.len());
    for &b in tag.as_bytes() {
        if plain(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    (out.len() <= MAX_KEYWORD).then_some(out)
}

/// The tag a keyword shows as.
pub fn tag(keyword: &str) -> String {
    let bytes = keyword.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'+'
            && let Some(hex) = keyword.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(decoded) if self::keyword(&decoded).as_deref() == Some(keyword) => decoded,
        _ => keyword.to_owned(),
    }
}

/// The tags among a message's flags, sorted.
pub fn tags_of<'a>(flags: impl IntoIterator<Item = &'a Flag>) -> Vec<String> {
    let mut tags: Vec<String> = flags
        .into_iter()
        .filter_map(|f| match f {
            Flag::Keyword(k) => Some(tag(k)),
            _ => None,
        })
        .collect();
    tags.sort();
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for t in [
            "Important",
            "to do",
            "日本",
            "a+b",
            "(x)",
            "$Forwarded",
            "\\Seen",
        ] {
            let k = keyword(t).unwrap();
            assert!(k.bytes().all(plain_or_plus), "{k}");
            assert_eq!(tag(&k), t);
        }
        assert_eq!(keyword("to do").unwrap(), "to+20do");
    }

    fn plain_or_plus(b: u8) -> bool {
        plain(b) || b == b'+'
    }

    #[test]
    fn foreign_keywords_show_as_they_are() {
        assert_eq!(tag("C++"), "C++");
        assert_eq!(tag("C++20"), "C++20");
        assert_eq!(tag("+2"), "+2");
        assert_eq!(tag("+41"), "+41");
    }

    proptest::proptest! {
        /// Any tag becomes an atom (RFC 3501 §9) and comes back as it was, trimmed.
        #[test]
        fn any_tag_is_an_atom_and_round_trips(t in "\\PC{0,40}") {
            if let Some(k) = keyword(&t) {
                proptest::prop_assert!(k.bytes().all(plain_or_plus), "{}", k);
                proptest::prop_assert_eq!(tag(&k), t.trim());
            } else {
                proptest::prop_assert!(t.trim().is_empty() || t.trim().len() * 3 > MAX_KEYWORD);
            }
        }

        /// Any keyword shows as some tag, and never panics on odd `+` runs.
        #[test]
        fn any_keyword_shows(k in "[!-~]{0,40}") {
            let shown = tag(&k);
            proptest::prop_assert!(!shown.is_empty() || k.is_empty());
        }
    }

    #[test]
    fn empty_and_long_tags_are_refused() {
        assert_eq!(keyword("  "), None);
        assert_eq!(keyword(&"x".repeat(MAX_KEYWORD + 1)), None);
    }
}
