//! The classic socket lesson, runnable: a TCP server on port 2000 that a client greets and
//! that answers "got it", then the homework (serve many clients at once), then the same
//! exchange over UDP to show what a datagram does not give you.
//!
//! # The lesson in five system calls
//!
//! A server socket goes through three steps before anyone can talk to it:
//! 1. **bind**: claim an address and port (here `127.0.0.1:2000`), so clients know where
//!    to find the server. Port 0 asks the kernel for any free port.
//! 2. **listen**: tell the kernel to queue incoming connections (the *backlog*) instead of
//!    refusing them.
//! 3. **accept**: take the next queued connection. This returns a *new* socket, one per
//!    client, plus the client's address; the listening socket stays open for the next one.
//!
//! Then both sides talk on the connected socket with **send** and **recv**, and finally
//! **close** it. TCP is a byte stream, not a sequence of messages: one `send` may arrive
//! as two `recv`s, or two `send`s as one. So both sides here frame their messages as lines
//! with [`yubin_core::LineCodec`]: a message is the bytes up to CRLF.
//!
//! # The homework: concurrency
//!
//! The lesson's server handled one client, then the next: while it waited for a slow
//! client's data, every other client waited too. [`tcp::serve`] gives each connection its
//! own task (through yubin-core's server runtime), so a silent client costs one idle task
//! and nobody else notices it; the idle timeout eventually drops it.
//!
//! # The contrast: UDP
//!
//! [`udp`] sends the same greeting as a datagram: no listen, no accept, no connection. A
//! datagram keeps its boundaries (no framing needed), but nothing tells the sender whether
//! it arrived: the client can only wait for an answer and give up after a timeout.
//!
//! The text of every line, in English and in the lesson's Japanese, is in [`lines`].
#![forbid(unsafe_code)]

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

pub mod lines;
pub mod tcp;
pub mod udp;

pub use lines::{Lang, Line, Narrator};

/// The lesson's port, for both TCP and UDP.
pub const DEFAULT_PORT: u16 = 2000;

/// What a client needs to know: where the server is, what to say, how long to wait.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Host name or IP address of the server.
    pub host: String,
    /// The server's port.
    pub port: u16,
    /// The message to send (for TCP: one line, without CR or LF).
    pub message: String,
    /// Bounds each wait: connecting (TCP) and the acknowledgement (both). A client that
    /// waits forever on a server that never answers is a hung client.
    pub timeout: Duration,
}

/// Why the demo could not do its part. Each message is one line, fit for `error: ...`.
///
/// `Display` is the English line; [`Error::render`] says it in the lesson's language, so a
/// learner following the lesson in Japanese reads its errors in Japanese too.
#[derive(Debug)]
pub enum Error {
    /// The server socket could not be bound (port in use, no permission, ...).
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        error: io::Error,
    },
    /// The server's host name did not resolve to an address.
    Resolve {
        /// `host:port` as given.
        host: String,
        /// What the resolver said.
        error: io::Error,
    },
    /// The TCP client could not connect (nobody listening, unreachable, timed out).
    Connect {
        /// `host:port` as given.
        addr: String,
        /// What the OS said.
        error: io::Error,
    },
    /// Sending or receiving failed after the socket was set up.
    Io {
        /// What was being attempted.
        doing: Doing,
        /// What the OS said.
        error: io::Error,
    },
    /// A TCP message must be one line: the line is the message's frame.
    NotOneLine,
    /// The message is over the size the other side accepts.
    MessageTooLong {
        /// The message's size in bytes.
        len: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The TCP server closed the connection without answering.
    ClosedWithoutAck,
    /// The TCP server did not answer in time.
    AckTimeout {
        /// How long the client waited.
        waited: Duration,
    },
    /// The TCP server's answer was longer than a line may be.
    AnswerTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// The TCP server was already serving as many clients as it may: it answered with its
    /// busy line ([`Lang::busy`], in either language) instead of an acknowledgement.
    Busy,
}

/// What the demo was doing when the OS said no ([`Error::Io`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doing {
    /// The server's `accept()`.
    Accept,
    /// Asking the OS which address the server socket is bound to.
    LocalAddr,
    /// The TCP client's `send`.
    Send,
    /// The TCP client's `recv`.
    Receive,
    /// The UDP client's `send_to`.
    SendDatagram,
    /// The UDP client's `recv_from`.
    ReceiveAck,
}

impl Doing {
    fn render(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Doing::Accept, Lang::En) => "cannot accept a connection",
            (Doing::Accept, Lang::Ja) => "接続を受け付けられません",
            (Doing::LocalAddr, Lang::En) => "cannot read the server's address",
            (Doing::LocalAddr, Lang::Ja) => "サーバーのアドレスを読み取れません",
            (Doing::Send, Lang::En) => "cannot send to the server",
            (Doing::Send, Lang::Ja) => "サーバーへ送信できません",
            (Doing::Receive, Lang::En) => "cannot receive from the server",
            (Doing::Receive, Lang::Ja) => "サーバーから受信できません",
            (Doing::SendDatagram, Lang::En) => "cannot send the datagram",
            (Doing::SendDatagram, Lang::Ja) => "データグラムを送信できません",
            (Doing::ReceiveAck, Lang::En) => "cannot receive the acknowledgement",
            (Doing::ReceiveAck, Lang::Ja) => "受信確認を受け取れません",
        }
    }
}

impl Error {
    /// The error as one line in `lang`, without the `error:` prefix
    /// (see [`Lang::error_prefix`]).
    pub fn render(&self, lang: Lang) -> String {
        use Lang::{En, Ja};
        match (self, lang) {
            (Error::Bind { addr, error }, En) => {
                format!("cannot bind {addr}: {}", os_text(error, En))
            }
            (Error::Bind { addr, error }, Ja) => {
                format!("{addr} にバインドできません : {}", os_text(error, Ja))
            }
            (Error::Resolve { host, error }, En) => {
                format!("cannot resolve {host}: {}", os_text(error, En))
            }
            (Error::Resolve { host, error }, Ja) => {
                format!("{host} の名前解決ができません : {}", os_text(error, Ja))
            }
            (Error::Connect { addr, error }, En) => {
                let hint = if error.kind() == io::ErrorKind::ConnectionRefused {
                    " (is the server running?)"
                } else {
                    ""
                };
                format!("cannot connect to {addr}: {}{hint}", os_text(error, En))
            }
            (Error::Connect { addr, error }, Ja) => {
                let hint = if error.kind() == io::ErrorKind::ConnectionRefused {
                    "（サーバーは起動していますか？）"
                } else {
                    ""
                };
                format!("{addr} に接続できません : {}{hint}", os_text(error, Ja))
            }
            (Error::Io { doing, error }, lang) => {
                let sep = if lang == En { ": " } else { " : " };
                format!("{}{sep}{}", doing.render(lang), os_text(error, lang))
            }
            (Error::NotOneLine, En) => "the message must be one line (no CR or LF)".into(),
            (Error::NotOneLine, Ja) => {
                "メッセージは1行にしてください（CR や LF は使えません）".into()
            }
            (Error::MessageTooLong { len, limit }, En) => {
                format!("the message is {len} bytes, over the limit of {limit}")
            }
            (Error::MessageTooLong { len, limit }, Ja) => {
                format!("メッセージが {len} バイトあり、上限の {limit} バイトを超えています")
            }
            (Error::ClosedWithoutAck, En) => {
                "the server closed the connection without an acknowledgement".into()
            }
            (Error::ClosedWithoutAck, Ja) => {
                "サーバーは受信確認を返さずにコネクションを閉じました".into()
            }
            (Error::AckTimeout { waited }, En) => format!(
                "no acknowledgement from the server within {} ms",
                waited.as_millis()
            ),
            (Error::AckTimeout { waited }, Ja) => format!(
                "{} ms 以内にサーバーから受信確認が返ってきませんでした",
                waited.as_millis()
            ),
            (Error::AnswerTooLong { limit }, En) => {
                format!("the server's answer is longer than {limit} bytes")
            }
            (Error::AnswerTooLong { limit }, Ja) => {
                format!("サーバーの返答が {limit} バイトを超えています")
            }
            (Error::Busy, En) => {
                "the server is busy and refused the connection; please try again later".into()
            }
            (Error::Busy, Ja) => {
                "サーバーが混み合っていて、接続を断られました。しばらくしてからもう一度どうぞ"
                    .into()
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(Lang::En))
    }
}

impl std::error::Error for Error {}

/// An OS error as people read it: "Connection refused", not
/// "Connection refused (os error 111)"; in Japanese for the errors a learner meets (the
/// OS itself speaks English here), else the OS's own words.
fn os_text(error: &io::Error, lang: Lang) -> String {
    use io::ErrorKind as K;
    if lang == Lang::Ja {
        let ja = match error.kind() {
            K::ConnectionRefused => Some("接続を拒否されました"),
            K::ConnectionReset => Some("接続がリセットされました"),
            K::ConnectionAborted => Some("接続が中断されました"),
            K::BrokenPipe => Some("接続はすでに切れています"),
            K::TimedOut => Some("時間切れです"),
            K::AddrInUse => Some("このアドレスはすでに使われています"),
            K::AddrNotAvailable => Some("このアドレスはこのマシンにありません"),
            K::PermissionDenied => Some("権限がありません"),
            K::HostUnreachable => Some("ホストに到達できません"),
            K::NetworkUnreachable => Some("ネットワークに到達できません"),
            _ => None,
        };
        if let Some(text) = ja {
            return text.to_owned();
        }
    }
    plain(error)
}

/// The OS's words without the error number.
fn plain(error: &io::Error) -> String {
    let text = error.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_owned(),
        _ => text,
    }
}

/// `host:port`, with brackets around an IPv6 literal (`[::1]:2000`).
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_one_plain_line() {
        let refused = io::Error::from_raw_os_error(111);
        let error = Error::Connect {
            addr: host_port("127.0.0.1", 2000),
            error: refused,
        };
        assert_eq!(
            error.to_string(),
            "cannot connect to 127.0.0.1:2000: Connection refused (is the server running?)"
        );
        assert_eq!(host_port("::1", 2000), "[::1]:2000");
    }

    #[test]
    fn errors_speak_the_lessons_language() {
        let refused = Error::Connect {
            addr: host_port("127.0.0.1", 2000),
            error: io::Error::from_raw_os_error(111),
        };
        assert_eq!(
            refused.render(Lang::Ja),
            "127.0.0.1:2000 に接続できません : 接続を拒否されました（サーバーは起動していますか？）"
        );
        let table = [
            (
                Error::Bind {
                    addr: "127.0.0.1:2000".parse().unwrap(),
                    error: io::ErrorKind::AddrInUse.into(),
                },
                "127.0.0.1:2000 にバインドできません : このアドレスはすでに使われています",
            ),
            (
                Error::Io {
                    doing: Doing::Receive,
                    error: io::ErrorKind::ConnectionReset.into(),
                },
                "サーバーから受信できません : 接続がリセットされました",
            ),
            (
                Error::NotOneLine,
                "メッセージは1行にしてください（CR や LF は使えません）",
            ),
            (
                Error::MessageTooLong {
                    len: 5000,
                    limit: 4096,
                },
                "メッセージが 5000 バイトあり、上限の 4096 バイトを超えています",
            ),
            (
                Error::ClosedWithoutAck,
                "サーバーは受信確認を返さずにコネクションを閉じました",
            ),
            (
                Error::AckTimeout {
                    waited: Duration::from_secs(10),
                },
                "10000 ms 以内にサーバーから受信確認が返ってきませんでした",
            ),
            (
                Error::AnswerTooLong { limit: 4096 },
                "サーバーの返答が 4096 バイトを超えています",
            ),
            (
                Error::Busy,
                "サーバーが混み合っていて、接続を断られました。しばらくしてからもう一度どうぞ",
            ),
        ];
        for (error, ja) in table {
            assert_eq!(error.render(Lang::Ja), ja);
            assert_eq!(error.to_string(), error.render(Lang::En));
        }
    }
}
