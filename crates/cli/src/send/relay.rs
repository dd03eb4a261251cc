//! `yubin send --trace`: the SMTP dialogue lettre has with the server, shown as the
//! servers' own transcripts show it.
//!
//! lettre has no hook to see the protocol lines, so when tracing, `send` points lettre at
//! a relay on a loopback port. The relay connects to the real server and copies bytes both
//! ways, not changing one; on the way through it splits each direction into lines for the
//! transcript. How a client line is shown is learnt from the server's replies, as the
//! server's session knows it: a command (credentials masked by the SMTP server's own
//! [`REDACTION`]), a SASL response after a `334` (masked whole), or a line of the message
//! after a `354`, until a lone `.` (the first lines shown, the rest counted).
//!
//! Once the session is encrypted — after the `220` answering STARTTLS, or from the first
//! byte with implicit TLS — the relay still copies the bytes, but can show nothing more.

use std::net::Ipv4Addr;
use std::ops::ControlFlow;
use std::sync::Mutex;
use std::time::Duration;

use mini_smtp::session::REDACTION;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use yubin_core::Transcript;
use yubin_core::transcript::{BodyLines, Shown};

/// Longest part of one line kept for the transcript. It shows fewer bytes still (a long
/// line is cut with ` …`), and a message line may be of any length.
const LINE_KEPT: usize = 1024;

/// Most bytes of one server reply held before they are shown: a reply is a few lines, but
/// nothing stops a server from sending continuation lines without end.
const REPLY_KEPT: usize = 64 * 1024;

/// How much one read takes from either side.
const CHUNK: usize = 16 * 1024;

/// How long [`Relay::finish`] waits for the dialogue's last lines once lettre is done.
/// lettre has closed its connection by then, so the relay ends at once; this only bounds
/// a relay that never did.
const FINISH_GRACE: Duration = Duration::from_secs(5);

/// The line shown when the STARTTLS handshake begins.
const STARTTLS_LINE: &[u8] =
    b"[TLS handshake: the rest of the session is encrypted and cannot be shown]";

/// The line shown first with implicit TLS.
const IMPLICIT_TLS_LINE: &[u8] =
    b"[TLS from the first byte: the whole session is encrypted and cannot be shown]";

/// A loopback relay for one SMTP connection, transcribing it.
pub struct Relay {
    /// The loopback port lettre connects to.
    port: u16,
    /// Copies and transcribes; ends when either side closes.
    task: JoinHandle<()>,
    /// Dropped to tell a relay still waiting for lettre's connection that none will come.
    stop: oneshot::Sender<()>,
}

impl Relay {
    /// Connects to the real server at `host`:`port` (so a server that is not there is
    /// reported as it is without `--trace`) and listens on a loopback port for lettre.
    /// `implicit_tls`: the session is TLS from its first byte.
    pub async fn start(
        host: &str,
        port: u16,
        implicit_tls: bool,
        transcript: Transcript,
    ) -> std::io::Result<Relay> {
        let server = TcpStream::connect((host, port)).await?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let local = listener.local_addr()?.port();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            // One connection is accepted: lettre's, made right after this starts.
            let accepted = tokio::select! {
                // A connection lettre made before it gave up is still taken.
                biased;
                accepted = listener.accept() => accepted,
                // lettre is done and never connected.
                _ = stopped => return,
            };
            match accepted {
                Ok((client, _)) => {
                    relay(client, server, Dialogue::new(transcript, implicit_tls)).await
                }
                Err(e) => tracing::debug!("relay: accept failed: {e}"),
            }
        });
        Ok(Relay {
            port: local,
            task,
            stop,
        })
    }

    /// The loopback port to give lettre.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits until the dialogue's last line is shown.
    pub async fn finish(self) {
        let Relay { task, stop, .. } = self;
        drop(stop);
        let abort = task.abort_handle();
        if tokio::time::timeout(FINISH_GRACE, task).await.is_err() {
            abort.abort();
        }
    }
}

/// Copies bytes both ways until either side closes, showing the dialogue.
async fn relay(mut client: TcpStream, mut server: TcpStream, dialogue: Dialogue) {
    // Nagle's delay on top of the peers' own would slow every reply down.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    // Both directions run in this one task. A `Mutex` (never held across an `.await`,
    // only between a read and its write) rather than a `RefCell` keeps the task `Send`.
    let dialogue = Mutex::new(dialogue);
    let seen = |f: fn(&mut Dialogue, &[u8]), bytes: &[u8]| {
        let mut d = dialogue.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut d, bytes);
    };
    let (mut from_client, mut to_client) = client.split();
    let (mut from_server, mut to_server) = server.split();
    let ended = tokio::select! {
        // lettre sent something, or closed its connection.
        ended = pass(&mut from_client, &mut to_server, |b| seen(Dialogue::client_sent, b)) => ended,
        // The server replied, or closed.
        ended = pass(&mut from_server, &mut to_client, |b| seen(Dialogue::server_sent, b)) => ended,
    };
    if let Err(e) = ended {
        tracing::debug!("relay: {e}");
    }
    dialogue
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .closed();
}

/// Copies `from` to `to` until `from` ends, showing each piece to `seen` before it is
/// passed on (so what the server said is known before the client can answer it).
async fn pass<R, W>(from: &mut R, to: &mut W, mut seen: impl FnMut(&[u8])) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0; CHUNK];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return to.shutdown().await;
        }
        seen(&buf[..n]);
        to.write_all(&buf[..n]).await?;
    }
}

/// Splits one direction's bytes into lines, keeping the first [`LINE_KEPT`] bytes of each.
#[derive(Debug, Default)]
struct Lines {
    /// The line being received, without its line end.
    partial: Vec<u8>,
}

impl Lines {
    /// Hands each complete line (without CRLF or LF) to `each`, until it breaks; the rest
    /// of a complete line waits for more bytes.
    fn feed(&mut self, mut bytes: &[u8], mut each: impl FnMut(&[u8]) -> ControlFlow<()>) {
        while let Some(end) = memchr::memchr(b'\n', bytes) {
            self.keep(&bytes[..end]);
            bytes = &bytes[end + 1..];
            let line = self.partial.strip_suffix(b"\r").unwrap_or(&self.partial);
            let flow = each(line);
            self.partial.clear();
            if flow.is_break() {
                return;
            }
        }
        self.keep(bytes);
    }

    fn keep(&mut self, bytes: &[u8]) {
        let room = LINE_KEPT.saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// The incomplete last line, if any, taken.
    fn rest(&mut self) -> Option<Vec<u8>> {
        (!self.partial.is_empty()).then(|| std::mem::take(&mut self.partial))
    }
}

/// How the client's next line is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// A command: credentials masked by the command's name.
    Command,
    /// A SASL response (the server asked with `334`): masked whole.
    SaslResponse,
    /// A line of the message (the server said `354`), until a lone `.`.
    Body,
}

/// The SMTP dialogue as the relay sees it: no sockets, bytes in, transcript lines out.
#[derive(Debug)]
struct Dialogue {
    transcript: Transcript,
    client: Lines,
    server: Lines,
    /// What the client's lines are now.
    state: State,
}

#[derive(Debug)]
struct State {
    next: Next,
    /// The message's lines, counted past the first few.
    body: BodyLines,
    /// The server reply being received, its lines CRLF-terminated; shown whole when its
    /// last line comes, so a long one is shortened as the servers' transcripts do.
    reply: Vec<u8>,
    /// The client asked for STARTTLS: a `220` starts the handshake.
    starttls: bool,
    /// The bytes are TLS records: nothing more can be shown.
    encrypted: bool,
}

impl Dialogue {
    fn new(transcript: Transcript, implicit_tls: bool) -> Dialogue {
        if implicit_tls {
            transcript.server(IMPLICIT_TLS_LINE);
        }
        Dialogue {
            transcript,
            client: Lines::default(),
            server: Lines::default(),
            state: State {
                next: Next::Command,
                body: BodyLines::default(),
                reply: Vec::new(),
                starttls: false,
                encrypted: implicit_tls,
            },
        }
    }

    /// Bytes the client sent.
    fn client_sent(&mut self, bytes: &[u8]) {
        if self.state.encrypted || !self.transcript.is_enabled() {
            return;
        }
        let Dialogue {
            transcript,
            client,
            state,
            ..
        } = self;
        client.feed(bytes, |line| state.client_line(transcript, line));
    }

    /// Bytes the server sent.
    fn server_sent(&mut self, bytes: &[u8]) {
        if self.state.encrypted || !self.transcript.is_enabled() {
            return;
        }
        let Dialogue {
            transcript,
            server,
            state,
            ..
        } = self;
        server.feed(bytes, |line| state.server_line(transcript, line));
    }

    /// The connection closed: what was received but not yet shown is shown.
    fn closed(mut self) {
        if self.state.encrypted {
            return;
        }
        let t = &self.transcript;
        if let Some(line) = self.client.rest() {
            let _ = self.state.client_line(t, &line);
        }
        self.state.body.end(t);
        if let Some(line) = self.server.rest() {
            self.state.keep_reply_line(t, &line);
        }
        if !self.state.reply.is_empty() {
            t.server(&self.state.reply);
        }
    }
}

impl State {
    /// A line from the client, shown as the server's transcript shows it.
    fn client_line(&mut self, t: &Transcript, line: &[u8]) -> ControlFlow<()> {
        match self.next {
            Next::Body => {
                // `BodyLines` shows the final `.` after the count of lines not shown.
                self.body.line(t, line);
                if line == b"." {
                    self.next = Next::Command;
                }
            }
            Next::SaslResponse => {
                self.body.end(t);
                t.client_input(line, Shown::Secret);
                self.next = Next::Command;
            }
            Next::Command => {
                self.body.end(t);
                t.client_input(line, Shown::Command(&REDACTION));
                if line.trim_ascii().eq_ignore_ascii_case(b"STARTTLS") {
                    self.starttls = true;
                }
            }
        }
        ControlFlow::Continue(())
    }

    /// A line from the server: a reply is shown when its last line comes, and tells how the
    /// client's next line is shown.
    fn server_line(&mut self, t: &Transcript, line: &[u8]) -> ControlFlow<()> {
        self.keep_reply_line(t, line);
        // RFC 5321 §4.2.1: `250-` goes on, `250 ` (or a line of another shape) is the last.
        let goes_on =
            line.len() >= 4 && line[..3].iter().all(u8::is_ascii_digit) && line[3] == b'-';
        if goes_on {
            return ControlFlow::Continue(());
        }
        t.server(&self.reply);
        self.reply.clear();
        let starttls = std::mem::take(&mut self.starttls);
        match line.get(..3) {
            Some(b"354") => self.next = Next::Body,
            Some(b"334") => self.next = Next::SaslResponse,
            Some(b"220") if starttls => {
                t.server(STARTTLS_LINE);
                self.encrypted = true;
                return ControlFlow::Break(());
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    /// Adds a line to the reply being received; a reply grown too long is shown as far as
    /// it goes.
    fn keep_reply_line(&mut self, t: &Transcript, line: &[u8]) {
        if self.reply.len() + line.len() + 2 > REPLY_KEPT {
            t.server(&self.reply);
            self.reply.clear();
        }
        self.reply.extend_from_slice(line);
        self.reply.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn collecting() -> (Transcript, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let t = Transcript::to_sink(move |dir, line| {
            sink.lock().unwrap().push(Transcript::format(dir, line))
        });
        (t, lines)
    }

    /// (from the client?, bytes) in order.
    const SESSION: &[(bool, &str)] = &[
        (false, "220 localhost ESMTP yubin\r\n"),
        (true, "EHLO me\r\n"),
        (false, "250-localhost\r\n250-AUTH PLAIN\r\n250 STARTTLS\r\n"),
        (true, "AUTH PLAIN AGFsaWNlAGh1bnRlcjI=\r\n"),
        (false, "235 2.7.0 ok\r\n"),
        (true, "AUTH LOGIN\r\n"),
        (false, "334 VXNlcm5hbWU6\r\n"),
        (true, "YWxpY2U=\r\n"),
        (false, "334 UGFzc3dvcmQ6\r\n"),
        (true, "aHVudGVyMg==\r\n"),
        (false, "235 2.7.0 ok\r\n"),
        (true, "MAIL FROM:<a@localhost>\r\n"),
        (false, "250 2.1.0 ok\r\n"),
        (true, "DATA\r\n"),
        (false, "354 go on\r\n"),
        (
            true,
            "Subject: s\r\n\r\n1\r\n2\r\n3\r\n4\r\n5\r\n..6\r\n.\r\n",
        ),
        (false, "250 2.0.0 queued\r\n"),
        (true, "STARTTLS\r\n"),
        (false, "220 2.0.0 ready\r\n\x16\x03\x01"),
        (true, "\x16\x03\x01 EHLO secret\r\n"),
        (false, "250 secret\r\n"),
    ];

    fn expected() -> Vec<&'static str> {
        vec![
            "S: 220 localhost ESMTP yubin",
            "C: EHLO me",
            "S: 250-localhost",
            "S: 250-AUTH PLAIN",
            "S: 250 STARTTLS",
            "C: AUTH PLAIN ****",
            "S: 235 2.7.0 ok",
            "C: AUTH LOGIN",
            "S: 334 VXNlcm5hbWU6",
            "C: ****",
            "S: 334 UGFzc3dvcmQ6",
            "C: ****",
            "S: 235 2.7.0 ok",
            "C: MAIL FROM:<a@localhost>",
            "S: 250 2.1.0 ok",
            "C: DATA",
            "S: 354 go on",
            "C: Subject: s",
            "C: ",
            "C: 1",
            "C: 2",
            "C: 3",
            "C: 4",
            "C: … (2 more lines)",
            "C: .",
            "S: 250 2.0.0 queued",
            "C: STARTTLS",
            "S: 220 2.0.0 ready",
            "S: [TLS handshake: the rest of the session is encrypted and cannot be shown]",
        ]
    }

    #[test]
    fn shows_the_dialogue_as_the_server_does() {
        let (t, lines) = collecting();
        let mut d = Dialogue::new(t, false);
        for &(client, bytes) in SESSION {
            if client {
                d.client_sent(bytes.as_bytes());
            } else {
                d.server_sent(bytes.as_bytes());
            }
        }
        d.closed();
        assert_eq!(*lines.lock().unwrap(), expected());
    }

    /// The stream is cut anywhere: the lines are the same.
    #[test]
    fn pieces_of_any_size_give_the_same_lines() {
        for size in [1, 2, 3, 5, 8, 13, 64] {
            let (t, lines) = collecting();
            let mut d = Dialogue::new(t, false);
            for &(client, bytes) in SESSION {
                for piece in bytes.as_bytes().chunks(size) {
                    if client {
                        d.client_sent(piece);
                    } else {
                        d.server_sent(piece);
                    }
                }
            }
            d.closed();
            assert_eq!(*lines.lock().unwrap(), expected(), "pieces of {size}");
        }
    }

    #[test]
    fn implicit_tls_says_so_and_shows_nothing() {
        let (t, lines) = collecting();
        let mut d = Dialogue::new(t, true);
        d.server_sent(b"220 hello\r\n");
        d.client_sent(b"EHLO me\r\n");
        d.closed();
        assert_eq!(
            *lines.lock().unwrap(),
            ["S: [TLS from the first byte: the whole session is encrypted and cannot be shown]"]
        );
    }

    #[test]
    fn a_refused_starttls_goes_on_in_plaintext() {
        let (t, lines) = collecting();
        let mut d = Dialogue::new(t, false);
        d.client_sent(b"STARTTLS\r\n");
        d.server_sent(b"454 4.7.0 no TLS\r\n");
        d.client_sent(b"QUIT\r\n");
        d.server_sent(b"221 bye\r\n220 not a handshake\r\n");
        assert_eq!(
            *lines.lock().unwrap(),
            [
                "C: STARTTLS",
                "S: 454 4.7.0 no TLS",
                "C: QUIT",
                "S: 221 bye",
                "S: 220 not a handshake"
            ]
        );
    }

    #[test]
    fn what_was_not_ended_is_shown_at_the_close() {
        let (t, lines) = collecting();
        let mut d = Dialogue::new(t, false);
        d.server_sent(b"250-first\r\n250-second");
        d.client_sent(b"NOOP");
        d.closed();
        assert_eq!(
            *lines.lock().unwrap(),
            ["C: NOOP", "S: 250-first", "S: 250-second"]
        );
    }

    #[tokio::test]
    async fn the_relay_passes_every_byte_unchanged_and_ends_when_a_side_closes() {
        let server = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let port = server.local_addr().unwrap().port();
        let from_server: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
        let from_client: Vec<u8> = (0..=255u8).rev().cycle().take(70_000).collect();
        let (sent, expect) = (from_server.clone(), from_client.clone());
        let far = tokio::spawn(async move {
            let (mut s, _) = server.accept().await.unwrap();
            s.write_all(&sent).await.unwrap();
            let mut got = vec![0; expect.len()];
            s.read_exact(&mut got).await.unwrap();
            assert_eq!(got, expect);
            // The server closes first.
        });
        let (t, _) = collecting();
        let relay = Relay::start("127.0.0.1", port, false, t).await.unwrap();
        let mut c = TcpStream::connect((Ipv4Addr::LOCALHOST, relay.port()))
            .await
            .unwrap();
        let mut got = vec![0; from_server.len()];
        c.read_exact(&mut got).await.unwrap();
        assert_eq!(got, from_server);
        c.write_all(&from_client).await.unwrap();
        far.await.unwrap();
        // The server's close reaches the client...
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut rest))
            .await
            .unwrap()
            .unwrap();
        assert!(rest.is_empty());
        // ...and the relay has ended.
        tokio::time::timeout(Duration::from_secs(10), relay.finish())
            .await
            .unwrap();
    }
}
