//! STATUS=SIZE (RFC 8438) over a real socket: `SIZE` is the sum of the messages'
//! RFC822.SIZE, and follows APPEND and EXPUNGE.

use std::time::Duration;

use mini_imap::{ImapServerConfig, serve};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use yubin_store::{Flag, Flags, Secret, Store};

const STEP: Duration = Duration::from_secs(10);

/// Sends `command` and reads until the line tagged `tag`; returns everything read.
async fn ask<R, W>(r: &mut BufReader<R>, w: &mut W, command: &str, tag: &str) -> String
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    w.write_all(command.as_bytes()).await.unwrap();
    let mut all = String::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(STEP, r.read_line(&mut line))
            .await
            .expect("server answers in time")
            .unwrap();
        assert!(n > 0, "connection closed; so far: {all}");
        all.push_str(&line);
        if line.starts_with(&format!("{tag} ")) {
            return all;
        }
    }
}

#[tokio::test]
async fn status_size_is_the_sum_of_message_sizes() {
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret")).unwrap();
    let account = store.account("alice").unwrap();
    account.create("blurdybloop").unwrap();
    let box_ = account.mailbox("blurdybloop").unwrap();
    let messages: [&[u8]; 3] = [
        b"Subject: one\r\n\r\nfirst\r\n",
        b"Subject: two\r\n\r\nsecond message\r\n",
        b"Subject: three\r\n\r\n\r\n",
    ];
    let seen: Flags = [Flag::Seen].into_iter().collect();
    for (i, m) in messages.iter().enumerate() {
        let flags = if i == 0 { seen.clone() } else { Flags::new() };
        box_.append(m, &flags, None).unwrap();
    }
    let total: usize = messages.iter().map(|m| m.len()).sum();
    let handle = serve(
        "127.0.0.1:0".parse().unwrap(),
        store.clone(),
        ImapServerConfig::default(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let tcp = TcpStream::connect(handle.local_addr()).await.unwrap();
    let (r, mut w) = tcp.into_split();
    let mut r = BufReader::new(r);
    let mut greeting = String::new();
    r.read_line(&mut greeting).await.unwrap();
    assert!(greeting.contains(" STATUS=SIZE "), "{greeting}");
    let out = ask(&mut r, &mut w, "a LOGIN alice secret\r\n", "a").await;
    assert!(out.starts_with("a OK"), "{out}");

    // RFC 8438 §3's example, on this mailbox.
    let out = ask(
        &mut r,
        &mut w,
        "A042 STATUS blurdybloop (MESSAGES UNSEEN SIZE)\r\n",
        "A042",
    )
    .await;
    assert_eq!(
        out,
        format!(
            "* STATUS \"blurdybloop\" (MESSAGES 3 UNSEEN 2 SIZE {total})\r\nA042 OK STATUS completed\r\n"
        )
    );
    // The same sum FETCH RFC822.SIZE gives, message by message.
    ask(&mut r, &mut w, "s SELECT blurdybloop\r\n", "s").await;
    let out = ask(&mut r, &mut w, "f FETCH 1:* RFC822.SIZE\r\n", "f").await;
    let fetched: usize = out
        .lines()
        .filter_map(|l| l.split("RFC822.SIZE ").nth(1))
        .map(|n| n.trim_end_matches(')').parse::<usize>().unwrap())
        .sum();
    assert_eq!(fetched, total, "{out}");

    // APPEND adds its message's size; EXPUNGE takes one away.
    let out = ask(
        &mut r,
        &mut w,
        "b APPEND blurdybloop {4+}\r\nab\r\n\r\n",
        "b",
    )
    .await;
    assert!(out.contains("b OK"), "{out}");
    let out = ask(&mut r, &mut w, "c STATUS blurdybloop (SIZE)\r\n", "c").await;
    assert!(
        out.starts_with(&format!(
            "* STATUS \"blurdybloop\" (SIZE {})\r\n",
            total + 4
        )),
        "{out}"
    );
    ask(
        &mut r,
        &mut w,
        "d STORE 2 +FLAGS.SILENT (\\Deleted)\r\n",
        "d",
    )
    .await;
    ask(&mut r, &mut w, "e EXPUNGE\r\n", "e").await;
    let out = ask(
        &mut r,
        &mut w,
        "g STATUS blurdybloop (SIZE MESSAGES)\r\n",
        "g",
    )
    .await;
    let want = total + 4 - messages[1].len();
    assert!(
        out.starts_with(&format!(
            "* STATUS \"blurdybloop\" (SIZE {want} MESSAGES 3)\r\n"
        )),
        "{out}"
    );

    // An empty mailbox holds no octets.
    let out = ask(&mut r, &mut w, "h CREATE empty\r\n", "h").await;
    assert!(out.starts_with("h OK"), "{out}");
    let out = ask(&mut r, &mut w, "i STATUS empty (size)\r\n", "i").await;
    assert!(out.starts_with("* STATUS \"empty\" (SIZE 0)\r\n"), "{out}");
}
