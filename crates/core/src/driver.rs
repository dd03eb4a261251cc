//! The one connection driver: every yubin protocol (POP3, SMTP, IMAP) runs on it.
//!
//! A protocol supplies a sans-I/O [`Session`] (a state machine that takes one framed input
//! and returns a [`Reply`]) and a `Decoder` that frames its input (lines for POP3 and SMTP,
//! literal-aware commands for IMAP). [`drive`] does everything else, once, for all of them:
//!
//! - framing and reading, with a read buffer that starts small and shrinks back after a
//!   large input, so idle connections cost little;
//! - timeouts by state: [`ServerConfig::login_timeout`] before the session has logged in,
//!   [`ServerConfig::idle_timeout`] after it (RFC 3501 §5.4's 30 minutes for IMAP), each
//!   bounding the arrival of one whole input, raced against shutdown and eviction;
//! - the transcript, with credentials masked by command name before parsing;
//! - pipelining: the inputs already received are answered in one trip to the blocking pool
//!   and one write (RFC 2449 §6.6, RFC 2920, RFC 3501 §5.5);
//! - the login guard: a failed login's reply is held back, longer for repeated failures
//!   from the same address, and the connection closed after too many ([`crate::guard`]);
//! - STARTTLS/STLS, compression (IMAP COMPRESS=DEFLATE, RFC 4978), IDLE (waiting on a
//!   store change), responses produced in bounded pieces, and a session that panics (it
//!   costs only its own connection).
//!
//! Sessions call the synchronous store, so the driver never runs one on an async worker:
//! each call goes to tokio's blocking pool ([`crate::offload`]).

use std::future::Future;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;

use crate::codec::{FrameError, Input};
use crate::guard::LoginGuard;
use crate::offload::{Offloaded, SessionLost};
use crate::server::{ServerConfig, SessionContext};
use crate::stream::Stream;
use crate::tls::{TlsServer, TlsState};
use crate::transcript::{BodyLines, Shown, Transcript};

/// What the connection does after sending a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Read the next input.
    Continue,
    /// Send the reply, then close the connection.
    Close,
    /// Send the reply, then start a TLS handshake (STARTTLS, STLS) and go on.
    StartTls,
    /// Send the reply, then compress both directions (IMAP COMPRESS=DEFLATE, RFC 4978
    /// §3): everything after the reply's last CRLF, sent or received, is raw DEFLATE,
    /// inside TLS if there is TLS. Input the client pipelined behind the command is
    /// compressed already, and is inflated before it is framed.
    Compress,
    /// Send the reply, then wait for the next input while pushing what
    /// [`Session::changes`] reports whenever [`Session::watch`] fires (IMAP IDLE,
    /// RFC 2177). The next input ends the wait.
    Idle,
    /// The response goes on: send these bytes, then ask [`Session::resume`] for more
    /// (a large FETCH is produced in bounded pieces and never sits in memory whole).
    More,
    /// The reply refuses a login: the driver holds it back as the login guard says, and
    /// closes the connection after too many failures.
    LoginFailed,
}

/// The bytes to send for one input, and what happens next.
#[derive(Debug)]
pub struct Reply {
    /// Complete response lines, CRLF included.
    pub bytes: BytesMut,
    /// What the connection does once they are sent.
    pub after: After,
}

impl Reply {
    /// `bytes`, then `after`.
    pub fn new(bytes: impl Into<BytesMut>, after: After) -> Reply {
        Reply {
            bytes: bytes.into(),
            after,
        }
    }

    /// `bytes`, then read the next input.
    pub fn next(bytes: impl Into<BytesMut>) -> Reply {
        Reply::new(bytes, After::Continue)
    }

    /// Bytes built in a `Vec`, then `after`; the buffer is taken over, not copied.
    pub fn from_vec(bytes: Vec<u8>, after: After) -> Reply {
        let bytes = bytes::Bytes::from(bytes)
            .try_into_mut()
            .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
        Reply { bytes, after }
    }
}

/// Whether a session has logged in: it sets the timeout, and whether the connection may
/// be evicted for a newcomer when the listener is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not logged in yet.
    Unauthenticated,
    /// Logged in.
    Authenticated,
}

/// Something a session can wait on for changes (the store's mailbox watch).
pub trait Watch: Send + 'static {
    /// Completes when there may be something to report. Must be cancel-safe: the driver
    /// drops the future when input arrives first.
    fn changed(&mut self) -> impl Future<Output = ()> + Send;
}

/// The watch of a protocol that never waits on changes.
#[derive(Debug)]
pub enum NoWatch {}

impl Watch for NoWatch {
    async fn changed(&mut self) {
        match *self {}
    }
}

/// A protocol's session state machine, free of I/O.
///
/// Every method but [`Session::tls_started`], [`Session::phase`], [`Session::shown`] and
/// [`Session::adjust`] runs on tokio's blocking pool, so they may call the store (and
/// block on the disk).
pub trait Session: Send + 'static {
    /// What the session receives.
    type Frame: Input + Send + 'static;
    /// How input is framed.
    type Codec: Decoder<Item = Self::Frame, Error = FrameError> + Send + 'static;
    /// What IDLE waits on ([`NoWatch`] for protocols without it).
    type Watch: Watch;

    /// Answers one input.
    fn handle(&mut self, frame: Self::Frame) -> Reply;

    /// The next piece of a reply that returned [`After::More`].
    fn resume(&mut self) -> Reply {
        Reply::next(BytesMut::new())
    }

    /// What to wait on after [`After::Idle`], or between commands when
    /// [`Session::pushes`]; `None`: only for the next input.
    fn watch(&mut self) -> Option<Self::Watch> {
        None
    }

    /// Completes `watch` after [`Session::changes`] looked: what the look began to watch
    /// (NOTIFY, a mailbox created since) is added, its receivers made before the look
    /// read it. The default adds nothing.
    fn watch_again(&mut self, watch: Option<Self::Watch>) -> Option<Self::Watch> {
        watch
    }

    /// What changed since the last report, while waiting after [`After::Idle`] or
    /// between commands. A long report returns [`After::More`] and goes on in
    /// [`Session::resume`]; any other `after` is read as [`After::Continue`].
    fn changes(&mut self) -> Reply {
        Reply::next(BytesMut::new())
    }

    /// Whether changes are pushed between commands too, not only during IDLE (IMAP
    /// NOTIFY, RFC 5465 §3.1: "the client listens for event notifications all the
    /// time"). When it is, the driver waits on a fresh [`Session::watch`] after every
    /// reply, as it does during IDLE.
    fn pushes(&self) -> bool {
        false
    }

    /// Told once the STARTTLS/STLS handshake has completed: the session forgets what it
    /// learnt before (RFC 3207 §4.2, RFC 2595 §3.1, RFC 3501 §6.2.1).
    fn tls_started(&mut self);

    /// Whether the session has logged in.
    fn phase(&self) -> Phase;

    /// How the next input appears in the transcript.
    fn shown(&self) -> Shown;

    /// Adjusts the framing after each reply (IMAP: a smaller literal limit before login,
    /// raw lines for a SASL response or IDLE's `DONE`).
    fn adjust(&self, _codec: &mut Self::Codec) {}
}

/// The fixed lines a protocol's connection ends with, each complete with CRLF.
#[derive(Debug, Clone, Copy)]
pub struct Goodbyes {
    /// Input that cannot be framed.
    pub unframeable: &'static [u8],
    /// Nothing arrived within the timeout.
    pub idle: &'static [u8],
    /// The server is shutting down.
    pub shutdown: &'static [u8],
    /// The session failed (it panicked): the protocol's generic server error.
    pub failure: &'static [u8],
    /// Sent after the reply to the failed login that used up the connection's allowance;
    /// empty where the protocol has no unsolicited line (POP3).
    pub too_many_failures: &'static [u8],
}

/// Everything a protocol's listener shares with the driver: the socket policy, the TLS
/// offer, the transcript and the login guard. One of these per listener; clone the
/// guard into several to share what it learns across listeners and protocols.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// Connection limits and timeouts.
    pub server: ServerConfig,
    /// The `--trace` transcript.
    pub transcript: Transcript,
    /// The certificate for the in-place upgrade (STARTTLS, STLS); `None`: not offered.
    pub starttls: Option<TlsServer>,
    /// `--require-tls`: no password (and no SMTP mail) over a plaintext connection.
    pub require_tls: bool,
    /// Failed-login policy.
    pub guard: LoginGuard,
}

impl ListenerConfig {
    /// A listener with `server`'s socket policy, no TLS, no transcript, a fresh guard.
    pub fn new(server: ServerConfig) -> Self {
        ListenerConfig {
            server,
            transcript: Transcript::disabled(),
            starttls: None,
            require_tls: false,
            guard: LoginGuard::default(),
        }
    }

    /// What a session on `stream` knows about TLS.
    pub fn tls_state(&self, stream: &Stream) -> TlsState {
        TlsState {
            active: stream.is_tls(),
            upgradable: self.starttls.is_some(),
            required: self.require_tls,
        }
    }
}

/// The read buffer a connection starts with. Commands are short and an idle connection
/// keeps its buffer, so a small one is what lets 10,000 idle connections fit in under
/// 100 MiB (tokio-util's default is 8 KiB); a long command or literal grows it.
const READ_BUFFER: usize = 1024;

/// A buffer grown past this by one large input is given back once that input is done.
const SHRINK_ABOVE: usize = 64 * 1024;

/// Replies waiting past this are sent even while pipelined input is still unanswered.
const FLUSH_AT: usize = 64 * 1024;

/// Runs `session` on `stream` until it closes: sends `greeting`, then a reply per input.
///
/// A session that ends any way other than its own [`After::Close`] (client gone, timeout,
/// shutdown, eviction) is simply dropped: protocols commit nothing on drop. The drop, too,
/// happens on the blocking pool, before this returns.
pub async fn drive<S: Session>(
    stream: Stream,
    ctx: &SessionContext,
    session: S,
    codec: S::Codec,
    greeting: BytesMut,
    listener: &ListenerConfig,
    goodbyes: &Goodbyes,
) -> std::io::Result<()> {
    let mut session = Offloaded::new(session);
    // Sessions share one output: each line says whose it is.
    let transcript = if listener.transcript.is_enabled() {
        listener
            .transcript
            .labelled(format!("{}#{}", listener.server.name, ctx.id))
    } else {
        Transcript::disabled()
    };
    let mut conn = Conversation {
        ctx,
        listener,
        goodbyes,
        transcript,
        wire: Some(Wire {
            codec,
            buf: BytesMut::with_capacity(READ_BUFFER),
            body: BodyLines::default(),
        }),
        pending: greeting,
        failures: 0,
        authenticated: false,
    };
    let result = conn.run(stream, &mut session).await;
    session.close().await;
    result
}

/// The codec and its buffer: they travel to the blocking pool with the session, so the
/// inputs pipelined behind the first are framed there one at a time, each after the
/// session has adjusted the framing for it.
struct Wire<C> {
    codec: C,
    buf: BytesMut,
    /// Body lines (SMTP DATA) seen, for the transcript.
    body: BodyLines,
}

struct Conversation<'a, C> {
    ctx: &'a SessionContext,
    listener: &'a ListenerConfig,
    goodbyes: &'a Goodbyes,
    /// This connection's transcript (labelled with its session).
    transcript: Transcript,
    /// `None` only while it is on the blocking pool (or lost with a panicking session).
    wire: Option<Wire<C>>,
    /// Reply bytes not yet sent.
    pending: BytesMut,
    /// Failed logins on this connection.
    failures: u32,
    /// Whether the slot was marked authenticated.
    authenticated: bool,
}

/// What ended a wait for input.
enum Event<F> {
    Frame(F),
    Changed,
    Closed,
    Unframeable,
    Timeout,
    Shutdown,
    Evicted,
}

/// What one trip to the blocking pool produced.
struct Answered {
    bytes: BytesMut,
    /// What the connection does after the last reply; `None`: the session panicked.
    after: Option<After>,
    /// The input after the last one answered cannot be framed.
    unframeable: bool,
}

/// How a conversation over one transport ended.
enum Ended {
    Done,
    StartTls(Stream),
    Compressed(Stream),
}

impl<C> Conversation<'_, C>
where
    C: Decoder<Error = FrameError> + Send + 'static,
    C::Item: Input + Send + 'static,
{
    async fn run<S>(
        &mut self,
        mut stream: Stream,
        session: &mut Offloaded<S>,
    ) -> std::io::Result<()>
    where
        S: Session<Codec = C, Frame = C::Item>,
    {
        loop {
            match self.transport(stream, session).await? {
                Ended::Done => return Ok(()),
                Ended::StartTls(tls) => {
                    stream = tls;
                    // No store access: only the capabilities and the SASL state change.
                    if let Some(s) = session.get_mut() {
                        s.tls_started();
                    }
                    self.transcript.server(b"[TLS handshake done]");
                }
                Ended::Compressed(compressed) => {
                    stream = compressed;
                    self.transcript
                        .server(b"[compression on; the rest is shown decompressed]");
                }
            }
        }
    }

    /// Inputs and replies over one transport, until it closes or STARTTLS or COMPRESS is
    /// accepted.
    async fn transport<S>(
        &mut self,
        stream: Stream,
        session: &mut Offloaded<S>,
    ) -> std::io::Result<Ended>
    where
        S: Session<Codec = C, Frame = C::Item>,
    {
        let (mut reader, mut writer) = tokio::io::split(stream);
        self.send(&mut writer).await?;
        let mut watch: Option<Option<S::Watch>> = None;
        if session.get_mut().is_some_and(|s| s.pushes()) {
            // Over a new transport (after COMPRESS) the pushes go on at once.
            match self.watch_and_look(session, &mut writer).await? {
                Some(w) => watch = Some(w),
                None => return self.close_with(&mut writer, self.goodbyes.failure).await,
            }
            self.send(&mut writer).await?;
        }
        // When the input being waited for must have arrived; kept across IDLE's pushes,
        // which are not input.
        let mut deadline: Option<Instant> = None;
        loop {
            let Some(phase) = session.get_mut().map(|s| s.phase()) else {
                return self.close_with(&mut writer, self.goodbyes.failure).await;
            };
            if phase == Phase::Authenticated && !self.authenticated {
                self.ctx.slot.authenticated();
                self.authenticated = true;
            }
            let until = *deadline.get_or_insert_with(|| Instant::now() + self.timeout(phase));
            let watching = watch.as_mut().and_then(Option::as_mut);
            let frame = match self.next_event(&mut reader, until, watching).await {
                Ok(Event::Frame(frame)) => frame,
                Ok(Event::Changed) => {
                    // A fresh watch with the look: what is watched may have changed
                    // (NOTIFY watches a mailbox created since).
                    match self.watch_and_look(session, &mut writer).await? {
                        Some(w) => watch = Some(w),
                        None => return self.close_with(&mut writer, self.goodbyes.failure).await,
                    }
                    self.send(&mut writer).await?;
                    continue;
                }
                Ok(Event::Closed) => return Ok(Ended::Done),
                Ok(Event::Unframeable) => {
                    return self
                        .close_with(&mut writer, self.goodbyes.unframeable)
                        .await;
                }
                Ok(Event::Timeout) => {
                    return self.close_with(&mut writer, self.goodbyes.idle).await;
                }
                Ok(Event::Shutdown) => {
                    return self.close_with(&mut writer, self.goodbyes.shutdown).await;
                }
                Ok(Event::Evicted) => {
                    let refusal = self.listener.server.refusal.clone();
                    return self.close_with(&mut writer, &refusal).await;
                }
                Err(e) if crate::deflate::is_corrupt(&e) => {
                    // Nothing more can be framed; no line is owed to a client whose
                    // compressor is broken, but its half of the close is.
                    tracing::info!("{e}; closing");
                    writer.shutdown().await?;
                    return Ok(Ended::Done);
                }
                Err(e) => return Err(e),
            };
            // Whatever the session was waiting on, this input ends it.
            watch = None;
            let mut answered = self.answer(session, frame).await;
            if !self.authenticated
                && session.get_mut().map(|s| s.phase()) == Some(Phase::Authenticated)
            {
                // Logged in: the slot is kept from now on, before the reply goes out.
                self.ctx.slot.authenticated();
                self.authenticated = true;
                // The reply waits for failure replies still queued for this address, so
                // its promptness does not tell a guesser that hung up that it was right.
                let hold = self.listener.guard.succeeded(self.ctx.peer.ip());
                if !hold.is_zero() {
                    tokio::select! {
                        () = tokio::time::sleep(hold) => {}
                        () = self.ctx.shutdown.cancelled() => {}
                    }
                }
            }
            loop {
                // The wait for the next input starts before the reply can reach the
                // client, with the timeout of the state the session is in now.
                deadline = session
                    .get_mut()
                    .map(|s| Instant::now() + self.timeout(s.phase()));
                self.pending.extend_from_slice(&answered.bytes);
                let Some(after) = answered.after else {
                    // The replies before the panic belong to commands that took effect,
                    // so they go out ahead of the failure line.
                    return self.close_with(&mut writer, self.goodbyes.failure).await;
                };
                match after {
                    After::Continue => {}
                    After::Close => {
                        self.send(&mut writer).await?;
                        writer.shutdown().await?;
                        return Ok(Ended::Done);
                    }
                    After::More => {
                        self.send(&mut writer).await?;
                        answered = match session.run(S::resume).await {
                            Ok(reply) => Answered {
                                bytes: reply.bytes,
                                after: Some(reply.after),
                                unframeable: answered.unframeable,
                            },
                            Err(_) => Answered {
                                bytes: BytesMut::new(),
                                after: None,
                                unframeable: false,
                            },
                        };
                        continue;
                    }
                    After::StartTls => {
                        self.send(&mut writer).await?;
                        let Some(tls) = &self.listener.starttls else {
                            // A session only offers what the listener has; never upgrade blind.
                            writer.shutdown().await?;
                            return Ok(Ended::Done);
                        };
                        // Plaintext pipelined behind STARTTLS may come from a man in the
                        // middle (CVE-2011-0411): it is dropped, never answered.
                        let wire = self.wire.as_mut().expect("wire is home between trips");
                        let discarded = wire.buf.len();
                        wire.buf = BytesMut::with_capacity(READ_BUFFER);
                        let stream = crate::tls::upgrade(reader, writer, tls, discarded).await?;
                        return Ok(Ended::StartTls(stream));
                    }
                    After::Compress => {
                        // The OK goes out uncompressed; compression starts right after
                        // its CRLF (RFC 4978 §3).
                        self.send(&mut writer).await?;
                        // RFC 4978 §3: the client compresses from the first command after
                        // COMPRESS, so what it pipelined behind is deflated already: it
                        // goes through the inflater, ahead of what is still to be read.
                        let wire = self.wire.as_mut().expect("wire is home between trips");
                        let already =
                            std::mem::replace(&mut wire.buf, BytesMut::with_capacity(READ_BUFFER));
                        let stream = reader.unsplit(writer).compress(&already)?;
                        return Ok(Ended::Compressed(stream));
                    }
                    After::Idle => {
                        self.send(&mut writer).await?;
                        match self.watch_and_look(session, &mut writer).await? {
                            Some(w) => watch = Some(w),
                            None => {
                                return self.close_with(&mut writer, self.goodbyes.failure).await;
                            }
                        }
                    }
                    After::LoginFailed => {
                        self.failures += 1;
                        let verdict = self
                            .listener
                            .guard
                            .failed(self.ctx.peer.ip(), self.failures);
                        if !verdict.delay.is_zero() {
                            tokio::select! {
                                () = tokio::time::sleep(verdict.delay) => {}
                                () = self.ctx.shutdown.cancelled() => {}
                            }
                        }
                        // The hold is not the client's silence.
                        deadline = Some(Instant::now() + self.timeout(Phase::Unauthenticated));
                        if verdict.close {
                            return self
                                .close_with(&mut writer, self.goodbyes.too_many_failures)
                                .await;
                        }
                    }
                }
                break;
            }
            if watch.is_none() && session.get_mut().is_some_and(|s| s.pushes()) {
                // Between commands as during IDLE (RFC 5465 §3.1).
                self.send(&mut writer).await?;
                match self.watch_and_look(session, &mut writer).await? {
                    Some(w) => watch = Some(w),
                    None => return self.close_with(&mut writer, self.goodbyes.failure).await,
                }
            }
            self.send(&mut writer).await?;
            if answered.unframeable {
                return self
                    .close_with(&mut writer, self.goodbyes.unframeable)
                    .await;
            }
        }
    }

    /// Makes the session's watch and looks once for changes, in one trip: a change
    /// between the last reply and the watch's creation is reported now. `None`: the
    /// session panicked.
    async fn watch_and_look<S, W>(
        &mut self,
        session: &mut Offloaded<S>,
        writer: &mut W,
    ) -> std::io::Result<Option<Option<S::Watch>>>
    where
        S: Session<Codec = C, Frame = C::Item>,
        W: AsyncWrite + Unpin,
    {
        let looked = session
            .run(|s| {
                let w = s.watch();
                let update = s.changes();
                (s.watch_again(w), update)
            })
            .await;
        let (w, update) = match looked {
            Ok((w, update)) => (w, Ok(update)),
            Err(e) => (None, Err(e)),
        };
        Ok(self.push(session, writer, update).await?.map(|()| w))
    }

    /// Queues a report of changes, and the rest of a long one ([`After::More`]) piece
    /// by piece, sending each piece before the next is made. `None`: the session
    /// panicked.
    async fn push<S, W>(
        &mut self,
        session: &mut Offloaded<S>,
        writer: &mut W,
        mut update: Result<Reply, SessionLost>,
    ) -> std::io::Result<Option<()>>
    where
        S: Session<Codec = C, Frame = C::Item>,
        W: AsyncWrite + Unpin,
    {
        loop {
            let Ok(reply) = update else { return Ok(None) };
            self.pending.extend_from_slice(&reply.bytes);
            if reply.after != After::More {
                return Ok(Some(()));
            }
            self.send(writer).await?;
            update = session.run(S::resume).await;
        }
    }

    /// How long the next input may take to arrive in `phase`.
    fn timeout(&self, phase: Phase) -> Duration {
        match phase {
            Phase::Authenticated => self.listener.server.idle_timeout,
            Phase::Unauthenticated => self.listener.server.login_timeout,
        }
    }

    /// Answers `first` and every input pipelined behind it that is already buffered, in
    /// one trip to the blocking pool.
    async fn answer<S>(&mut self, session: &mut Offloaded<S>, first: C::Item) -> Answered
    where
        S: Session<Codec = C, Frame = C::Item>,
    {
        let wire = self.wire.take().expect("wire is home between trips");
        let budget = FLUSH_AT.saturating_sub(self.pending.len());
        let shutdown = self.ctx.shutdown.clone();
        let transcript = self.transcript.clone();
        let trip = session
            .run(move |s| answer_batch(s, wire, first, budget, &shutdown, &transcript))
            .await;
        match trip {
            Ok((mut wire, answered)) => {
                // One large input (a literal, a long line) grew the buffer: give it back.
                if wire.buf.capacity() > SHRINK_ABOVE && wire.buf.len() < READ_BUFFER {
                    let mut small = BytesMut::with_capacity(READ_BUFFER);
                    small.extend_from_slice(&wire.buf);
                    wire.buf = small;
                }
                self.wire = Some(wire);
                answered
            }
            Err(_) => Answered {
                bytes: BytesMut::new(),
                after: None,
                unframeable: false,
            },
        }
    }

    /// Waits for the next input, the watch, the timeout, shutdown or eviction.
    async fn next_event<R, W>(
        &mut self,
        reader: &mut R,
        deadline: Instant,
        mut watch: Option<&mut W>,
    ) -> std::io::Result<Event<C::Item>>
    where
        R: AsyncRead + Unpin,
        W: Watch,
    {
        let ctx = self.ctx;
        // A closing server (or a connection that must give way) starts no new command,
        // even one already buffered.
        if ctx.shutdown.is_cancelled() {
            return Ok(Event::Shutdown);
        }
        if ctx.slot.evicted().is_cancelled() {
            return Ok(Event::Evicted);
        }
        let wire = self.wire.as_mut().expect("wire is home between trips");
        if let Some(event) = decoded(wire.codec.decode(&mut wire.buf))? {
            return Ok(event);
        }
        // One whole input must arrive by the deadline: a client trickling a byte at a
        // time does not keep its connection forever.
        loop {
            if wire.buf.capacity() - wire.buf.len() < READ_BUFFER / 2 {
                wire.buf.reserve(READ_BUFFER.max(wire.buf.len()));
            }
            let changed = async {
                match watch.as_mut() {
                    Some(w) => w.changed().await,
                    None => std::future::pending().await,
                }
            };
            let read = tokio::select! {
                biased;
                () = ctx.shutdown.cancelled() => return Ok(Event::Shutdown),
                () = ctx.slot.evicted().cancelled() => return Ok(Event::Evicted),
                () = tokio::time::sleep_until(deadline) => return Ok(Event::Timeout),
                () = changed => return Ok(Event::Changed),
                read = reader.read_buf(&mut wire.buf) => read,
            };
            match read {
                Ok(0) => {
                    // The peer closed: a final unterminated line is not a command.
                    return Ok(match decoded(wire.codec.decode_eof(&mut wire.buf))? {
                        Some(Event::Frame(frame)) => Event::Frame(frame),
                        _ => Event::Closed,
                    });
                }
                Ok(_) => {
                    if let Some(event) = decoded(wire.codec.decode(&mut wire.buf))? {
                        return Ok(event);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends what is pending, then `line`, then closes.
    async fn close_with<W: AsyncWrite + Unpin>(
        &mut self,
        writer: &mut W,
        line: &[u8],
    ) -> std::io::Result<Ended> {
        self.pending.extend_from_slice(line);
        self.send(writer).await?;
        writer.shutdown().await?;
        Ok(Ended::Done)
    }

    async fn send<W: AsyncWrite + Unpin>(&mut self, writer: &mut W) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.transcript.server(&self.pending);
        writer.write_all(&self.pending).await?;
        // Each reply is whole on the wire: a compressed stream ends it with a sync flush
        // (RFC 4978 §4), TLS sends its last record.
        writer.flush().await?;
        if self.pending.capacity() > SHRINK_ABOVE {
            self.pending = BytesMut::new();
        } else {
            self.pending.clear();
        }
        Ok(())
    }
}

/// A decode result as an event: `None` when more input is needed.
fn decoded<F>(result: Result<Option<F>, FrameError>) -> std::io::Result<Option<Event<F>>> {
    match result {
        Ok(Some(frame)) => Ok(Some(Event::Frame(frame))),
        Ok(None) => Ok(None),
        Err(FrameError::Unframeable(why)) => {
            tracing::info!("unframeable input: {why}");
            Ok(Some(Event::Unframeable))
        }
        Err(FrameError::Io(e)) => Err(e),
    }
}

/// Runs on the blocking pool: answers `first`, then each further input already in the
/// buffer, in order, until a reply does something other than continue, `budget` bytes of
/// replies are waiting, the server shuts down (a closing server starts no new command), or
/// the buffer holds no complete input.
///
/// A panic is caught here rather than left to lose the replies before it: those belong to
/// commands that took effect (a message accepted with 250 must not be delivered twice
/// because the client never saw the 250).
fn answer_batch<S: Session>(
    session: &mut S,
    mut wire: Wire<S::Codec>,
    first: S::Frame,
    budget: usize,
    shutdown: &CancellationToken,
    transcript: &Transcript,
) -> (Wire<S::Codec>, Answered) {
    let mut bytes = BytesMut::new();
    let mut frame = first;
    loop {
        if transcript.is_enabled()
            && let Some(text) = frame.shown()
        {
            match session.shown() {
                Shown::Body => wire.body.line(transcript, text),
                other => {
                    wire.body.end(transcript);
                    transcript.client_input(text, other);
                }
            }
        }
        // The session is never used again after a panic, so a broken invariant in it
        // cannot be observed: asserting unwind safety is sound.
        let codec = &mut wire.codec;
        let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let reply = session.handle(frame);
            session.adjust(codec);
            reply
        }));
        let Ok(reply) = handled else {
            // The message went to the panic hook (stderr) already.
            tracing::error!("session panicked; closing the connection");
            let answered = Answered {
                bytes,
                after: None,
                unframeable: false,
            };
            return (wire, answered);
        };
        if bytes.is_empty() {
            bytes = reply.bytes;
        } else {
            bytes.extend_from_slice(&reply.bytes);
        }
        let stop =
            reply.after != After::Continue || bytes.len() >= budget || shutdown.is_cancelled();
        if stop {
            let answered = Answered {
                bytes,
                after: Some(reply.after),
                unframeable: false,
            };
            return (wire, answered);
        }
        match wire.codec.decode(&mut wire.buf) {
            Ok(Some(next)) => frame = next,
            Ok(None) => {
                let answered = Answered {
                    bytes,
                    after: Some(After::Continue),
                    unframeable: false,
                };
                return (wire, answered);
            }
            Err(e) => {
                tracing::info!("unframeable input: {e}");
                let answered = Answered {
                    bytes,
                    after: Some(After::Continue),
                    unframeable: true,
                };
                return (wire, answered);
            }
        }
    }
}

/// Starts a listener that runs `session` for each connection: what every protocol's
/// `serve` is. `make` builds a session, its codec and its greeting for a new connection.
pub async fn serve<S, F>(
    addr: std::net::SocketAddr,
    listener: ListenerConfig,
    goodbyes: &'static Goodbyes,
    shutdown: CancellationToken,
    make: F,
) -> std::io::Result<crate::ServerHandle>
where
    S: Session,
    F: Fn(&SessionContext, TlsState) -> (S, S::Codec, BytesMut) + Send + Sync + 'static,
{
    let socket = crate::server::bind(addr).await?;
    let server = listener.server.clone();
    let shared = std::sync::Arc::new((listener, make));
    crate::server::spawn(socket, server, shutdown, move |stream, ctx| {
        let shared = shared.clone();
        async move {
            let (listener, make) = &*shared;
            let (session, codec, greeting) = make(&ctx, listener.tls_state(&stream));
            let result = drive(stream, &ctx, session, codec, greeting, listener, goodbyes).await;
            if let Err(e) = result {
                tracing::debug!(error = %e, "session ended with an i/o error");
            }
        }
    })
}
