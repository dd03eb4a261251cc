//! A message received into a Maildir as it arrives (SMTP DATA, an IMAP APPEND literal).
//!
//! The Maildir convention (<https://cr.yp.to/proto/maildir.html>): a message being written
//! lives in `tmp/` under a unique name, and only a whole, fsynced file is ever moved into
//! `new/` or `cur/`. Here the bytes go to `tmp/<unique name>` through a fixed 64 KiB
//! buffer as they arrive, so a 25 MB message costs 64 KiB of memory however it is sent;
//! [`Receiving::finish`] fsyncs the file, and the store then links it into each mailbox
//! it goes to ([`MailboxBackend::stage_copy`](crate::backend::MailboxBackend::stage_copy)),
//! which records it in that mailbox's index as an append does. Dropping the
//! [`MaildirReceiving`] removes the name in `tmp/`: before the links, that is the whole
//! message (an abandoned one leaves nothing); after them, only a second name.
//!
//! A crash while receiving leaves a file in `tmp/`, which no reader looks at and which
//! the 36-hour cleanup removes; never anything in `new/`, `cur/` or the index.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, FixedOffset};

use super::filename;
use crate::Result;
use crate::backend::{Body, Receiving, warn};
use crate::error::IoContext;

/// The buffer between the writes of a message being received and its file: large enough
/// that a message sent a line at a time costs one `write` per 64 KiB, small enough that
/// thousands of messages arriving at once cost little. It never grows.
pub(crate) const RECEIVE_BUFFER: usize = 64 << 10;

/// A message being written to a file in a Maildir's `tmp/`.
pub(crate) struct MaildirReceiving {
    /// The file in `tmp/`; removed when this is dropped.
    path: PathBuf,
    /// The open file behind its fixed buffer; closed (and the buffer freed) once the
    /// message is finished, so finished messages waiting for their commit (an IMAP
    /// MULTIAPPEND) hold no descriptor and no buffer.
    file: Option<BufWriter<File>>,
    /// Bytes written so far (wire form: the file is the message as it is sent).
    len: u64,
}

impl MaildirReceiving {
    /// Creates a new, empty message file under a unique name in `tmp_dir` (0600).
    pub(crate) fn create(tmp_dir: &Path) -> Result<MaildirReceiving> {
        let path = tmp_dir.join(filename::unique_name());
        let file = crate::private::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .ctx(|| format!("creating {}", path.display()))?;
        Ok(MaildirReceiving {
            path,
            file: Some(BufWriter::with_capacity(RECEIVE_BUFFER, file)),
            len: 0,
        })
    }
}

impl Receiving for MaildirReceiving {
    fn write(&mut self, wire: &[u8]) -> Result<()> {
        // A piece larger than the buffer goes straight to the file: the buffer never grows.
        let Some(file) = &mut self.file else {
            return Err(finished(&self.path));
        };
        file.write_all(wire)
            .ctx(|| format!("writing {}", self.path.display()))?;
        self.len += wire.len() as u64;
        Ok(())
    }

    fn buffered(&self) -> usize {
        self.file.as_ref().map_or(0, BufWriter::capacity)
    }

    fn finish(&mut self, date: DateTime<FixedOffset>) -> Result<Body> {
        let Some(mut file) = self.file.take() else {
            return Err(finished(&self.path));
        };
        file.flush()
            .ctx(|| format!("writing {}", self.path.display()))?;
        let file = file.get_ref();
        // The mtime is the internal date (other programs and a rebuilt index read it
        // there); set before the fsync, so it is as durable as the bytes.
        file.set_modified(SystemTime::from(date))
            .ctx(|| format!("setting the date of {}", self.path.display()))?;
        file.sync_all()
            .ctx(|| format!("syncing {}", self.path.display()))?;
        Ok(Body::File {
            path: self.path.clone(),
            wire_size: self.len,
        })
    }
}

/// The error of a write or finish after the message was finished.
fn finished(path: &Path) -> crate::StoreError {
    crate::StoreError::io(
        format!("writing {}", path.display()),
        std::io::Error::other("the message is already finished"),
    )
}

impl Drop for MaildirReceiving {
    fn drop(&mut self) {
        // Before the links: the abandoned message. After them: a second name of theirs,
        // whose removal needs no fsync (a crash that undoes it leaves a tmp/ file for the
        // cleanup, not a message).
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => warn(format_args!("cannot remove {}: {e}", self.path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_never_grows_and_a_drop_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = MaildirReceiving::create(dir.path()).unwrap();
        let big = vec![b'x'; 3 * RECEIVE_BUFFER + 7];
        for piece in [&b"Subject: x\r\n\r\n"[..], &big, b"end\r\n"] {
            r.write(piece).unwrap();
            assert!(r.buffered() <= RECEIVE_BUFFER, "{}", r.buffered());
        }
        let date = DateTime::parse_from_rfc3339("2001-02-03T04:05:06Z").unwrap();
        let Body::File { path, wire_size } = r.finish(date).unwrap() else {
            panic!("a Maildir message is a file");
        };
        assert_eq!(wire_size, 14 + big.len() as u64 + 5);
        // Finished: the file is closed and the buffer freed.
        assert_eq!(r.buffered(), 0);
        assert!(r.write(b"more").is_err());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), wire_size);
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            SystemTime::from(date)
        );
        drop(r);
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
