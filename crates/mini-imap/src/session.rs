//! The IMAP session state machine (RFC 3501 §3), without sockets.
//!
//! ```text
//!   not authenticated --LOGIN/AUTHENTICATE--> authenticated --SELECT/EXAMINE--> selected
//!          |                                    |        ^--CLOSE/UNSELECT------'  |
//!          '--------------LOGOUT----------------'--------LOGOUT-------------------'--> logout
//! ```
//!
//! Input is one framed command (or a SASL response line); output is a [`Reply`]: the
//! response bytes and what the connection does next. yubin-core's driver moves the bytes
//! ([`yubin_core::driver`]), so every rule here is unit-tested directly.
//!
//! This module keeps the state machine and the gate only. Before the dispatch `match`,
//! [`Session::check_state`] refuses a command that is not valid in the current state;
//! each handler (in [`crate::op`]) then does its own work, adds its untagged data to the
//! [`Responses`] and returns its [`Completion`]. The session ends every command the same
//! way: the updates the command may carry ([`op::updates`]), then the tagged completion.
//!
//! The selected state ([`Selected`]) keeps the client's numbering of the mailbox;
//! sequence numbers only change when the session reports a change (RFC 3501 §7.4.1).
//! IDLE pushes the same report whenever the mailbox's watch fires
//! ([`Session::idle_poll`]): one mechanism for every change, made by another session, an
//! SMTP delivery or a POP3 commit.

use std::sync::Arc;

use bytes::BytesMut;
use yubin_core::driver::{self, Goodbyes, Phase};
pub use yubin_core::driver::{After, Reply};
use yubin_core::sasl;
use yubin_core::tls::TlsState;
use yubin_core::transcript::{Masked, Redaction, Shown};
use yubin_store::{Account, AccountWatch, MailboxWatch, Store};

pub use crate::capability::{CAPABILITIES, Capabilities, Enabled};
use crate::codec::{Frame, ImapCodec, Rejection};
use crate::command::{Command, CommandBody, SelectParams};
use crate::mailbox_name::NameForm;
use crate::op;
use crate::op::auth::{Login, Sasl};
use crate::op::notify::Registration;
use crate::op::updates::{Allow, Updates};
use crate::parse::{self, ParseError};
use crate::response::{Code, Completion, Condition, Data, Responses, capitalize};
pub use crate::selected::Selected;

/// Sent to a connection over the connection limit.
pub const BUSY_LINE: &[u8] = b"* BYE [UNAVAILABLE] too many connections\r\n";

/// The lines an IMAP connection ends with (RFC 3501 §7.1.5: BYE).
pub static GOODBYES: Goodbyes = Goodbyes {
    unframeable: b"* BYE command too long, closing\r\n",
    // RFC 3501 §5.4 autologout.
    idle: b"* BYE autologout; idle for too long\r\n",
    shutdown: b"* BYE [UNAVAILABLE] server shutting down\r\n",
    // The SERVERBUG code a store failure gets mid-session (RFC 5530), as a BYE since
    // nothing follows.
    failure: b"* BYE [SERVERBUG] Internal error\r\n",
    too_many_failures: b"* BYE Too many failed login attempts\r\n",
};

/// IMAP commands that carry credentials, after the tag: `LOGIN` (the user is shown
/// unless it is a literal) and `AUTHENTICATE` (the mechanism is shown).
pub const REDACTION: Redaction = Redaction {
    name_within: 1,
    secret: &[Masked::user("LOGIN", 1), Masked::mechanism("AUTHENTICATE")],
};
/// The continuation request for a synchronizing literal (RFC 3501 §7.5).
pub const CONTINUE_LINE: &[u8] = b"+ Ready for literal data\r\n";
/// The text of the continuation that starts IDLE (RFC 2177 §3).
pub const IDLING: &str = "idling";

/// Protocol settings (socket limits, timeouts and the login guard live in
/// `yubin_core::driver::ListenerConfig`; framing limits in [`crate::codec::CodecLimits`]).
#[derive(Debug, Clone)]
pub struct ImapConfig {
    /// The most messages one APPEND may carry (MULTIAPPEND, RFC 3502): each waits, made
    /// durable, for the others until all are added together, and costs a little memory
    /// and a staged file meanwhile. 1000 is far more than a client uploads at once
    /// (a folder is copied in batches); past it the APPEND is `NO [LIMIT]`.
    pub max_append_messages: usize,
    /// The most mailboxes one session's NOTIFY may watch (RFC 5465): each is an open
    /// mailbox with a file watch, looked at after every command. Past it `NOTIFY SET` is
    /// `NO [NOTIFICATIONOVERFLOW]` ([`crate::op::notify::MAX_NOTIFY_MAILBOXES`]).
    pub max_notify_mailboxes: usize,
    /// Bytes of SORT and THREAD keys kept for all mailboxes together, shared by every
    /// session of the server ([`crate::sort::cache::SORT_CACHE_BYTES`] by default): a
    /// mailbox's cache that would pass it starts over.
    pub sort_cache: crate::sort::cache::SortBudget,
}

impl Default for ImapConfig {
    fn default() -> Self {
        ImapConfig {
            max_append_messages: 1000,
            max_notify_mailboxes: crate::op::notify::MAX_NOTIFY_MAILBOXES,
            sort_cache: crate::sort::cache::SortBudget::default(),
        }
    }
}

/// The session's state (RFC 3501 §3); each variant carries what that state needs.
#[derive(Debug)]
pub enum State {
    /// Before LOGIN.
    NotAuthenticated,
    /// Logged in, no mailbox selected.
    Authenticated(Account),
    /// A mailbox is selected.
    Selected(Account, Box<Selected>),
    /// LOGOUT was given; nothing more is read.
    Logout,
}

/// An IMAP session over a store.
pub struct Session {
    store: Store,
    state: State,
    /// What the connection offers (STARTTLS, LOGINDISABLED) and the session turned on.
    capabilities: Capabilities,
    /// The tag of an AUTHENTICATE waiting for its SASL response.
    sasl_pending: Option<String>,
    /// The tag of an IDLE in progress (RFC 2177), answered when DONE arrives.
    idling: Option<String>,
    /// COMPRESS=DEFLATE is on (RFC 4978): it is turned on once per connection.
    compressed: bool,
    /// A FETCH whose responses are still being produced ([`After::More`]), and its tag.
    fetching: Option<(String, op::fetch::FetchJob)>,
    /// An APPEND whose message is arriving in pieces ([`Frame::AppendHead`]).
    appending: Option<op::append::Streaming>,
    /// The largest message APPEND takes: the codec's literal limit, also applied to a
    /// message CATENATE puts together (RFC 4469 §4.2); learned in `adjust`.
    max_message: std::cell::Cell<u64>,
    /// [`ImapConfig::max_append_messages`].
    max_append_messages: usize,
    /// [`ImapConfig::max_notify_mailboxes`].
    max_notify_mailboxes: usize,
    /// [`ImapConfig::sort_cache`].
    sort_cache: crate::sort::cache::SortBudget,
    /// What NOTIFY asked for (RFC 5465).
    notify: Registration,
    /// The FETCHes NOTIFY owes for new messages, still being produced ([`After::More`]).
    pushing: Option<op::fetch::FetchJob>,
    /// The mailbox the command being answered adds messages to (APPEND, COPY, MOVE):
    /// its new messages are this session's own (RFC 5465 §5, §5.2).
    target: Option<String>,
    /// The last input was the start of a command whose literal follows.
    mid_command: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("state", &self.state)
            .finish()
    }
}

/// The answer built so far, then read the next input.
fn reply(out: Responses) -> Reply {
    Reply::from_vec(out.into_bytes(), After::Continue)
}

/// A command answered by its completion alone.
fn only(tag: &str, done: &Completion) -> Reply {
    let mut out = Responses::new();
    out.completion(tag, done);
    reply(out)
}

impl Session {
    /// A new session and its greeting (RFC 3501 §7.1.1, with the capabilities inline so
    /// clients save a round trip).
    pub fn new(store: Store, config: Arc<ImapConfig>, tls: TlsState) -> (Session, BytesMut) {
        let capabilities = Capabilities::new(tls);
        let mut greeting = Responses::new();
        greeting.info(
            Code::Capability(capabilities.list()),
            "yubin IMAP4rev1 ready",
        );
        (
            Session {
                store,
                state: State::NotAuthenticated,
                capabilities,
                sasl_pending: None,
                idling: None,
                compressed: false,
                fetching: None,
                appending: None,
                max_message: std::cell::Cell::new(
                    crate::codec::CodecLimits::default().max_literal as u64,
                ),
                max_append_messages: config.max_append_messages,
                max_notify_mailboxes: config.max_notify_mailboxes,
                sort_cache: config.sort_cache.clone(),
                notify: Registration::Unset,
                pushing: None,
                target: None,
                mid_command: false,
            },
            BytesMut::from(&greeting.into_bytes()[..]),
        )
    }

    /// The next piece of a response that returned [`After::More`].
    pub fn resume(&mut self) -> Reply {
        let mut out = Responses::new();
        if self.fetching.is_none() {
            // The FETCHes owed for new messages, pushed between commands.
            let after = match self.pushing.take() {
                Some(job) => match self.push_fetches(job, &mut out) {
                    After::Continue => self.start_fetches(&mut out),
                    more => more,
                },
                None => self.start_fetches(&mut out),
            };
            return Reply::from_vec(out.into_bytes(), after);
        }
        let (Some((tag, mut job)), State::Selected(_, sel)) =
            (self.fetching.take(), &mut self.state)
        else {
            return reply(out);
        };
        let Some(done) = job.step(sel, &mut out, op::fetch::FETCH_CHUNK) else {
            self.fetching = Some((tag, job));
            return Reply::from_vec(out.into_bytes(), After::More);
        };
        // Done: what other sessions changed goes before the completion, as for any
        // FETCH, and never as EXPUNGE (RFC 3501 §7.4.1).
        self.finish(&tag, Updates::NoExpunge, &done, out)
    }

    /// Told once the STARTTLS handshake has completed: capabilities change, and nothing
    /// learnt before TLS is kept (RFC 3501 §6.2.1).
    pub fn tls_started(&mut self) {
        self.capabilities.tls_started();
        self.sasl_pending = None;
    }

    /// The current state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Handles one framed input: a command, or the SASL response an AUTHENTICATE waits for.
    pub fn handle_frame(&mut self, frame: &[u8]) -> Reply {
        if self.idling.is_some() {
            return self.idle_done(frame);
        }
        if let Some(tag) = self.sasl_pending.take() {
            let line = frame
                .strip_suffix(b"\r\n")
                .or(frame.strip_suffix(b"\n"))
                .unwrap_or(frame);
            return self.sasl_step(&tag, sasl::respond(line));
        }
        // NUL may come only inside a literal8 (RFC 3516 §4.4), which the grammar checks.
        if frame.contains(&0) && memchr::memmem::find(frame, b"~{").is_none() {
            let tag = parse::tag_of(frame).unwrap_or_else(|| "*".into());
            return only(&tag, &Completion::bad("NUL octets are not allowed"));
        }
        match parse::command(frame) {
            Ok(cmd) => self.handle(cmd),
            Err(e) => {
                let tag = e.tag().unwrap_or("*").to_owned();
                let text = match &e {
                    ParseError::UnknownCommand { name, .. } => format!("Unknown command {name}"),
                    other => capitalize(&other.to_string()),
                };
                only(&tag, &Completion::bad(text))
            }
        }
    }

    /// Answers a command the codec refused before parsing; nothing changes.
    pub fn handle_rejected(&mut self, tag: Option<&str>, reason: &Rejection) -> Reply {
        // Refused inside a streamed APPEND (a later message too big): the whole APPEND
        // fails, and none of its messages stays (RFC 3502 §6.3.11).
        let appending = self.appending.take();
        let tag = appending.as_ref().map(|a| a.tag()).or(tag);
        if self.idling.is_some() {
            // An overlong line where DONE was expected.
            return self.idle_done(b"");
        }
        let done = match reason {
            Rejection::LineTooLong => Completion::bad("Line too long"),
            Rejection::LiteralTooBig { append: true, .. } => {
                Completion::no(Code::TooBig, "Message too large")
            }
            Rejection::LiteralTooBig { .. } => {
                Completion::bad("Literal too large").with_code(Code::TooBig)
            }
            // RFC 5530 §3: UNAVAILABLE, a temporary failure; the same command may work
            // later.
            Rejection::Busy => Completion::no(Code::Unavailable, "Server busy; try again later"),
        };
        only(tag.unwrap_or("*"), &done)
    }

    /// Refuses a command that the current state does not allow (RFC 3501 §6: each command
    /// lists the states it is valid in).
    fn check_state(&self, body: &CommandBody) -> Result<(), &'static str> {
        use CommandBody as C;
        let any = matches!(body, C::Capability | C::Noop | C::Logout | C::Id(_));
        if matches!(body, C::StartTls) {
            // RFC 3501 §6.2.1: STARTTLS is valid only in the not-authenticated state.
            return match self.state {
                State::NotAuthenticated => Ok(()),
                _ => Err("STARTTLS is only valid before login"),
            };
        }
        if any {
            return Ok(());
        }
        match (&self.state, body) {
            (State::NotAuthenticated, C::Login { .. } | C::Authenticate { .. }) => Ok(()),
            (State::NotAuthenticated, _) => Err("Log in first"),
            (_, C::Login { .. } | C::Authenticate { .. }) => Err("Already logged in"),
            (State::Authenticated(_), C::Enable(_)) => Ok(()),
            (State::Selected(..), C::Enable(_)) => {
                Err("ENABLE is only valid before a mailbox is selected")
            }
            (
                State::Authenticated(_) | State::Selected(..),
                C::Select { .. }
                | C::Examine { .. }
                | C::Create(_)
                | C::CreateSpecialUse { .. }
                | C::Delete(_)
                | C::Rename { .. }
                | C::Subscribe(_)
                | C::Unsubscribe(_)
                | C::List { .. }
                | C::ListExtended(_)
                | C::Lsub { .. }
                | C::Status { .. }
                | C::Append { .. }
                | C::Namespace
                | C::Notify(_)
                | C::Idle
                // RFC 4978 §5: `command-auth =/ compress`.
                | C::Compress(_),
            ) => Ok(()),
            (State::Selected(..), _) => Ok(()),
            (State::Authenticated(_), _) => Err("No mailbox selected"),
            (State::Logout, _) => Err("Logging out"),
        }
    }

    /// Handles one parsed command.
    pub fn handle(&mut self, mut cmd: Command) -> Reply {
        if let Err(why) = self.check_state(&cmd.body) {
            return only(&cmd.tag, &Completion::bad(why));
        }
        // UTF8=ACCEPT / IMAP4rev2: the client's UTF-8 names, in the store's form.
        let form = NameForm::of(self.capabilities.enabled());
        if let Err(why) = form.command_to_store(&mut cmd.body) {
            return only(&cmd.tag, &Completion::no(Code::Cannot, why));
        }
        // `$` stands for the saved search result (RFC 5182): handlers see the messages.
        if let State::Selected(_, sel) = &self.state {
            op::expand_saved(sel, &mut cmd.body);
        }
        let tag = cmd.tag;
        let updates = updates_for(&cmd.body);
        self.target = op::notify::target(&cmd.body);
        let own_events = op::notify::own_events(&cmd.body);
        // Where the account's name log stands before a command that may change names, to
        // learn afterwards which events it made (RFC 5465 §5: they are not told back).
        let names_before = match (&self.notify, self.account()) {
            (Registration::On(_), Some(a)) if !own_events.is_empty() => {
                Some((a.clone(), a.name_version()))
            }
            _ => None,
        };
        let expunges = matches!(
            cmd.body,
            CommandBody::Expunge | CommandBody::UidExpunge(_) | CommandBody::Move { .. }
        );
        let mut out = Responses::new();
        if enables_condstore(&cmd.body) && self.capabilities.enable_condstore() {
            // RFC 7162 §3.1: the first CONDSTORE enabling command issued with a mailbox
            // selected tells the client that mailbox's HIGHESTMODSEQ (a SELECT tells the
            // new mailbox's anyway).
            if let State::Selected(_, sel) = &self.state
                && !matches!(
                    cmd.body,
                    CommandBody::Select { .. } | CommandBody::Examine { .. }
                )
            {
                out.info(Code::HighestModSeq(sel.view.highest_modseq()), "Highest");
            }
        }
        use CommandBody as C;
        let done = match cmd.body {
            C::Capability => {
                out.data(Data::Capability(self.capabilities.list().into()));
                Completion::done("CAPABILITY")
            }
            C::StartTls => {
                let tls = self.capabilities.tls();
                if tls.offer_starttls() {
                    let go = Completion::ok("Begin TLS negotiation now");
                    out.completion(&tag, &go);
                    return Reply::from_vec(out.into_bytes(), After::StartTls);
                }
                Completion::bad(if tls.active {
                    "TLS is already active"
                } else {
                    "STARTTLS is not offered here"
                })
            }
            C::Compress(_) if self.compressed => {
                // RFC 4978 §3: NO with COMPRESSIONACTIVE when the mechanism is on already.
                Completion::no(Code::CompressionActive, "DEFLATE is active already")
            }
            C::Compress(crate::command::Compression::Deflate) => {
                // RFC 4978 §3: compression starts right after this OK's CRLF.
                self.compressed = true;
                out.completion(&tag, &Completion::ok("DEFLATE active"));
                return Reply::from_vec(out.into_bytes(), After::Compress);
            }
            C::Login { .. } | C::Authenticate { .. }
                if !self.capabilities.tls().login_allowed() =>
            {
                // RFC 3501 §6.2.3: LOGINDISABLED is advertised; refuse with a reason.
                Completion::no(
                    Code::PrivacyRequired,
                    "Plaintext login is disabled; use STARTTLS first",
                )
            }
            C::Noop => {
                self.sync(&mut out);
                Completion::done("NOOP")
            }
            C::Check => {
                self.sync(&mut out);
                Completion::done("CHECK")
            }
            C::Logout => {
                out.data(Data::Condition {
                    status: Condition::Bye,
                    code: None,
                    text: "yubin IMAP4rev1 server logging out".into(),
                });
                out.completion(&tag, &Completion::done("LOGOUT"));
                self.state = State::Logout;
                return Reply::from_vec(out.into_bytes(), After::Close);
            }
            C::Login { user, password } => {
                let login = op::auth::login(&self.store, &user, &password);
                return self.logged_in(&tag, login);
            }
            C::Authenticate { mechanism, initial } => {
                let initial = initial.as_ref().map(|ir| ir.as_bytes());
                return self.sasl_step(&tag, sasl::start(&mechanism, initial));
            }
            C::Id(_) => {
                // RFC 2971 §3.1: the server answers with its own identification.
                out.data(Data::Id(vec![
                    ("name", Some("yubin".into())),
                    ("version", Some(env!("CARGO_PKG_VERSION").into())),
                    ("support-url", None),
                ]));
                Completion::done("ID")
            }
            C::Namespace => {
                // RFC 2342: one personal namespace, no prefix, delimiter "/"; no others.
                out.data(Data::Namespace {
                    prefix: "",
                    delimiter: op::list::DELIMITER,
                });
                Completion::done("NAMESPACE")
            }
            C::Enable(names) => {
                // RFC 5161 §3.2: ENABLED lists what this command turned on.
                out.data(Data::Enabled(self.capabilities.enable(&names)));
                Completion::done("ENABLE")
            }
            C::Select { mailbox, params } => return self.select(&tag, &mailbox, &params, false),
            C::Examine { mailbox, params } => return self.select(&tag, &mailbox, &params, true),
            C::Close => {
                if let State::Selected(account, sel) =
                    std::mem::replace(&mut self.state, State::Logout)
                {
                    op::select::close(&sel);
                    self.state = State::Authenticated(account);
                }
                Completion::done("CLOSE")
            }
            C::Unselect => {
                if let State::Selected(account, _) =
                    std::mem::replace(&mut self.state, State::Logout)
                {
                    self.state = State::Authenticated(account);
                }
                Completion::done("UNSELECT")
            }
            C::Idle => return self.idle(tag),
            C::Notify(set) => self.notify(set.as_ref(), &mut out),
            C::Append { mailbox, messages } => match self.append_context() {
                Some(cx) => op::append::append(cx, &mailbox, messages),
                None => Completion::bad("Log in first"),
            },
            C::Fetch {
                uid,
                set,
                items,
                changed_since,
                vanished,
            } => {
                let enabled = self.capabilities.enabled();
                let State::Selected(_, sel) = &mut self.state else {
                    return only(&tag, &Completion::bad("No mailbox selected"));
                };
                if vanished && !(uid && changed_since.is_some() && enabled.qresync()) {
                    // RFC 7162 §3.2.6: VANISHED only with UID FETCH and CHANGEDSINCE,
                    // once QRESYNC is enabled.
                    return only(
                        &tag,
                        &Completion::bad("VANISHED needs UID FETCH, CHANGEDSINCE and QRESYNC"),
                    );
                }
                let args = op::fetch::FetchArgs {
                    uid,
                    set: &set,
                    items: &items,
                    changed_since,
                    vanished,
                };
                match op::fetch::start(sel, args, enabled, &mut out) {
                    Ok(mut job) => match job.step(sel, &mut out, op::fetch::FETCH_CHUNK) {
                        Some(done) => done,
                        None => {
                            // The rest follows through `resume`, a piece at a time.
                            self.fetching = Some((tag, job));
                            return Reply::from_vec(out.into_bytes(), After::More);
                        }
                    },
                    Err(bad) => bad,
                }
            }
            body => match &mut self.state {
                State::Selected(account, sel) => {
                    let enabled = self.capabilities.enabled();
                    selected(account, sel, &tag, body, enabled, &mut out)
                }
                State::Authenticated(account) => {
                    match authenticated(account, None, body, self.capabilities.enabled(), &mut out)
                    {
                        Some(done) => done,
                        None => Completion::bad("No mailbox selected"),
                    }
                }
                State::NotAuthenticated | State::Logout => Completion::bad("Log in first"),
            },
        };
        if done.status == crate::response::Status::Ok
            && let Registration::On(n) = &mut self.notify
            && let Some((account, version)) = names_before
        {
            n.own(&account, version, own_events);
        }
        self.finish_with(&tag, updates, done, expunges, out)
    }

    /// Ends a command: the updates it may carry (RFC 3501 §7.4.1), then its completion.
    fn finish(&mut self, tag: &str, updates: Updates, done: &Completion, out: Responses) -> Reply {
        self.finish_with(tag, updates, done.clone(), false, out)
    }

    /// [`Session::finish`]; `tells_modseq` for a command that expunges, whose OK carries
    /// the HIGHESTMODSEQ after its expunges once QRESYNC is on (RFC 7162 §3.2.7, §3.2.9;
    /// RFC 6851 §4.4 for MOVE).
    fn finish_with(
        &mut self,
        tag: &str,
        updates: Updates,
        mut done: Completion,
        tells_modseq: bool,
        mut out: Responses,
    ) -> Reply {
        let target = self.target.take();
        if done.status == crate::response::Status::Ok
            && let Some(target) = &target
        {
            self.made_here(target, &done);
        }
        if updates != Updates::None
            && let State::Selected(_, sel) = &mut self.state
        {
            let enabled = self.capabilities.enabled();
            let allow = Allow {
                uid: self.notify.is_on(),
                ..match updates {
                    Updates::All => Allow::ALL,
                    _ => Allow::NO_EXPUNGE,
                }
            };
            let new = op::updates::report(sel, allow, enabled, &mut out);
            self.notify.owe_fetches(sel, new);
            if tells_modseq
                && enabled.qresync()
                && done.status == crate::response::Status::Ok
                && done.code.is_none()
            {
                done.code = Some(Code::HighestModSeq(sel.view.highest_modseq()));
            }
        }
        out.completion(tag, &done);
        reply(out)
    }

    /// What an APPEND may use: the account, the selected mailbox (the base of a relative
    /// CATENATE URL), the message size limit.
    fn append_context(&self) -> Option<op::append::Context<'_>> {
        let account = self.account()?;
        let selected = match &self.state {
            State::Selected(_, sel) => Some(sel.view.name()),
            _ => None,
        };
        Some(op::append::Context {
            account,
            selected,
            max_message: self.max_message.get(),
            max_messages: self.max_append_messages,
            eight_bit_headers: op::append::eight_bit_headers_allowed(self.capabilities.enabled()),
        })
    }

    /// The head of a streamed APPEND, or the arguments between two streamed literals of
    /// one (MULTIAPPEND, CATENATE): the next literal is accepted (its pieces follow) or
    /// the command is answered at once.
    fn append_head(&mut self, head: &[u8], synchronizing: bool) -> Reply {
        let next = match self.appending.take() {
            Some(streaming) => streaming.next(head),
            None => {
                let parsed = match parse::append_head(head) {
                    Ok(parsed) => parsed,
                    Err(e) => {
                        let tag = e
                            .tag()
                            .or(parse::tag_of(head).as_deref())
                            .unwrap_or("*")
                            .to_owned();
                        return only(&tag, &Completion::bad(capitalize(&e.to_string())));
                    }
                };
                let mut parsed = parsed;
                // UTF8=ACCEPT / IMAP4rev2: the client's UTF-8 name, in the store's form.
                match NameForm::of(self.capabilities.enabled()).to_store(&parsed.mailbox) {
                    Ok(std::borrow::Cow::Owned(stored)) => parsed.mailbox = stored,
                    Ok(_) => {}
                    Err(why) => return only(&parsed.tag, &Completion::no(Code::Cannot, why)),
                }
                // Its new messages are this session's own (RFC 5465 §5.2).
                self.target = Some(parsed.mailbox.clone());
                let Some(cx) = self.append_context() else {
                    return only(&parsed.tag, &Completion::bad("Log in first"));
                };
                op::append::start(cx, parsed)
            }
        };
        match next {
            op::append::Next::More(streaming) => {
                self.appending = Some(*streaming);
                let mut out = Responses::new();
                if synchronizing {
                    // RFC 3501 §7.5: now the client may send the message.
                    out.continuation("Ready for literal data");
                }
                reply(out)
            }
            op::append::Next::Done(tag, done) => {
                self.finish(&tag, Updates::All, &done, Responses::new())
            }
        }
    }

    /// The end of a streamed APPEND's command line: the messages are added, or none.
    fn append_end(&mut self, tail: &[u8]) -> Reply {
        let Some(streaming) = self.appending.take() else {
            return reply(Responses::new());
        };
        match streaming.next(tail) {
            op::append::Next::Done(tag, done) => {
                self.finish(&tag, Updates::All, &done, Responses::new())
            }
            // A command frame ends with its CRLF: no literal is left to stream.
            op::append::Next::More(streaming) => {
                let bad = Completion::bad("Syntax error in APPEND arguments");
                only(streaming.tag(), &bad)
            }
        }
    }

    /// IDLE (RFC 2177): reports what is pending, then `+ idling`; from then on the
    /// server pushes [`Session::idle_poll`] until [`Session::idle_done`].
    fn idle(&mut self, tag: String) -> Reply {
        let mut out = Responses::new();
        self.sync(&mut out);
        out.continuation(IDLING);
        self.idling = Some(tag);
        Reply::from_vec(out.into_bytes(), After::Idle)
    }

    /// While idling: the updates to push now (EXPUNGE included, RFC 2177 §3), or nothing.
    /// The server calls this when the [`Session::watch`] fires.
    pub fn idle_poll(&mut self) -> Vec<u8> {
        let mut out = Responses::new();
        if self.idling.is_some() {
            self.sync(&mut out);
        }
        out.into_bytes()
    }

    /// Ends IDLE with the line the client sent: `DONE` completes it with `OK`; anything
    /// else is a protocol error (RFC 2177 §3) and ends it with `BAD`.
    pub fn idle_done(&mut self, line: &[u8]) -> Reply {
        let line = line
            .strip_suffix(b"\r\n")
            .or(line.strip_suffix(b"\n"))
            .unwrap_or(line);
        let tag = self.idling.take().unwrap_or_else(|| "*".into());
        let mut out = Responses::new();
        self.sync(&mut out);
        let done = if line.eq_ignore_ascii_case(b"DONE") {
            Completion::ok("IDLE terminated")
        } else {
            Completion::bad("Expected DONE")
        };
        out.completion(&tag, &done);
        reply(out)
    }

    /// What the driver waits on during IDLE and, with NOTIFY, between commands: the
    /// selected mailbox (unless NOTIFY asked for none of its events), the mailboxes
    /// NOTIFY watches and the account's names. `None`: nothing to wait on.
    pub fn watch(&self) -> Option<ImapWatch> {
        let mut mailboxes: Vec<MailboxWatch> = Vec::new();
        let mut account_watch = None;
        let selected_events = match &self.notify {
            // RFC 2177: IDLE reports every change to the selected mailbox.
            Registration::Unset => self.idling.is_some(),
            Registration::Off => false,
            // RFC 5465 §4: "while processing any IDLE command, the server MUST send
            // exactly the same events as instructed by the client using the NOTIFY
            // command".
            Registration::On(n) => n.selected().is_some(),
        };
        if selected_events && let State::Selected(_, sel) = &self.state {
            mailboxes.push(sel.mailbox.watch());
        }
        if let (Registration::On(n), Some(account)) = (&self.notify, self.account()) {
            let (more, names) = n.watches(account);
            mailboxes.extend(more);
            account_watch = Some(names);
        }
        if mailboxes.is_empty() && account_watch.is_none() {
            return None;
        }
        Some(ImapWatch {
            mailboxes,
            account: account_watch,
        })
    }

    /// Answers NOTIFY (RFC 5465 §3.1). `NOTIFY SET` replaces what was asked before;
    /// the updates the command carries are its "implicit NOOP".
    fn notify(
        &mut self,
        set: Option<&crate::command::NotifySet>,
        out: &mut Responses,
    ) -> Completion {
        let Some(set) = set else {
            self.notify = Registration::Off;
            self.pushing = None;
            return Completion::done("NOTIFY");
        };
        let enabled = self.capabilities.enabled();
        let (account, selected) = match &self.state {
            State::Authenticated(a) => (a, None),
            State::Selected(a, sel) => (a, Some(sel.mailbox.name())),
            _ => return Completion::bad("Log in first"),
        };
        let form = NameForm::of(enabled);
        let limit = self.max_notify_mailboxes;
        match op::notify::set(account, selected.as_deref(), set, enabled, form, limit, out) {
            Ok(n) => {
                self.notify = Registration::On(Box::new(n));
                self.pushing = None;
                Completion::done("NOTIFY")
            }
            Err(refused) => refused,
        }
    }

    /// Notes that messages a command of this session added to `target` are its own: the
    /// selected mailbox's new messages get no NOTIFY FETCH (RFC 5465 §5.2), another
    /// watched mailbox is looked at again quietly (§5).
    fn made_here(&mut self, target: &str, done: &Completion) {
        let Ok(target) = yubin_store::name::canonical_mailbox(target) else {
            return;
        };
        let uids = match &done.code {
            Some(Code::AppendUid { uids, .. }) => uids,
            Some(Code::CopyUid { dest, .. }) => dest,
            _ => return,
        };
        let Ok((_, set)) = parse::sequence_set(uids.as_bytes()) else {
            return;
        };
        if let Registration::On(n) = &mut self.notify {
            n.absorb_own(&target, &set);
        }
        let State::Selected(_, sel) = &mut self.state else {
            return;
        };
        if sel.mailbox.name() != target {
            return;
        }
        let Ok(now) = sel.mailbox.view() else {
            return;
        };
        let mine = now
            .uids_after(sel.largest_uid())
            .filter(|&uid| set.contains(uid, u32::MAX));
        sel.made_here.extend(mine);
    }

    /// What changed, pushed between commands (NOTIFY) or during IDLE: the selected
    /// mailbox's events as asked, then the other mailboxes' STATUS and the names' LIST
    /// (RFC 5465 §5), then the FETCHes owed for new messages.
    pub fn push(&mut self) -> Reply {
        let mut out = Responses::new();
        let enabled = self.capabilities.enabled();
        match &mut self.notify {
            Registration::Unset => {
                if self.idling.is_some() {
                    self.sync(&mut out);
                }
            }
            Registration::Off => {}
            Registration::On(n) => {
                let (account, sel) = match &mut self.state {
                    State::Authenticated(a) => (&*a, None),
                    State::Selected(a, sel) => (&*a, Some(sel)),
                    _ => return reply(out),
                };
                let mut selected = None;
                if let Some(sel) = sel {
                    if let Some(events) = n.selected() {
                        let allow = Allow {
                            // §6.1.2: SELECTED-DELAYED holds expunges back until "a NOOP
                            // or an IDLE command has been issued".
                            expunge: !events.delayed || self.idling.is_some(),
                            flags: events.events.flags,
                            uid: true,
                        };
                        let new = op::updates::report(sel, allow, enabled, &mut out);
                        n.owe(sel, new);
                    }
                    // What the selected state has told the client, after the report.
                    selected = Some((sel.mailbox.name(), sel.view.clone()));
                }
                let form = NameForm::of(enabled);
                let selected = selected
                    .as_ref()
                    .map(|(name, view)| (name.as_str(), &**view));
                let polled = n.poll(account, selected, enabled, form, &mut out);
                if polled.is_err() {
                    // RFC 5465 §5.8: "It MUST notify these clients by sending an untagged
                    // "OK [NOTIFICATIONOVERFLOW]" response and behave as if a NOTIFY NONE
                    // command had just been received."
                    out.info(
                        Code::NotificationOverflow,
                        "Too many mailboxes to watch; NOTIFY is off",
                    );
                    self.notify = Registration::Off;
                }
            }
        }
        let after = self.start_fetches(&mut out);
        Reply::from_vec(out.into_bytes(), after)
    }

    /// Starts the FETCHes owed for new messages of the selected mailbox (NOTIFY's
    /// MessageNew, RFC 5465 §5.2, and update contexts', §7), after their EXISTS: one
    /// FETCH per message, with every attribute owed for it; a long run goes on through
    /// [`Session::resume`].
    fn start_fetches(&mut self, out: &mut Responses) -> After {
        let enabled = self.capabilities.enabled();
        loop {
            let State::Selected(_, sel) = &mut self.state else {
                return After::Continue;
            };
            // The messages owed the same attributes as the first, in one job.
            let Some(attrs) = sel.owed_fetch.values().next().cloned() else {
                return After::Continue;
            };
            if out.len() >= op::fetch::FETCH_CHUNK {
                // Enough for one piece; the rest through `resume`.
                return After::More;
            }
            let uids: Vec<u32> = sel
                .owed_fetch
                .iter()
                .filter(|(_, a)| **a == attrs)
                .map(|(&uid, _)| uid)
                .collect();
            for uid in &uids {
                sel.owed_fetch.remove(uid);
            }
            let set = crate::command::SequenceSet::from_sorted(uids);
            let args = op::fetch::FetchArgs {
                uid: true,
                set: &set,
                items: &attrs,
                changed_since: None,
                vanished: false,
            };
            // RFC 3501 §7.2.6: a keyword new to the client is announced before a FETCH
            // shows it (a push that left flag changes for later did not announce).
            let view = sel.view.clone();
            sel.announce(view.keywords(), out);
            let Ok(job) = op::fetch::start(sel, args, enabled, out) else {
                continue;
            };
            if self.push_fetches(job, out) == After::More {
                return After::More;
            }
        }
    }

    /// The next piece of one run of the owed FETCHes.
    fn push_fetches(&mut self, mut job: op::fetch::FetchJob, out: &mut Responses) -> After {
        let State::Selected(_, sel) = &mut self.state else {
            return After::Continue;
        };
        match job.step(sel, out, op::fetch::FETCH_CHUNK) {
            Some(_) => After::Continue,
            None => {
                self.pushing = Some(job);
                After::More
            }
        }
    }

    fn account(&self) -> Option<&Account> {
        match &self.state {
            State::Authenticated(a) | State::Selected(a, _) => Some(a),
            _ => None,
        }
    }

    /// Answers a login attempt, entering the authenticated state when it succeeded.
    fn logged_in(&mut self, tag: &str, login: Login) -> Reply {
        match login {
            Login::LoggedIn(account) => {
                self.state = State::Authenticated(account);
                let code = Code::Capability(self.capabilities.list());
                only(tag, &Completion::ok("Logged in").with_code(code))
            }
            Login::Failed(done) => only(tag, &done),
            Login::Refused(done) => {
                // The driver's login guard holds this back, and closes the connection
                // after too many (with GOODBYES.too_many_failures).
                let mut out = Responses::new();
                out.completion(tag, &done);
                Reply::from_vec(out.into_bytes(), After::LoginFailed)
            }
        }
    }

    /// The IMAP words for each step of a SASL PLAIN exchange (RFC 3501 §6.2.2, RFC 4959).
    fn sasl_step(&mut self, tag: &str, step: sasl::Step) -> Reply {
        match op::auth::sasl(step) {
            Sasl::Challenge => {
                // The next line is the response, not a command (see `adjust`).
                self.sasl_pending = Some(tag.to_owned());
                let mut out = Responses::new();
                out.continuation("");
                reply(out)
            }
            Sasl::Credentials { user, password } => {
                let login = op::auth::login(&self.store, &user, &password);
                self.logged_in(tag, login)
            }
            Sasl::Done(login) => self.logged_in(tag, login),
        }
    }

    /// SELECT or EXAMINE: a failing one still deselects (RFC 3501 §6.3.1).
    fn select(&mut self, tag: &str, name: &str, params: &SelectParams, examine: bool) -> Reply {
        let enabled = self.capabilities.enabled();
        if params.qresync.is_some() && !enabled.qresync() {
            // RFC 7162 §3.2.5: QRESYNC must have been enabled first.
            return only(tag, &Completion::bad("ENABLE QRESYNC first"));
        }
        let mut out = Responses::new();
        let account = match std::mem::replace(&mut self.state, State::Logout) {
            State::Authenticated(a) => a,
            State::Selected(a, _) => {
                // RFC 7162 §3.2.11: a server that advertises QRESYNC says CLOSED when a
                // SELECT closes the selected mailbox, enabled or not: what follows is
                // about the new one (a client that does not know the code ignores it).
                out.info(Code::Closed, "Previous mailbox closed");
                a
            }
            other => {
                self.state = other;
                return only(tag, &Completion::bad("Log in first"));
            }
        };
        let qresync = params.qresync.as_ref();
        let done = match op::select::select(&account, name, examine, qresync, enabled, &mut out) {
            Ok((selected, done)) => {
                crate::sort::cache::FactsCache::of(&selected.mailbox).share(&self.sort_cache);
                self.state = State::Selected(account, selected);
                done
            }
            Err(refused) => {
                self.state = State::Authenticated(account);
                refused
            }
        };
        out.completion(tag, &done);
        reply(out)
    }

    /// Reports what changed in the selected mailbox since the client was last told
    /// (RFC 3501 §7.4.1, §7.3.1): EXPUNGE for vanished messages (highest first, so each
    /// number is right when it is read), FETCH FLAGS for changed flags, then EXISTS and
    /// RECENT.
    pub fn sync(&mut self, out: &mut Responses) {
        if let State::Selected(_, sel) = &mut self.state {
            let allow = Allow {
                uid: self.notify.is_on(),
                ..Allow::ALL
            };
            let new = op::updates::report(sel, allow, self.capabilities.enabled(), out);
            self.notify.owe_fetches(sel, new);
        }
    }
}

/// Dispatches a command valid in the authenticated state (and so in the selected one);
/// `None` for one that needs a selected mailbox. `selected` is the name of the mailbox
/// this session has open, if any.
fn authenticated(
    account: &Account,
    selected: Option<&str>,
    body: CommandBody,
    enabled: Enabled,
    out: &mut Responses,
) -> Option<Completion> {
    use CommandBody as C;
    let form = NameForm::of(enabled);
    let subscription = |r: Result<(), yubin_store::StoreError>, command: &str| match r {
        Ok(()) => Completion::done(command),
        Err(e) => Completion::store_failed(command, &e),
    };
    Some(match body {
        C::List { reference, pattern } => {
            op::list::list(account, &reference, &pattern, false, form, out)
        }
        C::ListExtended(l) => op::list::list_extended(account, &l, form, out),
        C::Lsub { reference, pattern } => {
            op::list::list(account, &reference, &pattern, true, form, out)
        }
        C::Subscribe(name) => subscription(account.subscribe(&name), "SUBSCRIBE"),
        C::Unsubscribe(name) => subscription(account.unsubscribe(&name), "UNSUBSCRIBE"),
        C::Status { mailbox, items } => op::status::status(account, &mailbox, &items, form, out),
        C::Create(name) => op::mailbox::create(account, &name),
        C::CreateSpecialUse { mailbox, uses } => {
            op::mailbox::create_special_use(account, &mailbox, &uses)
        }
        C::Delete(name) => op::mailbox::delete(account, selected, &name),
        C::Rename { from, to } => op::mailbox::rename(account, &from, &to),
        _ => return None,
    })
}

/// Dispatches a command in the selected state.
fn selected(
    account: &Account,
    sel: &mut Selected,
    tag: &str,
    body: CommandBody,
    enabled: Enabled,
    out: &mut Responses,
) -> Completion {
    use CommandBody as C;
    let is_move = matches!(body, C::Move { .. });
    // RFC 5267 §4.3: an UPDATE may not reuse the tag of a live update context.
    if let C::Search { ret: Some(r), .. } | C::Sort { ret: Some(r), .. } = &body
        && r.update
        && op::context::in_use(sel, tag)
    {
        return Completion::bad("Tag reuse");
    }
    match body {
        // RFC 6855 §3: once UTF8=ACCEPT is enabled the client "MUST NOT issue a
        // "SEARCH" command that contains a charset specification. If an IMAP server
        // receives such a "SEARCH" command in that situation, it SHOULD reject the
        // command with a "BAD" response (due to the conflicting charset labels)."
        C::Search {
            charset: Some(_), ..
        } if enabled.utf8_accept() => {
            Completion::bad("No CHARSET in SEARCH once UTF8=ACCEPT is enabled (RFC 6855 §3)")
        }
        C::Search {
            uid,
            ret,
            charset,
            criteria,
        } => {
            // RFC 9051 §6.4.4 (Appendix E item 4): in IMAP4rev2 a SEARCH is answered
            // with ESEARCH; without RETURN it is RETURN (ALL): `SEARCH TEXT "string not
            // in mailbox"` gets `* ESEARCH (TAG "A284")`.
            let ret = match ret {
                None if enabled.imap4rev2() => Some(crate::command::SearchReturn {
                    all: true,
                    ..Default::default()
                }),
                ret => ret,
            };
            op::search::search(sel, tag, uid, ret, charset.as_deref(), &criteria, out)
        }
        C::Sort {
            uid,
            ret,
            criteria,
            charset,
            keys,
        } => {
            let args = op::sort::SortArgs {
                uid,
                ret: ret.as_ref(),
                criteria: &criteria,
                charset: &charset,
                keys: &keys,
            };
            op::sort::sort(sel, tag, args, out)
        }
        C::Thread {
            uid,
            algorithm,
            charset,
            keys,
        } => op::thread::thread(sel, uid, algorithm, &charset, &keys, out),
        C::Store {
            uid,
            set,
            mode,
            silent,
            flags,
            unchanged_since,
        } => op::store::store(
            sel,
            op::store::StoreArgs {
                uid,
                set: &set,
                mode,
                silent,
                flags: &flags,
                unchanged_since,
            },
            enabled,
            out,
        ),
        C::Copy { uid, set, mailbox } | C::Move { uid, set, mailbox } => op::copy::copy(
            account,
            sel,
            op::copy::CopyArgs {
                uid,
                is_move,
                set: &set,
                mailbox: &mailbox,
            },
            out,
        ),
        C::CancelUpdate(tags) => {
            op::context::cancel(sel, &tags);
            Completion::done("CANCELUPDATE")
        }
        C::Expunge => op::expunge::expunge(sel, None),
        C::UidExpunge(set) => op::expunge::expunge(sel, Some(&set)),
        body => {
            let name = sel.mailbox.name();
            authenticated(account, Some(&name), body, enabled, out)
                .unwrap_or_else(|| Completion::bad("Not valid here"))
        }
    }
}

/// Whether a command is a "CONDSTORE enabling command" (RFC 7162 §3.1): SELECT or
/// EXAMINE with CONDSTORE (or QRESYNC), STATUS HIGHESTMODSEQ, a FETCH of MODSEQ or with
/// CHANGEDSINCE, a SEARCH with MODSEQ, a STORE with UNCHANGEDSINCE. (ENABLE is the
/// other way, handled as ENABLE.)
fn enables_condstore(body: &CommandBody) -> bool {
    use crate::command::{FetchAttr, StatusItem};
    use CommandBody as C;
    match body {
        // QRESYNC can only be given once enabled, which enabled CONDSTORE.
        C::Select { params, .. } | C::Examine { params, .. } => params.condstore,
        C::Status { items, .. } => items.contains(&StatusItem::HighestModSeq),
        C::Fetch {
            items,
            changed_since,
            ..
        } => changed_since.is_some() || items.contains(&FetchAttr::ModSeq),
        C::Search { criteria, ret, .. } => {
            criteria.iter().any(op::search::uses_modseq)
                || ret
                    .as_ref()
                    .is_some_and(|r| r.update_fetch.contains(&FetchAttr::ModSeq))
        }
        C::Sort { ret: Some(r), .. } => r.update_fetch.contains(&FetchAttr::ModSeq),
        // A FETCH of MODSEQ is, and NOTIFY's MessageNew fetches (RFC 5465 §5.2).
        C::Notify(Some(set)) => set.groups.iter().any(|g| {
            g.events.iter().any(|e| {
                matches!(e, crate::command::NotifyEvent::MessageNew(atts)
                    if atts.contains(&FetchAttr::ModSeq))
            })
        }),
        C::Store {
            unchanged_since, ..
        } => unchanged_since.is_some(),
        _ => false,
    }
}

/// Which updates a command's response may carry (RFC 3501 §7.4.1; see [`op::updates`]).
fn updates_for(body: &CommandBody) -> Updates {
    use CommandBody as C;
    match body {
        // RFC 5256 §3: "Untagged EXPUNGE responses are not permitted while the server is
        // responding to a SORT command, but are permitted during a UID SORT command";
        // THREAD, UID SORT and UID THREAD withhold them alike, as UID SEARCH does.
        C::Fetch { .. }
        | C::Store { .. }
        | C::Search { .. }
        | C::Sort { .. }
        | C::Thread { .. } => Updates::NoExpunge,
        // These report on their own, or leave the selected state.
        C::Noop
        | C::Check
        | C::Idle
        | C::Select { .. }
        | C::Examine { .. }
        | C::Close
        | C::Unselect
        | C::Logout => Updates::None,
        _ => Updates::All,
    }
}

/// What a session waits on during IDLE and, with NOTIFY, between commands: the store's
/// mailbox watches and the account's name watch. It fires when any of them does.
#[derive(Debug)]
pub struct ImapWatch {
    mailboxes: Vec<MailboxWatch>,
    account: Option<AccountWatch>,
}

impl driver::Watch for ImapWatch {
    async fn changed(&mut self) {
        use std::future::Future;
        use std::pin::Pin;
        use std::task::Poll;
        type Waiting<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
        let mut waiting: Vec<Waiting<'_>> = Vec::new();
        for w in &mut self.mailboxes {
            waiting.push(Box::pin(w.changed()));
        }
        if let Some(a) = &mut self.account {
            waiting.push(Box::pin(a.changed()));
        }
        // Each watch is cancel-safe, so the ones that did not fire lose nothing.
        std::future::poll_fn(|cx| {
            for w in &mut waiting {
                if w.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(());
                }
            }
            Poll::Pending
        })
        .await;
    }
}

impl driver::Session for Session {
    type Frame = Frame;
    type Codec = ImapCodec;
    type Watch = ImapWatch;

    fn handle(&mut self, frame: Frame) -> Reply {
        // A literal accepted with `+` is the middle of a command.
        self.mid_command = matches!(frame, Frame::Continue);
        match frame {
            // RFC 3501 §7.5: the literal was accepted; the client may send it.
            Frame::Continue => Reply::next(CONTINUE_LINE),
            Frame::Command(bytes) if self.appending.is_some() => self.append_end(&bytes),
            Frame::Command(bytes) => self.handle_frame(&bytes),
            Frame::AppendHead {
                head,
                synchronizing,
            } => self.append_head(&head, synchronizing),
            Frame::Piece(piece) => {
                if let Some(streaming) = &mut self.appending {
                    streaming.write(&piece);
                }
                Reply::next(BytesMut::new())
            }
            Frame::Rejected { tag, reason } => self.handle_rejected(tag.as_deref(), &reason),
        }
    }

    fn resume(&mut self) -> Reply {
        Session::resume(self)
    }

    fn watch(&mut self) -> Option<ImapWatch> {
        Session::watch(self)
    }

    fn changes(&mut self) -> Reply {
        self.push()
    }

    fn watch_again(&mut self, watch: Option<ImapWatch>) -> Option<ImapWatch> {
        let Registration::On(n) = &mut self.notify else {
            return watch;
        };
        let added = n.take_added();
        if added.is_empty() {
            return watch;
        }
        let mut watch = watch.unwrap_or(ImapWatch {
            mailboxes: Vec::new(),
            account: None,
        });
        watch.mailboxes.extend(added);
        Some(watch)
    }

    /// RFC 5465 §3.1: after NOTIFY SET "the client listens for event notifications all
    /// the time".
    /// Also when FETCHes are owed for new messages an update context took in (RFC
    /// 5465 §7): they follow the reply that told of the messages. Not in the middle of a
    /// command (a literal's continuation, a streamed APPEND, a SASL exchange): the
    /// pushes wait for its end.
    fn pushes(&self) -> bool {
        if self.mid_command || self.appending.is_some() || self.sasl_pending.is_some() {
            return false;
        }
        matches!(self.notify, Registration::On(_))
            || matches!(&self.state, State::Selected(_, sel) if !sel.owed_fetch.is_empty())
    }

    fn tls_started(&mut self) {
        Session::tls_started(self);
    }

    fn phase(&self) -> Phase {
        match self.state {
            State::NotAuthenticated => Phase::Unauthenticated,
            _ => Phase::Authenticated,
        }
    }

    fn shown(&self) -> Shown {
        match self.sasl_pending {
            Some(_) => Shown::Secret,
            None => Shown::Command(&REDACTION),
        }
    }

    /// A SASL response and IDLE's `DONE` are raw lines, not commands; before login the
    /// framing limits are the small ones.
    fn adjust(&self, codec: &mut ImapCodec) {
        if codec.deciding() {
            codec.stream_decided(self.appending.is_some());
        }
        // The rest of a streamed APPEND's line is its end, not a new command.
        codec.expect_raw_line(self.sasl_pending.is_some() || self.idling.is_some());
        codec.set_authenticated(!matches!(self.state, State::NotAuthenticated));
        self.max_message.set(codec.limits().max_literal as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yubin_core::Secret;
    use yubin_store::{Flags, StoreError};

    fn session() -> Session {
        let store = Store::memory();
        store.add_account("alice", Secret::from("secret")).unwrap();
        let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
        inbox
            .append(b"Subject: one\r\n\r\nbody one\r\n", &Flags::new(), None)
            .unwrap();
        inbox
            .append(b"Subject: two\r\n\r\nbody two\r\n", &Flags::new(), None)
            .unwrap();
        Session::new(store, Arc::default(), Default::default()).0
    }

    fn say(s: &mut Session, line: &str) -> String {
        String::from_utf8(s.handle_frame(line.as_bytes()).bytes.to_vec()).unwrap()
    }

    #[test]
    fn states_gate_commands() {
        let mut s = session();
        assert!(say(&mut s, "a SELECT INBOX\r\n").starts_with("a BAD"));
        assert!(say(&mut s, "b LOGIN alice wrong\r\n").contains("b NO [AUTHENTICATIONFAILED]"));
        assert!(say(&mut s, "c LOGIN alice secret\r\n").starts_with("c OK"));
        assert!(matches!(s.state(), State::Authenticated(_)));
        assert!(say(&mut s, "d FETCH 1 FLAGS\r\n").starts_with("d BAD"));
        let r = say(&mut s, "e EXAMINE INBOX\r\n");
        assert!(
            r.contains("* 2 EXISTS") && r.contains("e OK [READ-ONLY]"),
            "{r}"
        );
        assert!(matches!(s.state(), State::Selected(..)));
        assert!(say(&mut s, "f UNSELECT\r\n").starts_with("f OK"));
        assert!(matches!(s.state(), State::Authenticated(_)));
        let out = s.handle_frame(b"g LOGOUT\r\n");
        assert_eq!(out.after, After::Close);
        assert!(matches!(s.state(), State::Logout));
    }

    #[test]
    fn fetch_body_sets_seen_and_peek_does_not() {
        let mut s = session();
        say(&mut s, "a LOGIN alice secret\r\n");
        say(&mut s, "b SELECT INBOX\r\n");
        let r = say(&mut s, "c FETCH 1 BODY.PEEK[]\r\n");
        assert!(!r.contains("\\Seen"), "{r}");
        let r = say(&mut s, "d FETCH 1 BODY[TEXT]\r\n");
        assert!(r.contains("FLAGS (\\Seen \\Recent)"), "{r}");
        assert!(r.contains("BODY[TEXT] {10}\r\nbody one\r\n"), "{r}");
    }

    #[test]
    fn sequence_past_exists_is_bad_and_changes_nothing() {
        let mut s = session();
        say(&mut s, "a LOGIN alice secret\r\n");
        say(&mut s, "b SELECT INBOX\r\n");
        assert!(say(&mut s, "c FETCH 3 BODY[]\r\n").starts_with("c BAD"));
        assert!(!say(&mut s, "d FETCH 1:2 FLAGS\r\n").contains("\\Seen"));
    }

    #[test]
    fn authenticate_plain_with_and_without_initial_response() {
        let mut s = session();
        // "\0alice\0secret"
        let r = say(&mut s, "a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n");
        assert!(r.starts_with("a OK"), "{r}");
        let mut s = session();
        let o = s.handle_frame(b"a AUTHENTICATE PLAIN\r\n");
        assert_eq!(o.after, After::Continue);
        assert_eq!(&o.bytes[..], b"+ \r\n");
        assert!(say(&mut s, "AGFsaWNlAHNlY3JldA==\r\n").starts_with("a OK"));
    }

    /// RFC 5530: a full disk and an unwritable store are said as such; a limit is LIMIT;
    /// only what nobody outside can act on is SERVERBUG.
    #[test]
    fn store_failures_get_the_code_a_person_can_act_on() {
        use std::io::{Error, ErrorKind};
        let io = |kind| StoreError::Io {
            context: "writing".into(),
            source: Error::from(kind),
        };
        let answer = |e: StoreError| {
            let mut r = Responses::new();
            r.completion("t", &Completion::store_failed("APPEND", &e));
            String::from_utf8(r.into_bytes()).unwrap()
        };
        assert_eq!(
            answer(io(ErrorKind::StorageFull)),
            "t NO [OVERQUOTA] APPEND failed: not enough disk space\r\n"
        );
        assert!(answer(io(ErrorKind::QuotaExceeded)).starts_with("t NO [OVERQUOTA]"));
        assert_eq!(
            answer(io(ErrorKind::ReadOnlyFilesystem)),
            "t NO [NOPERM] APPEND failed: the mail store cannot be written\r\n"
        );
        assert!(answer(io(ErrorKind::PermissionDenied)).starts_with("t NO [NOPERM]"));
        assert!(
            answer(StoreError::Limit {
                what: "accounts",
                limit: 3
            })
            .starts_with("t NO [LIMIT]")
        );
        assert!(answer(io(ErrorKind::InvalidData)).starts_with("t NO [SERVERBUG]"));
    }
}

#[cfg(test)]
mod condstore_tests {
    use super::*;
    use yubin_core::Secret;
    use yubin_store::Flags;

    fn say(s: &mut Session, line: &str) -> String {
        String::from_utf8(s.handle_frame(line.as_bytes()).bytes.to_vec()).unwrap()
    }

    fn highest(r: &str) -> u64 {
        let at = r.find("[HIGHESTMODSEQ ").expect(r) + 15;
        r[at..].split(']').next().unwrap().parse().unwrap()
    }

    #[test]
    fn a_qresync_session_end_to_end() {
        let store = Store::memory();
        store.add_account("alice", Secret::from("secret")).unwrap();
        let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
        for n in 1..=4 {
            let m = format!("Subject: {n}\r\n\r\n{n}\r\n");
            inbox.append(m.as_bytes(), &Flags::new(), None).unwrap();
        }
        let mut s = Session::new(store.clone(), Arc::default(), Default::default()).0;
        say(&mut s, "a LOGIN alice secret\r\n");
        assert_eq!(
            say(&mut s, "b ENABLE QRESYNC CONDSTORE X-UNKNOWN\r\n"),
            "* ENABLED QRESYNC\r\nb OK ENABLE completed\r\n"
        );
        let r = say(&mut s, "c SELECT INBOX\r\n");
        let h0 = highest(&r);
        // A conditional STORE: 1 passes, nothing else is touched.
        let r = say(
            &mut s,
            &format!("d STORE 1 (UNCHANGEDSINCE {h0}) +FLAGS (\\Seen)\r\n"),
        );
        assert!(
            r.starts_with("* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent) MODSEQ ("),
            "{r}"
        );
        assert!(r.ends_with("d OK STORE completed\r\n"), "{r}");
        // The same condition again: message 1 changed since, so MODIFIED.
        let r = say(
            &mut s,
            &format!("e STORE 1:2 (UNCHANGEDSINCE {h0}) +FLAGS.SILENT (\\Flagged)\r\n"),
        );
        assert!(
            r.contains("e OK [MODIFIED 1] Conditional STORE failed"),
            "{r}"
        );
        assert!(r.starts_with("* 2 FETCH (UID 2 MODSEQ ("), "{r}");
        let r = say(
            &mut s,
            &format!("f FETCH 1:* (FLAGS) (CHANGEDSINCE {h0})\r\n"),
        );
        assert_eq!(
            r.lines().filter(|l| l.contains(" FETCH (")).count(),
            2,
            "{r}"
        );
        // Expunges are VANISHED once QRESYNC is on.
        say(&mut s, "g STORE 3 +FLAGS.SILENT (\\Deleted)\r\n");
        let r = say(&mut s, "h EXPUNGE\r\n");
        assert!(r.starts_with("* VANISHED 3\r\n"), "{r}");
        // Another session expunges 4; a resynchronizing SELECT from h0 says so.
        inbox.expunge(&[4]).unwrap_or_else(|e| panic!("{e}"));
        let uv = inbox.status().unwrap().uid_validity;
        let r = say(&mut s, &format!("i SELECT INBOX (QRESYNC ({uv} {h0}))\r\n"));
        assert!(r.starts_with("* OK [CLOSED]"), "{r}");
        assert!(r.contains("* VANISHED (EARLIER) 3:4\r\n"), "{r}");
        assert!(r.contains(" FETCH (UID 1 FLAGS (\\Seen) MODSEQ ("), "{r}");
        assert!(
            r.contains(" FETCH (UID 2 FLAGS (\\Flagged) MODSEQ ("),
            "{r}"
        );
        let r = say(
            &mut s,
            "j UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)\r\n",
        );
        assert!(r.starts_with("* VANISHED (EARLIER) 3:4\r\n"), "{r}");
        assert!(
            say(&mut s, "k FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)\r\n").starts_with("k BAD")
        );
    }
}
