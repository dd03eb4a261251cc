//! The SMTP command grammar (RFC 5321 §4.1), in nom, from bytes to [`Command`].

use nom::branch::alt;
use nom::bytes::complete::{tag, tag_no_case, take_while, take_while_m_n, take_while1};
use nom::character::complete::char;
use nom::combinator::{all_consuming, eof, map, opt, recognize, rest};
use nom::multi::{many0, separated_list1};
use nom::sequence::{delimited, preceded};
use nom::{IResult, Parser};
use yubin_core::Secret;

use crate::command::{Body, Command, MailParams};

/// Longest command line, CRLF included (RFC 5321 §4.5.3.1.4).
pub const MAX_COMMAND_LINE: usize = 512;

/// Why a line is not a valid command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// An empty line.
    #[error("empty command")]
    Empty,
    /// Over [`MAX_COMMAND_LINE`].
    #[error("command line too long")]
    TooLong,
    /// NUL or another control byte.
    #[error("command contains a control character")]
    Control,
    /// Not UTF-8.
    #[error("command is not valid UTF-8")]
    NotUtf8,
    /// Not an SMTP command this server knows.
    #[error("command not recognized")]
    Unknown,
    /// A command this server knows but does not implement (EXPN, TURN, BDAT, ...).
    #[error("command not implemented")]
    NotImplemented,
    /// A known command with malformed arguments; the text is the usage.
    #[error("syntax: {0}")]
    Syntax(&'static str),
    /// An ESMTP parameter this server does not offer.
    #[error("parameter {0} not supported")]
    UnsupportedParameter(String),
}

impl ParseError {
    /// The reply code and enhanced status code (RFC 5321 §4.2.3, RFC 3463) for this error.
    pub fn codes(&self) -> (u16, &'static str) {
        match self {
            ParseError::Empty | ParseError::Unknown => (500, "5.5.2"),
            ParseError::TooLong => (500, "5.5.6"),
            ParseError::Control | ParseError::NotUtf8 => (500, "5.5.2"),
            ParseError::NotImplemented => (502, "5.5.1"),
            ParseError::Syntax(_) => (501, "5.5.4"),
            ParseError::UnsupportedParameter(_) => (555, "5.5.4"),
        }
    }
}

type Res<'a, T> = IResult<&'a str, T>;

/// Parses one framed command line.
pub fn command(line: &[u8]) -> Result<Command, ParseError> {
    if line.is_empty() {
        return Err(ParseError::Empty);
    }
    if line.len() + 2 > MAX_COMMAND_LINE {
        return Err(ParseError::TooLong);
    }
    if line.iter().any(|&b| b < 0x20 && b != b'\t' || b == 0x7f) {
        return Err(ParseError::Control);
    }
    let text = std::str::from_utf8(line).map_err(|_| ParseError::NotUtf8)?;
    let (args, kw) = keyword(text).map_err(|_| ParseError::Unknown)?;
    match kw.to_ascii_uppercase().as_str() {
        "EHLO" => run(
            args,
            "EHLO domain",
            map(preceded(sp, domain_arg), |d| Command::Ehlo(d.into())),
        ),
        "HELO" => run(
            args,
            "HELO domain",
            map(preceded(sp, domain_arg), |d| Command::Helo(d.into())),
        ),
        "MAIL" => mail(args),
        "RCPT" => run(args, "RCPT TO:<address>", rcpt),
        "DATA" => run(args, "DATA", map(eof, |_| Command::Data)),
        "RSET" => run(args, "RSET", map(eof, |_| Command::Rset)),
        "QUIT" => run(args, "QUIT", map(eof, |_| Command::Quit)),
        "VRFY" => run(
            args,
            "VRFY string",
            map(preceded(sp, non_empty_rest), |s| Command::Vrfy(s.into())),
        ),
        // RFC 5321 §4.1.1.8, §4.1.1.9: an argument is allowed and ignored.
        "HELP" => Ok(Command::Help),
        "NOOP" => Ok(Command::Noop),
        "AUTH" => run(args, "AUTH mechanism [initial-response]", auth),
        "STARTTLS" => run(args, "STARTTLS", map(eof, |_| Command::StartTls)),
        "EXPN" | "TURN" | "BDAT" | "ETRN" | "ATRN" | "SEND" | "SOML" | "SAML" => {
            Err(ParseError::NotImplemented)
        }
        _ => Err(ParseError::Unknown),
    }
}

fn run<'a>(
    args: &'a str,
    usage: &'static str,
    parser: impl Parser<&'a str, Output = Command, Error = nom::error::Error<&'a str>>,
) -> Result<Command, ParseError> {
    all_consuming(parser)
        .parse(args)
        .map(|(_, c)| c)
        .map_err(|_| ParseError::Syntax(usage))
}

/// `keyword = 4ALPHA`, then a space or the end (STARTTLS, RFC 3207, is the one longer).
fn keyword(input: &str) -> Res<'_, &str> {
    let (rest, kw) = take_while_m_n(4, 8, |c: char| c.is_ascii_alphabetic())(input)?;
    if rest.is_empty() || rest.starts_with(' ') {
        Ok((rest, kw))
    } else {
        Err(nom::Err::Error(nom::error::Error::new(
            input,
            nom::error::ErrorKind::Tag,
        )))
    }
}

fn sp(input: &str) -> Res<'_, char> {
    char(' ')(input)
}

fn non_empty_rest(input: &str) -> Res<'_, &str> {
    nom::combinator::verify(rest, |s: &str| !s.trim().is_empty()).parse(input)
}

/// The EHLO/HELO argument. RFC 5321 asks for a domain or address literal; real clients
/// send host names with underscores or bare words, and the argument is only used in the
/// Received header, so any run of printable characters is accepted.
fn domain_arg(input: &str) -> Res<'_, &str> {
    let (input, d) = take_while1(|c: char| c != ' ')(input)?;
    let (input, _) = take_while(|c| c == ' ')(input)?;
    Ok((input, d))
}

/// `Mail = "MAIL FROM:" Reverse-path [SP Mail-parameters]` (RFC 5321 §4.1.1.2).
fn mail(args: &str) -> Result<Command, ParseError> {
    const USAGE: &str = "MAIL FROM:<address> [SIZE=n] [BODY=7BIT|8BITMIME] [SMTPUTF8]";
    let parsed = (
        preceded((sp, tag_no_case("FROM:"), opt(sp)), reverse_path),
        many0(preceded(sp, esmtp_param)),
        take_while(|c| c == ' '),
    )
        .parse(args);
    let (from, params) = match parsed {
        Ok(("", (from, params, _))) => (from, params),
        _ => return Err(ParseError::Syntax(USAGE)),
    };
    let mut out = MailParams::default();
    for (key, value) in params {
        match (key.to_ascii_uppercase().as_str(), value) {
            ("SIZE", Some(v)) => {
                out.size = Some(v.parse().map_err(|_| ParseError::Syntax(USAGE))?);
            }
            ("BODY", Some(v)) if v.eq_ignore_ascii_case("7BIT") => out.body = Some(Body::SevenBit),
            ("BODY", Some(v)) if v.eq_ignore_ascii_case("8BITMIME") => {
                out.body = Some(Body::EightBitMime)
            }
            ("SMTPUTF8", None) => out.smtputf8 = true,
            (k, _) => return Err(ParseError::UnsupportedParameter(k.to_owned())),
        }
    }
    Ok(Command::Mail {
        from: from.map(str::to_owned),
        params: out,
    })
}

/// `Rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path )`
/// (RFC 5321 §4.1.1.3). RCPT parameters (DSN's NOTIFY, ORCPT) are not offered.
fn rcpt(input: &str) -> Res<'_, Command> {
    let postmaster = delimited(char('<'), tag_no_case("postmaster"), char('>'));
    map(
        (
            preceded((sp, tag_no_case("TO:"), opt(sp)), alt((path, postmaster))),
            take_while(|c| c == ' '),
        ),
        |(to, _)| Command::Rcpt { to: to.to_owned() },
    )
    .parse(input)
}

/// `Reverse-path = Path / "<>"`; `None` for the null path.
///
/// Many clients write `MAIL FROM: <a@b>` with a space after the colon, which RFC 5321
/// does not allow; it is unambiguous, so the optional space is accepted (as Postfix does).
fn reverse_path(input: &str) -> Res<'_, Option<&str>> {
    alt((map(tag("<>"), |_| None), map(path, Some))).parse(input)
}

/// `Path = "<" [ A-d-l ":" ] Mailbox ">"`; a source route is accepted and ignored
/// (RFC 5321 §4.1.1.3, §C).
fn path(input: &str) -> Res<'_, &str> {
    let adl = (
        separated_list1(char(','), preceded(char('@'), domain)),
        char(':'),
    );
    delimited(char('<'), preceded(opt(adl), mailbox), char('>')).parse(input)
}

/// `Mailbox = Local-part "@" ( Domain / address-literal )`.
fn mailbox(input: &str) -> Res<'_, &str> {
    recognize((local_part, char('@'), alt((domain, address_literal)))).parse(input)
}

/// `Local-part = Dot-string / Quoted-string`.
fn local_part(input: &str) -> Res<'_, &str> {
    alt((dot_string, quoted_string)).parse(input)
}

/// `Dot-string = Atom *("." Atom)`; non-ASCII letters are allowed (RFC 6531 §3.3).
fn dot_string(input: &str) -> Res<'_, &str> {
    recognize(separated_list1(char('.'), take_while1(is_atext))).parse(input)
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

/// `Quoted-string = DQUOTE *QcontentSMTP DQUOTE`.
fn quoted_string(input: &str) -> Res<'_, &str> {
    let qtext = take_while1(|c: char| c != '"' && c != '\\');
    let pair = recognize((char('\\'), nom::character::complete::anychar));
    recognize((char('"'), many0(alt((qtext, pair))), char('"'))).parse(input)
}

/// `Domain = sub-domain *("." sub-domain)`, with U-labels (RFC 6531 §3.3).
fn domain(input: &str) -> Res<'_, &str> {
    recognize(separated_list1(
        char('.'),
        take_while1(|c: char| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii()),
    ))
    .parse(input)
}

/// `address-literal = "[" ( IPv4 / IPv6 / General ) "]"`, kept as written.
fn address_literal(input: &str) -> Res<'_, &str> {
    recognize(delimited(
        char('['),
        take_while1(|c: char| c.is_ascii_alphanumeric() || c == '.' || c == ':' || c == '-'),
        char(']'),
    ))
    .parse(input)
}

/// `esmtp-param = esmtp-keyword ["=" esmtp-value]` (RFC 5321 §4.1.2).
fn esmtp_param(input: &str) -> Res<'_, (&str, Option<&str>)> {
    (
        take_while1(|c: char| c.is_ascii_alphanumeric() || c == '-'),
        opt(preceded(
            char('='),
            take_while1(|c: char| c != ' ' && c != '=' && !c.is_control()),
        )),
    )
        .parse(input)
}

/// `AUTH mechanism [initial-response]` (RFC 4954 §4).
fn auth(input: &str) -> Res<'_, Command> {
    let mech = take_while_m_n(1, 20, |c: char| {
        c.is_ascii_alphanumeric() || c == '-' || c == '_'
    });
    let b64 = take_while1(|c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '=');
    map(
        (preceded(sp, mech), opt(preceded(sp, b64)), eof),
        |(m, ir, _)| Command::Auth {
            mechanism: m.to_ascii_uppercase(),
            initial: ir.map(Secret::from),
        },
    )
    .parse(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Command {
        command(line.as_bytes()).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    fn mail_from(from: Option<&str>, params: MailParams) -> Command {
        Command::Mail {
            from: from.map(Into::into),
            params,
        }
    }

    #[test]
    fn valid_commands() {
        let table: Vec<(&str, Command)> = vec![
            (
                "EHLO client.example",
                Command::Ehlo("client.example".into()),
            ),
            ("ehlo [127.0.0.1]", Command::Ehlo("[127.0.0.1]".into())),
            ("HELO my_host", Command::Helo("my_host".into())),
            (
                "MAIL FROM:<a@b.example>",
                mail_from(Some("a@b.example"), MailParams::default()),
            ),
            (
                "mail from: <a@b>",
                mail_from(Some("a@b"), MailParams::default()),
            ),
            ("MAIL FROM:<>", mail_from(None, MailParams::default())),
            (
                "MAIL FROM:<a@b> SIZE=1000 BODY=8BITMIME SMTPUTF8",
                mail_from(
                    Some("a@b"),
                    MailParams {
                        size: Some(1000),
                        body: Some(Body::EightBitMime),
                        smtputf8: true,
                    },
                ),
            ),
            (
                "MAIL FROM:<@relay.example:a@b>",
                mail_from(Some("a@b"), MailParams::default()),
            ),
            (
                "MAIL FROM:<\"john doe\"@b>",
                mail_from(Some("\"john doe\"@b"), MailParams::default()),
            ),
            (
                "MAIL FROM:<山田@例え.jp> SMTPUTF8",
                mail_from(
                    Some("山田@例え.jp"),
                    MailParams {
                        smtputf8: true,
                        ..Default::default()
                    },
                ),
            ),
            (
                "RCPT TO:<alice@localhost>",
                Command::Rcpt {
                    to: "alice@localhost".into(),
                },
            ),
            (
                "RCPT TO:<Postmaster>",
                Command::Rcpt {
                    to: "Postmaster".into(),
                },
            ),
            (
                "RCPT TO:<bob@[127.0.0.1]>",
                Command::Rcpt {
                    to: "bob@[127.0.0.1]".into(),
                },
            ),
            ("DATA", Command::Data),
            ("RSET", Command::Rset),
            ("NOOP", Command::Noop),
            ("NOOP anything", Command::Noop),
            ("HELP", Command::Help),
            ("HELP MAIL", Command::Help),
            ("VRFY alice", Command::Vrfy("alice".into())),
            ("QUIT", Command::Quit),
            ("starttls", Command::StartTls),
            (
                "AUTH PLAIN",
                Command::Auth {
                    mechanism: "PLAIN".into(),
                    initial: None,
                },
            ),
            (
                "AUTH login dXNlcg==",
                Command::Auth {
                    mechanism: "LOGIN".into(),
                    initial: Some("dXNlcg==".into()),
                },
            ),
        ];
        for (line, want) in table {
            assert_eq!(ok(line), want, "{line}");
        }
    }

    #[test]
    fn bad_commands() {
        use ParseError::*;
        let long = format!("MAIL FROM:<{}@b>", "a".repeat(600));
        let table: Vec<(&[u8], ParseError)> = vec![
            (b"", Empty),
            (b"HELLO", Unknown),
            (b"FOO bar", Unknown),
            (b"EXPN list", NotImplemented),
            (b"EHLO", Syntax("EHLO domain")),
            (
                b"MAIL",
                Syntax("MAIL FROM:<address> [SIZE=n] [BODY=7BIT|8BITMIME] [SMTPUTF8]"),
            ),
            (
                b"MAIL FROM:a@b",
                Syntax("MAIL FROM:<address> [SIZE=n] [BODY=7BIT|8BITMIME] [SMTPUTF8]"),
            ),
            (
                b"MAIL FROM:<a@b> SIZE=big",
                Syntax("MAIL FROM:<address> [SIZE=n] [BODY=7BIT|8BITMIME] [SMTPUTF8]"),
            ),
            (
                b"MAIL FROM:<a@b> BODY=BINARYMIME",
                UnsupportedParameter("BODY".into()),
            ),
            (
                b"MAIL FROM:<a@b> RET=FULL",
                UnsupportedParameter("RET".into()),
            ),
            (b"RCPT TO:<>", Syntax("RCPT TO:<address>")),
            (b"RCPT TO:<nodomain>", Syntax("RCPT TO:<address>")),
            (b"RCPT TO:<a@b> NOTIFY=NEVER", Syntax("RCPT TO:<address>")),
            (b"DATA now", Syntax("DATA")),
            (b"VRFY", Syntax("VRFY string")),
            (b"MAIL FROM:<a\x00@b>", Control),
            (b"HELO \xff", NotUtf8),
            (long.as_bytes(), TooLong),
        ];
        for (line, want) in table {
            assert_eq!(
                command(line),
                Err(want.clone()),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
