//! STORE and UID STORE (RFC 3501 §6.4.6, §6.4.8).
//!
//! `FLAGS` replaces, `+FLAGS` adds, `-FLAGS` removes; each changed message is reported
//! as an untagged FETCH with its new flags (with its UID for UID STORE), unless
//! `.SILENT`. Keywords are allowed (PERMANENTFLAGS ends in `\*`), any atom, `NIL`
//! included; one new to the mailbox is first announced with `FLAGS` and `PERMANENTFLAGS`
//! (RFC 3501 §7.2.6). `\Recent` belongs to the server and an unknown system flag is a
//! client error: either refuses the whole command, and nothing changes.

use std::collections::BTreeSet;

use yubin_store::{Flag, FlagOp, Flags};

use crate::capability::Enabled;
use crate::command::{SequenceSet, StoreMode};
use crate::response::{Code, Completion, Data, FetchItem, Responses, Status};
use crate::selected::Selected;

/// Why a flag list was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFlag {
    /// The response code to send with `BAD`.
    pub code: Code,
    /// The text to send.
    pub text: String,
}

impl BadFlag {
    /// `BAD [code] text`: the flag list is the client's mistake.
    pub fn completion(self) -> Completion {
        Completion {
            status: Status::Bad,
            code: Some(self.code),
            text: self.text.into(),
        }
    }
}

/// Turns a command's flag list into the store's flags: the five system flags (any case)
/// and keywords. `\Recent` and other backslash flags are refused (RFC 3501 §2.3.2).
pub fn parse_flags(list: &[String]) -> Result<Flags, BadFlag> {
    let mut flags = Flags::new();
    for f in list {
        match Flag::from_imap(f) {
            Some(flag) => {
                flags.insert(flag);
            }
            None if f.eq_ignore_ascii_case("\\Recent") => {
                return Err(BadFlag {
                    code: Code::Cannot,
                    text: "\\Recent is set by the server only".into(),
                });
            }
            None => {
                return Err(BadFlag {
                    code: Code::ClientBug,
                    text: format!("Unknown system flag {f}"),
                });
            }
        }
    }
    Ok(flags)
}

/// The parsed arguments of a STORE.
#[derive(Debug, Clone, Copy)]
pub struct StoreArgs<'a> {
    /// UID STORE.
    pub uid: bool,
    /// Which messages.
    pub set: &'a SequenceSet,
    /// Replace, add or remove.
    pub mode: StoreMode,
    /// `.SILENT`.
    pub silent: bool,
    /// The flags as sent.
    pub flags: &'a [String],
    /// `UNCHANGEDSINCE` (RFC 7162 §3.1.3).
    pub unchanged_since: Option<u64>,
}

/// Answers a STORE; the snapshot takes the new flags, so the change is not reported twice.
///
/// With CONDSTORE on (RFC 7162 §3.1.3), each changed message's FETCH carries its UID and
/// new MODSEQ, and with `.SILENT` that FETCH still goes out, with the MODSEQ alone (the
/// RFC's example 8); messages a conditional STORE left alone are named in `[MODIFIED]`
/// (sequence numbers, or UIDs for UID STORE) and nothing about them changes.
pub fn store(
    sel: &mut Selected,
    args: StoreArgs<'_>,
    enabled: Enabled,
    out: &mut Responses,
) -> Completion {
    let command = if args.uid { "UID STORE" } else { "STORE" };
    let flags = match parse_flags(args.flags) {
        Ok(f) => f,
        Err(bad) => return bad.completion(),
    };
    if sel.read_only {
        return Completion::no(Code::ReadOnly, "Mailbox is read-only (EXAMINE)");
    }
    let positions = match super::resolve(sel, args.set, args.uid) {
        Ok(p) => p,
        Err(why) => return Completion::bad(why),
    };
    let op = match args.mode {
        StoreMode::Replace => FlagOp::Replace,
        StoreMode::Add => FlagOp::Add,
        StoreMode::Remove => FlagOp::Remove,
    };
    let uids: Vec<u32> = positions.iter().map(|&p| sel.uid(p)).collect();
    let changed =
        match sel
            .mailbox
            .set_flags_unchanged_since(&uids, op, &flags, args.unchanged_since)
        {
            Ok(c) => c,
            Err(e) => return Completion::store_failed(command, &e),
        };
    // A keyword new to the client is announced before a FETCH shows it (RFC 3501
    // §7.2.6), also with .SILENT: the client learns of it at once either way.
    let keywords: BTreeSet<&str> = changed
        .flags
        .iter()
        .flat_map(|(_, new)| new.iter())
        .filter_map(|f| match f {
            Flag::Keyword(k) => Some(k.as_str()),
            _ => None,
        })
        .collect();
    sel.announce(keywords, out);
    // This response reports the new flags; the next report need not repeat them.
    sel.reported_own(&changed);
    // The modseqs the messages have now, for CONDSTORE's MODSEQ items.
    let now = enabled
        .condstore()
        .then(|| sel.mailbox.view().ok())
        .flatten();
    // Both lists ascend by UID. A UID missing from `changed` was expunged by another
    // session (its EXPUNGE comes with a later command, RFC 3501 §7.4.1), or was left
    // alone by UNCHANGEDSINCE.
    let mut results = changed.flags.into_iter().peekable();
    let mut modified = Vec::new();
    for &pos in &positions {
        let uid = sel.uid(pos);
        if changed.modified.binary_search(&uid).is_ok() {
            modified.push(if args.uid { uid } else { pos as u32 + 1 });
            continue;
        }
        let Some((_, new)) = results.next_if(|(u, _)| *u == uid) else {
            continue;
        };
        let modseq = now
            .as_ref()
            .and_then(|v| v.modseq(uid))
            .map(FetchItem::ModSeq);
        if args.silent && modseq.is_none() {
            continue;
        }
        let mut items = Vec::with_capacity(3);
        if args.uid || modseq.is_some() {
            items.push(FetchItem::Uid(uid));
        }
        if !args.silent {
            items.push(FetchItem::Flags(sel.flag_list(uid, &new)));
        }
        items.extend(modseq);
        out.data(Data::Fetch {
            seq: pos as u32 + 1,
            items,
        });
    }
    if modified.is_empty() {
        Completion::done(command)
    } else {
        // RFC 7162 §3.1.3: the tagged OK names what was left alone.
        let set = SequenceSet::from_sorted(modified);
        Completion::ok("Conditional STORE failed").with_code(Code::Modified(set))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_system_any_case_and_keywords() {
        let f = parse_flags(&["\\SEEN".into(), "$Forwarded".into()]).unwrap();
        assert!(f.contains(&Flag::Seen) && f.contains(&Flag::Keyword("$Forwarded".into())));
        assert_eq!(
            parse_flags(&["\\Recent".into()]).unwrap_err().code,
            Code::Cannot
        );
        assert_eq!(
            parse_flags(&["\\Important".into()]).unwrap_err().code,
            Code::ClientBug
        );
    }
}
