//! COMPRESS=DEFLATE (RFC 4978) over a real socket.
//!
//! The raw client here deflates and inflates with flate2 directly, not with yubin-core's
//! stream layer, so what is checked is the wire format RFC 4978 §3 asks for: raw DEFLATE
//! (RFC 1951) both ways from the octet after the CRLF of the tagged OK, each response
//! inflatable as soon as it is sent. One test uses the crate's own client, inside
//! STARTTLS.

#[path = "raw/mod.rs"]
mod raw;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use mini_imap::ImapServerConfig;
use mini_imap::client::ImapClient;
use raw::{Raw, step, tagged};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use yubin_core::ServerHandle;
use yubin_core::tls::{TlsServer, Verify, client_connector};
use yubin_core::{Secret, Transcript};
use yubin_store::{Flags, Store};

/// A message of a little over 1 MiB: a large FETCH is produced in pieces
/// (`After::More`), and every piece must reach the client inflatable.
fn big_message() -> Vec<u8> {
    let mut m =
        b"From: Bob <bob@example.com>\r\nTo: alice@example.com\r\nSubject: big\r\n\r\n".to_vec();
    let mut n: u32 = 1;
    while m.len() < 1024 * 1024 {
        // Varied text, so it does not shrink to nothing.
        n = n.wrapping_mul(2_654_435_761).wrapping_add(12345);
        m.extend_from_slice(format!("line {n:010} of the big message, {}\r\n", n % 977).as_bytes());
    }
    m
}

/// A memory store where alice's INBOX holds a small message and the big one; a server.
async fn start(config: ImapServerConfig) -> (ServerHandle, Store, Vec<u8>) {
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret")).unwrap();
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    inbox
        .append(&raw::message("small"), &Flags::new(), None)
        .unwrap();
    let big = big_message();
    inbox.append(&big, &Flags::new(), None).unwrap();
    let handle = raw::serve_with(&store, config).await;
    (handle, store, big)
}

/// `text`, deflated by `z` and sync-flushed, as a client sends each command.
fn deflated(z: &mut Compress, text: &[u8], flush: FlushCompress) -> Vec<u8> {
    let start = z.total_in();
    let mut out = Vec::new();
    loop {
        out.reserve(text.len() / 2 + 1024);
        let taken = usize::try_from(z.total_in() - start).unwrap();
        z.compress_vec(&text[taken..], &mut out, flush).unwrap();
        if z.total_in() - start == text.len() as u64 && out.len() < out.capacity() {
            return out;
        }
    }
}

/// A connection after `COMPRESS DEFLATE` was accepted.
struct Zipped {
    tcp: TcpStream,
    deflate: Compress,
    inflate: Decompress,
    /// Compressed bytes received, not yet inflated.
    raw: Vec<u8>,
    /// Inflated bytes not yet returned.
    plain: Vec<u8>,
    /// The server ended its DEFLATE stream or the connection.
    ended: bool,
}

impl Zipped {
    /// Logs in and sends `COMPRESS DEFLATE` pipelined behind the LOGIN, with `pipelined`
    /// (compressed, RFC 4978 §3) in the same write; reads the plain replies up to the OK.
    async fn start(handle: &ServerHandle, pipelined: &[u8]) -> Zipped {
        let tcp = step(TcpStream::connect(handle.local_addr())).await.unwrap();
        let mut z = Zipped {
            tcp,
            deflate: Compress::new(Compression::default(), false),
            inflate: Decompress::new(false),
            raw: Vec::new(),
            plain: Vec::new(),
            ended: false,
        };
        // Plain so far: the inflater is not used until the OK.
        let greeting = z.plain_line().await;
        assert!(greeting.contains(" COMPRESS=DEFLATE "), "{greeting}");
        let mut first = b"a LOGIN alice secret\r\nc COMPRESS DEFLATE\r\n".to_vec();
        if !pipelined.is_empty() {
            first.extend(deflated(&mut z.deflate, pipelined, FlushCompress::Sync));
        }
        step(z.tcp.write_all(&first)).await.unwrap();
        let login = z.plain_line().await;
        assert!(login.starts_with("a OK"), "{login}");
        assert_eq!(z.plain_line().await, "c OK DEFLATE active\r\n");
        z
    }

    /// A line read byte by byte before compression starts, so no compressed byte is
    /// taken for plain text.
    async fn plain_line(&mut self) -> String {
        let mut line = Vec::new();
        while !line.ends_with(b"\n") {
            let mut byte = [0u8; 1];
            let n = step(self.tcp.read(&mut byte)).await.unwrap();
            assert_eq!(n, 1, "closed after {line:?}");
            line.push(byte[0]);
        }
        String::from_utf8(line).unwrap()
    }

    async fn send(&mut self, text: &[u8]) {
        let bytes = deflated(&mut self.deflate, text, FlushCompress::Sync);
        step(self.tcp.write_all(&bytes)).await.unwrap();
    }

    /// Inflates what has arrived, reading more when nothing new comes out; false at the
    /// end of the stream.
    async fn more(&mut self) -> bool {
        loop {
            if !self.raw.is_empty() {
                let before = (self.inflate.total_in(), self.inflate.total_out());
                self.plain.reserve(256 * 1024);
                let status = self
                    .inflate
                    .decompress_vec(&self.raw, &mut self.plain, FlushDecompress::None)
                    .expect("the server's output inflates");
                let used = usize::try_from(self.inflate.total_in() - before.0).unwrap();
                self.raw.drain(..used);
                if status == Status::StreamEnd {
                    self.ended = true;
                }
                if self.inflate.total_out() > before.1 {
                    return true;
                }
            }
            if self.ended {
                return false;
            }
            let mut chunk = vec![0; 64 * 1024];
            let n = step(self.tcp.read(&mut chunk)).await.unwrap();
            if n == 0 {
                self.ended = true;
                return false;
            }
            self.raw.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next inflated line, CRLF included; panics at the end of the stream.
    async fn line(&mut self) -> Vec<u8> {
        loop {
            if let Some(i) = self.plain.iter().position(|&b| b == b'\n') {
                return self.plain.drain(..=i).collect();
            }
            assert!(self.more().await, "ended; left: {:?}", self.plain);
        }
    }

    /// Exactly `n` inflated bytes (a literal).
    async fn bytes(&mut self, n: usize) -> Vec<u8> {
        while self.plain.len() < n {
            assert!(self.more().await, "ended inside a literal");
        }
        self.plain.drain(..n).collect()
    }

    /// The responses up to the line tagged `tag`, literals inline.
    async fn until_tagged(&mut self, tag: &str) -> Vec<u8> {
        let mut all = Vec::new();
        loop {
            let line = self.line().await;
            all.extend_from_slice(&line);
            if line.starts_with(format!("{tag} ").as_bytes()) {
                return all;
            }
            if let Some(n) = literal_size(&line) {
                all.extend(self.bytes(n).await);
            }
        }
    }

    /// Sends `command` (tag and CRLF included) compressed; its responses.
    async fn ask(&mut self, command: &str, tag: &str) -> String {
        self.send(command.as_bytes()).await;
        String::from_utf8(self.until_tagged(tag).await).unwrap()
    }

    /// Nothing more arrives: the server closed (its DEFLATE stream inflates to nothing
    /// more).
    async fn expect_closed(&mut self) {
        assert!(!self.more().await, "more after the end: {:?}", self.plain);
        assert!(self.plain.is_empty(), "{:?}", self.plain);
    }
}

/// `{n}` at the end of a line announces a literal of `n` octets.
fn literal_size(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\r\n")?;
    let open = line.iter().rposition(|&b| b == b'{')?;
    let digits = line[open + 1..].strip_suffix(b"}")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[tokio::test]
async fn a_whole_session_runs_compressed_after_compress_deflate() {
    let (handle, store, big) = start(ImapServerConfig::default()).await;
    // The SELECT rides in the same write as LOGIN and COMPRESS, compressed already.
    let mut z = Zipped::start(&handle, b"s SELECT INBOX\r\n").await;
    let select = String::from_utf8(z.until_tagged("s").await).unwrap();
    assert!(select.contains("* 2 EXISTS\r\n"), "{select}");
    assert!(select.contains("s OK [READ-WRITE]"), "{select}");

    // A 1 MiB message, produced in pieces, arrives whole.
    z.send(b"f FETCH 2 BODY.PEEK[]\r\n").await;
    let head = z.line().await;
    let head = String::from_utf8(head).unwrap();
    assert_eq!(head, format!("* 2 FETCH (BODY[] {{{}}}\r\n", big.len()));
    assert!(
        z.bytes(big.len()).await == big,
        "the message arrives intact"
    );
    assert_eq!(z.line().await, b")\r\n");
    let done = String::from_utf8(z.line().await).unwrap();
    assert!(done.starts_with("f OK"), "{done}");

    // Pipelined commands, one with a synchronizing literal: its `+` comes flushed.
    z.send(b"n1 NOOP\r\nap APPEND INBOX {12}\r\n").await;
    assert!(z.ask("", "n1").await.ends_with("n1 OK NOOP completed\r\n"));
    assert!(z.line().await.starts_with(b"+ "));
    let append = z.ask("Subject: x\r\n\r\n", "ap").await;
    assert!(tagged(&append).starts_with("ap OK [APPENDUID"), "{append}");

    // IDLE: a delivery from elsewhere is pushed with no input, inflatable at once.
    z.send(b"i IDLE\r\n").await;
    assert!(z.line().await.starts_with(b"+ "));
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    inbox
        .append(&raw::message("pushed"), &Flags::new(), None)
        .unwrap();
    loop {
        let pushed = String::from_utf8(z.line().await).unwrap();
        if pushed == "* 4 EXISTS\r\n" {
            break;
        }
        assert!(pushed.starts_with("* "), "{pushed}");
    }
    assert!(tagged(&z.ask("DONE\r\n", "i").await).starts_with("i OK"));

    // RFC 4978 §3: once is all.
    let again = z.ask("c2 COMPRESS DEFLATE\r\n", "c2").await;
    assert_eq!(
        tagged(&again),
        "c2 NO [COMPRESSIONACTIVE] DEFLATE is active already"
    );
    let out = z.ask("o LOGOUT\r\n", "o").await;
    assert!(out.starts_with("* BYE"), "{out}");
    z.expect_closed().await;
    step(handle.stop()).await;
}

#[tokio::test]
async fn compress_is_refused_before_login_and_for_an_unknown_mechanism() {
    let (handle, _store, _) = start(ImapServerConfig::default()).await;
    let mut r = Raw::greeted(&handle).await;
    // RFC 4978 §5 puts COMPRESS in `command-auth`: not before login.
    let before = r.cmd("COMPRESS DEFLATE").await;
    assert_eq!(tagged(&before), "t1 BAD Log in first");
    assert!(r.cmd("LOGIN alice secret").await.contains("t2 OK"));
    // RFC 4978 §3: BAD for an unknown mechanism, and no compression.
    let unknown = r.cmd("COMPRESS LZ4").await;
    assert_eq!(
        tagged(&unknown),
        "t3 BAD Syntax error in COMPRESS arguments"
    );
    // Still plaintext both ways.
    let noop = r.cmd("NOOP").await;
    assert_eq!(tagged(&noop), "t4 OK NOOP completed");
    r.logout().await;
    step(handle.stop()).await;
}

#[tokio::test]
async fn garbage_compressed_input_closes_the_connection_and_changes_nothing() {
    let (handle, store, _) = start(ImapServerConfig::default()).await;
    let mut z = Zipped::start(&handle, b"s SELECT INBOX\r\n").await;
    z.until_tagged("s").await;
    // A command cut short by data that does not inflate: it never runs.
    let mut bytes = deflated(
        &mut z.deflate,
        b"x STORE 1 +FLAGS (\\Deleted)",
        FlushCompress::Sync,
    );
    bytes.extend_from_slice(&[0xff; 64]);
    step(z.tcp.write_all(&bytes)).await.unwrap();
    let mut rest = Vec::new();
    match step(z.tcp.read_to_end(&mut rest)).await {
        // The server's half of the close, and nothing it could say.
        Ok(_) => assert!(rest.len() < 16, "{rest:?}"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    let view = inbox.view().unwrap();
    assert_eq!(view.len(), 2);
    assert!(view.iter().all(|m| m.flags.is_empty()), "no flag changed");
    // The server goes on serving.
    let mut r = Raw::login(&handle).await;
    assert!(tagged(&r.cmd("NOOP").await).starts_with("t2 OK"));
    step(handle.stop()).await;
}

/// The peak resident memory of this process, in KiB (Linux).
fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// 100 MiB of zeros with no line end, compressed to about 100 KiB: the inflated bytes
/// meet the line limit as plaintext would (answered, thrown away as they arrive), the
/// server's memory does not grow by anything like their size, and the next line is
/// answered.
#[tokio::test]
async fn a_deflate_bomb_meets_the_line_limit_and_memory_stays_bounded() {
    let (handle, _store, _) = start(ImapServerConfig::default()).await;
    let mut z = Zipped::start(&handle, b"").await;
    let before = peak_kib();
    let zeros = vec![0u8; 1024 * 1024];
    let mut bomb = deflated(&mut z.deflate, b"z NOOP ", FlushCompress::None);
    for i in 0..100 {
        let flush = if i == 99 {
            FlushCompress::Sync
        } else {
            FlushCompress::None
        };
        bomb.extend(deflated(&mut z.deflate, &zeros, flush));
    }
    assert!(
        bomb.len() < 1024 * 1024,
        "a bomb: {} bytes for 100 MiB",
        bomb.len()
    );
    step(z.tcp.write_all(&bomb)).await.unwrap();
    let answer = z.line().await;
    assert_eq!(
        String::from_utf8(answer).unwrap(),
        "z BAD Line too long\r\n"
    );
    let out = z.ask("\r\no LOGOUT\r\n", "o").await;
    assert!(out.starts_with("* BYE"), "{out}");
    let grown = peak_kib().saturating_sub(before);
    assert!(grown < 48 * 1024, "peak memory grew by {grown} KiB");
    step(handle.stop()).await;
}

/// The crate's own client: STARTTLS, LOGIN, then COMPRESS inside TLS (RFC 4978 §3:
/// compressed first, then encrypted), and a large FETCH through both layers.
#[tokio::test]
async fn the_client_compresses_inside_starttls() {
    let dir = tempfile::tempdir().unwrap();
    let tls = TlsServer::local_ca(dir.path()).unwrap();
    let ca = tls.ca_path().unwrap().to_owned();
    let mut config = ImapServerConfig::default();
    config.listener.starttls = Some(tls);
    let (handle, _store, big) = start(config).await;
    let connector = client_connector(&Verify::Ca(vec![ca])).unwrap();
    let addr = handle.local_addr().to_string();
    let client = step(ImapClient::connect(&addr, Transcript::disabled()))
        .await
        .unwrap();
    let mut client = step(client.starttls("localhost", &connector))
        .await
        .unwrap();
    step(client.login("alice", &Secret::from("secret")))
        .await
        .unwrap();
    let mut client = step(client.compress()).await.unwrap();
    step(client.select("INBOX", true)).await.unwrap();
    let fetched = step(client.fetch("2", "BODY.PEEK[]")).await.unwrap();
    let body = fetched[0].get("BODY[]").and_then(|i| match i {
        mini_imap::value::Value::String(s) => Some(s.clone()),
        _ => None,
    });
    assert!(body == Some(big), "the message arrives intact");
    let again = step(client.compress()).await;
    assert!(
        matches!(&again, Err(mini_imap::client::ClientError::Refused { status, text })
            if status == "NO" && text.starts_with("[COMPRESSIONACTIVE]")),
        "{:?}",
        again.err()
    );
    step(handle.stop()).await;
}

#[tokio::test]
async fn notify_pushes_go_on_once_compression_starts() {
    let (handle, store, _) = start(ImapServerConfig::default()).await;
    let account = store.account("alice").unwrap();
    account.create("Other").unwrap();
    let tcp = step(TcpStream::connect(handle.local_addr())).await.unwrap();
    let mut z = Zipped {
        tcp,
        deflate: Compress::new(Compression::default(), false),
        inflate: Decompress::new(false),
        raw: Vec::new(),
        plain: Vec::new(),
        ended: false,
    };
    z.plain_line().await;
    let first = b"a LOGIN alice secret\r\n\
        n NOTIFY SET (mailboxes Other (MessageNew MessageExpunge))\r\n\
        c COMPRESS DEFLATE\r\n";
    step(z.tcp.write_all(first)).await.unwrap();
    assert!(z.plain_line().await.starts_with("a OK"));
    assert!(z.plain_line().await.starts_with("n OK"));
    assert_eq!(z.plain_line().await, "c OK DEFLATE active\r\n");
    // RFC 5465 §3.1: "the client listens for event notifications all the time", over
    // the compressed stream as before it (nothing is sent to ask).
    let other = account.mailbox("Other").unwrap();
    other
        .append(&raw::message("pushed"), &Flags::new(), None)
        .unwrap();
    let pushed = String::from_utf8(z.line().await).unwrap();
    assert_eq!(pushed, "* STATUS \"Other\" (UIDNEXT 2 MESSAGES 1)\r\n");
}
