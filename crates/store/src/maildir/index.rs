//! The index of one Maildir mailbox: a snapshot (`yubin-index`) plus an append-only change
//! log (`yubin-index.log`).
//!
//! ```text
//! yubin-index v1 generation=3 uidvalidity=1732460000 uidnext=43 recent=40 modseq=97 names=97 new=… cur=…
//! m 1 12 325 1732460000 1732460000.M123P42Q0.host,S=325,W=325 \Seen
//! m 42 97 1065592 1732460100 1732460100.M1P42Q1.host,S=1065592,W=1065592 \Flagged $Work
//! x 7 55
//! ```
//!
//! ```text
//! yubin-index-log v1 generation=3
//! a 43 98 512 1732460200 1732460200.M5P42Q2.host,S=512,W=512
//! h uidvalidity=1732460000 uidnext=44 recent=40 modseq=98 names=98 new=… cur=…
//! f 1 99 \Seen \Answered
//! x 2 99
//! h uidvalidity=1732460000 uidnext=44 recent=40 modseq=99 names=97 new=… cur=…
//! ```
//!
//! Message lines: UID, modseq, size in wire form, internal date (seconds), the file's base
//! name (the part before `:2,`, which flag changes do not touch), then the flags. `x`
//! lines are expunged UIDs with the modseq of their expunge (QRESYNC's VANISHED). Names and
//! keywords are percent-escaped where they hold a space, `%` or a control character, so
//! every record is one line whatever another program named its file.
//!
//! The log is written in groups, each ended by an `h` line carrying the header after it;
//! a group is one `write` followed by one `fdatasync` when it must be durable. A reader
//! applies complete groups only, so a crash in the middle of a write loses exactly the
//! group that was not acknowledged. `names` is the modseq up to which file names show the
//! flags; `new` and `cur` are the directories' mtimes after this process's own changes,
//! so a later look can tell whether anyone else touched them.
//!
//! Now and then the log is folded into a new snapshot (generation + 1), which is written
//! whole and renamed into place; then a new empty log of that generation replaces the old
//! one. A log whose generation is not the snapshot's is stale and ignored.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{TimeZone, Utc};

use crate::backend::Header;
use crate::error::IoContext;
use crate::{Flag, Flags, MessageMeta, Result};

/// The snapshot's file name.
pub(crate) const SNAPSHOT: &str = "yubin-index";
/// The log's file name.
pub(crate) const LOG: &str = "yubin-index.log";

const SNAPSHOT_MAGIC: &str = "yubin-index v1";
const LOG_MAGIC: &str = "yubin-index-log v1";

/// A directory's modification time in nanoseconds, or 0 if unknown.
pub(crate) type Stamp = i128;

/// What a header line carries besides the store's [`Header`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct IndexHeader {
    pub header: Header,
    /// File names show the flags of every change up to this modseq.
    pub names: u64,
    /// mtimes of `new/` and `cur/` after the writer's own changes.
    pub new: Stamp,
    pub cur: Stamp,
}

/// Where a message's file is: its base name (fixed for its life), `new/` or `cur/`, and
/// the letters after `:2,`. Kept in the index so a restarted process finds every file
/// without listing the directories.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Place {
    pub base: std::sync::Arc<str>,
    pub in_new: bool,
    pub info: Option<Box<str>>,
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    Added {
        meta: MessageMeta,
        place: Place,
    },
    /// A file was renamed to show its flags (no change to the message itself).
    Moved {
        uid: u32,
        place: Place,
    },
    Flags {
        uid: u32,
        modseq: u64,
        flags: Flags,
    },
    Expunged {
        uid: u32,
        modseq: u64,
    },
    End(IndexHeader),
}

/// The snapshot file, parsed.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub generation: u64,
    pub head: IndexHeader,
    pub messages: Vec<(MessageMeta, Place)>,
    pub vanished: Vec<(u32, u64)>,
}

/// Escapes a name or keyword so it is one token.
pub(crate) fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '%' | ' ' => {
                let _ = write!(out, "%{:02X}", c as u32);
            }
            c if c.is_control() && (c as u32) < 0x100 => {
                let _ = write!(out, "%{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
}

fn unescape(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            let hex: String = chars.by_ref().take(2).collect();
            let b = u8::from_str_radix(&hex, 16).ok()?;
            out.push(char::from(b));
        } else {
            out.push(c);
        }
    }
    Some(out)
}

fn push_flags(flags: &Flags, out: &mut String) {
    for f in flags {
        out.push(' ');
        match f {
            Flag::Keyword(k) => escape(k, out),
            system => {
                let _ = write!(out, "{system}");
            }
        }
    }
}

fn parse_flags<'a>(tokens: impl Iterator<Item = &'a str>) -> Option<Flags> {
    let mut flags = Flags::new();
    for t in tokens {
        if t.starts_with('\\') {
            flags.insert(Flag::from_imap(t)?);
        } else {
            flags.insert(Flag::Keyword(unescape(t)?));
        }
    }
    Some(flags)
}

fn date(secs: i64) -> chrono::DateTime<chrono::FixedOffset> {
    Utc.timestamp_opt(secs, 0)
        .single()
        .unwrap_or_default()
        .fixed_offset()
}

/// `base` then the place token: `n` or `c`, and `:` with the letters if there are any.
fn push_place(place: &Place, out: &mut String) {
    escape(&place.base, out);
    out.push(' ');
    out.push(if place.in_new { 'n' } else { 'c' });
    if let Some(info) = &place.info {
        out.push(':');
        escape(info, out);
    }
}

fn parse_place<'a>(t: &mut impl Iterator<Item = &'a str>) -> Option<Place> {
    // One allocation per name: most need no unescaping.
    let raw = t.next()?;
    let base: std::sync::Arc<str> = if raw.contains('%') {
        unescape(raw)?.into()
    } else {
        raw.into()
    };
    let token = t.next()?;
    let (dir, info) = match token.split_once(':') {
        Some((d, i)) if i.contains('%') => (d, Some(unescape(i)?.into_boxed_str())),
        Some((d, i)) => (d, Some(Box::from(i))),
        None => (token, None),
    };
    let in_new = match dir {
        "n" => true,
        "c" => false,
        _ => return None,
    };
    (!base.is_empty()).then_some(Place { base, in_new, info })
}

fn push_message(tag: &str, meta: &MessageMeta, place: &Place, out: &mut String) {
    let _ = write!(
        out,
        "{tag} {} {} {} {} ",
        meta.uid,
        meta.modseq,
        meta.size,
        meta.internal_date.timestamp()
    );
    push_place(place, out);
    push_flags(&meta.flags, out);
    out.push('\n');
}

fn parse_message(rest: &str) -> Option<(MessageMeta, Place)> {
    let mut t = rest.split(' ');
    let uid = t.next()?.parse().ok()?;
    let modseq = t.next()?.parse().ok()?;
    let size = t.next()?.parse().ok()?;
    let secs: i64 = t.next()?.parse().ok()?;
    let base = parse_place(&mut t)?;
    if uid == 0 {
        return None;
    }
    let flags = parse_flags(t)?;
    Some((
        MessageMeta {
            uid,
            flags,
            internal_date: date(secs),
            size,
            modseq,
        },
        base,
    ))
}

fn push_header(h: &IndexHeader, out: &mut String) {
    let _ = write!(
        out,
        "uidvalidity={} uidnext={} recent={} modseq={} names={} new={} cur={}",
        h.header.uid_validity,
        h.header.uid_next,
        h.header.recent_from,
        h.header.highest_modseq,
        h.names,
        h.new,
        h.cur
    );
}

/// Parses `key=value` fields; unknown keys (a later version's) are ignored.
fn parse_header(fields: &str) -> Option<(IndexHeader, Option<u64>)> {
    let mut h = IndexHeader::default();
    let mut generation = None;
    let (mut validity, mut next) = (None, None);
    for field in fields.split_whitespace() {
        let (key, value) = field.split_once('=')?;
        match key {
            "generation" => generation = value.parse().ok(),
            "uidvalidity" => validity = value.parse().ok(),
            "uidnext" => next = value.parse().ok(),
            "recent" => h.header.recent_from = value.parse().ok()?,
            "modseq" => h.header.highest_modseq = value.parse().ok()?,
            "names" => h.names = value.parse().ok()?,
            "new" => h.new = value.parse().ok()?,
            "cur" => h.cur = value.parse().ok()?,
            _ => {}
        }
    }
    h.header.uid_validity = validity.filter(|&v: &u32| v != 0)?;
    h.header.uid_next = next.filter(|&n: &u32| n != 0)?;
    Some((h, generation))
}

/// Renders one log group: the lines, then the `h` line.
pub(crate) fn render_group(lines: &[Line], out: &mut String) {
    for line in lines {
        match line {
            Line::Added { meta, place } => push_message("a", meta, place, out),
            Line::Moved { uid, place } => {
                let _ = write!(out, "r {uid} ");
                push_place(place, out);
                out.push('\n');
            }
            Line::Flags { uid, modseq, flags } => {
                let _ = write!(out, "f {uid} {modseq}");
                push_flags(flags, out);
                out.push('\n');
            }
            Line::Expunged { uid, modseq } => {
                let _ = writeln!(out, "x {uid} {modseq}");
            }
            Line::End(h) => {
                out.push_str("h ");
                push_header(h, out);
                out.push('\n');
            }
        }
    }
}

/// The first line of a new log.
pub(crate) fn log_preamble(generation: u64) -> String {
    format!("{LOG_MAGIC} generation={generation}\n")
}

/// Parses a log's preamble; its generation.
pub(crate) fn parse_preamble(line: &str) -> Option<u64> {
    let rest = line.strip_prefix(LOG_MAGIC)?.trim();
    rest.strip_prefix("generation=")?.parse().ok()
}

/// Parses complete groups from `text` (which starts at a line boundary). Returns the
/// groups and how many bytes they span; a trailing incomplete group is left out. A line
/// that does not parse is skipped with a warning: a damaged line must not make the
/// mailbox unusable, and the next scan of the files puts right what it described.
pub(crate) fn parse_groups(text: &[u8], where_: &Path) -> (Vec<Vec<Line>>, usize) {
    let mut groups = Vec::new();
    let mut current = Vec::new();
    let mut consumed = 0;
    let mut pos = 0;
    while let Some(nl) = memchr::memchr(b'\n', &text[pos..]) {
        let raw = &text[pos..pos + nl];
        pos += nl + 1;
        let Ok(line) = std::str::from_utf8(raw) else {
            crate::backend::warn(format_args!("{}: a line is not UTF-8", where_.display()));
            continue;
        };
        let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
        let parsed = match tag {
            "a" => parse_message(rest).map(|(meta, place)| Line::Added { meta, place }),
            "r" => {
                let mut t = rest.split(' ');
                (|| {
                    let uid = t.next()?.parse().ok()?;
                    Some(Line::Moved {
                        uid,
                        place: parse_place(&mut t)?,
                    })
                })()
            }
            "f" => {
                let mut t = rest.split(' ').filter(|s| !s.is_empty());
                (|| {
                    let uid = t.next()?.parse().ok()?;
                    let modseq = t.next()?.parse().ok()?;
                    Some(Line::Flags {
                        uid,
                        modseq,
                        flags: parse_flags(t)?,
                    })
                })()
            }
            "x" => {
                let mut t = rest.split(' ');
                (|| {
                    Some(Line::Expunged {
                        uid: t.next()?.parse().ok()?,
                        modseq: t.next()?.parse().ok()?,
                    })
                })()
            }
            "h" => parse_header(rest).map(|(h, _)| Line::End(h)),
            _ => None,
        };
        match parsed {
            Some(Line::End(h)) => {
                current.push(Line::End(h));
                groups.push(std::mem::take(&mut current));
                consumed = pos;
            }
            Some(l) => current.push(l),
            None => crate::backend::warn(format_args!(
                "{}: skipped a line that does not parse: {line:?}",
                where_.display()
            )),
        }
    }
    (groups, consumed)
}

impl Snapshot {
    /// Reads the snapshot of the mailbox in `dir`; `None` if it has none (or an unreadable
    /// one, which the caller rebuilds from the files).
    pub(crate) fn read(dir: &Path) -> Result<Option<Snapshot>> {
        let path = dir.join(SNAPSHOT);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).ctx(|| format!("reading {}", path.display())),
        };
        let parsed = Snapshot::parse(&text);
        if parsed.is_none() {
            crate::backend::warn(format_args!(
                "{}: unreadable; rebuilt from the message files",
                path.display()
            ));
        }
        Ok(parsed)
    }

    fn parse(text: &[u8]) -> Option<Snapshot> {
        let text = std::str::from_utf8(text).ok()?;
        let mut lines = text.lines();
        let first = lines.next()?.strip_prefix(SNAPSHOT_MAGIC)?;
        let (head, generation) = parse_header(first)?;
        let mut snap = Snapshot {
            generation: generation?,
            head,
            ..Snapshot::default()
        };
        let mut last = 0;
        for line in lines {
            if let Some(rest) = line.strip_prefix("m ") {
                let (meta, base) = parse_message(rest)?;
                if meta.uid <= last || meta.uid >= head.header.uid_next {
                    return None;
                }
                last = meta.uid;
                snap.messages.push((meta, base));
            } else if let Some(rest) = line.strip_prefix("x ") {
                let (uid, modseq) = rest.split_once(' ')?;
                snap.vanished
                    .push((uid.parse().ok()?, modseq.parse().ok()?));
            } else {
                return None;
            }
        }
        Some(snap)
    }

    /// The file's text.
    pub(crate) fn render(&self) -> String {
        let mut out = String::with_capacity(128 + self.messages.len() * 96);
        let _ = write!(out, "{SNAPSHOT_MAGIC} generation={} ", self.generation);
        push_header(&self.head, &mut out);
        out.push('\n');
        for (meta, place) in &self.messages {
            push_message("m", meta, place, &mut out);
        }
        for (uid, modseq) in &self.vanished {
            let _ = writeln!(out, "x {uid} {modseq}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(uid: u32, flags: &[Flag]) -> MessageMeta {
        MessageMeta {
            uid,
            flags: flags.iter().cloned().collect(),
            internal_date: date(1_700_000_000),
            size: 10,
            modseq: 5,
        }
    }

    #[test]
    fn groups_round_trip_and_a_torn_tail_is_left_out() {
        let head = IndexHeader {
            header: Header {
                uid_validity: 9,
                uid_next: 3,
                recent_from: 1,
                highest_modseq: 6,
            },
            names: 5,
            new: 1,
            cur: -2,
        };
        let group = vec![
            Line::Added {
                meta: meta(1, &[Flag::Seen, Flag::Keyword("odd word%".into())]),
                place: Place {
                    base: "name with space\nnewline".into(),
                    in_new: false,
                    info: Some("S a".into()),
                },
            },
            Line::Moved {
                uid: 1,
                place: Place {
                    base: "b".into(),
                    in_new: true,
                    info: None,
                },
            },
            Line::Flags {
                uid: 1,
                modseq: 6,
                flags: [Flag::Flagged].into_iter().collect(),
            },
            Line::Expunged { uid: 2, modseq: 6 },
            Line::End(head),
        ];
        let mut text = String::new();
        render_group(&group, &mut text);
        assert_eq!(text.lines().count(), 5, "{text}");
        let whole = text.len();
        text.push_str("f 1 7 \\Seen\nh uidvalidity=9 uidn");
        let (groups, consumed) = parse_groups(text.as_bytes(), Path::new("x"));
        assert_eq!(groups, vec![group]);
        assert_eq!(consumed, whole);
    }

    #[test]
    fn snapshots_round_trip_and_damage_is_refused() {
        let snap = Snapshot {
            generation: 4,
            head: IndexHeader {
                header: Header {
                    uid_validity: 9,
                    uid_next: 8,
                    recent_from: 1,
                    highest_modseq: 6,
                },
                ..IndexHeader::default()
            },
            messages: vec![(
                meta(3, &[Flag::Draft]),
                Place {
                    base: "b".into(),
                    in_new: false,
                    info: Some("D".into()),
                },
            )],
            vanished: vec![(2, 6)],
        };
        let text = snap.render();
        let back = Snapshot::parse(text.as_bytes()).unwrap();
        assert_eq!(back.messages, snap.messages);
        assert_eq!(back.vanished, snap.vanished);
        assert_eq!(back.head, snap.head);
        assert!(Snapshot::parse(b"garbage\n").is_none());
        assert!(Snapshot::parse(format!("{text}m 2 1 1 1 a\n").as_bytes()).is_none());
    }
}
