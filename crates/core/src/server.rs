//! The server runtime every protocol shares: bind, accept, limit, time out, shut down.
//!
//! A protocol supplies a handler `async fn(Stream, SessionContext)` and a
//! [`ServerConfig`] with its refusal line. The runtime:
//! - accepts connections until shutdown, backing off on accept errors instead of spinning;
//! - enforces a connection limit and a per-address share of it ([`crate::slots`]): when
//!   full, the oldest connection that has not logged in gives way; a connection that
//!   cannot be served is sent the protocol's refusal line and closed at once, so a client
//!   learns why instead of hanging in the backlog;
//! - wraps each connection in a `tracing` span carrying the peer address;
//! - on an implicit-TLS listener, performs the handshake in the connection's own task,
//!   bounded in time, so a slow or broken handshake never delays anyone else;
//! - on shutdown stops accepting, lets every session say its goodbye (sessions watch
//!   [`SessionContext::shutdown`] between commands, so a command in progress finishes),
//!   and waits for them all.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream as FrameStream, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::session_log::SessionLog;
use crate::slots::{Refused, SlotHandle, Slots};
use crate::stream::Stream;
use crate::tls::TlsServer;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// How a protocol's listener behaves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Protocol name for logs, e.g. `"pop3"`.
    pub name: &'static str,
    /// Connections served at once; when all are taken by logged-in sessions, one more
    /// gets [`ServerConfig::refusal`] and is closed.
    pub max_connections: usize,
    /// Connections served at once from one peer address, so that one peer cannot take
    /// every slot.
    pub max_per_peer: usize,
    /// A logged-in session that sends nothing for this long is told goodbye and closed.
    pub idle_timeout: Duration,
    /// The same before the session has logged in: shorter, so connections that never log
    /// in do not keep their slots (RFC 9051 §5.4 allows a shorter timer before
    /// authentication; Dovecot closes such connections after 3 minutes).
    pub login_timeout: Duration,
    /// The complete line (with CRLF) sent to a connection over the limit,
    /// e.g. `-ERR [SYS/TEMP] too many connections\r\n`.
    pub refusal: Bytes,
    /// Implicit TLS (IMAPS, POP3S, SMTPS): every connection starts with a handshake.
    pub tls: Option<TlsServer>,
    /// Told when each connection opens (with the client's address) and closes, for a
    /// live view of sessions; its lines come through the listener's transcript.
    pub sessions: Option<SessionLog>,
}

/// Refusals in progress at most (each waits for the peer at most a few seconds).
const MAX_REFUSING: usize = 64;

/// How long a client may take to complete a TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl ServerConfig {
    /// A config with the given name and refusal line, 512 connections (128 per peer
    /// address) and a 10 minute
    /// idle timeout (the shortest RFC 1939 §3 allows; IMAP raises it to 30).
    pub fn new(name: &'static str, refusal: &'static [u8]) -> Self {
        ServerConfig {
            name,
            max_connections: 512,
            max_per_peer: 128,
            idle_timeout: Duration::from_secs(600),
            login_timeout: Duration::from_secs(60),
            refusal: Bytes::from_static(refusal),
            tls: None,
            sessions: None,
        }
    }
}

/// What a session handler knows about its connection besides the stream itself.
#[derive(Debug, Clone)]
pub struct SessionContext {
    /// The client's address.
    pub peer: SocketAddr,
    /// The address the client connected to.
    pub local: SocketAddr,
    /// Cancelled when the server shuts down; the session then says goodbye and returns.
    pub shutdown: CancellationToken,
    /// How long [`SessionContext::next`] waits for input.
    pub idle_timeout: Duration,
    /// The connection's slot: mark it authenticated, hear of eviction.
    pub slot: SlotHandle,
    /// The connection's number on its listener, from 1: it labels the session in a shared
    /// transcript (`imap#3`).
    pub id: u64,
}

/// What happened while a session waited for its next frame.
#[derive(Debug)]
pub enum Next<T, E> {
    /// A frame arrived.
    Frame(T),
    /// The decoder could not frame the input (e.g. a line over the limit).
    Error(E),
    /// The client closed the connection.
    Closed,
    /// Nothing arrived within the idle timeout.
    IdleTimeout,
    /// The server is shutting down.
    Shutdown,
    /// The listener is full and this connection, not yet logged in, gave way.
    Evicted,
}

impl SessionContext {
    /// Waits for the next frame, bounded by the idle timeout and raced against shutdown.
    pub async fn next<S, T, E>(&self, frames: &mut S) -> Next<T, E>
    where
        S: FrameStream<Item = Result<T, E>> + Unpin,
    {
        self.next_within(frames, self.idle_timeout).await
    }

    /// Like [`SessionContext::next`] with a different timeout (IMAP IDLE waits longer).
    pub async fn next_within<S, T, E>(&self, frames: &mut S, timeout: Duration) -> Next<T, E>
    where
        S: FrameStream<Item = Result<T, E>> + Unpin,
    {
        tokio::select! {
            // Shutdown wins over buffered input: a closing server starts no new command.
            biased;
            _ = self.shutdown.cancelled() => Next::Shutdown,
            _ = self.slot.evicted().cancelled() => Next::Evicted,
            item = tokio::time::timeout(timeout, frames.next()) => match item {
                Err(_) => Next::IdleTimeout,
                Ok(None) => Next::Closed,
                Ok(Some(Ok(frame))) => Next::Frame(frame),
                Ok(Some(Err(e))) => Next::Error(e),
            },
        }
    }
}

/// A running listener: its address, and the means to stop it and wait for it.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    accept: JoinHandle<()>,
}

impl ServerHandle {
    /// The address actually bound (the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The token whose cancellation stops this server.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Asks the server to stop: no new connections, sessions say goodbye.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Waits until the listener is closed and every session has ended.
    pub async fn wait(self) {
        let _ = self.accept.await;
        self.tracker.wait().await;
    }

    /// [`ServerHandle::shutdown`] then [`ServerHandle::wait`].
    pub async fn stop(self) {
        self.shutdown();
        self.wait().await;
    }
}

/// Binds a TCP listener; port 0 picks a free port (see [`ServerHandle::local_addr`]).
pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Starts accepting on `listener`, running `handler` for each connection, until
/// `shutdown` is cancelled.
pub fn spawn<F, Fut>(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: CancellationToken,
    handler: F,
) -> io::Result<ServerHandle>
where
    F: Fn(Stream, SessionContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let local_addr = listener.local_addr()?;
    let tracker = TaskTracker::new();
    let accept = tokio::spawn(accept_loop(
        listener,
        config,
        shutdown.clone(),
        tracker.clone(),
        Arc::new(handler),
    ));
    tracing::info!(%local_addr, "listening");
    Ok(ServerHandle {
        local_addr,
        shutdown,
        tracker,
        accept,
    })
}

async fn accept_loop<F, Fut>(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    handler: Arc<F>,
) where
    F: Fn(Stream, SessionContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Slots::new(config.max_connections, config.max_per_peer);
    // Refusals are told why, but only so many at once: under a flood the rest are simply
    // closed, so refusing costs no unbounded number of tasks (or TLS handshakes).
    let refusing = Arc::new(tokio::sync::Semaphore::new(MAX_REFUSING));
    let local = listener.local_addr().ok();
    let mut backoff = Duration::from_millis(5);
    let mut accepted_so_far = 0u64;
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => {
                backoff = Duration::from_millis(5);
                pair
            }
            Err(e) => {
                // EMFILE and friends: wait for connections to finish instead of spinning.
                tracing::warn!(error = %e, "accept failed; backing off");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let span = tracing::info_span!("conn", proto = config.name, %peer);
        let tls = config.tls.clone();
        match slots.admit(peer.ip()) {
            Ok(slot) => {
                accepted_so_far += 1;
                let ctx = SessionContext {
                    id: accepted_so_far,
                    peer,
                    local: local.unwrap_or(peer),
                    shutdown: shutdown.clone(),
                    idle_timeout: config.idle_timeout,
                    slot: slot.handle(),
                };
                let handler = handler.clone();
                // Opened here, before the session's first line can be logged.
                let session = config.sessions.clone().map(|log| {
                    let label = crate::transcript::session_label(config.name, ctx.id);
                    log.opened(&label, peer);
                    (log, label)
                });
                tracker.spawn(
                    async move {
                        if let Some(stream) = open(stream, tls.as_ref()).await {
                            tracing::debug!("connected");
                            handler(stream, ctx).await;
                            tracing::debug!("closed");
                        }
                        if let Some((log, label)) = session {
                            log.closed(&label);
                        }
                        drop(slot);
                    }
                    .instrument(span),
                );
            }
            Err(why) => {
                let Ok(refusing) = refusing.clone().try_acquire_owned() else {
                    drop(stream);
                    continue;
                };
                let refusal = config.refusal.clone();
                tracker.spawn(
                    async move {
                        match why {
                            Refused::Full => tracing::info!("refused: connection limit reached"),
                            Refused::PeerLimit => {
                                tracing::info!("refused: this address's connection limit reached")
                            }
                        }
                        if let Some(stream) = open(stream, tls.as_ref()).await {
                            refuse(stream, &refusal).await;
                        }
                        drop(refusing);
                    }
                    .instrument(span),
                );
            }
        }
    }
    tracker.close();
}

/// The connection as the session sees it: on a TLS listener, after the handshake.
/// A failed handshake (plaintext on a TLS port, an unknown CA on the client side) is one
/// log line and a closed connection.
async fn open(tcp: TcpStream, tls: Option<&TlsServer>) -> Option<Stream> {
    let Some(tls) = tls else {
        return Some(Stream::Plain(tcp));
    };
    match crate::tls::accept(tcp, tls).await {
        Ok(stream) => Some(stream),
        Err(e) => {
            tracing::warn!("{e}");
            None
        }
    }
}

/// Tells an over-limit client why, then closes; bounded so a client that never reads
/// cannot hold the task.
async fn refuse(mut stream: Stream, line: &[u8]) {
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        stream.write_all(line).await?;
        stream.shutdown().await
    })
    .await;
}

/// Completes on Ctrl-C or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
