//! `yubin-uidlist`: the UID state of one Maildir mailbox as earlier yubin versions kept it.
//! It is only read now, once, to carry UIDs and UIDVALIDITY into the index (`index.rs`).
//!
//! ```text
//! yubin-uidlist v1 uidvalidity=1732460000 uidnext=43 recent=40 generation=17
//! 1 325 1732460000.M123456P4242Q0.host,S=325,W=325
//! 42 1065592 1732460100.M1P4242Q1.host,S=1065592,W=1065592
//! ```
//!
//! A header line, then one line per message: UID, size in wire form, base file name (the
//! part before `:2,`, which flag changes do not touch). `generation` grows with every
//! write, so a process that holds the lock can tell cheaply whether another process
//! changed the list since it last read it. The file is only ever replaced whole (write a
//! temporary file, fsync, rename), so a reader sees the old list or the new, never a mix.

use std::path::Path;

use crate::backend::Header;
use crate::error::IoContext;
use crate::{Result, StoreError};

/// The file's name inside a mailbox directory.
pub(crate) const FILE: &str = "yubin-uidlist";

const MAGIC: &str = "yubin-uidlist v1";

/// One message's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub uid: u32,
    pub size: u64,
    pub base: String,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UidList {
    pub header: Header,
    pub generation: u64,
    pub entries: Vec<Entry>,
}

impl UidList {
    /// Parses the file's text; `where_` names it in errors.
    pub(crate) fn parse(text: &str, where_: &Path) -> Result<UidList> {
        let corrupt = |line: usize, why: &str| {
            StoreError::Corrupt(format!("{} line {line}: {why}", where_.display()))
        };
        let mut lines = text.lines();
        let (header, generation) =
            parse_header(lines.next().unwrap_or("")).ok_or_else(|| corrupt(1, "bad header"))?;
        let mut entries = Vec::new();
        let mut last = 0;
        for (i, line) in lines.enumerate() {
            let mut parts = line.splitn(3, ' ');
            let (Some(uid), Some(size), Some(base)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(corrupt(i + 2, "expected `uid size base`"));
            };
            let uid: u32 = uid.parse().map_err(|_| corrupt(i + 2, "bad UID"))?;
            let size: u64 = size.parse().map_err(|_| corrupt(i + 2, "bad size"))?;
            if uid <= last || uid >= header.uid_next || base.is_empty() {
                return Err(corrupt(i + 2, "UIDs out of order or not below uidnext"));
            }
            last = uid;
            entries.push(Entry {
                uid,
                size,
                base: base.to_owned(),
            });
        }
        Ok(UidList {
            header,
            generation,
            entries,
        })
    }

    /// Reads the list of the mailbox in `dir`; `None` if it has none yet.
    pub(crate) fn read(dir: &Path) -> Result<Option<UidList>> {
        let path = dir.join(FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => UidList::parse(&text, &path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).ctx(|| format!("reading {}", path.display())),
        }
    }
}

fn parse_header(line: &str) -> Option<(Header, u64)> {
    let rest = line.strip_prefix(MAGIC)?;
    let (mut validity, mut next, mut recent, mut generation) = (None, None, None, None);
    for field in rest.split_whitespace() {
        let (key, value) = field.split_once('=')?;
        match key {
            "uidvalidity" => validity = value.parse().ok(),
            "uidnext" => next = value.parse().ok(),
            "recent" => recent = value.parse().ok(),
            "generation" => generation = value.parse().ok(),
            _ => {} // a later version's field: ignore
        }
    }
    let header = Header {
        uid_validity: validity.filter(|&v| v != 0)?,
        uid_next: next.filter(|&n| n != 0)?,
        recent_from: recent?,
        highest_modseq: 0,
    };
    Some((header, generation?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> UidList {
        UidList {
            header: Header {
                uid_validity: 1_700_000_000,
                uid_next: 43,
                recent_from: 40,
                highest_modseq: 0,
            },
            generation: 7,
            entries: vec![
                Entry {
                    uid: 1,
                    size: 325,
                    base: "1.M1P1Q0.host,S=325,W=325".into(),
                },
                Entry {
                    uid: 42,
                    size: 10,
                    base: "name with space".into(),
                },
            ],
        }
    }

    #[test]
    fn round_trips() {
        let list = sample();
        let text = "yubin-uidlist v1 uidvalidity=1700000000 uidnext=43 recent=40 generation=7\n\
                    1 325 1.M1P1Q0.host,S=325,W=325\n42 10 name with space\n";
        assert!(text.starts_with("yubin-uidlist v1 uidvalidity=1700000000 uidnext=43"));
        assert_eq!(UidList::parse(text, Path::new("x")).unwrap(), list);
    }

    #[test]
    fn refuses_what_it_cannot_trust() {
        let p = Path::new("x");
        for bad in [
            "",
            "something else\n",
            "yubin-uidlist v1 uidvalidity=0 uidnext=1 recent=1 generation=0\n",
            "yubin-uidlist v1 uidvalidity=1 uidnext=5 recent=1 generation=0\n7 1 a\n",
            "yubin-uidlist v1 uidvalidity=1 uidnext=5 recent=1 generation=0\n2 1 a\n2 1 b\n",
            "yubin-uidlist v1 uidvalidity=1 uidnext=5 recent=1 generation=0\nx 1 a\n",
        ] {
            assert!(
                matches!(UidList::parse(bad, p), Err(StoreError::Corrupt(_))),
                "{bad:?}"
            );
        }
    }
}
