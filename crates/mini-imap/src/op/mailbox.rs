//! CREATE, DELETE and RENAME (RFC 3501 §6.3.3–§6.3.5).
//!
//! The hierarchy rules live in the store ([`yubin_store::Account`]); here each refusal
//! gets its response code (RFC 5530): an existing name `[ALREADYEXISTS]`, a missing one
//! `[NONEXISTENT]`, a name the store refuses (`..`, absolute, control characters: names
//! that would leave the account) or DELETE of INBOX `[CANNOT]`, a valid name too long to
//! store (Maildir++ keeps a whole hierarchy in one directory name of at most 255 bytes,
//! so a RENAME can make a child's name too long) `[LIMIT]`, DELETE of a mailbox with
//! children `[HASCHILDREN]` (RFC 9051 §7.1; RFC 3501 §6.3.4 allows refusing it). A
//! `\Noselect` parent (one that exists only because a child does) cannot be deleted
//! while it has children, as §6.3.4 requires. A refused command changes nothing, and a
//! RENAME is whole: the store renames the mailbox and all its inferiors, or none.

use yubin_store::name::DELIMITER;
use yubin_store::{Account, SpecialUse, StoreError};

use crate::response::{Code, Completion};

/// The code and text for a store refusal of a mailbox command.
fn refuse(command: &str, e: &StoreError) -> Completion {
    let code = match e {
        StoreError::MailboxExists(_) => Code::AlreadyExists,
        StoreError::NoSuchMailbox(_) => Code::NonExistent,
        StoreError::HasChildren(_) => Code::HasChildren,
        StoreError::CannotDeleteInbox | StoreError::InvalidName { .. } => Code::Cannot,
        StoreError::NameTooLong { .. } => Code::Limit,
        _ => return Completion::store_failed(command, e),
    };
    Completion::no(code, format!("{command} failed: {e}"))
}

/// Answers CREATE with special uses (RFC 6154 §3). The store ties each use to one
/// mailbox, named after it ([`SpecialUse::mailbox_name`]: `Sent`, `Drafts`, `Trash`,
/// `Junk`) and created with the account, so a use can be given only to its own name
/// (say, recreating a deleted `Sent`). Any other request (an unknown use, a use for
/// another name, two uses) is refused with `NO [USEATTR]`, and nothing is created, as
/// §3 requires. `USE ()` is a plain CREATE.
pub fn create_special_use(account: &Account, name: &str, uses: &[String]) -> Completion {
    let plain = name.strip_suffix(DELIMITER).unwrap_or(name);
    let mut wanted: Vec<SpecialUse> = Vec::new();
    for u in uses {
        let Some(known) = SpecialUse::ALL
            .into_iter()
            .find(|s| s.attribute().eq_ignore_ascii_case(u))
        else {
            let text = format!("CREATE failed: special use {u} is not supported");
            return Completion::no(Code::UseAttr, text);
        };
        if !wanted.contains(&known) {
            wanted.push(known);
        }
    }
    if let [_, _, ..] = wanted.as_slice() {
        let text = "CREATE failed: a mailbox here has at most one special use";
        return Completion::no(Code::UseAttr, text);
    }
    if let Some(u) = wanted.first()
        && u.mailbox_name() != plain
    {
        let text = format!(
            "CREATE failed: {} is the mailbox {} here",
            u.attribute(),
            u.mailbox_name()
        );
        return Completion::no(Code::UseAttr, text);
    }
    create(account, name)
}

/// Answers CREATE. A trailing delimiter declares that names will be created below this
/// one (§6.3.3); the store has no such distinction, so it is dropped.
pub fn create(account: &Account, name: &str) -> Completion {
    let name = name.strip_suffix(DELIMITER).unwrap_or(name);
    match account.create(name) {
        Ok(()) => Completion::done("CREATE"),
        Err(e) => refuse("CREATE", &e),
    }
}

/// Answers DELETE. `selected` is the name of this session's selected mailbox: deleting
/// it from under the session is refused with `[INUSE]` (CLOSE it first).
pub fn delete(account: &Account, selected: Option<&str>, name: &str) -> Completion {
    let canonical = yubin_store::name::canonical_mailbox(name);
    if let (Ok(n), Some(sel)) = (&canonical, selected)
        && n == sel
    {
        return Completion::no(
            Code::InUse,
            "DELETE failed: the mailbox is selected; CLOSE it first",
        );
    }
    match account.delete(name) {
        Ok(()) => Completion::done("DELETE"),
        Err(e) => refuse("DELETE", &e),
    }
}

/// Answers RENAME (RFC 3501 §6.3.5): inferiors move too, all of them or none; renaming
/// INBOX moves its messages to the new mailbox and leaves INBOX empty (with its
/// UIDVALIDITY and UIDNEXT), which the store does, in one step on Maildir. A refusal
/// (`NO` with its code) has changed nothing.
pub fn rename(account: &Account, from: &str, to: &str) -> Completion {
    match account.rename(from, to) {
        Ok(()) => Completion::done("RENAME"),
        Err(e) => refuse("RENAME", &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yubin_store::{Secret, Store};

    fn reply(tag: &str, c: Completion) -> String {
        let mut r = crate::response::Responses::new();
        r.completion(tag, &c);
        String::from_utf8(r.into_bytes()).unwrap()
    }

    /// A name valid as sent but too long once Maildir++ stores it (here a child's, which
    /// RENAME would make too long) is `NO [LIMIT]` (RFC 5530), and nothing changed.
    #[test]
    fn names_too_long_to_store_are_limit_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::maildir(dir.path()).unwrap();
        store.add_account("alice", Secret::from("pw")).unwrap();
        let account = store.account("alice").unwrap();
        let child = "c".repeat(200);
        account.create(&format!("p/{child}")).unwrap();
        let before = account.list().unwrap();
        let long = "q.".repeat(20);
        let r = reply("t1", rename(&account, "p", &long));
        assert!(r.starts_with("t1 NO [LIMIT] RENAME failed"), "{r}");
        let r = reply("t2", create(&account, &"a.".repeat(120)));
        assert!(r.starts_with("t2 NO [LIMIT] CREATE failed"), "{r}");
        let r = reply("t3", rename(&account, "INBOX", &format!("x/{long}{child}")));
        assert!(r.starts_with("t3 NO [LIMIT] RENAME failed"), "{r}");
        assert_eq!(account.list().unwrap(), before);
        let r = reply("t4", rename(&account, "p", "q"));
        assert_eq!(r, "t4 OK RENAME completed\r\n");
        let r = reply("t5", rename(&account, "INBOX", "Old"));
        assert_eq!(r, "t5 OK RENAME completed\r\n");
    }
}
