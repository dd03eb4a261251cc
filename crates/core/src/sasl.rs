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
