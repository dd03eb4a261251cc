//! A large FETCH is answered in pieces (`After::More` + `Session::resume`), so
//! `1:* BODY[]` on a big mailbox never sits in memory whole, and the client still gets
//! every message once, then one completion.

use std::sync::Arc;

use mini_imap::op::fetch::FETCH_CHUNK;
use mini_imap::session::{After, Session};
use yubin_core::Secret;
use yubin_store::{Flags, Store};

#[test]
fn fetch_of_many_large_messages_comes_in_bounded_pieces() {
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret")).unwrap();
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    let line = "x".repeat(998);
    let body: String = (0..100).map(|_| format!("{line}\r\n")).collect();
    let message = format!("Subject: big\r\n\r\n{body}");
    for _ in 0..12 {
        inbox
            .append(message.as_bytes(), &Flags::new(), None)
            .unwrap();
    }
    let (mut s, _) = Session::new(store, Arc::default(), Default::default());
    assert!(
        String::from_utf8_lossy(&s.handle_frame(b"a LOGIN alice secret\r\n").bytes)
            .contains("a OK")
    );
    assert!(String::from_utf8_lossy(&s.handle_frame(b"b SELECT INBOX\r\n").bytes).contains("b OK"));

    let mut output = s.handle_frame(b"c FETCH 1:* BODY[]\r\n");
    let mut pieces = vec![output.bytes.clone()];
    while output.after == After::More {
        output = s.resume();
        pieces.push(output.bytes.clone());
    }
    assert!(
        pieces.len() > 2,
        "answered in pieces, not at once: {}",
        pieces.len()
    );
    for p in &pieces {
        assert!(
            p.len() <= FETCH_CHUNK + message.len() + 200,
            "a piece stays bounded: {}",
            p.len()
        );
    }
    let all = String::from_utf8_lossy(&pieces.concat()).into_owned();
    assert_eq!(
        all.matches(" FETCH (BODY[] {").count(),
        12,
        "every message once"
    );
    assert!(
        all.ends_with("c OK FETCH completed\r\n"),
        "one completion, last"
    );
    assert_eq!(all.matches("c OK").count(), 1);
    // FETCH BODY[] marked them all \Seen; the session goes on.
    let flags = s.handle_frame(b"d FETCH 1:* FLAGS\r\n");
    assert_eq!(
        String::from_utf8_lossy(&flags.bytes)
            .matches("\\Seen")
            .count(),
        12
    );
}
