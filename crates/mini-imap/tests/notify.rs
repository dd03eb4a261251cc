//! NOTIFY (RFC 5465) over a real socket: events pushed between commands, for the selected
//! mailbox and for others, as the RFC's sections say.
//!
//! A push is read without sending anything: the line must arrive on its own. That
//! something was *not* pushed is shown without waiting on a clock: the change is
//! followed by one the client did ask for (a new message in a watched mailbox), and the
//! lines up to that one's STATUS are what the server pushed about both.

mod raw;

use mini_imap::ImapServerConfig;
use raw::{Raw, message, start, tagged, untagged};
use yubin_core::ServerHandle;
use yubin_store::{Flag, FlagOp, Flags, Mailbox, Store};

fn mailbox(store: &Store, name: &str) -> Mailbox {
    store.account("alice").unwrap().mailbox(name).unwrap()
}

fn add(store: &Store, name: &str, subject: &str) -> u32 {
    mailbox(store, name)
        .append(&message(subject), &Flags::new(), None)
        .unwrap()
}

/// Reads pushed lines up to and including the first that starts with `prefix`.
async fn until(raw: &mut Raw, prefix: &str) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let line = raw.line().await;
        let done = line.starts_with(prefix);
        lines.push(line);
        if done {
            return lines;
        }
    }
}

/// The server, with alice's INBOX holding `subjects` and the mailboxes `others` made.
async fn with_mailboxes(subjects: &[&str], others: &[&str]) -> (ServerHandle, Store) {
    let (handle, store) = start(subjects).await;
    let account = store.account("alice").unwrap();
    for name in others {
        account.create(name).unwrap();
    }
    (handle, store)
}

#[tokio::test]
async fn status_indicator_tells_each_watched_mailbox_before_the_ok() {
    let (handle, store) = with_mailboxes(&["one"], &["Lists/Lemonade", "Lists/Im2000"]).await;
    add(&store, "Lists/Lemonade", "a");
    add(&store, "Lists/Lemonade", "b");
    let mut c = Raw::login(&handle).await;
    // RFC 5465 §3.1's example (with `events` parenthesized as §8 requires).
    let r = c
        .cmd(
            "NOTIFY SET STATUS (selected (MessageNew (uid \
             body.peek[header.fields (from to subject)]) MessageExpunge)) \
             (subtree Lists (MessageNew MessageExpunge))",
        )
        .await;
    assert!(tagged(&r).contains(" OK "), "{r}");
    let status = untagged(&r);
    // "If MessageNew is enabled, the STATUS response MUST contain MESSAGES, UIDNEXT, and
    // UIDVALIDITY."
    let lemonade = status
        .iter()
        .find(|l| l.contains("Lists/Lemonade"))
        .expect("a STATUS for Lists/Lemonade");
    assert!(lemonade.starts_with("* STATUS "), "{lemonade}");
    assert!(lemonade.contains("MESSAGES 2"), "{lemonade}");
    assert!(lemonade.contains("UIDNEXT 3"), "{lemonade}");
    assert!(lemonade.contains("UIDVALIDITY "), "{lemonade}");
    assert!(
        status
            .iter()
            .any(|l| l.contains("Lists/Im2000") && l.contains("MESSAGES 0"))
    );
    // The subtree, its top included (CREATE made `Lists` a mailbox too); not INBOX.
    assert!(
        status.iter().any(|l| l.starts_with("* STATUS \"Lists\" (")),
        "{r}"
    );
    assert_eq!(status.len(), 3, "{r}");
    // Without the indicator, no STATUS (the client knows them already).
    let r = c
        .cmd("NOTIFY SET (subtree Lists (MessageNew MessageExpunge))")
        .await;
    assert_eq!(untagged(&r), Vec::<&str>::new(), "{r}");
}

#[tokio::test]
async fn new_mail_elsewhere_is_pushed_between_commands_as_status() {
    let (handle, store) = with_mailboxes(&["one"], &["Lists/Lemonade", "Misc"]).await;
    let mut c = Raw::login(&handle).await;
    let r = c.cmd("SELECT INBOX").await;
    assert!(tagged(&r).contains(" OK "), "{r}");
    let r = c
        .cmd("NOTIFY SET (selected (MessageNew MessageExpunge)) (subtree Lists (MessageNew MessageExpunge))")
        .await;
    assert!(tagged(&r).contains(" OK "), "{r}");
    // Time passes. A new message is delivered to Lists/Lemonade: the client hears of it
    // without asking (§5.2: "an unsolicited STATUS (UIDNEXT MESSAGES) response").
    add(&store, "Lists/Lemonade", "news");
    let line = c.line().await;
    assert!(line.starts_with("* STATUS \"Lists/Lemonade\" ("), "{line}");
    assert!(
        line.contains("UIDNEXT 2") && line.contains("MESSAGES 1"),
        "{line}"
    );
    assert!(
        !line.contains("HIGHESTMODSEQ"),
        "CONDSTORE is not enabled: {line}"
    );
    // A mailbox outside the groups stays quiet; an expunge in the subtree is told.
    add(&store, "Misc", "quiet");
    mailbox(&store, "Lists/Lemonade").expunge(&[1]).unwrap();
    let lines = until(&mut c, "* STATUS").await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("Lists/Lemonade") && lines[0].contains("MESSAGES 0"),
        "{lines:?}"
    );
}

#[tokio::test]
async fn with_condstore_a_status_push_carries_highestmodseq_and_flag_changes_are_told() {
    let (handle, store) = with_mailboxes(&["one"], &["Work"]).await;
    let uid = add(&store, "Work", "task");
    let mut c = Raw::login(&handle).await;
    c.cmd("ENABLE CONDSTORE").await;
    let r = c
        .cmd("NOTIFY SET STATUS (mailboxes Work (MessageNew MessageExpunge FlagChange))")
        .await;
    // §3.1: with FlagChange and CONDSTORE, "UIDVALIDITY and HIGHESTMODSEQ".
    let first = untagged(&r);
    assert_eq!(first.len(), 1, "{r}");
    assert!(
        first[0].contains("UIDVALIDITY ") && first[0].contains("HIGHESTMODSEQ "),
        "{r}"
    );
    mailbox(&store, "Work")
        .set_flags(&[uid], FlagOp::Add, &Flags::from([Flag::Seen]))
        .unwrap();
    // §5.1: "a STATUS response that includes at least HIGHESTMODSEQ and UIDVALIDITY";
    // the number of \Seen messages changed, so UNSEEN too.
    let line = c.line().await;
    assert!(line.starts_with("* STATUS \"Work\" ("), "{line}");
    assert!(
        line.contains("HIGHESTMODSEQ ") && line.contains("UIDVALIDITY "),
        "{line}"
    );
    assert!(line.contains("UNSEEN 0"), "{line}");
    add(&store, "Work", "more");
    let line = c.line().await;
    assert!(
        line.contains("MESSAGES 2") && line.contains("HIGHESTMODSEQ "),
        "{line}"
    );
}

#[tokio::test]
async fn new_mail_in_the_selected_mailbox_is_pushed_with_exists_and_the_fetch_asked_for() {
    let (handle, store) = start(&["one"]).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("SELECT INBOX").await;
    // BODY[...] without PEEK: a notification is not the user reading the message.
    let r = c
        .cmd(
            "NOTIFY SET (selected (MessageNew (UID BODY[HEADER.FIELDS (Subject)]) MessageExpunge))",
        )
        .await;
    assert!(tagged(&r).contains(" OK "), "{r}");
    add(&store, "INBOX", "good morning");
    // §5.2: "an unsolicited EXISTS response, followed by an unsolicited FETCH response
    // containing the information requested by the client".
    let lines = until(&mut c, "* 2 FETCH").await;
    assert!(lines.iter().any(|l| l == "* 2 EXISTS\r\n"), "{lines:?}");
    let fetch = lines.last().unwrap();
    assert!(fetch.contains("UID 2"), "{fetch}");
    assert!(
        fetch
            .to_ascii_uppercase()
            .contains("BODY[HEADER.FIELDS (SUBJECT)] {"),
        "{fetch}"
    );
    assert_eq!(c.line().await, "Subject: good morning\r\n");
    assert_eq!(c.line().await, "\r\n");
    assert_eq!(c.line().await, ")\r\n");
    let r = c.cmd("FETCH 2 (FLAGS)").await;
    assert!(!r.contains("\\Seen"), "the push set \\Seen: {r}");
    // §5.2: "A FETCH response SHOULD NOT be generated for a new message created by the
    // client on this particular connection": the APPEND's own EXISTS comes, no FETCH.
    let m = message("mine");
    let r = c
        .cmd(&format!(
            "APPEND INBOX {{{}+}}\r\n{}",
            m.len(),
            String::from_utf8_lossy(&m)
        ))
        .await;
    assert!(tagged(&r).contains(" OK "), "{r}");
    let r = c.cmd("NOOP").await;
    assert!(!r.contains("FETCH"), "{r}");
}

#[tokio::test]
async fn selected_expunges_are_pushed_at_once_and_selected_delayed_waits_for_a_command() {
    let (handle, store) = with_mailboxes(&["one", "two", "three"], &["Other"]).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("SELECT INBOX").await;
    c.cmd("NOTIFY SET (selected (MessageNew MessageExpunge)) (mailboxes Other (MessageNew MessageExpunge))")
        .await;
    mailbox(&store, "INBOX").expunge(&[1]).unwrap();
    // §5.3: "the server notifies the client using EXPUNGE".
    assert_eq!(c.line().await, "* 1 EXPUNGE\r\n");
    // SELECTED-DELAYED (§6.1.2): "delay a MessageExpunge event until the client issues a
    // command that allows returning information about expunged messages".
    c.cmd("NOTIFY SET (selected-delayed (MessageNew MessageExpunge)) (mailboxes Other (MessageNew MessageExpunge))")
        .await;
    mailbox(&store, "INBOX").expunge(&[2]).unwrap();
    add(&store, "Other", "marker");
    let lines = until(&mut c, "* STATUS").await;
    assert!(!lines.iter().any(|l| l.contains("EXPUNGE")), "{lines:?}");
    // The sequence numbers the client uses still mean the same message.
    let r = c.cmd("FETCH 1 (UID)").await;
    assert!(r.contains("* 1 FETCH (UID 2)"), "{r}");
    let r = c.cmd("NOOP").await;
    assert!(r.contains("* 1 EXPUNGE\r\n"), "{r}");
}

#[tokio::test]
async fn flag_changes_in_the_selected_mailbox_are_pushed_only_when_asked() {
    let (handle, store) = with_mailboxes(&["one", "two"], &["Other"]).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("SELECT INBOX").await;
    c.cmd("NOTIFY SET (selected (MessageNew MessageExpunge FlagChange)) (mailboxes Other (MessageNew))")
        .await;
    let flag = |uid: u32, f: Flag| {
        mailbox(&store, "INBOX")
            .set_flags(&[uid], FlagOp::Add, &Flags::from([f]))
            .unwrap();
    };
    flag(2, Flag::Flagged);
    // §5.1: "an unsolicited FETCH response, which MUST include UID and FLAGS".
    let line = c.line().await;
    assert!(line.starts_with("* 2 FETCH ("), "{line}");
    assert!(
        line.contains("UID 2") && line.contains("\\Flagged"),
        "{line}"
    );
    // Without FlagChange the change waits for a command.
    c.cmd("NOTIFY SET (selected (MessageNew MessageExpunge)) (mailboxes Other (MessageNew))")
        .await;
    flag(1, Flag::Answered);
    add(&store, "Other", "marker");
    let lines = until(&mut c, "* STATUS").await;
    assert!(!lines.iter().any(|l| l.contains("FETCH")), "{lines:?}");
    let r = c.cmd("NOOP").await;
    assert!(r.contains("* 1 FETCH (") && r.contains("\\Answered"), "{r}");
}

#[tokio::test]
async fn name_events_are_told_as_list_with_oldname_and_not_for_the_clients_own() {
    let (handle, _store) = start(&["one"]).await;
    let mut c = Raw::login(&handle).await;
    let mut other = Raw::login(&handle).await;
    let r = c
        .cmd("NOTIFY SET (personal (MailboxName SubscriptionChange))")
        .await;
    assert!(tagged(&r).contains(" OK "), "{r}");
    other.cmd("CREATE Projects/Alpha").await;
    // §5.4: "If a mailbox is created or deleted, the mailbox itself and its direct
    // parent ... are considered to be affected": the parent made with it too.
    let lines = until(&mut c, "* LIST (\\HasNoChildren) \"/\" \"Projects/Alpha\"").await;
    assert!(
        lines
            .iter()
            .any(|l| l == "* LIST (\\HasChildren) \"/\" \"Projects\"\r\n"),
        "{lines:?}"
    );
    other.cmd("RENAME Projects/Alpha Projects/Beta").await;
    // "an extended LIST response [RFC5258] for the new mailbox name, containing the
    // OLDNAME extended data item with the old mailbox name".
    assert_eq!(
        c.line().await,
        "* LIST (\\HasNoChildren) \"/\" \"Projects/Beta\" (\"OLDNAME\" (\"Projects/Alpha\"))\r\n"
    );
    other.cmd("SUBSCRIBE Projects/Beta").await;
    // §5.5: "If and only if the mailbox is subscribed after the event, the \Subscribed
    // attribute ... is included."
    assert_eq!(
        c.line().await,
        "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Projects/Beta\"\r\n"
    );
    other.cmd("UNSUBSCRIBE Projects/Beta").await;
    assert_eq!(
        c.line().await,
        "* LIST (\\HasNoChildren) \"/\" \"Projects/Beta\"\r\n"
    );
    other.cmd("DELETE Projects/Beta").await;
    // "If, after the event, the mailbox name does not refer to a mailbox accessible to
    // the client, the \Nonexistent flag MUST be included."
    let lines = until(&mut c, "* LIST (\\NonExistent) \"/\" \"Projects/Beta\"").await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    // The client's own CREATE is not told back (§5: SHOULD NOT); the next command's
    // answer shows nothing was pushed in between.
    let r = c.cmd("CREATE Mine/Own").await;
    assert!(tagged(&r).contains(" OK "), "{r}");
    let r = c.cmd("NOOP").await;
    assert!(!r.contains("LIST"), "{r}");
    // Another's change after it is told as usual.
    other.cmd("DELETE Mine/Own").await;
    let line = c.line().await;
    assert!(
        line.contains("\\NonExistent") && line.contains("Mine/Own"),
        "{line}"
    );
}

#[tokio::test]
async fn refused_notify_requests_say_why_and_leave_the_last_one_in_force() {
    let (handle, store) = with_mailboxes(&["one"], &["Other"]).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("SELECT INBOX").await;
    let r = c
        .cmd("NOTIFY SET (mailboxes Other (MessageNew MessageExpunge))")
        .await;
    assert!(tagged(&r).contains(" OK "), "{r}");
    for (request, expect) in [
        // §6.1: "Only one of the mailbox specifiers affecting the currently selected
        // mailbox can be specified in any NOTIFY command."
        (
            "NOTIFY SET (selected (MessageNew MessageExpunge)) (selected-delayed (MessageNew MessageExpunge))",
            " BAD ",
        ),
        // §5: "If one of MessageNew or MessageExpunge is specified, then both events
        // MUST be specified. Otherwise, the server MUST respond with the tagged BAD".
        ("NOTIFY SET (selected (MessageNew))", " BAD "),
        ("NOTIFY SET (selected (FlagChange))", " BAD "),
        // §6.1: no other events with SELECTED.
        (
            "NOTIFY SET (selected (MessageNew MessageExpunge MailboxName))",
            " BAD ",
        ),
        // §8: fetch attributes only for the selected mailbox.
        (
            "NOTIFY SET (personal (MessageNew (UID) MessageExpunge))",
            " BAD ",
        ),
        // §3.1: an unsupported event is "a tagged NO response (not a BAD)" with BADEVENT
        // listing "all events supported by the server".
        (
            "NOTIFY SET (personal (MailboxMetadataChange))",
            " NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)]",
        ),
        (
            "NOTIFY SET (selected (MessageNew MessageExpunge AnnotationChange FlagChange))",
            " NO [BADEVENT ",
        ),
        ("NOTIFY SET (inboxes (SomethingNew))", " NO [BADEVENT "),
        // §5.2: MessageNew attributes that would set \Seen have no PEEK form.
        (
            "NOTIFY SET (selected (MessageNew (UID RFC822) MessageExpunge))",
            " NO [CANNOT]",
        ),
        ("NOTIFY SET (personal MessageNew)", " BAD "),
    ] {
        let r = c.cmd(request).await;
        assert!(tagged(&r).contains(expect), "{request}: {r}");
    }
    // The first registration still holds.
    add(&store, "Other", "still");
    let line = c.line().await;
    assert!(line.starts_with("* STATUS \"Other\" ("), "{line}");
    // NOTIFY NONE: nothing more between commands.
    let r = c.cmd("NOTIFY NONE").await;
    assert!(tagged(&r).contains(" OK "), "{r}");
    add(&store, "Other", "unheard");
    add(&store, "INBOX", "at the next command");
    let r = c.cmd("NOOP").await;
    assert!(!r.contains("STATUS"), "{r}");
    assert!(
        r.contains("* 2 EXISTS"),
        "RFC 3501's updates still come: {r}"
    );
}

#[tokio::test]
async fn idle_sends_the_events_notify_asked_for() {
    let (handle, store) = with_mailboxes(&["one"], &["Other"]).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("SELECT INBOX").await;
    c.cmd("NOTIFY SET (mailboxes Other (MessageNew MessageExpunge))")
        .await;
    let tag = c.next_tag();
    c.send(format!("{tag} IDLE\r\n").as_bytes()).await;
    assert_eq!(c.line().await, "+ idling\r\n");
    // §4: "while processing any IDLE command, the server MUST send exactly the same
    // events as instructed by the client using the NOTIFY command": no SELECTED group,
    // so INBOX's new message waits; Other's is told.
    add(&store, "INBOX", "waits");
    add(&store, "Other", "told");
    let lines = until(&mut c, "* STATUS").await;
    assert!(!lines.iter().any(|l| l.contains("EXISTS")), "{lines:?}");
    c.send(b"DONE\r\n").await;
    let r = c.until_tagged(&tag).await;
    assert!(r.contains("* 2 EXISTS"), "{r}");
}

#[tokio::test]
async fn a_session_watching_too_many_mailboxes_is_refused_or_told_of_the_overflow() {
    let store = Store::memory();
    store
        .add_account("alice", yubin_store::Secret::from("secret"))
        .unwrap();
    let account = store.account("alice").unwrap();
    for name in ["Lists/A", "Lists/B"] {
        account.create(name).unwrap();
    }
    let mut config = ImapServerConfig::default();
    config.imap.max_notify_mailboxes = 3;
    let handle = raw::serve_with(&store, config).await;
    let mut c = Raw::login(&handle).await;
    // INBOX and the four special-use mailboxes are more than three.
    let r = c
        .cmd("NOTIFY SET (personal (MessageNew MessageExpunge))")
        .await;
    assert!(tagged(&r).contains(" NO [NOTIFICATIONOVERFLOW]"), "{r}");
    let r = c
        .cmd("NOTIFY SET (subtree Lists (MessageNew MessageExpunge))")
        .await;
    assert!(tagged(&r).contains(" OK "), "{r}");
    // A fourth mailbox in the subtree (Lists, Lists/A, Lists/B, Lists/C): §5.8 "It MUST notify these clients by sending an
    // untagged "OK [NOTIFICATIONOVERFLOW]" response and behave as if a NOTIFY NONE".
    account.create("Lists/C").unwrap();
    let line = c.line().await;
    assert!(line.starts_with("* OK [NOTIFICATIONOVERFLOW]"), "{line}");
    add(&store, "Lists/A", "unheard");
    let r = c.cmd("NOOP").await;
    assert!(!r.contains("STATUS"), "{r}");
}

#[tokio::test]
async fn a_large_append_of_the_clients_own_gets_no_fetch_but_anothers_does() {
    let (handle, store) = start(&["one"]).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("SELECT INBOX").await;
    c.cmd("NOTIFY SET (selected (MessageNew (UID RFC822.SIZE) MessageExpunge))")
        .await;
    // Past the codec's 64 KiB, an APPEND's message is streamed, not framed whole: it is
    // the client's own all the same (RFC 5465 §5.2).
    let mut m = message("large");
    m.extend(std::iter::repeat_n(b'x', 100 * 1024));
    m.extend_from_slice(b"\r\n");
    c.send(format!("t90 APPEND INBOX {{{}+}}\r\n", m.len()).as_bytes())
        .await;
    c.send(&m).await;
    c.send(b"\r\n").await;
    let r = c.until_tagged("t90").await;
    assert!(tagged(&r).contains(" OK [APPENDUID "), "{r}");
    let r = c.cmd("NOOP").await;
    assert!(!r.contains("FETCH"), "{r}");
    // Another's message is told with the attributes asked.
    add(&store, "INBOX", "theirs");
    let line = until(&mut c, "* 3 FETCH").await.pop().unwrap();
    assert!(
        line.contains("UID 3") && line.contains("RFC822.SIZE "),
        "{line}"
    );
}

#[tokio::test]
async fn more_names_than_the_limit_is_an_overflow() {
    let store = Store::memory();
    store
        .add_account("alice", yubin_store::Secret::from("secret"))
        .unwrap();
    let mut config = ImapServerConfig::default();
    config.imap.max_notify_mailboxes = 3;
    let handle = raw::serve_with(&store, config).await;
    let mut c = Raw::login(&handle).await;
    // Names that do not exist are ignored (§3.1), but are counted as asked for.
    let r = c
        .cmd("NOTIFY SET (mailboxes (a b c d) (MessageNew MessageExpunge))")
        .await;
    assert!(tagged(&r).contains(" NO [NOTIFICATIONOVERFLOW]"), "{r}");
    let r = c
        .cmd("NOTIFY SET (mailboxes (a b c) (MessageNew MessageExpunge))")
        .await;
    assert!(tagged(&r).contains(" OK "), "{r}");
}

#[tokio::test]
async fn an_update_search_with_fetch_attributes_fetches_the_new_messages_it_takes_in() {
    let (handle, store) = start(&["one"]).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("SELECT INBOX").await;
    // RFC 5465 §7's example; no NOTIFY needed.
    let search = c.next_tag();
    let r = c
        .cmd("SEARCH RETURN (COUNT UPDATE (UID BODY[HEADER.FIELDS (TO FROM SUBJECT)])) FROM \"boss\"")
        .await;
    assert!(
        r.contains(&format!("* ESEARCH (TAG \"{search}\") COUNT 0")),
        "{r}"
    );
    let flagged = c.next_tag();
    let r = c
        .cmd("UID SEARCH RETURN (UPDATE (UID FLAGS)) FLAGGED")
        .await;
    assert!(tagged(&r).contains(" OK "), "{r}");
    let boss = b"From: myboss@example.org\r\nTo: bob@example.org\r\nSubject: Re: good morning\r\n\r\nhi\r\n";
    mailbox(&store, "INBOX")
        .append(boss, &Flags::new(), None)
        .unwrap();
    // "the EXISTS response MUST precede any FETCH responses": EXISTS and ADDTO with the
    // command, then the FETCH (§5.2: "The FETCH response(s) MUST follow any ESEARCH
    // ADDTO responses").
    let r = c.cmd("NOOP").await;
    assert!(r.contains("* 2 EXISTS\r\n"), "{r}");
    assert!(
        r.contains(&format!("* ESEARCH (TAG \"{search}\") ADDTO (0 2)")),
        "{r}"
    );
    let fetch = c.line().await;
    assert!(
        fetch.starts_with("* 2 FETCH (UID 2 BODY[HEADER.FIELDS (TO FROM SUBJECT)] {"),
        "{fetch}"
    );
    assert_eq!(c.line().await, "From: myboss@example.org\r\n");
    assert_eq!(c.line().await, "To: bob@example.org\r\n");
    assert_eq!(c.line().await, "Subject: Re: good morning\r\n");
    assert_eq!(c.line().await, "\r\n");
    assert_eq!(c.line().await, ")\r\n");
    let r = c.cmd("FETCH 2 (FLAGS)").await;
    assert!(!r.contains("\\Seen"), "the FETCH set \\Seen: {r}");
    // A message that joins by a flag change is told with ADDTO only: "No untagged FETCH
    // response SHOULD be returned if a message becomes a member of UPDATE SEARCH due to
    // flag or annotation changes."
    mailbox(&store, "INBOX")
        .set_flags(&[1], FlagOp::Add, &Flags::from([Flag::Flagged]))
        .unwrap();
    let r = c.cmd("NOOP").await;
    assert!(
        r.contains(&format!("* ESEARCH (TAG \"{flagged}\") UID ADDTO (0 1)")),
        "{r}"
    );
    let r = c.cmd("NOOP").await;
    assert!(!r.contains("UID 1"), "{r}");
    // A new flagged message joins both ways in: one FETCH with both searches' attributes
    // ("These attributes SHOULD be combined into a single FETCH response").
    mailbox(&store, "INBOX")
        .append(
            b"From: boss@example.org\r\nSubject: urgent\r\n\r\nnow\r\n",
            &Flags::from([Flag::Flagged]),
            None,
        )
        .unwrap();
    let r = c.cmd("NOOP").await;
    assert!(r.contains("* 3 EXISTS\r\n"), "{r}");
    // The FETCH line, the header's three lines (From, Subject, blank), the rest.
    let mut fetch = String::new();
    for _ in 0..5 {
        fetch.push_str(&c.line().await);
    }
    assert!(fetch.starts_with("* 3 FETCH (UID 3 "), "{fetch}");
    assert!(
        fetch.contains("BODY[HEADER.FIELDS (TO FROM SUBJECT)] {"),
        "{fetch}"
    );
    assert!(fetch.contains("Subject: urgent\r\n"), "{fetch}");
    assert!(fetch.ends_with(")\r\n"), "{fetch}");
    assert!(fetch.contains("FLAGS (\\Flagged"), "{fetch}");
    assert_eq!(fetch.matches("FETCH").count(), 1, "{fetch}");
}

#[tokio::test]
async fn a_mailbox_made_after_notify_set_is_watched_without_a_command() {
    let (handle, store) = start(&["one"]).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("NOTIFY SET (personal (MessageNew MessageExpunge MailboxName))")
        .await;
    store.account("alice").unwrap().create("Fresh").unwrap();
    let line = c.line().await;
    assert!(line.contains("\"Fresh\""), "{line}");
    // §3.1: "listens for event notifications all the time": the new mailbox's mail is
    // told with no command in between.
    add(&store, "Fresh", "first");
    let line = c.line().await;
    assert_eq!(line, "* STATUS \"Fresh\" (UIDNEXT 2 MESSAGES 1)\r\n");
}

#[tokio::test]
async fn a_new_keyword_is_announced_before_the_fetch_that_shows_it() {
    let (handle, store) = start(&["one"]).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("SELECT INBOX").await;
    // RFC 5465 §6's own example: FLAGS in MessageNew, without FlagChange.
    c.cmd("NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge))")
        .await;
    mailbox(&store, "INBOX")
        .append(
            &message("junk"),
            &Flags::from([Flag::Keyword("$Junk".into())]),
            None,
        )
        .unwrap();
    let lines = until(&mut c, "* 2 FETCH").await;
    // RFC 3501 §7.2.6: the FLAGS response names it before the FETCH shows it.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("* FLAGS (") && l.contains("$Junk")),
        "{lines:?}"
    );
    assert!(lines.last().unwrap().contains("$Junk"), "{lines:?}");
}

#[tokio::test]
async fn utf8_names_in_notify_filters_are_the_mailboxes_they_name() {
    let (handle, store) = start(&["one"]).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("ENABLE UTF8=ACCEPT").await;
    let r = c.cmd("CREATE \"Données\"").await;
    assert!(tagged(&r).contains(" OK "), "{r}");
    // RFC 6855 §3: UTF-8 names in every command once enabled.
    let r = c
        .cmd("NOTIFY SET STATUS (mailboxes \"Données\" (MessageNew MessageExpunge))")
        .await;
    // The name is 8-bit, so it goes as a literal: `* STATUS {8}` then `Données (...)`.
    assert!(r.contains("* STATUS {8}\r\nDonnées (MESSAGES 0"), "{r}");
    add(&store, "Donn&AOk-es", "accented");
    assert_eq!(c.line().await, "* STATUS {8}\r\n");
    let line = c.line().await;
    assert!(line.starts_with("Données (UIDNEXT 2 MESSAGES 1"), "{line}");
}

#[tokio::test]
async fn what_the_selected_state_did_not_tell_is_told_once_the_mailbox_is_left() {
    let (handle, store) = with_mailboxes(&["one"], &["X"]).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("SELECT X").await;
    // No SELECTED group: X's events are not pushed while it is selected.
    c.cmd("NOTIFY SET (personal (MessageNew MessageExpunge))")
        .await;
    add(&store, "X", "while selected");
    add(&store, "INBOX", "marker");
    let lines = until(&mut c, "* STATUS \"INBOX\"").await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    let r = c.cmd("UNSELECT").await;
    assert!(tagged(&r).contains(" OK "), "{r}");
    // The client never heard of X's message: it is told now.
    let line = c.line().await;
    assert_eq!(line, "* STATUS \"X\" (UIDNEXT 2 MESSAGES 1)\r\n");
}

#[tokio::test]
async fn a_mailbox_deleted_then_made_again_is_told_with_its_new_uidvalidity() {
    let (handle, store) = with_mailboxes(&["one"], &["Y"]).await;
    let mut c = Raw::login(&handle).await;
    let r = c
        .cmd("NOTIFY SET STATUS (mailboxes Y (MessageNew MessageExpunge FlagChange)) (personal (MailboxName))")
        .await;
    let first = untagged(&r)[0].to_owned();
    let account = store.account("alice").unwrap();
    account.delete("Y").unwrap();
    let line = c.line().await;
    assert!(
        line.contains("\\NonExistent") && line.contains("\"Y\""),
        "{line}"
    );
    account.create("Y").unwrap();
    // §5.1: "the server MUST notify the client about mailbox UIDVALIDITY changes".
    let lines = until(&mut c, "* STATUS \"Y\"").await;
    let status = lines.last().unwrap();
    let validity = |l: &str| {
        l.split("UIDVALIDITY ")
            .nth(1)
            .and_then(|r| r.split([' ', ')']).next())
            .map(str::to_owned)
    };
    assert!(validity(status).is_some(), "{status}");
    assert_ne!(validity(status), validity(&first), "{first} then {status}");
}

#[tokio::test]
async fn an_unsubscribe_that_changed_nothing_hides_no_later_event() {
    let (handle, _store) = start(&["one"]).await;
    let mut c = Raw::login(&handle).await;
    let mut other = Raw::login(&handle).await;
    other.cmd("CREATE Topic").await;
    c.cmd("NOTIFY SET (personal (SubscriptionChange))").await;
    // Not subscribed: OK, and nothing happened.
    let r = c.cmd("UNSUBSCRIBE Topic").await;
    assert!(tagged(&r).contains(" OK "), "{r}");
    other.cmd("SUBSCRIBE Topic").await;
    assert!(c.line().await.contains("\\Subscribed"));
    other.cmd("UNSUBSCRIBE Topic").await;
    let line = c.line().await;
    assert_eq!(line, "* LIST (\\HasNoChildren) \"/\" \"Topic\"\r\n");
}

#[tokio::test]
async fn modseq_among_the_messagenew_attributes_enables_condstore() {
    let (handle, store) = start(&["one"]).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("SELECT INBOX").await;
    // RFC 7162 §3.1: a command that fetches MODSEQ enables CONDSTORE, and the first
    // such command with a mailbox selected tells its HIGHESTMODSEQ.
    let r = c
        .cmd("NOTIFY SET (selected (MessageNew (UID MODSEQ) MessageExpunge FlagChange))")
        .await;
    assert!(r.contains("* OK [HIGHESTMODSEQ "), "{r}");
    add(&store, "INBOX", "two");
    let line = until(&mut c, "* 2 FETCH").await.pop().unwrap();
    assert!(
        line.contains("UID 2") && line.contains("MODSEQ ("),
        "{line}"
    );
    // Flag updates carry MODSEQ from now on (§3.2).
    mailbox(&store, "INBOX")
        .set_flags(&[1], FlagOp::Add, &Flags::from([Flag::Flagged]))
        .unwrap();
    let line = c.line().await;
    assert!(
        line.starts_with("* 1 FETCH (UID 1 FLAGS (\\Flagged"),
        "{line}"
    );
    assert!(line.contains("MODSEQ ("), "{line}");
}

#[tokio::test]
async fn idle_sends_the_expunges_selected_delayed_holds_back_between_commands() {
    let (handle, store) = start(&["one", "two"]).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("SELECT INBOX").await;
    c.cmd("NOTIFY SET (selected-delayed (MessageNew MessageExpunge))")
        .await;
    let tag = c.next_tag();
    c.send(format!("{tag} IDLE\r\n").as_bytes()).await;
    assert_eq!(c.line().await, "+ idling\r\n");
    // §6.1.2: expunges wait "till a NOOP or an IDLE command has been issued".
    mailbox(&store, "INBOX").expunge(&[1]).unwrap();
    assert_eq!(c.line().await, "* 1 EXPUNGE\r\n");
    c.send(b"DONE\r\n").await;
    let r = c.until_tagged(&tag).await;
    assert!(tagged(&r).contains(" OK "), "{r}");
}

#[tokio::test]
async fn nothing_is_pushed_in_the_middle_of_a_command() {
    let (handle, store) = with_mailboxes(&["one"], &["Other"]).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("NOTIFY SET (mailboxes Other (MessageNew MessageExpunge))")
        .await;
    let m = message("waits");
    c.send(format!("t50 APPEND INBOX {{{}}}\r\n", m.len()).as_bytes())
        .await;
    assert!(c.line().await.starts_with("+ "));
    // A change while the client is sending its literal: the STATUS waits for the end
    // of the command (a client writing a literal is not reading responses).
    add(&store, "Other", "meanwhile");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    c.send(&m).await;
    c.send(b"\r\n").await;
    let tagged_line = c.line().await;
    assert!(
        tagged_line.starts_with("t50 OK [APPENDUID "),
        "{tagged_line}"
    );
    let line = c.line().await;
    assert_eq!(line, "* STATUS \"Other\" (UIDNEXT 2 MESSAGES 1)\r\n");
}
