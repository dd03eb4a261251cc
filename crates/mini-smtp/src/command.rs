//! SMTP commands as typed values (RFC 5321 §4.1, RFC 4954 §4, RFC 1870, RFC 6152, RFC 6531).

use yubin_core::Secret;

/// One SMTP command line, parsed by [`crate::parse::command`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `EHLO domain` (RFC 5321 §4.1.1.1): extended SMTP.
    Ehlo(String),
    /// `HELO domain`: plain SMTP.
    Helo(String),
    /// `MAIL FROM:<reverse-path> [params]` (§4.1.1.2); `None` is the null path `<>`.
    Mail {
        /// The sender, or `None` for `<>` (bounces).
        from: Option<String>,
        /// ESMTP parameters.
        params: MailParams,
    },
    /// `RCPT TO:<forward-path>` (§4.1.1.3).
    Rcpt {
        /// The recipient address (or `Postmaster`).
        to: String,
    },
    /// `DATA` (§4.1.1.4).
    Data,
    /// `RSET` (§4.1.1.5).
    Rset,
    /// `VRFY string` (§4.1.1.6).
    Vrfy(String),
    /// `HELP [string]` (§4.1.1.8).
    Help,
    /// `NOOP [string]` (§4.1.1.9).
    Noop,
    /// `QUIT` (§4.1.1.10).
    Quit,
    /// `STARTTLS` (RFC 3207 §4): upgrade this connection to TLS.
    StartTls,
    /// `AUTH mechanism [initial-response]` (RFC 4954 §4).
    Auth {
        /// Upper-cased mechanism name.
        mechanism: String,
        /// Base64 initial response, or `=` for an empty one.
        initial: Option<Secret>,
    },
}

/// The parameters of MAIL FROM this server understands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailParams {
    /// `SIZE=n`: the client's estimate of the message size (RFC 1870 §6).
    pub size: Option<u64>,
    /// `BODY=7BIT|8BITMIME` (RFC 6152 §2).
    pub body: Option<Body>,
    /// `SMTPUTF8` (RFC 6531 §3.4).
    pub smtputf8: bool,
}

/// The `BODY=` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// `BODY=7BIT`.
    SevenBit,
    /// `BODY=8BITMIME`.
    EightBitMime,
}

impl Command {
    /// How many leading bytes of the line may be shown in a transcript (AUTH carries a
    /// credential in its initial response). `None`: the whole line.
    pub fn visible_prefix(&self) -> Option<usize> {
        match self {
            Command::Auth {
                mechanism,
                initial: Some(_),
            } => Some("AUTH ".len() + mechanism.len() + 1),
            _ => None,
        }
    }

    /// The command line as a client sends it, without CRLF.
    pub fn encode(&self) -> Vec<u8> {
        let line = match self {
            Command::Ehlo(d) => format!("EHLO {d}"),
            Command::Helo(d) => format!("HELO {d}"),
            Command::Mail { from, params } => {
                let mut s = format!("MAIL FROM:<{}>", from.as_deref().unwrap_or(""));
                if let Some(n) = params.size {
                    s.push_str(&format!(" SIZE={n}"));
                }
                match params.body {
                    Some(Body::SevenBit) => s.push_str(" BODY=7BIT"),
                    Some(Body::EightBitMime) => s.push_str(" BODY=8BITMIME"),
                    None => {}
                }
                if params.smtputf8 {
                    s.push_str(" SMTPUTF8");
                }
                s
            }
            Command::Rcpt { to } => format!("RCPT TO:<{to}>"),
            Command::Data => "DATA".into(),
            Command::Rset => "RSET".into(),
            Command::Vrfy(s) => format!("VRFY {s}"),
            Command::Help => "HELP".into(),
            Command::Noop => "NOOP".into(),
            Command::Quit => "QUIT".into(),
            Command::StartTls => "STARTTLS".into(),
            Command::Auth { mechanism, initial } => match initial {
                None => format!("AUTH {mechanism}"),
                Some(ir) => format!("AUTH {mechanism} {}", ir.expose()),
            },
        };
        line.into_bytes()
    }
}
