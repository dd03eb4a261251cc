//! What this server offers (RFC 3501 §6.1.1, §7.2.1): the one place it is written.
//!
//! The list depends on the connection: `STARTTLS` while the upgrade is on offer, and
//! `LOGINDISABLED` instead of `AUTH=PLAIN` while passwords are refused on plaintext
//! (RFC 3501 §6.2.1, §6.2.3). Each session keeps its own [`Capabilities`].

use yubin_core::tls::TlsState;

/// The extensions implemented, each advertised only when complete: LITERAL+ RFC 7888,
/// SASL-IR RFC 4959, ID RFC 2971, ENABLE RFC 5161, IDLE RFC 2177, NAMESPACE RFC 2342,
/// UNSELECT RFC 3691, UIDPLUS RFC 4315, MOVE RFC 6851, SPECIAL-USE and
/// CREATE-SPECIAL-USE RFC 6154, CHILDREN RFC 3348, LIST-EXTENDED RFC 5258, LIST-STATUS
/// RFC 5819, ESEARCH RFC 4731, SEARCHRES RFC 5182, WITHIN RFC 5032, STATUS=SIZE
/// RFC 8438, AUTH=PLAIN RFC 4616.
pub const CAPABILITIES: &str = "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE SPECIAL-USE CREATE-SPECIAL-USE CHILDREN LIST-EXTENDED LIST-STATUS ESEARCH SEARCHRES WITHIN STATUS=SIZE AUTH=PLAIN";

/// A session's capabilities, as they stand on its connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Capabilities {
    tls: TlsState,
}

impl Capabilities {
    /// The capabilities of a connection in this TLS state.
    pub fn new(tls: TlsState) -> Capabilities {
        Capabilities { tls }
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
