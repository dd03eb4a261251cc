//! The lesson over TCP: a server that is bound, listens, accepts a client, receives its
//! greeting and answers with an acknowledgement; and the client that greets it.
//!
//! The exchange on the wire is two lines (CRLF-terminated, framed by
//! [`yubin_core::LineCodec`]):
//!
//! ```text
//! C: Hello server. I am the client
//! S: This is the server. I received your data safely
//! ```
//!
//! [`serve_once`] is the lesson's server: one client, then it closes. [`serve`] is the
//! homework: every client gets its own task, so many are served at once. Its lines about a
//! client carry the client's number (`[client 3] Connection closed`), since the lines of
//! clients served at once interleave.
//!
//! A client over the concurrent server's limit is answered with the busy line instead:
//!
//! ```text
//! C: Hello server. I am the client
//! S: The server is busy. Please try again later
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;
use yubin_core::server::{self, Next, ServerConfig, SessionContext};
use yubin_core::{LineCodec, LineError, Transcript};

use crate::{ClientOptions, Doing, Error, Line, Narrator, host_port, lines};

/// Longest line either side accepts, in bytes (CRLF not counted).
///
/// A greeting is a sentence; 4 KiB is generous for one and still bounds what a client can
/// make the server buffer. Anything longer is unframeable and the connection is closed.
pub const MAX_LINE: usize = 4096;

/// Clients over the limit that the server tells "busy" itself at once, on top of
/// [`ServerOptions::max_connections`].
///
/// Telling a client takes a moment (the busy line, then waiting for the client to close),
/// so under a flood only this many are told by the lesson's own code, and each is one
/// narrated line. Past that, yubin-core's runtime turns the rest away with the same busy
/// line, without narrating: a flood must not become a flood of output.
pub const TURNING_AWAY: usize = 64;

/// How long the server spends on a client it turns away: the busy line, and the client's
/// own close. A client that never reads must not keep the connection.
const TURN_AWAY_GRACE: Duration = Duration::from_secs(2);

/// How the concurrent server treats its clients.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// A client that sends nothing for this long is dropped, so a silent client cannot
    /// hold its connection (and its slot under [`ServerOptions::max_connections`]) forever.
    pub idle_timeout: Duration,
    /// Clients served at once; one more is told the server is busy and closed.
    pub max_connections: usize,
}

impl Default for ServerOptions {
    /// 30 seconds of silence (a greeting takes a person a few seconds to type into
    /// `nc`; a program, milliseconds), 512 clients at once.
    fn default() -> Self {
        ServerOptions {
            idle_timeout: Duration::from_secs(30),
            max_connections: 512,
        }
    }
}

/// Binds the server socket and starts listening, then says so.
///
/// `bind` in yubin-core does what the lesson's Python did in three calls: create the
/// socket (`socket()`), claim the address (`bind()`), and ask the kernel to queue
/// incoming connections (`listen()`). From here on a client that connects is queued by the
/// kernel even before we call `accept`.
pub async fn bind(addr: SocketAddr, narrator: &Narrator) -> Result<TcpListener, Error> {
    let listener = server::bind(addr)
        .await
        .map_err(|error| Error::Bind { addr, error })?;
    let port = listener
        .local_addr()
        .map_err(|error| Error::Bind { addr, error })?
        .port();
    narrator.say(Line::Bound { port });
    narrator.say(Line::Listening);
    Ok(listener)
}

/// The lesson's server: accepts one client, talks with it, then closes the server socket.
///
/// Returns early (still closing the server socket) when `shutdown` completes; a
/// conversation in progress is cut short.
pub async fn serve_once(
    listener: TcpListener,
    options: &ServerOptions,
    narrator: &Narrator,
    transcript: &Transcript,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let mut shutdown = pin!(shutdown);
    // accept() waits until a client has connected, then hands us a new socket for that
    // client alone, and the client's address.
    let accepted = tokio::select! {
        () = &mut shutdown => None,
        accepted = listener.accept() => Some(accepted.map_err(|error| Error::Io {
            doing: Doing::Accept,
            error,
        })?),
    };
    if let Some((stream, peer)) = accepted {
        let stop = CancellationToken::new();
        let ctx = SessionContext {
            peer,
            local: listener.local_addr().unwrap_or(peer),
            shutdown: stop.clone(),
            idle_timeout: options.idle_timeout,
            slot: yubin_core::slots::SlotHandle::detached(),
            id: 1,
        };
        let mut conversation = pin!(session(stream, ctx, narrator.clone(), transcript.clone()));
        tokio::select! {
            // The conversation ends by itself: the usual case.
            () = &mut conversation => {}
            // Asked to stop: tell the session, and let it close its connection.
            () = &mut shutdown => {
                stop.cancel();
                conversation.await;
            }
        }
    }
    // Closing the listening socket: from now on a client that connects is refused.
    drop(listener);
    narrator.say(Line::ServerClosed);
    Ok(())
}

/// The homework: serves every client concurrently until `shutdown` completes, then lets
/// the open conversations end and closes the server socket.
///
/// Each accepted connection runs in its own task (yubin-core's runtime spawns it), so
/// while one client is slow to send its line, the others are accepted and answered. The
/// lesson's server could not do that: it sat in `recv` for one client while the next ones
/// waited in the kernel's backlog.
///
/// Clients are numbered as they connect, and every line about one is labelled with its
/// number ([`Narrator::for_client`]). A client over [`ServerOptions::max_connections`] is
/// told the server is busy and closed, and the server says so.
pub async fn serve(
    listener: TcpListener,
    options: &ServerOptions,
    narrator: &Narrator,
    transcript: &Transcript,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let local = listener.local_addr().map_err(|error| Error::Io {
        doing: Doing::LocalAddr,
        error,
    })?;
    // The limit is counted here rather than left to yubin-core's runtime, because the
    // runtime turns a client away without a word to us, and the lesson narrates it. The
    // runtime's own limit stays above ours as the backstop (see TURNING_AWAY).
    let limit = options.max_connections;
    let serving = Arc::new(Semaphore::new(limit));
    let mut config = ServerConfig::new("socket-demo", b"");
    config.idle_timeout = options.idle_timeout;
    config.max_connections = limit + TURNING_AWAY;
    // The lesson runs on one machine: every client is 127.0.0.1, so no per-address share.
    config.max_per_peer = config.max_connections;
    config.refusal = Bytes::from(format!("{}\r\n", narrator.lang().busy()));
    let handler_narrator = narrator.clone();
    let handler_transcript = transcript.clone();
    let handle = server::spawn(
        listener,
        config,
        CancellationToken::new(),
        move |stream, ctx| {
            // The lesson has no login: a client keeps its slot (the lesson's rule is
            // "one more is told the server is busy"), never evicted for a newcomer.
            ctx.slot.authenticated();
            let narrator = handler_narrator.for_client(ctx.id);
            let transcript = handler_transcript.clone();
            // Taken when the connection is accepted, held until it is closed.
            let permit = serving.clone().try_acquire_owned();
            async move {
                match permit {
                    Ok(_serving) => session(stream, ctx, narrator, transcript).await,
                    Err(_) => turn_away(stream, ctx.peer, limit, &narrator).await,
                }
            }
        },
    )
    .map_err(|error| Error::Bind { addr: local, error })?;
    shutdown.await;
    // Stop accepting, tell every session, and wait until each has closed its connection.
    handle.stop().await;
    narrator.say(Line::ServerClosed);
    Ok(())
}

/// One client's conversation: report its address, receive its line, acknowledge, close.
async fn session<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: S,
    ctx: SessionContext,
    narrator: Narrator,
    transcript: Transcript,
) {
    narrator.say(Line::ClientAddress(ctx.peer));
    if let Err(error) = converse(stream, &ctx, &narrator, &transcript).await {
        // The client reset the connection or vanished: nothing to answer, just note it.
        tracing::debug!(%error, "conversation failed");
    }
    narrator.say(Line::ConnectionClosed);
}

/// Tells a client over the limit that the server is busy, waits (briefly) for it to
/// close, closes, and says so.
///
/// Waiting for the client's close matters: a socket closed with unread data in it (the
/// client's greeting) sends a reset instead of an orderly close, and a reset can reach the
/// client before it has read the busy line.
async fn turn_away<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    limit: usize,
    narrator: &Narrator,
) {
    let busy = format!("{}\r\n", narrator.lang().busy());
    let told = tokio::time::timeout(TURN_AWAY_GRACE, async {
        stream.write_all(busy.as_bytes()).await?;
        stream.shutdown().await?;
        // Whatever the client still sends, up to a bound, until it closes.
        let mut rest = (&mut stream).take(2 * MAX_LINE as u64);
        tokio::io::copy(&mut rest, &mut tokio::io::sink()).await
    })
    .await;
    if let Ok(Err(error)) = told {
        tracing::debug!(%error, "turning a client away failed");
    }
    narrator.say(Line::TooManyClients { peer, limit });
}

async fn converse<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: S,
    ctx: &SessionContext,
    narrator: &Narrator,
    transcript: &Transcript,
) -> std::io::Result<()> {
    let mut conn = Framed::new(stream, LineCodec::new(MAX_LINE));
    // recv: wait for the client's line, but not forever, and not past a shutdown.
    match ctx.next(&mut conn).await {
        Next::Frame(line) => {
            transcript.client(&line);
            // The line is bytes; the lesson's text is UTF-8. Show what we can.
            narrator.say(Line::Received(&String::from_utf8_lossy(&line)));
            // send: the acknowledgement, one line back on the same connection.
            let ack = narrator.lang().acknowledgement().as_bytes();
            transcript.server(ack);
            conn.send(ack).await.map_err(into_io)?;
        }
        Next::Error(LineError::TooLong { limit }) => {
            narrator.say(Line::LineTooLong {
                peer: ctx.peer,
                limit,
            });
        }
        Next::Error(LineError::Io(error)) => return Err(error),
        Next::IdleTimeout => narrator.say(Line::IdleTimeout {
            peer: ctx.peer,
            after: ctx.idle_timeout,
        }),
        // The client left without a word, or the server is shutting down: just close.
        Next::Closed | Next::Shutdown | Next::Evicted => {}
    }
    // close: shutdown() sends FIN, so the client reads end-of-stream, not a reset.
    conn.into_inner().shutdown().await
}

/// The lesson's client: connects, sends its message as one line, waits for the
/// acknowledgement, closes. Returns the acknowledgement.
///
/// A server that answers with its busy line ([`crate::Lang::busy`], in either language)
/// has turned the client away: that is [`Error::Busy`], not an acknowledgement.
pub async fn client(
    options: &ClientOptions,
    narrator: &Narrator,
    transcript: &Transcript,
) -> Result<String, Error> {
    let message = options.message.as_bytes();
    if message.contains(&b'\n') || message.contains(&b'\r') {
        return Err(Error::NotOneLine);
    }
    if message.len() > MAX_LINE {
        return Err(Error::MessageTooLong {
            len: message.len(),
            limit: MAX_LINE,
        });
    }
    let addr = host_port(&options.host, options.port);
    // connect: the kernel performs TCP's three-way handshake with the server's listening
    // socket; when it returns, the server's kernel has queued us for accept().
    let connecting = TcpStream::connect((options.host.as_str(), options.port));
    let stream = match tokio::time::timeout(options.timeout, connecting).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return Err(Error::Connect { addr, error }),
        Err(_) => {
            return Err(Error::Connect {
                addr,
                error: std::io::ErrorKind::TimedOut.into(),
            });
        }
    };
    narrator.say(Line::Connected);

    let mut conn = Framed::new(stream, LineCodec::new(MAX_LINE));
    transcript.client(message);
    conn.send(message).await.map_err(|e| Error::Io {
        doing: Doing::Send,
        error: into_io(e),
    })?;
    narrator.say(Line::Sent);

    let ack = match tokio::time::timeout(options.timeout, conn.next()).await {
        Ok(Some(Ok(line))) => line,
        Ok(Some(Err(LineError::TooLong { limit }))) => return Err(Error::AnswerTooLong { limit }),
        Ok(Some(Err(LineError::Io(error)))) => {
            return Err(Error::Io {
                doing: Doing::Receive,
                error,
            });
        }
        Ok(None) => return Err(Error::ClosedWithoutAck),
        Err(_) => {
            return Err(Error::AckTimeout {
                waited: options.timeout,
            });
        }
    };
    transcript.server(&ack);
    let ack = String::from_utf8_lossy(&ack).into_owned();
    if lines::is_busy(&ack) {
        return Err(Error::Busy);
    }
    narrator.say(Line::AckReceived(&ack));

    // close: say we are done (FIN), then drop the socket. An error here changes nothing
    // for the learner: the acknowledgement has arrived.
    let _ = conn.into_inner().shutdown().await;
    narrator.say(Line::ClientClosed);
    Ok(ack)
}

fn into_io(error: LineError) -> std::io::Error {
    match error {
        LineError::Io(error) => error,
        other => std::io::Error::other(other),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    use super::*;
    use crate::Lang;

    const STEP: Duration = Duration::from_secs(5);

    fn collecting(lang: Lang) -> (Narrator, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let narrator = Narrator::new(lang, move |line| sink.lock().unwrap().push(line.into()));
        (narrator, lines)
    }

    fn options(port: u16, message: &str) -> ClientOptions {
        ClientOptions {
            host: "127.0.0.1".into(),
            port,
            message: message.into(),
            timeout: STEP,
        }
    }

    fn localhost() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    #[tokio::test]
    async fn lesson_exchange_in_japanese() {
        let (server_says, server_lines) = collecting(Lang::Ja);
        let listener = bind(localhost(), &server_says).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            serve_once(
                listener,
                &ServerOptions::default(),
                &server_says,
                &Transcript::disabled(),
                std::future::pending(),
            )
            .await
        });

        let (client_says, client_lines) = collecting(Lang::Ja);
        let opts = options(port, Lang::Ja.greeting());
        let ack = tokio::time::timeout(STEP, client(&opts, &client_says, &Transcript::disabled()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ack, Lang::Ja.acknowledgement());
        tokio::time::timeout(STEP, server)
            .await
            .unwrap()
            .unwrap()
            .unwrap();

        let server_lines = server_lines.lock().unwrap().clone();
        assert_eq!(server_lines.len(), 6, "{server_lines:?}");
        assert_eq!(
            server_lines[0],
            format!("サーバーはポートNO. {port} にバインドされました")
        );
        assert_eq!(server_lines[1], "サーバーはクライアントをリスニング中です");
        assert!(
            server_lines[2].starts_with("クライアントのアドレスを受信しました : ('127.0.0.1', "),
            "{}",
            server_lines[2]
        );
        assert_eq!(
            &server_lines[3..],
            [
                "クライアントからのデータを受信しました : こんにちはサーバーさん。私はクライアントです",
                "コネクションは閉じられました",
                "サーバーソケットは閉じられました",
            ]
        );
        assert_eq!(
            *client_lines.lock().unwrap(),
            [
                "サーバーへ接続しました",
                "サーバーへデータを送信しました",
                "サーバーからの受信確認が返ってきました : サーバーです。データをしっかり受け取りました",
                "クライアントソケットを閉じました",
            ]
        );
    }

    #[tokio::test]
    async fn transcript_records_both_lines() {
        let listener = bind(localhost(), &Narrator::silent(Lang::En))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            serve_once(
                listener,
                &ServerOptions::default(),
                &Narrator::silent(Lang::En),
                &Transcript::disabled(),
                std::future::pending(),
            )
            .await
        });
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let transcript = Transcript::to_sink(move |dir, line| {
            sink.lock().unwrap().push(Transcript::format(dir, line))
        });
        client(
            &options(port, "hi"),
            &Narrator::silent(Lang::En),
            &transcript,
        )
        .await
        .unwrap();
        tokio::time::timeout(STEP, server)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "C: hi",
                "S: This is the server. I received your data safely"
            ]
        );
    }

    #[tokio::test]
    async fn silent_client_delays_nobody_and_is_dropped_when_idle() {
        let (says, lines) = collecting(Lang::En);
        let listener = bind(localhost(), &says).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let server_stop = stop.clone();
        let idle_timeout = Duration::from_secs(1);
        let server = tokio::spawn(async move {
            let options = ServerOptions {
                idle_timeout,
                ..ServerOptions::default()
            };
            serve(
                listener,
                &options,
                &says,
                &Transcript::disabled(),
                server_stop.cancelled_owned(),
            )
            .await
        });

        // A client that connects and says nothing.
        let silent = TcpStream::connect(addr).await.unwrap();
        let started = tokio::time::Instant::now();
        // Twenty others are answered while it sits there.
        let mut talkers = Vec::new();
        for i in 0..20 {
            let opts = options(addr.port(), &format!("client {i}"));
            talkers.push(tokio::spawn(async move {
                client(&opts, &Narrator::silent(Lang::En), &Transcript::disabled()).await
            }));
        }
        for talker in talkers {
            let ack = tokio::time::timeout(STEP, talker)
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(ack, Lang::En.acknowledgement());
        }
        // Nobody waited for the silent client to give up.
        assert!(started.elapsed() < idle_timeout, "{:?}", started.elapsed());
        // The silent one is closed by the idle timeout: it reads end-of-stream.
        let mut silent = BufReader::new(silent);
        let mut rest = String::new();
        let read = tokio::time::timeout(STEP, silent.read_line(&mut rest))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read, 0);

        stop.cancel();
        tokio::time::timeout(STEP, server)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let lines = lines.lock().unwrap();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("[client 1] No data from ('127.0.0.1', ")),
            "{lines:?}"
        );
        for n in 1..=21 {
            let closed = format!("[client {n}] Connection closed");
            assert_eq!(
                lines.iter().filter(|l| **l == closed).count(),
                1,
                "{lines:?}"
            );
        }
        assert_eq!(lines.last().unwrap(), "Server socket closed");
    }

    /// A narrator whose lines arrive on a channel, so a test can wait for one.
    fn streaming(lang: Lang) -> (Narrator, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let narrator = Narrator::new(lang, move |line| {
            let _ = tx.send(line.to_owned());
        });
        (narrator, rx)
    }

    async fn next_line(lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
        tokio::time::timeout(STEP, lines.recv())
            .await
            .expect("the server says its next line in time")
            .expect("the server is still narrating")
    }

    #[tokio::test]
    async fn over_the_limit_a_client_is_told_busy_and_the_server_says_so() {
        let (says, mut lines) = streaming(Lang::Ja);
        let listener = bind(localhost(), &says).await.unwrap();
        let addr = listener.local_addr().unwrap();
        next_line(&mut lines).await;
        next_line(&mut lines).await;
        let stop = CancellationToken::new();
        let server_stop = stop.clone();
        let server = tokio::spawn(async move {
            let options = ServerOptions {
                max_connections: 1,
                ..ServerOptions::default()
            };
            serve(
                listener,
                &options,
                &says,
                &Transcript::disabled(),
                server_stop.cancelled_owned(),
            )
            .await
        });
        // The first client takes the only place and keeps it.
        let _first = TcpStream::connect(addr).await.unwrap();
        let admitted = next_line(&mut lines).await;
        assert!(
            admitted.starts_with("[クライアント1] クライアントのアドレスを受信しました : "),
            "{admitted}"
        );
        // The second is turned away: the busy line, in the server's language, is an error
        // for the client whatever language it speaks.
        let err = client(
            &options(addr.port(), "hi"),
            &Narrator::silent(Lang::En),
            &Transcript::disabled(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Busy), "{err}");
        let refused = next_line(&mut lines).await;
        assert!(
            refused.starts_with(
                "[クライアント2] クライアントが多すぎます（同時に 1 まで）: ('127.0.0.1', "
            ) && refused.ends_with(") に混み合っていると伝えてコネクションを閉じました"),
            "{refused}"
        );
        stop.cancel();
        tokio::time::timeout(STEP, server)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn concurrent_lines_name_their_client() {
        let (says, mut lines) = streaming(Lang::En);
        let listener = bind(localhost(), &says).await.unwrap();
        let addr = listener.local_addr().unwrap();
        next_line(&mut lines).await;
        next_line(&mut lines).await;
        let stop = CancellationToken::new();
        let server_stop = stop.clone();
        let server = tokio::spawn(async move {
            serve(
                listener,
                &ServerOptions::default(),
                &says,
                &Transcript::disabled(),
                server_stop.cancelled_owned(),
            )
            .await
        });
        // Client 1 connects and waits; client 2 has its whole conversation meanwhile.
        let mut first = BufReader::new(TcpStream::connect(addr).await.unwrap());
        let address = next_line(&mut lines).await;
        assert!(
            address.starts_with("[client 1] Received the client's address : ('127.0.0.1', "),
            "{address}"
        );
        client(
            &options(addr.port(), "second"),
            &Narrator::silent(Lang::En),
            &Transcript::disabled(),
        )
        .await
        .unwrap();
        assert!(
            next_line(&mut lines)
                .await
                .starts_with("[client 2] Received the client's address : ")
        );
        assert_eq!(
            next_line(&mut lines).await,
            "[client 2] Received data from the client : second"
        );
        assert_eq!(next_line(&mut lines).await, "[client 2] Connection closed");
        first.get_mut().write_all(b"first\r\n").await.unwrap();
        let mut ack = String::new();
        first.read_line(&mut ack).await.unwrap();
        assert_eq!(
            next_line(&mut lines).await,
            "[client 1] Received data from the client : first"
        );
        assert_eq!(next_line(&mut lines).await, "[client 1] Connection closed");
        stop.cancel();
        tokio::time::timeout(STEP, server)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(next_line(&mut lines).await, "Server socket closed");
    }

    #[tokio::test]
    async fn overlong_line_closes_the_connection() {
        let (says, lines) = collecting(Lang::En);
        let listener = bind(localhost(), &says).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            serve_once(
                listener,
                &ServerOptions::default(),
                &says,
                &Transcript::disabled(),
                std::future::pending(),
            )
            .await
        });
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // Write may fail once the server has closed; either way no answer comes.
        let _ = stream.write_all(&vec![b'x'; MAX_LINE * 2]).await;
        tokio::time::timeout(STEP, server)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let lines = lines.lock().unwrap();
        assert!(
            lines[3].ends_with("is longer than 4096 bytes: closing the connection"),
            "{lines:?}"
        );
    }

    #[tokio::test]
    async fn message_must_be_one_line() {
        let err = client(
            &options(1, "two\nlines"),
            &Narrator::silent(Lang::En),
            &Transcript::disabled(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::NotOneLine), "{err}");
    }

    #[tokio::test]
    async fn refused_connection_is_a_clear_error() {
        // Bind then drop: the port is (almost certainly) free and nobody listens on it.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = client(
            &options(port, "hi"),
            &Narrator::silent(Lang::En),
            &Transcript::disabled(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot connect to 127.0.0.1:{port}: Connection refused (is the server running?)"
            )
        );
    }
}
