//! Bytes to [`Command`]s: a nom grammar that follows RFC 3501 §9's ABNF.
//!
//! The input is one whole command as [`crate::codec::ImapCodec`] framed it: every line with
//! its CRLF, literals inline (`{5}\r\nhello`). Each function's doc comment quotes the ABNF
//! rule it implements, so code and RFC can be read side by side. nom's error type stays
//! private; callers see [`ParseError`].

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone};
use nom::branch::alt;
use nom::bytes::complete::{tag, tag_no_case, take, take_while1};
use nom::combinator::{map, map_res, opt, value, verify};
use nom::multi::{separated_list0, separated_list1};
use nom::sequence::{delimited, preceded, separated_pair, terminated};
use nom::{IResult, Parser};
use yubin_core::Secret;

use crate::command::{
    Command, CommandBody, Compression, FetchAttr, ListExtended, QResync, SearchKey, SearchReturn,
    Section, SectionText, SelectParams, SeqNum, SequenceSet, SortCriterion, SortKey, StatusItem,
    StoreMode, ThreadAlgorithm,
};

/// How deep `search-key`s may nest (`NOT`, `OR`, parentheses). RFC 3501 sets no limit;
/// real clients nest a handful of levels, and the cap keeps a hostile `((((...` from
/// exhausting the stack.
pub const MAX_SEARCH_DEPTH: usize = 32;

/// Why a frame is not a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The input stops before the command does (no final CRLF, or a literal cut short).
    #[error("incomplete command")]
    Incomplete,
    /// Not even a tag could be read.
    #[error("missing or invalid tag")]
    NoTag,
    /// The command name is not one yubin knows.
    #[error("unknown command {name}")]
    UnknownCommand {
        /// The tag, for the `BAD` reply.
        tag: String,
        /// The name as sent.
        name: String,
    },
    /// The arguments do not follow the grammar.
    #[error("syntax error in {command} arguments")]
    Syntax {
        /// The tag, for the `BAD` reply.
        tag: String,
        /// The command whose arguments failed.
        command: String,
    },
}

impl ParseError {
    /// The command's tag, when one could be read.
    pub fn tag(&self) -> Option<&str> {
        match self {
            ParseError::UnknownCommand { tag, .. } | ParseError::Syntax { tag, .. } => Some(tag),
            ParseError::Incomplete | ParseError::NoTag => None,
        }
    }
}

type Res<'a, T> = IResult<&'a [u8], T>;

mod append;
mod notify;
pub use append::{
    AppendEvent, AppendHead, Expect, MessageUrl, SegmentEnd, append_head, append_segment,
    message_url,
};

fn fail<T>(i: &[u8]) -> Res<'_, T> {
    Err(nom::Err::Error(nom::error::Error::new(
        i,
        nom::error::ErrorKind::Verify,
    )))
}

/// `"(" item *(SP item) ")"`: the parenthesized list of one or more that the grammar
/// uses for status, sort, fetch and NOTIFY items alike.
fn list1<'a, O>(
    item: impl Parser<&'a [u8], Output = O, Error = nom::error::Error<&'a [u8]>>,
) -> impl Parser<&'a [u8], Output = Vec<O>, Error = nom::error::Error<&'a [u8]>> {
    delimited(tag(&b"("[..]), separated_list1(sp, item), tag(&b")"[..]))
}

/// Parses one complete command frame.
///
/// `command = tag SP (command-any / command-auth / command-nonauth / command-select) CRLF`
pub fn command(input: &[u8]) -> Result<Command, ParseError> {
    if !input.ends_with(b"\n") {
        return Err(ParseError::Incomplete);
    }
    let (rest, tag_bytes) = match tag_(input) {
        Ok(ok) => ok,
        Err(_) => return Err(ParseError::NoTag),
    };
    let tag_s = String::from_utf8_lossy(tag_bytes).into_owned();
    let rest = match rest.strip_prefix(b" ") {
        Some(r) => r,
        None => {
            return Err(ParseError::Syntax {
                tag: tag_s,
                command: String::new(),
            });
        }
    };
    let (args, name) = match atom(rest) {
        Ok(ok) => ok,
        Err(_) => {
            return Err(ParseError::Syntax {
                tag: tag_s,
                command: String::new(),
            });
        }
    };
    let upper = String::from_utf8_lossy(name).to_ascii_uppercase();
    let syntax = |command: &str| ParseError::Syntax {
        tag: tag_s.clone(),
        command: command.to_owned(),
    };
    let parsed = if upper == "UID" {
        let Some(after) = args.strip_prefix(b" ") else {
            return Err(syntax("UID"));
        };
        let Ok((args, sub)) = atom(after) else {
            return Err(syntax("UID"));
        };
        let sub = String::from_utf8_lossy(sub).to_ascii_uppercase();
        match uid_command(&sub, args) {
            Some(r) => r.map_err(|e| map_err(e, &sub, &syntax)),
            None => {
                return Err(ParseError::UnknownCommand {
                    tag: tag_s,
                    name: format!("UID {sub}"),
                });
            }
        }
    } else {
        match command_args(&upper, args) {
            Some(r) => r.map_err(|e| map_err(e, &upper, &syntax)),
            None => {
                return Err(ParseError::UnknownCommand {
                    tag: tag_s,
                    name: String::from_utf8_lossy(name).into_owned(),
                });
            }
        }
    }?;
    let (rest, body) = parsed;
    match crlf(rest) {
        Ok((b"", _)) => Ok(Command { tag: tag_s, body }),
        Ok(_) | Err(_) => Err(syntax(&upper)),
    }
}

fn map_err(
    e: nom::Err<nom::error::Error<&[u8]>>,
    name: &str,
    syntax: &dyn Fn(&str) -> ParseError,
) -> ParseError {
    match e {
        // A complete-input grammar never reports Incomplete; a literal cut short does,
        // through `literal`.
        nom::Err::Incomplete(_) => ParseError::Incomplete,
        _ => syntax(name),
    }
}

/// Reads the tag of a frame, if it has one (for replies to frames that do not parse).
pub fn tag_of(input: &[u8]) -> Option<String> {
    tag_(input)
        .ok()
        .map(|(_, t)| String::from_utf8_lossy(t).into_owned())
}

fn crlf(i: &[u8]) -> Res<'_, ()> {
    // Bare LF is accepted, as yubin-core's LineCodec accepts it.
    value((), alt((tag(&b"\r\n"[..]), tag(&b"\n"[..])))).parse(i)
}

fn sp(i: &[u8]) -> Res<'_, ()> {
    value((), tag(&b" "[..])).parse(i)
}

/// `CTL = %x00-1F / %x7F`
fn is_ctl(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

/// `ATOM-CHAR = <any CHAR except atom-specials>`;
/// `atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials / resp-specials`
pub fn is_atom_char(b: u8) -> bool {
    b.is_ascii() && !is_ctl(b) && !b"(){ %*\"\\]".contains(&b)
}

/// `ASTRING-CHAR = ATOM-CHAR / resp-specials`
fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

/// `tag = 1*<any ASTRING-CHAR except "+">`
fn tag_(i: &[u8]) -> Res<'_, &[u8]> {
    take_while1(|b| is_astring_char(b) && b != b'+').parse(i)
}

/// `atom = 1*ATOM-CHAR`
fn atom(i: &[u8]) -> Res<'_, &[u8]> {
    take_while1(is_atom_char).parse(i)
}

/// `number = 1*DIGIT` (unsigned 32-bit)
fn number(i: &[u8]) -> Res<'_, u32> {
    map_res(take_while1(|b: u8| b.is_ascii_digit()), |d: &[u8]| {
        std::str::from_utf8(d)
            .map_err(|_| ())
            .and_then(|s| s.parse::<u32>().map_err(|_| ()))
    })
    .parse(i)
}

/// `nz-number = digit-nz *DIGIT`
fn nz_number(i: &[u8]) -> Res<'_, u32> {
    let (rest, n) = number(i)?;
    if n == 0 || i.first() == Some(&b'0') {
        return fail(i);
    }
    Ok((rest, n))
}

/// `mod-sequence-valzer = "0" / mod-sequence-value`; `mod-sequence-value = 1*DIGIT`,
/// at most 2^63 - 1 (RFC 7162 §7: modseqs fit a signed 64-bit integer).
fn mod_sequence_valzer(i: &[u8]) -> Res<'_, u64> {
    let (rest, digits) = take_while1(|b: u8| b.is_ascii_digit()).parse(i)?;
    match std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse::<u64>().ok())
    {
        Some(n) if n <= i64::MAX as u64 => Ok((rest, n)),
        _ => fail(i),
    }
}

/// `mod-sequence-value`: a modseq above zero (RFC 7162 §7).
fn mod_sequence_value(i: &[u8]) -> Res<'_, u64> {
    let (rest, n) = mod_sequence_valzer(i)?;
    if n == 0 {
        return fail(i);
    }
    Ok((rest, n))
}

/// `known-uids`, `known-sequence-set`, `known-uid-set` (RFC 7162 §7): sequence sets in
/// which `*` is not allowed.
fn known_set(i: &[u8]) -> Res<'_, SequenceSet> {
    verify(sequence_set, |s: &SequenceSet| {
        s.0.iter()
            .all(|&(a, b)| matches!((a, b), (SeqNum::Value(_), SeqNum::Value(_))))
    })
    .parse(i)
}

/// `select = "SELECT" SP mailbox [select-params]` (RFC 4466 §2.1);
/// `select-params = SP "(" select-param *(SP select-param) ")"`; the params RFC 7162
/// defines: `"CONDSTORE"` (§3.1.8) and `"QRESYNC" SP "(" uidvalidity SP
/// mod-sequence-value [SP known-uids] [SP seq-match-data] ")"` (§3.2.5, §7), with
/// `seq-match-data = "(" known-sequence-set SP known-uid-set ")"`.
fn select(i: &[u8]) -> Res<'_, (String, SelectParams)> {
    let (i, name) = preceded(sp, mailbox).parse(i)?;
    let Ok((rest, _)) = tag::<_, _, nom::error::Error<&[u8]>>(&b" ("[..]).parse(i) else {
        return Ok((i, (name, SelectParams::default())));
    };
    let qresync = map(
        (
            preceded(tag_no_case(&b"QRESYNC ("[..]), nz_number),
            preceded(sp, mod_sequence_value),
            opt(preceded(sp, known_set)),
            opt(preceded(
                sp,
                delimited(
                    tag(&b"("[..]),
                    separated_pair(known_set, sp, known_set),
                    tag(&b")"[..]),
                ),
            )),
            tag(&b")"[..]),
        ),
        |(uid_validity, modseq, known_uids, seq_match, _)| QResync {
            uid_validity,
            modseq,
            known_uids,
            seq_match,
        },
    );
    let param = alt((
        map(tag_no_case(&b"CONDSTORE"[..]), |_| None),
        map(qresync, Some),
    ));
    let (rest, list) = terminated(separated_list1(sp, param), tag(&b")"[..])).parse(rest)?;
    let mut params = SelectParams::default();
    for p in list {
        match p {
            None => params.condstore = true,
            // RFC 4466 §2.1: a parameter given twice is a syntax error.
            Some(_) if params.qresync.is_some() => return fail(i),
            Some(q) => params.qresync = Some(q),
        }
    }
    Ok((rest, (name, params)))
}

/// `quoted = DQUOTE *QUOTED-CHAR DQUOTE`;
/// `QUOTED-CHAR = <any TEXT-CHAR except quoted-specials> / "\" quoted-specials`.
/// 8-bit octets are accepted inside (RFC 6855's `UTF8-2..4`), so a client that sends
/// a UTF-8 search string quoted is understood.
fn quoted(i: &[u8]) -> Res<'_, Vec<u8>> {
    let (mut rest, _) = tag(&b"\""[..]).parse(i)?;
    let mut out = Vec::new();
    loop {
        match rest.first() {
            None => return fail(rest),
            // RFC 6855 §3: "the server MUST reject, with a "BAD" response, any octet
            // sequences with the high bit set that fail to comply with the formal
            // syntax requirements of UTF-8".
            Some(b'"') if !out.is_ascii() && std::str::from_utf8(&out).is_err() => {
                return fail(rest);
            }
            Some(b'"') => return Ok((&rest[1..], out)),
            Some(b'\\') => match rest.get(1) {
                Some(&c @ (b'"' | b'\\')) => {
                    out.push(c);
                    rest = &rest[2..];
                }
                _ => return fail(rest),
            },
            Some(&c) if c == b'\r' || c == b'\n' || c == 0 => return fail(rest),
            Some(&c) => {
                out.push(c);
                rest = &rest[1..];
            }
        }
    }
}

/// `literal = "{" number ["+"] "}" CRLF *CHAR8` (`+` is LITERAL+, RFC 7888);
/// `CHAR8 = %x01-ff` (no NUL).
fn literal(i: &[u8]) -> Res<'_, Vec<u8>> {
    let (rest, n) = delimited(
        tag(&b"{"[..]),
        number,
        (opt(tag(&b"+"[..])), tag(&b"}"[..])),
    )
    .parse(i)?;
    let (rest, _) = crlf(rest)?;
    let n = n as usize;
    if rest.len() < n {
        return Err(nom::Err::Incomplete(nom::Needed::new(n - rest.len())));
    }
    let (rest, data) = take(n).parse(rest)?;
    if data.contains(&0) {
        return fail(i);
    }
    Ok((rest, data.to_vec()))
}

/// `string = quoted / literal`
fn string(i: &[u8]) -> Res<'_, Vec<u8>> {
    alt((quoted, literal)).parse(i)
}

/// `astring = 1*ASTRING-CHAR / string`
///
/// Also accepted: UTF-8 text right in the atom form. RFC 3501 wants 8-bit text in a
/// literal, but Python's imaplib (and others) send `SEARCH CHARSET UTF-8 SUBJECT 日本`
/// with the bytes bare; they contain no special character, so reading them as the string
/// they obviously are breaks nothing for clients that follow the RFC.
fn astring(i: &[u8]) -> Res<'_, Vec<u8>> {
    alt((
        map(
            verify(
                take_while1(|b| is_astring_char(b) || b >= 0x80),
                |s: &[u8]| s.is_ascii() || std::str::from_utf8(s).is_ok(),
            ),
            |s: &[u8]| s.to_vec(),
        ),
        string,
    ))
    .parse(i)
}

/// An astring that must be UTF-8 text (user names, mailbox names, charset names).
fn astring_text(i: &[u8]) -> Res<'_, String> {
    map_res(astring, String::from_utf8).parse(i)
}

/// `nstring = string / nil`
fn nstring(i: &[u8]) -> Res<'_, Option<Vec<u8>>> {
    alt((value(None, tag_no_case(&b"NIL"[..])), map(string, Some))).parse(i)
}

/// `mailbox = "INBOX" / astring` (INBOX is case-insensitive; the store handles that).
fn mailbox(i: &[u8]) -> Res<'_, String> {
    astring_text(i)
}

/// `list-mailbox = 1*list-char / string`;
/// `list-char = ATOM-CHAR / list-wildcards / resp-specials`
fn list_mailbox(i: &[u8]) -> Res<'_, String> {
    alt((
        map_res(
            take_while1(|b| is_atom_char(b) || b == b'%' || b == b'*' || b == b']'),
            |s: &[u8]| String::from_utf8(s.to_vec()),
        ),
        map_res(string, String::from_utf8),
    ))
    .parse(i)
}

/// `seq-number = nz-number / "*"`
fn seq_number(i: &[u8]) -> Res<'_, SeqNum> {
    alt((
        value(SeqNum::Star, tag(&b"*"[..])),
        map(nz_number, SeqNum::Value),
    ))
    .parse(i)
}

/// `sequence-set = (seq-number / seq-range) *("," sequence-set)`;
/// `seq-range = seq-number ":" seq-number` (either order: `4:2` is `2:4`);
/// `sequence-set =/ seq-last-command`, `seq-last-command = "$"` (RFC 5182 §3), taken
/// only as the whole set, as Dovecot does: `1,$` is refused.
pub fn sequence_set(i: &[u8]) -> Res<'_, SequenceSet> {
    if let Some(rest) = i.strip_prefix(b"$") {
        if rest.first().is_some_and(|&b| is_atom_char(b)) {
            return fail(i);
        }
        return Ok((rest, SequenceSet::saved()));
    }
    map(
        separated_list1(
            tag(&b","[..]),
            map(
                (seq_number, opt(preceded(tag(&b":"[..]), seq_number))),
                |(a, b)| (a, b.unwrap_or(a)),
            ),
        ),
        SequenceSet,
    )
    .parse(i)
}

/// `date-month = "Jan" / "Feb" / ... / "Dec"` (case-insensitive)
fn date_month(i: &[u8]) -> Res<'_, u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let (rest, m) = take(3usize).parse(i)?;
    let m = String::from_utf8_lossy(m).to_ascii_lowercase();
    match MONTHS.iter().position(|x| *x == m) {
        Some(p) => Ok((rest, p as u32 + 1)),
        None => fail(i),
    }
}

/// `date-text = date-day "-" date-month "-" date-year`; `date-day = 1*2DIGIT`
fn date_text(i: &[u8]) -> Res<'_, NaiveDate> {
    let (rest, (d, _, m, _, y)) = (
        take_while_m_n_digits(1, 2),
        tag(&b"-"[..]),
        date_month,
        tag(&b"-"[..]),
        take_while_m_n_digits(4, 4),
    )
        .parse(i)?;
    match NaiveDate::from_ymd_opt(y as i32, m, d) {
        Some(date) => Ok((rest, date)),
        None => fail(i),
    }
}

fn take_while_m_n_digits(m: usize, n: usize) -> impl Fn(&[u8]) -> Res<'_, u32> {
    move |i| {
        let (rest, d) =
            nom::bytes::complete::take_while_m_n(m, n, |b: u8| b.is_ascii_digit()).parse(i)?;
        let v = d.iter().fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0'));
        Ok((rest, v))
    }
}

/// `date = date-text / DQUOTE date-text DQUOTE`
fn date(i: &[u8]) -> Res<'_, NaiveDate> {
    alt((
        delimited(tag(&b"\""[..]), date_text, tag(&b"\""[..])),
        date_text,
    ))
    .parse(i)
}

/// `date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE`;
/// `date-day-fixed = (SP DIGIT) / 2DIGIT`; `time = 2DIGIT ":" 2DIGIT ":" 2DIGIT`;
/// `zone = ("+" / "-") 4DIGIT`
fn date_time(i: &[u8]) -> Res<'_, DateTime<FixedOffset>> {
    let (rest, _) = tag(&b"\""[..]).parse(i)?;
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    let (rest, (d, _, m, _, y, _)) = (
        take_while_m_n_digits(1, 2),
        tag(&b"-"[..]),
        date_month,
        tag(&b"-"[..]),
        take_while_m_n_digits(4, 4),
        sp,
    )
        .parse(rest)?;
    let (rest, (h, _, mi, _, s, _, sign, zh, zm, _)) = (
        take_while_m_n_digits(2, 2),
        tag(&b":"[..]),
        take_while_m_n_digits(2, 2),
        tag(&b":"[..]),
        take_while_m_n_digits(2, 2),
        sp,
        alt((value(1i32, tag(&b"+"[..])), value(-1i32, tag(&b"-"[..])))),
        take_while_m_n_digits(2, 2),
        take_while_m_n_digits(2, 2),
        tag(&b"\""[..]),
    )
        .parse(rest)?;
    let offset = FixedOffset::east_opt(sign * (zh as i32 * 3600 + zm as i32 * 60));
    let date = NaiveDate::from_ymd_opt(y as i32, m, d);
    let time = NaiveTime::from_hms_opt(h, mi, s);
    match (offset, date, time) {
        (Some(o), Some(d), Some(t)) => match o.from_local_datetime(&d.and_time(t)).single() {
            Some(dt) => Ok((rest, dt)),
            None => fail(i),
        },
        _ => fail(i),
    }
}

/// `flag = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" / "\Draft" / flag-keyword / flag-extension`;
/// `flag-extension = "\" atom`
fn flag(i: &[u8]) -> Res<'_, String> {
    map_res(
        nom::combinator::recognize((opt(tag(&b"\\"[..])), atom)),
        |s: &[u8]| String::from_utf8(s.to_vec()),
    )
    .parse(i)
}

/// `flag-list = "(" [flag *(SP flag)] ")"`
fn flag_list(i: &[u8]) -> Res<'_, Vec<String>> {
    delimited(tag(&b"("[..]), separated_list0(sp, flag), tag(&b")"[..])).parse(i)
}

/// `compress = "COMPRESS" SP algorithm`; `algorithm = "DEFLATE"` (RFC 4978 §5). Any
/// other mechanism is a syntax error: RFC 4978 §3 answers an unknown argument with `BAD`.
fn compression(i: &[u8]) -> Res<'_, Compression> {
    value(Compression::Deflate, tag_no_case(&b"DEFLATE"[..])).parse(i)
}

/// Parses the arguments of a command that is not `UID ...`; `None` for an unknown name.
fn command_args<'a>(name: &str, i: &'a [u8]) -> Option<Res<'a, CommandBody>> {
    Some(match name {
        "CAPABILITY" => Ok((i, CommandBody::Capability)),
        "STARTTLS" => Ok((i, CommandBody::StartTls)),
        "COMPRESS" => map(preceded(sp, compression), CommandBody::Compress).parse(i),
        "NOOP" => Ok((i, CommandBody::Noop)),
        "LOGOUT" => Ok((i, CommandBody::Logout)),
        "NAMESPACE" => Ok((i, CommandBody::Namespace)),
        "CHECK" => Ok((i, CommandBody::Check)),
        "CLOSE" => Ok((i, CommandBody::Close)),
        "UNSELECT" => Ok((i, CommandBody::Unselect)),
        "EXPUNGE" => Ok((i, CommandBody::Expunge)),
        "IDLE" => Ok((i, CommandBody::Idle)),
        "LOGIN" => login(i),
        "AUTHENTICATE" => authenticate(i),
        "ID" => id(i),
        "ENABLE" => map(
            nom::multi::many1(preceded(
                sp,
                map_res(atom, |a: &[u8]| String::from_utf8(a.to_vec())),
            )),
            CommandBody::Enable,
        )
        .parse(i),
        "LIST" => list(i),
        "LSUB" => map(
            (preceded(sp, mailbox), preceded(sp, list_mailbox)),
            |(reference, pattern)| CommandBody::Lsub { reference, pattern },
        )
        .parse(i),
        "SUBSCRIBE" => map(preceded(sp, mailbox), CommandBody::Subscribe).parse(i),
        "UNSUBSCRIBE" => map(preceded(sp, mailbox), CommandBody::Unsubscribe).parse(i),
        "SELECT" => map(select, |(mailbox, params)| CommandBody::Select {
            mailbox,
            params,
        })
        .parse(i),
        "EXAMINE" => map(select, |(mailbox, params)| CommandBody::Examine {
            mailbox,
            params,
        })
        .parse(i),
        "CREATE" => create(i),
        "DELETE" => map(preceded(sp, mailbox), CommandBody::Delete).parse(i),
        "RENAME" => map(
            (preceded(sp, mailbox), preceded(sp, mailbox)),
            |(from, to)| CommandBody::Rename { from, to },
        )
        .parse(i),
        "STATUS" => status(i),
        "NOTIFY" => notify::notify(i),
        "APPEND" => append::append(i),
        "SEARCH" => search(i, false),
        "SORT" => sort(i, false),
        "THREAD" => thread(i, false),
        "FETCH" => fetch(i, false),
        "STORE" => store(i, false),
        // RFC 5267 §5: `command-select =/ "CANCELUPDATE" 1*(SP quoted)`.
        "CANCELUPDATE" => map(
            nom::multi::many1(preceded(sp, quoted)),
            |tags: Vec<Vec<u8>>| {
                CommandBody::CancelUpdate(
                    tags.into_iter()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .collect(),
                )
            },
        )
        .parse(i),
        "COPY" => map(
            (preceded(sp, sequence_set), preceded(sp, mailbox)),
            |(set, mailbox)| CommandBody::Copy {
                uid: false,
                set,
                mailbox,
            },
        )
        .parse(i),
        "MOVE" => map(
            (preceded(sp, sequence_set), preceded(sp, mailbox)),
            |(set, mailbox)| CommandBody::Move {
                uid: false,
                set,
                mailbox,
            },
        )
        .parse(i),
        _ => return None,
    })
}

/// `uid = "UID" SP (copy / move / fetch / search / store / uid-expunge)`, and
/// `sort` and `thread` (RFC 5256 §5: `["UID" SP] "SORT" ...`).
fn uid_command<'a>(name: &str, i: &'a [u8]) -> Option<Res<'a, CommandBody>> {
    Some(match name {
        "FETCH" => fetch(i, true),
        "SEARCH" => search(i, true),
        "SORT" => sort(i, true),
        "THREAD" => thread(i, true),
        "STORE" => store(i, true),
        "COPY" => map(
            (preceded(sp, sequence_set), preceded(sp, mailbox)),
            |(set, mailbox)| CommandBody::Copy {
                uid: true,
                set,
                mailbox,
            },
        )
        .parse(i),
        "MOVE" => map(
            (preceded(sp, sequence_set), preceded(sp, mailbox)),
            |(set, mailbox)| CommandBody::Move {
                uid: true,
                set,
                mailbox,
            },
        )
        .parse(i),
        "EXPUNGE" => map(preceded(sp, sequence_set), CommandBody::UidExpunge).parse(i),
        _ => return None,
    })
}

/// `login = "LOGIN" SP userid SP password`; `userid = astring`; `password = astring`
fn login(i: &[u8]) -> Res<'_, CommandBody> {
    map(
        (
            preceded(sp, astring_text),
            preceded(sp, map_res(astring, String::from_utf8)),
        ),
        |(user, password)| CommandBody::Login {
            user,
            password: Secret::from(password),
        },
    )
    .parse(i)
}

/// `authenticate = "AUTHENTICATE" SP auth-type [SP (base64 / "=")]` (RFC 4959);
/// `auth-type = atom`
fn authenticate(i: &[u8]) -> Res<'_, CommandBody> {
    map(
        (
            preceded(sp, atom),
            opt(preceded(
                sp,
                take_while1(|b: u8| b.is_ascii_alphanumeric() || b"+/=".contains(&b)),
            )),
        ),
        |(mech, ir): (&[u8], Option<&[u8]>)| CommandBody::Authenticate {
            mechanism: String::from_utf8_lossy(mech).to_ascii_uppercase(),
            initial: ir.map(|b| String::from_utf8_lossy(b).into_owned()),
        },
    )
    .parse(i)
}

/// `id = "ID" SP id-params-list`;
/// `id-params-list = "(" *(string SP nstring) ")" / nil` (RFC 2971; pairs separated by SP)
fn id(i: &[u8]) -> Res<'_, CommandBody> {
    let pair = map(
        separated_pair(string, sp, nstring),
        |(k, v): (Vec<u8>, Option<Vec<u8>>)| {
            (
                String::from_utf8_lossy(&k).into_owned(),
                v.map(|v| String::from_utf8_lossy(&v).into_owned()),
            )
        },
    );
    preceded(
        sp,
        alt((
            value(CommandBody::Id(None), tag_no_case(&b"NIL"[..])),
            map(
                delimited(tag(&b"("[..]), separated_list0(sp, pair), tag(&b")"[..])),
                |v| CommandBody::Id(Some(v)),
            ),
        )),
    )
    .parse(i)
}

/// `create = "CREATE" SP mailbox [create-params]` (RFC 4466 §2.2);
/// `create-params = SP "(" create-param *(SP create-param) ")"`;
/// `create-param =/ "USE" SP "(" [use-attr *(SP use-attr)] ")"`;
/// `use-attr = "\All" / "\Archive" / "\Drafts" / "\Flagged" / "\Junk" / "\Sent" /
/// "\Trash" / use-attr-ext`; `use-attr-ext = "\" atom` (RFC 6154 §6). Without
/// parameters it is RFC 3501's CREATE.
fn create(i: &[u8]) -> Res<'_, CommandBody> {
    let use_attr = map_res(preceded(tag(&b"\\"[..]), atom), |a: &[u8]| {
        String::from_utf8(a.to_vec()).map(|a| format!("\\{a}"))
    });
    let param = preceded(
        (tag_no_case(&b"USE"[..]), sp),
        delimited(
            tag(&b"("[..]),
            separated_list0(sp, use_attr),
            tag(&b")"[..]),
        ),
    );
    let (rest, (mailbox, params)) =
        (preceded(sp, mailbox), opt(preceded(sp, list1(param)))).parse(i)?;
    Ok((
        rest,
        match params {
            None => CommandBody::Create(mailbox),
            Some(p) => CommandBody::CreateSpecialUse {
                mailbox,
                uses: p.concat(),
            },
        },
    ))
}

/// `status-att = "MESSAGES" / "RECENT" / "UIDNEXT" / "UIDVALIDITY" / "UNSEEN"`
/// `/ "SIZE"` (RFC 8438 §4) `/ "DELETED"` (RFC 9051 §9)
fn status_att(i: &[u8]) -> Res<'_, StatusItem> {
    alt((
        value(StatusItem::Messages, tag_no_case(&b"MESSAGES"[..])),
        value(StatusItem::Recent, tag_no_case(&b"RECENT"[..])),
        value(StatusItem::UidNext, tag_no_case(&b"UIDNEXT"[..])),
        value(StatusItem::UidValidity, tag_no_case(&b"UIDVALIDITY"[..])),
        value(StatusItem::Unseen, tag_no_case(&b"UNSEEN"[..])),
        value(StatusItem::Size, tag_no_case(&b"SIZE"[..])),
        value(StatusItem::Deleted, tag_no_case(&b"DELETED"[..])),
        // RFC 7162 §3.1.2.2.
        value(
            StatusItem::HighestModSeq,
            tag_no_case(&b"HIGHESTMODSEQ"[..]),
        ),
    ))
    .parse(i)
}

/// `"(" status-att *(SP status-att) ")"`
fn status_atts(i: &[u8]) -> Res<'_, Vec<StatusItem>> {
    list1(status_att).parse(i)
}

/// `status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"`
fn status(i: &[u8]) -> Res<'_, CommandBody> {
    map(
        (preceded(sp, mailbox), preceded(sp, status_atts)),
        |(mailbox, items)| CommandBody::Status { mailbox, items },
    )
    .parse(i)
}

/// `list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]`
/// (RFC 5258 §6); `mbox-or-pat = list-mailbox / patterns`;
/// `patterns = "(" list-mailbox *(SP list-mailbox) ")"`. Without any of the extended
/// parts it is RFC 3501's LIST.
fn list(i: &[u8]) -> Res<'_, CommandBody> {
    let patterns = list1(list_mailbox);
    let (rest, (select, reference, pats, ret)) = (
        opt(preceded(sp, list_select_opts)),
        preceded(sp, mailbox),
        preceded(
            sp,
            alt((
                map(patterns, |p| (p, true)),
                map(list_mailbox, |p| (vec![p], false)),
            )),
        ),
        opt(preceded(sp, list_return_opts)),
    )
        .parse(i)?;
    let (patterns, in_parens) = pats;
    if select.is_none() && !in_parens && ret.is_none() {
        let pattern = patterns.into_iter().next().unwrap_or_default();
        return Ok((rest, CommandBody::List { reference, pattern }));
    }
    let mut l = select.unwrap_or_default();
    if let Some(r) = ret {
        l.return_subscribed = r.return_subscribed;
        l.return_children = r.return_children;
        l.return_special_use = r.return_special_use;
        l.return_status = r.return_status;
    }
    l.reference = reference;
    l.patterns = patterns;
    Ok((rest, CommandBody::ListExtended(l)))
}

/// `list-select-opts = "(" [list-select-option *(SP list-select-option)] ")"`;
/// `list-select-base-opt = "SUBSCRIBED" / "REMOTE"`; `list-select-mod-opt =
/// "RECURSIVEMATCH"` (RFC 5258 §6); `"SPECIAL-USE"` (RFC 6154 §6). RECURSIVEMATCH
/// needs a base option other than REMOTE to modify (RFC 5258 §3: else BAD).
fn list_select_opts(i: &[u8]) -> Res<'_, ListExtended> {
    let (rest, words) =
        delimited(tag(&b"("[..]), separated_list0(sp, atom), tag(&b")"[..])).parse(i)?;
    let mut l = ListExtended::default();
    for w in words {
        match w.to_ascii_uppercase().as_slice() {
            b"SUBSCRIBED" => l.subscribed = true,
            b"REMOTE" => l.remote = true,
            b"RECURSIVEMATCH" => l.recursive_match = true,
            b"SPECIAL-USE" => l.special_use = true,
            _ => return fail(i),
        }
    }
    if l.recursive_match && !l.subscribed && !l.special_use {
        return fail(i);
    }
    Ok((rest, l))
}

/// `list-return-opts = "RETURN" SP "(" [return-option *(SP return-option)] ")"`;
/// `return-option = "SUBSCRIBED" / "CHILDREN" / "SPECIAL-USE" / "STATUS" SP "("
/// status-att *(SP status-att) ")"` (RFC 5258 §6, RFC 6154 §6, RFC 5819 §4)
fn list_return_opts(i: &[u8]) -> Res<'_, ListExtended> {
    #[derive(Clone)]
    enum Opt {
        Subscribed,
        Children,
        SpecialUse,
        Status(Vec<StatusItem>),
    }
    let option = alt((
        value(Opt::Subscribed, tag_no_case(&b"SUBSCRIBED"[..])),
        value(Opt::Children, tag_no_case(&b"CHILDREN"[..])),
        value(Opt::SpecialUse, tag_no_case(&b"SPECIAL-USE"[..])),
        map(
            preceded((tag_no_case(&b"STATUS"[..]), sp), status_atts),
            Opt::Status,
        ),
    ));
    let (rest, opts) = preceded(
        (tag_no_case(&b"RETURN"[..]), sp),
        delimited(tag(&b"("[..]), separated_list0(sp, option), tag(&b")"[..])),
    )
    .parse(i)?;
    let mut l = ListExtended::default();
    for o in opts {
        match o {
            Opt::Subscribed => l.return_subscribed = true,
            Opt::Children => l.return_children = true,
            Opt::SpecialUse => l.return_special_use = true,
            Opt::Status(items) => l.return_status = Some(items),
        }
    }
    Ok((rest, l))
}

/// `store = "STORE" SP sequence-set [store-modifiers] SP store-att-flags`;
/// `store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))`;
/// the one modifier RFC 7162 defines: `SP "(" "UNCHANGEDSINCE" SP mod-sequence-valzer ")"`
/// (§3.1.3, §7).
fn store(i: &[u8], uid: bool) -> Res<'_, CommandBody> {
    let (i, set) = preceded(sp, sequence_set).parse(i)?;
    let (i, unchanged_since) = opt(preceded(
        tag_no_case(&b" (UNCHANGEDSINCE "[..]),
        terminated(mod_sequence_valzer, tag(&b")"[..])),
    ))
    .parse(i)?;
    let (i, _) = sp(i)?;
    let (i, mode) = alt((
        value(StoreMode::Add, tag(&b"+"[..])),
        value(StoreMode::Remove, tag(&b"-"[..])),
        nom::combinator::success(StoreMode::Replace),
    ))
    .parse(i)?;
    let (i, _) = tag_no_case(&b"FLAGS"[..]).parse(i)?;
    let (i, silent) = map(opt(tag_no_case(&b".SILENT"[..])), |s| s.is_some()).parse(i)?;
    let (i, flags) = preceded(sp, alt((flag_list, separated_list1(sp, flag)))).parse(i)?;
    Ok((
        i,
        CommandBody::Store {
            uid,
            set,
            mode,
            silent,
            flags,
            unchanged_since,
        },
    ))
}

/// `fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")")
/// [fetch-modifiers]` (RFC 4466 §2.4); `fetch-modifiers = SP "(" fetch-modifier *(SP
/// fetch-modifier) ")"`, and RFC 7162's: `"CHANGEDSINCE" SP mod-sequence-value` (§3.1.4.1)
/// and `"VANISHED"` (§3.2.6).
fn fetch(i: &[u8], uid: bool) -> Res<'_, CommandBody> {
    let (i, set) = preceded(sp, sequence_set).parse(i)?;
    let (i, _) = sp(i)?;
    let (i, items) = alt((fetch_macro, map(fetch_att, |a| vec![a]), list1(fetch_att))).parse(i)?;
    let modifier = alt((
        map(
            preceded(tag_no_case(&b"CHANGEDSINCE "[..]), mod_sequence_value),
            Some,
        ),
        map(tag_no_case(&b"VANISHED"[..]), |_| None),
    ));
    let (i, modifiers) = opt(delimited(
        tag(&b" ("[..]),
        separated_list1(sp, modifier),
        tag(&b")"[..]),
    ))
    .parse(i)?;
    let mut changed_since = None;
    let mut vanished = false;
    for m in modifiers.unwrap_or_default() {
        match m {
            Some(n) => changed_since = Some(n),
            None => vanished = true,
        }
    }
    Ok((
        i,
        CommandBody::Fetch {
            uid,
            set,
            items,
            changed_since,
            vanished,
        },
    ))
}

/// `"ALL"` = `(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)`; `"FAST"` = `(FLAGS INTERNALDATE
/// RFC822.SIZE)`; `"FULL"` = `(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY)` (§6.4.5).
fn fetch_macro(i: &[u8]) -> Res<'_, Vec<FetchAttr>> {
    use FetchAttr::*;
    let (rest, word) = atom(i)?;
    let items = match word.to_ascii_uppercase().as_slice() {
        b"ALL" => vec![Flags, InternalDate, Rfc822Size, Envelope],
        b"FAST" => vec![Flags, InternalDate, Rfc822Size],
        b"FULL" => vec![Flags, InternalDate, Rfc822Size, Envelope, Body],
        _ => return fail(i),
    };
    Ok((rest, items))
}

/// `fetch-att = "ENVELOPE" / "FLAGS" / "INTERNALDATE" / "RFC822" [".HEADER" / ".SIZE" / ".TEXT"] /
/// "BODY" ["STRUCTURE"] / "UID" / "BODY" section ["<" number "." nz-number ">"] /
/// "BODY.PEEK" section ["<" number "." nz-number ">"]`
fn fetch_att(i: &[u8]) -> Res<'_, FetchAttr> {
    // The keyword runs up to a section, a space or the end of the list; it is looked up
    // once instead of trying every keyword in turn.
    let end = i
        .iter()
        .position(|&b| matches!(b, b'[' | b' ' | b')' | b'\r' | b'\n'))
        .unwrap_or(i.len());
    let (word, rest) = i.split_at(end);
    if rest.first() == Some(&b'[') {
        if word.eq_ignore_ascii_case(b"BODY") || word.eq_ignore_ascii_case(b"BODY.PEEK") {
            return body_section(i);
        }
        if [&b"BINARY"[..], b"BINARY.PEEK", b"BINARY.SIZE"]
            .iter()
            .any(|w| word.eq_ignore_ascii_case(w))
        {
            return binary_section(i);
        }
        return fail(i);
    }
    const KEYWORDS: [(&[u8], FetchAttr); 11] = [
        (b"ENVELOPE", FetchAttr::Envelope),
        (b"FLAGS", FetchAttr::Flags),
        (b"INTERNALDATE", FetchAttr::InternalDate),
        (b"RFC822.HEADER", FetchAttr::Rfc822Header),
        (b"RFC822.SIZE", FetchAttr::Rfc822Size),
        (b"RFC822.TEXT", FetchAttr::Rfc822Text),
        (b"RFC822", FetchAttr::Rfc822),
        (b"BODYSTRUCTURE", FetchAttr::BodyStructure),
        (b"BODY", FetchAttr::Body),
        (b"UID", FetchAttr::Uid),
        // RFC 7162 §3.1.4.2.
        (b"MODSEQ", FetchAttr::ModSeq),
    ];
    match KEYWORDS.iter().find(|(k, _)| word.eq_ignore_ascii_case(k)) {
        Some((_, a)) => Ok((rest, a.clone())),
        None => fail(i),
    }
}

fn body_section(i: &[u8]) -> Res<'_, FetchAttr> {
    let (i, peek) = alt((
        value(true, tag_no_case(&b"BODY.PEEK"[..])),
        value(false, tag_no_case(&b"BODY"[..])),
    ))
    .parse(i)?;
    let (i, section) = section(i)?;
    let (i, partial) = opt(delimited(
        tag(&b"<"[..]),
        separated_pair(number, tag(&b"."[..]), nz_number),
        tag(&b">"[..]),
    ))
    .parse(i)?;
    Ok((
        i,
        FetchAttr::BodySection {
            section,
            partial,
            peek,
        },
    ))
}

/// `fetch-att =/ "BINARY" [".PEEK"] section-binary [partial] / "BINARY.SIZE" section-binary`;
/// `section-binary = "[" [section-part] "]"`; `partial = "<" number "." nz-number ">"`
/// (RFC 3516 §7)
fn binary_section(i: &[u8]) -> Res<'_, FetchAttr> {
    // `None`: BINARY.SIZE; `Some(peek)`: BINARY or BINARY.PEEK.
    let (i, kind) = alt((
        value(None, tag_no_case(&b"BINARY.SIZE"[..])),
        value(Some(true), tag_no_case(&b"BINARY.PEEK"[..])),
        value(Some(false), tag_no_case(&b"BINARY"[..])),
    ))
    .parse(i)?;
    let (i, part) = delimited(
        tag(&b"["[..]),
        separated_list0(tag(&b"."[..]), nz_number),
        tag(&b"]"[..]),
    )
    .parse(i)?;
    let Some(peek) = kind else {
        return Ok((i, FetchAttr::BinarySize(part)));
    };
    let (i, partial) = opt(delimited(
        tag(&b"<"[..]),
        separated_pair(number, tag(&b"."[..]), nz_number),
        tag(&b">"[..]),
    ))
    .parse(i)?;
    Ok((
        i,
        FetchAttr::Binary {
            part,
            partial,
            peek,
        },
    ))
}

/// `section = "[" [section-spec] "]"`;
/// `section-spec = section-msgtext / (section-part ["." section-text])`;
/// `section-part = nz-number *("." nz-number)`;
/// `section-text = section-msgtext / "MIME"`;
/// `section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"`
fn section(i: &[u8]) -> Res<'_, Section> {
    let (i, _) = tag(&b"["[..]).parse(i)?;
    let (i, part) = separated_list0(tag(&b"."[..]), nz_number).parse(i)?;
    let (i, text) = if part.is_empty() {
        opt(section_text(false)).parse(i)?
    } else {
        opt(preceded(tag(&b"."[..]), section_text(true))).parse(i)?
    };
    let (i, _) = tag(&b"]"[..]).parse(i)?;
    Ok((i, Section { part, text }))
}

fn section_text(allow_mime: bool) -> impl Fn(&[u8]) -> Res<'_, SectionText> {
    move |i| {
        let header_list = |i| preceded(sp, list1(astring_text)).parse(i);
        let (rest, t) = alt((
            map(
                preceded(tag_no_case(&b"HEADER.FIELDS.NOT"[..]), header_list),
                SectionText::HeaderFieldsNot,
            ),
            map(
                preceded(tag_no_case(&b"HEADER.FIELDS"[..]), header_list),
                SectionText::HeaderFields,
            ),
            value(SectionText::Header, tag_no_case(&b"HEADER"[..])),
            value(SectionText::Text, tag_no_case(&b"TEXT"[..])),
            value(SectionText::Mime, tag_no_case(&b"MIME"[..])),
        ))
        .parse(i)?;
        if t == SectionText::Mime && !allow_mime {
            return fail(i);
        }
        Ok((rest, t))
    }
}

/// `search = "SEARCH" [search-return-opts] SP search-program` (RFC 4466 §2.6);
/// `search-program = ["CHARSET" SP charset SP] search-key *(SP search-key)`
fn search(i: &[u8], uid: bool) -> Res<'_, CommandBody> {
    let (i, ret) = opt(search_return_opts).parse(i)?;
    let (i, charset) = opt(preceded(
        (sp, tag_no_case(&b"CHARSET"[..]), sp),
        astring_text,
    ))
    .parse(i)?;
    let (i, criteria) = nom::multi::many1(preceded(sp, |i| search_key(i, 0))).parse(i)?;
    Ok((
        i,
        CommandBody::Search {
            uid,
            ret,
            charset,
            criteria,
        },
    ))
}

/// `sort = ["UID" SP] "SORT" SP sort-criteria SP search-criteria` (RFC 5256 §5), with
/// ESORT's `[search-return-opts]` before the criteria (RFC 5267 §3, RFC 4466 §2.6);
/// `sort-criteria = "(" sort-criterion *(SP sort-criterion) ")"`;
/// `search-criteria = charset 1*(SP search-key)`.
///
/// `RETURN (SAVE)` is refused here: RFC 5182 defines `$` as the result of a SEARCH, and a
/// sorted result has no set to save that SEARCH would not give.
fn sort(i: &[u8], uid: bool) -> Res<'_, CommandBody> {
    let (i, ret) = opt(search_return_opts).parse(i)?;
    if ret.as_ref().is_some_and(|r| r.save) {
        return fail(i);
    }
    let (i, criteria) = preceded(sp, list1(sort_criterion)).parse(i)?;
    let (i, (charset, keys)) = search_criteria(i)?;
    Ok((
        i,
        CommandBody::Sort {
            uid,
            ret,
            criteria,
            charset,
            keys,
        },
    ))
}

/// `sort-criterion = ["REVERSE" SP] sort-key`;
/// `sort-key = "ARRIVAL" / "CC" / "DATE" / "FROM" / "SIZE" / "SUBJECT" / "TO"`
/// (RFC 5256 §5) `/ "DISPLAYFROM" / "DISPLAYTO"` (RFC 5957 §4).
fn sort_criterion(i: &[u8]) -> Res<'_, SortCriterion> {
    let (i, reverse) = map(opt((tag_no_case(&b"REVERSE"[..]), sp)), |r| r.is_some()).parse(i)?;
    let (rest, word) = atom(i)?;
    let key = match word.to_ascii_uppercase().as_slice() {
        b"ARRIVAL" => SortKey::Arrival,
        b"CC" => SortKey::Cc,
        b"DATE" => SortKey::Date,
        b"FROM" => SortKey::From,
        b"SIZE" => SortKey::Size,
        b"SUBJECT" => SortKey::Subject,
        b"TO" => SortKey::To,
        b"DISPLAYFROM" => SortKey::DisplayFrom,
        b"DISPLAYTO" => SortKey::DisplayTo,
        _ => return fail(i),
    };
    Ok((rest, SortCriterion { reverse, key }))
}

/// `thread = ["UID" SP] "THREAD" SP thread-alg SP search-criteria`;
/// `thread-alg = "ORDEREDSUBJECT" / "REFERENCES" / thread-alg-ext` (RFC 5256 §5). An
/// algorithm yubin does not implement is a syntax error, as for any unknown atom.
fn thread(i: &[u8], uid: bool) -> Res<'_, CommandBody> {
    let (i, _) = sp(i)?;
    let (rest, word) = atom(i)?;
    let algorithm = match word.to_ascii_uppercase().as_slice() {
        b"ORDEREDSUBJECT" => ThreadAlgorithm::OrderedSubject,
        b"REFERENCES" => ThreadAlgorithm::References,
        _ => return fail(i),
    };
    let (i, (charset, keys)) = search_criteria(rest)?;
    Ok((
        i,
        CommandBody::Thread {
            uid,
            algorithm,
            charset,
            keys,
        },
    ))
}

/// `SP search-criteria`, `search-criteria = charset 1*(SP search-key)` (RFC 5256 §5);
/// `charset = atom / quoted`, read as an astring.
fn search_criteria(i: &[u8]) -> Res<'_, (String, Vec<SearchKey>)> {
    (
        preceded(sp, astring_text),
        nom::multi::many1(preceded(sp, |i| search_key(i, 0))),
    )
        .parse(i)
}

/// `search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"`
/// (RFC 4466 §2.6); `search-return-opt = "MIN" / "MAX" / "ALL" / "COUNT"` (RFC 4731 §4)
/// `/ "SAVE"` (RFC 5182 §3) `/ modifier-context / modifier-partial / modifier-update`
/// (RFC 5267 §5); `modifier-update = "UPDATE" [ "(" fetch-att *(SP fetch-att) ")" ]`
/// (RFC 5465 §8).
/// `RETURN ()` is `RETURN (ALL)` (RFC 4731 §3.1).
fn search_return_opts(i: &[u8]) -> Res<'_, SearchReturn> {
    /// One option: a word, or UPDATE with its fetch attributes.
    enum Opt<'a> {
        Word(&'a [u8]),
        UpdateFetch(Vec<FetchAttr>),
    }
    let opt = alt((
        map(
            preceded((tag_no_case(&b"UPDATE"[..]), sp), list1(fetch_att)),
            Opt::UpdateFetch,
        ),
        map(atom, Opt::Word),
    ));
    let (rest, opts) = preceded(
        (sp, tag_no_case(&b"RETURN"[..]), sp),
        delimited(tag(&b"("[..]), separated_list0(sp, opt), tag(&b")"[..])),
    )
    .parse(i)?;
    let mut ret = SearchReturn::default();
    let empty = opts.is_empty();
    let mut opts = opts.into_iter();
    while let Some(o) = opts.next() {
        let w = match o {
            Opt::UpdateFetch(atts) if !ret.update => {
                ret.update = true;
                ret.update_fetch = atts;
                continue;
            }
            Opt::UpdateFetch(_) => return fail(i),
            Opt::Word(w) => w,
        };
        let on = match w.to_ascii_uppercase().as_slice() {
            b"MIN" => &mut ret.min,
            b"MAX" => &mut ret.max,
            b"ALL" => &mut ret.all,
            b"COUNT" => &mut ret.count,
            b"SAVE" => &mut ret.save,
            // RFC 5267 §5: `modifier-update`, `modifier-context`.
            b"UPDATE" => &mut ret.update,
            b"CONTEXT" => &mut ret.context,
            // `modifier-partial = "PARTIAL" SP partial-range`;
            // `partial-range = nz-number ":" nz-number` (500:400 is 400:500).
            b"PARTIAL" if ret.partial.is_none() => {
                let range: &[u8] = match opts.next() {
                    Some(Opt::Word(range)) => range,
                    _ => return fail(i),
                };
                let Ok((b"", (a, b))) =
                    separated_pair(nz_number, tag(&b":"[..]), nz_number).parse(range)
                else {
                    return fail(i);
                };
                ret.partial = Some((a.min(b), a.max(b)));
                continue;
            }
            _ => return fail(i),
        };
        *on = true;
    }
    // RFC 5267 §4.4: "either one PARTIAL, one ALL, or neither".
    if ret.partial.is_some() && ret.all {
        return fail(i);
    }
    if empty {
        ret.all = true;
    }
    Ok((rest, ret))
}

/// `search-key = "ALL" / "ANSWERED" / "BCC" SP astring / "BEFORE" SP date / ... /
/// "NOT" SP search-key / "OR" SP search-key SP search-key / ... / sequence-set /
/// "(" search-key *(SP search-key) ")"` — every key of RFC 3501 §6.4.4.
fn search_key(i: &[u8], depth: usize) -> Res<'_, SearchKey> {
    if depth >= MAX_SEARCH_DEPTH {
        return fail(i);
    }
    if i.first() == Some(&b'(') {
        let (rest, keys) = list1(|i| search_key(i, depth + 1)).parse(i)?;
        return Ok((rest, SearchKey::And(keys)));
    }
    if let Ok((rest, set)) = sequence_set(i) {
        return Ok((rest, SearchKey::SequenceSet(set)));
    }
    let (rest, word) = atom(i)?;
    let word = word.to_ascii_uppercase();
    let s = |i| preceded(sp, astring).parse(i);
    let d = |i| preceded(sp, date).parse(i);
    let kw = |i| preceded(sp, flag).parse(i);
    let n = |i| preceded(sp, number).parse(i);
    use SearchKey as K;
    match word.as_slice() {
        b"ALL" => Ok((rest, K::All)),
        b"ANSWERED" => Ok((rest, K::Answered)),
        b"DELETED" => Ok((rest, K::Deleted)),
        b"DRAFT" => Ok((rest, K::Draft)),
        b"FLAGGED" => Ok((rest, K::Flagged)),
        b"NEW" => Ok((rest, K::New)),
        b"OLD" => Ok((rest, K::Old)),
        b"RECENT" => Ok((rest, K::Recent)),
        b"SEEN" => Ok((rest, K::Seen)),
        b"UNANSWERED" => Ok((rest, K::Unanswered)),
        b"UNDELETED" => Ok((rest, K::Undeleted)),
        b"UNDRAFT" => Ok((rest, K::Undraft)),
        b"UNFLAGGED" => Ok((rest, K::Unflagged)),
        b"UNSEEN" => Ok((rest, K::Unseen)),
        b"BCC" => map(s, K::Bcc).parse(rest),
        b"BODY" => map(s, K::Body).parse(rest),
        b"CC" => map(s, K::Cc).parse(rest),
        b"FROM" => map(s, K::From).parse(rest),
        b"SUBJECT" => map(s, K::Subject).parse(rest),
        b"TEXT" => map(s, K::Text).parse(rest),
        b"TO" => map(s, K::To).parse(rest),
        b"BEFORE" => map(d, K::Before).parse(rest),
        b"ON" => map(d, K::On).parse(rest),
        b"SINCE" => map(d, K::Since).parse(rest),
        b"SENTBEFORE" => map(d, K::SentBefore).parse(rest),
        b"SENTON" => map(d, K::SentOn).parse(rest),
        b"SENTSINCE" => map(d, K::SentSince).parse(rest),
        b"KEYWORD" => map(kw, K::Keyword).parse(rest),
        b"UNKEYWORD" => map(kw, K::Unkeyword).parse(rest),
        b"LARGER" => map(n, K::Larger).parse(rest),
        b"SMALLER" => map(n, K::Smaller).parse(rest),
        // RFC 5032 §3: `search-key =/ ( "OLDER" / "YOUNGER" ) SP nz-number`
        b"OLDER" => map(preceded(sp, nz_number), K::Older).parse(rest),
        b"YOUNGER" => map(preceded(sp, nz_number), K::Younger).parse(rest),
        b"UID" => map(preceded(sp, sequence_set), K::Uid).parse(rest),
        // RFC 7162 §3.1.5: `"MODSEQ" [search-modseq-ext] SP mod-sequence-valzer`;
        // `search-modseq-ext = SP entry-name SP entry-type-req`, where the entry is
        // `"/flags/" attr-flag` quoted and the type `"priv" / "shared" / "all"`.
        b"MODSEQ" => {
            let entry = (
                sp,
                quoted,
                sp,
                alt((
                    tag_no_case(&b"priv"[..]),
                    tag_no_case(&b"shared"[..]),
                    tag_no_case(&b"all"[..]),
                )),
            );
            map(
                preceded(opt(entry), preceded(sp, mod_sequence_valzer)),
                K::ModSeq,
            )
            .parse(rest)
        }
        b"HEADER" => map(
            (preceded(sp, astring_text), preceded(sp, astring)),
            |(f, v)| K::Header(f, v),
        )
        .parse(rest),
        b"NOT" => map(preceded(sp, |i| search_key(i, depth + 1)), |k| {
            K::Not(Box::new(k))
        })
        .parse(rest),
        b"OR" => map(
            (
                preceded(sp, |i| search_key(i, depth + 1)),
                preceded(sp, |i| search_key(i, depth + 1)),
            ),
            |(a, b)| K::Or(Box::new(a), Box::new(b)),
        )
        .parse(rest),
        _ => fail(i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> CommandBody {
        match command(s.as_bytes()) {
            Ok(c) => c.body,
            Err(e) => panic!("{s:?}: {e:?}"),
        }
    }

    #[test]
    fn simple_commands() {
        assert_eq!(ok("a CAPABILITY\r\n"), CommandBody::Capability);
        assert_eq!(ok("a1 noop\r\n"), CommandBody::Noop);
        assert_eq!(
            ok("x LOGIN alice \"se\\\"cret\"\r\n"),
            CommandBody::Login {
                user: "alice".into(),
                password: Secret::from("se\"cret")
            }
        );
    }

    #[test]
    fn literal_in_login() {
        assert_eq!(
            ok("x LOGIN {5}\r\nalice {6+}\r\nsecret\r\n"),
            CommandBody::Login {
                user: "alice".into(),
                password: Secret::from("secret")
            }
        );
    }

    #[test]
    fn sequence_sets_any_order() {
        let (_, s) = sequence_set(b"4:2,*,7:*").unwrap();
        assert!(s.contains(3, 10));
        assert!(s.contains(10, 10));
        assert!(s.contains(8, 10));
        assert!(!s.contains(1, 10));
    }

    #[test]
    fn fetch_items() {
        let b = ok("a FETCH 1:* (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (From To)]<0.100> UID)\r\n");
        let CommandBody::Fetch { items, .. } = b else {
            panic!()
        };
        assert_eq!(items.len(), 3);
        assert_eq!(
            items[1],
            FetchAttr::BodySection {
                section: Section {
                    part: vec![1, 2],
                    text: Some(SectionText::HeaderFields(vec!["From".into(), "To".into()]))
                },
                partial: Some((0, 100)),
                peek: true
            }
        );
    }

    #[test]
    fn search_nesting_is_capped() {
        let deep = format!("a SEARCH {}ALL{}\r\n", "(".repeat(40), ")".repeat(40));
        assert!(command(deep.as_bytes()).is_err());
        let ok_depth = format!("a SEARCH {}ALL{}\r\n", "(".repeat(5), ")".repeat(5));
        assert!(command(ok_depth.as_bytes()).is_ok());
    }

    #[test]
    fn bare_utf8_search_strings_are_read_as_text() {
        // Python's imaplib sends non-ASCII search strings without a literal.
        let cmd = command("a UID SEARCH CHARSET UTF-8 SUBJECT 日本\r\n".as_bytes()).unwrap();
        let want = format!("Subject({:?})", "日本".as_bytes());
        assert!(format!("{:?}", cmd.body).contains(&want), "{:?}", cmd.body);
        // Bytes that are not UTF-8 are still refused.
        assert!(command(b"a SEARCH SUBJECT \xff\xfe\r\n").is_err());
    }
}
