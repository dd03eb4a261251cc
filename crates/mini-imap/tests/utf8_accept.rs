//! UTF8=ACCEPT (RFC 6855) over a real socket, against the RFC's text: what changes for a
//! client that issues `ENABLE UTF8=ACCEPT`, and that a client that does not sees what it
//! always saw (modified UTF-7 mailbox names, SEARCH CHARSET).

mod raw;

use raw::{Raw, start, tagged, untagged};
use yubin_store::Flags;

/// "Café/日本語" (U+00E9; U+65E5 U+672C U+8A9E) and its modified UTF-7 form (RFC 9051
/// Appendix A.1: "&ZeVnLIqe-" is the example's 日本語).
const UTF8_NAME: &str = "Caf\u{e9}/\u{65e5}\u{672c}\u{8a9e}";
const UTF7_NAME: &str = "Caf&AOk-/&ZeVnLIqe-";

async fn enabled(handle: &yubin_core::ServerHandle) -> Raw {
    let mut c = Raw::login(handle).await;
    let r = c.cmd("ENABLE UTF8=ACCEPT").await;
    assert_eq!(untagged(&r), ["* ENABLED UTF8=ACCEPT"], "{r}");
    assert!(tagged(&r).contains(" OK "), "{r}");
    c
}

#[tokio::test]
async fn enable_turns_it_on_once_and_the_capability_list_stays_the_same() {
    let (handle, _store) = start(&[]).await;
    let mut c = Raw::login(&handle).await;
    let before = c.cmd("CAPABILITY").await;
    assert!(before.contains(" UTF8=ACCEPT"), "{before}");
    let r = c.cmd("ENABLE UTF8=ACCEPT").await;
    assert_eq!(untagged(&r), ["* ENABLED UTF8=ACCEPT"]);
    // RFC 5161 §3.1: ENABLED lists only what this command turned on.
    let r = c.cmd("ENABLE UTF8=ACCEPT").await;
    assert_eq!(untagged(&r), ["* ENABLED"]);
    // RFC 9051 §6.3.1: "The server MUST NOT change the CAPABILITY list as a result of
    // executing ENABLE".
    assert_eq!(untagged(&c.cmd("CAPABILITY").await), untagged(&before));
    // RFC 6855 §3: "only valid in the authenticated state".
    c.cmd("SELECT INBOX").await;
    let r = c.cmd("ENABLE UTF8=ACCEPT").await;
    assert!(tagged(&r).contains(" BAD "), "{r}");
}

#[tokio::test]
async fn a_utf8_name_is_the_same_mailbox_as_its_modified_utf7_form() {
    let (handle, store) = start(&["one"]).await;
    let mut utf8 = enabled(&handle).await;
    let mut legacy = Raw::login(&handle).await;

    // RFC 6855 §3: a server that supports the naming convention "MUST accept
    // UTF8-quoted mailbox names and convert them to the appropriate internal format".
    let r = utf8.cmd(&format!("CREATE \"{UTF8_NAME}\"")).await;
    assert!(tagged(&r).contains(" OK "), "{r}");
    let account = store.account("alice").unwrap();
    assert!(
        account.mailbox(UTF7_NAME).is_ok(),
        "stored as modified UTF-7"
    );

    // The client that did not enable it sees modified UTF-7, as before.
    let r = legacy.cmd("LIST \"\" \"Caf*\"").await;
    assert_eq!(
        untagged(&r),
        [
            "* LIST (\\HasChildren) \"/\" \"Caf&AOk-\"",
            "* LIST (\\HasNoChildren) \"/\" \"Caf&AOk-/&ZeVnLIqe-\""
        ]
    );
    // The UTF-8 client sees UTF-8 (8-bit text goes in a literal), and its patterns
    // match the names it sees, wildcards standing for any part of them.
    for pattern in ["Caf*", "*\u{8a9e}", "Caf\u{e9}/%", "*\u{672c}*"] {
        let r = utf8.cmd(&format!("LIST \"\" \"{pattern}\"")).await;
        assert!(
            r.contains(&format!("{{{}}}\r\n{UTF8_NAME}\r\n", UTF8_NAME.len())),
            "{pattern}: {r}"
        );
        assert!(!r.contains("&ZeVnLIqe-"), "{r}");
    }
    // The extended LIST too, with STATUS read from the stored name.
    let r = utf8
        .cmd("LIST (SUBSCRIBED) \"\" \"*\" RETURN (STATUS (MESSAGES))")
        .await;
    assert!(tagged(&r).contains(" OK "), "{r}");
    utf8.cmd(&format!("SUBSCRIBE \"{UTF8_NAME}\"")).await;
    let r = utf8
        .cmd("LIST (SUBSCRIBED) \"\" \"*\" RETURN (STATUS (MESSAGES))")
        .await;
    assert!(r.contains(&format!("}}\r\n{UTF8_NAME}\r\n")), "{r}");
    assert!(r.contains(" (MESSAGES 0)\r\n"), "{r}");
    let r = legacy.cmd("LSUB \"\" \"*\"").await;
    assert!(r.contains(&format!("\"{UTF7_NAME}\"")), "{r}");

    // Each names it its own way in every command.
    let r = utf8
        .cmd(&format!("STATUS \"{UTF8_NAME}\" (MESSAGES)"))
        .await;
    assert!(
        r.starts_with(&format!(
            "* STATUS {{{}}}\r\n{UTF8_NAME} (MESSAGES 0)\r\n",
            UTF8_NAME.len()
        )),
        "{r}"
    );
    let r = legacy
        .cmd(&format!("STATUS \"{UTF7_NAME}\" (MESSAGES)"))
        .await;
    assert_eq!(
        untagged(&r),
        [format!("* STATUS \"{UTF7_NAME}\" (MESSAGES 0)")]
    );
    utf8.cmd("SELECT INBOX").await;
    let r = utf8.cmd(&format!("COPY 1 \"{UTF8_NAME}\"")).await;
    assert!(tagged(&r).contains(" OK [COPYUID "), "{r}");
    let r = legacy.cmd(&format!("SELECT \"{UTF7_NAME}\"")).await;
    assert!(r.contains("* 1 EXISTS"), "{r}");
    // A name made by the legacy client reads as UTF-8 for the other: RFC 9051 A.1's
    // "&U,BTFw-" (台北).
    let r = legacy.cmd("CREATE \"&U,BTFw-\"").await;
    assert!(tagged(&r).contains(" OK "), "{r}");
    let r = utf8.cmd("RENAME \"\u{53f0}\u{5317}\" \"\u{263a}!\"").await;
    assert!(tagged(&r).contains(" OK "), "{r}");
    // "The correct form is "&Jjo-!"".
    let r = legacy.cmd("LIST \"\" \"&Jjo-*\"").await;
    assert_eq!(untagged(&r), ["* LIST (\\HasNoChildren) \"/\" \"&Jjo-!\""]);
    // An `&` the UTF-8 client types is an ampersand, not a shift.
    let r = utf8.cmd("CREATE \"R&D\"").await;
    assert!(tagged(&r).contains(" OK "), "{r}");
    let r = legacy.cmd("LIST \"\" \"R*\"").await;
    assert_eq!(untagged(&r), ["* LIST (\\HasNoChildren) \"/\" \"R&-D\""]);
    let r = utf8.cmd("DELETE \"R&D\"").await;
    assert!(tagged(&r).contains(" OK "), "{r}");
    assert!(account.mailbox("R&-D").is_err());
}

#[tokio::test]
async fn names_that_are_not_net_unicode_are_refused_and_nothing_is_made() {
    let (handle, store) = start(&[]).await;
    let mut c = enabled(&handle).await;
    let names = || -> Vec<String> {
        let account = store.account("alice").unwrap();
        account
            .list()
            .unwrap()
            .into_iter()
            .map(|i| i.name)
            .collect()
    };
    let before = names();
    // RFC 6855 §3: names "MUST NOT contain control characters (U+0000-U+001F and
    // U+0080-U+009F), a delete character (U+007F), a line separator (U+2028), or a
    // paragraph separator (U+2029)".
    for bad in ["a\u{2028}b", "a\u{2029}", "x\u{85}y", "d\u{7f}"] {
        let r = c.cmd(&format!("CREATE \"{bad}\"")).await;
        assert!(tagged(&r).contains(" NO [CANNOT] "), "{bad:?}: {r}");
    }
    // RFC 9051 §5.1: "Server implementations MUST prohibit the creation of 8-bit
    // mailbox names that do not comply with Net-Unicode" (RFC 5198 §2: NFC). "Cafe"
    // and U+0301 is "Café" decomposed.
    let r = c.cmd("CREATE \"Cafe\u{301}\"").await;
    assert!(tagged(&r).contains(" NO [CANNOT] "), "{r}");
    let r = c.cmd("RENAME INBOX \"Cafe\u{301}\"").await;
    assert!(tagged(&r).contains(" NO [CANNOT] "), "{r}");
    assert_eq!(names(), before);
    // The composed form is fine.
    let r = c.cmd("CREATE \"Caf\u{e9}\"").await;
    assert!(tagged(&r).contains(" OK "), "{r}");
}

#[tokio::test]
async fn invalid_utf8_in_a_quoted_string_is_bad() {
    let (handle, _store) = start(&["one"]).await;
    let mut c = enabled(&handle).await;
    c.cmd("SELECT INBOX").await;
    // RFC 6855 §3: "the server MUST reject, with a "BAD" response, any octet sequences
    // with the high bit set that fail to comply with the formal syntax requirements of
    // UTF-8".
    c.send(b"b1 SEARCH SUBJECT \"caf\xe9\"\r\n").await;
    let r = c.until_tagged("b1").await;
    assert!(tagged(&r).starts_with("b1 BAD "), "{r}");
    c.send(b"b2 CREATE \"\xc3\x28\"\r\n").await;
    let r = c.until_tagged("b2").await;
    assert!(tagged(&r).starts_with("b2 BAD "), "{r}");
}

#[tokio::test]
async fn search_names_no_charset_once_enabled_but_does_before() {
    let (handle, store) = start(&["one"]).await;
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    inbox
        .append(
            "From: a@example.com\r\nSubject: \u{43e}\u{442}\u{43f}\u{443}\u{441}\u{43a}\r\n\r\nhi\r\n"
                .as_bytes(),
            &Flags::new(),
            None,
        )
        .unwrap();
    // Not enabled: SEARCH CHARSET UTF-8 works as it always did.
    let mut legacy = Raw::login(&handle).await;
    legacy.cmd("SELECT INBOX").await;
    let r = legacy
        .cmd("SEARCH CHARSET UTF-8 SUBJECT \"\u{43e}\u{442}\u{43f}\"")
        .await;
    assert_eq!(untagged(&r), ["* SEARCH 2"]);

    let mut c = enabled(&handle).await;
    c.cmd("SELECT INBOX").await;
    // RFC 6855 §3: "If an IMAP server receives such a "SEARCH" command in that
    // situation, it SHOULD reject the command with a "BAD" response".
    let r = c
        .cmd("SEARCH CHARSET UTF-8 SUBJECT \"\u{43e}\u{442}\u{43f}\"")
        .await;
    assert!(tagged(&r).contains(" BAD "), "{r}");
    assert!(untagged(&r).is_empty(), "{r}");
    // Without CHARSET the UTF-8 quoted string is the search text.
    let r = c.cmd("SEARCH SUBJECT \"\u{43e}\u{442}\u{43f}\"").await;
    assert_eq!(untagged(&r), ["* SEARCH 2"]);
}

/// A message whose Subject is UTF-8 (RFC 6532), `body_len` octets of body.
fn utf8_message(body_len: usize) -> Vec<u8> {
    let mut m = "From: a@example.com\r\nSubject: Gr\u{fc}\u{df}e\r\n\r\n"
        .as_bytes()
        .to_vec();
    m.extend(std::iter::repeat_n(b'x', body_len));
    m.extend_from_slice(b"\r\n");
    m
}

async fn append(c: &mut Raw, tag: &str, head: &str, message: &[u8], tail: &str) -> String {
    let mut cmd = format!("{tag} APPEND INBOX {head}{{{}+}}\r\n", message.len()).into_bytes();
    cmd.extend_from_slice(message);
    cmd.extend_from_slice(tail.as_bytes());
    cmd.extend_from_slice(b"\r\n");
    c.send(&cmd).await;
    c.until_tagged(tag).await
}

#[tokio::test]
async fn append_takes_the_utf8_data_extension_and_8bit_headers_only_once_enabled() {
    let (handle, store) = start(&[]).await;
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    // Small (framed whole) and large (streamed to the store in pieces) messages.
    for body in [10, 200 * 1024] {
        let msg = utf8_message(body);
        let before = inbox.status().unwrap().messages;

        // RFC 6855 §4: "the server MUST reject, with a "NO" response, an "APPEND"
        // command that includes any 8-bit character in message header fields" when
        // the client has not issued ENABLE UTF8=ACCEPT; whichever form it uses.
        let mut legacy = Raw::login(&handle).await;
        let r = append(&mut legacy, "a1", "", &msg, "").await;
        assert!(tagged(&r).starts_with("a1 NO "), "{r}");
        let r = append(&mut legacy, "a2", "UTF8 (~", &msg, ")").await;
        assert!(tagged(&r).starts_with("a2 NO "), "{r}");
        assert_eq!(inbox.status().unwrap().messages, before, "nothing added");
        // 8-bit text in the body alone is not refused.
        let mut body8 = b"Subject: plain\r\n\r\n".to_vec();
        body8.extend("Gr\u{fc}\u{df}e\r\n".as_bytes());
        let r = append(&mut legacy, "a3", "", &body8, "").await;
        assert!(tagged(&r).starts_with("a3 OK [APPENDUID "), "{r}");

        // Enabled: `append-data =/ utf8-literal`, `"UTF8" SP "(" literal8 ")"`.
        let mut c = enabled(&handle).await;
        let r = append(&mut c, "u1", "UTF8 (~", &msg, ")").await;
        assert!(tagged(&r).starts_with("u1 OK [APPENDUID "), "{r}");
        // With flags and a date before it.
        let r = append(
            &mut c,
            "u2",
            "(\\Seen) \"24-Nov-2026 10:00:00 +0000\" UTF8 (~",
            &msg,
            ")",
        )
        .await;
        assert!(tagged(&r).starts_with("u2 OK [APPENDUID "), "{r}");
        // The `)` is required.
        let r = append(&mut c, "u3", "UTF8 (~", &msg, "").await;
        assert!(tagged(&r).starts_with("u3 BAD "), "{r}");
        assert_eq!(inbox.status().unwrap().messages, before + 3);
        let view = inbox.view().unwrap();
        let last = view.iter().last().unwrap().uid;
        assert_eq!(inbox.read(last).unwrap().as_ref(), msg.as_slice());
    }
}

#[tokio::test]
async fn the_client_appends_utf8_headers_after_enabling_and_names_the_mailbox_in_utf8() {
    use mini_imap::client::ImapClient;
    use yubin_core::{Secret, Transcript};

    let (handle, store) = start(&[]).await;
    let account = store.account("alice").unwrap();
    account.create(UTF7_NAME).unwrap();
    let addr = handle.local_addr().to_string();
    let mut c = raw::step(ImapClient::connect(&addr, Transcript::disabled()))
        .await
        .unwrap();
    raw::step(c.login("alice", &Secret::from("secret")))
        .await
        .unwrap();
    let msg = utf8_message(10);
    // The name as LIST shows it to a client that has not enabled UTF-8.
    let text = raw::step(c.append(UTF7_NAME, &[], None, &msg))
        .await
        .unwrap();
    assert!(text.starts_with("[APPENDUID "), "{text}");
    let mailbox = account.mailbox(UTF7_NAME).unwrap();
    assert_eq!(mailbox.read(1).unwrap().as_ref(), msg.as_slice());
    // An ASCII header needs nothing enabled; the name is used as given.
    let mut c = raw::step(ImapClient::connect(&addr, Transcript::disabled()))
        .await
        .unwrap();
    raw::step(c.login("alice", &Secret::from("secret")))
        .await
        .unwrap();
    let text = raw::step(c.append(UTF7_NAME, &[], None, &raw::message("plain")))
        .await
        .unwrap();
    assert!(text.starts_with("[APPENDUID "), "{text}");
    assert_eq!(mailbox.status().unwrap().messages, 2);
}
