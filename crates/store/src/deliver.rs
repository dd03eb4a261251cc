//! One delivery path: recipient addresses resolve to accounts here, for SMTP, `yubin
//! deliver`, the HTTP API and tests alike, and a message reaches every recipient's INBOX
//! or none.
//!
//! [`Store::resolve`] maps an address to an account:
//!
//! - `alice`, `alice@localhost`, `alice@[127.0.0.1]`, `alice@[IPv6:::1]`,
//!   `"alice"@localhost` → `alice`.
//! - `ALICE@LocalHost` → `alice`, unless another account is also `alice` in another
//!   case (then only an exact name matches).
//! - `alice@example.com` → refused unless `example.com` is a local domain.
//! - `postmaster`, `Postmaster@localhost` → `postmaster`, else the configured
//!   postmaster, else the first account that was given a password.
//! - `nobody@localhost` → refused; with accept-any-login, a new account `nobody`.
//! - `a/b@localhost`, `"a@b"@localhost` → refused: not an account name.
//!
//! The whole address never names an account: `alice@localhost` is never the account
//! literally called `alice@localhost`, so one mailbox has one name whichever way mail
//! reaches it.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::{Account, Incoming, Result, Store, StoreError, name};

/// Host names that are always local (RFC 5321 §2.3.5: a domain names a host; these name
/// this one).
const LOCALHOST_NAMES: [&str; 2] = ["localhost", "localhost.localdomain"];

/// The mailbox every delivery goes to.
const INBOX: &str = "INBOX";

/// The `reason` of [`StoreError::InvalidName`] for an address whose domain is not ours.
const NOT_LOCAL: &str = "not a local domain; this server delivers locally and relays nothing";

/// The `reason` of [`StoreError::InvalidName`] for a local part that matches several
/// accounts in different cases and none exactly.
pub(crate) const AMBIGUOUS: &str =
    "matches several accounts that differ only in case; use the exact name";

/// The `reason` of [`StoreError::InvalidName`] for a local part holding an `@`.
const HAS_AT: &str = "a local part naming an account cannot contain '@'";

/// The `reason` of [`StoreError::InvalidName`] for a quoted local part without its
/// closing quote, or with text after it other than `@domain`.
const UNTERMINATED: &str = "a quoted local part must end with '\"' before the '@'";

/// The `reason` of [`StoreError::InvalidName`] for an address ending in `@`.
const NO_DOMAIN: &str = "empty domain after '@'";

/// Delivery settings kept on the store (behind its own mutex, never held while the
/// accounts mutex is taken).
#[derive(Debug, Default)]
pub(crate) struct DeliverySettings {
    /// Local domains besides the localhost forms, lower-cased.
    local_domains: Vec<String>,
    /// Who reads mail to `postmaster` when no account has that name.
    postmaster: Option<String>,
    /// The first account that was given a password: the postmaster of last resort.
    first_with_password: Option<String>,
    /// Every domain is local (a catch-all test server).
    catch_all: bool,
}

impl DeliverySettings {
    /// Remembers `name` if it is the first account given a password.
    pub(crate) fn note_password_account(&mut self, name: &str) {
        if self.first_with_password.is_none() {
            self.first_with_password = Some(name.to_owned());
        }
    }
}

/// Where [`Store::deliver`] put a message: one copy per account, in the order in which
/// the recipients first named the accounts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivered {
    /// One entry per account that received the message.
    pub copies: Vec<DeliveredCopy>,
}

/// One account's copy of a delivered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveredCopy {
    /// The account's name.
    pub account: String,
    /// The UID of the message in the account's INBOX.
    pub uid: u32,
    /// The recipient addresses that named this account, as given.
    pub recipients: Vec<String>,
}

impl Delivered {
    /// The UID the message got in `account`'s INBOX, if it went there.
    pub fn uid(&self, account: &str) -> Option<u32> {
        self.copies
            .iter()
            .find(|c| c.account == account)
            .map(|c| c.uid)
    }
}

/// Why [`Store::resolve`] refused an address, so a protocol can answer precisely (SMTP:
/// `550 5.7.1`, `550 5.1.4`, `553 5.1.3`, `550 5.1.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The domain is not one of ours, and mail is never relayed (RFC 5321 §3.6).
    NotLocal,
    /// The local part matches several accounts that differ only in case, none exactly.
    Ambiguous,
    /// The local part cannot be an account name (see [`name::check_account`]).
    BadName,
    /// No such account, and accept-any-login is off.
    Unknown,
}

impl StoreError {
    /// Why [`Store::resolve`] or [`Store::deliver`] refused a recipient address; `None`
    /// for errors that are not about the address (I/O and the like, worth a retry).
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            StoreError::InvalidName { reason, .. } if *reason == NOT_LOCAL => {
                Some(Refusal::NotLocal)
            }
            StoreError::InvalidName { reason, .. } if *reason == AMBIGUOUS => {
                Some(Refusal::Ambiguous)
            }
            StoreError::InvalidName { .. } => Some(Refusal::BadName),
            StoreError::NoSuchAccount(_) => Some(Refusal::Unknown),
            _ => None,
        }
    }
}

/// An address split into the account-naming local part (unquoted) and the domain.
struct Address<'a> {
    local: std::borrow::Cow<'a, str>,
    domain: Option<&'a str>,
}

impl<'a> Address<'a> {
    /// Splits a Forward-path's Mailbox (RFC 5321 §4.1.2) into local part and domain.
    /// A quoted local part may hold `@`, so it ends at its closing quote; otherwise the
    /// last `@` splits (a domain never holds one). No `@`: a bare local part.
    fn parse(address: &'a str) -> Result<Address<'a>> {
        let (local, domain) = if address.starts_with('"') {
            let Some(end) = closing_quote(address) else {
                return Err(StoreError::InvalidName {
                    name: address.to_owned(),
                    reason: UNTERMINATED,
                });
            };
            let (quoted, rest) = address.split_at(end + 1);
            let domain = match rest {
                "" => None,
                rest => match rest.strip_prefix('@') {
                    Some(domain) => Some(domain),
                    None => {
                        return Err(StoreError::InvalidName {
                            name: address.to_owned(),
                            reason: UNTERMINATED,
                        });
                    }
                },
            };
            (unquote(&quoted[1..end]), domain)
        } else {
            match address.rsplit_once('@') {
                Some((local, domain)) => (local.into(), Some(domain)),
                None => (address.into(), None),
            }
        };
        Ok(Address { local, domain })
    }
}

/// The byte index of the quote that closes the quoted string `text` starts with.
fn closing_quote(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in text.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i),
            _ => {}
        }
    }
    None
}

/// RFC 5321 §4.1.2: `"alice"` and `alice` are the same local part; the inside of a
/// quoted string loses its backslash escapes (`quoted-pairSMTP`).
fn unquote(inner: &str) -> std::borrow::Cow<'_, str> {
    if !inner.contains('\\') {
        return inner.into();
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(escaped) = chars.next() {
                out.push(escaped);
            }
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// Whether `domain` names this host whatever the configuration: `localhost`,
/// `localhost.localdomain`, or the loopback address literal (RFC 5321 §4.1.3:
/// `[127.0.0.1]`, `[IPv6:::1]` in any spelling of the IPv6 address).
fn is_loopback_domain(domain: &str) -> bool {
    if LOCALHOST_NAMES
        .iter()
        .any(|n| domain.eq_ignore_ascii_case(n))
    {
        return true;
    }
    let Some(literal) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) else {
        return false;
    };
    // The tag is case-insensitive like every Ldh-str (RFC 5321 §4.1.3, §2.4).
    match literal.get(..5) {
        Some(tag) if tag.eq_ignore_ascii_case("IPv6:") => literal[5..]
            .parse::<Ipv6Addr>()
            .is_ok_and(|ip| ip == Ipv6Addr::LOCALHOST),
        _ => literal
            .parse::<Ipv4Addr>()
            .is_ok_and(|ip| ip == Ipv4Addr::LOCALHOST),
    }
}

/// Case-folds for comparing local parts (Unicode, for SMTPUTF8 local parts, RFC 6531).
pub(crate) fn fold(s: &str) -> String {
    s.to_lowercase()
}

impl Store {
    fn delivery_settings_snapshot(&self) -> (Option<String>, Option<String>) {
        let settings = self.delivery();
        (
            settings.postmaster.clone(),
            settings.first_with_password.clone(),
        )
    }

    /// Sets the local domains besides the localhost forms (`localhost`,
    /// `localhost.localdomain`, `[127.0.0.1]`, `[IPv6:::1]`, which are always local):
    /// mail to any other domain is refused, never relayed. Compared case-insensitively
    /// (RFC 5321 §2.4); an address literal is compared as written (`[192.0.2.1]`).
    pub fn set_local_domains<I, S>(&self, domains: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list: Vec<String> = Vec::new();
        for d in domains {
            let d = d.as_ref().trim().to_ascii_lowercase();
            if !d.is_empty() && !is_loopback_domain(&d) && !list.contains(&d) {
                list.push(d);
            }
        }
        self.delivery().local_domains = list;
    }

    /// Adds one local domain (see [`Store::set_local_domains`]).
    pub fn add_local_domain(&self, domain: &str) {
        let d = domain.trim().to_ascii_lowercase();
        let mut settings = self.delivery();
        if !d.is_empty() && !is_loopback_domain(&d) && !settings.local_domains.contains(&d) {
            settings.local_domains.push(d);
        }
    }

    /// The configured local domains, lower-cased, without the localhost forms that are
    /// always local.
    pub fn local_domains(&self) -> Vec<String> {
        self.delivery().local_domains.clone()
    }

    /// Makes every domain local (on) or only the localhost forms and the configured
    /// ones (off, the default): a catch-all test server, as Mailpit and GreenMail are,
    /// for applications that send to real-looking addresses.
    pub fn set_catch_all_domains(&self, on: bool) {
        self.delivery().catch_all = on;
    }

    /// Whether every domain is local.
    pub fn catch_all_domains(&self) -> bool {
        self.delivery().catch_all
    }

    /// Whether mail to `domain` is delivered here: the localhost forms or a configured
    /// local domain.
    pub fn is_local_domain(&self, domain: &str) -> bool {
        if is_loopback_domain(domain) {
            return true;
        }
        let d = domain.to_ascii_lowercase();
        self.delivery().local_domains.contains(&d)
    }

    /// The account that reads mail to `postmaster` when no account has that name
    /// (RFC 5321 §4.5.1 requires that address); used once the account exists. Without
    /// one, the first account that was given a password reads it.
    pub fn set_postmaster(&self, name: &str) -> Result<()> {
        name::check_account(name)?;
        self.delivery().postmaster = Some(name.to_owned());
        Ok(())
    }

    /// The account a recipient address delivers to (SMTP RCPT, `yubin deliver --to`):
    ///
    /// - The domain must be local ([`Store::is_local_domain`]); a bare local part is
    ///   local. Any other domain is refused ([`Refusal::NotLocal`]): nothing is relayed
    ///   (RFC 5321 §3.6).
    /// - The local part (unquoted, RFC 5321 §4.1.2) names the account. RFC 5321 §2.4
    ///   makes it case-sensitive but lets a host ignore case; this one does so only when
    ///   exactly one account matches ignoring case. Otherwise only the exact name matches,
    ///   and with none, the address is refused as ambiguous.
    /// - `postmaster` in any case (RFC 5321 §4.5.1) is the account of that name, else
    ///   the one set by [`Store::set_postmaster`], else the first account that was given
    ///   a password.
    /// - With [`Store::set_catch_all_domains`] every domain counts as local.
    /// - With accept-any-login an unknown local part creates the account named by the
    ///   lower-cased local part, never by the whole address.
    /// - A local part that is not a valid account name is [`StoreError::InvalidName`].
    ///
    /// Use [`StoreError::refusal`] to tell these refusals apart.
    pub fn resolve(&self, address: &str) -> Result<Account> {
        let parsed = Address::parse(address)?;
        match parsed.domain {
            Some("") => {
                return Err(StoreError::InvalidName {
                    name: address.to_owned(),
                    reason: NO_DOMAIN,
                });
            }
            // A catch-all test server takes mail for every domain, as Mailpit and
            // GreenMail do: the application under test sends to real-looking addresses.
            // Otherwise nothing is relayed.
            Some(domain) if !self.catch_all_domains() && !self.is_local_domain(domain) => {
                return Err(StoreError::InvalidName {
                    name: domain.to_owned(),
                    reason: NOT_LOCAL,
                });
            }
            _ => {}
        }
        let local = parsed.local.as_ref();
        name::check_account(local)?;
        if local.contains('@') {
            return Err(StoreError::InvalidName {
                name: local.to_owned(),
                reason: HAS_AT,
            });
        }
        if let Some(name) = self.find_account(local)? {
            return self.account(&name);
        }
        if local.eq_ignore_ascii_case("postmaster") {
            let (configured, first) = self.delivery_settings_snapshot();
            let names = self.account_names();
            for candidate in [configured, first].into_iter().flatten() {
                if names.contains(&candidate) {
                    return self.account(&candidate);
                }
            }
        }
        if self.accept_any_login() {
            // No account matches even ignoring case, so the lower-cased name is new.
            return self.account(&fold(local));
        }
        Err(StoreError::NoSuchAccount(address.to_owned()))
    }

    /// The account `local` names: the exact name, or the only one equal ignoring case.
    fn find_account(&self, local: &str) -> Result<Option<String>> {
        crate::store::find_in(&self.account_names(), local)
    }

    /// Starts a delivery whose message arrives a piece at a time (SMTP DATA): resolves
    /// every recipient first ([`Store::resolve`]; one refused address refuses the
    /// delivery before anything is written, so it can be answered at once), one copy per
    /// account however many addresses name it, then returns the [`Incoming`] message to
    /// write and [`Incoming::deliver`].
    ///
    /// The message is never whole in memory: the Maildir backend writes it, through a
    /// 64 KiB buffer, to a file in the first recipient's INBOX `tmp/`, and at delivery
    /// links that file into every recipient's INBOX. With no recipients, the bytes are
    /// counted and dropped, and delivery delivers nothing.
    pub fn incoming(&self, recipients: &[&str]) -> Result<Incoming> {
        let mut targets: Vec<(Account, Vec<String>)> = Vec::new();
        for &address in recipients {
            let account = self.resolve(address)?;
            match targets.iter_mut().find(|(a, _)| a.name() == account.name()) {
                Some((_, addresses)) => addresses.push(address.to_owned()),
                None => targets.push((account, vec![address.to_owned()])),
            }
        }
        let backend = match targets.first() {
            Some((account, _)) => Some(account.mailbox(INBOX)?.receiving()?),
            None => None,
        };
        Ok(Incoming::new(targets, backend))
    }

    /// Delivers `message` to the INBOX of every recipient, or to none: the whole message
    /// at once through [`Store::incoming`], for callers that have it whole (`yubin
    /// deliver`, the HTTP API, tests). Every address is resolved first; one refused
    /// address refuses the delivery before anything is written. Each account gets one
    /// copy however many addresses name it. If one copy cannot be added, the copies
    /// already made are expunged again and the error is returned.
    pub fn deliver(&self, recipients: &[&str], message: &[u8]) -> Result<Delivered> {
        let mut incoming = self.incoming(recipients)?;
        incoming.write(message)?;
        incoming.deliver()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;

    fn store_with(names: &[&str]) -> Store {
        let store = Store::memory();
        for name in names {
            store.add_account(name, Secret::from("pw")).unwrap();
        }
        store
    }

    fn resolved(store: &Store, address: &str) -> String {
        match store.resolve(address) {
            Ok(account) => account.name().to_owned(),
            Err(e) => panic!("{address:?}: {e}"),
        }
    }

    fn refused(store: &Store, address: &str) -> Refusal {
        match store.resolve(address) {
            Ok(account) => panic!("{address:?} resolved to {}", account.name()),
            Err(e) => e
                .refusal()
                .unwrap_or_else(|| panic!("{address:?}: not a refusal: {e}")),
        }
    }

    fn inbox_len(store: &Store, name: &str) -> usize {
        let inbox = store.account(name).unwrap().mailbox(INBOX).unwrap();
        inbox.messages().unwrap().len()
    }

    #[test]
    fn local_domains_and_address_literals() {
        let store = store_with(&["alice"]);
        for address in [
            "alice",
            "alice@localhost",
            "alice@LocalHost",
            "alice@localhost.localdomain",
            "alice@LOCALHOST.LOCALDOMAIN",
            "alice@[127.0.0.1]",
            "alice@[IPv6:::1]",
            "alice@[ipv6:0:0:0:0:0:0:0:1]",
            "\"alice\"@localhost",
            "\"al\\ice\"@localhost",
            "\"alice\"",
        ] {
            assert_eq!(resolved(&store, address), "alice", "{address}");
        }
        for address in [
            "alice@example.com",
            "alice@localhost.example.com",
            "alice@[127.0.0.2]",
            "alice@[10.0.0.1]",
            "alice@[IPv6:::2]",
            "alice@[localhost]",
        ] {
            assert_eq!(refused(&store, address), Refusal::NotLocal, "{address}");
        }
        assert_eq!(refused(&store, "alice@"), Refusal::BadName);

        store.add_local_domain("Example.COM");
        store.add_local_domain("example.com");
        store.add_local_domain("LOCALHOST");
        assert_eq!(store.local_domains(), ["example.com"]);
        assert_eq!(resolved(&store, "alice@EXAMPLE.com"), "alice");
        assert!(store.is_local_domain("localhost"));
        store.set_local_domains(["mail.test", "[192.0.2.1]"]);
        assert_eq!(refused(&store, "alice@example.com"), Refusal::NotLocal);
        assert_eq!(resolved(&store, "alice@Mail.Test"), "alice");
        assert_eq!(resolved(&store, "alice@[192.0.2.1]"), "alice");
        // The localhost forms stay local whatever is configured.
        assert_eq!(resolved(&store, "alice@localhost"), "alice");
    }

    #[test]
    fn case_is_ignored_only_when_one_account_matches() {
        let store = store_with(&["alice", "Bob", "Zoë"]);
        assert_eq!(resolved(&store, "ALICE@LOCALHOST"), "alice");
        assert_eq!(resolved(&store, "Alice"), "alice");
        assert_eq!(resolved(&store, "bob@localhost"), "Bob");
        assert_eq!(resolved(&store, "BOB@localhost"), "Bob");
        assert_eq!(resolved(&store, "ZOË@localhost"), "Zoë");
        // One identity: a second account that differs only in case is refused, so mail
        // and logins cannot be split (or hijacked) between `Bob` and `bob`.
        assert!(matches!(
            store.add_account("bob", Secret::from("other")),
            Err(StoreError::InvalidName { .. })
        ));
        store.set_accept_any_login(true);
        assert_eq!(resolved(&store, "bOb"), "Bob");
        assert!(store.authenticate("BOB", &Secret::from("other")).is_err());
        assert_eq!(
            store
                .authenticate("bob@LOCALHOST", &Secret::from("pw"))
                .unwrap()
                .name(),
            "Bob"
        );
        assert_eq!(store.account_names(), ["Bob", "Zoë", "alice"]);
    }

    #[test]
    fn the_whole_address_never_names_an_account() {
        // `alice@localhost` (a local domain) is `alice`, whichever way it is given.
        let store = store_with(&["alice@localhost"]);
        assert_eq!(store.account_names(), ["alice"]);
        assert_eq!(resolved(&store, "alice@localhost"), "alice");
        assert_eq!(refused(&store, "\"alice@localhost\""), Refusal::BadName);
        assert_eq!(
            refused(&store, "\"alice@localhost\"@localhost"),
            Refusal::BadName
        );
        store.set_accept_any_login(true);
        assert_eq!(resolved(&store, "alice@localhost"), "alice");
        // A login as the whole address is the same account, with its password.
        assert!(
            store
                .authenticate("alice@localhost", &Secret::from("x"))
                .is_err()
        );
        assert!(store.authenticate("ALICE", &Secret::from("x")).is_err());
        assert_eq!(store.account_names(), ["alice"]);
    }

    #[test]
    fn accept_any_creates_the_lower_cased_local_part() {
        let store = store_with(&["alice"]);
        assert_eq!(refused(&store, "Carol@localhost"), Refusal::Unknown);
        assert!(!store.account_names().contains(&"carol".to_owned()));
        store.set_accept_any_login(true);
        assert_eq!(resolved(&store, "Carol@localhost"), "carol");
        assert_eq!(resolved(&store, "DAVE"), "dave");
        assert_eq!(resolved(&store, "carol@[127.0.0.1]"), "carol");
        assert_eq!(store.account_names(), ["alice", "carol", "dave"]);
        // Still only local domains, unless the store is a catch-all.
        assert_eq!(refused(&store, "erin@example.com"), Refusal::NotLocal);
        store.set_catch_all_domains(true);
        assert_eq!(resolved(&store, "Erin@Example.com"), "erin");
        assert_eq!(store.account_names(), ["alice", "carol", "dave", "erin"]);
    }

    #[test]
    fn invalid_local_parts_are_refused_clearly() {
        let store = store_with(&["alice"]);
        store.set_accept_any_login(true);
        let long = format!("{}@localhost", "x".repeat(65));
        for address in [
            "a/b@localhost",
            "..@localhost",
            "a\\b",
            "@localhost",
            "\"\"@localhost",
            "\"a\\/b\"@localhost",
            "\"alice@localhost",
            "\"alice\"x@localhost",
            long.as_str(),
        ] {
            let err = store.resolve(address).unwrap_err();
            assert!(
                matches!(err, StoreError::InvalidName { .. }),
                "{address}: {err}"
            );
            assert_eq!(err.refusal(), Some(Refusal::BadName), "{address}");
            assert!(err.to_string().starts_with("invalid name"), "{err}");
        }
        assert_eq!(store.account_names(), ["alice"]);
    }

    #[test]
    fn postmaster_goes_to_a_reader() {
        // RFC 5321 §4.5.1: postmaster must be accepted.
        let store = Store::memory();
        assert_eq!(refused(&store, "postmaster"), Refusal::Unknown);
        store.add_account("zed", Secret::from("pw")).unwrap();
        store.add_account("alice", Secret::from("pw")).unwrap();
        // The first account given a password, not the lowest name.
        for address in ["postmaster", "Postmaster", "POSTMASTER@localhost"] {
            assert_eq!(resolved(&store, address), "zed", "{address}");
        }
        assert_eq!(refused(&store, "postmaster@example.com"), Refusal::NotLocal);
        store.set_postmaster("alice").unwrap();
        assert_eq!(resolved(&store, "postmaster@localhost"), "alice");
        assert!(store.set_postmaster("../x").is_err());
        store.add_account("PostMaster", Secret::from("pw")).unwrap();
        assert_eq!(resolved(&store, "postmaster@[127.0.0.1]"), "PostMaster");
    }

    #[test]
    fn postmaster_ignores_accounts_without_a_password() {
        let store = Store::memory();
        store.set_accept_any_login(true);
        assert_eq!(resolved(&store, "carol"), "carol");
        store.add_account("zed", Secret::from("pw")).unwrap();
        assert_eq!(resolved(&store, "postmaster"), "zed");

        let store = Store::memory();
        store.set_accept_any_login(true);
        assert_eq!(resolved(&store, "Postmaster@localhost"), "postmaster");
    }

    #[test]
    fn one_copy_per_account_and_which_uid() {
        let store = store_with(&["alice", "bob"]);
        let delivered = store
            .deliver(
                &["alice@localhost", "bob", "ALICE", "\"alice\"@[127.0.0.1]"],
                b"Subject: hi\r\n\r\nhello\r\n",
            )
            .unwrap();
        assert_eq!(delivered.copies.len(), 2);
        assert_eq!(delivered.copies[0].account, "alice");
        assert_eq!(
            delivered.copies[0].recipients,
            ["alice@localhost", "ALICE", "\"alice\"@[127.0.0.1]"]
        );
        assert_eq!(delivered.copies[1].account, "bob");
        assert_eq!(delivered.copies[1].recipients, ["bob"]);
        assert_eq!(inbox_len(&store, "alice"), 1);
        assert_eq!(inbox_len(&store, "bob"), 1);
        let inbox = store.account("alice").unwrap().mailbox(INBOX).unwrap();
        let uid = delivered.uid("alice").unwrap();
        assert_eq!(
            &inbox.read(uid).unwrap()[..],
            b"Subject: hi\r\n\r\nhello\r\n"
        );
        assert_eq!(delivered.uid("carol"), None);
    }

    #[test]
    fn a_refused_address_refuses_the_delivery_before_writing() {
        let store = store_with(&["alice"]);
        store.set_accept_any_login(true);
        let err = store
            .deliver(&["alice", "bob@example.com"], b"Subject: x\r\n\r\n")
            .unwrap_err();
        assert_eq!(err.refusal(), Some(Refusal::NotLocal));
        assert_eq!(inbox_len(&store, "alice"), 0);
        assert_eq!(store.deliver(&[], b"x").unwrap(), Delivered::default());
    }

    /// Makes `dir` unwritable for everyone: read-only stops an ordinary user; root
    /// writes there anyway, so as root the directory is replaced by a plain file. Returns
    /// whether it was replaced, for [`restore`].
    #[cfg(unix)]
    fn break_dir(dir: &std::path::Path) -> bool {
        use std::os::unix::fs::PermissionsExt;
        assert!(dir.is_dir(), "{} should be a directory", dir.display());
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o500)).unwrap();
        let probe = dir.join("probe");
        if std::fs::write(&probe, b"x").is_err() {
            return false;
        }
        // Root: permissions do not apply.
        std::fs::remove_file(&probe).unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let saved = dir.with_extension("saved");
        std::fs::rename(dir, &saved).unwrap();
        std::fs::write(dir, b"not a directory").unwrap();
        true
    }

    /// Undoes [`break_dir`].
    #[cfg(unix)]
    fn restore(dir: &std::path::Path, replaced: bool) {
        use std::os::unix::fs::PermissionsExt;
        if replaced {
            std::fs::remove_file(dir).unwrap();
            std::fs::rename(dir.with_extension("saved"), dir).unwrap();
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }

    #[cfg(unix)]
    fn count(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }

    /// All or none: bob's INBOX cannot be written, so alice's copy, already made, is
    /// taken back, and the received file is gone too.
    #[cfg(unix)]
    #[test]
    fn a_failed_append_takes_back_the_copies_already_made() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::maildir(dir.path()).unwrap();
        store.add_account("alice", Secret::from("pw")).unwrap();
        store.add_account("bob", Secret::from("pw")).unwrap();
        // Open both INBOXes, so their directories exist.
        assert_eq!(inbox_len(&store, "alice"), 0);
        assert_eq!(inbox_len(&store, "bob"), 0);

        // The message is received in alice's tmp/ and linked (or, failing that, copied
        // through bob's tmp/) into bob's new/: that is where bob's copy fails.
        let bob_new = dir.path().join("bob/Maildir/new");
        let replaced = break_dir(&bob_new);
        let err = store
            .deliver(
                &["alice@localhost", "bob@localhost"],
                b"Subject: x\r\n\r\nx\r\n",
            )
            .unwrap_err();
        assert_eq!(err.refusal(), None, "an I/O failure, not a refusal: {err}");
        assert_eq!(inbox_len(&store, "alice"), 0, "alice's copy was taken back");
        for d in [
            "alice/Maildir/new",
            "alice/Maildir/cur",
            "alice/Maildir/tmp",
        ] {
            assert_eq!(count(&dir.path().join(d)), 0, "{d}");
        }
        assert_eq!(count(&dir.path().join("bob/Maildir/tmp")), 0);

        // Once bob's INBOX is writable again, the same delivery reaches both.
        restore(&bob_new, replaced);
        let delivered = store
            .deliver(
                &["alice@localhost", "bob@localhost"],
                b"Subject: x\r\n\r\nx\r\n",
            )
            .unwrap();
        assert_eq!(delivered.copies.len(), 2);
        assert_eq!(inbox_len(&store, "alice"), 1);
        assert_eq!(inbox_len(&store, "bob"), 1);
    }

    /// The first recipient's INBOX `tmp/` is where the message is received: if it
    /// cannot be written, `incoming` fails at once, before any byte is taken.
    #[cfg(unix)]
    #[test]
    fn an_unwritable_tmp_fails_before_the_message_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::maildir(dir.path()).unwrap();
        store.add_account("alice", Secret::from("pw")).unwrap();
        assert_eq!(inbox_len(&store, "alice"), 0);
        let tmp = dir.path().join("alice/Maildir/tmp");
        let replaced = break_dir(&tmp);
        let err = store.incoming(&["alice"]).unwrap_err();
        assert_eq!(err.refusal(), None, "an I/O failure, not a refusal: {err}");
        assert!(err.to_string().contains("tmp"), "{err}");
        restore(&tmp, replaced);
        assert_eq!(count(&tmp), 0);
        let mut incoming = store.incoming(&["alice"]).unwrap();
        incoming.write(b"Subject: x\r\n\r\n").unwrap();
        assert_eq!(incoming.deliver().unwrap().copies.len(), 1);
        assert_eq!(count(&tmp), 0);
    }
}
