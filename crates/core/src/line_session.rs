//! Driving a line-based protocol session (POP3, SMTP) over a connection.
//!
//! A protocol implements [`LineSession`]: a state machine that takes one framed line and
//! returns a [`Reply`]. [`drive`] does the rest: framing, the idle timeout, shutdown,
//! the transcript, the STARTTLS/STLS upgrade, and batching replies to pipelined
//! commands (RFC 2449 §6.6, RFC 2920) so a client that pipelines gets one write per
//! batch, not one per command.

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_util::codec::FramedRead;

use crate::codec::{LineCodec, LineError};
use crate::server::{Next, SessionContext};
use crate::stream::Stream;
use crate::tls::TlsServer;
use crate::transcript::Transcript;

/// What the connection does after sending a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Read the next line.
    Continue,
    /// Close the connection.
    Close,
    /// Wait, then close (e.g. after too many failed logins, to slow down guessing).
    CloseAfter(Duration),
    /// Start a TLS handshake on this connection (STARTTLS, STLS), then go on.
    StartTls,
}

/// The bytes to send for one input line, and what happens next.
#[derive(Debug)]
pub struct Reply {
    /// Complete response lines, CRLF included.
    pub bytes: BytesMut,
    /// What the connection does once they are sent.
    pub after: After,
}

/// A line protocol's session state machine, free of I/O.
pub trait LineSession {
    /// Handles one line (without its terminator).
    fn handle_line(&mut self, line: &[u8]) -> Reply;
    /// True when handling `line` blocks on the disk for a while (SMTP's end of DATA
    /// fsyncs the message): [`drive`] then runs it with `block_in_place`, so the runtime's
    /// other sessions go on and concurrent deliveries can share one group commit.
    fn blocks_on(&self, _line: &[u8]) -> bool {
        false
    }
    /// Told once the STARTTLS/STLS handshake has completed: the session forgets what
    /// it learnt before (RFC 3207 §4.2, RFC 2595 §3.1) and stops offering the upgrade.
    fn tls_started(&mut self);
    /// The complete line sent before closing on an unframeable (overlong) line.
    fn too_long_line(&self) -> &'static [u8];
    /// The complete line sent to a session that stayed silent past the idle timeout.
    fn idle_line(&self) -> &'static [u8];
    /// The complete line sent when the server shuts down under the session.
    fn shutdown_line(&self) -> &'static [u8];
}

/// How [`drive`] frames and upgrades a connection.
#[derive(Debug, Clone)]
pub struct DriveOptions {
    /// Longest line framed; longer input is unframeable and closes the session.
    pub max_line: usize,
    /// The `--trace` transcript.
    pub transcript: Transcript,
    /// The certificate for STARTTLS/STLS upgrades, if this listener offers them.
    pub starttls: Option<TlsServer>,
}

/// Flush pipelined replies once this much is waiting, even if more input is buffered.
const FLUSH_AT: usize = 64 * 1024;

/// Runs `session` on `stream` until it closes: sends `greeting`, then one reply per line.
///
/// A session that ends any way other than its own `After::Close` (client gone, idle
/// timeout, shutdown) is simply dropped: protocols commit nothing on drop.
pub async fn drive<S: LineSession>(
    mut stream: Stream,
    ctx: &SessionContext,
    mut session: S,
    greeting: &[u8],
    options: &DriveOptions,
) -> std::io::Result<()> {
    let transcript = &options.transcript;
    let mut pending = BytesMut::from(greeting);
    // One pass per transport: plaintext, then (after STARTTLS) TLS.
    loop {
        let (reader, mut writer) = tokio::io::split(stream);
        let mut lines = FramedRead::new(reader, LineCodec::new(options.max_line));
        send(&mut writer, transcript, &mut pending).await?;
        loop {
            let reply = match ctx.next(&mut lines).await {
                Next::Frame(line) if session.blocks_on(&line) && multi_thread() => {
                    tokio::task::block_in_place(|| session.handle_line(&line))
                }
                Next::Frame(line) => session.handle_line(&line),
                Next::Error(LineError::TooLong { .. }) => {
                    return close_with(
                        &mut writer,
                        transcript,
                        &mut pending,
                        session.too_long_line(),
                    )
                    .await;
                }
                Next::Error(LineError::Io(e)) => return Err(e),
                Next::Closed => return Ok(()),
                Next::IdleTimeout => {
                    return close_with(&mut writer, transcript, &mut pending, session.idle_line())
                        .await;
                }
                Next::Shutdown => {
                    return close_with(
                        &mut writer,
                        transcript,
                        &mut pending,
                        session.shutdown_line(),
                    )
                    .await;
                }
            };
            pending.extend_from_slice(&reply.bytes);
            match reply.after {
                After::Continue => {
                    if lines.read_buffer().is_empty() || pending.len() >= FLUSH_AT {
                        send(&mut writer, transcript, &mut pending).await?;
                    }
                }
                After::Close => {
                    send(&mut writer, transcript, &mut pending).await?;
                    return writer.shutdown().await;
                }
                After::CloseAfter(delay) => {
                    send(&mut writer, transcript, &mut pending).await?;
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = ctx.shutdown.cancelled() => {}
                    }
                    return writer.shutdown().await;
                }
                After::StartTls => {
                    send(&mut writer, transcript, &mut pending).await?;
                    let Some(tls) = &options.starttls else {
                        // A session only asks for what the options offered; never upgrade blind.
                        return writer.shutdown().await;
                    };
                    stream = crate::tls::upgrade(lines, writer, tls).await?;
                    session.tls_started();
                    transcript.server(b"[TLS handshake done]");
                    break;
                }
            }
        }
    }
}

/// Sends what is still pending (replies to pipelined commands), then `line`, then closes.
async fn close_with<W: AsyncWrite + Unpin>(
    writer: &mut W,
    transcript: &Transcript,
    pending: &mut BytesMut,
    line: &[u8],
) -> std::io::Result<()> {
    pending.extend_from_slice(line);
    send(writer, transcript, pending).await?;
    writer.shutdown().await
}

async fn send<W: AsyncWrite + Unpin>(
    writer: &mut W,
    transcript: &Transcript,
    pending: &mut BytesMut,
) -> std::io::Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    transcript.server(pending);
    writer.write_all(pending).await?;
    pending.clear();
    Ok(())
}

/// `block_in_place` is only allowed on the multi-threaded runtime (tests often run on the
/// current-thread one, where a blocking call simply blocks).
fn multi_thread() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}
