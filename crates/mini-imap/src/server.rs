//! IMAP over TCP: the I/O glue between `yubin-core`'s runtime and the [`Session`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
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
    let (mut session, greeting) = Session::new(store, imap, tls, transcript.clone());
    let mut stream = stream;
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
            &ctx,
            &mut frames,
            &mut writer,
            &mut session,
            transcript,
            idle_timeout,
        )
        .await?;
        match (ended, &config.starttls) {
            (Ended::StartTls, Some(tls)) => {
                stream = yubin_core::tls::upgrade(frames, writer, tls).await?;
                session.tls_started();
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
    session: &mut Session,
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
            Some(deadline) => idle(ctx, frames, writer, session, transcript, deadline).await?,
            None => ctx.next(frames).await,
        };
        let output = match next {
            Next::Frame(Frame::Continue) => {
                send(writer, transcript, session::CONTINUE_LINE).await?;
                continue;
            }
            Next::Frame(Frame::Command(bytes)) => {
                frames.decoder_mut().expect_raw_line(false);
                session.handle_frame(&bytes)
            }
            Next::Frame(Frame::Rejected { tag, reason }) => {
                frames.decoder_mut().expect_raw_line(false);
                session.handle_rejected(tag.as_deref(), &reason)
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
        let mut output = output;
        // A large FETCH comes in pieces: send each before the next is built.
        while output.after == After::More {
            send(writer, transcript, &output.bytes).await?;
            output = session.resume();
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

/// IDLE (RFC 2177): waits for the client's next line (DONE) and, meanwhile, for the
/// selected mailbox to change, pushing each change at once; returns what ended the wait.
async fn idle<R, W>(
    ctx: &SessionContext,
    frames: &mut FramedRead<R, ImapCodec>,
    writer: &mut W,
    session: &mut Session,
    transcript: &Transcript,
    deadline: Instant,
) -> std::io::Result<Next<Frame, FrameError>>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut watch = session.watch();
    // A change between the IDLE response and the watch's creation: report it now rather
    // than at the next change.
    let pending = session.idle_poll();
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
            next = ctx.next_within(frames, left) => return Ok(next),
            // Another session, a delivery or a POP3 commit changed the mailbox.
            () = changed => {
                let update = session.idle_poll();
                if !update.is_empty() {
                    send(writer, transcript, &update).await?;
                }
            }
        }
    }
}
