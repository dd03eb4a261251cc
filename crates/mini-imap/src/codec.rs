//! Literal-aware framing: turns the byte stream into whole IMAP command frames.
//!
//! IMAP commands are lines, except that a line ending in `{n}` or `{n+}` announces a
//! literal of `n` octets that follows the CRLF, after which the command goes on
//! (RFC 3501 §4.3, §7.5). Lines are framed by yubin-core's [`LineCodec`]; this codec
//! adds the literals:
//!
//! - A synchronizing literal `{n}` is checked against the limits first. If it fits, the
//!   codec yields [`Frame::Continue`] so the server sends `+ ` (RFC 3501 §7.5) and the
//!   client sends the octets; if not, it yields [`Frame::Rejected`] at once and the
//!   client, which is waiting for `+`, never sends them.
//! - A non-synchronizing literal `{n+}` (LITERAL+, RFC 7888) is sent without waiting.
//!   One over the limit is rejected and its octets are skipped as they arrive, never
//!   buffered.
//!
//! Everything here can be framed and answered, so the session goes on: a line over the
//! limit, a literal over the limit. Only a command whose total size (lines and literals)
//! passes [`CodecLimits::max_command`] is unframeable ([`FrameError::Unframeable`]).
//!
//! Two sets of limits apply: small ones before the session has logged in (a client that
//! has not proven who it is cannot make the server hold a 32 MiB literal; a larger one is
//! refused without `+`), the full ones after ([`ImapCodec::set_authenticated`]).
//! Errors are returned as items rather than as `Err` where the session goes on, because a
//! tokio-util `FramedRead` ends its stream after the first `Err`.

use bytes::{Buf, BytesMut};
use tokio_util::codec::Decoder;
pub use yubin_core::FrameError;
use yubin_core::budget::{Budget, Reservation};
use yubin_core::{Input, LineCodec, LineError};

use crate::value::{LiteralSuffix, literal_suffix};

/// The framing limits; each is configurable, and each default says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodecLimits {
    /// Longest line (without CRLF). RFC 7162 §4 asks servers to accept command lines of
    /// at least 8192 octets (long UID sets from clients with big mailboxes); after login
    /// the default is 64 KiB, since RFC 2971 lets an `ID` carry 30 pairs of 1024-octet
    /// strings (about 32 KiB on one line) and Dovecot accepts that much too.
    pub max_line: usize,
    /// Largest literal accepted. 32 MiB holds any APPEND of a normal message (mail
    /// systems commonly cap messages at 25–35 MB) while bounding one session's memory.
    pub max_literal: usize,
    /// Largest whole command held in memory (lines and literals together); past it the
    /// input cannot be framed safely and the connection is closed. A streamed APPEND
    /// message does not count.
    pub max_command: usize,
    /// An APPEND message literal at least this large is streamed to the store in pieces
    /// ([`Frame::AppendHead`]) instead of being held whole: memory per connection stays
    /// small whatever the message size.
    pub stream_above: usize,
}

impl Default for CodecLimits {
    fn default() -> Self {
        CodecLimits {
            max_line: 64 * 1024,
            max_literal: 32 * 1024 * 1024,
            // Commands other than a large APPEND have no reason to be big: a SEARCH with
            // long literals, a LOGIN with long credentials.
            max_command: 1024 * 1024,
            stream_above: 64 * 1024,
        }
    }
}

impl CodecLimits {
    /// The limits before login: room for a LOGIN or AUTHENTICATE with long credentials
    /// and for the largest ID RFC 2971 allows (ID is valid in any state, §3.1, and §3.3
    /// allows 30 pairs of a 30-octet field and a 1024-octet value: about 32 KiB, which
    /// imaptest sends), no more: a line of 40 KiB, a literal of 8 KiB, a command of
    /// 64 KiB.
    pub fn before_login() -> Self {
        CodecLimits {
            max_line: 40 * 1024,
            max_literal: 8 * 1024,
            max_command: 64 * 1024,
            stream_above: 64 * 1024,
        }
    }
}

/// Why a frame was refused without being parsed (answered with a tagged `BAD`/`NO`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// A line over [`CodecLimits::max_line`].
    LineTooLong,
    /// A literal over [`CodecLimits::max_literal`]; `append` when the command was APPEND,
    /// which RFC 7888 §4 answers with `NO [TOOBIG]`.
    LiteralTooBig {
        /// The announced size.
        size: u64,
        /// Whether the command was APPEND.
        append: bool,
    },
    /// The server's memory budget for buffered input is spent for now
    /// ([`ImapCodec::with_budget`]): try again later.
    Busy,
}

/// One item of the framed stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A whole command: every line with its CRLF, literals inline.
    Command(BytesMut),
    /// A synchronizing literal was accepted: send a `+ ` continuation request now.
    Continue,
    /// A command refused before parsing; the tag if one could be read.
    Rejected {
        /// The command's tag, when the refused input began with one.
        tag: Option<String>,
        /// What was wrong.
        reason: Rejection,
    },
    /// An APPEND whose message is large enough to be streamed
    /// ([`CodecLimits::stream_above`]): the command up to and including the message
    /// literal's announcement. The session accepts or refuses it, and tells the codec
    /// with [`ImapCodec::stream_decided`] before the next frame; if accepted, the message
    /// follows as [`Frame::Piece`]s, then the rest of the command line as a `Command`.
    AppendHead {
        /// The command so far, the announcement's CRLF included.
        head: BytesMut,
        /// Whether the literal is synchronizing (`{n}`: the client waits for `+`).
        synchronizing: bool,
    },
    /// A piece of a streamed APPEND message, in order.
    Piece(BytesMut),
}

impl Input for Frame {
    fn shown(&self) -> Option<&[u8]> {
        match self {
            Frame::Command(bytes) | Frame::AppendHead { head: bytes, .. } => Some(bytes),
            Frame::Continue | Frame::Rejected { .. } | Frame::Piece(_) => None,
        }
    }
}

#[derive(Debug)]
enum State {
    /// Reading a line of the command.
    Line,
    /// Reading `remaining` octets of an accepted literal.
    Literal { remaining: usize },
    /// Throwing away `remaining` octets of a refused non-synchronizing literal, then the
    /// rest of its line.
    Skip { remaining: u64 },
    /// Throwing away the rest of the line after a skipped literal.
    SkipLine,
    /// An [`Frame::AppendHead`] was given out: waiting for the session's decision.
    Deciding { size: usize, synchronizing: bool },
    /// Passing on `remaining` octets of a streamed APPEND message as pieces.
    Stream { remaining: usize },
}

/// The literal-aware IMAP command framer.
#[derive(Debug)]
pub struct ImapCodec {
    lines: LineCodec,
    /// The limits in force: `before` or `after`.
    limits: CodecLimits,
    before: CodecLimits,
    after: CodecLimits,
    state: State,
    /// The command read so far.
    command: BytesMut,
    /// Set by the session while it waits for a SASL response or IDLE's `DONE`: the next
    /// line is raw data, not a command, so it is not searched for literals.
    raw_line: bool,
    /// The budget literals held in memory are reserved from, if any.
    budget: Option<Budget>,
    /// What the command being framed holds of the budget.
    held: Vec<Reservation>,
    /// The command being framed goes on after a streamed APPEND literal: its literals
    /// are APPEND data too (another message, RFC 3502; another CATENATE part, RFC 4469),
    /// streamed when large, although the tag and the name are not in `command`.
    append_tail: bool,
    /// The last octets of the line being skipped ([`State::SkipLine`]), where a literal
    /// announcement would be.
    skipped: Vec<u8>,
}

impl ImapCodec {
    /// A codec with the given limits, before and after login alike.
    pub fn new(limits: CodecLimits) -> Self {
        ImapCodec::with_login_limits(limits, limits)
    }

    /// A codec that applies `before` until [`ImapCodec::set_authenticated`], then `after`.
    pub fn with_login_limits(before: CodecLimits, after: CodecLimits) -> Self {
        ImapCodec {
            lines: LineCodec::new(before.max_line),
            limits: before,
            before,
            after,
            state: State::Line,
            command: BytesMut::new(),
            raw_line: false,
            budget: None,
            held: Vec::new(),
            append_tail: false,
            skipped: Vec::new(),
        }
    }

    /// Reserves every literal held in memory from `budget`, shared with other
    /// connections; a literal the budget cannot cover is refused ([`Rejection::Busy`]).
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Switches between the limits before and after login. Called between commands.
    pub fn set_authenticated(&mut self, on: bool) {
        let limits = if on { self.after } else { self.before };
        if limits != self.limits {
            self.limits = limits;
            self.lines = LineCodec::new(limits.max_line);
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> CodecLimits {
        self.limits
    }

    /// The session's answer to the [`Frame::AppendHead`] just given: `accepted`, the
    /// message follows as pieces; refused, a synchronizing literal never comes (the
    /// client waits for `+`) and a non-synchronizing one is skipped with the rest of its
    /// line. Does nothing when no decision is pending.
    pub fn stream_decided(&mut self, accepted: bool) {
        let State::Deciding {
            size,
            synchronizing,
        } = self.state
        else {
            return;
        };
        self.state = match (accepted, synchronizing) {
            (true, _) => State::Stream { remaining: size },
            (false, true) => State::Line,
            (false, false) => State::Skip {
                remaining: size as u64,
            },
        };
    }

    /// Whether the session owes [`ImapCodec::stream_decided`] an answer.
    pub fn deciding(&self) -> bool {
        matches!(self.state, State::Deciding { .. })
    }

    /// Makes the next line a raw line (a SASL response): no literal is looked for.
    pub fn expect_raw_line(&mut self, on: bool) {
        self.raw_line = on;
    }
}

impl Default for ImapCodec {
    fn default() -> Self {
        ImapCodec::new(CodecLimits::default())
    }
}

/// How much of a skipped line is kept to find a literal announcement at its end:
/// `~{` and `+}` CRLF around twenty digits.
const SKIP_TAIL: usize = 32;

fn tag_and_append(command: &[u8]) -> (Option<String>, bool) {
    let mut words = command.split(|&b| b == b' ');
    let tag = words
        .next()
        .filter(|t| !t.is_empty() && t.iter().all(|&b| b.is_ascii_graphic() && b != b'{'))
        .map(|t| String::from_utf8_lossy(t).into_owned());
    let append = words
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case(b"APPEND"));
    (tag, append)
}

impl Decoder for ImapCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        loop {
            match self.state {
                // A session that never decided refused, as far as framing goes.
                State::Deciding { .. } => self.stream_decided(false),
                State::Stream { remaining } => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let n = remaining.min(buf.len());
                    let piece = buf.split_to(n);
                    let remaining = remaining - n;
                    self.state = if remaining == 0 {
                        // What follows is the rest of the APPEND (RFC 3502: maybe more
                        // messages), framed like any command line.
                        self.append_tail = true;
                        State::Line
                    } else {
                        State::Stream { remaining }
                    };
                    return Ok(Some(Frame::Piece(piece)));
                }
                State::Literal { remaining } => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let n = remaining.min(buf.len());
                    self.command.extend_from_slice(&buf.split_to(n));
                    let remaining = remaining - n;
                    self.state = if remaining == 0 {
                        State::Line
                    } else {
                        State::Literal { remaining }
                    };
                    if remaining > 0 {
                        return Ok(None);
                    }
                }
                State::Skip { remaining } => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let n = remaining.min(buf.len() as u64) as usize;
                    buf.advance(n);
                    let remaining = remaining - n as u64;
                    self.state = if remaining == 0 {
                        State::SkipLine
                    } else {
                        State::Skip { remaining }
                    };
                    if remaining > 0 {
                        return Ok(None);
                    }
                }
                State::SkipLine => {
                    let end = memchr::memchr(b'\n', buf);
                    let n = end.map_or(buf.len(), |i| i + 1);
                    self.skipped.extend_from_slice(&buf[..n]);
                    let keep = self.skipped.len().saturating_sub(SKIP_TAIL);
                    self.skipped.drain(..keep);
                    buf.advance(n);
                    if end.is_none() {
                        return Ok(None);
                    }
                    // The skipped line may announce another literal of the same command
                    // (a MULTIAPPEND's next message): one sent without waiting
                    // (`{n+}`) is skipped too, else its octets would be read as commands.
                    self.state = match literal_suffix(&std::mem::take(&mut self.skipped)) {
                        Some(LiteralSuffix {
                            size,
                            non_sync: true,
                        }) => State::Skip {
                            remaining: size.unwrap_or(u64::MAX),
                        },
                        _ => State::Line,
                    };
                }
                State::Line => {
                    // Overlong lines are found here, before LineCodec, for two reasons:
                    // their tag must be read before the bytes are dropped, and LineCodec
                    // would drop the whole buffer, losing commands after the long line
                    // that arrived in the same read.
                    let window = self.limits.max_line + 2;
                    let head = &buf[..buf.len().min(window)];
                    let overlong = match memchr::memchr(b'\n', head) {
                        Some(i) => {
                            let len = if i > 0 && head[i - 1] == b'\r' {
                                i - 1
                            } else {
                                i
                            };
                            (len > self.limits.max_line).then_some(Some(i))
                        }
                        None => (buf.len() >= window).then_some(None),
                    };
                    if let Some(end) = overlong {
                        let tag = if self.command.is_empty() {
                            tag_and_append(&buf[..buf.len().min(64)]).0
                        } else {
                            tag_and_append(&self.command).0
                        };
                        match end.or_else(|| memchr::memchr(b'\n', buf)) {
                            Some(i) => buf.advance(i + 1),
                            None => {
                                buf.clear();
                                self.state = State::SkipLine;
                            }
                        }
                        self.lines = LineCodec::new(self.limits.max_line);
                        self.command.clear();
                        self.held.clear();
                        self.append_tail = false;
                        return Ok(Some(Frame::Rejected {
                            tag,
                            reason: Rejection::LineTooLong,
                        }));
                    }
                    let line = match self.lines.decode(buf) {
                        Ok(Some(line)) => line,
                        Ok(None) => return Ok(None),
                        Err(LineError::TooLong { .. }) => {
                            // Found above already; kept so that no input is ever dropped
                            // without an answer.
                            self.command.clear();
                            self.held.clear();
                            return Ok(Some(Frame::Rejected {
                                tag: None,
                                reason: Rejection::LineTooLong,
                            }));
                        }
                        Err(LineError::Io(e)) => return Err(FrameError::Io(e)),
                    };
                    if self.command.len() + line.len() + 2 > self.limits.max_command {
                        self.command.clear();
                        self.held.clear();
                        return Err(FrameError::Unframeable(format!(
                            "command longer than {} octets",
                            self.limits.max_command
                        )));
                    }
                    self.command.extend_from_slice(&line);
                    self.command.extend_from_slice(b"\r\n");
                    let suffix = if self.raw_line {
                        None
                    } else {
                        literal_suffix(&line)
                    };
                    let Some(LiteralSuffix { size, non_sync }) = suffix else {
                        self.held.clear();
                        self.append_tail = false;
                        return Ok(Some(Frame::Command(std::mem::take(&mut self.command))));
                    };
                    let fits = size.is_some_and(|n| n <= self.limits.max_literal as u64);
                    let append = self.append_tail || tag_and_append(&self.command).1;
                    // A large APPEND literal is streamed; so is one that would take the
                    // command past its limit (a MULTIAPPEND of many messages), and any
                    // synchronizing one, so that the session can refuse the APPEND
                    // before the client sends it (RFC 3501 §6.3.11 `[TRYCREATE]`).
                    if fits
                        && append
                        && let Some(n) = size
                        && n > 0
                        && (!non_sync
                            || n >= self.limits.stream_above as u64
                            || self.command.len() as u64 + n > self.limits.max_command as u64)
                    {
                        self.held.clear();
                        self.append_tail = false;
                        self.state = State::Deciding {
                            size: n as usize,
                            synchronizing: !non_sync,
                        };
                        return Ok(Some(Frame::AppendHead {
                            head: std::mem::take(&mut self.command),
                            synchronizing: !non_sync,
                        }));
                    }
                    if fits
                        && self.command.len() as u64 + size.unwrap_or(0)
                            > self.limits.max_command as u64
                    {
                        // Each literal fits, but together they pass the command limit.
                        self.command.clear();
                        self.held.clear();
                        return Err(FrameError::Unframeable(format!(
                            "command longer than {} octets",
                            self.limits.max_command
                        )));
                    }
                    let reserved = match (&self.budget, size) {
                        (Some(budget), Some(n)) if fits => budget.reserve(n as usize),
                        _ => None,
                    };
                    let busy = fits && self.budget.is_some() && reserved.is_none();
                    if let Some(r) = reserved {
                        self.held.push(r);
                    }
                    if !fits || busy {
                        let (tag, append_named) = tag_and_append(&self.command);
                        let append = append_named || self.append_tail;
                        self.command.clear();
                        self.held.clear();
                        self.append_tail = false;
                        if non_sync {
                            // The client sends the octets anyway (RFC 7888 §4): skip them.
                            self.state = State::Skip {
                                remaining: size.unwrap_or(u64::MAX),
                            };
                        }
                        let reason = if busy {
                            Rejection::Busy
                        } else {
                            Rejection::LiteralTooBig {
                                size: size.unwrap_or(u64::MAX),
                                append,
                            }
                        };
                        return Ok(Some(Frame::Rejected { tag, reason }));
                    }
                    let n = size.unwrap_or(0) as usize;
                    self.state = if n == 0 {
                        State::Line
                    } else {
                        State::Literal { remaining: n }
                    };
                    if !non_sync {
                        return Ok(Some(Frame::Continue));
                    }
                }
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        // A command cut off by the peer going away is not a command.
        match self.decode(buf)? {
            Some(frame) => Ok(Some(frame)),
            None => {
                buf.clear();
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> ImapCodec {
        ImapCodec::new(CodecLimits {
            max_line: 64,
            max_literal: 10,
            max_command: 200,
            stream_above: usize::MAX,
        })
    }

    fn all(codec: &mut ImapCodec, input: &[u8]) -> Vec<Frame> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(f) = codec.decode(&mut buf).unwrap() {
            out.push(f);
        }
        out
    }

    fn cmd(s: &[u8]) -> Frame {
        Frame::Command(BytesMut::from(s))
    }

    fn streaming() -> ImapCodec {
        ImapCodec::new(CodecLimits {
            max_line: 64,
            max_literal: 100,
            max_command: 200,
            stream_above: 10,
        })
    }

    #[test]
    fn a_large_append_is_streamed_in_pieces_once_accepted() {
        let mut c = streaming();
        let mut buf = BytesMut::from(&b"a APPEND INBOX {12+}\r\nhello, "[..]);
        assert_eq!(
            c.decode(&mut buf).unwrap(),
            Some(Frame::AppendHead {
                head: BytesMut::from(&b"a APPEND INBOX {12+}\r\n"[..]),
                synchronizing: false,
            })
        );
        assert!(c.deciding());
        c.stream_decided(true);
        assert_eq!(
            c.decode(&mut buf).unwrap(),
            Some(Frame::Piece(BytesMut::from(&b"hello, "[..])))
        );
        assert_eq!(c.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"world\r\nb NOOP\r\n");
        assert_eq!(
            all(&mut c, &buf.split()),
            vec![
                Frame::Piece(BytesMut::from(&b"world"[..])),
                cmd(b"\r\n"),
                cmd(b"b NOOP\r\n")
            ]
        );
        // Small APPENDs and other commands are framed whole as before.
        assert_eq!(
            all(&mut c, b"c APPEND INBOX {3+}\r\nabc\r\n"),
            vec![cmd(b"c APPEND INBOX {3+}\r\nabc\r\n")]
        );
    }

    #[test]
    fn a_multiappend_streams_each_large_message_and_frames_the_rest() {
        // RFC 3502: after a streamed message, the line goes on with the next one.
        let mut c = streaming();
        let mut input = b"a APPEND INBOX {12+}\r\nhello, world (\\Seen) {3+}\r\nabc".to_vec();
        input.extend_from_slice(b" {11+}\r\n0123456789X\r\nb NOOP\r\n");
        let mut buf = BytesMut::from(&input[..]);
        let mut frames = Vec::new();
        while let Some(f) = c.decode(&mut buf).unwrap() {
            if matches!(f, Frame::AppendHead { .. }) {
                c.stream_decided(true);
            }
            frames.push(f);
        }
        assert_eq!(
            frames,
            vec![
                Frame::AppendHead {
                    head: BytesMut::from(&b"a APPEND INBOX {12+}\r\n"[..]),
                    synchronizing: false,
                },
                Frame::Piece(BytesMut::from(&b"hello, world"[..])),
                // The small second message is framed inline; the large third one is
                // streamed although the tag and name are not on its line.
                Frame::AppendHead {
                    head: BytesMut::from(&b" (\\Seen) {3+}\r\nabc {11+}\r\n"[..]),
                    synchronizing: false,
                },
                Frame::Piece(BytesMut::from(&b"0123456789X"[..])),
                cmd(b"\r\n"),
                cmd(b"b NOOP\r\n"),
            ]
        );
        // A synchronizing APPEND literal, however small, waits for the session's word.
        assert!(matches!(
            all(&mut c, b"c APPEND INBOX {2}\r\n")[..],
            [Frame::AppendHead {
                synchronizing: true,
                ..
            }]
        ));
    }

    #[test]
    fn a_refused_literal_plus_skips_the_literals_chained_after_it() {
        // A MULTIAPPEND refused at its first message: the later messages' octets are
        // skipped too, never read as commands.
        let mut c = streaming();
        let mut buf = BytesMut::from(
            &b"a APPEND X {12+}\r\nhello, world {4+}\r\nb OK {2+}\r\nzz\r\nc NOOP\r\n"[..],
        );
        assert!(matches!(
            c.decode(&mut buf).unwrap(),
            Some(Frame::AppendHead { .. })
        ));
        c.stream_decided(false);
        assert_eq!(all(&mut c, &buf.split()), vec![cmd(b"c NOOP\r\n")]);
    }

    #[test]
    fn literals_held_in_memory_come_out_of_a_shared_budget() {
        let budget = Budget::new(8);
        let mut a = small().with_budget(budget.clone());
        let mut b = small().with_budget(budget.clone());
        // `a` is halfway through a command holding a 6-octet literal...
        let mut buf = BytesMut::from(&b"x LOGIN {6+}\r\nal"[..]);
        assert_eq!(a.decode(&mut buf).unwrap(), None);
        assert_eq!(budget.held(), 6);
        // ...so `b` cannot hold another 6 until it is done.
        assert_eq!(
            all(&mut b, b"y LOGIN {6}\r\n"),
            vec![Frame::Rejected {
                tag: Some("y".into()),
                reason: Rejection::Busy
            }]
        );
        buf.extend_from_slice(b"ice1 pw\r\n");
        assert!(matches!(
            a.decode(&mut buf).unwrap(),
            Some(Frame::Command(_))
        ));
        assert_eq!(budget.held(), 0, "given back with the command");
        assert_eq!(all(&mut b, b"y LOGIN {6}\r\n"), vec![Frame::Continue]);
    }

    #[test]
    fn a_refused_streamed_append_is_skipped_or_never_sent() {
        // LITERAL+ refused: its octets and the rest of its line are skipped.
        let mut c = streaming();
        let mut buf = BytesMut::from(&b"a APPEND X {12+}\r\nhello, world\r\nb NOOP\r\n"[..]);
        assert!(matches!(
            c.decode(&mut buf).unwrap(),
            Some(Frame::AppendHead { .. })
        ));
        c.stream_decided(false);
        assert_eq!(all(&mut c, &buf.split()), vec![cmd(b"b NOOP\r\n")]);
        // Synchronizing refused: the client never sends it; the next line is a command.
        let mut c = streaming();
        assert!(matches!(
            all(&mut c, b"a APPEND X {12}\r\n")[..],
            [Frame::AppendHead {
                synchronizing: true,
                ..
            }]
        ));
        c.stream_decided(false);
        assert_eq!(all(&mut c, b"b NOOP\r\n"), vec![cmd(b"b NOOP\r\n")]);
    }

    #[test]
    fn sync_literal_asks_for_continuation() {
        let mut c = small();
        assert_eq!(
            all(&mut c, b"a LOGIN {5}\r\nalice pw\r\n"),
            vec![Frame::Continue, cmd(b"a LOGIN {5}\r\nalice pw\r\n")]
        );
    }

    #[test]
    fn non_sync_literal_needs_no_continuation() {
        let mut c = small();
        assert_eq!(
            all(&mut c, b"a LOGIN {5+}\r\nalice {2+}\r\npw\r\nb NOOP\r\n"),
            vec![
                cmd(b"a LOGIN {5+}\r\nalice {2+}\r\npw\r\n"),
                cmd(b"b NOOP\r\n")
            ]
        );
    }

    #[test]
    fn oversized_sync_literal_is_refused_before_any_octet() {
        let mut c = small();
        assert_eq!(
            all(&mut c, b"a APPEND INBOX {11}\r\nb NOOP\r\n"),
            vec![
                Frame::Rejected {
                    tag: Some("a".into()),
                    reason: Rejection::LiteralTooBig {
                        size: 11,
                        append: true
                    }
                },
                cmd(b"b NOOP\r\n")
            ]
        );
    }

    #[test]
    fn oversized_non_sync_literal_is_skipped() {
        let mut c = small();
        let mut input = b"a LOGIN {20+}\r\n".to_vec();
        input.extend_from_slice(&[b'x'; 20]);
        input.extend_from_slice(b" rest\r\nb NOOP\r\n");
        let frames = all(&mut c, &input);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1], cmd(b"b NOOP\r\n"));
    }

    #[test]
    fn overlong_line_is_rejected_with_its_tag_and_the_session_goes_on() {
        let mut c = small();
        let mut input = b"t1 NOOP ".to_vec();
        input.extend_from_slice(&[b'x'; 100]);
        input.extend_from_slice(b"\r\nt2 NOOP\r\n");
        assert_eq!(
            all(&mut c, &input),
            vec![
                Frame::Rejected {
                    tag: Some("t1".into()),
                    reason: Rejection::LineTooLong
                },
                cmd(b"t2 NOOP\r\n")
            ]
        );
    }

    #[test]
    fn line_one_over_the_limit_is_rejected_and_a_line_at_the_limit_is_not() {
        let mut c = small();
        let mut input = b"t1 ".to_vec();
        input.extend_from_slice(&[b'x'; 62]); // 65 octets: one over
        input.extend_from_slice(b"\r\nt2 ");
        input.extend_from_slice(&[b'y'; 61]); // 64 octets: at the limit
        input.extend_from_slice(b"\r\n");
        let frames = all(&mut c, &input);
        assert_eq!(
            frames[0],
            Frame::Rejected {
                tag: Some("t1".into()),
                reason: Rejection::LineTooLong
            }
        );
        assert!(matches!(&frames[1], Frame::Command(b) if b.starts_with(b"t2 ")));
        assert_eq!(frames.len(), 2);
    }

    #[test]
    fn command_over_total_limit_is_unframeable() {
        let mut c = small();
        let mut buf = BytesMut::new();
        for _ in 0..30 {
            buf.extend_from_slice(b"a {10+}\r\n0123456789");
        }
        let mut err = false;
        for _ in 0..100 {
            match c.decode(&mut buf) {
                Err(FrameError::Unframeable(_)) => {
                    err = true;
                    break;
                }
                Ok(None) => break,
                _ => {}
            }
        }
        assert!(err);
    }

    #[test]
    fn same_frames_whatever_the_chunking() {
        let input = b"a LOGIN {5}\r\nalice {2+}\r\npw\r\nb SELECT INBOX\r\nc FETCH 1 BODY[]\r\n";
        let mut whole = small();
        let expected = all(&mut whole, input);
        for chunk in [1, 2, 4, 8, 16, 512] {
            let mut c = small();
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for piece in input.chunks(chunk) {
                buf.extend_from_slice(piece);
                while let Some(f) = c.decode(&mut buf).unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(got, expected, "chunk {chunk}");
        }
    }
}
