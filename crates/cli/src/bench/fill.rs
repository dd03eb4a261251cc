//! `yubin bench fill`: N small messages straight into a Maildir, as an MDA delivers them.
//!
//! Each message is written to `tmp/` and renamed into `new/` under a classic unique name
//! (`<secs>.M<micros>P<pid>Q<n>.<host>`, no `S=`/`W=` sizes, as Postfix's `local` and
//! procmail write them), with bare LF line ends, as MDAs store mail. Any Maildir server
//! (yubin, Dovecot) picks them up on its next look at `new/`; copying the filled directory
//! gives two servers identical mailboxes.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;

/// Where and how many.
#[derive(Debug, Args, Clone)]
pub struct FillArgs {
    /// The Maildir (the directory holding tmp/, new/ and cur/; made if missing).
    #[arg(long)]
    maildir: PathBuf,
    /// How many messages to add.
    #[arg(long)]
    count: u64,
    /// Body lines per message (about 70 bytes each).
    #[arg(long, default_value_t = 4)]
    body_lines: usize,
    /// fsync every file and, at the end, new/, as a careful MDA does (much slower).
    #[arg(long)]
    fsync: bool,
}

/// Words for the subjects; "zebra" is kept for every 100th message, for SEARCH.
const WORDS: [&str; 9] = [
    "apple", "river", "garden", "winter", "market", "silver", "candle", "harbor", "meadow",
];

pub(super) fn run(a: &FillArgs) -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    for sub in ["tmp", "new", "cur"] {
        let dir = a.maildir.join(sub);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let host = yubin_store::maildir_host();
    let pid = std::process::id();
    let run_id = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut bytes = 0u64;
    let mut text = Vec::with_capacity(1024);
    for i in 1..=a.count {
        text.clear();
        message(&mut text, i, run_id, a.body_lines);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let name = format!(
            "{}.M{}P{pid}Q{i}.{host}",
            now.as_secs(),
            now.subsec_micros()
        );
        deliver(&a.maildir, &name, &text, a.fsync)?;
        bytes += text.len() as u64;
    }
    if a.fsync {
        File::open(a.maildir.join("new"))?.sync_all()?;
    }
    println!(
        "filled {}: {} messages, {} bytes, {:.1} s",
        a.maildir.display(),
        a.count,
        bytes,
        start.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// tmp/NAME, written whole, then renamed to new/NAME.
fn deliver(maildir: &Path, name: &str, text: &[u8], fsync: bool) -> anyhow::Result<()> {
    let tmp = maildir.join("tmp").join(name);
    let mut f = File::create_new(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(text)?;
    if fsync {
        f.sync_all()?;
    }
    drop(f);
    fs::rename(&tmp, maildir.join("new").join(name))
        .with_context(|| format!("moving {} into new/", tmp.display()))?;
    Ok(())
}

/// Message number `i`: a plain-text message of a few hundred bytes, bare LF.
fn message(out: &mut Vec<u8>, i: u64, run_id: u64, body_lines: usize) {
    let word = if i % 100 == 50 {
        "zebra"
    } else {
        WORDS[(i % WORDS.len() as u64) as usize]
    };
    let sender = i % 97;
    let (day, secs) = (1 + (i / 86_400) % 28, i % 86_400);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        "Return-Path: <sender{sender}@example.com>\n\
         From: Sender {sender} <sender{sender}@example.com>\n\
         To: Bench <bench@localhost>\n\
         Subject: Message {i} about the {word}\n\
         Date: {day} Jan 2024 {h:02}:{m:02}:{s:02} +0000\n\
         Message-ID: <fill.{run_id}.{i}@bench.example>\n\
         MIME-Version: 1.0\n\
         Content-Type: text/plain; charset=us-ascii\n\
         \n"
    );
    for line in 1..=body_lines {
        let _ = writeln!(
            out,
            "Line {line} of message {i}: the quick brown fox jumps over the lazy dog."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_bare_lf_and_every_100th_subject_has_zebra() {
        let mut m = Vec::new();
        message(&mut m, 150, 1, 3);
        let text = String::from_utf8(m).unwrap();
        assert!(!text.contains('\r'));
        assert!(
            text.contains("Subject: Message 150 about the zebra\n"),
            "{text}"
        );
        assert!(text.contains("\n\nLine 1 of message 150"), "{text}");
        let mut m = Vec::new();
        message(&mut m, 151, 1, 3);
        assert!(!String::from_utf8(m).unwrap().contains("zebra"));
    }
}
