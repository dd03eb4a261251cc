//! NOTIFY's grammar (RFC 5465 §8).
//!
//! ```text
//! notify          = "NOTIFY" SP (notify-set / notify-none)
//! notify-set      = "SET" [status-indicator] SP event-groups
//! notify-none     = "NONE"
//! status-indicator = SP "STATUS"
//! event-groups    = event-group *(SP event-group)
//! event-group     = "(" filter-mailboxes SP events ")"
//! filter-mailboxes = "selected" / "selected-delayed" / "inboxes" / "personal" /
//!                   "subscribed" / ("subtree" SP one-or-more-mailbox) /
//!                   ("mailboxes" SP one-or-more-mailbox)
//! one-or-more-mailbox = mailbox / "(" mailbox *(SP mailbox) ")"
//! events          = ("(" event *(SP event) ")") / "NONE"
//! event           = ("MessageNew" [SP "(" fetch-att *(SP fetch-att) ")"]) /
//!                   "MessageExpunge" / "FlagChange" / "AnnotationChange" /
//!                   "MailboxName" / "SubscriptionChange" / "MailboxMetadataChange" /
//!                   "ServerMetadataChange" / atom
//! ```
//!
//! This is the syntax only; which combinations make sense (one selected filter, events
//! that go together) is [`crate::op::notify`]'s to judge, with BAD or NO as the RFC says.

use nom::Parser;
use nom::branch::alt;
use nom::bytes::complete::{tag, tag_no_case};
use nom::combinator::{map, opt, value};
use nom::multi::separated_list1;
use nom::sequence::{delimited, preceded};

use super::{Res, atom, fetch_att, list1, mailbox, sp};
use crate::command::{CommandBody, EventGroup, MailboxFilter, NotifyEvent, NotifySet};

/// `notify`'s arguments, after the command name.
pub(super) fn notify(i: &[u8]) -> Res<'_, CommandBody> {
    preceded(
        sp,
        alt((
            value(CommandBody::Notify(None), tag_no_case(&b"NONE"[..])),
            map(
                preceded(
                    tag_no_case(&b"SET"[..]),
                    (
                        opt(preceded(sp, tag_no_case(&b"STATUS"[..]))),
                        preceded(sp, separated_list1(sp, event_group)),
                    ),
                ),
                |(status, groups)| {
                    CommandBody::Notify(Some(NotifySet {
                        status: status.is_some(),
                        groups,
                    }))
                },
            ),
        )),
    )
    .parse(i)
}

/// `event-group = "(" filter-mailboxes SP events ")"`
fn event_group(i: &[u8]) -> Res<'_, EventGroup> {
    map(
        delimited(
            tag(&b"("[..]),
            (filter_mailboxes, preceded(sp, events)),
            tag(&b")"[..]),
        ),
        |(filter, events)| EventGroup { filter, events },
    )
    .parse(i)
}

/// `filter-mailboxes`; the longer `selected-delayed` is tried before `selected`.
fn filter_mailboxes(i: &[u8]) -> Res<'_, MailboxFilter> {
    alt((
        value(
            MailboxFilter::SelectedDelayed,
            tag_no_case(&b"SELECTED-DELAYED"[..]),
        ),
        value(MailboxFilter::Selected, tag_no_case(&b"SELECTED"[..])),
        value(MailboxFilter::Inboxes, tag_no_case(&b"INBOXES"[..])),
        value(MailboxFilter::Personal, tag_no_case(&b"PERSONAL"[..])),
        value(MailboxFilter::Subscribed, tag_no_case(&b"SUBSCRIBED"[..])),
        map(
            preceded((tag_no_case(&b"SUBTREE"[..]), sp), one_or_more_mailbox),
            MailboxFilter::Subtree,
        ),
        map(
            preceded((tag_no_case(&b"MAILBOXES"[..]), sp), one_or_more_mailbox),
            MailboxFilter::Mailboxes,
        ),
    ))
    .parse(i)
}

/// `one-or-more-mailbox = mailbox / many-mailboxes`;
/// `many-mailboxes = "(" mailbox *(SP mailbox) ")"`
fn one_or_more_mailbox(i: &[u8]) -> Res<'_, Vec<String>> {
    alt((list1(mailbox), map(mailbox, |m| vec![m]))).parse(i)
}

/// `events = ( "(" event *(SP event) ")" ) / "NONE"`; `NONE` is the empty list.
fn events(i: &[u8]) -> Res<'_, Vec<NotifyEvent>> {
    alt((list1(event), value(Vec::new(), tag_no_case(&b"NONE"[..])))).parse(i)
}

/// `event`: a known name, `MessageNew` with its optional fetch attributes, or any other
/// atom (`event-ext`), kept to be refused with BADEVENT.
fn event(i: &[u8]) -> Res<'_, NotifyEvent> {
    let (rest, name) = atom(i)?;
    let known = [
        (&b"MessageExpunge"[..], NotifyEvent::MessageExpunge),
        (b"FlagChange", NotifyEvent::FlagChange),
        (b"AnnotationChange", NotifyEvent::AnnotationChange),
        (b"MailboxName", NotifyEvent::MailboxName),
        (b"SubscriptionChange", NotifyEvent::SubscriptionChange),
        (b"MailboxMetadataChange", NotifyEvent::MailboxMetadataChange),
        (b"ServerMetadataChange", NotifyEvent::ServerMetadataChange),
    ];
    if name.eq_ignore_ascii_case(b"MessageNew") {
        let (rest, atts) = opt(preceded(sp, list1(fetch_att))).parse(rest)?;
        return Ok((rest, NotifyEvent::MessageNew(atts.unwrap_or_default())));
    }
    if let Some((_, e)) = known.iter().find(|(k, _)| name.eq_ignore_ascii_case(k)) {
        return Ok((rest, e.clone()));
    }
    Ok((
        rest,
        NotifyEvent::Other(String::from_utf8_lossy(name).into_owned()),
    ))
}

#[cfg(test)]
mod tests {
    use crate::command::{
        CommandBody, EventGroup, FetchAttr, MailboxFilter, NotifyEvent, NotifySet,
    };
    use crate::parse::command;

    fn notify(line: &str) -> Option<NotifySet> {
        match command(line.as_bytes()).unwrap().body {
            CommandBody::Notify(set) => set,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_rfc_examples_parse() {
        // RFC 5465 §3.1's example, as printed, gives the events without the list §8's
        // `events` requires; Dovecot refuses it too. The listed form is what clients send.
        let printed = "b notify set status (selected MessageNew (uid \
             body.peek[header.fields (from to subject)]) MessageExpunge) \
             (subtree Lists MessageNew)\r\n";
        assert!(command(printed.as_bytes()).is_err());
        let set = notify(
            "b notify set status (selected (MessageNew (uid \
             body.peek[header.fields (from to subject)]) MessageExpunge)) \
             (subtree Lists (MessageNew))\r\n",
        )
        .unwrap();
        assert!(set.status);
        assert_eq!(set.groups.len(), 2);
        assert_eq!(set.groups[0].filter, MailboxFilter::Selected);
        match &set.groups[0].events[0] {
            NotifyEvent::MessageNew(atts) => {
                assert_eq!(atts.len(), 2);
                assert_eq!(atts[0], FetchAttr::Uid);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            set.groups[1],
            EventGroup {
                filter: MailboxFilter::Subtree(vec!["Lists".into()]),
                events: vec![NotifyEvent::MessageNew(vec![])],
            }
        );
        // §6.
        let set = notify(
            "a notify set (mailboxes INBOX (Messagenew messageExpunge)) \
             (personal (SubscriptionChange))\r\n",
        )
        .unwrap();
        assert!(!set.status);
        assert_eq!(
            set.groups[0].filter,
            MailboxFilter::Mailboxes(vec!["INBOX".into()])
        );
        assert_eq!(set.groups[1].events, vec![NotifyEvent::SubscriptionChange]);
        assert_eq!(notify("c NOTIFY NONE\r\n"), None);
        let set = notify("d NOTIFY SET (selected-delayed NONE) (mailboxes (a \"b c\") (Foo))\r\n")
            .unwrap();
        assert_eq!(set.groups[0].filter, MailboxFilter::SelectedDelayed);
        assert!(set.groups[0].events.is_empty());
        assert_eq!(
            set.groups[1].filter,
            MailboxFilter::Mailboxes(vec!["a".into(), "b c".into()])
        );
        assert_eq!(set.groups[1].events, vec![NotifyEvent::Other("Foo".into())]);
    }

    #[test]
    fn malformed_notify_commands_are_syntax_errors() {
        for bad in [
            "a NOTIFY\r\n",
            "a NOTIFY SET\r\n",
            "a NOTIFY SET STATUS\r\n",
            "a NOTIFY SET ()\r\n",
            "a NOTIFY SET (personal)\r\n",
            "a NOTIFY SET (personal ())\r\n",
            "a NOTIFY SET (subtree (MessageNew))\r\n",
            "a NOTIFY SET (mailboxes () (MessageNew))\r\n",
            "a NOTIFY SET (bogus (MessageNew))\r\n",
            "a NOTIFY SET (selected (MessageNew ()))\r\n",
            "a NOTIFY NONE extra\r\n",
        ] {
            assert!(command(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
