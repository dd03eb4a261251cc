//! ESEARCH (RFC 4731) and SEARCHRES (RFC 5182) over a real socket: the RFCs' examples
//! replayed against a mailbox built to give the same answers.

use mini_imap::{ImapServerConfig, serve};
use tokio_util::sync::CancellationToken;
use yubin_core::ServerHandle;

mod raw;
use raw::Raw as Conn;
use yubin_store::{Flag, Flags, Secret, Store};

/// Eleven messages, numbered 1..=11 with UIDs 4..=14 (the first three were expunged):
/// 2, 5, 10 and 11 are `\Flagged`, 5 is from Smith, and message `n` has `n` lines of body.
async fn start() -> (ServerHandle, Store) {
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret")).unwrap();
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    for uid in 1..=14u32 {
        let seq = uid.saturating_sub(3);
        let from = if seq == 5 {
            "Smith <s@x.y>"
        } else {
            "Jones <j@x.y>"
        };
        let flags: Flags = if [2, 5, 10, 11].contains(&seq) {
            [Flag::Flagged].into_iter().collect()
        } else {
            Flags::new()
        };
        let body = "line\r\n".repeat(seq as usize);
        let raw = format!("From: {from}\r\nSubject: m{seq}\r\n\r\n{body}");
        inbox.append(raw.as_bytes(), &flags, None).unwrap();
    }
    inbox.expunge(&[1, 2, 3]).unwrap();
    let handle = serve(
        "127.0.0.1:0".parse().unwrap(),
        store.clone(),
        ImapServerConfig::default(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    (handle, store)
}

impl Conn {
    /// Connects, logs in and selects INBOX.
    async fn open(handle: &ServerHandle) -> Conn {
        let mut c = Conn::greeted(handle).await;
        let r = c.ask("l LOGIN alice secret\r\n", "l").await;
        assert!(r.starts_with("l OK"), "{r}");
        let r = c.ask("s SELECT INBOX\r\n", "s").await;
        assert!(r.contains("* 11 EXISTS"), "{r}");
        c
    }

    /// Sends `command` and checks the untagged lines are exactly `want`, then `tag OK`.
    async fn expect(&mut self, command: &str, tag: &str, want: &[&str]) {
        let r = self.ask(command, tag).await;
        let lines: Vec<&str> = r.split_inclusive("\r\n").collect();
        let (last, untagged) = lines.split_last().unwrap();
        let want: Vec<String> = want.iter().map(|w| format!("{w}\r\n")).collect();
        assert_eq!(untagged, want, "{command}");
        assert!(last.starts_with(&format!("{tag} OK")), "{command}: {r}");
    }
}

#[tokio::test]
async fn esearch_answers_rfc_4731_examples() {
    let (handle, _store) = start().await;
    let mut c = Conn::open(&handle).await;
    let r = c.ask("c CAPABILITY\r\n", "c").await;
    assert!(r.contains(" ESEARCH "), "{r}");

    // RFC 4731 §3.1's first examples.
    c.expect(
        "A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n",
        "A282",
        &["* ESEARCH (TAG \"A282\") MIN 2 COUNT 3"],
    )
    .await;
    c.expect(
        "A283 SEARCH RETURN () FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n",
        "A283",
        &["* ESEARCH (TAG \"A283\") ALL 2,10:11"],
    )
    .await;
    // UID SEARCH answers UIDs, marked UID.
    c.expect(
        "A285 UID SEARCH RETURN (MIN MAX) 1:5000\r\n",
        "A285",
        &["* ESEARCH (TAG \"A285\") UID MIN 4 MAX 14"],
    )
    .await;
    c.expect(
        "A286 SEARCH RETURN (COUNT) FLAGGED\r\n",
        "A286",
        &["* ESEARCH (TAG \"A286\") COUNT 4"],
    )
    .await;
    // Every option at once, in any case, with CHARSET after RETURN.
    c.expect(
        "A287 UID SEARCH return (all count max min) CHARSET UTF-8 FLAGGED\r\n",
        "A287",
        &["* ESEARCH (TAG \"A287\") UID MIN 5 MAX 14 COUNT 4 ALL 5,8,13:14"],
    )
    .await;
    // Nothing found: MIN, MAX and ALL are left out; COUNT is 0; the response is sent.
    c.expect(
        "A288 SEARCH RETURN (MIN MAX ALL COUNT) SUBJECT nosuch\r\n",
        "A288",
        &["* ESEARCH (TAG \"A288\") COUNT 0"],
    )
    .await;
    c.expect(
        "A289 SEARCH RETURN (MIN) SUBJECT nosuch\r\n",
        "A289",
        &["* ESEARCH (TAG \"A289\")"],
    )
    .await;
    // Without RETURN, the RFC 3501 answer.
    c.expect("A290 SEARCH FLAGGED\r\n", "A290", &["* SEARCH 2 5 10 11"])
        .await;
    // An unknown option is a syntax error.
    let r = c.ask("A291 SEARCH RETURN (FOO) ALL\r\n", "A291").await;
    assert!(r.starts_with("A291 BAD"), "{r}");
}

/// What `FETCH $ (UID)` answers, as `* n FETCH (UID u)` lines for these (n, u).
fn uids(pairs: &[(u32, u32)]) -> Vec<String> {
    pairs
        .iter()
        .map(|(n, u)| format!("* {n} FETCH (UID {u})"))
        .collect()
}

async fn expect_fetch(c: &mut Conn, command: &str, tag: &str, pairs: &[(u32, u32)]) {
    let want = uids(pairs);
    let want: Vec<&str> = want.iter().map(String::as_str).collect();
    c.expect(command, tag, &want).await;
}

#[tokio::test]
async fn searchres_replays_rfc_5182_examples() {
    let (handle, _store) = start().await;
    let mut c = Conn::open(&handle).await;
    let r = c.ask("c CAPABILITY\r\n", "c").await;
    assert!(r.contains(" ESEARCH SEARCHRES "), "{r}");

    // Before any SAVE, `$` is the empty set: OK and nothing else.
    expect_fetch(&mut c, "A280 FETCH $ (UID)\r\n", "A280", &[]).await;

    // Example 1: SAVE alone sends no ESEARCH; FETCH $ gets the messages found.
    c.expect(
        "A282 SEARCH RETURN (SAVE) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n",
        "A282",
        &[],
    )
    .await;
    let flagged = [(2, 5), (10, 13), (11, 14)];
    expect_fetch(&mut c, "A283 FETCH $ (UID)\r\n", "A283", &flagged).await;

    // Example 2: the same, pipelined in one write.
    let r = c
        .ask(
            "B282 SEARCH RETURN (SAVE) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n\
             B283 FETCH $ (UID)\r\n",
            "B283",
        )
        .await;
    assert_eq!(
        r,
        "B282 OK SEARCH completed\r\n* 2 FETCH (UID 5)\r\n* 10 FETCH (UID 13)\r\n\
         * 11 FETCH (UID 14)\r\nB283 OK FETCH completed\r\n"
    );

    // Example 3: one SEARCH's result as input to another, as UID $ or as $.
    c.expect(
        "A300 SEARCH RETURN (SAVE) SINCE 1-Jan-2004 NOT FROM \"Smith\" UID 10:*\r\n",
        "A300",
        &[],
    )
    .await;
    c.expect(
        "A301 UID SEARCH UID $ SMALLER 4096\r\n",
        "A301",
        &["* SEARCH 10 11 12 13 14"],
    )
    .await;
    c.expect(
        "A302 UID SEARCH $ SMALLER 4096\r\n",
        "A302",
        &["* SEARCH 10 11 12 13 14"],
    )
    .await;
    // `$` within OR, and ESEARCH of it.
    c.expect(
        "A303 SEARCH RETURN (ALL) OR $ 1:2\r\n",
        "A303",
        &["* ESEARCH (TAG \"A303\") ALL 1:2,7:11"],
    )
    .await;

    // Example 4: UID SEARCH saves; UID FETCH $ and FETCH $ both find the messages.
    c.expect(
        "U282 UID SEARCH RETURN (SAVE) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n",
        "U282",
        &[],
    )
    .await;
    expect_fetch(&mut c, "U283 UID FETCH $ (UID)\r\n", "U283", &flagged).await;
    expect_fetch(&mut c, "U284 FETCH $ (UID)\r\n", "U284", &flagged).await;

    // Example 5: nothing found saves the empty set.
    c.expect("A284 SEARCH RETURN (SAVE) SUBJECT nosuch\r\n", "A284", &[])
        .await;
    expect_fetch(&mut c, "A285 FETCH $ (UID)\r\n", "A285", &[]).await;

    // Example 6: SAVE with MIN keeps only the message MIN names; with MIN and MAX, both.
    c.expect(
        "A286 SEARCH RETURN (SAVE MIN) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n",
        "A286",
        &["* ESEARCH (TAG \"A286\") MIN 2"],
    )
    .await;
    expect_fetch(&mut c, "A287 FETCH $ (UID)\r\n", "A287", &[(2, 5)]).await;
    c.expect(
        "A288 UID SEARCH RETURN (MIN SAVE MAX) FLAGGED\r\n",
        "A288",
        &["* ESEARCH (TAG \"A288\") UID MIN 5 MAX 14"],
    )
    .await;
    expect_fetch(
        &mut c,
        "A289 FETCH $ (UID)\r\n",
        "A289",
        &[(2, 5), (11, 14)],
    )
    .await;
    // With COUNT (or ALL) as well, every message found is kept.
    c.expect(
        "A290 SEARCH RETURN (MIN COUNT SAVE) FLAGGED NOT FROM Smith\r\n",
        "A290",
        &["* ESEARCH (TAG \"A290\") MIN 2 COUNT 3"],
    )
    .await;
    expect_fetch(&mut c, "A291 FETCH $ (UID)\r\n", "A291", &flagged).await;

    // A BAD SEARCH leaves `$` as it was; a NO one (SAVE asked) empties it.
    let r = c.ask("A292 SEARCH RETURN (SAVE) FROB\r\n", "A292").await;
    assert!(r.starts_with("A292 BAD"), "{r}");
    expect_fetch(&mut c, "A293 FETCH $ (UID)\r\n", "A293", &flagged).await;
    let r = c
        .ask("A294 SEARCH RETURN (SAVE) CHARSET KOI8-R ALL\r\n", "A294")
        .await;
    assert!(r.starts_with("A294 NO [BADCHARSET"), "{r}");
    expect_fetch(&mut c, "A295 FETCH $ (UID)\r\n", "A295", &[]).await;

    // `$` is the whole set or nothing.
    let r = c.ask("A296 FETCH 1,$ (UID)\r\n", "A296").await;
    assert!(r.starts_with("A296 BAD"), "{r}");

    // SELECT, UNSELECT and CLOSE start afresh.
    for (reset, tag) in [
        ("SELECT INBOX", "R1"),
        ("EXAMINE INBOX", "R2"),
        ("UNSELECT", "R3"),
        ("CLOSE", "R4"),
    ] {
        c.expect("S1 SEARCH RETURN (SAVE) FLAGGED\r\n", "S1", &[])
            .await;
        let r = c.ask(&format!("{tag} {reset}\r\n"), tag).await;
        assert!(r.contains(&format!("{tag} OK")), "{r}");
        if !reset.starts_with("SELECT") && !reset.starts_with("EXAMINE") {
            c.ask("S2 SELECT INBOX\r\n", "S2").await;
        }
        expect_fetch(&mut c, "S3 FETCH $ (UID)\r\n", "S3", &[]).await;
    }
}

#[tokio::test]
async fn searchres_follows_expunge_and_drives_store_copy_move() {
    let (handle, store) = start().await;
    let mut c = Conn::open(&handle).await;
    c.expect("A1 SEARCH RETURN (SAVE) FLAGGED\r\n", "A1", &[])
        .await;
    // STORE $ (and UID STORE $) act on the saved messages.
    c.expect("A2 STORE $ +FLAGS.SILENT (\\Seen)\r\n", "A2", &[])
        .await;
    c.expect("A3 SEARCH SEEN\r\n", "A3", &["* SEARCH 2 5 10 11"])
        .await;
    c.expect("A4 UID STORE $ -FLAGS.SILENT (\\Seen)\r\n", "A4", &[])
        .await;
    c.expect("A5 SEARCH SEEN\r\n", "A5", &["* SEARCH"]).await;
    // An expunged message leaves `$`; the others are renumbered (RFC 5182 §2.1).
    c.expect("A6 STORE 5 +FLAGS.SILENT (\\Deleted)\r\n", "A6", &[])
        .await;
    c.expect("A7 EXPUNGE\r\n", "A7", &["* 5 EXPUNGE"]).await;
    expect_fetch(
        &mut c,
        "A8 FETCH $ (UID)\r\n",
        "A8",
        &[(2, 5), (9, 13), (10, 14)],
    )
    .await;
    // COPY $ and UID MOVE $.
    c.ask("A9 CREATE Kept\r\n", "A9").await;
    let r = c.ask("A10 COPY $ Kept\r\n", "A10").await;
    assert!(r.starts_with("A10 OK [COPYUID"), "{r}");
    let kept = store.account("alice").unwrap().mailbox("Kept").unwrap();
    assert_eq!(kept.status().unwrap().messages, 3);
    let r = c.ask("A11 UID MOVE $ Kept\r\n", "A11").await;
    assert!(r.contains("* 10 EXPUNGE") && r.contains("A11 OK"), "{r}");
    assert_eq!(kept.status().unwrap().messages, 6);
    // Moved away, the saved messages are gone: `$` is empty again.
    expect_fetch(&mut c, "A12 FETCH $ (UID)\r\n", "A12", &[]).await;
}
