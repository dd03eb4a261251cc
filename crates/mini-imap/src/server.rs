//! IMAP over TCP: the I/O glue between `yubin-core`'s runtime and the [`Session`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use yubin_core::server::{self, Next, ServerConfig, SessionContext};
use yubin_core::{ServerHandle, Transcript};
use yubin_store::Store;

use crate::codec::{CodecLimits, Frame, FrameError, ImapCodec};
use crate::session::{self, After, ImapConfig, Session};

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
        }
    }
}

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
    let (reader, mut writer) = tokio::io::split(stream);
    let mut frames = FramedRead::new(reader, ImapCodec::new(config.limits));
    let (mut session, greeting) = Session::new(store, imap, transcript.clone());
    send(&mut writer, transcript, &greeting).await?;
    loop {
        let output = match ctx.next(&mut frames).await {
            Next::Frame(Frame::Continue) => {
                send(&mut writer, transcript, session::CONTINUE_LINE).await?;
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
                send(&mut writer, transcript, session::UNFRAMEABLE_LINE).await?;
                return writer.shutdown().await;
            }
            Next::Error(FrameError::Io(e)) => return Err(e),
            Next::Closed => return Ok(()),
            Next::IdleTimeout => {
                send(&mut writer, transcript, session::IDLE_LINE).await?;
                return writer.shutdown().await;
            }
            Next::Shutdown => {
                send(&mut writer, transcript, session::SHUTDOWN_LINE).await?;
                return writer.shutdown().await;
            }
        };
        send(&mut writer, transcript, &output.bytes).await?;
        match output.after {
            After::Continue => {}
            After::ExpectSaslResponse => frames.decoder_mut().expect_raw_line(true),
            After::Close => return writer.shutdown().await,
            After::CloseAfter(delay) => {
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = ctx.shutdown.cancelled() => {}
                }
                return writer.shutdown().await;
            }
        }
    }
}
