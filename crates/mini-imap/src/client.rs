//! A small IMAP client for `yubin imap ...`: enough to log in, list, ask STATUS, fetch and
//! search on any IMAP4rev1 server.
//!
//! Responses are read as whole items: a line, plus any literals it announces (`{n}`)
//! and the lines that follow them, so an 8-bit message body arrives intact.

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use yubin_core::stream::Stream;
use yubin_core::tls::TlsConnector;
use yubin_core::{Secret, Transcript};

use crate::command::{Command, CommandBody, Compression};
use crate::request::encode_command;
pub use crate::value::{Value, parse_items};

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The connection failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
    /// The server said NO or BAD.
    #[error("server said {status}: {text}")]
    Refused {
        /// `NO` or `BAD`.
        status: String,
        /// The rest of the line.
        text: String,
    },
    /// The server sent something this client cannot read.
    #[error("unexpected response: {0}")]
    Protocol(String),
}

/// The untagged responses of one command, and its completion.
#[derive(Debug, Clone)]
pub struct Response {
    /// Each untagged response, without `* ` and the final CRLF, literals inline.
    pub untagged: Vec<Vec<u8>>,
    /// The completion text after `tag OK`.
    pub text: String,
}

/// One line of LIST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// `\HasChildren`, `\Sent`, ...
    pub attributes: Vec<String>,
    /// The hierarchy delimiter, if any.
    pub delimiter: Option<String>,
    /// The mailbox name.
    pub name: String,
}

/// One message of a FETCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Sequence number.
    pub seq: u32,
    /// The items, name → value.
    pub items: Vec<(String, Value)>,
}

impl Fetched {
    /// The value of a named item (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.items
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// A connection to an IMAP server (plaintext, IMAPS, or upgraded with STARTTLS).
pub struct ImapClient<S = Stream> {
    reader: BufReader<tokio::io::ReadHalf<S>>,
    writer: tokio::io::WriteHalf<S>,
    next_tag: u32,
    transcript: Transcript,
}

impl ImapClient<Stream> {
    /// Connects and reads the greeting.
    pub async fn connect(addr: &str, transcript: Transcript) -> Result<Self, ClientError> {
        let stream = TcpStream::connect(addr).await?;
        ImapClient::over(Stream::Plain(stream), transcript).await
    }

    /// Connects to an IMAPS port (implicit TLS, RFC 8314); `host` is the name the
    /// certificate must carry.
    pub async fn connect_tls(
        addr: &str,
        host: &str,
        tls: &TlsConnector,
        transcript: Transcript,
    ) -> Result<Self, ClientError> {
        let tcp = TcpStream::connect(addr).await?;
        ImapClient::over(handshake(tcp, host, tls).await?, transcript).await
    }

    /// `STARTTLS` (RFC 3501 §6.2.1): upgrades this connection before logging in.
    pub async fn starttls(mut self, host: &str, tls: &TlsConnector) -> Result<Self, ClientError> {
        self.run(CommandBody::StartTls).await?;
        let ImapClient {
            reader,
            writer,
            next_tag,
            transcript,
        } = self;
        // Bytes buffered after the OK would be plaintext injected in the middle: dropped.
        let Stream::Plain(tcp) = reader.into_inner().unsplit(writer) else {
            return Err(ClientError::Protocol("STARTTLS on a TLS connection".into()));
        };
        let (r, w) = tokio::io::split(handshake(tcp, host, tls).await?);
        Ok(ImapClient {
            reader: BufReader::new(r),
            writer: w,
            next_tag,
            transcript,
        })
    }
}

impl ImapClient<Stream> {
    /// `COMPRESS DEFLATE` (RFC 4978 §3): from the OK on, both directions are raw DEFLATE
    /// (inside TLS, if the connection has it). Valid after login.
    pub async fn compress(mut self) -> Result<Self, ClientError> {
        self.run(CommandBody::Compress(Compression::Deflate))
            .await?;
        let ImapClient {
            reader,
            writer,
            next_tag,
            transcript,
        } = self;
        // Whatever the server sent after its OK is compressed already.
        let already = reader.buffer().to_vec();
        let stream = reader.into_inner().unsplit(writer).compress(&already)?;
        transcript.server(b"[compression on; the rest is shown decompressed]");
        let (r, w) = tokio::io::split(stream);
        Ok(ImapClient {
            reader: BufReader::new(r),
            writer: w,
            next_tag,
            transcript,
        })
    }
}

async fn handshake(tcp: TcpStream, host: &str, tls: &TlsConnector) -> Result<Stream, ClientError> {
    Ok(yubin_core::tls::connect(tcp, host, tls).await?)
}

impl<S: AsyncRead + AsyncWrite> ImapClient<S> {
    /// Runs over an established stream; reads the greeting.
    pub async fn over(stream: S, transcript: Transcript) -> Result<Self, ClientError> {
        let (r, w) = tokio::io::split(stream);
        let mut client = ImapClient {
            reader: BufReader::new(r),
            writer: w,
            next_tag: 1,
            transcript,
        };
        let greeting = client.read_item().await?;
        if greeting.starts_with(b"* BYE") {
            return Err(ClientError::Refused {
                status: "BYE".into(),
                text: String::from_utf8_lossy(&greeting).into_owned(),
            });
        }
        Ok(client)
    }

    /// Reads one response item: a line and any literals it announces.
    async fn read_item(&mut self) -> Result<Vec<u8>, ClientError> {
        let mut item = Vec::new();
        loop {
            let mut line = Vec::new();
            if self.reader.read_until(b'\n', &mut line).await? == 0 {
                return Err(ClientError::Closed);
            }
            self.transcript.server(&line);
            item.extend_from_slice(&line);
            let trimmed = line
                .strip_suffix(b"\r\n")
                .or(line.strip_suffix(b"\n"))
                .unwrap_or(&line);
            let Some(n) = literal_size(trimmed) else {
                return Ok(item);
            };
            let mut data = vec![0; n];
            self.reader.read_exact(&mut data).await?;
            item.extend_from_slice(&data);
        }
    }

    /// Sends a command and collects its responses until the tagged completion.
    pub async fn run(&mut self, body: CommandBody) -> Result<Response, ClientError> {
        let tag = format!("y{}", self.next_tag);
        self.next_tag += 1;
        let cmd = Command {
            tag: tag.clone(),
            body,
        };
        let bytes = encode_command(&cmd);
        match &cmd.body {
            CommandBody::Login { user, .. } => {
                let shown = format!("{tag} LOGIN {user} ");
                self.transcript.client_masked(shown.as_bytes(), shown.len());
            }
            _ => self
                .transcript
                .client(bytes.strip_suffix(b"\r\n").unwrap_or(&bytes)),
        }
        self.writer.write_all(&bytes).await?;
        self.writer.flush().await?;
        let mut untagged = Vec::new();
        loop {
            let item = self.read_item().await?;
            let body = item.strip_suffix(b"\r\n").unwrap_or(&item);
            if let Some(rest) = body.strip_prefix(b"* ") {
                untagged.push(rest.to_vec());
                continue;
            }
            if body.starts_with(b"+") {
                // A continuation we did not ask for (a server without LITERAL+): give up
                // rather than guess.
                return Err(ClientError::Protocol(
                    "server asked for a continuation".into(),
                ));
            }
            let text = String::from_utf8_lossy(body).into_owned();
            let Some(rest) = text.strip_prefix(&format!("{tag} ")) else {
                return Err(ClientError::Protocol(text));
            };
            let (status, text) = rest.split_once(' ').unwrap_or((rest, ""));
            if status.eq_ignore_ascii_case("OK") {
                return Ok(Response {
                    untagged,
                    text: text.to_owned(),
                });
            }
            return Err(ClientError::Refused {
                status: status.to_owned(),
                text: text.to_owned(),
            });
        }
    }

    /// LOGIN.
    pub async fn login(&mut self, user: &str, password: &Secret) -> Result<(), ClientError> {
        self.run(CommandBody::Login {
            user: user.to_owned(),
            password: password.clone(),
        })
        .await
        .map(|_| ())
    }

    /// CAPABILITY: the server's capability names.
    pub async fn capability(&mut self) -> Result<Vec<String>, ClientError> {
        let r = self.run(CommandBody::Capability).await?;
        Ok(r.untagged
            .iter()
            .filter_map(|u| u.strip_prefix(b"CAPABILITY "))
            .flat_map(|c| {
                String::from_utf8_lossy(c)
                    .split(' ')
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect())
    }

    /// LIST reference pattern.
    pub async fn list(
        &mut self,
        reference: &str,
        pattern: &str,
    ) -> Result<Vec<ListEntry>, ClientError> {
        let r = self
            .run(CommandBody::List {
                reference: reference.to_owned(),
                pattern: pattern.to_owned(),
            })
            .await?;
        Ok(r.untagged
            .iter()
            .filter_map(|u| u.strip_prefix(b"LIST "))
            .filter_map(|u| {
                let items = parse_items(u);
                let [Value::List(attrs), delim, name] = items.as_slice() else {
                    return None;
                };
                Some(ListEntry {
                    attributes: attrs.iter().filter_map(Value::text).collect(),
                    delimiter: delim.text(),
                    name: name.text()?,
                })
            })
            .collect())
    }

    /// STATUS mailbox (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN).
    pub async fn status(&mut self, mailbox: &str) -> Result<Vec<(String, u64)>, ClientError> {
        use crate::command::StatusItem as S;
        let r = self
            .run(CommandBody::Status {
                mailbox: mailbox.to_owned(),
                items: vec![
                    S::Messages,
                    S::Recent,
                    S::UidNext,
                    S::UidValidity,
                    S::Unseen,
                ],
            })
            .await?;
        for u in &r.untagged {
            if let Some(rest) = u.strip_prefix(b"STATUS ") {
                let items = parse_items(rest);
                if let Some(Value::List(values)) = items.get(1) {
                    let pairs = values
                        .chunks(2)
                        .filter_map(|p| {
                            let name = p.first()?.text()?;
                            let n = p.get(1)?.text()?.parse().ok()?;
                            Some((name, n))
                        })
                        .collect();
                    return Ok(pairs);
                }
            }
        }
        Err(ClientError::Protocol("no STATUS response".into()))
    }

    /// SELECT (or EXAMINE when `read_only`); returns the untagged responses.
    pub async fn select(
        &mut self,
        mailbox: &str,
        read_only: bool,
    ) -> Result<Response, ClientError> {
        let body = if read_only {
            CommandBody::Examine {
                mailbox: mailbox.to_owned(),
                params: Default::default(),
            }
        } else {
            CommandBody::Select {
                mailbox: mailbox.to_owned(),
                params: Default::default(),
            }
        };
        self.run(body).await
    }

    /// FETCH (or UID FETCH) with a raw item list such as `(UID FLAGS BODY.PEEK[])`.
    pub async fn fetch(&mut self, set: &str, items: &str) -> Result<Vec<Fetched>, ClientError> {
        let line = format!("x FETCH {set} {items}\r\n");
        let cmd = crate::parse::command(line.as_bytes())
            .map_err(|e| ClientError::Protocol(format!("bad fetch request: {e}")))?;
        let r = self.run(cmd.body).await?;
        Ok(fetched_of(&r.untagged))
    }

    /// SEARCH with a raw query such as `CHARSET UTF-8 SUBJECT 郵便`; returns the numbers.
    pub async fn search(&mut self, query: &[u8], uid: bool) -> Result<Vec<u32>, ClientError> {
        let mut line = b"x SEARCH ".to_vec();
        line.extend_from_slice(query);
        line.extend_from_slice(b"\r\n");
        let cmd = crate::parse::command(&line)
            .map_err(|e| ClientError::Protocol(format!("bad search query: {e}")))?;
        let body = match cmd.body {
            CommandBody::Search {
                charset, criteria, ..
            } => CommandBody::Search {
                uid,
                ret: None,
                charset,
                criteria,
            },
            _ => return Err(ClientError::Protocol("not a search".into())),
        };
        let r = self.run(body).await?;
        Ok(r.untagged
            .iter()
            .filter_map(|u| u.strip_prefix(b"SEARCH"))
            .flat_map(|rest| {
                String::from_utf8_lossy(rest)
                    .split_whitespace()
                    .filter_map(|n| n.parse().ok())
                    .collect::<Vec<u32>>()
            })
            .collect())
    }

    /// LOGOUT.
    pub async fn logout(&mut self) -> Result<(), ClientError> {
        match self.run(CommandBody::Logout).await {
            Ok(_) | Err(ClientError::Closed) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The untagged FETCH responses among `untagged`, parsed.
pub fn fetched_of(untagged: &[Vec<u8>]) -> Vec<Fetched> {
    untagged
        .iter()
        .filter_map(|u| {
            let items = parse_items(u);
            let [Value::Number(seq), Value::Atom(word), Value::List(list)] = items.as_slice()
            else {
                return None;
            };
            if !word.eq_ignore_ascii_case("FETCH") {
                return None;
            }
            let pairs = list
                .chunks(2)
                .filter_map(|p| Some((p.first()?.text()?, p.get(1)?.clone())))
                .collect();
            Some(Fetched {
                seq: (*seq).try_into().ok()?,
                items: pairs,
            })
        })
        .collect()
}

/// The response code of a completion text, e.g. `APPENDUID 7 3` from
/// `[APPENDUID 7 3] APPEND completed`.
pub fn response_code(text: &str) -> Option<&str> {
    text.strip_prefix('[')?
        .split_once(']')
        .map(|(code, _)| code)
}

/// The writes of IMAP part 2 (RFC 3501 §6.3–§6.4, UIDPLUS, MOVE, IDLE).
impl<S: AsyncRead + AsyncWrite> ImapClient<S> {
    /// STORE (or UID STORE) with an action such as `+FLAGS (\Seen)`; returns the
    /// messages' new flags as the server reported them.
    pub async fn store(
        &mut self,
        set: &str,
        action: &str,
        uid: bool,
    ) -> Result<Vec<Fetched>, ClientError> {
        let prefix = if uid { "UID " } else { "" };
        let line = format!("x {prefix}STORE {set} {action}\r\n");
        let cmd = crate::parse::command(line.as_bytes())
            .map_err(|e| ClientError::Protocol(format!("bad store request: {e}")))?;
        let r = self.run(cmd.body).await?;
        Ok(fetched_of(&r.untagged))
    }

    /// COPY or MOVE (`is_move`), by sequence numbers or UIDs; returns the response, whose
    /// COPYUID code (RFC 4315) is in the completion text (COPY) or an untagged OK (MOVE).
    pub async fn copy(
        &mut self,
        set: &str,
        mailbox: &str,
        uid: bool,
        is_move: bool,
    ) -> Result<Response, ClientError> {
        let set = crate::parse::sequence_set(format!("{set}\r\n").as_bytes())
            .map(|(_, s)| s)
            .map_err(|_| ClientError::Protocol(format!("bad sequence set {set:?}")))?;
        let mailbox = mailbox.to_owned();
        let body = if is_move {
            CommandBody::Move { uid, set, mailbox }
        } else {
            CommandBody::Copy { uid, set, mailbox }
        };
        self.run(body).await
    }

    /// EXPUNGE, or UID EXPUNGE of `uids`; returns the expunged sequence numbers in the
    /// order the server reported them.
    pub async fn expunge(&mut self, uids: Option<&str>) -> Result<Vec<u32>, ClientError> {
        let body = match uids {
            None => CommandBody::Expunge,
            Some(set) => CommandBody::UidExpunge(
                crate::parse::sequence_set(format!("{set}\r\n").as_bytes())
                    .map(|(_, s)| s)
                    .map_err(|_| ClientError::Protocol(format!("bad UID set {set:?}")))?,
            ),
        };
        let r = self.run(body).await?;
        Ok(r.untagged
            .iter()
            .filter_map(|u| {
                let text = std::str::from_utf8(u).ok()?;
                let (n, word) = text.split_once(' ')?;
                word.eq_ignore_ascii_case("EXPUNGE")
                    .then(|| n.parse().ok())
                    .flatten()
            })
            .collect())
    }

    /// APPEND a message with flags and an optional internal date; the message goes as
    /// a non-synchronizing literal (LITERAL+). Returns the completion text (APPENDUID).
    ///
    /// A message whose header fields carry 8-bit text goes in RFC 6855 §4's UTF8 form
    /// ([`crate::request::encode_command`]), after `ENABLE UTF8=ACCEPT` when the server
    /// offers it: a server that does "MUST reject, with a "NO" response" such a message
    /// from a client that did not enable it. The connection then names mailboxes in
    /// UTF-8; `mailbox` is given as LIST shows it before (modified UTF-7), and is
    /// converted. Call it in the authenticated state (ENABLE is not valid once a
    /// mailbox is selected).
    pub async fn append(
        &mut self,
        mailbox: &str,
        flags: &[String],
        date: Option<chrono::DateTime<chrono::FixedOffset>>,
        message: &[u8],
    ) -> Result<String, ClientError> {
        let mut mailbox = mailbox.to_owned();
        if crate::op::append::HeaderScan::has_eight_bit(message)
            && self.capability().await?.iter().any(|c| c == "UTF8=ACCEPT")
        {
            self.run(CommandBody::Enable(vec!["UTF8=ACCEPT".into()]))
                .await?;
            mailbox = crate::mailbox_name::NameForm::Utf8
                .to_client(&mailbox)
                .into_owned();
        }
        let r = self
            .run(CommandBody::Append {
                mailbox,
                messages: vec![crate::command::AppendMessage {
                    flags: flags.to_vec(),
                    date,
                    data: crate::command::AppendData::Literal(message.to_vec()),
                }],
            })
            .await?;
        Ok(r.text)
    }

    /// CREATE a mailbox (and its missing parents).
    pub async fn create(&mut self, mailbox: &str) -> Result<(), ClientError> {
        self.run(CommandBody::Create(mailbox.to_owned()))
            .await
            .map(|_| ())
    }

    /// DELETE a mailbox.
    pub async fn delete(&mut self, mailbox: &str) -> Result<(), ClientError> {
        self.run(CommandBody::Delete(mailbox.to_owned()))
            .await
            .map(|_| ())
    }

    /// RENAME a mailbox (its children follow).
    pub async fn rename(&mut self, from: &str, to: &str) -> Result<(), ClientError> {
        self.run(CommandBody::Rename {
            from: from.to_owned(),
            to: to.to_owned(),
        })
        .await
        .map(|_| ())
    }

    /// IDLE (RFC 2177): hands every update to `on_update` (without `* ` and CRLF) until
    /// `stop` resolves, then sends DONE and waits for the completion; returns what `stop`
    /// gave. Call it again to go on idling: RFC 2177 asks clients to end IDLE at least
    /// every 29 minutes.
    pub async fn idle<T>(
        &mut self,
        mut on_update: impl FnMut(&[u8]),
        stop: impl std::future::Future<Output = T>,
    ) -> Result<T, ClientError> {
        let tag = format!("y{}", self.next_tag);
        self.next_tag += 1;
        let line = format!("{tag} IDLE\r\n");
        self.transcript.client(line.trim_end().as_bytes());
        self.writer.write_all(line.as_bytes()).await?;
        self.writer.flush().await?;
        loop {
            let item = self.read_item().await?;
            let body = item.strip_suffix(b"\r\n").unwrap_or(&item);
            if body.starts_with(b"+") {
                break;
            }
            match body.strip_prefix(b"* ") {
                Some(update) => on_update(update),
                None => return Err(refusal(&tag, body)),
            }
        }
        tokio::pin!(stop);
        let stopped = loop {
            tokio::select! {
                value = &mut stop => break value,
                item = self.read_item() => {
                    let item = item?;
                    let body = item.strip_suffix(b"\r\n").unwrap_or(&item);
                    match body.strip_prefix(b"* ") {
                        Some(update) => on_update(update),
                        None => return Err(refusal(&tag, body)),
                    }
                }
            }
        };
        self.transcript.client(b"DONE");
        self.writer.write_all(b"DONE\r\n").await?;
        self.writer.flush().await?;
        loop {
            let item = self.read_item().await?;
            let body = item.strip_suffix(b"\r\n").unwrap_or(&item);
            if let Some(update) = body.strip_prefix(b"* ") {
                on_update(update);
            } else if body.starts_with(format!("{tag} ").as_bytes()) {
                let text = String::from_utf8_lossy(body);
                if text[tag.len() + 1..].starts_with("OK") {
                    return Ok(stopped);
                }
                return Err(refusal(&tag, body));
            }
            // Anything else is the rest of a line cut short when `stop` won: skip it.
        }
    }
}

/// A tagged NO/BAD (or anything unexpected) as an error.
fn refusal(tag: &str, line: &[u8]) -> ClientError {
    let text = String::from_utf8_lossy(line).into_owned();
    match text.strip_prefix(&format!("{tag} ")) {
        Some(rest) => {
            let (status, text) = rest.split_once(' ').unwrap_or((rest, ""));
            ClientError::Refused {
                status: status.to_owned(),
                text: text.to_owned(),
            }
        }
        None => ClientError::Protocol(text),
    }
}

/// The size of a literal announced at the end of a response line.
fn literal_size(line: &[u8]) -> Option<usize> {
    crate::value::literal_suffix(line)?.size?.try_into().ok()
}
