//! The server on port 0, driven by a real third-party client: the `async-imap` crate.

use std::path::PathBuf;
use std::time::Duration;

use async_imap::imap_proto::{MessageSection, SectionPath};
use async_imap::types::{Fetch, Flag, NameAttribute};
use futures::TryStreamExt;
use mini_imap::{ImapServerConfig, serve};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use yubin_core::ServerHandle;
use yubin_store::{Flags, Secret, Store};

const STEP: Duration = Duration::from_secs(10);

/// Bounds every step: a hung server fails the test instead of hanging it.
async fn step<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, f).await.expect("step timed out")
}

fn corpus(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/corpus")
        .join(name);
    std::fs::read(p).unwrap()
}

/// INBOX holds, in order: 01-plain, 03-iso-2022-jp, 04-multipart-alternative,
/// 06-forwarded-rfc822, 08-folded-no-date.
async fn start() -> (ServerHandle, Store) {
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret")).unwrap();
    let account = store.account("alice").unwrap();
    account.create("Archive/2024").unwrap();
    let inbox = account.mailbox("INBOX").unwrap();
    for name in [
        "01-plain.eml",
        "03-iso-2022-jp.eml",
        "04-multipart-alternative.eml",
        "06-forwarded-rfc822.eml",
        "08-folded-no-date.eml",
    ] {
        inbox.append(&corpus(name), &Flags::new(), None).unwrap();
    }
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

type Session = async_imap::Session<TcpStream>;

async fn login(handle: &ServerHandle) -> Session {
    let tcp = step(TcpStream::connect(handle.local_addr())).await.unwrap();
    let mut client = async_imap::Client::new(tcp);
    let greeting = step(client.read_response()).await.unwrap();
    assert!(greeting.is_some());
    step(client.login("alice", "secret"))
        .await
        .map_err(|(e, _)| e)
        .unwrap()
}

async fn fetch(s: &mut Session, set: &str, items: &str) -> Vec<Fetch> {
    step(async {
        s.fetch(set, items)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap()
    })
    .await
}

async fn uid_fetch(s: &mut Session, set: &str, items: &str) -> Vec<Fetch> {
    step(async {
        s.uid_fetch(set, items)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap()
    })
    .await
}

fn seen(f: &Fetch) -> bool {
    f.flags().any(|x| x == Flag::Seen)
}

#[tokio::test]
async fn capability_and_list_with_children_and_special_use() {
    let (handle, _store) = start().await;
    let mut s = login(&handle).await;
    let caps = step(s.capabilities()).await.unwrap();
    for c in [
        "IMAP4rev1",
        "LITERAL+",
        "SASL-IR",
        "UNSELECT",
        "SPECIAL-USE",
    ] {
        assert!(caps.has_str(c), "{c}");
    }
    let names: Vec<_> = step(async {
        s.list(Some(""), Some("*"))
            .await
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
    })
    .await;
    let find = |n: &str| names.iter().find(|x| x.name() == n).unwrap();
    assert_eq!(names[0].name(), "INBOX");
    assert_eq!(find("INBOX").delimiter(), Some("/"));
    assert!(
        !find("Archive/2024")
            .attributes()
            .contains(&NameAttribute::NoSelect)
    );
    assert!(
        find("Archive")
            .attributes()
            .contains(&NameAttribute::Extension("\\HasChildren".into()))
    );
    assert!(find("Sent").attributes().contains(&NameAttribute::Sent));
    let top: Vec<_> = step(async {
        s.list(Some(""), Some("%"))
            .await
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
    })
    .await;
    assert!(top.iter().all(|n| !n.name().contains('/')));
    step(s.logout()).await.unwrap();
    handle.stop().await;
}

#[tokio::test]
async fn select_reports_counts_and_fetch_returns_every_item() {
    let (handle, _store) = start().await;
    let mut s = login(&handle).await;
    let mb = step(s.select("INBOX")).await.unwrap();
    assert_eq!(mb.exists, 5);
    assert_eq!(mb.recent, 5);
    assert_eq!(mb.unseen, Some(1));
    assert_eq!(mb.uid_next, Some(6));
    assert!(mb.uid_validity.is_some());
    assert!(mb.permanent_flags.contains(&Flag::Seen));

    let all = fetch(
        &mut s,
        "1:*",
        "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)",
    )
    .await;
    assert_eq!(all.len(), 5);
    for f in &all {
        assert!(f.uid.is_some() && f.size.is_some() && f.internal_date().is_some());
        assert!(f.bodystructure().is_some() && f.envelope().is_some());
    }
    let env = all[0].envelope().unwrap();
    assert_eq!(env.subject.as_deref(), Some(&b"Plain hello"[..]));
    assert!(all[4].envelope().unwrap().date.is_none(), "08 has no Date");

    // Macros (FULL includes BODY, which imap-proto cannot read: raw-socket tests cover it).
    for m in ["ALL", "FAST"] {
        let f = fetch(&mut s, "1", m).await;
        assert_eq!(f.len(), 1, "{m}");
        assert!(f[0].size.is_some());
    }
    // BODY[], HEADER, TEXT, RFC822.*, sections with parts, partials.
    let f = fetch(
        &mut s,
        "4",
        "(BODY.PEEK[] BODY.PEEK[HEADER] BODY.PEEK[TEXT])",
    )
    .await;
    let whole = f[0].body().unwrap();
    let header = f[0].header().unwrap();
    let text = f[0].text().unwrap();
    assert_eq!(header.len() + text.len(), whole.len());
    let f = fetch(
        &mut s,
        "4",
        "(BODY.PEEK[2.HEADER] BODY.PEEK[2.1] BODY.PEEK[2.MIME])",
    )
    .await;
    let nested_header = f[0]
        .section(&SectionPath::Part(vec![2], Some(MessageSection::Header)))
        .unwrap();
    assert!(nested_header.starts_with(b"From: Hanako Yamada"));
    let nested_body = f[0].section(&SectionPath::Part(vec![2, 1], None)).unwrap();
    assert!(nested_body.starts_with(b"Hello Alice,"));
    let mime = f[0]
        .section(&SectionPath::Part(vec![2], Some(MessageSection::Mime)))
        .unwrap();
    assert!(mime.starts_with(b"Content-Type: message/rfc822"));
    let f = fetch(&mut s, "1", "(RFC822.HEADER RFC822.SIZE)").await;
    assert!(f[0].header().unwrap().starts_with(b"From: "));
    let f = fetch(&mut s, "1", "BODY.PEEK[]<0.4>").await;
    assert_eq!(
        f[0].section(&SectionPath::Full(MessageSection::Text)),
        None,
        "partial is not TEXT"
    );
    let f = uid_fetch(&mut s, "3", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]").await;
    assert_eq!(f[0].uid, Some(3));
    let f = fetch(&mut s, "1:*", "FLAGS").await;
    assert!(f.iter().all(|f| !seen(f)), "PEEKs and headers set nothing");
    step(s.logout()).await.unwrap();
    handle.stop().await;
}

#[tokio::test]
async fn fetch_body_sets_seen_peek_does_not_and_mail_stays_after_logout() {
    let (handle, store) = start().await;
    let mut s = login(&handle).await;
    step(s.select("INBOX")).await.unwrap();
    let f = fetch(&mut s, "1", "BODY.PEEK[]").await;
    assert!(!seen(&f[0]));
    let f = fetch(&mut s, "2", "BODY[]").await;
    assert!(seen(&f[0]), "FETCH BODY[] reports the new \\Seen flag");
    let f = fetch(&mut s, "3", "RFC822").await;
    assert!(seen(&f[0]));
    let f = fetch(&mut s, "4", "RFC822.TEXT").await;
    assert!(seen(&f[0]), "RFC822.TEXT is BODY[TEXT]: it sets \\Seen");
    assert!(f[0].text().unwrap().starts_with(b"--"));
    let f = fetch(&mut s, "5", "RFC822.HEADER").await;
    assert!(!seen(&f[0]), "RFC822.HEADER is BODY.PEEK[HEADER]");
    step(s.logout()).await.unwrap();

    let mut s = login(&handle).await;
    let mb = step(s.select("INBOX")).await.unwrap();
    assert_eq!(mb.exists, 5, "IMAP keeps the mail on the server");
    let f = fetch(&mut s, "1:3", "FLAGS").await;
    assert_eq!(
        f.iter().map(seen).collect::<Vec<_>>(),
        vec![false, true, true]
    );
    let f = fetch(&mut s, "4:5", "FLAGS").await;
    assert_eq!(f.iter().map(seen).collect::<Vec<_>>(), vec![true, false]);
    step(s.logout()).await.unwrap();
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    assert_eq!(inbox.status().unwrap().messages, 5);
    handle.stop().await;
}

#[tokio::test]
async fn examine_changes_nothing() {
    let (handle, store) = start().await;
    let mut s = login(&handle).await;
    let mb = step(s.examine("INBOX")).await.unwrap();
    assert_eq!(mb.exists, 5);
    let f = fetch(&mut s, "1", "BODY[]").await;
    assert!(!seen(&f[0]), "EXAMINE is read-only");
    step(s.logout()).await.unwrap();
    let st = store
        .account("alice")
        .unwrap()
        .mailbox("INBOX")
        .unwrap()
        .status()
        .unwrap();
    assert_eq!(st.unseen, 5);
    assert_eq!(st.recent, 5, "EXAMINE does not claim \\Recent");
    handle.stop().await;
}

#[tokio::test]
async fn search_finds_japanese_subject_and_combines_keys() {
    let (handle, _store) = start().await;
    let mut s = login(&handle).await;
    step(s.select("INBOX")).await.unwrap();
    let mut hits: Vec<u32>;
    // 03's subject is ISO-2022-JP in an encoded word; the query is UTF-8.
    hits = step(s.search("CHARSET UTF-8 SUBJECT \"件名\""))
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(hits, vec![2]);
    hits = step(s.uid_search("BODY \"日本語\""))
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(hits, vec![2]);
    hits = step(s.search("OR FROM dave SUBJECT alternative"))
        .await
        .unwrap()
        .into_iter()
        .collect();
    hits.sort();
    assert_eq!(hits, vec![3, 4]);
    hits = step(s.search("NOT (FROM hanako) UNSEEN 2:4"))
        .await
        .unwrap()
        .into_iter()
        .collect();
    hits.sort();
    assert_eq!(hits, vec![2, 3, 4]);
    hits = step(s.search("LARGER 100000"))
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert!(hits.is_empty());
    hits = step(s.search("SENTBEFORE 15-Mar-2026"))
        .await
        .unwrap()
        .into_iter()
        .collect();
    hits.sort();
    assert_eq!(hits, vec![1, 2]);
    hits = step(s.search("HEADER Message-ID fwd-6"))
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(hits, vec![4]);
    step(s.noop()).await.unwrap();
    step(s.logout()).await.unwrap();
    handle.stop().await;
}
