//! Commands as a client writes them (RFC 3501 §6, §9): the other direction of
//! [`crate::parse`], used by the small client ([`crate::client`]), the benchmarks and the
//! encode∘parse round-trip tests. Arguments go as atoms where they can, else quoted, else
//! as non-synchronizing literals (RFC 7888).

use crate::command::{
    AppendData, AppendMessage, CatPart, Command, CommandBody, FetchAttr, SearchKey, Section,
    SectionText, SeqNum, SequenceSet, StoreMode,
};
use crate::value::{is_quotable, write_literal, write_literal8, write_string};

/// `SP append-message` (RFC 3502): flags, date, then the literal or the CATENATE parts
/// (RFC 4469 §5). Data with NUL goes as a `literal8` (RFC 3516 §4.4).
fn write_append_message(out: &mut Vec<u8>, m: &AppendMessage) {
    let data_literal = |out: &mut Vec<u8>, data: &[u8]| {
        if data.contains(&0) {
            write_literal8(out, data, true);
        } else {
            write_literal(out, data, true);
        }
    };
    if !m.flags.is_empty() {
        out.extend_from_slice(format!(" ({})", m.flags.join(" ")).as_bytes());
    }
    if let Some(d) = m.date {
        out.extend_from_slice(d.format(" \"%d-%b-%Y %H:%M:%S %z\"").to_string().as_bytes());
    }
    out.push(b' ');
    match &m.data {
        // RFC 6855 §4: "A client that sends a message with UTF-8 headers to the server
        // MUST send them using the "UTF8" data extension".
        AppendData::Literal(data) if crate::op::append::HeaderScan::has_eight_bit(data) => {
            out.extend_from_slice(b"UTF8 (");
            write_literal8(out, data, true);
            out.push(b')');
        }
        AppendData::Literal(data) => data_literal(out, data),
        AppendData::Catenate(parts) => {
            out.extend_from_slice(b"CATENATE (");
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                match part {
                    CatPart::Text(data) => {
                        out.extend_from_slice(b"TEXT ");
                        data_literal(out, data);
                    }
                    CatPart::Url(url) => {
                        out.extend_from_slice(b"URL ");
                        write_arg(out, url.as_bytes());
                    }
                }
            }
            out.push(b')');
        }
    }
}

/// A sequence set as written in a command or an `ESEARCH ALL` (`1:3,5`, `$`).
pub fn write_set(out: &mut Vec<u8>, set: &SequenceSet) {
    for (i, &(a, b)) in set.0.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_seq(out, a);
        if a != b {
            out.push(b':');
            write_seq(out, b);
        }
    }
}

fn write_seq(out: &mut Vec<u8>, n: SeqNum) {
    match n {
        SeqNum::Value(n) => out.extend_from_slice(n.to_string().as_bytes()),
        SeqNum::Star => out.push(b'*'),
        SeqNum::Saved => out.push(b'$'),
    }
}

/// A command argument string: atom when possible, else quoted, else a non-synchronizing
/// literal (RFC 7888), which a LITERAL+ server takes without a round trip.
fn write_arg(out: &mut Vec<u8>, s: &[u8]) {
    if !s.is_empty()
        && s.iter()
            .all(|&b| crate::parse::is_atom_char(b) || b == b']')
        && !s.eq_ignore_ascii_case(b"NIL")
    {
        out.extend_from_slice(s);
    } else if is_quotable(s) {
        write_string(out, s);
    } else {
        write_literal(out, s, true);
    }
}

/// A string argument where the grammar allows no atom (`string`).
fn write_string_arg(out: &mut Vec<u8>, s: &[u8]) {
    if is_quotable(s) {
        write_string(out, s);
    } else {
        write_literal(out, s, true);
    }
}

/// `(a b c)`: `items` written one by one, a space between each.
fn write_list<T>(out: &mut Vec<u8>, items: &[T], mut write: impl FnMut(&mut Vec<u8>, &T)) {
    out.push(b'(');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        write(out, item);
    }
    out.push(b')');
}

/// Fetch attributes as a parenthesized list, `(UID BODY[HEADER])`.
fn write_fetch_list(out: &mut Vec<u8>, atts: &[FetchAttr]) {
    write_list(out, atts, |out, a| write_fetch_attr(out, a, true));
}

/// A section specifier, `[1.2.HEADER.FIELDS (A B)]` (RFC 3501 §6.4.5), as in a command
/// and in the FETCH response that answers it.
pub fn write_section(out: &mut Vec<u8>, s: &Section) {
    out.push(b'[');
    let parts: Vec<String> = s.part.iter().map(|p| p.to_string()).collect();
    out.extend_from_slice(parts.join(".").as_bytes());
    if let Some(text) = &s.text {
        if !s.part.is_empty() {
            out.push(b'.');
        }
        let list = |out: &mut Vec<u8>, names: &[String]| {
            out.push(b' ');
            write_list(out, names, |out, n| write_arg(out, n.as_bytes()));
        };
        match text {
            SectionText::Header => out.extend_from_slice(b"HEADER"),
            SectionText::Text => out.extend_from_slice(b"TEXT"),
            SectionText::Mime => out.extend_from_slice(b"MIME"),
            SectionText::HeaderFields(n) => {
                out.extend_from_slice(b"HEADER.FIELDS");
                list(out, n);
            }
            SectionText::HeaderFieldsNot(n) => {
                out.extend_from_slice(b"HEADER.FIELDS.NOT");
                list(out, n);
            }
        }
    }
    out.push(b']');
}

/// The wire name of a fetch attribute (used in requests and in FETCH responses).
pub fn write_fetch_attr(out: &mut Vec<u8>, a: &FetchAttr, with_partial: bool) {
    match a {
        FetchAttr::Flags => out.extend_from_slice(b"FLAGS"),
        FetchAttr::InternalDate => out.extend_from_slice(b"INTERNALDATE"),
        FetchAttr::Rfc822Size => out.extend_from_slice(b"RFC822.SIZE"),
        FetchAttr::Envelope => out.extend_from_slice(b"ENVELOPE"),
        FetchAttr::BodyStructure => out.extend_from_slice(b"BODYSTRUCTURE"),
        FetchAttr::Body => out.extend_from_slice(b"BODY"),
        FetchAttr::Rfc822 => out.extend_from_slice(b"RFC822"),
        FetchAttr::Rfc822Header => out.extend_from_slice(b"RFC822.HEADER"),
        FetchAttr::Rfc822Text => out.extend_from_slice(b"RFC822.TEXT"),
        FetchAttr::Uid => out.extend_from_slice(b"UID"),
        FetchAttr::ModSeq => out.extend_from_slice(b"MODSEQ"),
        FetchAttr::Binary {
            part,
            partial,
            peek,
        } => {
            out.extend_from_slice(if *peek { b"BINARY.PEEK" } else { b"BINARY" });
            write_section_binary(out, part);
            if let Some((origin, count)) = partial {
                if with_partial {
                    out.extend_from_slice(format!("<{origin}.{count}>").as_bytes());
                } else {
                    out.extend_from_slice(format!("<{origin}>").as_bytes());
                }
            }
        }
        FetchAttr::BinarySize(part) => {
            out.extend_from_slice(b"BINARY.SIZE");
            write_section_binary(out, part);
        }
        FetchAttr::BodySection {
            section,
            partial,
            peek,
        } => {
            out.extend_from_slice(if *peek { b"BODY.PEEK" } else { b"BODY" });
            write_section(out, section);
            if let Some((origin, count)) = partial {
                if with_partial {
                    out.extend_from_slice(format!("<{origin}.{count}>").as_bytes());
                } else {
                    out.extend_from_slice(format!("<{origin}>").as_bytes());
                }
            }
        }
    }
}

/// `section-binary = "[" [section-part] "]"` (RFC 3516 §7).
pub fn write_section_binary(out: &mut Vec<u8>, part: &[u32]) {
    let part: Vec<String> = part.iter().map(u32::to_string).collect();
    out.extend_from_slice(format!("[{}]", part.join(".")).as_bytes());
}

fn write_date(out: &mut Vec<u8>, d: chrono::NaiveDate) {
    out.extend_from_slice(d.format("%-d-%b-%Y").to_string().as_bytes());
}

fn write_search_key(out: &mut Vec<u8>, k: &SearchKey) {
    use SearchKey as K;
    let mut word = |w: &str| out.extend_from_slice(w.as_bytes());
    match k {
        K::All => word("ALL"),
        K::Answered => word("ANSWERED"),
        K::Deleted => word("DELETED"),
        K::Draft => word("DRAFT"),
        K::Flagged => word("FLAGGED"),
        K::New => word("NEW"),
        K::Old => word("OLD"),
        K::Recent => word("RECENT"),
        K::Seen => word("SEEN"),
        K::Unanswered => word("UNANSWERED"),
        K::Undeleted => word("UNDELETED"),
        K::Undraft => word("UNDRAFT"),
        K::Unflagged => word("UNFLAGGED"),
        K::Unseen => word("UNSEEN"),
        K::Bcc(s) | K::Body(s) | K::Cc(s) | K::From(s) | K::Subject(s) | K::Text(s) | K::To(s) => {
            let name = match k {
                K::Bcc(_) => "BCC ",
                K::Body(_) => "BODY ",
                K::Cc(_) => "CC ",
                K::From(_) => "FROM ",
                K::Subject(_) => "SUBJECT ",
                K::Text(_) => "TEXT ",
                _ => "TO ",
            };
            out.extend_from_slice(name.as_bytes());
            write_arg(out, s);
        }
        K::Before(d)
        | K::On(d)
        | K::Since(d)
        | K::SentBefore(d)
        | K::SentOn(d)
        | K::SentSince(d) => {
            let name = match k {
                K::Before(_) => "BEFORE ",
                K::On(_) => "ON ",
                K::Since(_) => "SINCE ",
                K::SentBefore(_) => "SENTBEFORE ",
                K::SentOn(_) => "SENTON ",
                _ => "SENTSINCE ",
            };
            out.extend_from_slice(name.as_bytes());
            write_date(out, *d);
        }
        K::Keyword(f) => {
            out.extend_from_slice(b"KEYWORD ");
            out.extend_from_slice(f.as_bytes());
        }
        K::Unkeyword(f) => {
            out.extend_from_slice(b"UNKEYWORD ");
            out.extend_from_slice(f.as_bytes());
        }
        K::Larger(n) => out.extend_from_slice(format!("LARGER {n}").as_bytes()),
        K::Smaller(n) => out.extend_from_slice(format!("SMALLER {n}").as_bytes()),
        K::Older(n) => out.extend_from_slice(format!("OLDER {n}").as_bytes()),
        K::Younger(n) => out.extend_from_slice(format!("YOUNGER {n}").as_bytes()),
        K::ModSeq(n) => out.extend_from_slice(format!("MODSEQ {n}").as_bytes()),
        K::Uid(set) => {
            out.extend_from_slice(b"UID ");
            write_set(out, set);
        }
        K::SequenceSet(set) => write_set(out, set),
        K::Header(f, v) => {
            out.extend_from_slice(b"HEADER ");
            write_arg(out, f.as_bytes());
            out.push(b' ');
            write_arg(out, v);
        }
        K::Not(k) => {
            out.extend_from_slice(b"NOT ");
            write_search_key(out, k);
        }
        K::Or(a, b) => {
            out.extend_from_slice(b"OR ");
            write_search_key(out, a);
            out.push(b' ');
            write_search_key(out, b);
        }
        K::And(keys) => {
            out.push(b'(');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_search_key(out, k);
            }
            out.push(b')');
        }
    }
}

/// ` RETURN (...)`: the result options of SEARCH (RFC 4731, RFC 5182) and SORT (RFC
/// 5267 §3), and CONTEXT's (RFC 5267 §4).
fn write_return(out: &mut Vec<u8>, r: &crate::command::SearchReturn) {
    let mut opts: Vec<String> = [
        (r.min, "MIN"),
        (r.max, "MAX"),
        (r.all, "ALL"),
        (r.count, "COUNT"),
        (r.save, "SAVE"),
        (r.update && r.update_fetch.is_empty(), "UPDATE"),
        (r.context, "CONTEXT"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| (*name).to_owned())
    .collect();
    opts.extend(r.partial.map(|(a, b)| format!("PARTIAL {a}:{b}")));
    if r.update && !r.update_fetch.is_empty() {
        // RFC 5465 §8: `modifier-update = "UPDATE" ["(" fetch-att *(SP fetch-att) ")"]`.
        let mut atts = b"UPDATE ".to_vec();
        write_fetch_list(&mut atts, &r.update_fetch);
        opts.push(String::from_utf8_lossy(&atts).into_owned());
    }
    out.extend_from_slice(format!(" RETURN ({})", opts.join(" ")).as_bytes());
}

/// `NOTIFY SET [STATUS] event-groups` (RFC 5465 §8).
fn write_notify_set(out: &mut Vec<u8>, set: &crate::command::NotifySet) {
    use crate::command::{MailboxFilter as F, NotifyEvent};
    out.extend_from_slice(b"NOTIFY SET");
    if set.status {
        out.extend_from_slice(b" STATUS");
    }
    let names = |out: &mut Vec<u8>, names: &[String]| {
        write_list(out, names, |out, n| write_arg(out, n.as_bytes()));
    };
    for group in &set.groups {
        out.extend_from_slice(b" (");
        match &group.filter {
            F::Selected => out.extend_from_slice(b"SELECTED"),
            F::SelectedDelayed => out.extend_from_slice(b"SELECTED-DELAYED"),
            F::Inboxes => out.extend_from_slice(b"INBOXES"),
            F::Personal => out.extend_from_slice(b"PERSONAL"),
            F::Subscribed => out.extend_from_slice(b"SUBSCRIBED"),
            F::Subtree(n) => {
                out.extend_from_slice(b"SUBTREE ");
                names(out, n);
            }
            F::Mailboxes(n) => {
                out.extend_from_slice(b"MAILBOXES ");
                names(out, n);
            }
        }
        if group.events.is_empty() {
            out.extend_from_slice(b" NONE)");
            continue;
        }
        out.extend_from_slice(b" (");
        for (i, event) in group.events.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(event.name().as_bytes());
            if let NotifyEvent::MessageNew(atts) = event
                && !atts.is_empty()
            {
                out.push(b' ');
                write_fetch_list(out, atts);
            }
        }
        out.extend_from_slice(b"))");
    }
}

/// Encodes a command as a client sends it, CRLF included; literals are non-synchronizing.
pub fn encode_command(cmd: &Command) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(cmd.tag.as_bytes());
    out.push(b' ');
    let uid_prefix = |out: &mut Vec<u8>, uid: bool| {
        if uid {
            out.extend_from_slice(b"UID ");
        }
    };
    match &cmd.body {
        CommandBody::Login { user, password } => {
            out.extend_from_slice(b"LOGIN ");
            write_arg(&mut out, user.as_bytes());
            out.push(b' ');
            write_arg(&mut out, password.expose().as_bytes());
        }
        CommandBody::Authenticate { mechanism, initial } => {
            out.extend_from_slice(b"AUTHENTICATE ");
            out.extend_from_slice(mechanism.as_bytes());
            if let Some(ir) = initial {
                out.push(b' ');
                out.extend_from_slice(ir.as_bytes());
            }
        }
        CommandBody::Id(params) => {
            out.extend_from_slice(b"ID ");
            match params {
                None => out.extend_from_slice(b"NIL"),
                Some(list) => {
                    out.push(b'(');
                    for (i, (k, v)) in list.iter().enumerate() {
                        if i > 0 {
                            out.push(b' ');
                        }
                        write_string_arg(&mut out, k.as_bytes());
                        out.push(b' ');
                        match v {
                            Some(v) => write_string_arg(&mut out, v.as_bytes()),
                            None => out.extend_from_slice(b"NIL"),
                        }
                    }
                    out.push(b')');
                }
            }
        }
        CommandBody::Enable(caps) => {
            out.extend_from_slice(b"ENABLE");
            for c in caps {
                out.push(b' ');
                out.extend_from_slice(c.as_bytes());
            }
        }
        CommandBody::List { reference, pattern } | CommandBody::Lsub { reference, pattern } => {
            out.extend_from_slice(cmd.body.name().as_bytes());
            out.push(b' ');
            write_string_arg(&mut out, reference.as_bytes());
            out.push(b' ');
            write_string_arg(&mut out, pattern.as_bytes());
        }
        CommandBody::ListExtended(l) => {
            out.extend_from_slice(b"LIST ");
            let select: Vec<&str> = [
                (l.subscribed, "SUBSCRIBED"),
                (l.remote, "REMOTE"),
                (l.special_use, "SPECIAL-USE"),
                (l.recursive_match, "RECURSIVEMATCH"),
            ]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
            out.extend_from_slice(format!("({}) ", select.join(" ")).as_bytes());
            write_string_arg(&mut out, l.reference.as_bytes());
            out.extend_from_slice(b" (");
            for (i, p) in l.patterns.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_string_arg(&mut out, p.as_bytes());
            }
            out.extend_from_slice(b") RETURN (");
            let mut ret: Vec<String> = [
                (l.return_subscribed, "SUBSCRIBED"),
                (l.return_children, "CHILDREN"),
                (l.return_special_use, "SPECIAL-USE"),
            ]
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| name.to_owned())
            .collect();
            if let Some(items) = &l.return_status {
                let items: Vec<&str> = items.iter().map(|i| i.as_str()).collect();
                ret.push(format!("STATUS ({})", items.join(" ")));
            }
            out.extend_from_slice(format!("{})", ret.join(" ")).as_bytes());
        }
        CommandBody::CreateSpecialUse { mailbox, uses } => {
            out.extend_from_slice(b"CREATE ");
            write_string_arg(&mut out, mailbox.as_bytes());
            out.extend_from_slice(format!(" (USE ({}))", uses.join(" ")).as_bytes());
        }
        CommandBody::Subscribe(m)
        | CommandBody::Unsubscribe(m)
        | CommandBody::Create(m)
        | CommandBody::Delete(m) => {
            out.extend_from_slice(cmd.body.name().as_bytes());
            out.push(b' ');
            write_arg(&mut out, m.as_bytes());
        }
        CommandBody::Select { mailbox, params } | CommandBody::Examine { mailbox, params } => {
            out.extend_from_slice(cmd.body.name().as_bytes());
            out.push(b' ');
            write_arg(&mut out, mailbox.as_bytes());
            let mut list: Vec<String> = Vec::new();
            if params.condstore {
                list.push("CONDSTORE".into());
            }
            if let Some(q) = &params.qresync {
                let mut text = format!("QRESYNC ({} {}", q.uid_validity, q.modseq);
                let set = |s: &SequenceSet| {
                    let mut b = Vec::new();
                    write_set(&mut b, s);
                    String::from_utf8_lossy(&b).into_owned()
                };
                if let Some(known) = &q.known_uids {
                    text.push(' ');
                    text.push_str(&set(known));
                }
                if let Some((seqs, uids)) = &q.seq_match {
                    text.push_str(&format!(" ({} {})", set(seqs), set(uids)));
                }
                text.push(')');
                list.push(text);
            }
            if !list.is_empty() {
                out.extend_from_slice(format!(" ({})", list.join(" ")).as_bytes());
            }
        }
        CommandBody::Rename { from, to } => {
            out.extend_from_slice(b"RENAME ");
            write_arg(&mut out, from.as_bytes());
            out.push(b' ');
            write_arg(&mut out, to.as_bytes());
        }
        CommandBody::Status { mailbox, items } => {
            out.extend_from_slice(b"STATUS ");
            write_arg(&mut out, mailbox.as_bytes());
            let names: Vec<&str> = items.iter().map(|i| i.as_str()).collect();
            out.extend_from_slice(format!(" ({})", names.join(" ")).as_bytes());
        }
        CommandBody::Append { mailbox, messages } => {
            out.extend_from_slice(b"APPEND ");
            write_arg(&mut out, mailbox.as_bytes());
            for m in messages {
                write_append_message(&mut out, m);
            }
        }
        CommandBody::Search {
            uid,
            ret,
            charset,
            criteria,
        } => {
            uid_prefix(&mut out, *uid);
            out.extend_from_slice(b"SEARCH");
            if let Some(r) = ret {
                write_return(&mut out, r);
            }
            if let Some(c) = charset {
                out.extend_from_slice(b" CHARSET ");
                write_arg(&mut out, c.as_bytes());
            }
            for k in criteria {
                out.push(b' ');
                write_search_key(&mut out, k);
            }
        }
        CommandBody::Fetch {
            uid,
            set,
            items,
            changed_since,
            vanished,
        } => {
            uid_prefix(&mut out, *uid);
            out.extend_from_slice(b"FETCH ");
            write_set(&mut out, set);
            out.push(b' ');
            write_fetch_list(&mut out, items);
            let mut modifiers: Vec<String> = Vec::new();
            if let Some(n) = changed_since {
                modifiers.push(format!("CHANGEDSINCE {n}"));
            }
            if *vanished {
                modifiers.push("VANISHED".into());
            }
            if !modifiers.is_empty() {
                out.extend_from_slice(format!(" ({})", modifiers.join(" ")).as_bytes());
            }
        }
        CommandBody::Store {
            uid,
            set,
            mode,
            silent,
            flags,
            unchanged_since,
        } => {
            uid_prefix(&mut out, *uid);
            out.extend_from_slice(b"STORE ");
            write_set(&mut out, set);
            if let Some(n) = unchanged_since {
                out.extend_from_slice(format!(" (UNCHANGEDSINCE {n})").as_bytes());
            }
            out.push(b' ');
            out.extend_from_slice(match mode {
                StoreMode::Replace => b"FLAGS".as_slice(),
                StoreMode::Add => b"+FLAGS",
                StoreMode::Remove => b"-FLAGS",
            });
            if *silent {
                out.extend_from_slice(b".SILENT");
            }
            out.extend_from_slice(format!(" ({})", flags.join(" ")).as_bytes());
        }
        CommandBody::Copy { uid, set, mailbox } | CommandBody::Move { uid, set, mailbox } => {
            uid_prefix(&mut out, *uid);
            out.extend_from_slice(cmd.body.name().as_bytes());
            out.push(b' ');
            write_set(&mut out, set);
            out.push(b' ');
            write_arg(&mut out, mailbox.as_bytes());
        }
        CommandBody::Notify(None) => out.extend_from_slice(b"NOTIFY NONE"),
        CommandBody::Notify(Some(set)) => write_notify_set(&mut out, set),
        CommandBody::UidExpunge(set) => {
            out.extend_from_slice(b"UID EXPUNGE ");
            write_set(&mut out, set);
        }
        CommandBody::Sort {
            uid,
            ret,
            criteria,
            charset,
            keys,
        } => {
            // RFC 5256 §5, RFC 5267 §3.
            uid_prefix(&mut out, *uid);
            out.extend_from_slice(b"SORT");
            if let Some(r) = ret {
                write_return(&mut out, r);
            }
            let names: Vec<String> = criteria
                .iter()
                .map(|c| {
                    let reverse = if c.reverse { "REVERSE " } else { "" };
                    format!("{reverse}{}", c.key.as_str())
                })
                .collect();
            out.extend_from_slice(format!(" ({}) ", names.join(" ")).as_bytes());
            write_arg(&mut out, charset.as_bytes());
            for k in keys {
                out.push(b' ');
                write_search_key(&mut out, k);
            }
        }
        CommandBody::Thread {
            uid,
            algorithm,
            charset,
            keys,
        } => {
            // RFC 5256 §5.
            uid_prefix(&mut out, *uid);
            out.extend_from_slice(format!("THREAD {} ", algorithm.as_str()).as_bytes());
            write_arg(&mut out, charset.as_bytes());
            for k in keys {
                out.push(b' ');
                write_search_key(&mut out, k);
            }
        }
        CommandBody::CancelUpdate(tags) => {
            out.extend_from_slice(b"CANCELUPDATE");
            for t in tags {
                out.push(b' ');
                write_string(&mut out, t.as_bytes());
            }
        }
        CommandBody::Compress(crate::command::Compression::Deflate) => {
            out.extend_from_slice(b"COMPRESS DEFLATE")
        }
        CommandBody::Capability
        | CommandBody::StartTls
        | CommandBody::Noop
        | CommandBody::Logout
        | CommandBody::Namespace
        | CommandBody::Check
        | CommandBody::Close
        | CommandBody::Unselect
        | CommandBody::Expunge
        | CommandBody::Idle => out.extend_from_slice(cmd.body.name().as_bytes()),
    }
    out.extend_from_slice(b"\r\n");
    out
}
