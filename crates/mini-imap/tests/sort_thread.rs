//! SORT, THREAD (RFC 5256), SORT=DISPLAY (RFC 5957) and ESORT (RFC 5267 §3) over a real
//! socket: RFC 5256's example commands replayed against mailboxes built to give known
//! answers, and mailboxes that look like real mail (reply chains with Re: and Fwd:,
//! missing parents, a references loop, time zones). Every answer is checked line for
//! line.

use chrono::DateTime;
use mini_imap::{ImapServerConfig, serve};
use tokio_util::sync::CancellationToken;
use yubin_core::ServerHandle;
use yubin_store::{Flags, Mailbox, Secret, Store};

mod raw;
use raw::{Raw, untagged};

/// Header fields, name and value.
type Fields<'a> = &'a [(&'a str, &'a str)];

/// A message with these header fields and `body` (padded to its length).
fn mail(fields: &[(&str, &str)], body_len: usize) -> Vec<u8> {
    let mut m = String::new();
    for (name, value) in fields {
        m.push_str(&format!("{name}: {value}\r\n"));
    }
    m.push_str("\r\n");
    m.push_str(&"x".repeat(body_len));
    m.into_bytes()
}

/// A server whose alice has an empty INBOX, and that INBOX.
async fn start() -> (ServerHandle, Store, Mailbox) {
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret")).unwrap();
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    let handle = serve(
        "127.0.0.1:0".parse().unwrap(),
        store.clone(),
        ImapServerConfig::default(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    (handle, store, inbox)
}

fn append(inbox: &Mailbox, raw: &[u8], internal: &str) {
    let date = DateTime::parse_from_rfc3339(internal).unwrap();
    inbox.append(raw, &Flags::new(), Some(date)).unwrap();
}

async fn open(handle: &ServerHandle) -> Raw {
    let mut c = Raw::login(handle).await;
    let r = c.cmd("SELECT INBOX").await;
    assert!(r.contains(" OK "), "{r}");
    c
}

/// Sends `command` and checks that the untagged lines are exactly `want` and the
/// command then completes with OK.
async fn expect(c: &mut Raw, command: &str, want: &[&str]) {
    let r = c.cmd(command).await;
    assert_eq!(untagged(&r), want, "{command}");
    assert!(raw::tagged(&r).contains(" OK "), "{command}: {r}");
}

/// Five messages (UIDs 2..=6, the first one expunged) whose base subjects are ALPHA and
/// BETA, behind replies, forwards and list tags; 1 and 2 arrived in 1994.
async fn subjects_mailbox() -> (ServerHandle, Store, Mailbox) {
    let (handle, store, inbox) = start().await;
    let one = |subject: &str, date: &str| {
        mail(&[("Subject", subject), ("Date", date), ("From", "a@x")], 10)
    };
    append(
        &inbox,
        &one("gone", "1 Jan 2026 00:00 +0000"),
        "2026-01-01T00:00:00Z",
    );
    let rows = [
        (
            "Re: Beta",
            "Fri, 2 Jan 2026 10:00:00 +0000",
            "1994-01-01T00:00:00Z",
        ),
        (
            "beta",
            "Thu, 1 Jan 2026 10:00:00 +0000",
            "1994-01-02T00:00:00Z",
        ),
        (
            "[list] Alpha",
            "Sat, 3 Jan 2026 10:00:00 +0000",
            "2026-01-03T00:00:00Z",
        ),
        (
            "Fwd: alpha (fwd)",
            "Fri, 2 Jan 2026 10:00:00 +0000",
            "2026-01-04T00:00:00Z",
        ),
        (
            "ALPHA",
            "Sun, 4 Jan 2026 10:00:00 +0000",
            "2026-01-05T00:00:00Z",
        ),
    ];
    for (subject, date, internal) in rows {
        append(&inbox, &one(subject, date), internal);
    }
    inbox.expunge(&[1]).unwrap();
    (handle, store, inbox)
}

#[tokio::test]
async fn sort_replays_rfc_5256_examples() {
    let (handle, _store, _inbox) = subjects_mailbox().await;
    let mut c = open(&handle).await;
    let r = c.cmd("CAPABILITY").await;
    for cap in [
        " SORT ",
        " SORT=DISPLAY ",
        " ESORT ",
        " THREAD=ORDEREDSUBJECT ",
    ] {
        assert!(r.contains(cap), "{cap}: {r}");
    }
    assert!(r.contains(" THREAD=REFERENCES "), "{r}");
    // RFC 5256 §3's three SORT examples, on this mailbox.
    let r = c
        .ask("A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994\r\n", "A282")
        .await;
    assert_eq!(r, "* SORT 3 4 5\r\nA282 OK SORT completed\r\n");
    let r = c
        .ask("A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL\r\n", "A283")
        .await;
    assert_eq!(r, "* SORT 5 3 4 1 2\r\nA283 OK SORT completed\r\n");
    let r = c
        .ask(
            "A284 SORT (SUBJECT) US-ASCII TEXT \"not in mailbox\"\r\n",
            "A284",
        )
        .await;
    assert_eq!(r, "* SORT\r\nA284 OK SORT completed\r\n");
    // UID SORT names the same order by UID.
    let r = c
        .ask("A285 UID SORT (SUBJECT REVERSE DATE) UTF-8 ALL\r\n", "A285")
        .await;
    assert_eq!(r, "* SORT 6 4 5 2 3\r\nA285 OK UID SORT completed\r\n");
    // RFC 5256 §3's THREAD example with no match, then ORDEREDSUBJECT on everything:
    // ALPHA by sent date is 4, 3, 5; BETA is 2, 1; threads by their first's date.
    let r = c
        .ask(
            "A286 THREAD ORDEREDSUBJECT US-ASCII TEXT \"gewp\"\r\n",
            "A286",
        )
        .await;
    assert_eq!(r, "* THREAD\r\nA286 OK THREAD completed\r\n");
    expect(
        &mut c,
        "THREAD ORDEREDSUBJECT UTF-8 ALL",
        &["* THREAD (2 1)(4 (3)(5))"],
    )
    .await;
    expect(
        &mut c,
        "UID THREAD ORDEREDSUBJECT UTF-8 ALL",
        &["* THREAD (3 2)(5 (4)(6))"],
    )
    .await;
    // `$` (RFC 5182) selects for SORT as for any search.
    expect(&mut c, "SEARCH RETURN (SAVE) SINCE 1-Feb-1994", &[]).await;
    expect(&mut c, "SORT (REVERSE DATE) UTF-8 $", &["* SORT 5 3 4"]).await;
    c.logout().await;
    handle.stop().await;
}

/// Five messages whose From, To, Cc, Date, arrival and size each put them in a
/// different order.
async fn criteria_mailbox() -> (ServerHandle, Store, Mailbox) {
    let (handle, store, inbox) = start().await;
    let rows: [(Fields, usize, &str); 5] = [
        (
            &[
                ("From", "\"Zed\" <alice@z.example>"),
                ("To", "bob@x"),
                ("Date", "Tue, 1 Dec 2026 12:00:00 +0000"),
            ],
            5000,
            "2026-12-05T00:00:00Z",
        ),
        (
            &[
                ("From", "bob@y"),
                ("To", "Ann <Carol@x>"),
                ("Cc", "dave@x"),
                // 11:00 UTC: the time zone counts (RFC 5256 §2.2).
                ("Date", "Tue, 1 Dec 2026 13:00:00 +0200"),
            ],
            1000,
            "2026-12-03T00:00:00Z",
        ),
        (
            &[
                ("From", "Team: Ann <ann@x>;"),
                ("To", "=?UTF-8?Q?=C3=89mile?= <emile@x>"),
                // Unparseable: the internal date, the oldest, is the sent date.
                ("Date", "the day before yesterday"),
            ],
            4000,
            "2026-12-01T00:00:00Z",
        ),
        (
            &[
                ("From", "ALICE@a.example"),
                ("Cc", "aaron@x, zack@x"),
                ("Date", "Tue, 1 Dec 2026 11:30:00 +0000"),
            ],
            3000,
            "2026-12-02T00:00:00Z",
        ),
        (
            &[("To", "zoe@x"), ("Date", "Tue, 1 Dec 2026 12:30:00 +0000")],
            2000,
            "2026-12-04T00:00:00Z",
        ),
    ];
    for (fields, body, internal) in rows {
        append(&inbox, &mail(fields, body), internal);
    }
    (handle, store, inbox)
}

#[tokio::test]
async fn sort_criteria_compare_as_rfc_5256_and_5957_define_them() {
    let (handle, _store, _inbox) = criteria_mailbox().await;
    let mut c = open(&handle).await;
    let table = [
        // addr-mailbox of the first address, case-insensitive; a group's name; none is
        // the empty string, first.
        ("SORT (FROM) UTF-8 ALL", "* SORT 5 1 4 2 3"),
        // REVERSE reverses FROM only: 1 and 4 (both "alice") stay in sequence order.
        ("SORT (REVERSE FROM) UTF-8 ALL", "* SORT 3 2 1 4 5"),
        ("SORT (FROM DATE) UTF-8 ALL", "* SORT 5 4 1 2 3"),
        ("SORT (TO) UTF-8 ALL", "* SORT 4 1 2 3 5"),
        ("SORT (CC) UTF-8 ALL", "* SORT 1 3 5 4 2"),
        ("SORT (DATE) UTF-8 ALL", "* SORT 3 2 4 1 5"),
        ("SORT (ARRIVAL) UTF-8 ALL", "* SORT 3 4 2 5 1"),
        ("SORT (SIZE) UTF-8 ALL", "* SORT 2 5 4 3 1"),
        ("SORT (REVERSE SIZE) UTF-8 LARGER 2500", "* SORT 1 3 4"),
        // RFC 5957: the display name, else the address; decoded; É after ASCII.
        ("SORT (DISPLAYFROM) UTF-8 ALL", "* SORT 5 4 2 3 1"),
        ("SORT (DISPLAYTO) UTF-8 ALL", "* SORT 4 2 1 5 3"),
        ("sort (subject size) \"UTF-8\" all", "* SORT 2 5 4 3 1"),
    ];
    for (command, want) in table {
        expect(&mut c, command, &[want]).await;
    }
    c.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn esort_answers_in_sort_order() {
    let (handle, _store, inbox) = criteria_mailbox().await;
    let mut c = open(&handle).await;
    // RFC 5267 §3: MIN and MAX are the first and last in sort order, ALL lists the
    // messages in that order (runs only where they ascend), COUNT as in ESEARCH.
    let r = c
        .ask(
            "e1 SORT RETURN (MIN MAX COUNT ALL) (FROM) UTF-8 ALL\r\n",
            "e1",
        )
        .await;
    assert_eq!(
        r,
        "* ESEARCH (TAG \"e1\") MIN 5 MAX 3 COUNT 5 ALL 5,1,4,2:3\r\ne1 OK SORT completed\r\n"
    );
    // RETURN () means ALL (RFC 4731 §3.1), here with UIDs after an expunge.
    inbox.expunge(&[3]).unwrap();
    let r = c.cmd("NOOP").await;
    assert!(r.contains("* 3 EXPUNGE"), "{r}");
    let r = c
        .ask("e2 UID SORT RETURN () (ARRIVAL) UTF-8 ALL\r\n", "e2")
        .await;
    assert_eq!(
        r,
        "* ESEARCH (TAG \"e2\") UID ALL 4,2,5,1\r\ne2 OK UID SORT completed\r\n"
    );
    let r = c
        .ask(
            "e3 SORT RETURN (COUNT MIN) (SIZE) UTF-8 FROM nobody\r\n",
            "e3",
        )
        .await;
    assert_eq!(
        r,
        "* ESEARCH (TAG \"e3\") COUNT 0\r\ne3 OK SORT completed\r\n"
    );
    c.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn bad_sort_and_thread_commands_change_nothing() {
    let (handle, _store, _inbox) = subjects_mailbox().await;
    let mut c = Raw::login(&handle).await;
    let r = c.cmd("SORT (SUBJECT) UTF-8 ALL").await;
    assert!(raw::tagged(&r).contains(" BAD No mailbox selected"), "{r}");
    let r = c.cmd("SELECT INBOX").await;
    assert!(r.contains(" OK "), "{r}");
    let r = c.cmd("SORT (SUBJECT) ISO-8859-1 ALL").await;
    assert_eq!(untagged(&r), Vec::<&str>::new());
    assert!(
        raw::tagged(&r).contains(" NO [BADCHARSET (UTF-8 US-ASCII)]"),
        "{r}"
    );
    let r = c.cmd("THREAD REFERENCES KOI8-R ALL").await;
    assert!(raw::tagged(&r).contains(" NO [BADCHARSET"), "{r}");
    for bad in [
        "SORT () UTF-8 ALL",
        "SORT (SUBJECT) UTF-8",
        "SORT SUBJECT UTF-8 ALL",
        "SORT (NOSUCHKEY) UTF-8 ALL",
        "SORT (REVERSE) UTF-8 ALL",
        "SORT RETURN (SAVE) (DATE) UTF-8 ALL",
        "SORT RETURN (BOGUS) (DATE) UTF-8 ALL",
        "THREAD UTF-8 ALL",
        "THREAD NOSUCHALGORITHM UTF-8 ALL",
        "UID THREAD REFERENCES UTF-8",
    ] {
        let r = c.cmd(bad).await;
        assert!(raw::tagged(&r).contains(" BAD "), "{bad}: {r}");
        assert_eq!(untagged(&r), Vec::<&str>::new(), "{bad}");
    }
    // The session is unharmed.
    expect(&mut c, "SORT (SUBJECT) UTF-8 ALL", &["* SORT 3 4 5 1 2"]).await;
    c.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn sort_withholds_expunge_like_search() {
    let (handle, _store, inbox) = subjects_mailbox().await;
    let mut c = open(&handle).await;
    inbox.expunge(&[6]).unwrap();
    // RFC 5256 §3: no EXPUNGE while responding to SORT (nor THREAD): the numbers the
    // client knows still stand.
    let r = c.cmd("SORT (ARRIVAL) UTF-8 1:4").await;
    assert_eq!(untagged(&r), ["* SORT 1 2 3 4"]);
    let r = c.cmd("THREAD REFERENCES UTF-8 1:4").await;
    assert!(!r.contains("EXPUNGE"), "{r}");
    let r = c.cmd("NOOP").await;
    assert!(r.contains("* 5 EXPUNGE"), "{r}");
    c.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn thread_references_replays_the_rfc_5256_section_4_example() {
    // RFC 5256 §4: "(2)(3 6 (4 23)(44 7 96))". Ninety-six messages; the search picks
    // the eight of the example, linked by References as the example shows them.
    let (handle, _store, inbox) = start().await;
    let refs = |n: u32| -> &'static str {
        match n {
            6 => "<m3@x>",
            4 | 44 => "<m3@x> <m6@x>",
            23 => "<m3@x> <m6@x> <m4@x>",
            7 => "<m3@x> <m6@x> <m44@x>",
            96 => "<m3@x> <m6@x> <m44@x> <m7@x>",
            _ => "",
        }
    };
    for n in 1..=96u32 {
        let subject = match n {
            2 => "Another matter".to_owned(),
            3 => "Plan".to_owned(),
            n if !refs(n).is_empty() => "Re: Plan".to_owned(),
            n => format!("Filler {n}"),
        };
        let id = format!("<m{n}@x>");
        let date = format!("Mon, 7 Dec 2026 {:02}:{:02}:00 +0000", n / 60, n % 60);
        let mut fields = vec![
            ("Subject", subject.as_str()),
            ("Message-ID", id.as_str()),
            ("Date", date.as_str()),
        ];
        if !refs(n).is_empty() {
            fields.push(("References", refs(n)));
        }
        append(&inbox, &mail(&fields, 10), "2026-12-07T12:00:00Z");
    }
    let mut c = open(&handle).await;
    let r = c
        .ask("A285 THREAD REFERENCES UTF-8 2:4,6,7,23,44,96\r\n", "A285")
        .await;
    assert_eq!(
        r,
        "* THREAD (2)(3 6 (4 23)(44 7 96))\r\nA285 OK THREAD completed\r\n"
    );
    // Without message 6, its children hang off a dummy under 3 that is spliced away.
    expect(
        &mut c,
        "THREAD REFERENCES UTF-8 3,4,23,44,7,96",
        &["* THREAD (3 (4 23)(44 7 96))"],
    )
    .await;
    c.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn threads_of_a_real_looking_mailbox() {
    let (handle, _store, inbox) = start().await;
    let rows: [&[(&str, &str)]; 8] = [
        &[
            ("Subject", "Lunch on Friday?"),
            ("Message-ID", "<l1@x>"),
            ("Date", "Mon, 7 Dec 2026 10:00:00 +0000"),
        ],
        &[
            ("Subject", "Re: Lunch on Friday?"),
            ("Message-ID", "<l2@x>"),
            ("In-Reply-To", "<l1@x>"),
            ("Date", "Mon, 7 Dec 2026 10:05:00 +0000"),
        ],
        &[
            ("Subject", "RE: Lunch on Friday?"),
            ("Message-ID", "<l3@x>"),
            ("References", "<l1@x>\r\n <l2@x>"),
            ("Date", "Mon, 7 Dec 2026 10:07:00 +0000"),
        ],
        // Its parent is not in the mailbox: a dummy under 1, spliced away.
        &[
            ("Subject", "Fwd: Lunch on Friday?"),
            ("Message-ID", "<l4@x>"),
            ("References", "<l1@x> <not-here@x>"),
            ("Date", "Mon, 7 Dec 2026 10:20:00 +0000"),
        ],
        // 5 and 6 refer to each other: the second link would be a loop.
        &[
            ("Subject", "Budget"),
            ("Message-ID", "<b1@x>"),
            ("References", "<b2@x>"),
            ("Date", "Mon, 7 Dec 2026 11:00:00 +0000"),
        ],
        &[
            ("Subject", "Re: Budget"),
            ("Message-ID", "<b2@x>"),
            ("References", "<b1@x>"),
            ("Date", "Mon, 7 Dec 2026 11:05:00 +0000"),
        ],
        // No ids at all: joins the Budget thread by subject only.
        &[
            ("Subject", "[team] Re: Budget"),
            ("Date", "Mon, 7 Dec 2026 12:00:00 +0000"),
        ],
        // 09:00 UTC: the earliest; its parent is missing (a dummy with one child at
        // the top is promoted).
        &[
            ("Subject", "Quarterly report"),
            ("Message-ID", "<q1@x>"),
            ("References", "<q0@x>"),
            ("Date", "Mon, 7 Dec 2026 10:00:00 +0100"),
        ],
    ];
    for fields in rows {
        append(&inbox, &mail(fields, 10), "2026-12-07T12:00:00Z");
    }
    let mut c = open(&handle).await;
    expect(
        &mut c,
        "THREAD REFERENCES UTF-8 ALL",
        &["* THREAD (8)(1 (2 3)(4))((6 5)(7))"],
    )
    .await;
    expect(
        &mut c,
        "THREAD ORDEREDSUBJECT UTF-8 ALL",
        &["* THREAD (8)(1 (2)(3)(4))(5 (6)(7))"],
    )
    .await;
    expect(
        &mut c,
        "UID THREAD REFERENCES UTF-8 NOT SUBJECT budget",
        &["* THREAD (8)(1 (2 3)(4))"],
    )
    .await;
    expect(
        &mut c,
        "SORT (SUBJECT DATE) UTF-8 ALL",
        &["* SORT 5 6 7 1 2 3 4 8"],
    )
    .await;
    c.logout().await;
    handle.stop().await;
}
