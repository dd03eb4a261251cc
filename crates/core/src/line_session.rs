//! Driving a line-based protocol session (POP3, SMTP) over a connection.
//!
//! A protocol implements [`LineSession`]: a state machine that takes one framed line and
//! returns a [`Reply`]. [`drive`] does the rest: framing, the idle timeout, shutdown,
//! the transcript, the STARTTLS/STLS upgrade, and batching replies to pipelined
//! commands (RFC 2449 §6.6, RFC 2920) so a client that pipelines gets one write per
//! batch, not one per command.
//!
//! Sessions call the synchronous store, so [`drive`] never calls one on the async worker:
//! the lines that have arrived are handed to the session on tokio's blocking pool in one
//! batch (see [`crate::offload`]), which keeps the cost of the trip to one per batch of
//! pipelined lines rather than one per line.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncWrite, AsyncWriteExt, ReadHalf};
use tokio_util::codec::{Decoder, FramedRead};
use tokio_util::sync::CancellationToken;

use crate::codec::{LineCodec, LineError};
use crate::offload::Offloaded;
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
///
/// [`drive`] calls [`LineSession::handle_line`] on tokio's blocking pool, so it may call
/// the store (and block on the disk: SMTP's end of DATA fsyncs the message) while the
/// runtime's other sessions go on.
pub trait LineSession {
    /// Handles one line (without its terminator).
    fn handle_line(&mut self, line: &[u8]) -> Reply;
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
    /// The complete line sent before closing when the session failed (it panicked while
    /// handling a line): the protocol's generic server error, e.g.
    /// `421 4.3.0 internal server error; closing\r\n`.
    pub failure_line: &'static [u8],
}

/// Flush pipelined replies once this much is waiting, even if more input is buffered.
const FLUSH_AT: usize = 64 * 1024;

/// Runs `session` on `stream` until it closes: sends `greeting`, then one reply per line.
///
/// A session that ends any way other than its own `After::Close` (client gone, idle
/// timeout, shutdown) is simply dropped: protocols commit nothing on drop. The drop, too,
/// happens on the blocking pool, before this returns.
pub async fn drive<S: LineSession + Send + 'static>(
    stream: Stream,
    ctx: &SessionContext,
    session: S,
    greeting: &[u8],
    options: &DriveOptions,
) -> std::io::Result<()> {
    // Taken now: the driver sends these itself, also once the session is lost to a panic.
    let fixed = FixedLines {
        too_long: session.too_long_line(),
        idle: session.idle_line(),
        shutdown: session.shutdown_line(),
        failure: options.failure_line,
    };
    let mut session = Offloaded::new(session);
    let result = converse(stream, ctx, &mut session, &fixed, greeting, options).await;
    session.close().await;
    result
}

/// The lines [`drive`] sends on its own.
struct FixedLines {
    too_long: &'static [u8],
    idle: &'static [u8],
    shutdown: &'static [u8],
    failure: &'static [u8],
}

async fn converse<S: LineSession + Send + 'static>(
    mut stream: Stream,
    ctx: &SessionContext,
    session: &mut Offloaded<S>,
    fixed: &FixedLines,
    greeting: &[u8],
    options: &DriveOptions,
) -> std::io::Result<()> {
    let transcript = &options.transcript;
    let mut pending = BytesMut::from(greeting);
    // Lines received and not yet answered, oldest first.
    let mut queue: VecDeque<BytesMut> = VecDeque::new();
    // A framing error met while collecting pipelined lines: it is acted on once the lines
    // before it are answered, as if it had been read after them.
    let mut deferred: Option<LineError> = None;
    // One pass per transport: plaintext, then (after STARTTLS) TLS.
    loop {
        let (reader, mut writer) = tokio::io::split(stream);
        let mut lines = FramedRead::new(reader, LineCodec::new(options.max_line));
        send(&mut writer, transcript, &mut pending).await?;
        loop {
            if queue.is_empty() {
                let next = match deferred.take() {
                    Some(e) => Next::Error(e),
                    None => ctx.next(&mut lines).await,
                };
                let last = match next {
                    Next::Frame(line) => {
                        queue.push_back(line);
                        None
                    }
                    Next::Error(LineError::TooLong { .. }) => Some(fixed.too_long),
                    Next::Error(LineError::Io(e)) => return Err(e),
                    Next::Closed => return Ok(()),
                    Next::IdleTimeout => Some(fixed.idle),
                    Next::Shutdown => Some(fixed.shutdown),
                };
                if let Some(line) = last {
                    return close_with(&mut writer, transcript, &mut pending, line).await;
                }
            } else if ctx.shutdown.is_cancelled() {
                // Left over from a batch that stopped for the shutdown: no new command.
                return close_with(&mut writer, transcript, &mut pending, fixed.shutdown).await;
            }
            if deferred.is_none() {
                deferred = take_buffered(&mut lines, &mut queue);
            }
            let batch = std::mem::take(&mut queue);
            let budget = FLUSH_AT.saturating_sub(pending.len());
            let shutdown = ctx.shutdown.clone();
            let answered = session
                .run(move |s| answer(s, batch, budget, &shutdown))
                .await;
            let Ok(Answered { rest, bytes, after }) = answered else {
                return close_with(&mut writer, transcript, &mut pending, fixed.failure).await;
            };
            queue = rest;
            if pending.is_empty() {
                pending = bytes;
            } else {
                pending.extend_from_slice(&bytes);
            }
            let Some(after) = after else {
                // The session panicked after answering the lines before: those commands
                // took effect, so their replies go out ahead of the failure line.
                return close_with(&mut writer, transcript, &mut pending, fixed.failure).await;
            };
            match after {
                After::Continue => {
                    let caught_up = queue.is_empty() && lines.read_buffer().is_empty();
                    if caught_up || pending.len() >= FLUSH_AT {
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
                    // Lines pipelined behind STARTTLS came in plaintext: a man in the middle
                    // may have put them there (CVE-2011-0411), so they are never answered.
                    // `upgrade` drops what is still undecoded in the buffer the same way.
                    if !queue.is_empty() || deferred.is_some() {
                        tracing::info!(
                            lines = queue.len(),
                            "discarded plaintext pipelined after STARTTLS"
                        );
                        queue.clear();
                        deferred = None;
                    }
                    stream = crate::tls::upgrade(lines, writer, tls).await?;
                    if let Some(s) = session.get_mut() {
                        s.tls_started();
                    }
                    transcript.server(b"[TLS handshake done]");
                    break;
                }
            }
        }
    }
}

/// Moves the complete lines already in the read buffer (pipelined by the client) to
/// `queue` without reading from the socket; returns the framing error that stopped it,
/// if one did.
fn take_buffered(
    lines: &mut FramedRead<ReadHalf<Stream>, LineCodec>,
    queue: &mut VecDeque<BytesMut>,
) -> Option<LineError> {
    if lines.read_buffer().is_empty() {
        return None;
    }
    // The codec and the buffer are both inside `lines`; borrow them one at a time. Moving
    // a `BytesMut` out and back copies no data.
    let mut buffer = std::mem::take(lines.read_buffer_mut());
    let mut error = None;
    while !buffer.is_empty() {
        match lines.decoder_mut().decode(&mut buffer) {
            Ok(Some(line)) => queue.push_back(line),
            Ok(None) => break,
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    *lines.read_buffer_mut() = buffer;
    error
}

/// What one trip to the blocking pool produced.
struct Answered {
    /// Lines left unanswered: the batch stopped early.
    rest: VecDeque<BytesMut>,
    /// The replies, in order.
    bytes: BytesMut,
    /// What the connection does after the last reply; `None`: the session panicked on
    /// the line after it and must not be used again.
    after: Option<After>,
}

/// Runs on the blocking pool: answers `batch` in order until a reply does something other
/// than continue, `budget` bytes of replies are waiting to be sent, or the server shuts
/// down (a closing server starts no new command; the first line was admitted already).
///
/// A panic is caught here rather than left to lose the whole batch with the session: the
/// replies to the lines before it belong to commands that took effect (a message accepted
/// with 250 must not be delivered twice because the client never saw the 250).
fn answer<S: LineSession>(
    session: &mut S,
    mut batch: VecDeque<BytesMut>,
    budget: usize,
    shutdown: &CancellationToken,
) -> Answered {
    let mut bytes = BytesMut::new();
    while let Some(line) = batch.pop_front() {
        // The session is never used again after a panic, so a broken invariant in it
        // cannot be observed: asserting unwind safety is sound.
        let handled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| session.handle_line(&line)));
        let Ok(reply) = handled else {
            // The message went to the panic hook (stderr) already.
            tracing::error!("session panicked; closing the connection");
            return Answered {
                rest: batch,
                bytes,
                after: None,
            };
        };
        if bytes.is_empty() {
            bytes = reply.bytes;
        } else {
            bytes.extend_from_slice(&reply.bytes);
        }
        if reply.after != After::Continue {
            return Answered {
                rest: batch,
                bytes,
                after: Some(reply.after),
            };
        }
        if bytes.len() >= budget || shutdown.is_cancelled() {
            break;
        }
    }
    Answered {
        rest: batch,
        bytes,
        after: Some(After::Continue),
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
