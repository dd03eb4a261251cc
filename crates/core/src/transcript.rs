//! The `--trace` transcript: every line a session receives (`C: `) and sends (`S: `).
//!
//! The protocol session decides which client lines carry credentials (it has parsed them)
//! and logs those with [`Transcript::client_masked`], so no password reaches the output.

use std::fmt;
use std::sync::Arc;

/// Who sent a transcript line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The client sent it.
    Client,
    /// The server sent it.
    Server,
}

impl Direction {
    fn prefix(self) -> &'static str {
        match self {
            Direction::Client => "C: ",
            Direction::Server => "S: ",
        }
    }
}

type Sink = Arc<dyn Fn(Direction, &str) + Send + Sync>;

/// Where transcript lines go. Cheap to clone; disabled costs one branch per line.
#[derive(Clone, Default)]
pub struct Transcript {
    sink: Option<Sink>,
}

impl fmt::Debug for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transcript")
            .field("enabled", &self.is_enabled())
            .finish()
    }
}

/// Longest piece of a single line shown; a 1 MiB message line is not worth printing whole.
const MAX_SHOWN: usize = 400;

impl Transcript {
    /// A transcript that prints nothing.
    pub fn disabled() -> Self {
        Transcript { sink: None }
    }

    /// A transcript printed to standard error as `C: ...` / `S: ...`.
    pub fn stderr() -> Self {
        Self::to_sink(|dir, line| eprintln!("{}{}", dir.prefix(), line))
    }

    /// A transcript delivered to a function (the demo narrates with it; tests collect it).
    pub fn to_sink(sink: impl Fn(Direction, &str) + Send + Sync + 'static) -> Self {
        Transcript {
            sink: Some(Arc::new(sink)),
        }
    }

    /// Whether lines are printed at all.
    pub fn is_enabled(&self) -> bool {
        self.sink.is_some()
    }

    /// Formats a line as it appears in the transcript, with its `C: `/`S: ` prefix.
    pub fn format(dir: Direction, line: &str) -> String {
        format!("{}{}", dir.prefix(), line)
    }

    /// Records a line the client sent (without its terminator).
    pub fn client(&self, line: &[u8]) {
        if let Some(sink) = &self.sink {
            sink(Direction::Client, &printable(line));
        }
    }

    /// Records a client line that carries a credential: the first `keep` bytes are shown
    /// (e.g. `PASS `), the rest replaced by `****`.
    pub fn client_masked(&self, line: &[u8], keep: usize) {
        if let Some(sink) = &self.sink {
            let shown = &line[..keep.min(line.len())];
            sink(Direction::Client, &format!("{}****", printable(shown)));
        }
    }

    /// Records what the server sent; multi-line output is split into lines.
    pub fn server(&self, bytes: &[u8]) {
        if let Some(sink) = &self.sink {
            let body = bytes.strip_suffix(b"\r\n").unwrap_or(bytes);
            for line in body.split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                sink(Direction::Server, &printable(line));
            }
        }
    }
}

/// Shows 8-bit text as UTF-8 where it is, escapes control bytes, and shortens long lines.
fn printable(line: &[u8]) -> String {
    let cut = line.len() > MAX_SHOWN;
    let line = &line[..line.len().min(MAX_SHOWN)];
    let mut out = String::with_capacity(line.len());
    for chunk in line.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() && c != '\t' {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    if cut {
        out.push_str(" …");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn collecting() -> (Transcript, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let t = Transcript::to_sink(move |dir, line| {
            sink.lock().unwrap().push(Transcript::format(dir, line))
        });
        (t, lines)
    }

    #[test]
    fn masks_credentials_and_splits_server_lines() {
        let (t, lines) = collecting();
        t.client(b"USER alice");
        t.client_masked(b"PASS hunter2", 5);
        t.server(b"+OK 2 messages\r\n1 120\r\n.\r\n");
        let lines = lines.lock().unwrap();
        assert_eq!(
            *lines,
            vec![
                "C: USER alice",
                "C: PASS ****",
                "S: +OK 2 messages",
                "S: 1 120",
                "S: ."
            ]
        );
        assert!(!lines.iter().any(|l| l.contains("hunter2")));
    }

    #[test]
    fn escapes_control_and_invalid_bytes() {
        let (t, lines) = collecting();
        t.client(b"A\x00B\xff \xe9\x83\xb5");
        assert_eq!(lines.lock().unwrap()[0], "C: A\\u{0}B\\xff 郵");
    }
}
