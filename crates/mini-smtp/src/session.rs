//! The SMTP session state machine (RFC 5321 §4.1.4), without sockets.
//!
//! Connected → (EHLO/HELO) → Ready → (MAIL) → Transaction → (RCPT…, DATA) → Data →
//! (".") → Ready. A message is delivered to every recipient, or to none, before the
//! `250` that accepts it; a session that ends mid-DATA delivers nothing.

use bytes::BytesMut;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use yubin_core::driver::{self, After, Goodbyes, NoWatch, Phase, Reply};
use yubin_core::sasl::{self, Step};
use yubin_core::tls::TlsState;
use yubin_core::transcript::{Masked, Redaction, Shown};
use yubin_core::{Line, Lines, Secret};
use yubin_store::{Incoming, Refusal, Refused, Store, StoreError};

use crate::chaos::{Chaos, Stage};
use crate::command::{Command, MailParams};
use crate::parse;
use crate::response::{multi, plain, reply};

/// Settings of the SMTP protocol itself.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// Our host name: greeting, EHLO and the Received header. Also a local domain of the
    /// store once the server starts: mail to `user@hostname` is delivered here.
    pub hostname: String,
    /// Largest message accepted, in bytes, announced as `SIZE` (RFC 1870).
    pub max_message_size: usize,
    /// Most recipients in one transaction (RFC 5321 §4.5.3.1.8 asks for at least 100).
    pub max_recipients: usize,
    /// Refuse MAIL until the client has logged in with AUTH: 530 5.7.0 (RFC 4954 §6).
    pub require_auth: bool,
    /// Faults injected at MAIL, RCPT and AUTH, shared with whoever changes them (the HTTP
    /// API's `/api/v1/chaos`); off by default.
    pub chaos: Chaos,
    /// Messages delivered and recipients or messages refused, counted for whoever reads
    /// them (the HTTP API's `info`).
    pub stats: crate::stats::SmtpStats,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            hostname: "localhost".into(),
            max_message_size: 25 * 1024 * 1024,
            max_recipients: 100,
            require_auth: false,
            chaos: Chaos::disabled(),
            stats: crate::stats::SmtpStats::default(),
        }
    }
}

/// An SMTP session delivering into a store.
pub struct Session {
    store: Store,
    config: Arc<SmtpConfig>,
    peer: SocketAddr,
    /// The name the client gave in EHLO/HELO; `None` before it greeted.
    client_name: Option<String>,
    /// Whether it greeted with EHLO (RFC 3848: the Received header says ESMTP, not SMTP).
    extended: bool,
    /// Who logged in with AUTH, if anyone (AUTH is optional here: a local test server).
    authenticated: Option<String>,
    /// Whether the connection is encrypted, can be, or must be before mail or AUTH.
    tls: TlsState,
    state: State,
}

/// Where the session stands (RFC 5321 §4.1.4 orders the commands).
enum State {
    /// No mail transaction.
    Idle,
    /// MAIL accepted; collecting recipients.
    Transaction(Envelope),
    /// DATA accepted; collecting the message until the lone ".". `sent` counts the
    /// octets the client sent (RFC 1870 §5: the message size), which the limit applies to;
    /// the trace headers the server adds do not count.
    Data {
        envelope: Envelope,
        body: Body,
        sent: u64,
    },
    /// AUTH sent a challenge and waits for the client's answer (RFC 4954 §4).
    Auth(AuthStep),
    /// QUIT or a fatal error.
    Closed,
}

enum AuthStep {
    /// `AUTH PLAIN` without initial response: waiting for the credentials.
    Plain,
    /// `AUTH LOGIN`: waiting for the user name.
    LoginUser,
    /// `AUTH LOGIN`: waiting for the password of this user.
    LoginPassword(String),
}

struct Envelope {
    from: Option<String>,
    /// Forward-paths accepted by RCPT, as the client wrote them; the store resolved each
    /// one already (so a wrong one got its 550 at once) and resolves them again, the
    /// same way, when it delivers.
    recipients: Vec<String>,
}

/// The message being received, bounded by `max_message_size`. It goes to the store a
/// line at a time (`Store::incoming`: a file in Maildir's `tmp/`), so a session's memory
/// does not grow with the message.
enum Body {
    Receiving(Incoming),
    /// Over the limit: the rest is read and thrown away, then 552 (RFC 1870 §6.3).
    TooBig,
    /// A line past the framing limit: the rest is read and thrown away, then 554.
    LineTooLong,
    /// The store could not take a piece: the rest is read and thrown away, then 451.
    Failed(StoreError),
}

static MESSAGE_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Session {
    /// A new session for a client at `peer`, and the greeting to send.
    pub fn new(
        store: Store,
        config: Arc<SmtpConfig>,
        peer: SocketAddr,
        tls: TlsState,
    ) -> (Session, BytesMut) {
        let mut out = BytesMut::new();
        plain(
            &mut out,
            220,
            &format!("{} yubin ESMTP ready", config.hostname),
        );
        let session = Session {
            store,
            config,
            peer,
            client_name: None,
            extended: false,
            authenticated: None,
            tls,
            state: State::Idle,
        };
        (session, out)
    }

    /// Handles one framed line: a command, a DATA line, or an AUTH answer.
    pub fn handle_line(&mut self, line: &[u8]) -> Reply {
        let mut out = BytesMut::new();
        let after = match &mut self.state {
            State::Data { body, sent, .. } => {
                if line == b"." {
                    self.end_of_data(&mut out)
                } else {
                    // RFC 5321 §4.5.2: a leading "." was added by the client; remove it.
                    let line = line.strip_prefix(b".").unwrap_or(line);
                    *sent += line.len() as u64 + 2;
                    if let Body::Receiving(message) = body {
                        if *sent > self.config.max_message_size as u64 {
                            // Dropping the message removes what was written of it.
                            *body = Body::TooBig;
                        } else if let Err(e) =
                            message.write(line).and_then(|()| message.write(b"\r\n"))
                        {
                            *body = Body::Failed(e);
                        }
                    }
                    return Reply {
                        bytes: out,
                        after: After::Continue,
                    };
                }
            }
            State::Auth(_) => self.auth_answer(line, &mut out),
            _ => match parse::command(line) {
                Ok(cmd) => self.dispatch(cmd, &mut out),
                Err(e) => {
                    let (code, enhanced) = e.codes();
                    reply(&mut out, code, enhanced, &e.to_string());
                    After::Continue
                }
            },
        };
        Reply { bytes: out, after }
    }

    fn dispatch(&mut self, cmd: Command, out: &mut BytesMut) -> After {
        match cmd {
            Command::Ehlo(name) => {
                self.reset(Some(name.clone()));
                self.extended = true;
                let mut lines = vec![
                    format!("{} greets {name}", self.config.hostname),
                    "PIPELINING".into(),
                    "8BITMIME".into(),
                    format!("SIZE {}", self.config.max_message_size),
                    "ENHANCEDSTATUSCODES".into(),
                    "SMTPUTF8".into(),
                ];
                if self.tls.offer_starttls() {
                    lines.push("STARTTLS".into());
                }
                // RFC 4954 §4: do not offer mechanisms that would be refused anyway.
                if self.tls.login_allowed() {
                    lines.push("AUTH PLAIN LOGIN".into());
                }
                multi(out, 250, &lines);
            }
            Command::Helo(name) => {
                self.reset(Some(name));
                self.extended = false;
                plain(out, 250, &self.config.hostname);
            }
            Command::Mail { from, params } => self.mail(from, params, out),
            Command::Rcpt { to } => self.rcpt(to, out),
            Command::Data => self.data(out),
            Command::Rset => {
                // RFC 5321 §4.1.1.5: aborts the transaction, keeps the greeting.
                self.state = State::Idle;
                reply(out, 250, "2.0.0", "OK");
            }
            Command::Noop => reply(out, 250, "2.0.0", "OK"),
            Command::Help => reply(
                out,
                214,
                "2.0.0",
                "commands: EHLO HELO MAIL RCPT DATA RSET NOOP VRFY HELP QUIT AUTH",
            ),
            // RFC 5321 §3.5.3: 252 when the server will not verify but will try to deliver.
            Command::Vrfy(_) => reply(
                out,
                252,
                "2.5.0",
                "cannot VRFY user, but will accept message and attempt delivery",
            ),
            Command::Quit => {
                self.state = State::Closed;
                reply(
                    out,
                    221,
                    "2.0.0",
                    &format!("{} closing connection", self.config.hostname),
                );
                return After::Close;
            }
            Command::Auth { mechanism, initial } => return self.auth(mechanism, initial, out),
            Command::StartTls => return self.starttls(out),
        }
        After::Continue
    }

    /// EHLO/HELO (and RSET) clear any transaction (RFC 5321 §4.1.4).
    fn reset(&mut self, name: Option<String>) {
        if name.is_some() {
            self.client_name = name;
        }
        self.state = State::Idle;
    }

    fn mail(&mut self, from: Option<String>, params: MailParams, out: &mut BytesMut) {
        if self.client_name.is_none() {
            return reply(out, 503, "5.5.1", "send EHLO or HELO first");
        }
        if !self.tls.login_allowed() {
            // RFC 3207 §4: a server that requires TLS answers 530 until it is on.
            return reply(out, 530, "5.7.0", "must issue a STARTTLS command first");
        }
        if self.config.require_auth && self.authenticated.is_none() {
            // RFC 4954 §6: a server that requires authentication answers 530 until it is done.
            return reply(out, 530, "5.7.0", "Authentication required");
        }
        if !matches!(self.state, State::Idle) {
            return reply(out, 503, "5.5.1", "nested MAIL command");
        }
        if let Some(size) = params.size
            && size > self.config.max_message_size as u64
        {
            // RFC 1870 §6.2: refuse up front a message announced as too big.
            return reply(
                out,
                552,
                "5.3.4",
                "message size exceeds fixed maximum message size",
            );
        }
        if injected_fault(&self.config.chaos, Stage::Sender, out) {
            return;
        }
        self.state = State::Transaction(Envelope {
            from,
            recipients: Vec::new(),
        });
        reply(out, 250, "2.1.0", "sender OK");
    }

    fn rcpt(&mut self, to: String, out: &mut BytesMut) {
        let State::Transaction(envelope) = &mut self.state else {
            return reply(out, 503, "5.5.1", "send MAIL first");
        };
        if envelope.recipients.len() >= self.config.max_recipients {
            // RFC 5321 §4.5.3.1.10: 452 tells the client to send the rest later.
            return reply(out, 452, "4.5.3", "too many recipients");
        }
        if injected_fault(&self.config.chaos, Stage::Recipient, out) {
            self.config.stats.rejected();
            return;
        }
        // The one resolution every delivery path uses (`Store::resolve`): local domains
        // only, the local part names the account.
        match self.store.resolve(&to) {
            Ok(_) => {
                envelope.recipients.push(to);
                reply(out, 250, "2.1.5", "recipient OK");
            }
            Err(e) => match e.refusal() {
                Some(refusal) => {
                    self.config.stats.rejected();
                    refuse_recipient(out, &to, refusal)
                }
                None => {
                    tracing::warn!(error = %e, "cannot look up recipient");
                    store_failure(out, &e, "cannot look up the recipient now; try later")
                }
            },
        }
    }

    fn data(&mut self, out: &mut BytesMut) {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Transaction(envelope) if !envelope.recipients.is_empty() => {
                let recipients: Vec<&str> =
                    envelope.recipients.iter().map(String::as_str).collect();
                // Every recipient is resolved again, as the delivery will (RFC 5321
                // §4.1.1.4: all or none), before the client sends the message.
                let started = self.store.incoming(&recipients).and_then(|mut message| {
                    message.write(&self.trace_headers(&envelope))?;
                    Ok(message)
                });
                match started {
                    Ok(message) => {
                        self.state = State::Data {
                            envelope,
                            body: Body::Receiving(message),
                            sent: 0,
                        };
                        plain(out, 354, "end data with <CR><LF>.<CR><LF>");
                    }
                    Err(e) if e.refusal().is_some() => {
                        // A recipient accepted at RCPT no longer resolves (an account
                        // appeared that makes its name ambiguous, say): permanent.
                        tracing::warn!(error = %e, "recipient refused at DATA");
                        reply(out, 554, "5.1.0", &format!("{e}; nothing was delivered"));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot start receiving a message");
                        store_failure(out, &e, "cannot receive the message now; try again later");
                    }
                }
            }
            State::Transaction(envelope) => {
                self.state = State::Transaction(envelope);
                reply(out, 554, "5.5.1", "no valid recipients");
            }
            other => {
                self.state = other;
                reply(out, 503, "5.5.1", "send MAIL and RCPT first");
            }
        }
    }

    fn end_of_data(&mut self, out: &mut BytesMut) -> After {
        let State::Data { envelope, body, .. } = std::mem::replace(&mut self.state, State::Idle)
        else {
            return After::Continue;
        };
        let message = match body {
            Body::Receiving(message) => message,
            Body::TooBig => {
                self.config.stats.rejected();
                reply(
                    out,
                    552,
                    "5.3.4",
                    "message size exceeds fixed maximum message size; not delivered",
                );
                return After::Continue;
            }
            Body::LineTooLong => {
                self.config.stats.rejected();
                reply(
                    out,
                    554,
                    "5.6.0",
                    "a line of the message is too long; not delivered",
                );
                return After::Continue;
            }
            Body::Failed(e) => {
                tracing::warn!(error = %e, "receiving failed; nothing delivered");
                store_failure(out, &e, "delivery failed; nothing was delivered, try again");
                return After::Continue;
            }
        };
        let size = message.len();
        drop(envelope);
        // All recipients or none, durable before the 250 (RFC 5321 §4.1.1.4: the reply
        // means the server has taken responsibility for the message).
        match message.deliver() {
            Ok(delivered) => {
                self.config.stats.accepted(size as u64);
                let n = delivered.copies.len();
                reply(
                    out,
                    250,
                    "2.0.0",
                    &format!(
                        "OK: {size} bytes delivered to {n} mailbox{}",
                        if n == 1 { "" } else { "es" }
                    ),
                )
            }
            Err(e) if e.refusal().is_some() => {
                // A recipient accepted at RCPT no longer resolves (an account appeared
                // that makes its name ambiguous, say). Permanent, and nothing was written.
                tracing::warn!(error = %e, "recipient refused at delivery; nothing delivered");
                self.config.stats.rejected();
                reply(out, 554, "5.1.0", &format!("{e}; nothing was delivered"))
            }
            Err(e) => {
                tracing::warn!(error = %e, "delivery failed; nothing delivered");
                store_failure(out, &e, "delivery failed; nothing was delivered, try again")
            }
        }
        After::Continue
    }

    /// RFC 5321 §4.4: the final delivery adds `Return-Path`, and every server a `Received`.
    fn trace_headers(&self, envelope: &Envelope) -> Vec<u8> {
        let id = format!(
            "{:x}.{:x}",
            std::process::id(),
            MESSAGE_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let date = chrono::Local::now().to_rfc2822();
        let helo = self.client_name.as_deref().unwrap_or("unknown");
        let for_clause = match envelope.recipients.as_slice() {
            [only] => format!("\r\n\tfor <{only}>"),
            _ => String::new(),
        };
        // RFC 3848: the protocol, with S for TLS and A for an authenticated client.
        let with = match (self.extended, self.tls.active, self.authenticated.is_some()) {
            (false, _, _) => "SMTP",
            (true, false, false) => "ESMTP",
            (true, false, true) => "ESMTPA",
            (true, true, false) => "ESMTPS",
            (true, true, true) => "ESMTPSA",
        };
        // RFC 5321 §4.1.3: an IPv6 address literal is tagged; an IPv4 client on a
        // dual-stack socket is shown as the IPv4 address it is.
        let address = match self.peer.ip().to_canonical() {
            std::net::IpAddr::V4(v4) => format!("[{v4}]"),
            std::net::IpAddr::V6(v6) => format!("[IPv6:{v6}]"),
        };
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(
            format!(
                "Return-Path: <{}>\r\nReceived: from {helo} ({address})\r\n\tby {} (yubin) with {with} id {id}{for_clause};\r\n\t{date}\r\n",
                envelope.from.as_deref().unwrap_or(""),
                self.config.hostname,
            )
            .as_bytes(),
        );
        out
    }

    /// RFC 3207 §4: `220` then the handshake; refused when TLS is on or not offered.
    fn starttls(&mut self, out: &mut BytesMut) -> After {
        if self.tls.active {
            reply(out, 503, "5.5.1", "TLS already active");
        } else if !self.tls.upgradable {
            reply(out, 502, "5.5.1", "STARTTLS not available");
        } else if !matches!(self.state, State::Idle) {
            reply(
                out,
                503,
                "5.5.1",
                "STARTTLS not allowed during a mail transaction",
            );
        } else {
            reply(out, 220, "2.0.0", "ready to start TLS");
            return After::StartTls;
        }
        After::Continue
    }

    // ---- AUTH (RFC 4954) ----

    fn auth(&mut self, mechanism: String, initial: Option<Secret>, out: &mut BytesMut) -> After {
        if self.client_name.is_none() {
            reply(out, 503, "5.5.1", "send EHLO first");
            return After::Continue;
        }
        if self.authenticated.is_some() {
            reply(out, 503, "5.5.1", "already authenticated");
            return After::Continue;
        }
        if !self.tls.login_allowed() {
            reply(
                out,
                538,
                "5.7.11",
                "encryption required for authentication; use STARTTLS",
            );
            return After::Continue;
        }
        if !matches!(self.state, State::Idle) {
            reply(
                out,
                503,
                "5.5.1",
                "AUTH not allowed during a mail transaction",
            );
            return After::Continue;
        }
        // An injected refusal is not a failed login: the guard does not count it.
        if injected_fault(&self.config.chaos, Stage::Authentication, out) {
            return After::Continue;
        }
        match (mechanism.as_str(), initial) {
            ("PLAIN", initial) => {
                let initial = initial.as_ref().map(|ir| ir.expose().as_bytes());
                self.sasl_step(sasl::start("PLAIN", initial), out)
            }
            ("LOGIN", None) => {
                self.state = State::Auth(AuthStep::LoginUser);
                plain(out, 334, "VXNlcm5hbWU6"); // "Username:"
                After::Continue
            }
            ("LOGIN", Some(ir)) => {
                match decode_b64(ir.expose().as_bytes()).and_then(|u| String::from_utf8(u).ok()) {
                    Some(user) => {
                        self.state = State::Auth(AuthStep::LoginPassword(user));
                        plain(out, 334, "UGFzc3dvcmQ6"); // "Password:"
                        After::Continue
                    }
                    None => self.sasl_step(Step::NotBase64, out),
                }
            }
            _ => self.sasl_step(Step::Unsupported, out),
        }
    }

    fn auth_answer(&mut self, line: &[u8], out: &mut BytesMut) -> After {
        let State::Auth(step) = std::mem::replace(&mut self.state, State::Idle) else {
            return After::Continue;
        };
        if let AuthStep::Plain = step {
            return self.sasl_step(sasl::respond(line), out);
        }
        if line.trim_ascii() == b"*" {
            return self.sasl_step(Step::Cancelled, out);
        }
        let Some(raw) = decode_b64(line) else {
            return self.sasl_step(Step::NotBase64, out);
        };
        match step {
            AuthStep::Plain => After::Continue,
            AuthStep::LoginUser => match String::from_utf8(raw) {
                Ok(user) => {
                    self.state = State::Auth(AuthStep::LoginPassword(user));
                    plain(out, 334, "UGFzc3dvcmQ6");
                    After::Continue
                }
                Err(_) => self.auth_failed(out),
            },
            AuthStep::LoginPassword(user) => match String::from_utf8(raw) {
                Ok(password) => self.check(&user, &Secret::from(password), out),
                Err(_) => self.auth_failed(out),
            },
        }
    }

    /// The SMTP words for each step of a SASL PLAIN exchange (RFC 4954 §4).
    fn sasl_step(&mut self, step: Step, out: &mut BytesMut) -> After {
        match step {
            Step::Challenge => {
                self.state = State::Auth(AuthStep::Plain);
                plain(out, 334, "");
                After::Continue
            }
            Step::Credentials(creds) => self.check(&creds.authcid, &creds.password, out),
            // RFC 4954 §4: a cancelled exchange gets 501.
            Step::Cancelled => {
                reply(out, 501, "5.0.0", "authentication cancelled");
                After::Continue
            }
            Step::NotBase64 => {
                reply(out, 501, "5.5.2", "response is not valid base64");
                After::Continue
            }
            Step::Refused(_) => self.auth_failed(out),
            Step::Unsupported => {
                reply(
                    out,
                    504,
                    "5.5.4",
                    "unrecognized authentication type; PLAIN and LOGIN are offered",
                );
                After::Continue
            }
        }
    }

    fn check(&mut self, user: &str, password: &Secret, out: &mut BytesMut) -> After {
        match self.store.authenticate(user, password) {
            Ok(account) => {
                self.authenticated = Some(account.name().to_owned());
                reply(out, 235, "2.7.0", "authentication successful");
                After::Continue
            }
            Err(_) => self.auth_failed(out),
        }
    }

    /// RFC 4954 §6: 535; the driver's login guard delays it and closes the connection
    /// after too many.
    fn auth_failed(&mut self, out: &mut BytesMut) -> After {
        reply(out, 535, "5.7.8", "authentication credentials invalid");
        After::LoginFailed
    }
}

/// SMTP commands that carry credentials: `AUTH` (the mechanism is shown).
pub const REDACTION: Redaction = Redaction {
    name_within: 0,
    secret: &[Masked::mechanism("AUTH")],
};

/// The lines an SMTP connection ends with (RFC 5321 §3.8: 421 when the server closes).
pub static GOODBYES: Goodbyes = Goodbyes {
    unframeable: b"500 5.5.6 input cannot be framed; closing\r\n",
    idle: b"421 4.4.2 idle timeout; closing\r\n",
    shutdown: b"421 4.3.2 server shutting down; closing\r\n",
    // The same 4.3.0 a store error gets mid-session.
    failure: b"421 4.3.0 internal server error; closing\r\n",
    too_many_failures: b"421 4.7.0 too many failed authentications; closing\r\n",
};

impl driver::Session for Session {
    type Frame = Line;
    type Codec = Lines;
    type Watch = NoWatch;

    fn handle(&mut self, frame: Line) -> Reply {
        match frame {
            Line::Complete(line) => self.handle_line(&line),
            Line::TooLong => {
                let mut out = BytesMut::new();
                match &mut self.state {
                    // Inside DATA the message is damaged: the rest is read and thrown
                    // away, and the final "." gets the refusal.
                    State::Data { body, .. } => *body = Body::LineTooLong,
                    State::Auth(_) => {
                        self.state = State::Idle;
                        reply(&mut out, 500, "5.5.6", "line too long");
                    }
                    // RFC 5321 §4.5.3.1.4: a command line is at most 512 octets.
                    _ => reply(&mut out, 500, "5.5.6", "line too long"),
                }
                Reply::next(out)
            }
        }
    }

    /// RFC 3207 §4.2: the server discards what it learnt from the client before TLS
    /// (the EHLO name, any AUTH); the client must send EHLO again.
    fn tls_started(&mut self) {
        self.tls = self.tls.started();
        self.client_name = None;
        self.authenticated = None;
        self.state = State::Idle;
    }

    fn phase(&self) -> Phase {
        match self.authenticated {
            Some(_) => Phase::Authenticated,
            None => Phase::Unauthenticated,
        }
    }

    fn shown(&self) -> Shown {
        match self.state {
            State::Auth(_) => Shown::Secret,
            // The first lines of the message are transcribed, the rest counted.
            State::Data { .. } => Shown::Body,
            _ => Shown::Command(&REDACTION),
        }
    }
}

/// The refusal sent to a connection over the server's limit (RFC 5321 §3.1: 421).
pub const BUSY_LINE: &[u8] = b"421 4.3.2 too many connections; try again later\r\n";

/// Answers a fault injected at `stage` (chaos testing), if the dice say so; the command
/// then changes nothing. RFC 3463: the enhanced code is the reply's class with `.0.0`,
/// "other or undefined status".
fn injected_fault(chaos: &Chaos, stage: Stage, out: &mut BytesMut) -> bool {
    let Some(code) = chaos.roll(stage) else {
        return false;
    };
    let enhanced = format!("{}.0.0", code / 100);
    reply(out, code, &enhanced, &Chaos::text(stage));
    true
}

fn decode_b64(text: &[u8]) -> Option<Vec<u8>> {
    sasl::decode_base64(text.trim_ascii()).ok()
}

/// The reply to a store failure: a full disk or an unwritable store said as such (RFC
/// 5321 §4.2.2 452, RFC 3463 X.3.1 "mail system full"), an account limit as the refusal
/// of that recipient, anything else a temporary failure with `otherwise`.
fn store_failure(out: &mut BytesMut, e: &StoreError, otherwise: &str) {
    match (e.refused(), e) {
        (Some(Refused::DiskFull), _) => reply(
            out,
            452,
            "4.3.1",
            "insufficient system storage; nothing was delivered, try later",
        ),
        (Some(Refused::ReadOnly), _) => reply(
            out,
            451,
            "4.3.0",
            "the mail store cannot be written; nothing was delivered",
        ),
        (None, StoreError::Limit { .. }) => reply(
            out,
            550,
            "5.1.1",
            &format!("no such user here, and no account can be created: {e}"),
        ),
        (None, _) => reply(out, 451, "4.3.0", otherwise),
    }
}

/// The reply to a recipient the store refused (RFC 5321 §4.2.2, RFC 3463 codes).
fn refuse_recipient(out: &mut BytesMut, to: &str, refusal: Refusal) {
    match refusal {
        // RFC 5321 §3.6: a server need not relay, and refuses with 550 at RCPT; it
        // relays nothing (RFC 3463 X.7.1: delivery not authorized).
        Refusal::NotLocal => reply(
            out,
            550,
            "5.7.1",
            &format!(
                "<{to}>: relaying denied; this server only accepts mail for its local domains"
            ),
        ),
        // RFC 3463 X.1.4: destination mailbox address ambiguous.
        Refusal::Ambiguous => reply(
            out,
            550,
            "5.1.4",
            &format!("<{to}>: ambiguous; several accounts differ only in case, use the exact name"),
        ),
        // RFC 5321 §4.2.2: 553, mailbox name not allowed.
        Refusal::BadName => reply(
            out,
            553,
            "5.1.3",
            &format!("<{to}>: mailbox name not allowed here"),
        ),
        Refusal::Unknown => reply(out, 550, "5.1.1", &format!("<{to}>: no such user here")),
    }
}
