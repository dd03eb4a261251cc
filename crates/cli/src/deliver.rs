//! `yubin deliver`: put .eml and mbox files into the store, as a local MDA would.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use yubin_store::wire::wire_size;
use yubin_store::{Flags, Mailbox, NewMessage, Store, StoreError};

/// Above this many messages a progress bar is shown (on a terminal).
const PROGRESS_FROM: usize = 20;

/// Where to deliver, and what.
#[derive(Debug, Args)]
pub struct DeliverArgs {
    /// Who receives the mail: an account name or an address at a local domain
    /// (`alice`, `alice@localhost`), resolved as SMTP resolves RCPT TO. An unknown name
    /// becomes an account, named by the lower-cased local part.
    #[arg(long, value_name = "ADDRESS")]
    to: String,
    /// The mailbox to deliver into (created if missing).
    #[arg(long, value_name = "NAME", default_value = "INBOX")]
    mailbox: String,
    /// Data directory (Maildir per user). Default: the platform's data directory.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// .eml files (one message each), mbox files (many), or directories of them.
    #[arg(required = true, value_name = "FILE_OR_DIR")]
    paths: Vec<PathBuf>,
}

/// One input file.
enum Source {
    /// A single RFC 5322 message.
    Message(PathBuf),
    /// An mbox file with this many messages.
    Mbox(PathBuf, usize),
}

/// Delivers every message and prints a summary line.
pub async fn run(args: DeliverArgs) -> anyhow::Result<ExitCode> {
    // The store is synchronous and does file I/O with fsyncs: keep it off the async
    // worker threads.
    tokio::task::spawn_blocking(move || deliver(args)).await?
}

fn deliver(args: DeliverArgs) -> anyhow::Result<ExitCode> {
    let data = match args.data {
        Some(dir) => dir,
        None => Store::default_data_dir().context("no platform data directory; pass --data DIR")?,
    };
    let store = Store::maildir(&data)
        .with_context(|| format!("cannot open the store at {}", data.display()))?;
    // A local delivery needs no password: the account is made if it does not exist.
    store.set_accept_any_login(true);
    // The same resolution as SMTP's RCPT TO (`Store::resolve`), done once: the whole
    // batch then goes to that account with `append_batch`.
    let account = store
        .resolve(&args.to)
        .with_context(|| format!("cannot deliver to {}", args.to))?;
    let mailbox = match account.mailbox(&args.mailbox) {
        Ok(m) => m,
        Err(StoreError::NoSuchMailbox(_)) => {
            account
                .create(&args.mailbox)
                .with_context(|| format!("cannot create mailbox {}", args.mailbox))?;
            account.mailbox(&args.mailbox)?
        }
        Err(e) => return Err(e).with_context(|| format!("cannot open mailbox {}", args.mailbox)),
    };

    let mut sources = Vec::new();
    for path in &args.paths {
        collect(path, &mut sources)?;
    }
    let total: usize = sources
        .iter()
        .map(|s| match s {
            Source::Message(_) => 1,
            Source::Mbox(_, n) => *n,
        })
        .sum();
    let bar = if total > PROGRESS_FROM {
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} messages  {binary_bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };

    let started = Instant::now();
    let mut batch = Batch::new(&mailbox, &bar);
    // Input that is not a message (no header section: a text file, an empty file, random
    // bytes) is refused, each with its reason; the rest is delivered.
    let mut refused = 0usize;
    let mut refuse = |what: &str| {
        bar.suspend(|| {
            eprintln!(
                "{what}: not a mail message (it must begin with a header such as \
                 `From: ...`); not delivered"
            )
        });
        refused += 1;
    };
    for source in &sources {
        match source {
            Source::Message(path) => {
                let raw = std::fs::read(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                if !yubin_store::wire::looks_like_message(&raw) {
                    refuse(&path.display().to_string());
                    continue;
                }
                batch
                    .push(raw)
                    .with_context(|| format!("cannot deliver {}", path.display()))?;
            }
            Source::Mbox(path, _) => {
                let file = std::fs::File::open(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let mut n = 0usize;
                split_mbox(BufReader::new(file), |raw| {
                    n += 1;
                    if yubin_store::wire::looks_like_message(raw) {
                        batch.push(raw.to_vec())
                    } else {
                        refuse(&format!("{} (message {n})", path.display()));
                        Ok(())
                    }
                })
                .with_context(|| format!("cannot deliver from {}", path.display()))?;
            }
        }
    }
    batch.flush().context("cannot deliver")?;
    let (count, bytes) = (batch.count, batch.bytes);
    bar.finish_and_clear();
    println!(
        "delivered {} ({}) to {}/{} in {:.2?}",
        crate::words::count(count as u64, "message"),
        crate::words::count(bytes, "byte"),
        account.name(),
        mailbox.name(),
        started.elapsed()
    );
    if refused > 0 {
        eprintln!(
            "{} refused: not mail messages",
            crate::words::count(refused as u64, "input")
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Messages waiting to be appended together: the store writes its UID state once per
/// batch instead of once per message, which keeps a large import fast.
struct Batch<'a> {
    mailbox: &'a Mailbox,
    bar: &'a ProgressBar,
    pending: Vec<Vec<u8>>,
    pending_bytes: usize,
    count: usize,
    bytes: u64,
}

impl<'a> Batch<'a> {
    /// At most this many messages, or this many bytes, wait in memory.
    const MAX_MESSAGES: usize = 256;
    const MAX_BYTES: usize = 32 << 20;

    fn new(mailbox: &'a Mailbox, bar: &'a ProgressBar) -> Self {
        Batch {
            mailbox,
            bar,
            pending: Vec::new(),
            pending_bytes: 0,
            count: 0,
            bytes: 0,
        }
    }

    fn push(&mut self, raw: Vec<u8>) -> anyhow::Result<()> {
        self.pending_bytes += raw.len();
        self.pending.push(raw);
        if self.pending.len() >= Self::MAX_MESSAGES || self.pending_bytes >= Self::MAX_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        let flags = Flags::new();
        let messages: Vec<NewMessage<'_>> = self
            .pending
            .iter()
            .map(|raw| NewMessage {
                raw,
                flags: &flags,
                internal_date: None,
            })
            .collect();
        self.mailbox.append_batch(&messages)?;
        self.count += self.pending.len();
        self.bytes += self.pending.iter().map(|m| wire_size(m)).sum::<u64>();
        self.bar.inc(self.pending.len() as u64);
        self.pending.clear();
        self.pending_bytes = 0;
        Ok(())
    }
}

/// Adds a file, or every file under a directory (sorted, so the order is repeatable).
fn collect(path: &Path, out: &mut Vec<Source>) -> anyhow::Result<()> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot list {}", path.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .with_context(|| format!("cannot list {}", path.display()))?;
        entries.sort();
        for entry in entries {
            let hidden = entry
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if !hidden {
                collect(&entry, out)?;
            }
        }
        return Ok(());
    }
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut reader = BufReader::new(file);
    let mut first = [0u8; 5];
    let n = read_prefix(&mut reader, &mut first)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if n == 5 && &first == b"From " {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let count = count_mbox(BufReader::new(file))
            .with_context(|| format!("cannot read {}", path.display()))?;
        out.push(Source::Mbox(path.to_owned(), count));
    } else {
        out.push(Source::Message(path.to_owned()));
    }
    Ok(())
}

fn read_prefix(reader: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn count_mbox(mut reader: impl BufRead) -> std::io::Result<usize> {
    let mut count = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(count);
        }
        if line.starts_with(b"From ") {
            count += 1;
        }
    }
}

/// Splits an mbox into messages (RFC 4155): a line starting with `From ` begins a
/// message and is not part of it; `>From ` lines (any number of `>`) lose one `>`, which
/// undoes mboxrd quoting and also the mboxo quoting of `From ` lines; the blank line that
/// separates messages is dropped.
pub(crate) fn split_mbox(
    mut reader: impl BufRead,
    mut deliver: impl FnMut(&[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut message: Option<Vec<u8>> = None;
    let mut line = Vec::new();
    let mut flush = |message: &mut Option<Vec<u8>>| -> anyhow::Result<()> {
        if let Some(mut m) = message.take() {
            // The separator: one empty line before the next From_ line (or the end).
            if m.ends_with(b"\r\n\r\n") {
                m.truncate(m.len() - 2);
            } else if m.ends_with(b"\n\n") {
                m.truncate(m.len() - 1);
            }
            deliver(&m)?;
        }
        Ok(())
    };
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if line.starts_with(b"From ") {
            flush(&mut message)?;
            message = Some(Vec::new());
            continue;
        }
        let Some(m) = message.as_mut() else {
            continue; // text before the first From_ line is not a message
        };
        let quotes = line.iter().take_while(|&&b| b == b'>').count();
        if quotes > 0 && line[quotes..].starts_with(b"From ") {
            m.extend_from_slice(&line[1..]);
        } else {
            m.extend_from_slice(&line);
        }
    }
    flush(&mut message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        split_mbox(text.as_bytes(), |m| {
            out.push(String::from_utf8(m.to_vec()).unwrap());
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn mbox_messages_are_split_and_unquoted() {
        let mbox = "From a@example.com Mon Jan  1 00:00:00 2024\n\
                    Subject: one\n\nbody\n>From the start\n>>From deeper\n\n\
                    From b@example.com Mon Jan  1 00:00:01 2024\n\
                    Subject: two\n\nlast\n";
        assert_eq!(
            split(mbox),
            [
                "Subject: one\n\nbody\nFrom the start\n>From deeper\n",
                "Subject: two\n\nlast\n"
            ]
        );
        assert_eq!(split(""), Vec::<String>::new());
        assert_eq!(split("no from line\n"), Vec::<String>::new());
    }

    #[test]
    fn mbox_messages_are_counted_by_from_lines() {
        let mbox = b"From x\nSubject: a\n\n>From y\n\nFrom z\nSubject: b\n";
        assert_eq!(count_mbox(&mbox[..]).unwrap(), 2);
    }
}
