//! Messages received as they arrive: SMTP DATA ([`Incoming`], from
//! [`Store::incoming`](crate::Store::incoming)) and IMAP APPEND ([`IncomingAppend`], from
//! [`Mailbox::incoming`]).
//!
//! A mail server must not hold whole messages in memory: sixteen 24 MB messages arriving
//! at once would cost 400 MB before anything else. Each piece is handed to the backend as
//! it comes ([`Receiving`]): the Maildir backend writes it to a file in `tmp/` through a
//! fixed 64 KiB buffer, fsyncs it when the message is complete, and links that one file
//! into every mailbox it goes to. The store's part is what every backend shares: bare LF
//! line ends become CRLF (across piece boundaries too), the size is counted, and the
//! message is added to each mailbox through the same group commit as any append.

use chrono::{DateTime, FixedOffset, Utc};

use crate::backend::{Body, Receiving};
use crate::mailbox::normalize_date;
use crate::name::INBOX;
use crate::{Account, Delivered, DeliveredCopy, Flags, Mailbox, Result, StoreError};

/// The store's side of a message being received: line ends made CRLF, bytes counted,
/// pieces handed to the backend.
pub(crate) struct Receipt {
    /// Where the bytes go; `None` when they go nowhere (a delivery to no one).
    backend: Option<Box<dyn Receiving>>,
    /// Bytes in wire form so far.
    len: u64,
    /// The last byte written was a CR: an LF at the start of the next piece ends that
    /// line and is not bare.
    after_cr: bool,
    /// A write failed: the backend's bytes are incomplete, so nothing more is taken.
    failed: bool,
    /// [`Receipt::write_verbatim`] passed on a bare LF: the bytes are not in wire form.
    verbatim_bare_lf: bool,
}

impl Receipt {
    pub(crate) fn new(backend: Option<Box<dyn Receiving>>) -> Receipt {
        Receipt {
            backend,
            len: 0,
            after_cr: false,
            failed: false,
            verbatim_bare_lf: false,
        }
    }

    /// Appends `bytes` as they are, noting whether a line end in them is a bare LF.
    fn write_verbatim(&mut self, bytes: &[u8]) -> Result<()> {
        if self.failed {
            return Err(broken());
        }
        let Some(&last) = bytes.last() else {
            return Ok(());
        };
        if !self.verbatim_bare_lf {
            let after_cr = self.after_cr;
            self.verbatim_bare_lf = memchr::memchr_iter(b'\n', bytes).any(|p| match p {
                0 => !after_cr,
                p => bytes[p - 1] != b'\r',
            });
        }
        let result = self.put(bytes);
        if result.is_err() {
            self.failed = true;
        }
        self.after_cr = last == b'\r';
        result
    }

    /// Appends `bytes`, each bare LF made CRLF (RFC 5322 §2.1: the wire form every
    /// protocol serves and counts).
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        if self.failed {
            return Err(broken());
        }
        let result = self.write_crlf(bytes);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn write_crlf(&mut self, bytes: &[u8]) -> Result<()> {
        let Some(&last) = bytes.last() else {
            return Ok(());
        };
        let mut rest = bytes;
        if self.after_cr && rest[0] == b'\n' {
            // The CRLF was cut between two pieces; `crlf_chunks` would see a bare LF.
            self.put(b"\n")?;
            rest = &rest[1..];
        }
        for chunk in crate::wire::crlf_chunks(rest) {
            self.put(chunk)?;
        }
        self.after_cr = last == b'\r';
        Ok(())
    }

    fn put(&mut self, wire: &[u8]) -> Result<()> {
        if let Some(backend) = &mut self.backend {
            backend.write(wire)?;
        }
        self.len += wire.len() as u64;
        Ok(())
    }

    fn buffered(&self) -> usize {
        self.backend.as_ref().map_or(0, |b| b.buffered())
    }

    /// Makes the message durable; `None` if it goes nowhere.
    fn finish(&mut self, date: DateTime<FixedOffset>) -> Result<Option<Body>> {
        if self.failed {
            return Err(broken());
        }
        match &mut self.backend {
            Some(backend) => backend.finish(date).map(Some),
            None => Ok(None),
        }
    }
}

/// The error of every call after a write failed.
fn broken() -> StoreError {
    StoreError::io(
        "receiving a message",
        std::io::Error::other("an earlier write of this message failed"),
    )
}

/// A message on its way to the INBOX of one or more accounts (SMTP DATA), from
/// [`Store::incoming`](crate::Store::incoming): every recipient is already resolved, and
/// the message is kept by the store's backend as it arrives, never whole in memory.
///
/// Write it a piece at a time (a line, a buffer) with [`Incoming::write`], then
/// [`Incoming::deliver`]. Dropped without `deliver` (the client went away, the message
/// was too large), it leaves nothing behind: no message, no file.
pub struct Incoming {
    /// Each account the message goes to, with the addresses that named it, in the order
    /// in which the recipients first named the accounts.
    targets: Vec<(Account, Vec<String>)>,
    receipt: Receipt,
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let accounts: Vec<&str> = self.targets.iter().map(|(a, _)| a.name()).collect();
        f.debug_struct("Incoming")
            .field("accounts", &accounts)
            .field("len", &self.receipt.len)
            .finish()
    }
}

impl Incoming {
    /// A message for `targets` (accounts resolved, deduplicated), received by
    /// `backend` (`None` if there are no targets).
    pub(crate) fn new(
        targets: Vec<(Account, Vec<String>)>,
        backend: Option<Box<dyn Receiving>>,
    ) -> Incoming {
        Incoming {
            targets,
            receipt: Receipt::new(backend),
        }
    }

    /// Appends the next bytes of the message: any number of calls, with pieces of any
    /// size (one line each is fine; the backend buffers). Bare LF line ends are stored as
    /// CRLF, also when a CRLF is split between two pieces. After an error the message is
    /// incomplete: every later call fails, and dropping it removes what was written.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.receipt.write(bytes)
    }

    /// Bytes received so far, as they will be stored: in wire form (each bare LF counted
    /// as CRLF), which is the size every protocol will report for the message (IMAP
    /// RFC822.SIZE, POP3 LIST) and what a server compares with its size limit (RFC 1870
    /// SIZE).
    pub fn len(&self) -> u64 {
        self.receipt.len
    }

    /// Whether nothing has been received yet.
    pub fn is_empty(&self) -> bool {
        self.receipt.len == 0
    }

    /// The memory this message takes while it arrives, in bytes: bounded whatever its size
    /// for a backend that writes as it goes (Maildir: a 64 KiB buffer), the whole message
    /// for one that keeps messages in memory (the memory backend).
    pub fn buffered(&self) -> usize {
        self.receipt.buffered()
    }

    /// Delivers the message to the INBOX of every recipient, or to none, with the same
    /// result and semantics as [`Store::deliver`](crate::Store::deliver): one copy per
    /// account, internal date now, no flags. If one account's copy cannot be added, the
    /// copies already made are expunged again and the error is returned.
    ///
    /// It returns only once every copy is durable (Maildir: the file fsynced, linked into
    /// each INBOX's `new/`, those directories and each index log fsynced): the `250` reply
    /// to DATA that follows says the server has taken responsibility for the message
    /// (RFC 5321 §4.1.1.4, §6.1), so a crash after it must not lose the message.
    pub fn deliver(mut self) -> Result<Delivered> {
        let date = normalize_date(Utc::now().fixed_offset());
        let Some(body) = self.receipt.finish(date)? else {
            return Ok(Delivered::default());
        };
        let size = self.receipt.len;
        let flags = Flags::new();
        let targets = std::mem::take(&mut self.targets);
        let mut done: Vec<(Mailbox, DeliveredCopy)> = Vec::with_capacity(targets.len());
        for (account, addresses) in targets {
            let appended = account.mailbox(INBOX).and_then(|inbox| {
                inbox
                    .append_received(&body, size, &flags, date)
                    .map(|uid| (inbox, uid))
            });
            match appended {
                Ok((inbox, uid)) => done.push((
                    inbox,
                    DeliveredCopy {
                        account: account.name().to_owned(),
                        uid,
                        recipients: addresses,
                    },
                )),
                Err(e) => {
                    take_back(&done);
                    return Err(e);
                }
            }
        }
        // `self` is dropped after this: the backend removes the received message's
        // temporary name (Maildir: tmp/), which the copies no longer need.
        Ok(Delivered {
            copies: done.into_iter().map(|(_, copy)| copy).collect(),
        })
    }
}

/// All or none: expunges the copies a failed delivery already made.
fn take_back(done: &[(Mailbox, DeliveredCopy)]) {
    for (inbox, copy) in done {
        if let Err(undo) = inbox.expunge(&[copy.uid]) {
            tracing::warn!(
                account = %copy.account,
                uid = copy.uid,
                error = %undo,
                "cannot take back a partial delivery"
            );
        }
    }
}

/// A message on its way into one mailbox (IMAP APPEND), from [`Mailbox::incoming`]: kept
/// by the backend as it arrives, never whole in memory.
///
/// Write it a piece at a time with [`IncomingAppend::write`], then
/// [`IncomingAppend::finish`]. Dropped unfinished, it leaves nothing behind.
pub struct IncomingAppend {
    mailbox: Mailbox,
    flags: Flags,
    /// The date APPEND gave; `None`: the time of `finish`.
    internal_date: Option<DateTime<FixedOffset>>,
    receipt: Receipt,
    /// Made durable by [`IncomingAppend::seal`]: the message and its internal date.
    sealed: Option<(Body, DateTime<FixedOffset>)>,
}

impl std::fmt::Debug for IncomingAppend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncomingAppend")
            .field("mailbox", &self.mailbox.name())
            .field("flags", &self.flags)
            .field("internal_date", &self.internal_date)
            .field("len", &self.receipt.len)
            .finish()
    }
}

impl IncomingAppend {
    pub(crate) fn new(
        mailbox: Mailbox,
        flags: Flags,
        internal_date: Option<DateTime<FixedOffset>>,
        backend: Box<dyn Receiving>,
    ) -> IncomingAppend {
        IncomingAppend {
            mailbox,
            flags,
            internal_date,
            receipt: Receipt::new(Some(backend)),
            sealed: None,
        }
    }

    /// Appends the next bytes of the message (see [`Incoming::write`]: any piece size,
    /// bare LF stored as CRLF, every call fails after an error or [`IncomingAppend::seal`]).
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        if self.sealed.is_some() {
            return Err(broken());
        }
        self.receipt.write(bytes)
    }

    /// Appends the next bytes exactly as given, without making bare LF line ends CRLF:
    /// for a message kept as sent so that it can be read back ([`IncomingAppend::read_back`])
    /// and rewritten into a [`IncomingAppend::restart`]ed one (IMAP APPEND of binary
    /// content, where a bare LF inside binary data is data). A message whose verbatim
    /// bytes had a bare LF ([`IncomingAppend::has_bare_lf`]) is not in wire form: it can
    /// be read back, but [`IncomingAppend::finish`] and [`IncomingAppend::finish_all`]
    /// refuse to add it.
    pub fn write_verbatim(&mut self, bytes: &[u8]) -> Result<()> {
        if self.sealed.is_some() {
            return Err(broken());
        }
        self.receipt.write_verbatim(bytes)
    }

    /// Whether bytes given to [`IncomingAppend::write_verbatim`] had a bare LF line end.
    pub fn has_bare_lf(&self) -> bool {
        self.receipt.verbatim_bare_lf
    }

    /// Seals the message ([`IncomingAppend::seal`]) and reads back the bytes as they were
    /// written, from the backend's staging area (Maildir: the file in `tmp/`), in pieces
    /// of the caller's choosing: the message is never whole in memory here (the memory
    /// backend keeps it there anyway).
    pub fn read_back(&mut self) -> Result<Box<dyn std::io::Read + Send>> {
        self.seal()?;
        match &self.sealed {
            Some((crate::backend::Body::Bytes(b), _)) => {
                Ok(Box::new(std::io::Cursor::new(b.clone())))
            }
            Some((crate::backend::Body::File { path, .. }, _)) => std::fs::File::open(path)
                .map(|f| Box::new(f) as Box<dyn std::io::Read + Send>)
                .map_err(|e| StoreError::io("reading back a received message", e)),
            None => Err(StoreError::Corrupt("internal: an unsealed append".into())),
        }
    }

    /// A new, empty message for the same mailbox with the same flags and internal date,
    /// to receive a rewritten form of this one; this one is dropped when it is no longer
    /// read, leaving nothing behind.
    pub fn restart(&self) -> Result<IncomingAppend> {
        self.mailbox.incoming(&self.flags, self.internal_date)
    }

    /// Bytes received so far, in wire form: the message's size once added (see
    /// [`Incoming::len`]).
    pub fn len(&self) -> u64 {
        self.receipt.len
    }

    /// Whether nothing has been received yet.
    pub fn is_empty(&self) -> bool {
        self.receipt.len == 0
    }

    /// The memory this message takes while it arrives (see [`Incoming::buffered`]).
    pub fn buffered(&self) -> usize {
        self.receipt.buffered()
    }

    /// The error of adding a message that is not in wire form.
    fn check_wire_form(&self) -> Result<()> {
        if self.receipt.verbatim_bare_lf {
            return Err(StoreError::Corrupt(
                "internal: a message written verbatim with bare LF line ends".into(),
            ));
        }
        Ok(())
    }

    /// Ends the message now without adding it yet: it is made durable in the backend's
    /// staging area (Maildir: its `tmp/` file fsynced and closed, its buffer freed), so a
    /// message waiting for the others of its batch ([`IncomingAppend::finish_all`]) holds
    /// no file descriptor and no buffer. Writes after this fail; calling it again does
    /// nothing. Without a date, the internal date is the time of this call.
    pub fn seal(&mut self) -> Result<()> {
        if self.sealed.is_none() {
            let date = normalize_date(
                self.internal_date
                    .unwrap_or_else(|| Utc::now().fixed_offset()),
            );
            let body = self
                .receipt
                .finish(date)?
                .ok_or_else(|| StoreError::Corrupt("internal: an append with no backend".into()))?;
            self.sealed = Some((body, date));
        }
        Ok(())
    }

    /// Adds the message to the mailbox as [`Mailbox::append`] does, with the flags and
    /// internal date given to [`Mailbox::incoming`], and returns its UID (RFC 4315
    /// APPENDUID). Durable before it returns, so the `OK` to APPEND that follows never
    /// names a message a crash could take back.
    pub fn finish(mut self) -> Result<u32> {
        self.check_wire_form()?;
        self.seal()?;
        let Some((body, date)) = &self.sealed else {
            return Err(StoreError::Corrupt("internal: an unsealed append".into()));
        };
        self.mailbox
            .append_received(body, self.receipt.len, &self.flags, *date)
    }

    /// Adds several messages received with [`Mailbox::incoming`] to their mailbox in one
    /// operation, all or none (IMAP MULTIAPPEND, RFC 3502 §6.3.11: "If the append is
    /// unsuccessful for any reason (including being cancelled), the mailbox MUST be
    /// restored to its state before the APPEND attempt; no partial appending is
    /// permitted."), and returns their UIDs in order (RFC 4315 APPENDUID).
    ///
    /// Each message is made durable in the backend's staging area first (Maildir: its
    /// file in `tmp/` fsynced), then all are recorded by one group commit: a crash before
    /// that commit leaves none of them, and once this returns every one survives a crash.
    /// Every message must have been started on the same mailbox; with none, nothing
    /// happens.
    pub fn finish_all(messages: Vec<IncomingAppend>) -> Result<Vec<u32>> {
        let Some(first) = messages.first() else {
            return Ok(Vec::new());
        };
        let mailbox = first.mailbox.clone();
        if messages
            .iter()
            .any(|m| !std::sync::Arc::ptr_eq(&m.mailbox.shared, &mailbox.shared))
        {
            return Err(StoreError::Corrupt(
                "internal: one batch of appends for several mailboxes".into(),
            ));
        }
        let mut received = Vec::with_capacity(messages.len());
        // The messages stay alive until the commit is done: dropping one removes its
        // temporary file, which the commit links from.
        let mut keep = messages;
        for m in &mut keep {
            m.check_wire_form()?;
            m.seal()?;
            if let Some((body, date)) = &m.sealed {
                received.push((body.clone(), m.receipt.len, m.flags.clone(), *date));
            }
        }
        mailbox.append_received_all(&received)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Collects what the store hands the backend.
    #[derive(Default)]
    struct Collect(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Receiving for Collect {
        fn write(&mut self, wire: &[u8]) -> Result<()> {
            self.0.lock().unwrap().extend_from_slice(wire);
            Ok(())
        }
        fn buffered(&self) -> usize {
            0
        }
        fn finish(&mut self, _date: DateTime<FixedOffset>) -> Result<Body> {
            Ok(Body::Bytes(bytes::Bytes::new()))
        }
    }

    fn received(pieces: &[&[u8]]) -> (Vec<u8>, u64) {
        let out = Collect::default();
        let seen = out.0.clone();
        let mut r = Receipt::new(Some(Box::new(out)));
        for p in pieces {
            r.write(p).unwrap();
        }
        let got = seen.lock().unwrap().clone();
        (got, r.len)
    }

    #[test]
    fn a_crlf_split_between_pieces_stays_one_line_end() {
        for (pieces, wire) in [
            (&[&b"a\r"[..], b"\nb"][..], &b"a\r\nb"[..]),
            (&[b"a\r", b"", b"\nb"], b"a\r\nb"),
            (&[b"a", b"\nb\n"], b"a\r\nb\r\n"),
            (&[b"a\r", b"\n", b"\n"], b"a\r\n\r\n"),
            (&[b"\n", b"\r", b"x"], b"\r\n\rx"),
        ] {
            let (got, len) = received(pieces);
            assert_eq!(got, wire, "{pieces:?}");
            assert_eq!(len, wire.len() as u64);
        }
    }

    /// A message kept as sent, read back and written again, in memory and in Maildir.
    #[test]
    fn a_verbatim_message_reads_back_as_sent_and_is_added_only_in_wire_form() {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        for store in [
            crate::Store::memory(),
            crate::Store::maildir(dir.path()).unwrap(),
        ] {
            store.add_account("a", crate::Secret::from("x")).unwrap();
            let inbox = store.account("a").unwrap().mailbox(INBOX).unwrap();
            let mut flags = Flags::new();
            flags.insert(crate::Flag::Seen);
            let sent: &[u8] = b"Subject: x\r\n\r\nbare\nline\r";
            let mut m = inbox.incoming(&flags, None).unwrap();
            m.write_verbatim(&sent[..12]).unwrap();
            m.write_verbatim(&sent[12..]).unwrap();
            assert!(m.has_bare_lf());
            assert_eq!(m.len(), sent.len() as u64);
            let mut back = Vec::new();
            m.read_back().unwrap().read_to_end(&mut back).unwrap();
            assert_eq!(back, sent, "read back as written, bare LF and all");
            // Not in wire form: never added as it is.
            let fresh = m.restart().unwrap();
            assert!(m.finish().is_err());
            let mut fresh = fresh;
            fresh.write(&back).unwrap();
            assert_eq!(fresh.finish().unwrap(), 1);
            assert_eq!(
                &inbox.read(1).unwrap()[..],
                b"Subject: x\r\n\r\nbare\r\nline\r"
            );
            assert!(
                inbox.messages().unwrap()[0]
                    .flags
                    .contains(&crate::Flag::Seen)
            );
            // A CRLF cut between two verbatim pieces is not a bare LF.
            let mut m = inbox.incoming(&flags, None).unwrap();
            m.write_verbatim(b"a\r").unwrap();
            m.write_verbatim(b"\nb\r\n").unwrap();
            assert!(!m.has_bare_lf());
            assert_eq!(m.finish().unwrap(), 2);
        }
    }

    proptest! {
        /// However the message is cut, the store writes what `to_crlf` makes of it whole.
        #[test]
        fn any_split_gives_the_wire_form_of_the_whole(
            raw in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'x')], 0..64),
            cuts in proptest::collection::vec(0usize..64, 0..8),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(raw.len())).collect();
            cuts.sort_unstable();
            let mut pieces: Vec<&[u8]> = Vec::new();
            let mut start = 0;
            for c in cuts.into_iter().chain([raw.len()]) {
                pieces.push(&raw[start..c]);
                start = c;
            }
            let (got, len) = received(&pieces);
            let whole = crate::wire::to_crlf(&raw);
            prop_assert_eq!(&got[..], &whole[..]);
            prop_assert_eq!(len, whole.len() as u64);
        }
    }
}
