//! POP3 commands as typed values (RFC 1939 §§4–7, RFC 2449 §5, RFC 5034 §4).

use yubin_core::Secret;

/// One POP3 command line, parsed.
///
/// The parser ([`crate::parse::command`]) turns bytes into this; the client encodes it
/// back with [`Command::encode`]. The session never sees raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `USER name` (RFC 1939 §7).
    User(String),
    /// `PASS string` (RFC 1939 §7); the whole rest of the line, spaces included.
    Pass(Secret),
    /// `APOP name digest` (RFC 1939 §7): digest is MD5(greeting timestamp + password), hex.
    Apop {
        /// The mailbox name.
        user: String,
        /// 32 lowercase hex digits.
        digest: String,
    },
    /// `AUTH [mechanism [initial-response]]` (RFC 5034 §4; bare `AUTH` lists mechanisms,
    /// as many clients expect from the pre-CAPA draft).
    Auth(Option<AuthStart>),
    /// `STAT` (RFC 1939 §5).
    Stat,
    /// `LIST [msg]` (RFC 1939 §5).
    List(Option<u32>),
    /// `RETR msg` (RFC 1939 §5).
    Retr(u32),
    /// `DELE msg` (RFC 1939 §5).
    Dele(u32),
    /// `NOOP` (RFC 1939 §5).
    Noop,
    /// `RSET` (RFC 1939 §5).
    Rset,
    /// `QUIT` (RFC 1939 §§4, 6).
    Quit,
    /// `TOP msg n` (RFC 1939 §7).
    Top {
        /// Message number.
        msg: u32,
        /// Body lines to send after the header.
        lines: u32,
    },
    /// `UIDL [msg]` (RFC 1939 §7).
    Uidl(Option<u32>),
    /// `CAPA` (RFC 2449 §5).
    Capa,
    /// `STLS` (RFC 2595 §4): upgrade this connection to TLS.
    Stls,
}

/// The arguments of `AUTH mechanism [initial-response]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthStart {
    /// The SASL mechanism name, upper-cased.
    pub mechanism: String,
    /// The initial response as sent (base64, or `=` for an empty one, RFC 5034 §4).
    pub initial: Option<Secret>,
}

/// A line the client sends in answer to a `+ ` SASL challenge (RFC 5034 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslResponse {
    /// `*`: the client gives up.
    Cancel,
    /// The base64 text of the response.
    Data(Secret),
}

impl Command {
    /// The command's keyword as sent on the wire.
    pub fn keyword(&self) -> &'static str {
        match self {
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Apop { .. } => "APOP",
            Command::Auth(_) => "AUTH",
            Command::Stat => "STAT",
            Command::List(_) => "LIST",
            Command::Retr(_) => "RETR",
            Command::Dele(_) => "DELE",
            Command::Noop => "NOOP",
            Command::Rset => "RSET",
            Command::Quit => "QUIT",
            Command::Top { .. } => "TOP",
            Command::Uidl(_) => "UIDL",
            Command::Capa => "CAPA",
            Command::Stls => "STLS",
        }
    }

    /// How many leading bytes of the encoded line may be shown in a transcript; the rest
    /// carries a credential. `None` means the whole line is safe to show.
    pub fn visible_prefix(&self) -> Option<usize> {
        match self {
            Command::Pass(_) => Some("PASS ".len()),
            Command::Auth(Some(AuthStart {
                mechanism,
                initial: Some(_),
            })) => Some("AUTH ".len() + mechanism.len() + 1),
            _ => None,
        }
    }

    /// The command line as sent by a client, without CRLF.
    pub fn encode(&self) -> Vec<u8> {
        let kw = self.keyword();
        let line = match self {
            Command::User(name) => format!("{kw} {name}"),
            Command::Pass(pw) => format!("{kw} {}", pw.expose()),
            Command::Apop { user, digest } => format!("{kw} {user} {digest}"),
            Command::Auth(None) => kw.to_owned(),
            Command::Auth(Some(AuthStart { mechanism, initial })) => match initial {
                None => format!("{kw} {mechanism}"),
                Some(ir) => format!("{kw} {mechanism} {}", ir.expose()),
            },
            Command::List(Some(n)) | Command::Uidl(Some(n)) => format!("{kw} {n}"),
            Command::Retr(n) | Command::Dele(n) => format!("{kw} {n}"),
            Command::Top { msg, lines } => format!("{kw} {msg} {lines}"),
            Command::Stat
            | Command::List(None)
            | Command::Uidl(None)
            | Command::Noop
            | Command::Rset
            | Command::Quit
            | Command::Capa
            | Command::Stls => kw.to_owned(),
        };
        line.into_bytes()
    }
}
