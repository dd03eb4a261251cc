//! LIST-EXTENDED (RFC 5258) with LIST-STATUS (RFC 5819) and RFC 6154's SPECIAL-USE
//! options over a real socket: the RFCs' examples replayed against a hierarchy built
//! like theirs (mailbox attributes in the order this server gives them).

use mini_imap::{ImapServerConfig, serve};
use tokio_util::sync::CancellationToken;
use yubin_core::ServerHandle;

mod raw;
use raw::Raw as Conn;
use yubin_store::{Flag, Flags, Secret, Store};

/// RFC 5258 §5's tree: Fruit/{Apple,Banana,Peach}, Tofu, Vegetable/{Broccoli,Corn},
/// plus Sent. Subscribed: INBOX, Fruit/Banana, Fruit/Peach (then deleted), Vegetable,
/// Vegetable/Broccoli. INBOX holds two messages, one seen.
async fn start() -> ServerHandle {
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret")).unwrap();
    let account = store.account("alice").unwrap();
    for name in [
        "Fruit/Apple",
        "Fruit/Banana",
        "Fruit/Peach",
        "Tofu",
        "Vegetable/Broccoli",
        "Vegetable/Corn",
        "Sent",
    ] {
        account.create(name).unwrap_or(());
    }
    for name in [
        "Fruit/Banana",
        "Fruit/Peach",
        "Vegetable",
        "Vegetable/Broccoli",
    ] {
        account.subscribe(name).unwrap();
    }
    account.delete("Fruit/Peach").unwrap();
    let inbox = account.mailbox("INBOX").unwrap();
    let seen: Flags = [Flag::Seen].into_iter().collect();
    inbox
        .append(b"Subject: a\r\n\r\nx\r\n", &seen, None)
        .unwrap();
    inbox
        .append(b"Subject: b\r\n\r\nyz\r\n", &Flags::new(), None)
        .unwrap();
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
async fn selection_options_answer_rfc_5258_examples() {
    let handle = start().await;
    let mut c = Conn::open(&handle).await;
    let r = c.ask("c CAPABILITY\r\n", "c").await;
    assert!(r.contains(" LIST-EXTENDED LIST-STATUS "), "{r}");

    // RFC 5258 §5 example 2: subscribed names, the deleted one \NonExistent.
    c.expect(
        "A02 LIST (SUBSCRIBED) \"\" \"*\"\r\n",
        "A02",
        &[
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\"",
            "* LIST (\\HasNoChildren \\Drafts \\Subscribed) \"/\" \"Drafts\"",
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Fruit/Banana\"",
            "* LIST (\\NonExistent \\HasNoChildren \\Subscribed) \"/\" \"Fruit/Peach\"",
            "* LIST (\\HasNoChildren \\Junk \\Subscribed) \"/\" \"Junk\"",
            "* LIST (\\HasNoChildren \\Sent \\Subscribed) \"/\" \"Sent\"",
            "* LIST (\\HasNoChildren \\Trash \\Subscribed) \"/\" \"Trash\"",
            "* LIST (\\HasChildren \\Subscribed) \"/\" \"Vegetable\"",
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Vegetable/Broccoli\"",
        ],
    )
    .await;
    // Example 3: every mailbox, with its subscription state.
    c.expect(
        "A03 LIST () \"\" \"%\" RETURN (SUBSCRIBED)\r\n",
        "A03",
        &[
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\"",
            "* LIST (\\HasNoChildren \\Drafts \\Subscribed) \"/\" \"Drafts\"",
            "* LIST (\\HasChildren) \"/\" \"Fruit\"",
            "* LIST (\\HasNoChildren \\Junk \\Subscribed) \"/\" \"Junk\"",
            "* LIST (\\HasNoChildren \\Sent \\Subscribed) \"/\" \"Sent\"",
            "* LIST (\\HasNoChildren) \"/\" \"Tofu\"",
            "* LIST (\\HasNoChildren \\Trash \\Subscribed) \"/\" \"Trash\"",
            "* LIST (\\HasChildren \\Subscribed) \"/\" \"Vegetable\"",
        ],
    )
    .await;
    // Example 4: several patterns, each name once; REMOTE changes nothing here.
    c.expect(
        "A04 LIST (SUBSCRIBED REMOTE) \"\" (\"INBOX\" \"Vegetable/%\" \"inbox\")\r\n",
        "A04",
        &[
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\"",
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Vegetable/Broccoli\"",
        ],
    )
    .await;
    // Example 5 (RECURSIVEMATCH): Fruit is not subscribed but a child is, which "%"
    // cannot reach; Vegetable is subscribed and so is a child.
    c.expect(
        "A05 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\" RETURN (CHILDREN)\r\n",
        "A05",
        &[
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\"",
            "* LIST (\\HasNoChildren \\Drafts \\Subscribed) \"/\" \"Drafts\"",
            "* LIST (\\HasChildren) \"/\" \"Fruit\" (\"CHILDINFO\" (\"SUBSCRIBED\"))",
            "* LIST (\\HasNoChildren \\Junk \\Subscribed) \"/\" \"Junk\"",
            "* LIST (\\HasNoChildren \\Sent \\Subscribed) \"/\" \"Sent\"",
            "* LIST (\\HasNoChildren \\Trash \\Subscribed) \"/\" \"Trash\"",
            "* LIST (\\HasChildren \\Subscribed) \"/\" \"Vegetable\" (\"CHILDINFO\" (\"SUBSCRIBED\"))",
        ],
    )
    .await;
    // With "*" the children are listed themselves: Fruit's CHILDINFO would be redundant.
    c.expect(
        "A06 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"Fruit*\"\r\n",
        "A06",
        &[
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Fruit/Banana\"",
            "* LIST (\\NonExistent \\HasNoChildren \\Subscribed) \"/\" \"Fruit/Peach\"",
        ],
    )
    .await;
    // RFC 6154 §5.2's example: only the special-use mailboxes.
    c.expect(
        "t3 LIST (SPECIAL-USE) \"\" \"*\" RETURN (SPECIAL-USE)\r\n",
        "t3",
        &[
            "* LIST (\\HasNoChildren \\Drafts) \"/\" \"Drafts\"",
            "* LIST (\\HasNoChildren \\Junk) \"/\" \"Junk\"",
            "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\"",
            "* LIST (\\HasNoChildren \\Trash) \"/\" \"Trash\"",
        ],
    )
    .await;
    // The empty pattern still asks for the delimiter; LSUB is unchanged.
    c.expect(
        "A07 LIST () \"\" \"\"\r\n",
        "A07",
        &["* LIST (\\Noselect) \"/\" \"\""],
    )
    .await;
    let r = c.ask("A08 LSUB \"\" \"Fruit/*\"\r\n", "A08").await;
    assert_eq!(
        r.lines().next(),
        Some("* LSUB (\\HasNoChildren) \"/\" \"Fruit/Banana\"")
    );
    // RECURSIVEMATCH alone, or with only REMOTE, and unknown options are BAD.
    for (tag, cmd) in [
        ("B1", "LIST (RECURSIVEMATCH) \"\" \"%\""),
        ("B2", "LIST (REMOTE RECURSIVEMATCH) \"\" \"%\""),
        ("B3", "LIST (FOO) \"\" \"%\""),
        ("B4", "LIST \"\" \"%\" RETURN (FOO)"),
        ("B5", "LIST \"\" \"%\" RETURN (STATUS ())"),
        ("B6", "LIST \"\" ()"),
    ] {
        let r = c.ask(&format!("{tag} {cmd}\r\n"), tag).await;
        assert!(r.starts_with(&format!("{tag} BAD")), "{cmd}: {r}");
    }
}

#[tokio::test]
async fn return_status_answers_rfc_5819_example() {
    let handle = start().await;
    let mut c = Conn::open(&handle).await;
    // RFC 5819 §5: a STATUS after each selectable mailbox's LIST; none for a parent
    // that is not a mailbox or a name that does not exist.
    c.expect(
        "A01 LIST \"\" (\"INBOX\" \"Fruit/*\" \"Tofu\") RETURN (CHILDREN STATUS (MESSAGES UNSEEN SIZE))\r\n",
        "A01",
        &[
            "* LIST (\\HasNoChildren) \"/\" \"INBOX\"",
            "* STATUS \"INBOX\" (MESSAGES 2 UNSEEN 1 SIZE 35)",
            "* LIST (\\HasNoChildren) \"/\" \"Fruit/Apple\"",
            "* STATUS \"Fruit/Apple\" (MESSAGES 0 UNSEEN 0 SIZE 0)",
            "* LIST (\\HasNoChildren) \"/\" \"Fruit/Banana\"",
            "* STATUS \"Fruit/Banana\" (MESSAGES 0 UNSEEN 0 SIZE 0)",
            "* LIST (\\HasNoChildren) \"/\" \"Tofu\"",
            "* STATUS \"Tofu\" (MESSAGES 0 UNSEEN 0 SIZE 0)",
        ],
    )
    .await;
    c.expect(
        "A02 LIST (SUBSCRIBED) \"\" \"Fruit/%\" RETURN (STATUS (UIDNEXT))\r\n",
        "A02",
        &[
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Fruit/Banana\"",
            "* STATUS \"Fruit/Banana\" (UIDNEXT 1)",
            "* LIST (\\NonExistent \\HasNoChildren \\Subscribed) \"/\" \"Fruit/Peach\"",
        ],
    )
    .await;
}
