//! BINARY (RFC 3516) over a socket: FETCH BINARY / BINARY.PEEK / BINARY.SIZE with the
//! content-transfer-encoding undone, `literal8` when the data holds NUL, UNKNOWN-CTE,
//! and APPEND of `literal8` data.

mod raw;

use raw::{Raw, start, tagged, untagged};
use yubin_store::{Flags, Store};

/// A message with a quoted-printable text part, a base64 part whose data holds NUL, a
/// part in an encoding no one knows, an 8bit part, and base64 text with bare LF lines.
const MIXED: &str = "From: a@example.com\r\n\
Subject: parts\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"z\"\r\n\
\r\n\
--z\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
caf=C3=A9 au =\r\n\
lait\r\n\
--z\r\n\
Content-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
AAECAw==\r\n\
--z\r\n\
Content-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: x-uuencode\r\n\
\r\n\
begin 644 x\r\n\
--z\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n\
d\u{e9}j\u{e0} vu\r\n\
--z\r\n\
Content-Type: text/plain\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
b25lCnR3bwo=\r\n\
--z--\r\n";

async fn with_mixed() -> (yubin_core::ServerHandle, Store) {
    let (handle, store) = start(&[]).await;
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    inbox.append(MIXED.as_bytes(), &Flags::new(), None).unwrap();
    (handle, store)
}

#[tokio::test]
async fn binary_undoes_the_transfer_encoding_and_uses_literal8_for_nul() {
    let (handle, _store) = with_mixed().await;
    let mut c = Raw::login(&handle).await;
    c.cmd("SELECT INBOX").await;
    // RFC 3516 §4.2: BINARY.PEEK does not set \Seen; BINARY.SIZE is the decoded size.
    let r = c
        .cmd("FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1] BINARY.SIZE[2] BINARY.SIZE[4])")
        .await;
    // Quoted-printable, with its soft line break joined (RFC 2045 §6.7).
    let text = "café au lait";
    assert!(
        r.contains(&format!("BINARY[1] {{{}}}\r\n{text}", text.len())),
        "{r}"
    );
    assert!(r.contains(&format!("BINARY.SIZE[1] {}", text.len())), "{r}");
    assert!(r.contains("BINARY.SIZE[2] 4"), "{r}");
    // 8bit: as it is.
    assert!(
        r.contains(&format!("BINARY.SIZE[4] {}", "déjà vu".len())),
        "{r}"
    );
    assert!(!r.contains("\\Seen"), "{r}");

    // RFC 3516 §4.3: decoded data with NUL comes as a literal8, `~{n}`; and BINARY
    // (without .PEEK) sets \Seen.
    let r = c.cmd("FETCH 1 (BINARY[2])").await;
    assert!(r.contains("BINARY[2] ~{4}\r\n\0\u{1}\u{2}\u{3} "), "{r:?}");
    assert!(r.contains("\\Seen"), "{r}");

    // A partial fetch counts in the decoded octets ("café " is 6), and is named by its
    // origin; without NUL the data is an ordinary literal.
    let r = c
        .cmd("FETCH 1 (BINARY.PEEK[2]<1.2> BINARY.PEEK[1]<6.2>)")
        .await;
    assert!(r.contains("BINARY[2]<1> {2}\r\n\u{1}\u{2}"), "{r:?}");
    assert!(r.contains("BINARY[1]<6> {2}\r\nau"), "{r:?}");

    // Base64 carries the content's octets exactly, line ends included: "one\ntwo\n"
    // comes back as it was encoded (RFC 3516 §6's CRLF rule is about how a server
    // stores text, which base64 does not touch; Dovecot and imaptest agree).
    let r = c.cmd("FETCH 1 (BINARY.PEEK[5])").await;
    assert!(r.contains("BINARY[5] {8}\r\none\ntwo\n)"), "{r:?}");

    // BINARY[] is the whole message.
    let r = c.cmd("FETCH 1 (BINARY.PEEK[])").await;
    assert!(
        r.contains(&format!("BINARY[] {{{}}}\r\n{MIXED}", MIXED.len())),
        "{r}"
    );
}

#[tokio::test]
async fn an_unknown_transfer_encoding_is_no_unknown_cte() {
    let (handle, store) = with_mixed().await;
    let mut c = Raw::login(&handle).await;
    c.cmd("SELECT INBOX").await;
    for item in ["BINARY.PEEK[3]", "BINARY.SIZE[3]", "BINARY[3]"] {
        let r = c.cmd(&format!("FETCH 1 ({item})")).await;
        // RFC 3516 §4.3: "If the server does not know how to decode the section's CTE,
        // it MUST fail the request and issue a "NO" response that contains the
        // "UNKNOWN-CTE" extended response code."
        assert!(tagged(&r).contains("NO [UNKNOWN-CTE]"), "{item}: {r}");
        assert!(!r.contains("BINARY"), "{item}: {r}");
    }
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    assert!(
        !inbox.messages().unwrap()[0]
            .flags
            .contains(&yubin_store::Flag::Seen),
        "a failed FETCH BINARY marks nothing \\Seen"
    );
}

#[tokio::test]
async fn append_takes_literal8_and_binary_gives_the_octets_back() {
    let (handle, store) = start(&[]).await;
    let mut c = Raw::login(&handle).await;
    let mut message = b"Subject: nul\r\nContent-Transfer-Encoding: binary\r\n\r\n".to_vec();
    message.extend_from_slice(b"a\0b\0c\r\n");

    // RFC 3516 §4.4: "The APPEND command is extended to allow the client to append data
    // containing NULs by using the <literal8> syntax."
    c.send(format!("a APPEND INBOX ~{{{}}}\r\n", message.len()).as_bytes())
        .await;
    assert!(c.line().await.starts_with("+ "));
    c.send(&message).await;
    let r = c.ask("\r\n", "a").await;
    assert!(tagged(&r).starts_with("a OK [APPENDUID "), "{r}");
    // RFC 3516 §4.4: the server "MAY modify the CTE of the appended data" without
    // losing any: the binary part is stored in base64, so no NUL is ever stored or sent
    // in an ordinary literal, and BINARY (below) gives the octets back exactly.
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    let stored = String::from_utf8(inbox.read(1).unwrap().to_vec()).unwrap();
    assert_eq!(
        stored,
        "Subject: nul\r\nContent-Transfer-Encoding: base64\r\n\r\nYQBiAGMNCg==\r\n"
    );

    // LITERAL+ works with literal8 too.
    let mut cmd = format!("b APPEND INBOX ~{{{}+}}\r\n", message.len()).into_bytes();
    cmd.extend_from_slice(&message);
    cmd.extend_from_slice(b"\r\n");
    c.send(&cmd).await;
    let r = c.until_tagged("b").await;
    assert!(tagged(&r).starts_with("b OK"), "{r}");

    c.cmd("SELECT INBOX").await;
    for n in [1, 2] {
        let r = c
            .cmd(&format!(
                "FETCH {n} (BINARY.PEEK[1] BINARY.SIZE[1] BODY.PEEK[1])"
            ))
            .await;
        assert!(r.contains("BINARY[1] ~{7}\r\na\0b\0c\r\n"), "{r:?}");
        assert!(r.contains("BINARY.SIZE[1] 7"), "{r}");
        // BODY[1] is the part as stored: base64, which an ordinary literal can carry.
        assert!(r.contains("BODY[1] {14}\r\nYQBiAGMNCg==\r\n"), "{r:?}");
    }
    // Bare line ends and 8-bit octets in binary content come back exactly too (imaptest
    // append-binary): nothing is made CRLF on the way out.
    let raw: &[u8] = b"\0-\xe4\n\r\n\n";
    let mut single = b"Content-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: binary\r\n\r\n"
        .to_vec();
    single.extend_from_slice(raw);
    let mut cmd = format!("s APPEND INBOX ~{{{}+}}\r\n", single.len()).into_bytes();
    cmd.extend_from_slice(&single);
    cmd.extend_from_slice(b"\r\n");
    c.send(&cmd).await;
    let r = c.until_tagged("s").await;
    assert!(tagged(&r).starts_with("s OK"), "{r}");
    c.cmd("NOOP").await;
    let r = c.cmd("FETCH 3 (BINARY.SIZE[1] BINARY.PEEK[1])").await;
    assert!(r.contains("BINARY.SIZE[1] 7"), "{r:?}");
    let mut want = b"BINARY[1] ~{7}\r\n".to_vec();
    want.extend_from_slice(raw);
    // The test's reader shows octets as UTF-8 (the 8-bit one lossily): compare alike.
    let want = String::from_utf8_lossy(&want).into_owned();
    assert!(r.contains(&want), "{r:?}");

    // NUL in an ordinary literal is refused (RFC 3501 §9 `CHAR8 = %x01-ff`), whether
    // the message is framed whole or streamed, and nothing is added.
    let mut cmd = format!("c APPEND INBOX {{{}+}}\r\n", message.len()).into_bytes();
    cmd.extend_from_slice(&message);
    cmd.extend_from_slice(b"\r\n");
    c.send(&cmd).await;
    let r = c.until_tagged("c").await;
    assert!(tagged(&r).starts_with("c BAD"), "{r}");
    c.send(format!("d APPEND INBOX {{{}}}\r\n", message.len()).as_bytes())
        .await;
    assert!(c.line().await.starts_with("+ "));
    c.send(&message).await;
    let r = c.ask("\r\n", "d").await;
    assert!(tagged(&r).starts_with("d BAD"), "{r}");
    let r = c.cmd("NOOP").await;
    assert!(untagged(&r).is_empty(), "{r}");
    // The three accepted above, none of the refused ones.
    assert_eq!(inbox.messages().unwrap().len(), 3);
}
