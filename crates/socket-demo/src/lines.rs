//! Every line the lesson prints, in English and in the lesson's own Japanese.
//!
//! The text lives here, in one place, so the TCP and UDP code only says *what* happened
//! ([`Line`]) and a [`Narrator`] decides *how* it reads. The Japanese lines marked
//! "lesson" are the original article's, word for word; the English ones are faithful
//! translations. Lines the article never had (the idle timeout, UDP) are written in the
//! same style.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The language the lesson is told in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// Japanese, the lesson's own language.
    Ja,
}

impl Lang {
    /// The message the client sends when none is given (lesson).
    pub fn greeting(self) -> &'static str {
        match self {
            Lang::En => "Hello server. I am the client",
            Lang::Ja => "こんにちはサーバーさん。私はクライアントです",
        }
    }

    /// The acknowledgement the server answers every message with (lesson).
    pub fn acknowledgement(self) -> &'static str {
        match self {
            Lang::En => "This is the server. I received your data safely",
            Lang::Ja => "サーバーです。データをしっかり受け取りました",
        }
    }

    /// The line a client over the server's connection limit receives before it is closed.
    pub fn busy(self) -> &'static str {
        match self {
            Lang::En => "The server is busy. Please try again later",
            Lang::Ja => "サーバーは混み合っています。しばらくしてからもう一度どうぞ",
        }
    }

    /// What starts an error line (`error: cannot connect ...`).
    pub fn error_prefix(self) -> &'static str {
        match self {
            Lang::En => "error: ",
            Lang::Ja => "エラー: ",
        }
    }

    /// The label of the concurrent server's lines about one client: clients are numbered
    /// in the order they connect, and every line about client 3 starts with `[client 3] `.
    pub fn client_label(self, id: u64) -> String {
        match self {
            Lang::En => format!("[client {id}] "),
            Lang::Ja => format!("[クライアント{id}] "),
        }
    }
}

/// Whether a server's answer is its busy line ([`Lang::busy`]) rather than an
/// acknowledgement, whatever language the server speaks.
pub fn is_busy(answer: &str) -> bool {
    [Lang::En, Lang::Ja]
        .iter()
        .any(|lang| lang.busy() == answer)
}

/// Something worth telling the learner, independent of language.
///
/// Render it with [`Line::render`] (or let a [`Narrator`] do it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// The server socket is bound to this port (the real one, even when 0 was asked for).
    Bound {
        /// The port actually bound.
        port: u16,
    },
    /// The TCP server is listening: clients may now connect.
    Listening,
    /// The TCP client's connection is established.
    Connected,
    /// The TCP client has sent its message.
    Sent,
    /// `accept()` handed the server a connection from this address.
    ClientAddress(SocketAddr),
    /// The server received this message.
    Received(&'a str),
    /// The server closed its connection with one client.
    ConnectionClosed,
    /// The server socket (the one that listens) is closed: no more clients.
    ServerClosed,
    /// The client received this acknowledgement.
    AckReceived(&'a str),
    /// The client closed its socket.
    ClientClosed,
    /// A client stayed silent past the idle timeout and is being dropped.
    IdleTimeout {
        /// The silent client.
        peer: SocketAddr,
        /// How long it was given.
        after: Duration,
    },
    /// The concurrent server was already serving as many clients as it may: this one was
    /// told the server is busy ([`Lang::busy`]) and closed.
    TooManyClients {
        /// The client turned away.
        peer: SocketAddr,
        /// Clients served at once.
        limit: usize,
    },
    /// A client's line was longer than the server frames.
    LineTooLong {
        /// The client.
        peer: SocketAddr,
        /// The limit in bytes.
        limit: usize,
    },
    /// The UDP server waits for datagrams (there is nothing to listen for or accept).
    WaitingForDatagrams,
    /// The UDP server received a datagram from this address.
    DatagramFrom(SocketAddr),
    /// The UDP server sent its acknowledgement back to the sender's address.
    AckSent,
    /// The UDP client sent its datagram (without any connection).
    DatagramSent,
    /// A datagram over the size limit was thrown away.
    DatagramTooBig {
        /// Who sent it.
        peer: SocketAddr,
        /// The limit in bytes.
        limit: usize,
    },
    /// The UDP client gave up waiting for an acknowledgement.
    NoAck {
        /// How long it waited.
        waited: Duration,
    },
}

impl Line<'_> {
    /// The line as the learner reads it, in `lang`.
    pub fn render(&self, lang: Lang) -> String {
        use Lang::{En, Ja};
        match (self, lang) {
            // The lesson's lines.
            // The lesson's "ポートNO. 2000" is how Japanese writes "port number 2000"; English
            // just says "port 2000".
            (Line::Bound { port }, En) => format!("Server bound to port {port}"),
            (Line::Bound { port }, Ja) => {
                format!("サーバーはポートNO. {port} にバインドされました")
            }
            (Line::Listening, En) => "Server is listening for clients".into(),
            (Line::Listening, Ja) => "サーバーはクライアントをリスニング中です".into(),
            (Line::Connected, En) => "Connected to the server".into(),
            (Line::Connected, Ja) => "サーバーへ接続しました".into(),
            (Line::Sent, En) => "Sent data to the server".into(),
            (Line::Sent, Ja) => "サーバーへデータを送信しました".into(),
            (Line::ClientAddress(peer), En) => {
                format!("Received the client's address : {}", PyAddr(*peer))
            }
            (Line::ClientAddress(peer), Ja) => {
                format!("クライアントのアドレスを受信しました : {}", PyAddr(*peer))
            }
            (Line::Received(data), En) => format!("Received data from the client : {data}"),
            (Line::Received(data), Ja) => {
                format!("クライアントからのデータを受信しました : {data}")
            }
            (Line::ConnectionClosed, En) => "Connection closed".into(),
            (Line::ConnectionClosed, Ja) => "コネクションは閉じられました".into(),
            (Line::ServerClosed, En) => "Server socket closed".into(),
            (Line::ServerClosed, Ja) => "サーバーソケットは閉じられました".into(),
            (Line::AckReceived(ack), En) => {
                format!("The server's acknowledgement came back : {ack}")
            }
            (Line::AckReceived(ack), Ja) => {
                format!("サーバーからの受信確認が返ってきました : {ack}")
            }
            (Line::ClientClosed, En) => "Closed the client socket".into(),
            (Line::ClientClosed, Ja) => "クライアントソケットを閉じました".into(),

            // Lines the lesson did not need: its server waited forever for one client.
            (Line::IdleTimeout { peer, after }, En) => format!(
                "No data from {} within {}: closing the connection",
                PyAddr(*peer),
                Span(*after, En)
            ),
            (Line::IdleTimeout { peer, after }, Ja) => format!(
                "{} から {} データが届かないため、コネクションを閉じます",
                PyAddr(*peer),
                Span(*after, Ja)
            ),
            (Line::TooManyClients { peer, limit }, En) => format!(
                "Too many clients (the limit is {limit} at once): told {} the server is busy \
                 and closed the connection",
                PyAddr(*peer)
            ),
            (Line::TooManyClients { peer, limit }, Ja) => format!(
                "クライアントが多すぎます（同時に {limit} まで）: {} に混み合っていると伝えて\
                 コネクションを閉じました",
                PyAddr(*peer)
            ),
            (Line::LineTooLong { peer, limit }, En) => format!(
                "The line from {} is longer than {limit} bytes: closing the connection",
                PyAddr(*peer)
            ),
            (Line::LineTooLong { peer, limit }, Ja) => format!(
                "{} からの行が {limit} バイトを超えたため、コネクションを閉じます",
                PyAddr(*peer)
            ),

            // UDP: the same exchange, without a connection.
            (Line::WaitingForDatagrams, En) => {
                "Server is waiting for datagrams (UDP has no listen and no accept)".into()
            }
            (Line::WaitingForDatagrams, Ja) => {
                "サーバーはデータグラムを待っています（UDP には listen も accept もありません）"
                    .into()
            }
            (Line::DatagramFrom(peer), En) => {
                format!("Received a datagram from : {}", PyAddr(*peer))
            }
            (Line::DatagramFrom(peer), Ja) => {
                format!("データグラムを受信しました。送信元 : {}", PyAddr(*peer))
            }
            (Line::AckSent, En) => "Sent the acknowledgement back as a datagram".into(),
            (Line::AckSent, Ja) => "受信確認をデータグラムで送り返しました".into(),
            (Line::DatagramSent, En) => {
                "Sent a datagram to the server (no connection was made)".into()
            }
            (Line::DatagramSent, Ja) => {
                "サーバーへデータグラムを送信しました（接続はしていません）".into()
            }
            (Line::DatagramTooBig { peer, limit }, En) => format!(
                "Dropped a datagram from {}: longer than {limit} bytes",
                PyAddr(*peer)
            ),
            (Line::DatagramTooBig { peer, limit }, Ja) => format!(
                "{} からのデータグラムは {limit} バイトを超えたため捨てました",
                PyAddr(*peer)
            ),
            (Line::NoAck { waited }, En) => format!(
                "No acknowledgement within {} ms: UDP does not guarantee delivery, \
                 and nobody may be listening",
                waited.as_millis()
            ),
            (Line::NoAck { waited }, Ja) => format!(
                "{} ms 以内に受信確認が返ってきませんでした : UDP は配達を保証しません。\
                 誰も待ち受けていないのかもしれません",
                waited.as_millis()
            ),
        }
    }
}

/// An address the way the lesson's Python server printed it: `('127.0.0.1', 50123)`.
///
/// Python's `accept()` returns the peer as a tuple, `(host, port)` for IPv4 and
/// `(host, port, flowinfo, scope_id)` for IPv6; the lesson printed that tuple as is.
#[derive(Debug, Clone, Copy)]
pub struct PyAddr(pub SocketAddr);

impl fmt::Display for PyAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            SocketAddr::V4(a) => write!(f, "('{}', {})", a.ip(), a.port()),
            SocketAddr::V6(a) => write!(
                f,
                "('{}', {}, {}, {})",
                a.ip(),
                a.port(),
                a.flowinfo(),
                a.scope_id()
            ),
        }
    }
}

/// A duration as a person says it: whole seconds when it is whole seconds, else ms.
struct Span(Duration, Lang);

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Span(d, lang) = *self;
        match (d.subsec_nanos() == 0, lang) {
            (true, Lang::En) => write!(f, "{} s", d.as_secs()),
            (true, Lang::Ja) => write!(f, "{} 秒間", d.as_secs()),
            (false, Lang::En) => write!(f, "{} ms", d.as_millis()),
            (false, Lang::Ja) => write!(f, "{} ミリ秒間", d.as_millis()),
        }
    }
}

type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// Tells the lesson: renders each [`Line`] in one language and hands it to a sink.
///
/// The sink is a callback rather than a writer because the concurrent server narrates from
/// many tasks at once: each call delivers one whole line, so lines never interleave
/// mid-line. The CLI's sink prints to stdout; tests collect the lines.
/// Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Narrator {
    lang: Lang,
    /// The client every line is about ([`Narrator::for_client`]), labelled in each line.
    client: Option<u64>,
    sink: Sink,
}

impl fmt::Debug for Narrator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Narrator")
            .field("lang", &self.lang)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl Narrator {
    /// A narrator in `lang` that hands every rendered line (no newline) to `sink`.
    pub fn new(lang: Lang, sink: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Narrator {
            lang,
            client: None,
            sink: Arc::new(sink),
        }
    }

    /// A narrator that says nothing (for callers that only want the result).
    pub fn silent(lang: Lang) -> Self {
        Self::new(lang, |_| {})
    }

    /// The language lines are rendered in (and the server's acknowledgement is sent in).
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// The same narrator for the lines about client number `id`: each starts with the
    /// client's label ([`Lang::client_label`]), so when many clients are served at once a
    /// reader can tell whose line is whose.
    pub fn for_client(&self, id: u64) -> Narrator {
        Narrator {
            client: Some(id),
            ..self.clone()
        }
    }

    /// Renders `line` and delivers it.
    pub fn say(&self, line: Line<'_>) {
        let text = line.render(self.lang);
        match self.client {
            Some(id) => (self.sink)(&format!("{}{text}", self.lang.client_label(id))),
            None => (self.sink)(&text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// The lesson's Japanese, word for word.
    #[test]
    fn japanese_lines_are_the_lessons_own() {
        let ja = |line: Line<'_>| line.render(Lang::Ja);
        let greeting = Lang::Ja.greeting();
        let ack = Lang::Ja.acknowledgement();
        assert_eq!(greeting, "こんにちはサーバーさん。私はクライアントです");
        assert_eq!(ack, "サーバーです。データをしっかり受け取りました");
        let table = [
            (
                ja(Line::Bound { port: 2000 }),
                "サーバーはポートNO. 2000 にバインドされました",
            ),
            (
                ja(Line::Listening),
                "サーバーはクライアントをリスニング中です",
            ),
            (ja(Line::Connected), "サーバーへ接続しました"),
            (ja(Line::Sent), "サーバーへデータを送信しました"),
            (
                ja(Line::ClientAddress(v4(50123))),
                "クライアントのアドレスを受信しました : ('127.0.0.1', 50123)",
            ),
            (
                ja(Line::Received(greeting)),
                "クライアントからのデータを受信しました : こんにちはサーバーさん。私はクライアントです",
            ),
            (ja(Line::ConnectionClosed), "コネクションは閉じられました"),
            (ja(Line::ServerClosed), "サーバーソケットは閉じられました"),
            (
                ja(Line::AckReceived(ack)),
                "サーバーからの受信確認が返ってきました : サーバーです。データをしっかり受け取りました",
            ),
            (ja(Line::ClientClosed), "クライアントソケットを閉じました"),
        ];
        for (got, want) in table {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn english_lines_translate_the_lesson() {
        let en = |line: Line<'_>| line.render(Lang::En);
        let table = [
            (en(Line::Bound { port: 2000 }), "Server bound to port 2000"),
            (en(Line::Listening), "Server is listening for clients"),
            (en(Line::Connected), "Connected to the server"),
            (en(Line::Sent), "Sent data to the server"),
            (
                en(Line::ClientAddress(v4(50123))),
                "Received the client's address : ('127.0.0.1', 50123)",
            ),
            (
                en(Line::Received(Lang::En.greeting())),
                "Received data from the client : Hello server. I am the client",
            ),
            (en(Line::ConnectionClosed), "Connection closed"),
            (en(Line::ServerClosed), "Server socket closed"),
            (
                en(Line::AckReceived(Lang::En.acknowledgement())),
                "The server's acknowledgement came back : \
                 This is the server. I received your data safely",
            ),
            (en(Line::ClientClosed), "Closed the client socket"),
            (
                en(Line::NoAck {
                    waited: Duration::from_millis(2000),
                }),
                "No acknowledgement within 2000 ms: UDP does not guarantee delivery, \
                 and nobody may be listening",
            ),
        ];
        for (got, want) in table {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn addresses_print_as_python_tuples() {
        assert_eq!(PyAddr(v4(2000)).to_string(), "('127.0.0.1', 2000)");
        let v6: SocketAddr = "[::1]:2000".parse().unwrap();
        assert_eq!(PyAddr(v6).to_string(), "('::1', 2000, 0, 0)");
    }

    #[test]
    fn idle_timeout_says_seconds_or_milliseconds() {
        let line = |after| Line::IdleTimeout { peer: v4(5), after };
        assert_eq!(
            line(Duration::from_secs(30)).render(Lang::En),
            "No data from ('127.0.0.1', 5) within 30 s: closing the connection"
        );
        assert_eq!(
            line(Duration::from_millis(250)).render(Lang::Ja),
            "('127.0.0.1', 5) から 250 ミリ秒間 データが届かないため、コネクションを閉じます"
        );
    }

    #[test]
    fn narrator_renders_in_its_language() {
        let said = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = said.clone();
        let narrator = Narrator::new(Lang::Ja, move |line| {
            sink.lock().unwrap().push(line.to_owned())
        });
        narrator.say(Line::Connected);
        narrator.for_client(3).say(Line::ConnectionClosed);
        assert_eq!(
            *said.lock().unwrap(),
            [
                "サーバーへ接続しました",
                "[クライアント3] コネクションは閉じられました"
            ]
        );
    }

    #[test]
    fn busy_line_is_known_in_both_languages() {
        assert!(is_busy(Lang::En.busy()));
        assert!(is_busy(Lang::Ja.busy()));
        assert!(!is_busy(Lang::En.acknowledgement()));
        assert_eq!(
            Line::TooManyClients {
                peer: v4(5),
                limit: 2
            }
            .render(Lang::En),
            "Too many clients (the limit is 2 at once): told ('127.0.0.1', 5) the server is \
             busy and closed the connection"
        );
    }
}
