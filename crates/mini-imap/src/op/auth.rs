//! LOGIN (RFC 3501 §6.2.3) and AUTHENTICATE PLAIN (§6.2.2, RFC 4959 SASL-IR): what each
//! outcome is answered with. The login guard that holds failures back is the driver's
//! ([`yubin_core::guard`]); SASL's steps are core's ([`yubin_core::sasl`]).

use yubin_core::Secret;
use yubin_core::sasl::Step;
use yubin_store::{Account, Store, StoreError};

use crate::response::{Code, Completion, capitalize};

/// How a login attempt ended.
#[derive(Debug)]
pub enum Login {
    /// The credentials are right.
    LoggedIn(Account),
    /// Wrong credentials: counted by the login guard, which holds the answer back.
    Refused(Completion),
    /// Something other than the credentials stands in the way (a limit, the store):
    /// said plainly, and not counted as a failure.
    Failed(Completion),
}

/// Checks a user name and password against the store.
pub fn login(store: &Store, user: &str, password: &Secret) -> Login {
    match store.authenticate(user, password) {
        Ok(account) => Login::LoggedIn(account),
        Err(e @ StoreError::Limit { .. }) => {
            Login::Failed(Completion::no(Code::Limit, capitalize(&e.to_string())))
        }
        Err(e @ (StoreError::Io { .. } | StoreError::Backend { .. })) => {
            tracing::warn!(error = %e, "login failed on a store error");
            Login::Failed(Completion::no(
                Code::Unavailable,
                "Cannot open the account now; try later",
            ))
        }
        Err(_) => Login::Refused(Completion::no(
            Code::AuthenticationFailed,
            "Invalid credentials",
        )),
    }
}

/// What a step of a SASL PLAIN exchange is answered with.
#[derive(Debug)]
pub enum Sasl {
    /// Ask for the response with an empty challenge (`+ `); the next line is it.
    Challenge,
    /// The credentials arrived: log in with them.
    Credentials {
        /// The authentication identity.
        user: String,
        /// Its password.
        password: Secret,
    },
    /// The exchange ended without a login.
    Done(Login),
}

/// The IMAP answer to a SASL step (RFC 3501 §6.2.2).
pub fn sasl(step: Step) -> Sasl {
    match step {
        Step::Challenge => Sasl::Challenge,
        Step::Credentials(creds) => Sasl::Credentials {
            user: creds.authcid,
            password: creds.password,
        },
        // RFC 3501 §6.2.2: a cancelled exchange is answered with BAD.
        Step::Cancelled => Sasl::Done(Login::Failed(Completion::bad("Authentication cancelled"))),
        Step::NotBase64 => Sasl::Done(Login::Failed(Completion::bad(
            "Response is not valid base64",
        ))),
        Step::Refused(e) => Sasl::Done(Login::Refused(Completion::no(
            Code::AuthenticationFailed,
            capitalize(&e.to_string()),
        ))),
        Step::Unsupported => Sasl::Done(Login::Failed(Completion::no(
            Code::Cannot,
            "Unsupported mechanism",
        ))),
    }
}
