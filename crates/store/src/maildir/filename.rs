//! Maildir file names (<https://cr.yp.to/proto/maildir.html>, Dovecot's extensions).
//!
//! `<secs>.M<micros>P<pid>Q<counter>.<host>,S=<size>,W=<wire size>:2,<flags>`
//!
//! The part before `:2,` (the *base*) never changes once a message is delivered; the
//! flags after it do, by renaming. `S=` is the size on disk and `W=` the size with CRLF
//! line ends (Dovecot's meaning of both), so a reader need not open the file to know
//! its wire size.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;

use super::keywords::Keywords;
use crate::{Flag, Flags};

/// Splits a file name into its base and the flag letters after `:2,` (if any).
pub(crate) fn split(file_name: &str) -> (&str, Option<&str>) {
    match file_name.split_once(':') {
        Some((base, info)) => (base, info.strip_prefix("2,")),
        None => (file_name, None),
    }
}

/// The file name of a message with this base and these flag letters.
pub(crate) fn join(base: &str, info: Option<&str>) -> String {
    match info {
        Some(info) => format!("{base}:2,{info}"),
        None => base.to_owned(),
    }
}

/// A base name no other delivery (in this process or another, on this host or another)
/// will produce: time, microseconds, process id, a per-process counter, the host name.
pub(crate) fn unique_base(size: u64) -> String {
    unique_base_sized(size, size)
}

/// [`unique_base`] for a file whose size on disk (`S=`) differs from its wire size
/// (`W=`): a copy of a file another program wrote with bare LF line ends.
pub(crate) fn unique_base_sized(size: u64, wire: u64) -> String {
    format!("{},S={size},W={wire}", unique_name())
}

/// A name no other delivery will produce, without the sizes: the name of a message in
/// `tmp/` while it is being received, before its size is known.
pub(crate) fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = Utc::now();
    format!(
        "{}.M{}P{}Q{}.{}",
        now.timestamp(),
        now.timestamp_subsec_micros(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        host()
    )
}

/// The host name with `/` and `:` escaped as the Maildir spec asks (`\057`, `\072`),
/// and `,` too, which would end the name part (Dovecot does the same): the part of a
/// Maildir file name that tells deliveries from different hosts apart, for any program
/// that writes Maildir files.
pub fn host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_owned());
        let mut out = String::with_capacity(raw.len());
        for c in raw.chars() {
            match c {
                '/' => out.push_str("\\057"),
                ':' => out.push_str("\\072"),
                ',' => out.push_str("\\054"),
                c if c.is_ascii_graphic() => out.push(c),
                _ => out.push('_'),
            }
        }
        out
    })
}

/// The `W=` (wire size) field of a base name, if it has one.
pub(crate) fn wire_size(base: &str) -> Option<u64> {
    base.split(',')
        .skip(1)
        .find_map(|field| field.strip_prefix("W="))
        .and_then(|n| n.parse().ok())
}

/// The Maildir letter of a system flag.
fn system_letter(flag: &Flag) -> Option<char> {
    match flag {
        Flag::Draft => Some('D'),
        Flag::Flagged => Some('F'),
        Flag::Answered => Some('R'),
        Flag::Seen => Some('S'),
        Flag::Deleted => Some('T'),
        Flag::Keyword(_) => None,
    }
}

/// The flags the letters after `:2,` stand for; letters the store does not know (`P`,
/// a lowercase letter without a keyword) are skipped here and kept by [`letters`].
pub(crate) fn parse_letters(info: &str, keywords: &Keywords) -> Flags {
    info.chars()
        .filter_map(|c| match c {
            'D' => Some(Flag::Draft),
            'F' => Some(Flag::Flagged),
            'R' => Some(Flag::Answered),
            'S' => Some(Flag::Seen),
            'T' => Some(Flag::Deleted),
            'a'..='z' => keywords.name(c).map(|k| Flag::Keyword(k.to_owned())),
            _ => None,
        })
        .collect()
}

/// The letters for `flags`, plus the letters of `old` that the store does not interpret,
/// sorted in ASCII order as the Maildir spec requires. `letter` gives a keyword's letter
/// (`None`: no letter left for it).
pub(crate) fn letters(
    flags: &Flags,
    old: Option<&str>,
    keywords: &Keywords,
    mut letter: impl FnMut(&str) -> Option<char>,
) -> String {
    let mut out: Vec<char> = flags
        .iter()
        .filter_map(|f| match f {
            Flag::Keyword(k) => letter(k),
            system => system_letter(system),
        })
        .collect();
    if let Some(old) = old {
        out.extend(old.chars().filter(|&c| match c {
            'D' | 'F' | 'R' | 'S' | 'T' => false,
            'a'..='z' => keywords.name(c).is_none(),
            c => c.is_ascii_alphanumeric(),
        }));
    }
    out.sort_unstable();
    out.dedup();
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_joins() {
        assert_eq!(
            split("123.M1P2Q3.h,S=5:2,FS"),
            ("123.M1P2Q3.h,S=5", Some("FS"))
        );
        assert_eq!(split("123.M1P2Q3.h"), ("123.M1P2Q3.h", None));
        assert_eq!(split("x:2,"), ("x", Some("")));
        assert_eq!(join("x", Some("S")), "x:2,S");
        assert_eq!(join("x", None), "x");
    }

    #[test]
    fn unique_names_differ_and_carry_sizes() {
        let a = unique_base(10);
        let b = unique_base(10);
        assert_ne!(a, b);
        assert_eq!(wire_size(&a), Some(10));
        assert!(!a.contains(':') && !a.contains('/'));
        assert_eq!(wire_size("1.M2P3.host,S=100,W=104"), Some(104));
        assert_eq!(wire_size("1.M2P3.host"), None);
    }

    #[test]
    fn letters_are_sorted_and_unknown_ones_kept() {
        let kw = Keywords::default();
        let flags: Flags = [
            Flag::Seen,
            Flag::Draft,
            Flag::Answered,
            Flag::Flagged,
            Flag::Deleted,
        ]
        .into_iter()
        .collect();
        assert_eq!(letters(&flags, None, &kw, |_| None), "DFRST");
        let only_seen: Flags = [Flag::Seen].into_iter().collect();
        assert_eq!(letters(&only_seen, Some("PRx"), &kw, |_| None), "PSx");
        assert_eq!(
            parse_letters("PRSx", &kw),
            [Flag::Answered, Flag::Seen].into_iter().collect()
        );
    }
}
