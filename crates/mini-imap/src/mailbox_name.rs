//! Mailbox names on the wire: modified UTF-7 for IMAP4rev1 clients, UTF-8 for clients
//! that ENABLE UTF8=ACCEPT (RFC 6855 §3) or IMAP4rev2 (RFC 9051 §5.1).
//!
//! The store keeps names as IMAP4rev1 clients send them, in modified UTF-7 (RFC 3501
//! §5.1.3; RFC 9051 Appendix A.1), and does not decode them. So a client that did not
//! enable UTF-8 sees exactly what it always saw, and a UTF-8 client's names are
//! converted at the edge: to modified UTF-7 on the way in ([`NameForm::to_store`]),
//! back on the way out ([`NameForm::to_client`]). Both kinds of client then name the
//! same mailbox the same way (RFC 6855 §3: a server that supports the naming convention
//! "MUST accept UTF8-quoted mailbox names and convert them to the appropriate internal
//! format").
//!
//! A stored name that is not canonical modified UTF-7 (made by a client that sent 8-bit
//! text, or an `&` that starts no valid shift) is shown to UTF-8 clients as it is.

use std::borrow::Cow;

use base64::Engine as _;
use base64::alphabet::Alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::capability::Enabled;
use crate::command::CommandBody;

/// RFC 9051 Appendix A.1: "modified base64, with a further modification from [UTF-7]
/// that "," is used instead of "/"", and no padding.
fn engine() -> GeneralPurpose {
    let alphabet =
        Alphabet::new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,")
            .expect("64 distinct printable characters");
    GeneralPurpose::new(
        &alphabet,
        GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone),
    )
}

/// Encodes a Unicode name in modified UTF-7 (RFC 9051 Appendix A.1): printable US-ASCII
/// but `&` stands for itself, `&` is `&-`, every other run of characters is `&`, the
/// modified base64 of its UTF-16, `-`.
pub fn encode(name: &str) -> String {
    let engine = engine();
    let mut out = String::with_capacity(name.len());
    let mut run: Vec<u16> = Vec::new();
    let flush = |run: &mut Vec<u16>, out: &mut String| {
        if run.is_empty() {
            return;
        }
        let bytes: Vec<u8> = run.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        out.push_str(&engine.encode(bytes));
        out.push('-');
        run.clear();
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut run, &mut out);
            match c {
                '&' => out.push_str("&-"),
                c => out.push(c),
            }
        } else {
            run.extend(c.encode_utf16(&mut [0; 2]).iter());
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Decodes a modified UTF-7 name; `None` unless it is valid and canonical: only US-ASCII,
/// each shift decodes to whole UTF-16 characters, and encoding the result gives the same
/// text back (no superfluous shift, no encoded printable US-ASCII, Appendix A.1), so
/// that decoding and [`encode`] are each other's inverse.
pub fn decode(name: &str) -> Option<String> {
    if !name.is_ascii() {
        return None;
    }
    if !name.contains('&') {
        return Some(name.to_owned());
    }
    let engine = engine();
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let end = after.find('-')?;
        let b64 = &after[..end];
        if b64.is_empty() {
            out.push('&');
        } else {
            let bytes = engine.decode(b64).ok()?;
            if bytes.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                .collect();
            out.push_str(&String::from_utf16(&units).ok()?);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    (encode(&out) == name).then_some(out)
}

/// How a session's client writes mailbox names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameForm {
    /// Modified UTF-7, as stored: names pass unchanged (IMAP4rev1, RFC 3501 §5.1.3).
    ModifiedUtf7,
    /// UTF-8 (RFC 6855 §3 once UTF8=ACCEPT is enabled; RFC 9051 §5.1 once IMAP4rev2 is).
    Utf8,
}

impl NameForm {
    /// The form for what the session has enabled. RFC 9051 Appendix A: a server that
    /// advertises both revisions "MUST NOT generate UTF-8-quoted strings unless the
    /// client has issued "ENABLE IMAP4rev2"" (or UTF8=ACCEPT, RFC 6855 §3).
    pub fn of(enabled: Enabled) -> NameForm {
        if enabled.utf8_accept() || enabled.imap4rev2() {
            NameForm::Utf8
        } else {
            NameForm::ModifiedUtf7
        }
    }

    /// A name as the client sent it, in the store's form; `Err` says why it cannot be a
    /// mailbox name. RFC 6855 §3: names "MUST comply with the Net-Unicode Definition
    /// ([RFC5198], Section 2) with the specific exception that they MUST NOT contain
    /// control characters (U+0000-U+001F and U+0080-U+009F), a delete character
    /// (U+007F), a line separator (U+2028), or a paragraph separator (U+2029)". These
    /// must be caught here: once encoded, the store would not see them.
    pub fn to_store(self, name: &str) -> Result<Cow<'_, str>, &'static str> {
        match self {
            NameForm::ModifiedUtf7 => Ok(Cow::Borrowed(name)),
            NameForm::Utf8 => {
                if name
                    .chars()
                    .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
                {
                    return Err(
                        "Mailbox names may not contain control characters or line or paragraph separators",
                    );
                }
                Ok(match name.is_ascii() && !name.contains('&') {
                    true => Cow::Borrowed(name),
                    false => Cow::Owned(encode(name)),
                })
            }
        }
    }

    /// A stored name as this client reads it.
    pub fn to_client(self, stored: &str) -> Cow<'_, str> {
        match self {
            NameForm::ModifiedUtf7 => Cow::Borrowed(stored),
            NameForm::Utf8 if !stored.contains('&') => Cow::Borrowed(stored),
            NameForm::Utf8 => decode(stored).map_or(Cow::Borrowed(stored), Cow::Owned),
        }
    }

    /// Puts the mailbox names a command carries into the store's form. LIST and LSUB
    /// patterns are left as sent: [`crate::op::list`] matches them against names in
    /// the client's form, since a wildcard may stand for part of an encoded run.
    pub fn command_to_store(self, body: &mut CommandBody) -> Result<(), &'static str> {
        if self == NameForm::ModifiedUtf7 {
            return Ok(());
        }
        use CommandBody as C;
        // Each name, and whether the command creates it.
        let names: Vec<(&mut String, bool)> = match body {
            C::Create(mailbox) | C::CreateSpecialUse { mailbox, .. } => vec![(mailbox, true)],
            C::Select { mailbox, .. }
            | C::Examine { mailbox, .. }
            | C::Delete(mailbox)
            | C::Subscribe(mailbox)
            | C::Unsubscribe(mailbox)
            | C::Status { mailbox, .. }
            | C::Append { mailbox, .. }
            | C::Copy { mailbox, .. }
            | C::Move { mailbox, .. } => vec![(mailbox, false)],
            C::Rename { from, to } => vec![(from, false), (to, true)],
            // RFC 6855 §3: UTF-8 names in every command, NOTIFY's filters included.
            C::Notify(Some(set)) => set
                .groups
                .iter_mut()
                .flat_map(|g| match &mut g.filter {
                    crate::command::MailboxFilter::Subtree(names)
                    | crate::command::MailboxFilter::Mailboxes(names) => names.iter_mut().collect(),
                    _ => Vec::new(),
                })
                .map(|n| (n, false))
                .collect(),
            _ => vec![],
        };
        for (name, creates) in names {
            // RFC 9051 §5.1: "Server implementations MUST prohibit the creation of 8-bit
            // mailbox names that do not comply with Net-Unicode" (whose Section 2 asks
            // for Normalization Form C). yubin refuses rather than normalize: a
            // normalized name would have to be told back with OLDNAME (§6.3.4).
            if creates && !unicode_normalization::is_nfc(name) {
                return Err("Mailbox names must be in Unicode Normalization Form C (RFC 5198)");
            }
            if let Cow::Owned(stored) = self.to_store(name)? {
                *name = stored;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_examples_round_trip() {
        // RFC 9051 Appendix A.1: "a mailbox name that mixes English, Chinese, and
        // Japanese text: ~peter/mail/&U,BTFw-/&ZeVnLIqe-".
        let utf8 = "~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}";
        assert_eq!(encode(utf8), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
        assert_eq!(decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-").unwrap(), utf8);
        // "The correct form is "&Jjo-!"" (U+263A), and "&U,BTF2XlZyyKng-".
        assert_eq!(decode("&Jjo-!").unwrap(), "\u{263a}!");
        assert_eq!(encode("\u{263a}!"), "&Jjo-!");
        assert_eq!(
            encode("\u{53f0}\u{5317}\u{65e5}\u{672c}\u{8a9e}"),
            "&U,BTF2XlZyyKng-"
        );
        assert_eq!(encode("a&b"), "a&-b");
        assert_eq!(decode("a&-b").unwrap(), "a&b");
        // Outside the BMP: a surrogate pair.
        let emoji = "x\u{1f600}";
        assert_eq!(decode(&encode(emoji)).unwrap(), emoji);
    }

    #[test]
    fn invalid_or_non_canonical_forms_do_not_decode() {
        for bad in [
            // "not a valid mailbox name because it does not contain a shift to
            // US-ASCII before the "!"" (RFC 9051 Appendix A.1).
            "&Jjo!",
            // "not permitted because it contains a superfluous shift".
            "&U,BTFw-&ZeVnLIqe-",
            // Printable US-ASCII encoded ("a").
            "&AGE-",
            // Odd octets, bad alphabet, raw 8-bit.
            "&AA-",
            "&Jj/-",
            "caf\u{e9}",
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
            // Such a stored name is shown as it is.
            assert_eq!(NameForm::Utf8.to_client(bad), bad);
        }
    }

    #[test]
    fn utf8_names_with_separators_or_controls_are_refused() {
        for bad in ["a\u{2028}b", "a\u{2029}", "x\u{85}", "\u{7f}"] {
            assert!(NameForm::Utf8.to_store(bad).is_err(), "{bad:?}");
        }
        assert_eq!(NameForm::Utf8.to_store("Caf\u{e9}").unwrap(), "Caf&AOk-");
        assert_eq!(
            NameForm::ModifiedUtf7.to_store("Caf&AOk-").unwrap(),
            "Caf&AOk-"
        );
    }
}
