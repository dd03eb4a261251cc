//! Sequence numbers stay consistent whatever other sessions do (RFC 3501 §7.4.1): a
//! property test drives one session (sans I/O) while "others" deliver, flag and expunge
//! in the store, and checks every response against a model of what the client knows.
//!
//! The client model is a list of UIDs by sequence number (`None` while a new message's
//! UID has not been seen yet). It changes only as the client is told: `* n EXPUNGE`
//! removes number n, `* n EXISTS` grows the list. Every `* n FETCH (UID u ...)` must name
//! a number the client knows and, where the model knows the UID, that UID.

use std::sync::Arc;

use mini_imap::session::Session;
use proptest::prelude::*;
use yubin_core::Secret;
use yubin_store::{Flag, FlagOp, Flags, Mailbox, Store};

#[derive(Debug, Clone)]
enum Step {
    /// Another party delivers a message.
    Deliver,
    /// Another party expunges the message at this index of the store (modulo its size).
    OtherExpunge(usize),
    /// Another party flags the message at this index of the store.
    OtherFlag(usize),
    /// The client sends a command.
    Client(&'static str),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::Deliver),
        (0usize..16).prop_map(Step::OtherExpunge),
        (0usize..16).prop_map(Step::OtherFlag),
        prop::sample::select(vec![
            "FETCH 1:* (UID FLAGS)",
            "UID FETCH 1:* (UID)",
            "STORE 1:* +FLAGS.SILENT ($Seen1)",
            "UID STORE 1:* -FLAGS ($Seen1)",
            "SEARCH ALL",
            "UID SEARCH ALL",
            "NOOP",
            "CHECK",
            "STATUS INBOX (MESSAGES)",
        ])
        .prop_map(Step::Client),
    ]
}

struct Client {
    session: Session,
    known: Vec<Option<u32>>,
    next: u32,
}

impl Client {
    fn say(&mut self, command: &str) -> String {
        let line = format!("m{} {command}\r\n", self.next);
        self.next += 1;
        let out = self.session.handle_frame(line.as_bytes());
        let text = String::from_utf8(out.bytes.to_vec()).unwrap();
        let no_expunge = ["FETCH", "STORE", "SEARCH"]
            .iter()
            .any(|c| command.starts_with(c) || command.starts_with(&format!("UID {c}")));
        for l in text.split("\r\n").filter(|l| l.starts_with("* ")) {
            let words: Vec<&str> = l.split(' ').collect();
            match words.as_slice() {
                ["*", n, "EXPUNGE"] => {
                    assert!(!no_expunge, "EXPUNGE during {command}: {text}");
                    let n: usize = n.parse().unwrap();
                    assert!(n >= 1 && n <= self.known.len(), "{l} with {:?}", self.known);
                    self.known.remove(n - 1);
                }
                ["*", n, "EXISTS"] => {
                    let n: usize = n.parse().unwrap();
                    assert!(n >= self.known.len(), "EXISTS may not shrink: {l}");
                    self.known.resize(n, None);
                }
                ["*", n, "FETCH", rest @ ..] => {
                    let n: usize = n.parse().unwrap();
                    assert!(n >= 1 && n <= self.known.len(), "{l} with {:?}", self.known);
                    if let ["(UID", uid, ..] = rest {
                        let uid: u32 = uid.trim_end_matches(')').parse().unwrap();
                        match self.known[n - 1] {
                            Some(k) => assert_eq!(k, uid, "{l} with {:?}", self.known),
                            None => self.known[n - 1] = Some(uid),
                        }
                    }
                }
                _ => {}
            }
        }
        text
    }
}

fn start(initial: usize) -> (Mailbox, Client) {
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret")).unwrap();
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    for i in 0..initial {
        let m = format!("Subject: {i}\r\n\r\nbody\r\n");
        inbox.append(m.as_bytes(), &Flags::new(), None).unwrap();
    }
    let session = Session::new(store, Arc::default(), Default::default()).0;
    let mut client = Client {
        session,
        known: Vec::new(),
        next: 1,
    };
    client.say("LOGIN alice secret");
    client.say("SELECT INBOX");
    client.say("FETCH 1:* (UID)");
    (inbox, client)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn sequence_numbers_stay_consistent(
        initial in 1usize..6,
        steps in prop::collection::vec(step(), 1..40),
    ) {
        let (inbox, mut client) = start(initial);
        for s in steps {
            let uids: Vec<u32> = inbox.messages().unwrap().iter().map(|m| m.uid).collect();
            match s {
                Step::Deliver => {
                    inbox.append(b"Subject: new\r\n\r\nnew\r\n", &Flags::new(), None).unwrap();
                }
                Step::OtherExpunge(i) if !uids.is_empty() => {
                    inbox.expunge(&[uids[i % uids.len()]]).unwrap();
                }
                Step::OtherFlag(i) if !uids.is_empty() => {
                    let f = Flags::from([Flag::Flagged]);
                    inbox.set_flags(&[uids[i % uids.len()]], FlagOp::Add, &f).unwrap();
                }
                Step::Client(c) => {
                    client.say(c);
                }
                _ => {}
            }
        }
        // After NOOP the client knows exactly what the store holds, in order.
        client.say("NOOP");
        client.say("FETCH 1:* (UID)");
        let uids: Vec<Option<u32>> =
            inbox.messages().unwrap().iter().map(|m| Some(m.uid)).collect();
        prop_assert_eq!(&client.known, &uids);
    }
}
