//! Message IDs: opaque to clients, stable across restarts, naming one message.
//!
//! An ID is URL-safe base64 (no padding) of `1 NUL account NUL mailbox NUL UIDVALIDITY
//! NUL UID`. RFC 3501 §2.3.1.1: a UID names a message for as long as the mailbox keeps
//! its UIDVALIDITY, so the pair is a stable name; the account and mailbox are looked up
//! by name through the store, never used as a path.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The version tag at the start of every ID, so that the format can change later.
const VERSION: &str = "1";

/// The longest ID accepted, in characters: account and mailbox names are short, and a
/// longer one is not worth decoding.
const MAX_ID: usize = 2048;

/// One message, as an ID names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageId {
    /// The account's name.
    pub account: String,
    /// The mailbox's name.
    pub mailbox: String,
    /// The mailbox's UIDVALIDITY when the ID was made.
    pub uid_validity: u32,
    /// The message's UID.
    pub uid: u32,
}

impl MessageId {
    /// The ID's text form.
    pub fn encode(&self) -> String {
        let plain = format!(
            "{VERSION}\0{}\0{}\0{}\0{}",
            self.account, self.mailbox, self.uid_validity, self.uid
        );
        URL_SAFE_NO_PAD.encode(plain)
    }

    /// Parses an ID; `None` if it is not one this server makes.
    pub fn decode(text: &str) -> Option<MessageId> {
        if text.len() > MAX_ID {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let plain = String::from_utf8(bytes).ok()?;
        let mut fields = plain.split('\0');
        if fields.next()? != VERSION {
            return None;
        }
        let account = fields.next()?.to_owned();
        let mailbox = fields.next()?.to_owned();
        let uid_validity = fields.next()?.parse().ok()?;
        let uid = fields.next()?.parse().ok()?;
        if fields.next().is_some() || account.is_empty() || mailbox.is_empty() {
            return None;
        }
        Some(MessageId {
            account,
            mailbox,
            uid_validity,
            uid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_is_url_safe() {
        let id = MessageId {
            account: "alice".into(),
            mailbox: "Archive/2024 日本".into(),
            uid_validity: 1_700_000_000,
            uid: 42,
        };
        let text = id.encode();
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(MessageId::decode(&text), Some(id));
    }

    proptest::proptest! {
        /// Any text decodes to an ID or to nothing, without panicking.
        #[test]
        fn any_text_decodes_or_not(t in "\\PC{0,80}") {
            if let Some(id) = MessageId::decode(&t) {
                proptest::prop_assert_eq!(MessageId::decode(&id.encode()), Some(id));
            }
        }
    }

    #[test]
    fn rejects_what_it_did_not_make() {
        for bad in [
            "",
            "latest",
            "!!",
            &URL_SAFE_NO_PAD.encode("2\0a\0INBOX\x001\x001"),
        ] {
            assert_eq!(MessageId::decode(bad), None, "{bad:?}");
        }
        assert_eq!(
            MessageId::decode(&URL_SAFE_NO_PAD.encode("1\0a\0INBOX\x001\x001\0x")),
            None
        );
    }
}
