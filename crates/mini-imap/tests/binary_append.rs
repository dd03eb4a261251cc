//! APPEND of binary content (RFC 3516 §4.4 `literal8`) of any size, over a socket: the
//! binary parts are stored in base64, so BODY[] never carries a NUL in an ordinary
//! literal (RFC 3501 §9), and BINARY gives back exactly the octets sent, with
//! BINARY.SIZE and BODYSTRUCTURE agreeing with what is stored. Messages large enough to
//! be streamed in pieces (past 64 KiB) and kept by the store as they arrive, in memory
//! and in Maildir, MULTIAPPEND and CATENATE; ordinary messages stay byte-exact.

use mini_imap::{ImapServerConfig, serve};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::sync::CancellationToken;
use yubin_core::ServerHandle;
use yubin_store::{Secret, Store};

/// The bound on every step; a hung server fails the test instead of hanging it.
const STEP: std::time::Duration = std::time::Duration::from_secs(30);

async fn step<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, f).await.expect("step timed out")
}

/// A server on `store`, where alice/secret has an empty INBOX.
async fn serving(store: &Store) -> ServerHandle {
    store.add_account("alice", Secret::from("secret")).unwrap();
    serve(
        "127.0.0.1:0".parse().unwrap(),
        store.clone(),
        ImapServerConfig::default(),
        CancellationToken::new(),
    )
    .await
    .unwrap()
}

/// Runs `test` against a memory store and a Maildir store.
async fn on_both_stores<F, Fut>(test: F)
where
    F: Fn(ServerHandle, Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let store = Store::memory();
    test(serving(&store).await, store).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::maildir(dir.path()).unwrap();
    test(serving(&store).await, store).await;
}

/// A connection that reads responses as octets, literals read by their announced size.
struct Conn {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
}

impl Conn {
    async fn login(handle: &ServerHandle) -> Conn {
        let tcp = step(TcpStream::connect(handle.local_addr())).await.unwrap();
        let (r, w) = tcp.into_split();
        let mut c = Conn {
            r: BufReader::new(r),
            w,
        };
        assert!(c.line().await.starts_with(b"* OK"));
        let r = c.command("l", b"l LOGIN alice secret\r\n").await;
        assert!(tagged(&r).starts_with(b"l OK"), "{}", show(&r));
        c
    }

    async fn send(&mut self, bytes: &[u8]) {
        step(self.w.write_all(bytes)).await.unwrap();
    }

    async fn line(&mut self) -> Vec<u8> {
        let mut buf = Vec::new();
        let n = step(self.r.read_until(b'\n', &mut buf)).await.unwrap();
        assert!(n > 0, "connection closed");
        buf
    }

    /// Everything up to the line tagged `tag`, that line included.
    async fn response(&mut self, tag: &str) -> Vec<u8> {
        let mut all = Vec::new();
        loop {
            let line = self.line().await;
            all.extend_from_slice(&line);
            if let Some(n) = announced(&line) {
                let mut literal = vec![0; n];
                step(self.r.read_exact(&mut literal)).await.unwrap();
                all.extend_from_slice(&literal);
            } else if line.starts_with(format!("{tag} ").as_bytes()) {
                return all;
            }
        }
    }

    async fn command(&mut self, tag: &str, bytes: &[u8]) -> Vec<u8> {
        self.send(bytes).await;
        self.response(tag).await
    }

    /// APPENDs `message` as a synchronizing `literal8`: waits for the continuation.
    async fn append_sync(&mut self, tag: &str, message: &[u8]) -> Vec<u8> {
        self.send(format!("{tag} APPEND INBOX ~{{{}}}\r\n", message.len()).as_bytes())
            .await;
        let go = self.line().await;
        assert!(go.starts_with(b"+ "), "{}", show(&go));
        self.send(message).await;
        self.command(tag, b"\r\n").await
    }

    /// APPENDs `message` as a non-synchronizing `literal8` (LITERAL+).
    async fn append_nonsync(&mut self, tag: &str, message: &[u8]) -> Vec<u8> {
        let mut cmd = format!("{tag} APPEND INBOX ~{{{}+}}\r\n", message.len()).into_bytes();
        cmd.extend_from_slice(message);
        cmd.extend_from_slice(b"\r\n");
        self.command(tag, &cmd).await
    }

    /// `FETCH uid (items)` by UID, the whole response.
    async fn fetch(&mut self, uid: u32, items: &str) -> Vec<u8> {
        let cmd = format!("f UID FETCH {uid} ({items})\r\n");
        let r = self.command("f", cmd.as_bytes()).await;
        assert!(tagged(&r).starts_with(b"f OK"), "{}", show(&r));
        r
    }
}

/// The size a line's literal announcement (`{n}` or `~{n}` at its end) gives.
fn announced(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"}\r\n")?;
    let open = line.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&line[open + 1..]).ok()?.parse().ok()
}

/// The tagged (last) line of a response.
fn tagged(r: &[u8]) -> &[u8] {
    let body = r.strip_suffix(b"\r\n").unwrap_or(r);
    let start = body
        .windows(2)
        .rposition(|w| w == b"\r\n")
        .map_or(0, |p| p + 2);
    &r[start..]
}

/// A response shortened for an assertion message.
fn show(r: &[u8]) -> String {
    let text = String::from_utf8_lossy(r);
    if text.len() > 600 {
        format!("{}…{}", &text[..300], &text[text.len() - 300..])
    } else {
        text.into_owned()
    }
}

/// The octets of a FETCH item sent as a literal: `name {n}` or `name ~{n}`; and whether
/// it was a `literal8`.
fn literal_item(r: &[u8], name: &str) -> (Vec<u8>, bool) {
    let key = format!("{name} ");
    let at = find(r, key.as_bytes()).unwrap_or_else(|| panic!("no {name} in {}", show(r)));
    let rest = &r[at + key.len()..];
    let binary = rest.starts_with(b"~");
    let rest = rest.strip_prefix(b"~").unwrap_or(rest);
    let close = rest.iter().position(|&b| b == b'}').unwrap();
    let n: usize = std::str::from_utf8(&rest[1..close])
        .unwrap()
        .parse()
        .unwrap();
    let data = &rest[close + 3..close + 3 + n];
    (data.to_vec(), binary)
}

/// The number a FETCH item gives: `name n`.
fn number_item(r: &[u8], name: &str) -> u64 {
    let key = format!("{name} ");
    let at = find(r, key.as_bytes()).unwrap_or_else(|| panic!("no {name} in {}", show(r)));
    let digits: String = r[at + key.len()..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .map(|&b| b as char)
        .collect();
    digits.parse().unwrap()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `n` octets of every value, NUL, CR and bare LF among them, the same each time.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

const BOUNDARY: &str = "=_yubin-binary-append_7Qx";

/// A multipart message: a text part, a binary part holding `binary`, a text part.
fn multipart(binary: &[u8]) -> Vec<u8> {
    let mut m = format!(
        "From: a@example.com\r\nSubject: binary inside\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"{BOUNDARY}\"\r\n\r\n\
         This is a MIME message.\r\n\
         --{BOUNDARY}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
         before the binary part\r\n\
         --{BOUNDARY}\r\nContent-Type: application/octet-stream; name=\"blob.bin\"\r\n\
         Content-Transfer-Encoding: binary\r\n\r\n"
    )
    .into_bytes();
    m.extend_from_slice(binary);
    m.extend_from_slice(
        format!(
            "\r\n--{BOUNDARY}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
             after the binary part\r\n--{BOUNDARY}--\r\n"
        )
        .as_bytes(),
    );
    m
}

/// A single-part message whose whole body is `binary`.
fn single(binary: &[u8]) -> Vec<u8> {
    let mut m = b"From: a@example.com\r\nSubject: binary\r\nMIME-Version: 1.0\r\n\
Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        .to_vec();
    m.extend_from_slice(binary);
    m
}

/// What a client sees of a stored binary message: BODY[] is an ordinary literal
/// without NUL, BINARY[part] gives `binary` back (as a literal8, since it holds NUL),
/// BINARY.SIZE[part] is its size, and BODYSTRUCTURE says BASE64 with the size of the
/// part as stored.
async fn check_binary(c: &mut Conn, uid: u32, part: &str, binary: &[u8]) {
    let r = c.fetch(uid, "BODY.PEEK[]").await;
    let (body, literal8) = literal_item(&r, "BODY[]");
    assert!(!literal8, "BODY[] is an ordinary literal");
    assert!(
        !body.contains(&0),
        "RFC 3501 §9: no NUL in BODY[] (uid {uid})"
    );
    let r = c
        .fetch(
            uid,
            &format!("BINARY.PEEK[{part}] BINARY.SIZE[{part}] BODY.PEEK[{part}] BODYSTRUCTURE"),
        )
        .await;
    let (octets, literal8) = literal_item(&r, &format!("BINARY[{part}]"));
    assert!(literal8, "RFC 3516 §4.3: NUL comes in a literal8");
    assert_eq!(octets.len(), binary.len());
    assert!(octets == binary, "BINARY[{part}] is the octets sent");
    assert_eq!(
        number_item(&r, &format!("BINARY.SIZE[{part}]")),
        binary.len() as u64
    );
    let (stored, _) = literal_item(&r, &format!("BODY[{part}]"));
    let structure = format!("\"BASE64\" {}", stored.len());
    assert!(
        find(&r, structure.as_bytes()).is_some(),
        "BODYSTRUCTURE has {structure}: {}",
        show(&r)
    );
}

#[tokio::test]
async fn a_large_binary_message_is_stored_without_nul_and_binary_gives_it_back() {
    on_both_stores(|handle, _store| async move {
        let mut c = Conn::login(&handle).await;
        // 200 KiB in a synchronizing literal8, 1 MiB and more in a non-synchronizing
        // one: both streamed in pieces, past what is held in memory.
        let small = noise(200 * 1024, 1);
        let large = noise(1024 * 1024 + 333, 2);
        assert!(small.contains(&0) && large.contains(&0));
        let r = c.append_sync("a", &single(&small)).await;
        assert!(tagged(&r).starts_with(b"a OK [APPENDUID "), "{}", show(&r));
        let r = c.append_nonsync("b", &single(&large)).await;
        assert!(tagged(&r).starts_with(b"b OK [APPENDUID "), "{}", show(&r));
        let r = c.command("s", b"s SELECT INBOX\r\n").await;
        assert!(find(&r, b"* 2 EXISTS").is_some(), "{}", show(&r));
        check_binary(&mut c, 1, "1", &small).await;
        check_binary(&mut c, 2, "1", &large).await;
    })
    .await;
}

#[tokio::test]
async fn a_large_binary_part_between_text_parts_keeps_every_part() {
    on_both_stores(|handle, _store| async move {
        let mut c = Conn::login(&handle).await;
        let small = noise(200 * 1024, 3);
        let large = noise(1024 * 1024 + 77, 4);
        for (tag, binary, sync) in [("a", &small, false), ("b", &large, true)] {
            let message = multipart(binary);
            let r = if sync {
                c.append_sync(tag, &message).await
            } else {
                c.append_nonsync(tag, &message).await
            };
            assert!(
                tagged(&r).starts_with(format!("{tag} OK").as_bytes()),
                "{}",
                show(&r)
            );
        }
        c.command("s", b"s SELECT INBOX\r\n").await;
        for (uid, binary) in [(1, &small), (2, &large)] {
            check_binary(&mut c, uid, "2", binary).await;
            // The parts around it, and the structure, are as sent.
            let r = c
                .fetch(uid, "BINARY.PEEK[1] BINARY.PEEK[3] BODY.PEEK[HEADER]")
                .await;
            assert_eq!(literal_item(&r, "BINARY[1]").0, b"before the binary part");
            assert_eq!(literal_item(&r, "BINARY[3]").0, b"after the binary part");
            let (header, _) = literal_item(&r, "BODY[HEADER]");
            assert!(
                find(&header, BOUNDARY.as_bytes()).is_some(),
                "{}",
                show(&header)
            );
            let r = c.fetch(uid, "BODY.PEEK[]").await;
            let (body, _) = literal_item(&r, "BODY[]");
            let body = String::from_utf8(body).expect("all ASCII once re-encoded");
            assert!(
                body.contains("\r\nThis is a MIME message.\r\n"),
                "{body:.300}"
            );
            assert!(
                body.ends_with(&format!(
                    "\r\n--{BOUNDARY}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
                     after the binary part\r\n--{BOUNDARY}--\r\n"
                )),
                "…{}",
                &body[body.len() - 300..]
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_multiappend_of_large_text_and_binary_messages_stores_text_byte_exact() {
    on_both_stores(|handle, store| async move {
        let mut c = Conn::login(&handle).await;
        // An ordinary literal of text, a binary literal8, and text in a literal8: the
        // text is stored exactly as sent, the binary one re-encoded.
        let mut text = b"From: a@example.com\r\nSubject: long text\r\n\r\n".to_vec();
        while text.len() < 300 * 1024 {
            text.extend_from_slice(
                b"A line of ordinary text, \xe2\x80\x94 with some 8-bit octets.\r\n",
            );
        }
        let binary = noise(1024 * 1024 + 5, 5);
        let mut text8 = b"From: a@example.com\r\nSubject: text in a literal8\r\n\r\n".to_vec();
        while text8.len() < 200 * 1024 {
            text8.extend_from_slice(b"--not-a-boundary and more text\r\n");
        }
        let bin = single(&binary);
        let mut cmd = format!("m APPEND INBOX {{{}+}}\r\n", text.len()).into_bytes();
        cmd.extend_from_slice(&text);
        cmd.extend_from_slice(format!(" ~{{{}+}}\r\n", bin.len()).as_bytes());
        cmd.extend_from_slice(&bin);
        cmd.extend_from_slice(format!(" ~{{{}+}}\r\n", text8.len()).as_bytes());
        cmd.extend_from_slice(&text8);
        cmd.extend_from_slice(b"\r\n");
        let r = c.command("m", &cmd).await;
        assert!(tagged(&r).starts_with(b"m OK [APPENDUID "), "{}", show(&r));
        assert!(find(tagged(&r), b" 1:3]").is_some(), "{}", show(&r));
        let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
        assert!(
            inbox.read(1).unwrap()[..] == text[..],
            "text is stored byte-exact"
        );
        assert!(
            inbox.read(3).unwrap()[..] == text8[..],
            "so is text in a literal8"
        );
        c.command("s", b"s SELECT INBOX\r\n").await;
        check_binary(&mut c, 2, "1", &binary).await;
        let r = c.fetch(1, "BODY.PEEK[] RFC822.SIZE").await;
        assert!(literal_item(&r, "BODY[]").0 == text);
        assert_eq!(number_item(&r, "RFC822.SIZE"), text.len() as u64);
    })
    .await;
}

#[tokio::test]
async fn a_catenate_with_a_large_binary_text_part_is_reencoded() {
    on_both_stores(|handle, _store| async move {
        let mut c = Conn::login(&handle).await;
        let binary = noise(300 * 1024, 6);
        let whole = multipart(&binary);
        // The message in three CATENATE TEXT parts, cut inside the binary part's body
        // and inside the boundary after it; the middle one a streamed literal8.
        let start = find(&whole, b"Content-Transfer-Encoding: binary\r\n\r\n").unwrap() + 40;
        let end = find(
            &whole,
            format!("\r\n--{BOUNDARY}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nafter")
                .as_bytes(),
        )
        .unwrap()
            + 5;
        let (head, middle, tail) = (&whole[..start], &whole[start..end], &whole[end..]);
        let mut cmd = format!("k APPEND INBOX CATENATE (TEXT {{{}+}}\r\n", head.len()).into_bytes();
        cmd.extend_from_slice(head);
        cmd.extend_from_slice(format!(" TEXT ~{{{}+}}\r\n", middle.len()).as_bytes());
        cmd.extend_from_slice(middle);
        cmd.extend_from_slice(format!(" TEXT {{{}+}}\r\n", tail.len()).as_bytes());
        cmd.extend_from_slice(tail);
        cmd.extend_from_slice(b")\r\n");
        let r = c.command("k", &cmd).await;
        assert!(tagged(&r).starts_with(b"k OK [APPENDUID "), "{}", show(&r));
        c.command("s", b"s SELECT INBOX\r\n").await;
        check_binary(&mut c, 1, "2", &binary).await;
    })
    .await;
}

#[tokio::test]
async fn a_large_message_with_nul_outside_any_part_is_no_and_nothing_is_stored() {
    on_both_stores(|handle, store| async move {
        let mut c = Conn::login(&handle).await;
        // A NUL in a header field: no content-transfer-encoding can carry it, and BODY[]
        // could not send it (RFC 3501 §9).
        let mut message = b"From: a@example.com\r\nSubject: a\0b\r\n\r\n".to_vec();
        message.extend(std::iter::repeat_n(b'x', 200 * 1024));
        let r = c.append_sync("a", &message).await;
        assert!(tagged(&r).starts_with(b"a NO [CANNOT]"), "{}", show(&r));
        let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
        assert!(inbox.messages().unwrap().is_empty());
        let r = c.command("n", b"n NOOP\r\n").await;
        assert!(tagged(&r).starts_with(b"n OK"), "{}", show(&r));
    })
    .await;
}
