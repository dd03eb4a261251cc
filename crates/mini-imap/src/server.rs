//! IMAP over TCP: the I/O glue between `yubin-core`'s runtime and the [`Session`].
//!
//! The session calls the synchronous store, so every call that can reach it (a command,
//! a rejected command, the next piece of a large response, IDLE's sync when the mailbox
//! changes, and the final drop) runs on tokio's blocking pool through
//! [`Offloaded`]; this side only frames, waits and writes. A command's literals are
//! gathered by the codec, so the session sees one frame per command.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use yubin_core::offload::{Offloaded, SessionLost};
use yubin_core::server::{self, Next, ServerConfig, SessionContext};
use yubin_core::{ServerHandle, Transcript};
use yubin_store::Store;

use crate::codec::{CodecLimits, Frame, FrameError, ImapCodec};
use crate::session::{self, After, ImapConfig, Session};
use yubin_core::tls::{TlsServer, TlsState};

/// Everything an IMAP listener needs.
#[derive(Debug, Clone)]
pub struct ImapServerConfig {
    /// Protocol settings (failed logins).
    pub imap: ImapConfig,
    /// Socket settings: connection limit, idle timeout.
    pub server: ServerConfig,
    /// Framing limits: line, literal, command.
    pub limits: CodecLimits,
    /// The `--trace` transcript.
    pub transcript: Transcript,
    /// The certificate for STARTTLS (RFC 3501 §6.2.1); `None`: STARTTLS is not offered.
    pub starttls: Option<TlsServer>,
    /// `--require-tls`: LOGINDISABLED and no AUTHENTICATE until the connection is encrypted.
    pub require_tls: bool,
}

impl Default for ImapServerConfig {
    fn default() -> Self {
        let mut server = ServerConfig::new("imap", session::BUSY_LINE);
        // RFC 3501 §5.4: an autologout timer must be at least 30 minutes.
        server.idle_timeout = Duration::from_secs(30 * 60);
        ImapServerConfig {
            imap: ImapConfig::default(),
            server,
            limits: CodecLimits::default(),
            transcript: Transcript::disabled(),
            starttls: None,
            require_tls: false,
        }
    }
}

/// The read buffer a connection starts with. Commands are short, and an idle logged-in
/// connection keeps its buffer, so a small one is what lets 10,000 idle connections fit in
/// under 100 MiB (tokio-util's default is 8 KiB); a long command or literal grows it.
const READ_BUFFER: usize = 1024;

/// Sent before closing a connection whose session failed (it panicked): the `SERVERBUG`
/// code a store failure gets mid-session (RFC 5530), as a `BYE` since nothing follows.
const FAILURE_LINE: &[u8] = b"* BYE [SERVERBUG] Internal error\r\n";

/// Binds `addr` (port 0: any free port) and serves IMAP until `shutdown` is cancelled.
pub async fn serve(
    addr: SocketAddr,
    store: Store,
    config: ImapServerConfig,
    shutdown: CancellationToken,
) -> std::io::Result<ServerHandle> {
    let listener = server::bind(addr).await?;
    let shared = Arc::new((store, Arc::new(config.imap.clone()), config.clone()));
    server::spawn(listener, config.server, shutdown, move |stream, ctx| {
        let shared = shared.clone();
        async move {
            let (store, imap, config) = &*shared;
            if let Err(e) = run_session(stream, ctx, store.clone(), imap.clone(), config).await {
                tracing::debug!(error = %e, "session ended with an i/o error");
            }
        }
    })
}

async fn send<W: AsyncWrite + Unpin>(
    w: &mut W,
    transcript: &Transcript,
    bytes: &[u8],
) -> std::io::Result<()> {
    transcript.server(bytes);
    w.write_all(bytes).await
}

async fn run_session(
    stream: yubin_core::stream::Stream,
    ctx: SessionContext,
    store: Store,
    imap: Arc<ImapConfig>,
    config: &ImapServerConfig,
) -> std::io::Result<()> {
    let transcript = &config.transcript;
    let tls = TlsState {
        active: stream.is_tls(),
        upgradable: config.starttls.is_some(),
        required: config.require_tls,
    };
    let idle_timeout = imap.idle_timeout;
    let (session, greeting) = Session::new(store, imap, tls, transcript.clone());
    let mut session = Offloaded::new(session);
    let result = transports(stream, &ctx, &mut session, greeting, config, idle_timeout).await;
    // Dropping the session releases what it holds in the store: off the worker too.
    session.close().await;
    result
}

/// The conversation over the plaintext transport, then (after STARTTLS) over TLS.
async fn transports(
    mut stream: yubin_core::stream::Stream,
    ctx: &SessionContext,
    session: &mut Offloaded<Session>,
    greeting: Vec<u8>,
    config: &ImapServerConfig,
    idle_timeout: Duration,
) -> std::io::Result<()> {
    let transcript = &config.transcript;
    let mut greeting = Some(greeting);
    // One pass per transport: plaintext, then (after STARTTLS) TLS.
    loop {
        let (reader, mut writer) = tokio::io::split(stream);
        let mut frames =
            FramedRead::with_capacity(reader, ImapCodec::new(config.limits), READ_BUFFER);
        if let Some(greeting) = greeting.take() {
            send(&mut writer, transcript, &greeting).await?;
        }
        let ended = converse(
            ctx,
            &mut frames,
            &mut writer,
            session,
            transcript,
            idle_timeout,
        )
        .await?;
        match (ended, &config.starttls) {
            (Ended::StartTls, Some(tls)) => {
                stream = yubin_core::tls::upgrade(frames, writer, tls).await?;
                // No store access: only the capabilities and the SASL state change.
                if let Some(session) = session.get_mut() {
                    session.tls_started();
                }
                transcript.server(b"[TLS handshake done]");
            }
            _ => return Ok(()),
        }
    }
}

/// Why a conversation over one transport ended.
enum Ended {
    /// The connection is closed (or being closed): nothing more to do.
    Closed,
    /// STARTTLS was accepted: the handshake comes next.
    StartTls,
}

/// Commands and responses over one transport, until it closes or STARTTLS is accepted.
async fn converse<R, W>(
    ctx: &SessionContext,
    frames: &mut FramedRead<R, ImapCodec>,
    writer: &mut W,
    session: &mut Offloaded<Session>,
    transcript: &Transcript,
    idle_timeout: Duration,
) -> std::io::Result<Ended>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    // Set while an IDLE runs: when it times out.
    let mut idle_until: Option<Instant> = None;
    loop {
        let next = match idle_until.take() {
            Some(deadline) => {
                match idle(ctx, frames, writer, session, transcript, deadline).await? {
                    Ok(next) => next,
                    Err(_) => return fail(writer, transcript).await,
                }
            }
            None => ctx.next(frames).await,
        };
        let output = match next {
            Next::Frame(Frame::Continue) => {
                send(writer, transcript, session::CONTINUE_LINE).await?;
                continue;
            }
            Next::Frame(Frame::Command(bytes)) => {
                frames.decoder_mut().expect_raw_line(false);
                session.run(move |s| s.handle_frame(&bytes)).await
            }
            Next::Frame(Frame::Rejected { tag, reason }) => {
                frames.decoder_mut().expect_raw_line(false);
                session
                    .run(move |s| s.handle_rejected(tag.as_deref(), &reason))
                    .await
            }
            Next::Error(FrameError::CommandTooLong { .. }) => {
                send(writer, transcript, session::UNFRAMEABLE_LINE).await?;
                return writer.shutdown().await.map(|()| Ended::Closed);
            }
            Next::Error(FrameError::Io(e)) => return Err(e),
            Next::Closed => return Ok(Ended::Closed),
            Next::IdleTimeout => {
                send(writer, transcript, session::IDLE_LINE).await?;
                return writer.shutdown().await.map(|()| Ended::Closed);
            }
            Next::Shutdown => {
                send(writer, transcript, session::SHUTDOWN_LINE).await?;
                return writer.shutdown().await.map(|()| Ended::Closed);
            }
        };
        let Ok(mut output) = output else {
            return fail(writer, transcript).await;
        };
        // A large FETCH comes in pieces: send each before the next is built.
        while output.after == After::More {
            send(writer, transcript, &output.bytes).await?;
            output = match session.run(Session::resume).await {
                Ok(output) => output,
                Err(_) => return fail(writer, transcript).await,
            };
        }
        send(writer, transcript, &output.bytes).await?;
        match output.after {
            After::Continue => {}
            After::ExpectSaslResponse => frames.decoder_mut().expect_raw_line(true),
            After::StartTls => return Ok(Ended::StartTls),
            After::More => {}
            After::Idle => {
                // The client's next line is DONE, not a command.
                frames.decoder_mut().expect_raw_line(true);
                idle_until = Some(Instant::now() + idle_timeout);
            }
            After::Close => return writer.shutdown().await.map(|()| Ended::Closed),
            After::CloseAfter(delay) => {
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = ctx.shutdown.cancelled() => {}
                }
                return writer.shutdown().await.map(|()| Ended::Closed);
            }
        }
    }
}

/// Ends the connection after the session failed (it panicked; see [`Offloaded`]).
async fn fail<W: AsyncWrite + Unpin>(
    writer: &mut W,
    transcript: &Transcript,
) -> std::io::Result<Ended> {
    send(writer, transcript, FAILURE_LINE).await?;
    writer.shutdown().await.map(|()| Ended::Closed)
}

/// IDLE (RFC 2177): waits for the client's next line (DONE) and, meanwhile, for the
/// selected mailbox to change, pushing each change at once; returns what ended the wait,
/// or that the session failed.
async fn idle<R, W>(
    ctx: &SessionContext,
    frames: &mut FramedRead<R, ImapCodec>,
    writer: &mut W,
    session: &mut Offloaded<Session>,
    transcript: &Transcript,
    deadline: Instant,
) -> std::io::Result<Result<Next<Frame, FrameError>, SessionLost>>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    // The watch is made before the first poll, in the same call: a change between the
    // IDLE response and the watch's creation is reported now rather than at the next one.
    let (mut watch, pending) = match session.run(|s| (s.watch(), s.idle_poll())).await {
        Ok(started) => started,
        Err(lost) => return Ok(Err(lost)),
    };
    if !pending.is_empty() {
        send(writer, transcript, &pending).await?;
    }
    loop {
        let changed = async {
            match watch.as_mut() {
                Some(w) => w.changed().await,
                // IDLE in the authenticated state: nothing to watch, only DONE to wait for.
                None => std::future::pending().await,
            }
        };
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::select! {
            // The client's line, end of input, the IDLE timeout or shutdown.
            next = ctx.next_within(frames, left) => return Ok(Ok(next)),
            // Another session, a delivery or a POP3 commit changed the mailbox. The
            // sync reads the store, so it runs on the blocking pool; `select!` is not
            // racing it, so the session always comes back.
            () = changed => {
                let update = match session.run(Session::idle_poll).await {
                    Ok(update) => update,
                    Err(lost) => return Ok(Err(lost)),
                };
                if !update.is_empty() {
                    send(writer, transcript, &update).await?;
                }
            }
        }
    }
}
