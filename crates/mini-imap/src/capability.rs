//! What this server offers (RFC 3501 §6.1.1, §7.2.1): the one place it is written.
//!
//! The list depends on the connection: `STARTTLS` while the upgrade is on offer, and
//! `LOGINDISABLED` instead of `AUTH=PLAIN` while passwords are refused on plaintext
//! (RFC 3501 §6.2.1, §6.2.3). Each session keeps its own [`Capabilities`], with the
//! extensions it has turned on ([`Enabled`]): by ENABLE (RFC 5161), or for CONDSTORE by
//! any "CONDSTORE enabling command" (RFC 7162 §3.1).

use yubin_core::tls::TlsState;

/// The extensions implemented, each advertised only when complete: LITERAL+ RFC 7888,
/// SASL-IR RFC 4959, ID RFC 2971, ENABLE RFC 5161, IDLE RFC 2177, NAMESPACE RFC 2342,
/// UNSELECT RFC 3691, UIDPLUS RFC 4315, MOVE RFC 6851, SPECIAL-USE and
/// CREATE-SPECIAL-USE RFC 6154, CHILDREN RFC 3348, LIST-EXTENDED RFC 5258, LIST-STATUS
/// RFC 5819, ESEARCH RFC 4731, SEARCHRES RFC 5182, WITHIN RFC 5032, SORT and THREAD
/// RFC 5256, SORT=DISPLAY RFC 5957, ESORT, CONTEXT=SEARCH and CONTEXT=SORT RFC 5267,
/// STATUS=SIZE
/// RFC 8438, CONDSTORE and QRESYNC RFC 7162, COMPRESS=DEFLATE RFC 4978, MULTIAPPEND
/// RFC 3502, CATENATE RFC 4469, BINARY RFC 3516, NOTIFY RFC 5465, AUTH=PLAIN RFC 4616;
/// IMAP4rev2
/// RFC 9051 beside IMAP4rev1 (Appendix A: a client that wants rev2 issues "ENABLE
/// IMAP4rev2"), UTF8=ACCEPT RFC 6855.
pub const CAPABILITIES: &str = "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE SPECIAL-USE CREATE-SPECIAL-USE CHILDREN LIST-EXTENDED LIST-STATUS ESEARCH SEARCHRES WITHIN SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES CONTEXT=SEARCH CONTEXT=SORT STATUS=SIZE CONDSTORE QRESYNC COMPRESS=DEFLATE UTF8=ACCEPT MULTIAPPEND CATENATE BINARY NOTIFY AUTH=PLAIN";

/// The extensions a session has turned on; each changes what responses carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Enabled {
    condstore: bool,
    qresync: bool,
    utf8_accept: bool,
    imap4rev2: bool,
}

impl Enabled {
    /// CONDSTORE (RFC 7162 §3.1): FETCH responses that carry flags carry MODSEQ, and
    /// unsolicited ones the UID too; SELECT and STATUS tell HIGHESTMODSEQ.
    pub fn condstore(self) -> bool {
        self.condstore
    }

    /// QRESYNC (RFC 7162 §3.2): expunges are told as VANISHED, by UID; SELECT may
    /// resynchronize; a SELECT that replaces a mailbox says CLOSED. Implies CONDSTORE.
    pub fn qresync(self) -> bool {
        self.qresync
    }

    /// UTF8=ACCEPT (RFC 6855 §3): mailbox names are UTF-8 both ways, quoted strings may
    /// carry UTF-8, SEARCH may not name a CHARSET, APPEND may carry UTF-8 headers.
    pub fn utf8_accept(self) -> bool {
        self.utf8_accept
    }

    /// IMAP4rev2 (RFC 9051 Appendix A, E): no RECENT responses nor `\Recent` flag,
    /// SEARCH answered with ESEARCH, SELECT tells the mailbox's LIST, unsolicited FETCH
    /// carries the UID, mailbox names are UTF-8 (§5.1).
    pub fn imap4rev2(self) -> bool {
        self.imap4rev2
    }
}

/// A session's capabilities, as they stand on its connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Capabilities {
    tls: TlsState,
    enabled: Enabled,
}

impl Capabilities {
    /// The capabilities of a connection in this TLS state.
    pub fn new(tls: TlsState) -> Capabilities {
        Capabilities {
            tls,
            enabled: Enabled::default(),
        }
    }

    /// After the STARTTLS handshake: capabilities change, and nothing learnt before TLS
    /// is kept (RFC 3501 §6.2.1).
    pub fn tls_started(&mut self) {
        self.tls = self.tls.started();
    }

    /// The connection's TLS state.
    pub fn tls(&self) -> TlsState {
        self.tls
    }

    /// What the session has turned on.
    pub fn enabled(&self) -> Enabled {
        self.enabled
    }

    /// ENABLE (RFC 5161 §3.1): turns on what it names and yubin can enable, and returns
    /// the names newly enabled, for `* ENABLED`. Unknown names are ignored, as §3.1
    /// requires. QRESYNC also turns CONDSTORE on (RFC 7162 §3.2.3), but ENABLED lists
    /// only what the client named, as Dovecot answers.
    pub fn enable(&mut self, names: &[String]) -> Vec<&'static str> {
        let mut newly = Vec::new();
        for name in names {
            if name.eq_ignore_ascii_case("CONDSTORE") {
                if self.enable_condstore() {
                    newly.push("CONDSTORE");
                }
            } else if name.eq_ignore_ascii_case("QRESYNC") && !self.enabled.qresync {
                self.enabled.qresync = true;
                self.enable_condstore();
                newly.push("QRESYNC");
            } else if name.eq_ignore_ascii_case("UTF8=ACCEPT") && !self.enabled.utf8_accept {
                // RFC 6855 §3: "The "ENABLE UTF8=ACCEPT" command is only valid in the
                // authenticated state" (the session's gate refuses ENABLE once selected).
                self.enabled.utf8_accept = true;
                newly.push("UTF8=ACCEPT");
            } else if name.eq_ignore_ascii_case("IMAP4rev2") && !self.enabled.imap4rev2 {
                // RFC 9051 Appendix A: "If both IMAP4rev1 and IMAP4rev2 are advertised,
                // an IMAP client that wants to use IMAP4rev2 MUST issue an "ENABLE
                // IMAP4rev2" command."
                self.enabled.imap4rev2 = true;
                newly.push("IMAP4rev2");
            }
        }
        newly
    }

    /// Turns CONDSTORE on (RFC 7162 §3.1); true if it was off.
    pub fn enable_condstore(&mut self) -> bool {
        !std::mem::replace(&mut self.enabled.condstore, true)
    }

    /// The list a CAPABILITY response or code gives, space-separated.
    pub fn list(&self) -> String {
        let mut caps = if self.tls.login_allowed() {
            CAPABILITIES.to_owned()
        } else {
            format!(
                "{} LOGINDISABLED",
                CAPABILITIES.trim_end_matches(" AUTH=PLAIN")
            )
        };
        if self.tls.offer_starttls() {
            caps.push_str(" STARTTLS");
        }
        caps
    }
}
