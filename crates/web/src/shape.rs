//! The JSON shapes of the API, with Mailpit's field names (API v1) and yubin's
//! additions (`Account`, `Mailbox`).

use serde::Serialize;

/// An address (Mailpit's `mail.Address`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Address {
    /// The display name, `""` if none.
    pub name: String,
    /// The address itself.
    pub address: String,
}

/// The parts of a summary that come from the message's bytes (not its flags), kept in
/// a cache: they never change while the message exists.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Content {
    /// `Message-ID` without angle brackets.
    #[serde(rename = "MessageID")]
    pub message_id: String,
    /// The first From address.
    pub from: Option<Address>,
    /// To.
    pub to: Vec<Address>,
    /// Cc.
    pub cc: Vec<Address>,
    /// Bcc (present only in messages the sender kept, e.g. Sent).
    pub bcc: Vec<Address>,
    /// Reply-To.
    pub reply_to: Vec<Address>,
    /// The decoded subject.
    pub subject: String,
    /// How many attachments, not counting inline parts (as Mailpit counts).
    pub attachments: usize,
    /// Up to 250 characters of the text, whitespace collapsed.
    pub snippet: String,
}

/// One message in a listing (Mailpit's `MessageSummary`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Summary {
    /// The message's ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// `\Seen`.
    pub read: bool,
    /// The decoded parts.
    #[serde(flatten)]
    pub content: Content,
    /// The internal date, RFC 3339.
    pub created: String,
    /// The SMTP login the message came with; yubin does not record it.
    pub username: String,
    /// The message's keywords as tags.
    pub tags: Vec<String>,
    /// Size in octets.
    pub size: u64,
    /// yubin: the account that holds it.
    pub account: String,
    /// yubin: the mailbox that holds it.
    pub mailbox: String,
}

/// A listing or search page (Mailpit's `MessagesSummary`).
#[derive(Debug, Clone, Serialize)]
pub struct MessagesSummary {
    /// Messages in scope.
    pub total: u64,
    /// Unread messages in scope.
    pub unread: u64,
    /// Messages on this page (legacy Mailpit field).
    pub count: u64,
    /// Messages matched (the scope for a listing, the hits for a search).
    pub messages_count: u64,
    /// Unread messages matched.
    pub messages_unread: u64,
    /// The offset of this page.
    pub start: usize,
    /// Every tag in scope.
    pub tags: Vec<String>,
    /// The page.
    pub messages: Vec<Summary>,
}

/// A part's checksums.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub struct Checksums {
    /// Hex MD5.
    pub md5: String,
    /// Hex SHA-1.
    pub sha1: String,
    /// Hex SHA-256.
    pub sha256: String,
}

/// An attachment or inline part (Mailpit's `Attachment`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Attachment {
    /// The IMAP section number of the part ("2", "1.2").
    #[serde(rename = "PartID")]
    pub part_id: String,
    /// Its file name, `""` if none.
    pub file_name: String,
    /// Its media type, lower case.
    pub content_type: String,
    /// Its Content-ID without angle brackets, `""` if none.
    #[serde(rename = "ContentID")]
    pub content_id: String,
    /// Decoded size in octets.
    pub size: u64,
    /// Checksums of the decoded bytes.
    pub checksums: Checksums,
}

/// The `List-Unsubscribe` summary.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ListUnsubscribe {
    /// The header as it is.
    pub header: String,
    /// At most one mailto: and one http(s): link.
    pub links: Vec<String>,
    /// What is wrong with the header, `""` if nothing.
    pub errors: String,
    /// `List-Unsubscribe-Post`.
    pub header_post: String,
}

/// One message, decoded (Mailpit's `Message`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Message {
    /// The message's ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// `Message-ID` without angle brackets.
    #[serde(rename = "MessageID")]
    pub message_id: String,
    /// `\Seen` (yubin).
    pub read: bool,
    /// The first From address.
    pub from: Option<Address>,
    /// To.
    pub to: Vec<Address>,
    /// Cc.
    pub cc: Vec<Address>,
    /// Bcc.
    pub bcc: Vec<Address>,
    /// Reply-To.
    pub reply_to: Vec<Address>,
    /// `Return-Path` without angle brackets.
    pub return_path: String,
    /// The decoded subject.
    pub subject: String,
    /// List-Unsubscribe.
    pub list_unsubscribe: ListUnsubscribe,
    /// The Date header (or the internal date), RFC 3339.
    pub date: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Always `""`: yubin does not record SMTP logins per message.
    pub username: String,
    /// The decoded text body.
    pub text: String,
    /// The decoded HTML body.
    #[serde(rename = "HTML")]
    pub html: String,
    /// Size in octets.
    pub size: u64,
    /// Parts shown inside the HTML.
    pub inline: Vec<Attachment>,
    /// Other attachments.
    pub attachments: Vec<Attachment>,
    /// yubin: the account.
    pub account: String,
    /// yubin: the mailbox.
    pub mailbox: String,
}
