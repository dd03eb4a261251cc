//! The POP3 command grammar, in nom, from bytes to [`Command`].
//!
//! RFC 1939 §3 and RFC 2449 §4:
//! ```text
//! command  = keyword *(SP argument) CRLF      ; at most 255 octets with CRLF
//! keyword  = 3*4 ALPHA                        ; case-insensitive
//! argument = 1*40 VCHAR                       ; printable, no spaces (but see PASS)
//! ```
//! The line has already been framed (CRLF removed) by `yubin-core`'s `LineCodec`.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while_m_n, take_while1};
use nom::character::complete::{char, digit1};
use nom::combinator::{all_consuming, eof, map, map_res, opt, rest, verify};
use nom::sequence::preceded;
use nom::{IResult, Parser};
use yubin_core::Secret;

use crate::command::{AuthStart, Command, SaslResponse};

/// Longest command line in octets, CRLF included (RFC 2449 §4).
pub const MAX_COMMAND_LINE: usize = 255;

/// Longest numeric or keyword argument (RFC 2449 §4: "up to 40 characters").
const MAX_ARGUMENT: usize = 40;

/// Why a line is not a valid command. Its `Display` is the text of the `-ERR` reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but the line terminator.
    #[error("empty command")]
    Empty,
    /// Over [`MAX_COMMAND_LINE`] octets.
    #[error("command line longer than {MAX_COMMAND_LINE} octets (RFC 2449 section 4)")]
    TooLong,
    /// A NUL or other control byte.
    #[error("command contains a NUL or control character")]
    Control,
    /// Bytes that are not UTF-8.
    #[error("command is not valid UTF-8")]
    NotUtf8,
    /// A keyword this server does not know.
    #[error("unknown command")]
    Unknown,
    /// A known keyword with missing, extra or malformed arguments.
    #[error("syntax error, usage: {0}")]
    Usage(&'static str),
    /// A number that does not fit (message numbers are 32-bit here).
    #[error("number out of range")]
    NumberOutOfRange,
}

type Res<'a, T> = IResult<&'a str, T>;

/// Parses one framed command line.
pub fn command(line: &[u8]) -> Result<Command, ParseError> {
    let text = checked_text(line)?;
    if line.len() + 2 > MAX_COMMAND_LINE {
        return Err(ParseError::TooLong);
    }
    let (args, kw) = keyword(text).map_err(|_| ParseError::Unknown)?;
    let kw = kw.to_ascii_uppercase();
    // Most clients never send trailing spaces, but a few old ones do after a bare keyword
    // ("STAT "); accepting them harms nothing. PASS is exempt: a password may end in one.
    let trimmed = args.trim_end_matches(' ');
    match kw.as_str() {
        "USER" => arguments(
            trimmed,
            "USER name",
            map(preceded(sp, name), |n| Command::User(n.to_owned())),
        ),
        "PASS" => arguments(
            args,
            "PASS string",
            map(preceded(sp, password), |p| Command::Pass(Secret::from(p))),
        ),
        "APOP" => arguments(trimmed, "APOP name digest", apop),
        "AUTH" => arguments(trimmed, "AUTH [mechanism [initial-response]]", auth),
        "STAT" => arguments(trimmed, "STAT", map(eof, |_| Command::Stat)),
        "LIST" => numbers(trimmed, "LIST [msg]", map(opt_number, Command::List)),
        "RETR" => numbers(
            trimmed,
            "RETR msg",
            map(preceded(sp, number), Command::Retr),
        ),
        "DELE" => numbers(
            trimmed,
            "DELE msg",
            map(preceded(sp, number), Command::Dele),
        ),
        "NOOP" => arguments(trimmed, "NOOP", map(eof, |_| Command::Noop)),
        "RSET" => arguments(trimmed, "RSET", map(eof, |_| Command::Rset)),
        "QUIT" => arguments(trimmed, "QUIT", map(eof, |_| Command::Quit)),
        "TOP" => numbers(trimmed, "TOP msg n", top),
        "UIDL" => numbers(trimmed, "UIDL [msg]", map(opt_number, Command::Uidl)),
        "CAPA" => arguments(trimmed, "CAPA", map(eof, |_| Command::Capa)),
        "STLS" => arguments(trimmed, "STLS", map(eof, |_| Command::Stls)),
        _ => Err(ParseError::Unknown),
    }
}

/// Parses a line sent in answer to a SASL challenge (RFC 5034 §4):
/// `*` cancels, anything else must be base64.
pub fn sasl_response(line: &[u8]) -> Result<SaslResponse, ParseError> {
    let text = checked_text(line)?;
    if text == "*" {
        return Ok(SaslResponse::Cancel);
    }
    match all_consuming(base64_text).parse(text) {
        Ok((_, b64)) => Ok(SaslResponse::Data(Secret::from(b64))),
        Err(_) => Err(ParseError::Usage("a base64 response, or * to cancel")),
    }
}

/// Rejects control bytes and non-UTF-8 before any grammar runs: such bytes are never
/// valid in a POP3 command, and checking once here keeps every rule below simple.
fn checked_text(line: &[u8]) -> Result<&str, ParseError> {
    if line.is_empty() {
        return Err(ParseError::Empty);
    }
    if line.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return Err(ParseError::Control);
    }
    std::str::from_utf8(line).map_err(|_| ParseError::NotUtf8)
}

/// Runs an argument parser over the rest of the line; any failure is a usage error.
fn arguments<'a>(
    args: &'a str,
    usage: &'static str,
    parser: impl Parser<&'a str, Output = Command, Error = nom::error::Error<&'a str>>,
) -> Result<Command, ParseError> {
    all_consuming(parser)
        .parse(args)
        .map(|(_, c)| c)
        .map_err(|_| ParseError::Usage(usage))
}

/// Like [`arguments`], but a well-formed number too large for `u32` is reported as such.
fn numbers<'a>(
    args: &'a str,
    usage: &'static str,
    parser: impl Parser<&'a str, Output = Command, Error = nom::error::Error<&'a str>>,
) -> Result<Command, ParseError> {
    arguments(args, usage, parser).map_err(|e| {
        let overflows = |a: &str| {
            !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()) && a.parse::<u32>().is_err()
        };
        if args.split(' ').any(overflows) {
            ParseError::NumberOutOfRange
        } else {
            e
        }
    })
}

/// `keyword = 3*4 ALPHA`, followed by a space or the end of the line.
fn keyword(input: &str) -> Res<'_, &str> {
    let (rest, kw) = take_while_m_n(3, 4, |c: char| c.is_ascii_alphabetic())(input)?;
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

/// A decimal number of 1 to 40 digits that fits a `u32`.
fn number(input: &str) -> Res<'_, u32> {
    map_res(
        verify(digit1, |d: &str| d.len() <= MAX_ARGUMENT),
        str::parse::<u32>,
    )
    .parse(input)
}

fn opt_number(input: &str) -> Res<'_, Option<u32>> {
    alt((map(eof, |_| None), map(preceded(sp, number), Some))).parse(input)
}

/// A user name: printable, no spaces.
///
/// RFC 2449 §4 caps arguments at 40 characters, but real clients log in with e-mail
/// addresses that are longer; the 255-octet line limit still bounds it, so we accept them.
fn name(input: &str) -> Res<'_, &str> {
    take_while1(|c: char| c != ' ')(input)
}

/// RFC 1939 §7: "the server may treat spaces in the argument as part of the password".
fn password(input: &str) -> Res<'_, &str> {
    verify(rest, |s: &str| !s.is_empty()).parse(input)
}

/// `APOP name digest`, digest = 32 hex digits (RFC 1939 §7).
fn apop(input: &str) -> Res<'_, Command> {
    let (input, user) = preceded(sp, name).parse(input)?;
    let (input, digest) =
        preceded(sp, take_while_m_n(32, 32, |c: char| c.is_ascii_hexdigit())).parse(input)?;
    let (input, _) = eof(input)?;
    Ok((
        input,
        Command::Apop {
            user: user.to_owned(),
            digest: digest.to_ascii_lowercase(),
        },
    ))
}

/// `AUTH [mechanism [initial-response]]` (RFC 5034 §4; mechanism per RFC 4422 §3.1:
/// 1 to 20 of upper-case letters, digits, `-` and `_`).
fn auth(input: &str) -> Res<'_, Command> {
    let mech = take_while_m_n(1, 20, |c: char| {
        c.is_ascii_alphanumeric() || c == '-' || c == '_'
    });
    let initial = alt((tag("="), base64_text));
    alt((
        map(eof, |_| Command::Auth(None)),
        map(
            (preceded(sp, mech), opt(preceded(sp, initial)), eof),
            |(m, ir, _): (&str, Option<&str>, _)| {
                Command::Auth(Some(AuthStart {
                    mechanism: m.to_ascii_uppercase(),
                    initial: ir.map(Secret::from),
                }))
            },
        ),
    ))
    .parse(input)
}

fn base64_text(input: &str) -> Res<'_, &str> {
    take_while1(|c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '=')(input)
}

/// `TOP msg n`.
fn top(input: &str) -> Res<'_, Command> {
    map(
        (preceded(sp, number), preceded(sp, number)),
        |(msg, lines)| Command::Top { msg, lines },
    )
    .parse(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Command {
        command(line.as_bytes()).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    #[test]
    fn valid_commands() {
        let table: Vec<(&str, Command)> = vec![
            ("USER alice", Command::User("alice".into())),
            (
                "user alice@example.com",
                Command::User("alice@example.com".into()),
            ),
            ("PASS secret", Command::Pass("secret".into())),
            ("PASS two words ", Command::Pass("two words ".into())),
            (
                "APOP mrose c4c9334bac560ecc979e58001b3e22fb",
                Command::Apop {
                    user: "mrose".into(),
                    digest: "c4c9334bac560ecc979e58001b3e22fb".into(),
                },
            ),
            ("AUTH", Command::Auth(None)),
            (
                "AUTH plain",
                Command::Auth(Some(AuthStart {
                    mechanism: "PLAIN".into(),
                    initial: None,
                })),
            ),
            (
                "AUTH PLAIN AGFsaWNlAHNlY3JldA==",
                Command::Auth(Some(AuthStart {
                    mechanism: "PLAIN".into(),
                    initial: Some("AGFsaWNlAHNlY3JldA==".into()),
                })),
            ),
            (
                "AUTH PLAIN =",
                Command::Auth(Some(AuthStart {
                    mechanism: "PLAIN".into(),
                    initial: Some("=".into()),
                })),
            ),
            ("STAT", Command::Stat),
            ("stat ", Command::Stat),
            ("LIST", Command::List(None)),
            ("LIST 2", Command::List(Some(2))),
            ("RETR 1", Command::Retr(1)),
            ("rEtR 007", Command::Retr(7)),
            ("DELE 3", Command::Dele(3)),
            ("NOOP", Command::Noop),
            ("RSET", Command::Rset),
            ("QUIT", Command::Quit),
            ("TOP 1 0", Command::Top { msg: 1, lines: 0 }),
            ("TOP 10 25", Command::Top { msg: 10, lines: 25 }),
            ("UIDL", Command::Uidl(None)),
            ("UIDL 4", Command::Uidl(Some(4))),
            ("CAPA", Command::Capa),
            ("stls", Command::Stls),
            ("RETR 4294967295", Command::Retr(u32::MAX)),
        ];
        for (line, want) in table {
            assert_eq!(ok(line), want, "{line:?}");
        }
    }

    #[test]
    fn bad_commands() {
        use ParseError::*;
        let long = format!("USER {}", "a".repeat(251));
        let table: Vec<(&[u8], ParseError)> = vec![
            (b"", Empty),
            (b"HELO there", Unknown),
            (b"XYZZY", Unknown),
            (b"RE", Unknown),
            (b"RETRX 1", Unknown),
            (b"STAT 1", Usage("STAT")),
            (b"RETR", Usage("RETR msg")),
            (b"RETR x", Usage("RETR msg")),
            (b"RETR -1", Usage("RETR msg")),
            (b"RETR 1 2", Usage("RETR msg")),
            (b"RETR  1", Usage("RETR msg")),
            (b"DELE", Usage("DELE msg")),
            (b"LIST a", Usage("LIST [msg]")),
            (b"TOP 1", Usage("TOP msg n")),
            (b"TOP 1 x", Usage("TOP msg n")),
            (b"TOP 1 2 3", Usage("TOP msg n")),
            (b"UIDL 1 2", Usage("UIDL [msg]")),
            (b"USER", Usage("USER name")),
            (b"USER a b", Usage("USER name")),
            (b"PASS", Usage("PASS string")),
            (b"PASS ", Usage("PASS string")),
            (b"APOP mrose", Usage("APOP name digest")),
            (b"APOP mrose 1234", Usage("APOP name digest")),
            (
                b"AUTH PLAIN bad!chars",
                Usage("AUTH [mechanism [initial-response]]"),
            ),
            (b"QUIT now", Usage("QUIT")),
            (b"RETR 4294967296", NumberOutOfRange),
            (b"TOP 1 99999999999", NumberOutOfRange),
            (b"RETR\x001", Control),
            (b"USER al\x07ice", Control),
            (b"USER \xff\xfe", NotUtf8),
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

    #[test]
    fn sasl_responses() {
        assert_eq!(sasl_response(b"*"), Ok(SaslResponse::Cancel));
        assert_eq!(
            sasl_response(b"AGFsaWNlAHNlY3JldA=="),
            Ok(SaslResponse::Data("AGFsaWNlAHNlY3JldA==".into()))
        );
        assert!(sasl_response(b"not base64!").is_err());
        assert!(sasl_response(b"").is_err());
    }

    #[test]
    fn every_prefix_of_a_valid_line_is_an_error_or_a_different_command() {
        // Framing guarantees whole lines, but a truncated line must never panic or be
        // mistaken for a different command with the same meaning.
        for line in [
            "TOP 12 34",
            "APOP mrose c4c9334bac560ecc979e58001b3e22fb",
            "AUTH PLAIN AGFsaWNlAHNlY3JldA==",
        ] {
            let full = ok(line);
            for cut in 0..line.len() {
                if let Ok(c) = command(&line.as_bytes()[..cut]) {
                    assert_ne!(c, full);
                }
            }
        }
    }
}
