//! SASL PLAIN (RFC 4616), the one mechanism every yubin protocol offers (POP3 AUTH,
//! RFC 5034; SMTP AUTH, RFC 4954; IMAP AUTHENTICATE, RFC 3501 §6.2.2).

use base64::Engine as _;

use crate::Secret;

/// Who a PLAIN response says is logging in, and with what password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainCredentials {
    /// The authentication identity (the user name).
    pub authcid: String,
    /// The password.
    pub password: Secret,
}

/// Why a SASL response was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// The response is not base64.
    #[error("response is not valid base64")]
    Base64,
    /// Not `[authzid] NUL authcid NUL passwd` in UTF-8.
    #[error("malformed PLAIN response")]
    Malformed,
    /// An authorization identity other than the user: acting as someone else is not
    /// offered.
    #[error("cannot act as another user")]
    Proxy,
}

/// Decodes a base64 SASL response; `=` is an empty one (RFC 4954 §4, RFC 5034 §4).
pub fn decode_base64(text: &[u8]) -> Result<Vec<u8>, SaslError> {
    if text == b"=" {
        return Ok(Vec::new());
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| SaslError::Base64)
}

/// Parses a decoded PLAIN response: `[authzid] NUL authcid NUL passwd` (RFC 4616 §2).
pub fn plain(raw: &[u8]) -> Result<PlainCredentials, SaslError> {
    let fields: Vec<&[u8]> = raw.split(|&b| b == 0).collect();
    let [authz, authc, pass] = fields.as_slice() else {
        return Err(SaslError::Malformed);
    };
    let (Ok(authz), Ok(authc), Ok(pass)) = (
        std::str::from_utf8(authz),
        std::str::from_utf8(authc),
        std::str::from_utf8(pass),
    ) else {
        return Err(SaslError::Malformed);
    };
    if !authz.is_empty() && authz != authc {
        return Err(SaslError::Proxy);
    }
    Ok(PlainCredentials {
        authcid: authc.to_owned(),
        password: Secret::from(pass),
    })
}

/// Where a server-side SASL exchange stands after the client's last input.
///
/// The three protocols word their answers differently; what each input *means* is decided
/// here, once: PLAIN is the mechanism, `*` cancels (RFC 4954 §4, RFC 5034 §4, RFC 3501
/// §6.2.2), input that is not base64 is a syntax error, and a PLAIN message that decodes
/// but is malformed counts as a failed login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send an empty challenge (`+ ` in POP3 and IMAP, `334 ` in SMTP); the client's next
    /// line is its response, to be given to [`respond`].
    Challenge,
    /// The response named a user and a password: check them.
    Credentials(PlainCredentials),
    /// The client cancelled with `*`.
    Cancelled,
    /// The response is not base64: a syntax error, not a login attempt.
    NotBase64,
    /// The response decoded to something PLAIN does not allow: a failed login.
    Refused(SaslError),
    /// A mechanism other than PLAIN.
    Unsupported,
}

/// Starts an exchange: `AUTH <mechanism> [initial-response]` and its IMAP twin
/// `AUTHENTICATE`. An initial response of `=` is an empty one (RFC 4954 §4).
pub fn start(mechanism: &str, initial: Option<&[u8]>) -> Step {
    if !mechanism.eq_ignore_ascii_case("PLAIN") {
        return Step::Unsupported;
    }
    match initial {
        None => Step::Challenge,
        Some(response) => respond(response),
    }
}

/// The client's response to the challenge.
pub fn respond(line: &[u8]) -> Step {
    let line = line.trim_ascii();
    if line == b"*" {
        return Step::Cancelled;
    }
    match decode_base64(line) {
        Err(_) => Step::NotBase64,
        Ok(raw) => match plain(&raw) {
            Ok(creds) => Step::Credentials(creds),
            Err(e) => Step::Refused(e),
        },
    }
}

/// A client's base64 PLAIN response for `user` and `password` (no authzid).
pub fn encode_plain(user: &str, password: &Secret) -> Secret {
    let raw = format!("\0{user}\0{}", password.expose());
    Secret::from(base64::engine::general_purpose::STANDARD.encode(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_clients_send() {
        let creds = plain(&decode_base64(b"AGFsaWNlAHNlY3JldA==").unwrap()).unwrap();
        assert_eq!(creds.authcid, "alice");
        assert_eq!(creds.password.expose(), "secret");
        assert_eq!(
            encode_plain("alice", &"secret".into()).expose(),
            "AGFsaWNlAHNlY3JldA=="
        );
        let same = plain(b"alice\0alice\0pw").unwrap();
        assert_eq!(same.authcid, "alice");
    }

    #[test]
    fn an_exchange_step_by_step() {
        assert_eq!(start("plain", None), Step::Challenge);
        assert_eq!(start("LOGIN", None), Step::Unsupported);
        assert!(matches!(
            start("PLAIN", Some(b"AGFsaWNlAHNlY3JldA==")),
            Step::Credentials(c) if c.authcid == "alice"
        ));
        assert_eq!(respond(b"*"), Step::Cancelled);
        assert_eq!(respond(b"%%%"), Step::NotBase64);
        assert_eq!(respond(b"="), Step::Refused(SaslError::Malformed));
        assert_eq!(
            respond(b"Ym9iAGFsaWNlAHB3"),
            Step::Refused(SaslError::Proxy)
        );
    }

    #[test]
    fn refuses_what_is_not_plain() {
        assert_eq!(decode_base64(b"not base64!"), Err(SaslError::Base64));
        assert_eq!(decode_base64(b"="), Ok(Vec::new()));
        assert_eq!(plain(b""), Err(SaslError::Malformed));
        assert_eq!(plain(b"a\0b"), Err(SaslError::Malformed));
        assert_eq!(plain(b"a\0b\0c\0d"), Err(SaslError::Malformed));
        assert_eq!(plain(b"\0\xff\0pw"), Err(SaslError::Malformed));
        assert_eq!(plain(b"bob\0alice\0pw"), Err(SaslError::Proxy));
    }
}
