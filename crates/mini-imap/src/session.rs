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
//! Before the dispatch `match`, a gate ([`Session::check_state`]) refuses a command that
//! is not valid in the current state, so each handler only does its own work.
//!
//! The selected state keeps a snapshot of the mailbox (UIDs and flags in sequence order).
//! Sequence numbers are positions in that snapshot and only change when the session
//! reports the change (RFC 3501 §7.4.1): [`Session::sync`] diffs the snapshot against the
//! store ([`op::notify`]). Every command in the selected state ends with that diff
//! (without EXPUNGE for FETCH, STORE and SEARCH), and IDLE pushes it whenever the
//! mailbox's watch fires ([`Session::idle_poll`]): one mechanism for every change, made
//! by another session, an SMTP delivery or a POP3 commit.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::BytesMut;
use yubin_core::Secret;
use yubin_core::driver::{self, Goodbyes, Phase};
pub use yubin_core::driver::{After, Reply};
use yubin_core::sasl::{self, Step};
use yubin_core::tls::TlsState;
use yubin_core::transcript::{Masked, Redaction, Shown};
use yubin_store::{
    Account, Flag, FlagOp, Flags, Mailbox, MailboxWatch, MessageMeta, Refused, Store, StoreError,
    Uids, View,
};

use crate::codec::{Frame, ImapCodec, Rejection};
use crate::command::{Command, CommandBody, StatusItem};
use crate::mime::InfoCache;
use crate::op;
use crate::parse::{self, ParseError};
use crate::response::{self, Code, tagged, untagged};

/// Exactly what this server implements (RFC 3501 §6.1.1): the one place it is written.
/// IDLE is RFC 2177, UIDPLUS RFC 4315, MOVE RFC 6851, ESEARCH RFC 4731, SEARCHRES
/// RFC 5182, SORT and THREAD RFC 5256, SORT=DISPLAY RFC 5957, ESORT RFC 5267,
/// STATUS=SIZE RFC 8438.
pub const CAPABILITIES: &str = "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE SPECIAL-USE CREATE-SPECIAL-USE CHILDREN LIST-EXTENDED LIST-STATUS ESEARCH SEARCHRES WITHIN SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES STATUS=SIZE AUTH=PLAIN";

/// The capabilities as they stand on a connection: [`CAPABILITIES`], plus `STARTTLS`
/// while the upgrade is on offer, and `LOGINDISABLED` instead of `AUTH=PLAIN` while
/// passwords are refused on plaintext (RFC 3501 §6.2.1, §6.2.3, §7.2.1).
pub fn capabilities(tls: TlsState) -> String {
    let mut caps = if tls.login_allowed() {
        CAPABILITIES.to_owned()
    } else {
        format!(
            "{} LOGINDISABLED",
            CAPABILITIES.trim_end_matches(" AUTH=PLAIN")
        )
    };
    if tls.offer_starttls() {
        caps.push_str(" STARTTLS");
    }
    caps
}

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
/// The continuation that starts IDLE (RFC 2177 §3).
pub const IDLING_LINE: &str = "+ idling\r\n";

/// Protocol settings (socket limits, timeouts and the login guard live in
/// `yubin_core::driver::ListenerConfig`; framing limits in [`crate::codec::CodecLimits`]).
#[derive(Debug, Clone, Default)]
pub struct ImapConfig {}

/// A mailbox as the selected state sees it.
pub struct Selected {
    /// The store's handle.
    pub mailbox: Mailbox,
    /// EXAMINE (or a read-only SELECT): nothing may change.
    pub read_only: bool,
    /// UIDVALIDITY when selected.
    pub uid_validity: u32,
    /// Message `n` is `uids[n - 1]`: the numbering the client knows (RFC 3501 §2.3.1.2),
    /// ghosts included.
    pub uids: Uids,
    /// The store's view as of the last report to the client: flags, sizes and dates are
    /// read from it (shared with every other session, not copied).
    pub view: Arc<View>,
    /// Messages the store has expunged whose `EXPUNGE` the client has not been told yet
    /// (RFC 3501 §7.4.1 withholds it during FETCH, STORE and SEARCH): they keep their
    /// numbers, and what the session last knew of them.
    pub ghosts: BTreeMap<u32, MessageMeta>,
    /// Flag changes this session reported itself (STORE, FETCH setting `\Seen`), by UID
    /// and modseq, so the next report does not repeat them.
    pub own: BTreeMap<u32, u64>,
    /// UIDs that are `\Recent` in this session.
    pub recent: BTreeSet<u32>,
    /// The keywords the client has been told of in `FLAGS` (RFC 3501 §7.2.6). A keyword
    /// new to it is announced ([`Selected::announce`]) before any FETCH shows it; until
    /// then FETCH leaves it out ([`Selected::flag_list`]).
    pub keywords: BTreeSet<String>,
    /// ENVELOPE/BODYSTRUCTURE/section offsets per message.
    pub cache: InfoCache,
    /// The search result variable of RFC 5182 (`$`), as UIDs: empty until a
    /// `SEARCH RETURN (SAVE)`, and gone with the selection (SELECT, EXAMINE, CLOSE and
    /// UNSELECT start afresh). Expunged messages drop out when `$` is expanded
    /// ([`op::expand_saved`]).
    pub saved: BTreeSet<u32>,
}

impl std::fmt::Debug for Selected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Selected")
            .field("mailbox", &self.mailbox)
            .field("read_only", &self.read_only)
            .field("exists", &self.uids.len())
            .finish()
    }
}

impl Selected {
    /// How many messages the client knows of (EXISTS).
    pub fn len(&self) -> usize {
        self.uids.len()
    }

    /// Whether the client knows of no message.
    pub fn is_empty(&self) -> bool {
        self.uids.is_empty()
    }

    /// The UID of the message at 0-based position `pos`.
    pub fn uid(&self, pos: usize) -> u32 {
        self.uids.get(pos).unwrap_or_default()
    }

    /// The largest UID the client knows of (what `*` means in a UID set).
    pub fn largest_uid(&self) -> u32 {
        self.uids.last().unwrap_or(0)
    }

    /// What the session knows of the message at `pos`: from its view, or for a ghost
    /// what it knew before the message went.
    pub fn meta(&self, pos: usize) -> Option<MessageMeta> {
        let uid = self.uid(pos);
        self.view
            .get(uid)
            .or_else(|| self.ghosts.get(&uid).cloned())
    }

    /// The flags of the message at `pos` as the session knows them.
    pub fn flags(&self, pos: usize) -> Flags {
        let uid = self.uid(pos);
        match self.view.flags(uid) {
            Some(f) => f.clone(),
            None => self
                .ghosts
                .get(&uid)
                .map(|m| m.flags.clone())
                .unwrap_or_default(),
        }
    }

    /// The flags of message `uid` as this session reports them (`\Recent` included).
    ///
    /// A keyword the client has not been told of is left out: a client must not see one
    /// before `FLAGS` lists it (RFC 3501 §7.2.6). Handlers announce first, so this only
    /// happens when another session set it while a FETCH marked the message `\Seen`;
    /// the report at the end of that command announces it and sends the flags again
    /// ([`Selected::reported_own`] leaves such a change to it).
    pub fn flag_list(&self, uid: u32, flags: &Flags) -> String {
        let mut parts: Vec<String> = flags
            .iter()
            .filter(|f| self.announced(f))
            .map(|f| f.to_string())
            .collect();
        if self.recent.contains(&uid) {
            parts.push("\\Recent".into());
        }
        format!("({})", parts.join(" "))
    }

    /// Whether the client may be shown `flag`: a system flag, or a keyword it was told of.
    fn announced(&self, flag: &Flag) -> bool {
        match flag {
            Flag::Keyword(k) => self.keywords.contains(k),
            _ => true,
        }
    }

    /// Notes flags this session reported itself, so no later report repeats them; not
    /// those it could not show whole (a keyword not yet announced), which the next report
    /// sends.
    pub fn reported_own(&mut self, changed: &yubin_store::FlagsChanged) {
        if changed.modseq != 0 {
            for (uid, flags) in &changed.flags {
                if flags.iter().all(|f| self.announced(f)) {
                    self.own.insert(*uid, changed.modseq);
                }
            }
        }
    }

    /// Tells the client of keywords it does not know yet, before a FETCH shows them
    /// (RFC 3501 §7.2.6): an updated `FLAGS`, and for a writable mailbox the
    /// `PERMANENTFLAGS` that go with it. Writes nothing when every keyword is known.
    pub fn announce<'k>(&mut self, keywords: impl IntoIterator<Item = &'k str>, b: &mut Vec<u8>) {
        let mut new = false;
        for k in keywords {
            if !self.keywords.contains(k) {
                self.keywords.insert(k.to_owned());
                new = true;
            }
        }
        if new {
            untagged(b, &flags_line(&self.keywords));
            if !self.read_only {
                untagged(b, &permanent_flags_line(&self.keywords));
            }
        }
    }
}

/// `FLAGS (...)`: the system flags and the given keywords (RFC 3501 §7.2.6).
fn flags_line(keywords: &BTreeSet<String>) -> String {
    let kw: String = keywords.iter().map(|k| format!(" {k}")).collect();
    format!("FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft{kw})")
}

/// `OK [PERMANENTFLAGS (...)]` of a writable mailbox: the flags of [`flags_line`], and
/// `\*` since a client may make new keywords (RFC 3501 §7.1).
fn permanent_flags_line(keywords: &BTreeSet<String>) -> String {
    let kw: String = keywords.iter().map(|k| format!(" {k}")).collect();
    format!(
        "OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft{kw} \\*)] Flags permitted"
    )
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
    #[allow(dead_code)]
    config: Arc<ImapConfig>,
    state: State,
    /// The tag of an AUTHENTICATE waiting for its SASL response.
    sasl_pending: Option<String>,
    /// The tag of an IDLE in progress (RFC 2177), answered when DONE arrives.
    idling: Option<String>,
    /// Whether the connection is encrypted, can be, or must be before a login.
    tls: TlsState,
    /// A FETCH whose responses are still being produced ([`After::More`]).
    fetching: Option<op::fetch::FetchJob>,
    /// An APPEND whose message is arriving in pieces ([`Frame::AppendHead`]).
    appending: Option<op::append::Streaming>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("state", &self.state)
            .finish()
    }
}

fn out(bytes: Vec<u8>) -> Reply {
    Reply::from_vec(bytes, After::Continue)
}

impl Session {
    /// A new session and its greeting (RFC 3501 §7.1.1, with the capabilities inline so
    /// clients save a round trip).
    pub fn new(store: Store, config: Arc<ImapConfig>, tls: TlsState) -> (Session, BytesMut) {
        let mut greeting = Vec::new();
        untagged(
            &mut greeting,
            &format!(
                "OK [CAPABILITY {}] yubin IMAP4rev1 ready",
                capabilities(tls)
            ),
        );
        (
            Session {
                store,
                config,
                state: State::NotAuthenticated,
                sasl_pending: None,
                idling: None,
                tls,
                fetching: None,
                appending: None,
            },
            BytesMut::from(&greeting[..]),
        )
    }

    /// The next piece of a response that returned [`After::More`].
    pub fn resume(&mut self) -> Reply {
        let mut b = Vec::new();
        let (Some(mut job), State::Selected(_, sel)) = (self.fetching.take(), &mut self.state)
        else {
            return out(b);
        };
        if !job.step(sel, &mut b, op::fetch::FETCH_CHUNK) {
            self.fetching = Some(job);
            return Reply::from_vec(b, After::More);
        }
        // Done: what other sessions changed goes before the completion, as for any
        // FETCH, and never as EXPUNGE (RFC 3501 §7.4.1).
        let mut report = Vec::new();
        op::notify::report(sel, false, &mut report);
        op::notify::insert_before_completion(&mut b, &report);
        out(b)
    }

    /// Told once the STARTTLS handshake has completed: capabilities change, and nothing
    /// learnt before TLS is kept (RFC 3501 §6.2.1).
    pub fn tls_started(&mut self) {
        self.tls = self.tls.started();
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
        if frame.contains(&0) {
            let tag = parse::tag_of(frame).unwrap_or_else(|| "*".into());
            let mut b = Vec::new();
            tagged(&mut b, &tag, "BAD", None, "NUL octets are not allowed");
            return out(b);
        }
        match parse::command(frame) {
            Ok(cmd) => self.handle(cmd),
            Err(e) => {
                let mut b = Vec::new();
                let tag = e.tag().unwrap_or("*").to_owned();
                let text = match &e {
                    ParseError::UnknownCommand { name, .. } => format!("Unknown command {name}"),
                    other => capitalize(&other.to_string()),
                };
                tagged(&mut b, &tag, "BAD", None, &text);
                out(b)
            }
        }
    }

    /// Answers a command the codec refused before parsing; nothing changes.
    pub fn handle_rejected(&mut self, tag: Option<&str>, reason: &Rejection) -> Reply {
        if self.idling.is_some() {
            // An overlong line where DONE was expected.
            return self.idle_done(b"");
        }
        let tag = tag.unwrap_or("*");
        let mut b = Vec::new();
        match reason {
            Rejection::LineTooLong => tagged(&mut b, tag, "BAD", None, "Line too long"),
            Rejection::LiteralTooBig { append: true, .. } => {
                tagged(&mut b, tag, "NO", Some(&Code::TooBig), "Message too large")
            }
            Rejection::LiteralTooBig { .. } => {
                tagged(&mut b, tag, "BAD", Some(&Code::TooBig), "Literal too large")
            }
            // RFC 5530 §3: UNAVAILABLE, a temporary failure; the same command may work
            // later.
            Rejection::Busy => tagged(
                &mut b,
                tag,
                "NO",
                Some(&Code::Unavailable),
                "Server busy; try again later",
            ),
        }
        out(b)
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
                C::Select(_)
                | C::Examine(_)
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
                | C::Idle,
            ) => Ok(()),
            (State::Selected(..), _) => Ok(()),
            (State::Authenticated(_), _) => Err("No mailbox selected"),
            (State::Logout, _) => Err("Logging out"),
        }
    }

    /// Handles one parsed command.
    pub fn handle(&mut self, mut cmd: Command) -> Reply {
        let mut b = Vec::new();
        if let Err(why) = self.check_state(&cmd.body) {
            tagged(&mut b, &cmd.tag, "BAD", None, why);
            return out(b);
        }
        // `$` stands for the saved search result (RFC 5182): handlers see the messages.
        if let State::Selected(_, sel) = &self.state {
            op::expand_saved(sel, &mut cmd.body);
        }
        let tag = cmd.tag;
        let updates = updates_for(&cmd.body);
        let is_move = matches!(cmd.body, CommandBody::Move { .. });
        use CommandBody as C;
        match cmd.body {
            C::Capability => {
                untagged(&mut b, &format!("CAPABILITY {}", capabilities(self.tls)));
                tagged(&mut b, &tag, "OK", None, "CAPABILITY completed");
            }
            C::StartTls => {
                if self.tls.offer_starttls() {
                    tagged(&mut b, &tag, "OK", None, "Begin TLS negotiation now");
                    return Reply::from_vec(b, After::StartTls);
                }
                let why = if self.tls.active {
                    "TLS is already active"
                } else {
                    "STARTTLS is not offered here"
                };
                tagged(&mut b, &tag, "BAD", None, why);
            }
            C::Login { .. } | C::Authenticate { .. } if !self.tls.login_allowed() => {
                // RFC 3501 §6.2.3: LOGINDISABLED is advertised; refuse with a reason.
                tagged(
                    &mut b,
                    &tag,
                    "NO",
                    Some(&Code::PrivacyRequired),
                    "Plaintext login is disabled; use STARTTLS first",
                );
            }
            C::Noop | C::Check => {
                let name = if matches!(cmd.body, C::Noop) {
                    "NOOP"
                } else {
                    "CHECK"
                };
                self.sync(&mut b);
                tagged(&mut b, &tag, "OK", None, &format!("{name} completed"));
            }
            C::Logout => {
                untagged(&mut b, "BYE yubin IMAP4rev1 server logging out");
                tagged(&mut b, &tag, "OK", None, "LOGOUT completed");
                self.state = State::Logout;
                return Reply::from_vec(b, After::Close);
            }
            C::Login { user, password } => return self.login(&tag, &user, &password),
            C::Authenticate { mechanism, initial } => {
                let initial = initial.as_ref().map(|ir| ir.as_bytes());
                return self.sasl_step(&tag, sasl::start(&mechanism, initial));
            }
            C::Id(_) => {
                // RFC 2971 §3.1: the server answers with its own identification.
                untagged(
                    &mut b,
                    &format!(
                        "ID (\"name\" \"yubin\" \"version\" \"{}\" \"support-url\" NIL)",
                        env!("CARGO_PKG_VERSION")
                    ),
                );
                tagged(&mut b, &tag, "OK", None, "ID completed");
            }
            C::Namespace => {
                // RFC 2342: one personal namespace, no prefix, delimiter "/"; no others.
                untagged(&mut b, "NAMESPACE ((\"\" \"/\")) NIL NIL");
                tagged(&mut b, &tag, "OK", None, "NAMESPACE completed");
            }
            C::Enable(_) => {
                // RFC 5161 §3.2: nothing yubin advertises is enable-able yet, so the
                // ENABLED response lists nothing.
                untagged(&mut b, "ENABLED");
                tagged(&mut b, &tag, "OK", None, "ENABLE completed");
            }
            C::List { reference, pattern } => {
                op::list::list(self.account(), &tag, &reference, &pattern, false, &mut b)
            }
            C::ListExtended(l) => op::list::list_extended(self.account(), &tag, &l, &mut b),
            C::Lsub { reference, pattern } => {
                op::list::list(self.account(), &tag, &reference, &pattern, true, &mut b)
            }
            C::Subscribe(name) => {
                let r = self.account().map(|a| a.subscribe(&name));
                store_result(&mut b, &tag, "SUBSCRIBE", r);
            }
            C::Unsubscribe(name) => {
                let r = self.account().map(|a| a.unsubscribe(&name));
                store_result(&mut b, &tag, "UNSUBSCRIBE", r);
            }
            C::Status { mailbox, items } => self.status(&tag, &mailbox, &items, &mut b),
            C::Select(name) => self.select(&tag, &name, false, &mut b),
            C::Examine(name) => self.select(&tag, &name, true, &mut b),
            C::Close => {
                if let State::Selected(account, sel) =
                    std::mem::replace(&mut self.state, State::Logout)
                {
                    // RFC 3501 §6.4.2: CLOSE silently expunges \Deleted messages, unless
                    // the mailbox is read-only.
                    if !sel.read_only {
                        let now = sel.mailbox.view().unwrap_or_else(|_| sel.view.clone());
                        let deleted: Vec<u32> = now
                            .iter()
                            .filter(|m| m.flags.contains(&Flag::Deleted))
                            .map(|m| m.uid)
                            .collect();
                        if !deleted.is_empty()
                            && let Err(e) = sel.mailbox.expunge(&deleted)
                        {
                            tracing::warn!(error = %e, "CLOSE could not expunge");
                        }
                    }
                    self.state = State::Authenticated(account);
                }
                tagged(&mut b, &tag, "OK", None, "CLOSE completed");
            }
            C::Unselect => {
                if let State::Selected(account, _) =
                    std::mem::replace(&mut self.state, State::Logout)
                {
                    self.state = State::Authenticated(account);
                }
                tagged(&mut b, &tag, "OK", None, "UNSELECT completed");
            }
            C::Fetch { uid, set, items } => {
                if let State::Selected(_, sel) = &mut self.state
                    && let Some(mut job) = op::fetch::start(sel, &tag, uid, &set, &items, &mut b)
                    && !job.step(sel, &mut b, op::fetch::FETCH_CHUNK)
                {
                    // The rest follows through `resume`, a piece at a time.
                    self.fetching = Some(job);
                    return Reply::from_vec(b, After::More);
                }
            }
            C::Search {
                uid,
                ret,
                charset,
                criteria,
            } => {
                if let State::Selected(_, sel) = &mut self.state {
                    let charset = charset.as_deref();
                    op::search::search(sel, &tag, uid, ret, charset, &criteria, &mut b);
                }
            }
            C::Sort {
                uid,
                ret,
                criteria,
                charset,
                keys,
            } => {
                if let State::Selected(_, sel) = &mut self.state {
                    let args = op::sort::SortArgs {
                        uid,
                        ret,
                        criteria: &criteria,
                        charset: &charset,
                        keys: &keys,
                    };
                    op::sort::sort(sel, &tag, args, &mut b);
                }
            }
            C::Thread {
                uid,
                algorithm,
                charset,
                keys,
            } => {
                if let State::Selected(_, sel) = &mut self.state {
                    op::thread::thread(sel, &tag, uid, algorithm, &charset, &keys, &mut b);
                }
            }
            C::Store {
                uid,
                set,
                mode,
                silent,
                flags,
            } => {
                if let State::Selected(_, sel) = &mut self.state {
                    let args = op::store::StoreArgs {
                        uid,
                        set: &set,
                        mode,
                        silent,
                        flags: &flags,
                    };
                    op::store::store(sel, &tag, args, &mut b);
                }
            }
            C::Copy { uid, set, mailbox } | C::Move { uid, set, mailbox } => {
                if let State::Selected(account, sel) = &mut self.state {
                    let args = op::copy::CopyArgs {
                        uid,
                        is_move,
                        set: &set,
                        mailbox: &mailbox,
                    };
                    op::copy::copy(account, sel, &tag, args, &mut b);
                }
            }
            C::Expunge => {
                if let State::Selected(_, sel) = &mut self.state {
                    op::expunge::expunge(sel, &tag, None, &mut b);
                }
            }
            C::UidExpunge(set) => {
                if let State::Selected(_, sel) = &mut self.state {
                    op::expunge::expunge(sel, &tag, Some(&set), &mut b);
                }
            }
            C::Append {
                mailbox,
                flags,
                date,
                message,
            } => {
                if let Some(account) = self.account() {
                    let args = op::append::AppendArgs {
                        mailbox: &mailbox,
                        flags: &flags,
                        date,
                        message: &message,
                    };
                    op::append::append(account, &tag, args, &mut b);
                }
            }
            C::Create(name) => {
                if let Some(account) = self.account() {
                    op::mailbox::create(account, &tag, &name, &mut b);
                }
            }
            C::CreateSpecialUse { mailbox, uses } => {
                if let Some(account) = self.account() {
                    op::mailbox::create_special_use(account, &tag, &mailbox, &uses, &mut b);
                }
            }
            C::Delete(name) => {
                let selected = match &self.state {
                    State::Selected(_, sel) => Some(sel.mailbox.name()),
                    _ => None,
                };
                if let Some(account) = self.account() {
                    op::mailbox::delete(account, selected.as_deref(), &tag, &name, &mut b);
                }
            }
            C::Rename { from, to } => {
                if let Some(account) = self.account() {
                    op::mailbox::rename(account, &tag, &from, &to, &mut b);
                }
            }
            C::Idle => return self.idle(tag),
        }
        self.report(updates, &mut b);
        out(b)
    }

    /// What other sessions changed, before the tagged completion (op::notify).
    fn report(&mut self, updates: op::notify::Updates, b: &mut Vec<u8>) {
        if updates != op::notify::Updates::None
            && let State::Selected(_, sel) = &mut self.state
        {
            let mut report = Vec::new();
            op::notify::report(sel, updates == op::notify::Updates::All, &mut report);
            op::notify::insert_before_completion(b, &report);
        }
    }

    /// The head of a streamed APPEND: accepted (the pieces follow) or answered at once.
    fn append_head(&mut self, head: &[u8], synchronizing: bool) -> Reply {
        let mut b = Vec::new();
        let parsed = match parse::append_head(head) {
            Ok(parsed) => parsed,
            Err(e) => {
                let tag = e
                    .tag()
                    .or(parse::tag_of(head).as_deref())
                    .unwrap_or("*")
                    .to_owned();
                tagged(&mut b, &tag, "BAD", None, &capitalize(&e.to_string()));
                return out(b);
            }
        };
        let Some(account) = self.account() else {
            tagged(&mut b, &parsed.tag, "BAD", None, "Log in first");
            return out(b);
        };
        if let Some(streaming) = op::append::start(account, &parsed, &mut b) {
            self.appending = Some(streaming);
            if synchronizing {
                // RFC 3501 §7.5: now the client may send the message.
                b.extend_from_slice(CONTINUE_LINE);
            }
        }
        out(b)
    }

    /// The end of a streamed APPEND's command line: the message is added, or not.
    fn append_end(&mut self, tail: &[u8]) -> Reply {
        let mut b = Vec::new();
        let Some(streaming) = self.appending.take() else {
            return out(b);
        };
        op::append::finish(streaming, tail, &mut b);
        self.report(op::notify::Updates::All, &mut b);
        out(b)
    }

    /// IDLE (RFC 2177): reports what is pending, then `+ idling`; from then on the
    /// server pushes [`Session::idle_poll`] until [`Session::idle_done`].
    fn idle(&mut self, tag: String) -> Reply {
        let mut b = Vec::new();
        self.sync(&mut b);
        b.extend_from_slice(IDLING_LINE.as_bytes());
        self.idling = Some(tag);
        Reply::from_vec(b, After::Idle)
    }

    /// While idling: the updates to push now (EXPUNGE included, RFC 2177 §3), or nothing.
    /// The server calls this when the [`Session::watch`] fires.
    pub fn idle_poll(&mut self) -> Vec<u8> {
        let mut b = Vec::new();
        if self.idling.is_some() {
            self.sync(&mut b);
        }
        b
    }

    /// Ends IDLE with the line the client sent: `DONE` completes it with `OK`; anything
    /// else is a protocol error (RFC 2177 §3) and ends it with `BAD`.
    pub fn idle_done(&mut self, line: &[u8]) -> Reply {
        let line = line
            .strip_suffix(b"\r\n")
            .or(line.strip_suffix(b"\n"))
            .unwrap_or(line);
        let tag = self.idling.take().unwrap_or_else(|| "*".into());
        let mut b = Vec::new();
        self.sync(&mut b);
        if line.eq_ignore_ascii_case(b"DONE") {
            tagged(&mut b, &tag, "OK", None, "IDLE terminated");
        } else {
            tagged(&mut b, &tag, "BAD", None, "Expected DONE");
        }
        out(b)
    }

    /// A watch on the selected mailbox (for IDLE); `None` when nothing is selected.
    pub fn watch(&self) -> Option<MailboxWatch> {
        match &self.state {
            State::Selected(_, sel) => Some(sel.mailbox.watch()),
            _ => None,
        }
    }

    fn account(&self) -> Option<&Account> {
        match &self.state {
            State::Authenticated(a) | State::Selected(a, _) => Some(a),
            _ => None,
        }
    }

    fn login(&mut self, tag: &str, user: &str, password: &Secret) -> Reply {
        let mut b = Vec::new();
        match self.store.authenticate(user, password) {
            Ok(account) => {
                self.state = State::Authenticated(account);
                tagged(
                    &mut b,
                    tag,
                    "OK",
                    Some(&Code::Capability(capabilities(self.tls))),
                    "Logged in",
                );
                out(b)
            }
            Err(
                e @ (StoreError::Limit { .. } | StoreError::Io { .. } | StoreError::Backend { .. }),
            ) => {
                // Not a wrong password: say what stands in the way, and do not count it.
                let (code, text) = match &e {
                    StoreError::Limit { .. } => (Code::Limit, capitalize(&e.to_string())),
                    _ => {
                        tracing::warn!(error = %e, "login failed on a store error");
                        (
                            Code::Unavailable,
                            "Cannot open the account now; try later".into(),
                        )
                    }
                };
                tagged(&mut b, tag, "NO", Some(&code), &text);
                out(b)
            }
            Err(_) => {
                // The driver's login guard holds this back, and closes the connection
                // after too many (with GOODBYES.too_many_failures).
                tagged(
                    &mut b,
                    tag,
                    "NO",
                    Some(&Code::AuthenticationFailed),
                    "Invalid credentials",
                );
                Reply::from_vec(b, After::LoginFailed)
            }
        }
    }

    /// The IMAP words for each step of a SASL PLAIN exchange (RFC 3501 §6.2.2, RFC 4959).
    fn sasl_step(&mut self, tag: &str, step: Step) -> Reply {
        let mut b = Vec::new();
        match step {
            Step::Challenge => {
                // The next line is the response, not a command (see `adjust`).
                self.sasl_pending = Some(tag.to_owned());
                b.extend_from_slice(b"+ \r\n");
            }
            Step::Credentials(creds) => return self.login(tag, &creds.authcid, &creds.password),
            // RFC 3501 §6.2.2: a cancelled exchange is answered with BAD.
            Step::Cancelled => tagged(&mut b, tag, "BAD", None, "Authentication cancelled"),
            Step::NotBase64 => tagged(&mut b, tag, "BAD", None, "Response is not valid base64"),
            Step::Refused(e) => {
                tagged(
                    &mut b,
                    tag,
                    "NO",
                    Some(&Code::AuthenticationFailed),
                    &capitalize(&e.to_string()),
                );
                return Reply::from_vec(b, After::LoginFailed);
            }
            Step::Unsupported => tagged(
                &mut b,
                tag,
                "NO",
                Some(&Code::Cannot),
                "Unsupported mechanism",
            ),
        }
        out(b)
    }

    fn status(&mut self, tag: &str, name: &str, items: &[StatusItem], b: &mut Vec<u8>) {
        let Some(account) = self.account() else {
            return;
        };
        if let Err(e) = write_status(account, name, items, b) {
            return store_error(b, tag, "STATUS", &e);
        }
        tagged(b, tag, "OK", None, "STATUS completed");
    }

    fn select(&mut self, tag: &str, name: &str, examine: bool, b: &mut Vec<u8>) {
        let command = if examine { "EXAMINE" } else { "SELECT" };
        // RFC 3501 §6.3.1: a SELECT, even a failing one, first deselects.
        let account = match std::mem::replace(&mut self.state, State::Logout) {
            State::Authenticated(a) | State::Selected(a, _) => a,
            other => {
                self.state = other;
                return;
            }
        };
        let opened = account.mailbox(name).and_then(|m| {
            let view = m.view()?;
            Ok((m, view))
        });
        let (mailbox, view) = match opened {
            Ok(x) => x,
            Err(e) => {
                self.state = State::Authenticated(account);
                return store_error(b, tag, command, &e);
            }
        };
        // The view's own list, shared: SELECT copies nothing, whatever the mailbox's size.
        let uids = view.seq();
        // EXAMINE changes nothing, not even \Recent (§6.3.2): it only looks at which
        // messages are recent; SELECT claims them for this session.
        let first_recent = if examine {
            view.header().recent_from
        } else {
            mailbox.claim_recent()
        };
        let recent: BTreeSet<u32> = view.uids_after(first_recent.saturating_sub(1)).collect();
        let st = view.status();
        let keywords: BTreeSet<String> = view.keywords().map(str::to_owned).collect();
        untagged(b, &flags_line(&keywords));
        untagged(b, &format!("{} EXISTS", uids.len()));
        untagged(b, &format!("{} RECENT", recent.len()));
        if let Some(pos) = view.first_unseen().and_then(|u| uids.position(u).ok()) {
            untagged(b, &format!("OK [UNSEEN {}] First unseen", pos + 1));
        }
        untagged(
            b,
            &format!("OK [UIDVALIDITY {}] UIDs valid", st.uid_validity),
        );
        untagged(
            b,
            &format!("OK [UIDNEXT {}] Predicted next UID", st.uid_next),
        );
        if examine {
            untagged(b, "OK [PERMANENTFLAGS ()] Read-only mailbox");
        } else {
            untagged(b, &permanent_flags_line(&keywords));
        }
        let code = if examine {
            Code::ReadOnly
        } else {
            Code::ReadWrite
        };
        tagged(b, tag, "OK", Some(&code), &format!("{command} completed"));
        self.state = State::Selected(
            account,
            Box::new(Selected {
                mailbox,
                read_only: examine,
                uid_validity: st.uid_validity,
                uids,
                view,
                ghosts: BTreeMap::new(),
                own: BTreeMap::new(),
                recent,
                keywords,
                cache: InfoCache::default(),
                saved: BTreeSet::new(),
            }),
        );
    }

    /// Reports what changed in the selected mailbox since the snapshot (RFC 3501 §7.4.1,
    /// §7.3.1): EXPUNGE for vanished messages (highest first, so each number is right
    /// when it is read), FETCH FLAGS for changed flags, then EXISTS and RECENT.
    pub fn sync(&mut self, b: &mut Vec<u8>) {
        if let State::Selected(_, sel) = &mut self.state {
            op::notify::report(sel, true, b);
        }
    }
}

/// Which updates a command's response may carry (RFC 3501 §7.4.1; see [`op::notify`]).
fn updates_for(body: &CommandBody) -> op::notify::Updates {
    use CommandBody as C;
    use op::notify::Updates;
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
        | C::Select(_)
        | C::Examine(_)
        | C::Close
        | C::Unselect
        | C::Logout => Updates::None,
        _ => Updates::All,
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Writes `* STATUS name (item n ...)` (RFC 3501 §7.2.4), for STATUS and for LIST's
/// `RETURN (STATUS ...)` (RFC 5819); nothing when the store cannot answer.
pub fn write_status(
    account: &Account,
    name: &str,
    items: &[StatusItem],
    b: &mut Vec<u8>,
) -> Result<(), StoreError> {
    let st = account.mailbox(name).and_then(|m| m.status())?;
    let values: Vec<String> = items
        .iter()
        .map(|i| {
            let n = match i {
                StatusItem::Messages => u64::from(st.messages),
                StatusItem::Recent => u64::from(st.recent),
                StatusItem::UidNext => u64::from(st.uid_next),
                StatusItem::UidValidity => u64::from(st.uid_validity),
                StatusItem::Unseen => u64::from(st.unseen),
                StatusItem::Size => st.size,
            };
            format!("{} {n}", i.as_str())
        })
        .collect();
    b.extend_from_slice(b"* STATUS ");
    response::write_mailbox(b, name);
    b.extend_from_slice(format!(" ({})\r\n", values.join(" ")).as_bytes());
    Ok(())
}

/// Answers a store failure with `NO` and the RFC 5530 code that fits.
pub fn store_error(b: &mut Vec<u8>, tag: &str, command: &str, e: &StoreError) {
    // A full disk or a read-only store is something a person can act on: say which, as
    // Dovecot does, rather than SERVERBUG (RFC 5530 §3).
    match e.refused() {
        Some(Refused::DiskFull) => {
            tracing::warn!(error = %e, command, "disk full");
            return tagged(
                b,
                tag,
                "NO",
                Some(&Code::OverQuota),
                &format!("{command} failed: not enough disk space"),
            );
        }
        Some(Refused::ReadOnly) => {
            tracing::warn!(error = %e, command, "store not writable");
            return tagged(
                b,
                tag,
                "NO",
                Some(&Code::NoPerm),
                &format!("{command} failed: the mail store cannot be written"),
            );
        }
        None => {}
    }
    let code = match e {
        StoreError::Limit { .. } => Code::Limit,
        StoreError::NoSuchMailbox(_) => Code::NonExistent,
        StoreError::InvalidName { .. } => Code::Cannot,
        StoreError::Io { .. } | StoreError::Corrupt(_) | StoreError::Backend { .. } => {
            Code::ServerBug
        }
        StoreError::Locked(_) => Code::Unavailable,
        _ => Code::Cannot,
    };
    let text = match e {
        StoreError::NoSuchMailbox(_) => "No such mailbox".to_owned(),
        StoreError::Io { .. } | StoreError::Corrupt(_) | StoreError::Backend { .. } => {
            tracing::warn!(error = %e, command, "store failure");
            "Internal error".to_owned()
        }
        other => capitalize(&other.to_string()),
    };
    tagged(
        b,
        tag,
        "NO",
        Some(&code),
        &format!("{command} failed: {text}"),
    );
}

fn store_result(b: &mut Vec<u8>, tag: &str, command: &str, r: Option<Result<(), StoreError>>) {
    match r {
        Some(Ok(())) => tagged(b, tag, "OK", None, &format!("{command} completed")),
        Some(Err(e)) => store_error(b, tag, command, &e),
        None => {}
    }
}

/// Adds `\Seen` to messages (a FETCH of bodies), in one change; returns what changed.
pub(crate) fn mark_seen(mailbox: &Mailbox, uids: &[u32]) -> Option<yubin_store::FlagsChanged> {
    let seen: Flags = [Flag::Seen].into_iter().collect();
    match mailbox.set_flags_unchanged_since(uids, FlagOp::Add, &seen, None) {
        Ok(changed) => Some(changed),
        Err(e) => {
            tracing::warn!(error = %e, count = uids.len(), "could not set \\Seen");
            None
        }
    }
}

/// The store's mailbox watch, as the driver waits on it during IDLE.
#[derive(Debug)]
pub struct IdleWatch(MailboxWatch);

impl driver::Watch for IdleWatch {
    async fn changed(&mut self) {
        self.0.changed().await;
    }
}

impl driver::Session for Session {
    type Frame = Frame;
    type Codec = ImapCodec;
    type Watch = IdleWatch;

    fn handle(&mut self, frame: Frame) -> Reply {
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

    fn watch(&mut self) -> Option<IdleWatch> {
        Session::watch(self).map(IdleWatch)
    }

    fn changes(&mut self) -> BytesMut {
        BytesMut::from(&self.idle_poll()[..])
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
        codec.expect_raw_line(
            self.sasl_pending.is_some() || self.idling.is_some() || self.appending.is_some(),
        );
        codec.set_authenticated(!matches!(self.state, State::NotAuthenticated));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let mut b = Vec::new();
            store_error(&mut b, "t", "APPEND", &e);
            String::from_utf8(b).unwrap()
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
