//! LIST and LSUB (RFC 3501 §6.3.8–9) with CHILDREN (RFC 3348) and SPECIAL-USE (RFC 6154)
//! attributes, and the extended LIST (RFC 5258) with STATUS (RFC 5819).
//!
//! Names are matched and answered in the client's [`NameForm`]: a UTF-8 client's
//! pattern is matched against the names decoded (RFC 6855 §3), since a wildcard may
//! stand for part of what modified UTF-7 encodes as one run.

use std::collections::BTreeMap;

use yubin_store::{Account, MailboxInfo, SpecialUse};

use crate::command::ListExtended;
use crate::mailbox_name::NameForm;
use crate::response::{Completion, Data, Responses};

/// The hierarchy delimiter (the store's).
pub const DELIMITER: char = '/';

/// Whether `name` matches `pattern`: `*` matches anything, `%` anything but the
/// delimiter (RFC 3501 §6.3.8).
pub fn matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some(b'*') => (0..=n.len()).any(|k| go(&p[1..], &n[k..])),
            Some(b'%') => {
                let stop = n
                    .iter()
                    .position(|&c| c == DELIMITER as u8)
                    .unwrap_or(n.len());
                (0..=stop).any(|k| go(&p[1..], &n[k..]))
            }
            Some(&c) => n.first() == Some(&c) && go(&p[1..], &n[1..]),
        }
    }
    // Bound the backtracking: a pattern of many `*` against a long name is quadratic
    // per star; names and patterns are short, and this keeps hostile ones cheap.
    if pattern.matches(['*', '%']).count() > 16 {
        return false;
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// Matches INBOX case-insensitively, as RFC 3501 §5.1 makes its name.
fn matches_mailbox(pattern: &str, name: &str) -> bool {
    if name.eq_ignore_ascii_case("INBOX") || name.to_ascii_uppercase().starts_with("INBOX/") {
        let (head, tail) = name.split_at(5);
        let upper = format!("{}{}", head.to_ascii_uppercase(), tail);
        // The pattern's own INBOX prefix may be in any case too.
        let p = if pattern.len() >= 5
            && pattern.is_char_boundary(5)
            && pattern[..5].eq_ignore_ascii_case("INBOX")
        {
            format!("INBOX{}", &pattern[5..])
        } else {
            pattern.to_owned()
        };
        return matches(&p, &upper);
    }
    matches(pattern, name)
}

/// RFC 3501 §6.3.8: an empty pattern asks for the delimiter and the root.
fn root() -> Data<'static> {
    Data::List {
        lsub: false,
        attributes: vec!["\\Noselect"],
        delimiter: Some(DELIMITER),
        name: "",
        child_info: vec![],
        old_name: None,
    }
}

/// The account's mailboxes, named in the client's `form`.
fn list_in(account: &Account, form: NameForm) -> yubin_store::Result<Vec<MailboxInfo>> {
    let mut all = account.list()?;
    for info in &mut all {
        if let std::borrow::Cow::Owned(shown) = form.to_client(&info.name) {
            info.name = shown;
        }
    }
    Ok(all)
}

/// The attributes an extended LIST gives the name `name` (stored form) in an account
/// whose names are `all` and whose subscriptions are `subscribed`: `\NonExistent` for a
/// name that is not there (RFC 5258 §3.4, RFC 5465 §5.4), `\Noselect` for a parent that
/// exists only because a child does, child attributes, the special use, `\Subscribed`.
pub fn attributes_of(all: &[MailboxInfo], subscribed: bool, name: &str) -> Vec<&'static str> {
    let mut attrs: Vec<&'static str> = Vec::new();
    match all.iter().find(|i| i.name == name) {
        None => attrs.push("\\NonExistent"),
        Some(info) => {
            if !info.selectable {
                attrs.push("\\Noselect");
            }
            let prefix = format!("{name}{DELIMITER}");
            attrs.push(if all.iter().any(|o| o.name.starts_with(&prefix)) {
                "\\HasChildren"
            } else {
                "\\HasNoChildren"
            });
            if let Some(u) = info.special_use {
                attrs.push(u.attribute());
            }
        }
    }
    if subscribed {
        attrs.push("\\Subscribed");
    }
    attrs
}

/// RFC 9051 §6.3.2: SELECT and EXAMINE send "a LIST response with the mailbox name.
/// The list of mailbox attributes MUST be accurate." The attributes are those LIST
/// gives the mailbox `name` (stored form), and the name is in the client's `form`.
pub fn selected_mailbox(account: &Account, name: &str, form: NameForm, out: &mut Responses) {
    let Ok(all) = account.list() else { return };
    let Some(info) = all.iter().find(|i| i.name == name) else {
        return;
    };
    out.data(Data::List {
        lsub: false,
        attributes: attributes_of(&all, info.subscribed, name),
        delimiter: Some(DELIMITER),
        name: &form.to_client(name),
        child_info: vec![],
        old_name: None,
    });
}

/// Answers LIST (or LSUB when `lsub`), names in the client's `form`.
pub fn list(
    account: &Account,
    reference: &str,
    pattern: &str,
    lsub: bool,
    form: NameForm,
    out: &mut Responses,
) -> Completion {
    let command = if lsub { "LSUB" } else { "LIST" };
    if pattern.is_empty() && !lsub {
        out.data(root());
        return Completion::done("LIST");
    }
    let full = format!("{reference}{pattern}");
    let all = match list_in(account, form) {
        Ok(all) => all,
        Err(e) => return Completion::store_failed(command, &e),
    };
    for info in &all {
        if !matches_mailbox(&full, &info.name) {
            continue;
        }
        let prefix = format!("{}{DELIMITER}", info.name);
        // RFC 3501 §6.3.9: when `foo/bar` is subscribed and `foo` is not, LSUB `%`
        // answers `foo` with \Noselect (the pattern cannot reach `foo/bar` itself).
        let stands_in = lsub
            && !info.subscribed
            && all.iter().any(|o| {
                o.subscribed && o.name.starts_with(&prefix) && !matches_mailbox(&full, &o.name)
            });
        if lsub && !info.subscribed && !stands_in {
            continue;
        }
        let has_children = all.iter().any(|o| o.name.starts_with(&prefix));
        let mut attrs: Vec<&str> = Vec::new();
        if !info.selectable || stands_in {
            attrs.push("\\Noselect");
        }
        attrs.push(if has_children {
            "\\HasChildren"
        } else {
            "\\HasNoChildren"
        });
        if let Some(u) = info.special_use {
            attrs.push(u.attribute());
        }
        out.data(Data::List {
            lsub,
            attributes: attrs,
            delimiter: Some(DELIMITER),
            name: &info.name,
            child_info: vec![],
            old_name: None,
        });
    }
    Completion::done(command)
}

/// A name an extended LIST may answer: a mailbox, a parent that exists only because a
/// child does, or a subscribed name whose mailbox is gone.
struct Entry {
    /// The name as stored (the key is as the client reads it).
    stored: String,
    /// In the account's list (a mailbox or such a parent); `\NonExistent` if not.
    listed: bool,
    selectable: bool,
    special_use: Option<SpecialUse>,
    subscribed: bool,
}

/// Answers an extended LIST (RFC 5258 §3). A name is listed when a pattern matches it
/// and it meets the selection criteria, or, with RECURSIVEMATCH, when a descendant
/// meets them (then with `CHILDINFO`, naming the criteria). Child attributes and
/// special-use attributes are always given, as for the plain LIST. Names are in the
/// client's `form`.
pub fn list_extended(
    account: &Account,
    l: &ListExtended,
    form: NameForm,
    out: &mut Responses,
) -> Completion {
    let all = match account.list() {
        Ok(all) => all,
        Err(e) => return Completion::store_failed("LIST", &e),
    };
    // INBOX first (as `list` gives it), then by name.
    let mut entries: BTreeMap<(bool, String), Entry> = BTreeMap::new();
    for info in all {
        let entry = Entry {
            stored: info.name.clone(),
            listed: true,
            selectable: info.selectable,
            special_use: info.special_use,
            subscribed: info.subscribed,
        };
        let shown = form.to_client(&info.name).into_owned();
        entries.insert((info.name != "INBOX", shown), entry);
    }
    if l.subscribed {
        for name in account.subscriptions() {
            let key = (name != "INBOX", form.to_client(&name).into_owned());
            entries.entry(key).or_insert(Entry {
                stored: name,
                listed: false,
                selectable: false,
                special_use: None,
                subscribed: true,
            });
        }
    }
    let selected = |e: &Entry| {
        (if l.subscribed { e.subscribed } else { e.listed })
            && (!l.special_use || e.special_use.is_some())
    };
    if l.patterns.iter().any(|p| p.is_empty()) && !l.subscribed {
        out.data(root());
    }
    let show_subscribed = l.subscribed || l.return_subscribed;
    let hit = |name: &str| {
        l.patterns
            .iter()
            .any(|p| !p.is_empty() && matches_mailbox(&format!("{}{p}", l.reference), name))
    };
    for ((_, name), e) in &entries {
        if !hit(name) {
            continue;
        }
        let prefix = format!("{name}{DELIMITER}");
        let prefix = prefix.as_str();
        let descendants = || {
            entries
                .iter()
                .filter(move |((_, n), _)| n.starts_with(prefix))
                .map(|((_, n), d)| (n, d))
        };
        let child_selected = l.recursive_match && descendants().any(|(_, d)| selected(d));
        // RFC 5258 §3: a parent that does not meet the criteria itself is listed only
        // for a selected descendant that the patterns do not list on its own (redundant
        // CHILDINFO is suppressed).
        let stands_in = l.recursive_match && descendants().any(|(n, d)| selected(d) && !hit(n));
        if !selected(e) && !stands_in {
            continue;
        }
        let has_children = descendants().any(|(_, d)| d.listed);
        let mut attrs: Vec<&str> = Vec::new();
        if !e.listed {
            // RFC 5258 §3.4: \NonExistent implies \Noselect.
            attrs.push("\\NonExistent");
        } else if !e.selectable {
            attrs.push("\\Noselect");
        }
        attrs.push(if has_children {
            "\\HasChildren"
        } else {
            "\\HasNoChildren"
        });
        if let Some(u) = e.special_use {
            attrs.push(u.attribute());
        }
        if show_subscribed && e.subscribed {
            attrs.push("\\Subscribed");
        }
        // RFC 5258 §3.5: `("CHILDINFO" (criteria))` names what the descendant met.
        let mut child_info = Vec::new();
        if child_selected {
            if l.subscribed {
                child_info.push("SUBSCRIBED");
            }
            if l.special_use {
                child_info.push("SPECIAL-USE");
            }
        }
        out.data(Data::List {
            lsub: false,
            attributes: attrs,
            delimiter: Some(DELIMITER),
            name,
            child_info,
            old_name: None,
        });
        if let Some(items) = &l.return_status
            && e.listed
            && e.selectable
            // RFC 5819 §2: a mailbox whose status cannot be had is listed without it.
            && let Ok(values) = super::status::read(account, &e.stored, items)
        {
            out.data(Data::Status {
                mailbox: name,
                items: values,
            });
        }
    }
    Completion::done("LIST")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches("*", "a/b/c"));
        assert!(matches("%", "abc"));
        assert!(!matches("%", "a/b"));
        assert!(matches("a/%", "a/b"));
        assert!(!matches("a/%", "a/b/c"));
        assert!(matches("a*c", "a/b/c"));
        assert!(matches_mailbox("inbox", "INBOX"));
        assert!(matches_mailbox("inbox/%", "INBOX/sub"));
    }
}
