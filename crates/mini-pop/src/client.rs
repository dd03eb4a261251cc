//! A small POP3 client: what `yubin pop ...` uses against any POP3 server.

use futures_util::StreamExt;
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_util::codec::FramedRead;
use yubin_core::stream::Stream;
use yubin_core::tls::TlsConnector;
use yubin_core::{LineCodec, LineError, Secret, Transcript};

use crate::command::{AuthStart, Command};

/// Longest line the client accepts from a server. Message lines should stay under 998
/// octets (RFC 5322 §2.1.1) but real mail breaks that; this bound only stops a runaway.
pub const MAX_SERVER_LINE: usize = 1 << 20;

/// What went wrong talking to a POP3 server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The connection failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The server answered `-ERR`; the text is its reason.
    #[error("server said: {0}")]
    Server(String),
    /// The server broke the protocol (no `+OK`/`-ERR`, a closed connection, a long line).
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl From<LineError> for ClientError {
    fn from(e: LineError) -> Self {
        match e {
            LineError::Io(e) => ClientError::Io(e),
            other => ClientError::Protocol(other.to_string()),
        }
    }
}

/// Result of client calls.
pub type Result<T> = std::result::Result<T, ClientError>;

/// A connected POP3 client (plaintext, POP3S, or upgraded with STLS).
pub struct PopClient {
    lines: FramedRead<ReadHalf<Stream>, LineCodec>,
    writer: WriteHalf<Stream>,
    transcript: Transcript,
    greeting: String,
}

impl PopClient {
    /// Connects to `addr` (`host:port`) and reads the greeting.
    pub async fn connect(addr: &str, transcript: Transcript) -> Result<PopClient> {
        let stream = TcpStream::connect(addr).await?;
        Self::over(Stream::Plain(stream), transcript).await
    }

    /// Connects to a POP3S port (implicit TLS, RFC 8314) and reads the greeting;
    /// `host` is the name the certificate must carry.
    pub async fn connect_tls(
        addr: &str,
        host: &str,
        tls: &TlsConnector,
        transcript: Transcript,
    ) -> Result<PopClient> {
        let tcp = TcpStream::connect(addr).await?;
        let stream = handshake(tcp, host, tls).await?;
        Self::over(stream, transcript).await
    }

    /// `STLS` (RFC 2595 §4): upgrades this connection to TLS before logging in.
    pub async fn stls(self, host: &str, tls: &TlsConnector) -> Result<PopClient> {
        let mut this = self;
        this.command(&Command::Stls).await?;
        let PopClient {
            lines,
            writer,
            transcript,
            greeting,
        } = this;
        // Anything the server sent after +OK and before the handshake would be plaintext
        // injected by someone in the middle: dropped with the framer's buffer.
        let Stream::Plain(tcp) = lines.into_inner().unsplit(writer) else {
            return Err(ClientError::Protocol("STLS on a TLS connection".into()));
        };
        let stream = handshake(tcp, host, tls).await?;
        let (r, w) = tokio::io::split(stream);
        Ok(PopClient {
            lines: FramedRead::new(r, LineCodec::new(MAX_SERVER_LINE)),
            writer: w,
            transcript,
            greeting,
        })
    }

    async fn over(stream: Stream, transcript: Transcript) -> Result<PopClient> {
        let (r, w) = tokio::io::split(stream);
        let mut client = PopClient {
            lines: FramedRead::new(r, LineCodec::new(MAX_SERVER_LINE)),
            writer: w,
            transcript,
            greeting: String::new(),
        };
        client.greeting = client.status().await?;
        Ok(client)
    }

    /// The text of the server's greeting after `+OK`.
    pub fn greeting(&self) -> &str {
        &self.greeting
    }

    /// Sends a command and returns the text after `+OK`.
    pub async fn command(&mut self, cmd: &Command) -> Result<String> {
        self.send(cmd).await?;
        self.status().await
    }

    async fn send(&mut self, cmd: &Command) -> Result<()> {
        let line = cmd.encode();
        match cmd.visible_prefix() {
            Some(keep) => self.transcript.client_masked(&line, keep),
            None => self.transcript.client(&line),
        }
        let mut bytes = line;
        bytes.extend_from_slice(b"\r\n");
        self.writer.write_all(&bytes).await?;
        Ok(())
    }

    async fn line(&mut self) -> Result<Vec<u8>> {
        match self.lines.next().await {
            Some(Ok(line)) => {
                self.transcript.server(&line);
                Ok(line.to_vec())
            }
            Some(Err(e)) => Err(e.into()),
            None => Err(ClientError::Protocol("server closed the connection".into())),
        }
    }

    async fn status(&mut self) -> Result<String> {
        let line = self.line().await?;
        let text = String::from_utf8_lossy(&line).into_owned();
        if let Some(rest) = text.strip_prefix("+OK") {
            Ok(rest.trim_start().to_owned())
        } else if let Some(rest) = text.strip_prefix("-ERR") {
            Err(ClientError::Server(rest.trim_start().to_owned()))
        } else {
            Err(ClientError::Protocol(format!("unexpected reply: {text}")))
        }
    }

    /// Reads the lines of a multi-line response up to the `.`, un-stuffing them.
    async fn data(&mut self) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        loop {
            let line = self.line().await?;
            if line == b"." {
                return Ok(out);
            }
            // RFC 1939 §3: a leading "." was doubled by the server.
            let line = match line.strip_prefix(b".") {
                Some(rest) => rest.to_vec(),
                None => line,
            };
            out.push(line);
        }
    }

    async fn data_text(&mut self) -> Result<Vec<String>> {
        Ok(self
            .data()
            .await?
            .into_iter()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .collect())
    }

    /// `CAPA`: the server's capabilities (RFC 2449 §5).
    pub async fn capa(&mut self) -> Result<Vec<String>> {
        self.command(&Command::Capa).await?;
        self.data_text().await
    }

    /// `USER` then `PASS`.
    pub async fn login(&mut self, user: &str, password: &Secret) -> Result<String> {
        self.command(&Command::User(user.to_owned())).await?;
        self.command(&Command::Pass(password.clone())).await
    }

    /// `AUTH PLAIN` with an initial response (RFC 5034, RFC 4616).
    pub async fn auth_plain(&mut self, user: &str, password: &Secret) -> Result<String> {
        self.command(&Command::Auth(Some(AuthStart {
            mechanism: "PLAIN".into(),
            initial: Some(yubin_core::sasl::encode_plain(user, password)),
        })))
        .await
    }

    /// `STAT`: (messages, octets).
    pub async fn stat(&mut self) -> Result<(u32, u64)> {
        let text = self.command(&Command::Stat).await?;
        let mut it = text.split_whitespace();
        match (
            it.next().and_then(|n| n.parse().ok()),
            it.next().and_then(|n| n.parse().ok()),
        ) {
            (Some(n), Some(o)) => Ok((n, o)),
            _ => Err(ClientError::Protocol(format!("bad STAT reply: {text}"))),
        }
    }

    /// `LIST`: (number, octets) of every message.
    pub async fn list(&mut self) -> Result<Vec<(u32, u64)>> {
        self.command(&Command::List(None)).await?;
        self.data_text()
            .await?
            .iter()
            .map(|l| pair(l).and_then(|(n, s)| s.parse().ok().map(|s| (n, s))))
            .collect::<Option<_>>()
            .ok_or_else(|| ClientError::Protocol("bad LIST line".into()))
    }

    /// `UIDL`: (number, unique-id) of every message.
    pub async fn uidl(&mut self) -> Result<Vec<(u32, String)>> {
        self.command(&Command::Uidl(None)).await?;
        self.data_text()
            .await?
            .iter()
            .map(|l| pair(l).map(|(n, u)| (n, u.to_owned())))
            .collect::<Option<_>>()
            .ok_or_else(|| ClientError::Protocol("bad UIDL line".into()))
    }

    /// `RETR n`: the message, lines joined with CRLF.
    pub async fn retr(&mut self, n: u32) -> Result<Vec<u8>> {
        self.command(&Command::Retr(n)).await?;
        Ok(join(self.data().await?))
    }

    /// `TOP n lines`: the header and the first `lines` body lines.
    pub async fn top(&mut self, n: u32, lines: u32) -> Result<Vec<u8>> {
        self.command(&Command::Top { msg: n, lines }).await?;
        Ok(join(self.data().await?))
    }

    /// `DELE n`.
    pub async fn dele(&mut self, n: u32) -> Result<String> {
        self.command(&Command::Dele(n)).await
    }

    /// `RSET`.
    pub async fn rset(&mut self) -> Result<String> {
        self.command(&Command::Rset).await
    }

    /// `NOOP`.
    pub async fn noop(&mut self) -> Result<String> {
        self.command(&Command::Noop).await
    }

    /// `QUIT`: commits the session's marks on the server.
    pub async fn quit(mut self) -> Result<String> {
        let text = self.command(&Command::Quit).await?;
        let _ = self.writer.shutdown().await;
        Ok(text)
    }
}

async fn handshake(tcp: TcpStream, host: &str, tls: &TlsConnector) -> Result<Stream> {
    Ok(yubin_core::tls::connect(tcp, host, tls).await?)
}

fn pair(line: &str) -> Option<(u32, &str)> {
    let (n, rest) = line.split_once(' ')?;
    Some((n.parse().ok()?, rest.trim()))
}

fn join(lines: Vec<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines.iter().map(|l| l.len() + 2).sum());
    for l in lines {
        out.extend_from_slice(&l);
        out.extend_from_slice(b"\r\n");
    }
    out
}
