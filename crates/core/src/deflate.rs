//! A stream layer that deflates what it writes and inflates what it reads: raw DEFLATE
//! (RFC 1951, no zlib header or checksum), as IMAP COMPRESS=DEFLATE (RFC 4978) puts it
//! on a connection, inside TLS when there is TLS (RFC 4978 §3: compress first, then
//! encrypt).
//!
//! Memory stays bounded whatever the peer sends:
//! - compressed input is read into a buffer of fixed size ([`INPUT_BUFFER`]);
//! - it is inflated straight into the caller's buffer, at most [`INFLATE_CHUNK`] bytes a
//!   call, and never into a buffer of this layer's own. A "deflate bomb" (a few KiB that
//!   inflate to gigabytes) therefore reaches the caller at the pace it reads, and the
//!   caller's framing limits (line and literal lengths) apply to the inflated bytes, as
//!   they do to plaintext;
//! - the inflater's window is DEFLATE's fixed 32 KiB (RFC 1951 §2).
//!
//! The price is fixed too: about 250 KiB per compressed connection (measured as resident
//! memory per layer; mostly the compressor's dictionary and hash chains), which lasts as
//! long as the connection, since both DEFLATE streams may refer back to earlier replies
//! and commands. Only a logged-in IMAP client can turn it on.
//!
//! Each flush ends the output with a sync flush (an empty stored block, RFC 1951 §3.2.4),
//! so the peer can inflate everything written so far: RFC 4978 §4 asks for one at the end
//! of each response, and the driver flushes after each reply it sends.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Compressed input held at most (read from the transport, not yet inflated). Bytes the
/// peer sent before compression started and that were already read are kept whole
/// instead ([`Deflate::new`]), however many they are.
pub const INPUT_BUFFER: usize = 16 * 1024;

/// Compressed output held at most before it is written to the transport.
pub const OUTPUT_BUFFER: usize = 16 * 1024;

/// The most inflated bytes one read produces, whatever room the caller offers: a read
/// costs a bounded amount of work, and a caller with a large buffer (grown by one big
/// literal) is not asked to zero all of it each time.
pub const INFLATE_CHUNK: usize = 64 * 1024;

/// The peer's compressed data could not be inflated: not DEFLATE, or corrupt. Carried in
/// an [`io::Error`] of kind [`io::ErrorKind::InvalidData`]; [`is_corrupt`] recognises it.
#[derive(Debug, thiserror::Error)]
#[error("invalid compressed data: {0}")]
pub struct Corrupt(String);

/// Whether `e` is this layer's [`Corrupt`] (and not, say, a TLS failure).
pub fn is_corrupt(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Corrupt>())
}

/// `inner`, with both directions compressed (raw DEFLATE).
pub struct Deflate<S> {
    inner: S,
    reading: Inflating,
    writing: Deflating,
}

impl<S> fmt::Debug for Deflate<S>
where
    S: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deflate")
            .field("inner", &self.inner)
            .field("read_in", &self.reading.inflate.total_in())
            .field("read_out", &self.reading.inflate.total_out())
            .field("written_in", &self.writing.deflate.total_in())
            .field("written_out", &self.writing.deflate.total_out())
            .finish()
    }
}

/// The read side: compressed bytes in `input[start..end]`.
struct Inflating {
    inflate: Decompress,
    input: Box<[u8]>,
    start: usize,
    end: usize,
    /// The transport has nothing more to give.
    eof: bool,
    /// The peer ended its DEFLATE stream (a final block): what follows is not read.
    finished: bool,
}

/// The write side: compressed bytes not yet written in `output[start..end]`.
struct Deflating {
    deflate: Compress,
    output: Box<[u8]>,
    start: usize,
    end: usize,
    /// Input was taken since the last sync flush, so a flush has something to end.
    dirty: bool,
}

impl<S> Deflate<S> {
    /// Compresses both directions of `inner` from now on. `already_read`: compressed bytes
    /// the caller had read from `inner` before the layer was put on (RFC 4978 §3: the
    /// client compresses from the first command after COMPRESS, so a command it pipelined
    /// is already deflated); they are inflated first.
    pub fn new(inner: S, already_read: &[u8]) -> Self {
        let mut input = vec![0; INPUT_BUFFER.max(already_read.len())].into_boxed_slice();
        input[..already_read.len()].copy_from_slice(already_read);
        Deflate {
            inner,
            reading: Inflating {
                // `false`: raw DEFLATE, no zlib header (RFC 4978 §3 names RFC 1951).
                inflate: Decompress::new(false),
                input,
                start: 0,
                end: already_read.len(),
                eof: false,
                finished: false,
            },
            writing: Deflating {
                deflate: Compress::new(Compression::default(), false),
                output: vec![0; OUTPUT_BUFFER].into_boxed_slice(),
                start: 0,
                end: 0,
                dirty: false,
            },
        }
    }

    /// The transport underneath.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Bytes read from the transport and bytes they inflated to, so far.
    pub fn read_totals(&self) -> (u64, u64) {
        (
            self.reading.inflate.total_in(),
            self.reading.inflate.total_out(),
        )
    }

    /// Bytes given to be written and bytes they compressed to, so far.
    pub fn write_totals(&self) -> (u64, u64) {
        (
            self.writing.deflate.total_in(),
            self.writing.deflate.total_out(),
        )
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Deflate<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = &mut this.reading;
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if r.finished {
                return Poll::Ready(Ok(()));
            }
            // Inflate what is buffered; the inflater may also hold output of earlier
            // input that did not fit last time.
            let (in_before, out_before) = (r.inflate.total_in(), r.inflate.total_out());
            let room = buf.remaining().min(INFLATE_CHUNK);
            let out = buf.initialize_unfilled_to(room);
            let status = r
                .inflate
                .decompress(&r.input[r.start..r.end], out, FlushDecompress::None)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, Corrupt(e.to_string())))?;
            let consumed = usize::try_from(r.inflate.total_in() - in_before)
                .expect("bounded by the input buffer");
            let produced = usize::try_from(r.inflate.total_out() - out_before)
                .expect("bounded by INFLATE_CHUNK");
            r.start += consumed;
            buf.advance(produced);
            if status == Status::StreamEnd {
                r.finished = true;
            }
            if produced > 0 || r.finished {
                return Poll::Ready(Ok(()));
            }
            if consumed > 0 && r.start < r.end {
                continue;
            }
            // Everything buffered is inflated (or is the start of something longer):
            // read more.
            if r.eof {
                // A stream cut short ends like a closed connection.
                return Poll::Ready(Ok(()));
            }
            if r.start == r.end {
                r.start = 0;
                r.end = 0;
            } else if r.start > 0 {
                r.input.copy_within(r.start..r.end, 0);
                r.end -= r.start;
                r.start = 0;
            }
            if r.end == r.input.len() {
                // A full buffer that inflates to nothing is not DEFLATE.
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    Corrupt("no progress on a full input buffer".into()),
                )));
            }
            let mut raw = ReadBuf::new(&mut r.input[r.end..]);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut raw))?;
            let n = raw.filled().len();
            if n == 0 {
                r.eof = true;
            }
            r.end += n;
        }
    }
}

impl Deflating {
    /// Writes the pending compressed bytes to `inner`.
    fn drain<S: AsyncWrite + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while self.start < self.end {
            let n =
                ready!(Pin::new(&mut *inner).poll_write(cx, &self.output[self.start..self.end]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.start += n;
        }
        self.start = 0;
        self.end = 0;
        Poll::Ready(Ok(()))
    }

    /// Compresses from `data` into the (empty) output buffer; returns the input taken.
    fn compress(&mut self, data: &[u8], flush: FlushCompress) -> io::Result<usize> {
        let (in_before, out_before) = (self.deflate.total_in(), self.deflate.total_out());
        self.deflate
            .compress(data, &mut self.output, flush)
            .map_err(io::Error::other)?;
        self.end = usize::try_from(self.deflate.total_out() - out_before)
            .expect("bounded by the output buffer");
        Ok(usize::try_from(self.deflate.total_in() - in_before).expect("bounded by the input"))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Deflate<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let w = &mut this.writing;
        loop {
            ready!(w.drain(&mut this.inner, cx))?;
            let taken = w.compress(data, FlushCompress::None)?;
            if taken > 0 {
                w.dirty = true;
                return Poll::Ready(Ok(taken));
            }
            if w.end == 0 {
                return Poll::Ready(Err(io::Error::other("deflate made no progress")));
            }
            // The output buffer filled before any input was taken: send it, then go on.
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let w = &mut this.writing;
        loop {
            ready!(w.drain(&mut this.inner, cx))?;
            if !w.dirty {
                break;
            }
            // RFC 4978 §4: a sync flush at the end of each response, so the client can
            // inflate all of it now. A sync flush is done once it leaves room in the
            // output buffer (flate2's `compress` docs).
            w.compress(&[], FlushCompress::Sync)?;
            if w.end < w.output.len() {
                w.dirty = false;
            }
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// What `data` deflates to, sync-flushed, by flate2 directly (the peer's view).
    fn deflated(data: &[u8]) -> Vec<u8> {
        let mut c = Compress::new(Compression::fast(), false);
        let mut out = Vec::with_capacity(data.len() + 1024);
        c.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
        out
    }

    #[tokio::test]
    async fn round_trip_both_ways_with_bytes_read_before() {
        let (a, b) = tokio::io::duplex(1024);
        let early = deflated(b"a1 NOOP\r\n");
        let mut server = Deflate::new(a, &early);
        let mut client = Deflate::new(b, &[]);
        let mut line = [0u8; 9];
        server.read_exact(&mut line).await.unwrap();
        assert_eq!(&line, b"a1 NOOP\r\n");

        let big: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let writer = tokio::spawn(async move {
            server.write_all(&big).await.unwrap();
            server.flush().await.unwrap();
            (server, big)
        });
        let mut got = vec![0; 1_200_000];
        client.read_exact(&mut got).await.unwrap();
        let (_, big) = writer.await.unwrap();
        assert_eq!(got, big);
    }

    #[tokio::test]
    async fn garbage_is_an_invalid_data_error() {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut server = Deflate::new(a, &[]);
        b.write_all(&[0xff; 64]).await.unwrap();
        let err = server.read(&mut [0u8; 64]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(is_corrupt(&err), "{err}");
    }
}
