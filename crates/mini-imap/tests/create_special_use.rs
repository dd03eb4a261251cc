//! CREATE-SPECIAL-USE (RFC 6154 §3) over a real socket. The store keeps one mailbox
//! per special use, named after it, so only that name may be given its use; every
//! other request is refused with `NO [USEATTR]` and creates nothing.

use mini_imap::{ImapServerConfig, serve};
use tokio_util::sync::CancellationToken;
use yubin_core::ServerHandle;

mod raw;
use raw::Raw as Conn;
use yubin_store::{Secret, Store};

async fn start() -> ServerHandle {
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret")).unwrap();
    serve(
        "127.0.0.1:0".parse().unwrap(),
        store,
        ImapServerConfig::default(),
        CancellationToken::new(),
    )
    .await
    .unwrap()
}

impl Conn {
    /// Connects and logs in.
    async fn open(handle: &ServerHandle) -> Conn {
        let mut c = Conn::greeted(handle).await;
        let r = c.ask("l LOGIN alice secret\r\n", "l").await;
        assert!(r.starts_with("l OK"), "{r}");
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
async fn create_with_use_answers_rfc_6154_examples() {
    let handle = start().await;
    let mut c = Conn::open(&handle).await;
    let r = c.ask("c CAPABILITY\r\n", "c").await;
    assert!(r.contains(" CREATE-SPECIAL-USE "), "{r}");

    // RFC 6154 §5.3: a use the server does not support.
    let r = c.ask("t1 CREATE MySpecial (USE (\\All))\r\n", "t1").await;
    assert!(r.starts_with("t1 NO [USEATTR]"), "{r}");
    // RFC 6154 §5.2's request: two uses, and for a name that is not theirs.
    let r = c
        .ask("t2 CREATE MySpecial (USE (\\Drafts \\Sent))\r\n", "t2")
        .await;
    assert!(r.starts_with("t2 NO [USEATTR]"), "{r}");
    let r = c
        .ask("t3 CREATE \"Sent Items\" (USE (\\Sent))\r\n", "t3")
        .await;
    assert!(r.starts_with("t3 NO [USEATTR]"), "{r}");
    let r = c.ask("t4 CREATE Other (USE (\\Frobbed))\r\n", "t4").await;
    assert!(r.starts_with("t4 NO [USEATTR]"), "{r}");
    // A refused CREATE created nothing.
    c.expect(
        "t5 LIST \"\" (MySpecial \"Sent Items\" Other)\r\n",
        "t5",
        &[],
    )
    .await;

    // The use's own name: refused while it exists, given once it was deleted.
    let r = c.ask("t6 CREATE Sent (USE (\\Sent))\r\n", "t6").await;
    assert!(r.starts_with("t6 NO [ALREADYEXISTS]"), "{r}");
    let r = c.ask("t7 DELETE Sent\r\n", "t7").await;
    assert!(r.starts_with("t7 OK"), "{r}");
    let r = c.ask("t8 CREATE Sent (USE (\\sent))\r\n", "t8").await;
    assert!(r.starts_with("t8 OK"), "{r}");
    c.expect(
        "t9 LIST (SPECIAL-USE) \"\" \"Sent\" RETURN (SPECIAL-USE)\r\n",
        "t9",
        &["* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\""],
    )
    .await;
    // An empty USE list is a plain CREATE.
    let r = c.ask("u1 CREATE Plain (USE ())\r\n", "u1").await;
    assert!(r.starts_with("u1 OK"), "{r}");
    c.expect(
        "u2 LIST \"\" Plain\r\n",
        "u2",
        &["* LIST (\\HasNoChildren) \"/\" \"Plain\""],
    )
    .await;
    // Malformed parameters are BAD.
    for (tag, cmd) in [
        ("v1", "CREATE X (USE (Sent))"),
        ("v2", "CREATE X (USE)"),
        ("v3", "CREATE X ()"),
        ("v4", "CREATE X (FOO (\\Sent))"),
    ] {
        let r = c.ask(&format!("{tag} {cmd}\r\n"), tag).await;
        assert!(r.starts_with(&format!("{tag} BAD")), "{cmd}: {r}");
    }
}
