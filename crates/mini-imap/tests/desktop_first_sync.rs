//! A desktop mail client's first sync, step by step, with async-imap: the commands
//! Thunderbird-like clients send when an account is added, then reading, flagging and
//! deleting (moving to Trash) one message, then IDLE for new mail.

mod raw;

use std::collections::HashMap;
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::types::{Flag, NameAttribute};
use futures::TryStreamExt;
use raw::{message, start, step};
use tokio::net::TcpStream;
use yubin_store::{Flag as StoreFlag, Flags};

#[tokio::test]
async fn desktop_client_first_sync_read_flag_move_and_idle() {
    let (handle, store) = start(&["one", "two", "three"]).await;
    let account = store.account("alice").unwrap();
    let inbox = account.mailbox("INBOX").unwrap();
    let tcp = step(TcpStream::connect(handle.local_addr())).await.unwrap();
    let mut client = async_imap::Client::new(tcp);
    assert!(step(client.read_response()).await.unwrap().is_some());
    let mut s = step(client.login("alice", "secret"))
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    let caps = step(s.capabilities()).await.unwrap();
    for c in ["IDLE", "UIDPLUS", "MOVE", "SPECIAL-USE"] {
        assert!(caps.has_str(c), "{c}");
    }

    // 1. LIST of every mailbox, with the special-use attributes that tell the client
    //    where Sent, Drafts, Trash and Junk are.
    let names = step(async {
        s.list(Some(""), Some("*"))
            .await
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
    })
    .await;
    let mut special: HashMap<String, String> = HashMap::new();
    for n in &names {
        for a in n.attributes() {
            let use_ = match a {
                NameAttribute::Sent => "sent",
                NameAttribute::Drafts => "drafts",
                NameAttribute::Trash => "trash",
                NameAttribute::Junk => "junk",
                _ => continue,
            };
            special.insert(use_.to_owned(), n.name().to_owned());
        }
    }
    assert_eq!(special.len(), 4, "{names:?}");
    let trash = special["trash"].clone();

    // 2. STATUS of each mailbox.
    let mut counts = HashMap::new();
    for n in &names {
        let st = step(s.status(n.name(), "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)"))
            .await
            .unwrap();
        counts.insert(n.name().to_owned(), st.exists);
    }
    assert_eq!(counts["INBOX"], 3);
    assert_eq!(counts[&trash], 0);

    // 3. SELECT INBOX.
    let mb = step(s.select("INBOX")).await.unwrap();
    assert_eq!(mb.exists, 3);
    let uid_validity = mb.uid_validity.unwrap();

    // 4. Headers of everything, without setting \Seen.
    let headers = step(async {
        s.uid_fetch(
            "1:*",
            "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (From To Subject Date Message-ID)])",
        )
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
    })
    .await;
    assert_eq!(headers.len(), 3);
    for (f, subject) in headers.iter().zip(["one", "two", "three"]) {
        let uid = f.uid.unwrap();
        let meta = &inbox.messages().unwrap()[uid as usize - 1];
        assert_eq!(f.size, Some(meta.size as u32));
        let h = String::from_utf8_lossy(f.header().expect("header fields"));
        assert!(h.contains(&format!("Subject: {subject}\r\n")), "{h}");
        assert!(h.contains("Message-ID: <"), "{h}");
        assert!(!h.contains("Hello"), "{h}");
        assert_eq!(f.flags().count(), 1, "only \\Recent"); // not \Seen
    }

    // 5. The body of the message the user clicks, still without \Seen (PEEK) ...
    let body = step(async {
        s.uid_fetch("2", "BODY.PEEK[]")
            .await
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
    })
    .await;
    assert_eq!(body[0].body().unwrap(), &message("two")[..]);
    // ... 6. which the client then marks read itself.
    let stored = step(async {
        s.uid_store("2", "+FLAGS (\\Seen)")
            .await
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
    })
    .await;
    assert!(stored[0].flags().any(|f| f == Flag::Seen));
    assert!(
        inbox.messages().unwrap()[1]
            .flags
            .contains(&StoreFlag::Seen)
    );

    // 7. Delete = UID MOVE to Trash; the message keeps its flags there.
    step(s.uid_mv("2", &trash)).await.unwrap();
    let in_inbox: Vec<u32> = inbox.messages().unwrap().iter().map(|m| m.uid).collect();
    assert_eq!(in_inbox, [1, 3]);
    let trashed = account.mailbox(&trash).unwrap().messages().unwrap();
    assert_eq!(trashed.len(), 1);
    assert_eq!(trashed[0].flags, Flags::from([StoreFlag::Seen]));
    let left = step(async {
        s.uid_fetch("1:*", "(UID)")
            .await
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
    })
    .await;
    let left: Vec<(u32, u32)> = left.iter().map(|f| (f.message, f.uid.unwrap())).collect();
    assert_eq!(left, [(1, 1), (2, 3)]);

    // 8. IDLE until new mail arrives.
    let mut idle = s.idle();
    step(idle.init()).await.unwrap();
    inbox.append(&message("four"), &Flags::new(), None).unwrap();
    {
        let (wait, _stop) = idle.wait_with_timeout(Duration::from_secs(60));
        match step(wait).await.unwrap() {
            IdleResponse::NewData(d) => {
                let d = format!("{:?}", d.parsed());
                assert!(d.contains("Exists(3)"), "{d}");
            }
            other => panic!("expected new mail, got {other:?}"),
        }
    }
    let mut s = step(idle.done()).await.unwrap();
    let new = step(async {
        s.uid_fetch("4", "(UID FLAGS)")
            .await
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
    })
    .await;
    assert_eq!(new[0].message, 3);
    assert_eq!(
        step(s.select("INBOX")).await.unwrap().uid_validity,
        Some(uid_validity)
    );
    step(s.logout()).await.unwrap();
    handle.stop().await;
}
