//! The same exchange over UDP, to show what a datagram does not give you.
//!
//! - **No connection.** The server binds and then simply waits for datagrams: there is no
//!   `listen` and no `accept`, and no per-client socket. Every datagram arrives on the one
//!   socket with its sender's address attached, and the answer is sent to that address.
//!   The client makes no connection either: it just sends.
//! - **No delivery guarantee.** A datagram can be lost, and when nobody is listening the
//!   sender is usually not told (an unconnected UDP socket does not even see the ICMP
//!   "port unreachable" reply). So the client waits for an acknowledgement with a timeout,
//!   and after it can only say it heard nothing.
//! - **Boundaries kept.** One `send_to` is one datagram is one `recv_from`: unlike TCP's
//!   byte stream, no line framing is needed. But a datagram must fit in one buffer, so its
//!   size is capped ([`MAX_DATAGRAM`]).
//!
//! A UDP server is concurrent without trying: it never waits on a particular client, it
//! handles whichever datagram comes next.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::pin;
use std::time::Duration;

use tokio::net::UdpSocket;
use yubin_core::Transcript;

use crate::{ClientOptions, Doing, Error, Line, Narrator, host_port};

/// Largest datagram either side sends or accepts, in bytes.
///
/// 1200 bytes fit in one packet on any IPv6 path (whose minimum MTU is 1280, headers
/// included), so a datagram this size is never fragmented; a lost fragment would lose the
/// whole datagram. (QUIC picks 1200 for the same reason.)
pub const MAX_DATAGRAM: usize = 1200;

/// What came of the client's datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server's acknowledgement arrived.
    Acknowledged(String),
    /// Nothing came back within the timeout. UDP cannot say why: the datagram or the
    /// answer was lost, or nobody was listening.
    NoAck,
}

/// Binds the UDP socket and says so. There is nothing to listen for: from here on,
/// datagrams sent to this port wait in the socket's receive buffer.
pub async fn bind(addr: SocketAddr, narrator: &Narrator) -> Result<UdpSocket, Error> {
    let socket = UdpSocket::bind(addr)
        .await
        .map_err(|error| Error::Bind { addr, error })?;
    let port = socket
        .local_addr()
        .map_err(|error| Error::Bind { addr, error })?
        .port();
    narrator.say(Line::Bound { port });
    narrator.say(Line::WaitingForDatagrams);
    Ok(socket)
}

/// Answers every datagram with the acknowledgement until `shutdown` completes (or, with
/// `once`, after the first one), then closes the socket.
pub async fn serve(
    socket: UdpSocket,
    once: bool,
    narrator: &Narrator,
    transcript: &Transcript,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let mut shutdown = pin!(shutdown);
    // One byte more than the limit, so an oversized datagram shows up as too long instead
    // of being silently cut to fit (recv_from drops whatever does not fit the buffer).
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    let ack = narrator.lang().acknowledgement().as_bytes();
    loop {
        // recv_from: the next datagram from anyone, with the sender's address.
        let received = tokio::select! {
            () = &mut shutdown => break,
            received = socket.recv_from(&mut buf) => received,
        };
        let (len, peer) = match received {
            Ok(pair) => pair,
            Err(error) => {
                // Some systems report an earlier datagram's ICMP error here; it concerns
                // no one waiting now. Pause briefly so a persistent error cannot spin.
                tracing::debug!(%error, "recv_from failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        narrator.say(Line::DatagramFrom(peer));
        if len > MAX_DATAGRAM {
            narrator.say(Line::DatagramTooBig {
                peer,
                limit: MAX_DATAGRAM,
            });
            continue;
        }
        let data = trim_newline(&buf[..len]);
        transcript.client(data);
        narrator.say(Line::Received(&String::from_utf8_lossy(data)));
        // send_to: the answer goes to the address the datagram came from. Nothing tells us
        // whether it arrives.
        transcript.server(ack);
        match socket.send_to(ack, peer).await {
            Ok(_) => narrator.say(Line::AckSent),
            Err(error) => tracing::debug!(%error, %peer, "send_to failed"),
        }
        if once {
            break;
        }
    }
    drop(socket);
    narrator.say(Line::ServerClosed);
    Ok(())
}

/// A datagram needs no terminator, but `nc -u` and friends send one; show the text
/// without it.
fn trim_newline(data: &[u8]) -> &[u8] {
    let data = data.strip_suffix(b"\n").unwrap_or(data);
    data.strip_suffix(b"\r").unwrap_or(data)
}

/// Sends the message as one datagram and waits (up to `options.timeout`) for the answer.
///
/// Running out of time is not an error: it is the lesson ([`Outcome::NoAck`]).
pub async fn client(
    options: &ClientOptions,
    narrator: &Narrator,
    transcript: &Transcript,
) -> Result<Outcome, Error> {
    let message = options.message.as_bytes();
    if message.len() > MAX_DATAGRAM {
        return Err(Error::MessageTooLong {
            len: message.len(),
            limit: MAX_DATAGRAM,
        });
    }
    let server = resolve(&options.host, options.port).await?;
    // Our own socket, on any free port: the server answers to this address.
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|error| Error::Bind { addr: local, error })?;

    // send_to: no handshake, no connection; the datagram just leaves.
    transcript.client(message);
    socket
        .send_to(message, server)
        .await
        .map_err(|error| Error::Io {
            doing: Doing::SendDatagram,
            error,
        })?;
    narrator.say(Line::DatagramSent);

    let outcome = match tokio::time::timeout(options.timeout, answer_from(&socket, server)).await {
        Ok(Ok(ack)) => {
            transcript.server(&ack);
            let ack = String::from_utf8_lossy(&ack).into_owned();
            narrator.say(Line::AckReceived(&ack));
            Outcome::Acknowledged(ack)
        }
        Ok(Err(error)) => {
            return Err(Error::Io {
                doing: Doing::ReceiveAck,
                error,
            });
        }
        Err(_) => {
            narrator.say(Line::NoAck {
                waited: options.timeout,
            });
            Outcome::NoAck
        }
    };
    drop(socket);
    narrator.say(Line::ClientClosed);
    Ok(outcome)
}

/// Waits for a datagram from `server`. Anyone may send to our port, so datagrams from
/// other addresses are ignored rather than taken for the answer.
async fn answer_from(socket: &UdpSocket, server: SocketAddr) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((len, from)) if from == server => return Ok(buf[..len].to_vec()),
            Ok(_) => continue,
            // Windows reports an ICMP "port unreachable" here as a reset; it means nobody
            // listens, which the timeout will report. Keep waiting.
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused
                ) =>
            {
                continue;
            }
            Err(error) => return Err(error),
        }
    }
}

/// The server's address. A name may resolve to several; prefer IPv4, since the servers
/// bind `127.0.0.1` by default and a datagram, unlike a TCP connect, cannot try each
/// address in turn and learn which one answers.
async fn resolve(host: &str, port: u16) -> Result<SocketAddr, Error> {
    let resolve_error = |error| Error::Resolve {
        host: host_port(host, port),
        error,
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(resolve_error)?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| resolve_error(io::ErrorKind::NotFound.into()))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::Lang;

    const STEP: Duration = Duration::from_secs(5);

    fn collecting(lang: Lang) -> (Narrator, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let narrator = Narrator::new(lang, move |line| sink.lock().unwrap().push(line.into()));
        (narrator, lines)
    }

    fn options(port: u16, timeout: Duration) -> ClientOptions {
        ClientOptions {
            host: "127.0.0.1".into(),
            port,
            message: Lang::En.greeting().into(),
            timeout,
        }
    }

    #[tokio::test]
    async fn datagram_is_acknowledged() {
        let (server_says, server_lines) = collecting(Lang::En);
        let socket = bind("127.0.0.1:0".parse().unwrap(), &server_says)
            .await
            .unwrap();
        let port = socket.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            serve(
                socket,
                true,
                &server_says,
                &Transcript::disabled(),
                std::future::pending(),
            )
            .await
        });
        let (client_says, client_lines) = collecting(Lang::En);
        let outcome = client(&options(port, STEP), &client_says, &Transcript::disabled())
            .await
            .unwrap();
        assert_eq!(
            outcome,
            Outcome::Acknowledged(Lang::En.acknowledgement().into())
        );
        tokio::time::timeout(STEP, server)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let server_lines = server_lines.lock().unwrap();
        assert_eq!(server_lines[0], format!("Server bound to port {port}"));
        assert!(server_lines[2].starts_with("Received a datagram from : ('127.0.0.1', "));
        assert_eq!(
            server_lines[3..],
            [
                "Received data from the client : Hello server. I am the client",
                "Sent the acknowledgement back as a datagram",
                "Server socket closed",
            ]
        );
        assert_eq!(
            *client_lines.lock().unwrap(),
            [
                "Sent a datagram to the server (no connection was made)",
                "The server's acknowledgement came back : \
                 This is the server. I received your data safely",
                "Closed the client socket",
            ]
        );
    }

    #[tokio::test]
    async fn silence_is_reported_as_no_ack() {
        // A socket that receives but never answers: to the client, nobody is there.
        let deaf = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = deaf.local_addr().unwrap().port();
        let (says, lines) = collecting(Lang::Ja);
        let outcome = client(
            &options(port, Duration::from_millis(200)),
            &says,
            &Transcript::disabled(),
        )
        .await
        .unwrap();
        assert_eq!(outcome, Outcome::NoAck);
        assert_eq!(
            *lines.lock().unwrap(),
            [
                "サーバーへデータグラムを送信しました（接続はしていません）",
                "200 ms 以内に受信確認が返ってきませんでした : UDP は配達を保証しません。\
                 誰も待ち受けていないのかもしれません",
                "クライアントソケットを閉じました",
            ]
        );
    }

    #[tokio::test]
    async fn oversized_datagram_is_dropped_and_serving_goes_on() {
        let (says, lines) = collecting(Lang::En);
        let socket = bind("127.0.0.1:0".parse().unwrap(), &says).await.unwrap();
        let port = socket.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            serve(
                socket,
                true,
                &says,
                &Transcript::disabled(),
                std::future::pending(),
            )
            .await
        });
        let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        sender
            .send_to(&[b'x'; MAX_DATAGRAM + 1], ("127.0.0.1", port))
            .await
            .unwrap();
        let outcome = client(
            &options(port, STEP),
            &Narrator::silent(Lang::En),
            &Transcript::disabled(),
        )
        .await
        .unwrap();
        assert!(matches!(outcome, Outcome::Acknowledged(_)));
        tokio::time::timeout(STEP, server)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(
            lines
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.ends_with(": longer than 1200 bytes")),
            "{:?}",
            lines.lock().unwrap()
        );
    }

    #[test]
    fn trailing_newline_is_not_part_of_the_text() {
        assert_eq!(trim_newline(b"hi\r\n"), b"hi");
        assert_eq!(trim_newline(b"hi\n"), b"hi");
        assert_eq!(trim_newline(b"hi"), b"hi");
    }
}
