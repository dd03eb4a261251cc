//! `dovecot-keywords`: which lowercase flag letter stands for which IMAP keyword.
//!
//! Dovecot's format, so Dovecot (and tools that follow it) read the same flags: one line
//! per keyword, `<index> <name>`, where index 0 is the letter `a` and 25 is `z`.
//! Twenty-six keywords per mailbox fit in file names; that is Dovecot's limit too.

use std::path::Path;

use crate::Result;
use crate::error::IoContext;

/// The file's name inside a mailbox directory.
pub(crate) const FILE: &str = "dovecot-keywords";

/// The letter ↔ keyword table of one mailbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Keywords {
    slots: [Option<String>; 26],
}

impl Keywords {
    /// Reads the table; a missing file is an empty table, and lines that do not parse are
    /// skipped (another program's extension should not make the mailbox unreadable).
    pub(crate) fn load(dir: &Path) -> Result<Keywords> {
        let path = dir.join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Keywords::default()),
            Err(e) => return Err(e).ctx(|| format!("reading {}", path.display())),
        };
        Ok(Keywords::parse(&text))
    }

    fn parse(text: &str) -> Keywords {
        let mut kw = Keywords::default();
        for line in text.lines() {
            let Some((index, name)) = line.split_once(' ') else {
                continue;
            };
            if let Ok(i) = index.parse::<usize>()
                && i < 26
                && !name.is_empty()
            {
                kw.slots[i] = Some(name.to_owned());
            }
        }
        kw
    }

    /// The file's text.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        for (i, slot) in self.slots.iter().enumerate() {
            if let Some(name) = slot {
                out.push_str(&format!("{i} {name}\n"));
            }
        }
        out
    }

    /// The keyword a letter stands for.
    pub(crate) fn name(&self, letter: char) -> Option<&str> {
        let i = (letter as usize).checked_sub('a' as usize)?;
        self.slots.get(i)?.as_deref()
    }

    /// The letter of a keyword that has one.
    pub(crate) fn letter(&self, keyword: &str) -> Option<char> {
        self.slots
            .iter()
            .position(|s| s.as_deref() == Some(keyword))
            .map(|i| (b'a' + i as u8) as char)
    }

    /// Gives a keyword the first free letter; `None` when all 26 are taken.
    pub(crate) fn assign(&mut self, keyword: &str) -> Option<char> {
        if let Some(c) = self.letter(keyword) {
            return Some(c);
        }
        let i = self.slots.iter().position(Option::is_none)?;
        self.slots[i] = Some(keyword.to_owned());
        Some((b'a' + i as u8) as char)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dovecot_format_round_trips() {
        let kw = Keywords::parse("0 $Forwarded\n2 Work\nbad line\n30 x\n");
        assert_eq!(kw.name('a'), Some("$Forwarded"));
        assert_eq!(kw.name('b'), None);
        assert_eq!(kw.letter("Work"), Some('c'));
        assert_eq!(kw.render(), "0 $Forwarded\n2 Work\n");
        assert_eq!(Keywords::parse(&kw.render()), kw);
    }

    #[test]
    fn assigns_free_letters_until_full() {
        let mut kw = Keywords::default();
        for i in 0..26 {
            assert_eq!(kw.assign(&format!("k{i}")), Some((b'a' + i as u8) as char));
        }
        assert_eq!(kw.assign("k3"), Some('d'));
        assert_eq!(kw.assign("one-too-many"), None);
    }
}
