//! The POP3 session state machine (RFC 1939 §3), without sockets.
//!
//! `AUTHORIZATION → TRANSACTION → UPDATE`. Input is one framed line; output is a
//! [`Reply`]: the bytes to send and what the connection does next. The server glue
//! ([`crate::server`]) only moves bytes, so every rule here is unit-tested directly.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::BytesMut;
use md5::{Digest, Md5};
use yubin_core::driver::{self, After, Goodbyes, NoWatch, Phase, Reply};
use yubin_core::sasl::{self, Step};
use yubin_core::tls::TlsState;
use yubin_core::transcript::{Masked, Redaction, Shown};
use yubin_core::{Line, Lines, Secret};
use yubin_store::{Account, Mailbox, MaildropLock, Refused, Store, StoreError};

use crate::command::{AuthStart, Command, SaslResponse};
use crate::parse;
use crate::response::{self, RespCode};

/// What happens to a message a client retrieved, once it QUITs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Retention {
    /// The lesson's POP: RETR marks a message, QUIT removes it (CAPA `EXPIRE 0`).
    #[default]
    DeleteOnRetrieve,
    /// Classic RFC 1939: only DELE removes (CAPA `EXPIRE NEVER`).
    Keep,
}

impl std::str::FromStr for Retention {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "delete-on-retrieve" => Ok(Retention::DeleteOnRetrieve),
            "keep" => Ok(Retention::Keep),
            other => Err(format!(
                "unknown retention {other:?}: use delete-on-retrieve or keep"
            )),
        }
    }
}

/// Settings of the POP3 protocol itself (socket limits live in `yubin_core::ServerConfig`).
#[derive(Debug, Clone)]
pub struct PopConfig {
    /// What QUIT does with retrieved messages.
    pub retention: Retention,
    /// Host name used in the APOP timestamp of the greeting (RFC 1939 §7).
    pub hostname: String,
}

impl Default for PopConfig {
    fn default() -> Self {
        PopConfig {
            retention: Retention::DeleteOnRetrieve,
            hostname: "localhost".to_owned(),
        }
    }
}

/// A POP3 session over a store.
pub struct Session {
    store: Store,
    config: Arc<PopConfig>,
    /// The APOP timestamp announced in the greeting, `<...@host>` (RFC 1939 §7).
    timestamp: String,
    /// Whether the connection is encrypted, can be, or must be before a login.
    tls: TlsState,
    state: State,
}

enum State {
    /// RFC 1939 §4.
    Authorization(AuthStep),
    /// RFC 1939 §5: logged in, holding the maildrop lock and a snapshot of INBOX.
    Transaction(Maildrop),
    /// After QUIT (UPDATE done) or a forced close; no command is accepted.
    Closed,
}

enum AuthStep {
    /// Waiting for USER, APOP or AUTH.
    Start,
    /// USER was accepted; PASS must follow.
    User(String),
    /// `AUTH PLAIN` sent `+ `; the next line is the client's response.
    PlainChallenge,
}

/// The session's view of the maildrop, fixed at login: message numbers never shift.
struct Maildrop {
    account: Account,
    mailbox: Mailbox,
    uid_validity: u32,
    messages: Vec<Entry>,
    /// Held for the whole TRANSACTION state; dropping it (any way the session ends)
    /// lets the next POP session in.
    _lock: MaildropLock,
}

struct Entry {
    uid: u32,
    size: u64,
    mark: Mark,
}

/// A message's fate if the session QUITs now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    None,
    /// RETR sent it; removed at QUIT under `delete-on-retrieve`.
    Retrieved,
    /// DELE marked it; removed at QUIT always.
    Deleted,
}

static TIMESTAMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Session {
    /// A new session and the greeting to send (it carries the APOP timestamp).
    pub fn new(store: Store, config: Arc<PopConfig>, tls: TlsState) -> (Session, BytesMut) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let timestamp = format!(
            "<{}.{}.{}@{}>",
            std::process::id(),
            TIMESTAMP_COUNTER.fetch_add(1, Ordering::Relaxed),
            now.as_secs(),
            config.hostname
        );
        let mut out = BytesMut::new();
        response::ok(&mut out, &format!("yubin POP3 server ready {timestamp}"));
        let session = Session {
            store,
            config,
            timestamp,
            tls,
            state: State::Authorization(AuthStep::Start),
        };
        (session, out)
    }

    /// Whether the session is logged in (TRANSACTION state).
    pub fn is_authenticated(&self) -> bool {
        matches!(self.state, State::Transaction(_))
    }

    /// Handles one framed input line (without its terminator).
    pub fn handle_line(&mut self, line: &[u8]) -> Reply {
        let mut out = BytesMut::new();
        let after = if let State::Authorization(AuthStep::PlainChallenge) = self.state {
            self.sasl_continue(line, &mut out)
        } else {
            match parse::command(line) {
                Ok(cmd) => self.dispatch(cmd, &mut out),
                Err(e) => {
                    response::err(&mut out, None, &e.to_string());
                    After::Continue
                }
            }
        };
        Reply { bytes: out, after }
    }

    fn dispatch(&mut self, cmd: Command, out: &mut BytesMut) -> After {
        // Commands valid in any state first (RFC 2449 §5: CAPA in both states).
        match cmd {
            Command::Capa => {
                self.capa(out);
                return After::Continue;
            }
            Command::Quit => return self.quit(out),
            _ => {}
        }
        match &mut self.state {
            State::Authorization { .. } => self.authorization(cmd, out),
            State::Transaction(_) => self.transaction(cmd, out),
            State::Closed => {
                response::err(out, None, "session is closing");
                After::Close
            }
        }
    }

    // ---- AUTHORIZATION (RFC 1939 §4, §7; RFC 5034) ----

    fn authorization(&mut self, cmd: Command, out: &mut BytesMut) -> After {
        let carries_password = matches!(
            cmd,
            Command::User(_) | Command::Pass(_) | Command::Apop { .. } | Command::Auth(Some(_))
        );
        if carries_password && !self.tls.login_allowed() {
            // RFC 2595 §2.2 lets a server refuse plaintext logins; Dovecot answers this way.
            response::err(
                out,
                Some(RespCode::Auth),
                "plaintext authentication disallowed on a non-TLS connection; use STLS first",
            );
            return After::Continue;
        }
        let State::Authorization(step) = &mut self.state else {
            return After::Continue;
        };
        match cmd {
            Command::Stls => {
                *step = AuthStep::Start;
                if self.tls.offer_starttls() {
                    response::ok(out, "begin TLS negotiation");
                    return After::StartTls;
                }
                let why = if self.tls.active {
                    "already using TLS"
                } else {
                    "STLS not available"
                };
                response::err(out, None, why);
                After::Continue
            }
            Command::User(name) => {
                // Always +OK: telling which names exist would help password guessers.
                *step = AuthStep::User(name);
                response::ok(out, "send PASS");
                After::Continue
            }
            Command::Pass(password) => match std::mem::replace(step, AuthStep::Start) {
                AuthStep::User(name) => {
                    let result = self.store.authenticate(&name, &password);
                    self.finish_login(result, out)
                }
                _ => {
                    response::err(out, None, "send USER first");
                    After::Continue
                }
            },
            Command::Apop { user, digest } => {
                *step = AuthStep::Start;
                let timestamp = self.timestamp.clone();
                let result = self.store.authenticate_with(&user, |password| {
                    apop_digest(&timestamp, password) == digest
                });
                self.finish_login(result, out)
            }
            Command::Auth(None) => {
                // The pre-CAPA AUTH draft (and clients that still use it): list mechanisms.
                response::ok(out, "SASL mechanisms follow");
                response::data_line(out, b"PLAIN");
                response::end(out);
                After::Continue
            }
            Command::Auth(Some(AuthStart { mechanism, initial })) => {
                *step = AuthStep::Start;
                let initial = initial.as_ref().map(|ir| ir.expose().as_bytes());
                self.sasl_step(sasl::start(&mechanism, initial), out)
            }
            Command::Stat
            | Command::List(_)
            | Command::Retr(_)
            | Command::Dele(_)
            | Command::Noop
            | Command::Rset
            | Command::Top { .. }
            | Command::Uidl(_) => {
                response::err(
                    out,
                    None,
                    "not logged in: use USER and PASS, APOP or AUTH first",
                );
                After::Continue
            }
            Command::Capa | Command::Quit => After::Continue,
        }
    }

    fn sasl_continue(&mut self, line: &[u8], out: &mut BytesMut) -> After {
        self.state = State::Authorization(AuthStep::Start);
        match parse::sasl_response(line) {
            Ok(SaslResponse::Cancel) => self.sasl_step(Step::Cancelled, out),
            Ok(SaslResponse::Data(b64)) => {
                self.sasl_step(sasl::respond(b64.expose().as_bytes()), out)
            }
            Err(e) => {
                response::err(out, None, &e.to_string());
                After::Continue
            }
        }
    }

    /// The POP3 words for each step of a SASL exchange (RFC 5034 §4).
    fn sasl_step(&mut self, step: Step, out: &mut BytesMut) -> After {
        match step {
            Step::Challenge => {
                self.state = State::Authorization(AuthStep::PlainChallenge);
                // RFC 5034 §4: an empty challenge is "+" followed by a space.
                out.extend_from_slice(b"+ \r\n");
                After::Continue
            }
            Step::Credentials(creds) => {
                let result = self.store.authenticate(&creds.authcid, &creds.password);
                self.finish_login(result, out)
            }
            // RFC 5034 §4: the server rejects a cancelled exchange with -ERR.
            Step::Cancelled => {
                response::err(out, None, "authentication cancelled");
                After::Continue
            }
            Step::NotBase64 => {
                response::err(out, None, "response is not valid base64");
                After::Continue
            }
            Step::Refused(_) => self.login_failed(out),
            Step::Unsupported => {
                response::err(out, None, "unsupported SASL mechanism; PLAIN is offered");
                After::Continue
            }
        }
    }

    fn finish_login(&mut self, result: Result<Account, StoreError>, out: &mut BytesMut) -> After {
        let account = match result {
            Ok(account) => account,
            Err(StoreError::AuthFailed | StoreError::NoSuchAccount(_)) => {
                return self.login_failed(out);
            }
            Err(e @ StoreError::Limit { .. }) => {
                // RFC 3206: SYS/PERM, a condition that retrying will not change.
                response::err(out, Some(RespCode::SysPerm), &e.to_string());
                return After::Continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "login failed on a store error");
                response::err(
                    out,
                    Some(RespCode::SysTemp),
                    "cannot open the maildrop now; try later",
                );
                return After::Continue;
            }
        };
        let lock = match account.lock_maildrop() {
            Ok(lock) => lock,
            Err(StoreError::Locked(_)) => {
                // RFC 2449 §8.1.2: the credentials were right; the maildrop is busy.
                response::err(
                    out,
                    Some(RespCode::InUse),
                    "maildrop already locked by another POP session",
                );
                return After::Continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot lock maildrop");
                response::err(
                    out,
                    Some(RespCode::SysTemp),
                    "cannot lock the maildrop now; try later",
                );
                return After::Continue;
            }
        };
        match open_maildrop(account, lock) {
            Ok(drop) => {
                let (count, octets) = drop.totals();
                response::ok(
                    out,
                    &format!(
                        "{}'s maildrop has {count} messages ({octets} octets)",
                        drop.account.name()
                    ),
                );
                self.state = State::Transaction(drop);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read maildrop");
                response::err(
                    out,
                    Some(RespCode::SysTemp),
                    "cannot read the maildrop now; try later",
                );
            }
        }
        After::Continue
    }

    /// A wrong user or password: the driver's login guard delays the reply and closes
    /// the connection after too many.
    fn login_failed(&mut self, out: &mut BytesMut) -> After {
        response::err(out, Some(RespCode::Auth), "invalid user name or password");
        After::LoginFailed
    }

    // ---- TRANSACTION (RFC 1939 §5, §7) ----

    fn transaction(&mut self, cmd: Command, out: &mut BytesMut) -> After {
        let retention = self.config.retention;
        let State::Transaction(drop) = &mut self.state else {
            return After::Continue;
        };
        match cmd {
            Command::Stat => {
                let (count, octets) = drop.totals();
                response::ok(out, &format!("{count} {octets}"));
            }
            Command::List(None) => {
                let (count, octets) = drop.totals();
                response::ok(out, &format!("{count} messages ({octets} octets)"));
                for (n, e) in drop.visible() {
                    response::data_line(out, format!("{n} {}", e.size).as_bytes());
                }
                response::end(out);
            }
            Command::List(Some(n)) => match drop.get(n) {
                Ok(e) => response::ok(out, &format!("{n} {}", e.size)),
                Err(why) => response::err(out, None, why),
            },
            Command::Uidl(None) => {
                response::ok(out, "unique-id listing follows");
                for (n, e) in drop.visible() {
                    response::data_line(
                        out,
                        format!("{n} {}", unique_id(drop.uid_validity, e.uid)).as_bytes(),
                    );
                }
                response::end(out);
            }
            Command::Uidl(Some(n)) => match drop.get(n) {
                Ok(e) => response::ok(out, &format!("{n} {}", unique_id(drop.uid_validity, e.uid))),
                Err(why) => response::err(out, None, why),
            },
            Command::Retr(n) => match drop.read(n) {
                Ok(bytes) => {
                    response::ok(out, &format!("{} octets", bytes.len()));
                    response::message(out, &bytes, None);
                    let entry = &mut drop.messages[n as usize - 1];
                    if entry.mark == Mark::None && retention == Retention::DeleteOnRetrieve {
                        entry.mark = Mark::Retrieved;
                    }
                }
                Err(why) => response::err(out, None, &why),
            },
            Command::Top { msg, lines } => match drop.read(msg) {
                Ok(bytes) => {
                    // RFC 1939 §7 / DESIGN: TOP never marks a message.
                    response::ok(out, "top of message follows");
                    response::message(out, &bytes, Some(lines));
                }
                Err(why) => response::err(out, None, &why),
            },
            Command::Dele(n) => match drop.get(n) {
                Ok(_) => {
                    drop.messages[n as usize - 1].mark = Mark::Deleted;
                    response::ok(out, &format!("message {n} deleted"));
                }
                Err(why) => response::err(out, None, why),
            },
            Command::Rset => {
                for e in &mut drop.messages {
                    e.mark = Mark::None;
                }
                let (count, octets) = drop.totals();
                response::ok(
                    out,
                    &format!("maildrop has {count} messages ({octets} octets)"),
                );
            }
            Command::Noop => response::ok(out, ""),
            Command::User(_) | Command::Pass(_) | Command::Apop { .. } | Command::Auth(_) => {
                response::err(out, None, "already logged in");
            }
            // RFC 2595 §4: STLS is only permitted in the AUTHORIZATION state.
            Command::Stls => response::err(out, None, "STLS is only allowed before login"),
            Command::Capa | Command::Quit => {}
        }
        After::Continue
    }

    /// QUIT: in TRANSACTION, the UPDATE state commits the marks (RFC 1939 §6).
    fn quit(&mut self, out: &mut BytesMut) -> After {
        let state = std::mem::replace(&mut self.state, State::Closed);
        match state {
            State::Transaction(drop) => {
                let remove: Vec<u32> = drop
                    .messages
                    .iter()
                    .filter(|e| match e.mark {
                        Mark::Deleted => true,
                        Mark::Retrieved => self.config.retention == Retention::DeleteOnRetrieve,
                        Mark::None => false,
                    })
                    .map(|e| e.uid)
                    .collect();
                match drop.mailbox.expunge(&remove) {
                    Ok(removed) => {
                        let left = drop.messages.len() - remove.len();
                        response::ok(
                            out,
                            &format!(
                                "yubin POP3 server signing off ({} removed, {left} left on the server)",
                                removed.len()
                            ),
                        );
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "UPDATE failed");
                        // RFC 1939 §6: report that some deleted messages were not removed,
                        // and why when it is something a person can act on.
                        let (code, text) = match e.refused() {
                            Some(Refused::ReadOnly) => (
                                RespCode::SysPerm,
                                "the mail store cannot be written; nothing was removed",
                            ),
                            Some(Refused::DiskFull) => (
                                RespCode::SysTemp,
                                "not enough disk space; nothing was removed",
                            ),
                            None => (RespCode::SysTemp, "some messages could not be removed"),
                        };
                        response::err(out, Some(code), text);
                    }
                }
                // `drop` goes out of scope here: the maildrop lock is released after the
                // removal, never before.
            }
            _ => response::ok(out, "yubin POP3 server signing off"),
        }
        After::Close
    }

    fn capa(&self, out: &mut BytesMut) {
        response::ok(out, "capability list follows");
        let logins = self.tls.login_allowed();
        let caps = [
            (self.tls.offer_starttls(), "STLS"),
            (true, "TOP"),
            (logins, "USER"),
            (true, "UIDL"),
            (logins, "SASL PLAIN"),
            (true, "RESP-CODES"),
            (true, "AUTH-RESP-CODE"),
            (true, "PIPELINING"),
            (
                true,
                match self.config.retention {
                    // RFC 2449 §6.7: 0 = retrieved messages do not stay on the server.
                    Retention::DeleteOnRetrieve => "EXPIRE 0",
                    Retention::Keep => "EXPIRE NEVER",
                },
            ),
        ];
        for (_, cap) in caps.iter().filter(|(shown, _)| *shown) {
            response::data_line(out, cap.as_bytes());
        }
        response::data_line(
            out,
            format!("IMPLEMENTATION yubin-{}", env!("CARGO_PKG_VERSION")).as_bytes(),
        );
        response::end(out);
    }
}

fn open_maildrop(account: Account, lock: MaildropLock) -> Result<Maildrop, StoreError> {
    let mailbox = account.mailbox("INBOX")?;
    // RFC 1939 §3: the maildrop as it is at login, numbers fixed for the session. The
    // store's view is already up to date with what other programs dropped in.
    let view = mailbox.view()?;
    let status = view.status();
    let messages = view
        .sizes()
        .map(|(uid, size)| Entry {
            uid,
            size,
            mark: Mark::None,
        })
        .collect();
    Ok(Maildrop {
        account,
        mailbox,
        uid_validity: status.uid_validity,
        messages,
        _lock: lock,
    })
}

impl Maildrop {
    /// Messages not marked deleted, with their numbers.
    fn visible(&self) -> impl Iterator<Item = (usize, &Entry)> {
        self.messages
            .iter()
            .enumerate()
            .filter(|(_, e)| e.mark != Mark::Deleted)
            .map(|(i, e)| (i + 1, e))
    }

    /// (count, octets) of the messages not marked deleted (RFC 1939 §5 STAT).
    fn totals(&self) -> (usize, u64) {
        self.visible()
            .fold((0, 0), |(n, o), (_, e)| (n + 1, o + e.size))
    }

    fn get(&self, n: u32) -> Result<&Entry, &'static str> {
        match (n as usize)
            .checked_sub(1)
            .and_then(|i| self.messages.get(i))
        {
            None => Err("no such message"),
            Some(e) if e.mark == Mark::Deleted => Err("message is marked deleted"),
            Some(e) => Ok(e),
        }
    }

    fn read(&self, n: u32) -> Result<bytes::Bytes, String> {
        let uid = self.get(n)?.uid;
        // As stored: the byte-stuffing copy makes bare LF line ends CRLF on its way.
        self.mailbox.read_stored(uid).map_err(|e| match e {
            StoreError::NoSuchMessage(_) => format!("message {n} was removed by another session"),
            other => {
                tracing::warn!(error = %other, "read failed");
                "cannot read the message now".to_owned()
            }
        })
    }
}

/// UIDL value: UIDVALIDITY and UID together, so it stays the same across sessions and is
/// never reused, even if the mailbox is recreated (RFC 1939 §7: 1 to 70 printable chars).
fn unique_id(uid_validity: u32, uid: u32) -> String {
    format!("{uid_validity}.{uid}")
}

/// MD5 of the greeting's timestamp followed by the password, in lowercase hex (RFC 1939 §7).
pub fn apop_digest(timestamp: &str, password: &Secret) -> String {
    let mut md5 = Md5::new();
    md5.update(timestamp.as_bytes());
    md5.update(password.expose().as_bytes());
    md5.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// POP3 commands that carry credentials: `PASS` (all of it), `APOP` (the user is shown)
/// and `AUTH` (the mechanism is shown).
pub const REDACTION: Redaction = Redaction {
    name_within: 0,
    secret: &[
        Masked::user("PASS", 0),
        Masked::user("APOP", 1),
        Masked::mechanism("AUTH"),
    ],
};

/// The lines a POP3 connection ends with.
pub static GOODBYES: Goodbyes = Goodbyes {
    unframeable: b"-ERR line too long, closing\r\n",
    // RFC 1939 §3: an idle session is closed without entering UPDATE.
    idle: b"-ERR idle timeout, closing; no messages were removed\r\n",
    shutdown: b"-ERR [SYS/TEMP] server shutting down; no messages were removed\r\n",
    // RFC 3206's [SYS/TEMP], as a store failure gets mid-session.
    failure: b"-ERR [SYS/TEMP] internal server error; closing\r\n",
    // POP3 has no unsolicited response: the last -ERR [AUTH] is the goodbye.
    too_many_failures: b"",
};

impl driver::Session for Session {
    type Frame = Line;
    type Codec = Lines;
    type Watch = NoWatch;

    fn handle(&mut self, frame: Line) -> Reply {
        match frame {
            Line::Complete(line) => self.handle_line(&line),
            Line::TooLong => {
                // RFC 2449 §4: commands are at most 255 octets; a line over even the
                // framing limit is dropped and answered, and the session goes on.
                let mut out = BytesMut::new();
                response::err(&mut out, None, "line too long");
                Reply::next(out)
            }
        }
    }

    /// RFC 2595 §4: after STLS the client starts over (CAPA again); a half-done USER is
    /// forgotten.
    fn tls_started(&mut self) {
        self.tls = self.tls.started();
        if let State::Authorization(step) = &mut self.state {
            *step = AuthStep::Start;
        }
    }

    fn phase(&self) -> Phase {
        match self.state {
            State::Transaction(_) => Phase::Authenticated,
            _ => Phase::Unauthenticated,
        }
    }

    fn shown(&self) -> Shown {
        match self.state {
            State::Authorization(AuthStep::PlainChallenge) => Shown::Secret,
            _ => Shown::Command(&REDACTION),
        }
    }
}

/// The refusal sent to a connection over the server's limit.
pub const BUSY_LINE: &[u8] = b"-ERR [SYS/TEMP] too many connections, try again later\r\n";

#[cfg(test)]
mod tests {
    use super::*;
    use yubin_store::Flags;

    fn store_with(messages: &[&[u8]]) -> Store {
        let store = Store::memory();
        store.add_account("alice", Secret::from("secret")).unwrap();
        let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
        for m in messages {
            inbox.append(m, &Flags::new(), None).unwrap();
        }
        store
    }

    fn session(store: &Store, retention: Retention) -> Session {
        let config = PopConfig {
            retention,
            ..PopConfig::default()
        };
        Session::new(store.clone(), Arc::new(config), TlsState::default()).0
    }

    fn say(s: &mut Session, line: &str) -> (String, After) {
        let r = s.handle_line(line.as_bytes());
        (String::from_utf8(r.bytes.to_vec()).unwrap(), r.after)
    }

    fn first(s: &mut Session, line: &str) -> String {
        let (text, _) = say(s, line);
        text.split("\r\n").next().unwrap().to_owned()
    }

    const ALL: [&str; 15] = [
        "USER alice",
        "PASS secret",
        "APOP alice 00000000000000000000000000000000",
        "AUTH",
        "STAT",
        "LIST",
        "RETR 1",
        "DELE 1",
        "NOOP",
        "RSET",
        "TOP 1 0",
        "UIDL",
        "CAPA",
        "LIST 1",
        "UIDL 1",
    ];

    #[test]
    fn every_command_in_authorization_state() {
        let store = store_with(&[b"Subject: a\r\n\r\nbody\r\n"]);
        for cmd in ALL {
            let mut s = session(&store, Retention::DeleteOnRetrieve);
            let reply = first(&mut s, cmd);
            let want_ok = matches!(cmd, "USER alice" | "AUTH" | "CAPA");
            assert_eq!(reply.starts_with("+OK"), want_ok, "{cmd}: {reply}");
            assert!(!s.is_authenticated(), "{cmd}");
        }
        // PASS without USER is refused with a reason, not counted as a login.
        let mut s = session(&store, Retention::DeleteOnRetrieve);
        assert_eq!(first(&mut s, "PASS secret"), "-ERR send USER first");
        assert_eq!(first(&mut s, "QUIT"), "+OK yubin POP3 server signing off");
    }

    #[test]
    fn every_command_in_transaction_state() {
        let store = store_with(&[b"Subject: a\r\n\r\nbody\r\n"]);
        for cmd in ALL {
            let mut s = session(&store, Retention::DeleteOnRetrieve);
            assert!(first(&mut s, "USER alice").starts_with("+OK"));
            assert!(first(&mut s, "PASS secret").starts_with("+OK"));
            let reply = first(&mut s, cmd);
            let want_ok =
                !matches!(cmd, "USER alice" | "PASS secret" | "AUTH") && !cmd.starts_with("APOP");
            assert_eq!(reply.starts_with("+OK"), want_ok, "{cmd}: {reply}");
            assert!(s.is_authenticated());
            drop(s);
        }
    }

    #[test]
    fn nothing_is_accepted_after_quit() {
        let store = store_with(&[]);
        let mut s = session(&store, Retention::DeleteOnRetrieve);
        let (_, after) = say(&mut s, "QUIT");
        assert_eq!(after, After::Close);
        let (text, after) = say(&mut s, "STAT");
        assert!(text.starts_with("-ERR"));
        assert_eq!(after, After::Close);
    }

    #[test]
    fn retr_marks_and_quit_removes_under_delete_on_retrieve() {
        let store = store_with(&[b"A: 1\r\n\r\none\r\n", b"A: 2\r\n\r\ntwo\r\n"]);
        let mut s = session(&store, Retention::DeleteOnRetrieve);
        say(&mut s, "USER alice");
        assert_eq!(
            first(&mut s, "PASS secret"),
            "+OK alice's maildrop has 2 messages (26 octets)"
        );
        let (text, _) = say(&mut s, "RETR 1");
        assert_eq!(text, "+OK 13 octets\r\nA: 1\r\n\r\none\r\n.\r\n");
        // A retrieved message stays listed until QUIT.
        assert_eq!(first(&mut s, "STAT"), "+OK 2 26");
        let (text, after) = say(&mut s, "QUIT");
        assert!(text.starts_with("+OK"), "{text}");
        assert!(text.contains("1 removed, 1 left"), "{text}");
        assert_eq!(after, After::Close);
        let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
        assert_eq!(inbox.messages().unwrap().len(), 1);
    }

    #[test]
    fn keep_retention_removes_only_deleted() {
        let store = store_with(&[b"A: 1\r\n\r\none\r\n", b"A: 2\r\n\r\ntwo\r\n"]);
        let mut s = session(&store, Retention::Keep);
        say(&mut s, "USER alice");
        say(&mut s, "PASS secret");
        say(&mut s, "RETR 1");
        say(&mut s, "RETR 2");
        assert_eq!(first(&mut s, "DELE 2"), "+OK message 2 deleted");
        assert_eq!(first(&mut s, "DELE 2"), "-ERR message is marked deleted");
        assert_eq!(first(&mut s, "RETR 2"), "-ERR message is marked deleted");
        assert_eq!(first(&mut s, "STAT"), "+OK 1 13");
        say(&mut s, "QUIT");
        let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
        let left: Vec<u32> = inbox.messages().unwrap().iter().map(|m| m.uid).collect();
        assert_eq!(left.len(), 1);
    }

    #[test]
    fn rset_unmarks_and_dropping_the_session_removes_nothing() {
        let store = store_with(&[b"A: 1\r\n\r\none\r\n"]);
        let mut s = session(&store, Retention::DeleteOnRetrieve);
        say(&mut s, "USER alice");
        say(&mut s, "PASS secret");
        say(&mut s, "DELE 1");
        assert_eq!(
            first(&mut s, "RSET"),
            "+OK maildrop has 1 messages (13 octets)"
        );
        say(&mut s, "RETR 1");
        drop(s);
        let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
        assert_eq!(inbox.messages().unwrap().len(), 1);
        // ...and the lock went with the session.
        let mut again = session(&store, Retention::DeleteOnRetrieve);
        say(&mut again, "USER alice");
        assert!(first(&mut again, "PASS secret").starts_with("+OK"));
    }

    #[test]
    fn second_session_gets_in_use() {
        let store = store_with(&[]);
        let mut a = session(&store, Retention::DeleteOnRetrieve);
        say(&mut a, "USER alice");
        say(&mut a, "PASS secret");
        let mut b = session(&store, Retention::DeleteOnRetrieve);
        say(&mut b, "USER alice");
        assert!(first(&mut b, "PASS secret").starts_with("-ERR [IN-USE]"));
        assert!(!b.is_authenticated());
    }

    #[test]
    fn failed_logins_are_handed_to_the_login_guard() {
        let store = store_with(&[]);
        let mut s = session(&store, Retention::DeleteOnRetrieve);
        for user in ["alice", "nobody"] {
            say(&mut s, &format!("USER {user}"));
            let (text, after) = say(&mut s, "PASS wrong");
            assert_eq!(text, "-ERR [AUTH] invalid user name or password\r\n");
            assert_eq!(after, After::LoginFailed);
        }
        // A malformed PLAIN message is a failed login too; a non-base64 one is a syntax error.
        let (_, after) = say(&mut s, "AUTH PLAIN AGFsaWNl");
        assert_eq!(after, After::LoginFailed);
        let (text, after) = say(&mut s, "AUTH PLAIN %%%");
        assert!(text.starts_with("-ERR"), "{text}");
        assert_eq!(after, After::Continue);
    }

    #[test]
    fn apop_with_the_rfc_example_digest() {
        assert_eq!(
            apop_digest(
                "<1896.697170952@dbc.mtview.ca.us>",
                &Secret::from("tanstaaf")
            ),
            "c4c9334bac560ecc979e58001b3e22fb"
        );
        let store = store_with(&[]);
        let (mut s, greeting) = Session::new(
            store.clone(),
            Arc::new(PopConfig::default()),
            TlsState::default(),
        );
        let greeting = String::from_utf8(greeting.to_vec()).unwrap();
        let ts = &greeting[greeting.find('<').unwrap()..=greeting.find('>').unwrap()];
        let digest = apop_digest(ts, &Secret::from("secret"));
        assert!(first(&mut s, &format!("APOP alice {digest}")).starts_with("+OK"));
    }

    #[test]
    fn auth_plain_with_and_without_initial_response() {
        let store = store_with(&[]);
        // "\0alice\0secret"
        let ir = "AGFsaWNlAHNlY3JldA==";
        let mut s = session(&store, Retention::DeleteOnRetrieve);
        assert!(first(&mut s, &format!("AUTH PLAIN {ir}")).starts_with("+OK"));
        drop(s);
        let mut s = session(&store, Retention::DeleteOnRetrieve);
        assert_eq!(say(&mut s, "AUTH PLAIN").0, "+ \r\n");
        assert!(first(&mut s, ir).starts_with("+OK"));
        drop(s);
        let mut s = session(&store, Retention::DeleteOnRetrieve);
        say(&mut s, "AUTH PLAIN");
        assert_eq!(first(&mut s, "*"), "-ERR authentication cancelled");
        assert_eq!(
            first(&mut s, "AUTH CRAM-MD5"),
            "-ERR unsupported SASL mechanism; PLAIN is offered"
        );
        let (list, _) = say(&mut s, "AUTH");
        assert_eq!(list, "+OK SASL mechanisms follow\r\nPLAIN\r\n.\r\n");
    }

    #[test]
    fn capa_reflects_retention() {
        let store = store_with(&[]);
        let (text, _) = say(&mut session(&store, Retention::DeleteOnRetrieve), "CAPA");
        assert!(text.contains("\r\nEXPIRE 0\r\n"));
        for cap in [
            "TOP",
            "USER",
            "UIDL",
            "SASL PLAIN",
            "RESP-CODES",
            "AUTH-RESP-CODE",
            "PIPELINING",
        ] {
            assert!(text.contains(&format!("\r\n{cap}\r\n")), "{cap}");
        }
        let (text, _) = say(&mut session(&store, Retention::Keep), "CAPA");
        assert!(text.contains("\r\nEXPIRE NEVER\r\n"));
    }

    #[test]
    fn bad_numbers_are_refused_and_change_nothing() {
        let store = store_with(&[b"A: 1\r\n\r\none\r\n"]);
        let mut s = session(&store, Retention::DeleteOnRetrieve);
        say(&mut s, "USER alice");
        say(&mut s, "PASS secret");
        assert_eq!(first(&mut s, "RETR 0"), "-ERR no such message");
        assert_eq!(first(&mut s, "RETR 2"), "-ERR no such message");
        assert_eq!(first(&mut s, "DELE 9"), "-ERR no such message");
        assert_eq!(first(&mut s, "TOP 5 1"), "-ERR no such message");
        assert_eq!(
            first(&mut s, "RETR 99999999999"),
            "-ERR number out of range"
        );
        assert_eq!(first(&mut s, "STAT"), "+OK 1 13");
    }

    #[test]
    fn transcript_never_shows_passwords() {
        let lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let sink = lines.clone();
        let t =
            yubin_core::Transcript::to_sink(move |_, l| sink.lock().unwrap().push(l.to_owned()));
        let store = store_with(&[]);
        let (mut s, _) = Session::new(store, Arc::new(PopConfig::default()), TlsState::default());
        for l in [
            "AUTH PLAIN",
            "AGFsaWNlAHNlY3JldDI=",
            "AUTH PLAIN AGFsaWNlAHNlY3JldDI=",
            "USER alice",
            "PASS sec\x01ret",
            " pass  secret extra",
            "PASS secret",
        ] {
            // What the driver does with each line: show it as the session says, then
            // hand it over.
            t.client_input(l.as_bytes(), driver::Session::shown(&s));
            s.handle_line(l.as_bytes());
        }
        let all = lines.lock().unwrap().join("\n");
        assert!(
            !all.contains("secret") && !all.contains("AGFsaWNl"),
            "{all}"
        );
        assert!(all.contains("PASS ****"));
    }
}
