//! The `--trace` transcript: every line a session receives (`C: `) and sends (`S: `).
//!
//! Which client lines carry credentials is decided *before* parsing, by the command's
//! name ([`Redaction`]): a malformed `LOGIN` or `PASS` line, one with an extra argument or
//! a stray space, is masked as surely as a well-formed one. While a SASL exchange waits for
//! the client's response, the whole line is masked ([`Shown::Secret`]).

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

/// A sink receives the session's label (if any), the direction and the line.
type Sink = Arc<dyn Fn(Option<&str>, Direction, &str) + Send + Sync>;

/// Where transcript lines go. Cheap to clone; disabled costs one branch per line.
#[derive(Clone, Default)]
pub struct Transcript {
    sink: Option<Sink>,
    /// Which session the lines belong to (`imap#3`), when several share one output.
    label: Option<Arc<str>>,
}

impl fmt::Debug for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transcript")
            .field("enabled", &self.is_enabled())
            .finish()
    }
}

/// Which commands of a protocol carry credentials, and how much of them may be shown.
#[derive(Debug, Clone, Copy)]
pub struct Redaction {
    /// How many words may precede the command's name: 0 for POP3 and SMTP, 1 for IMAP
    /// (the tag). Every word up to there is checked, so an untagged `LOGIN` is caught too.
    pub name_within: usize,
    /// The commands that carry credentials.
    pub secret: &'static [Masked],
}

/// A command that carries credentials, and how much of it may be shown.
#[derive(Debug, Clone, Copy)]
pub struct Masked {
    /// The command's name (ASCII; any case in the input).
    pub name: &'static str,
    /// Words after the name that stay visible (the user name, the SASL mechanism); the
    /// rest becomes `****`.
    pub keep: usize,
    /// Whether those words are never secret (a SASL mechanism), so they are shown even
    /// when nothing follows them. A user name is shown only when a word follows it: in
    /// `APOP  <digest>` (no user) or `LOGIN <password>` the last word is the secret.
    pub keep_last: bool,
}

impl Masked {
    /// `name`, showing `keep` words only when more follow.
    pub const fn user(name: &'static str, keep: usize) -> Masked {
        Masked {
            name,
            keep,
            keep_last: false,
        }
    }

    /// `name`, whose next word (a SASL mechanism) is always shown.
    pub const fn mechanism(name: &'static str) -> Masked {
        Masked {
            name,
            keep: 1,
            keep_last: true,
        }
    }
}

/// How the driver shows the next client input.
#[derive(Debug, Clone, Copy)]
pub enum Shown {
    /// A command: masked after a credential-carrying name.
    Command(&'static Redaction),
    /// A SASL response or other secret line: masked whole.
    Secret,
    /// A line of a message body (SMTP DATA): the first few are shown, the rest counted
    /// ([`BodyLines`]).
    Body,
}

/// Lines of a message body shown before the rest is only counted.
pub const BODY_LINES_SHOWN: usize = 6;

/// Counts the body lines a client sends (SMTP DATA): the first [`BODY_LINES_SHOWN`] are
/// transcribed, the rest summed up in one line when the body ends, as a long server
/// response is.
#[derive(Debug, Default)]
pub struct BodyLines {
    seen: usize,
}

impl BodyLines {
    /// A body line arrived. A lone `.` ends a dot-terminated body (RFC 5321 §4.5.2) and
    /// is shown after the count.
    pub fn line(&mut self, transcript: &Transcript, line: &[u8]) {
        if line == b"." {
            self.end(transcript);
            transcript.client(line);
            return;
        }
        self.seen += 1;
        if self.seen <= BODY_LINES_SHOWN {
            transcript.client(line);
        }
    }

    /// A line that is not body arrived: the body, if any, is summed up first.
    pub fn end(&mut self, transcript: &Transcript) {
        if self.seen > BODY_LINES_SHOWN {
            let more = self.seen - BODY_LINES_SHOWN;
            transcript.client(format!("… ({more} more line{})", plural(more)).as_bytes());
        }
        self.seen = 0;
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Lines of one server response shown in full; a longer one (a RETR, a FETCH of a whole
/// message) shows its first and last lines and counts the rest.
const RESPONSE_LINES_SHOWN: usize = 16;
/// Of those, the last lines kept.
const RESPONSE_TAIL: usize = 3;

/// Longest piece of a single line shown; a 1 MiB message line is not worth printing whole.
const MAX_SHOWN: usize = 400;

impl Transcript {
    /// A transcript that prints nothing.
    pub fn disabled() -> Self {
        Transcript {
            sink: None,
            label: None,
        }
    }

    /// A transcript printed to standard error as `C: ...` / `S: ...`, each line after its
    /// session's label when it has one (`imap#3 C: ...`), and after the time of day with
    /// `timed` (`12:00:01.234 imap#3 C: ...`).
    pub fn stderr(timed: bool) -> Self {
        Transcript {
            sink: Some(Arc::new(move |label, dir, line| {
                let time = if timed {
                    let now = chrono_like_now();
                    format!("{now} ")
                } else {
                    String::new()
                };
                match label {
                    Some(label) => eprintln!("{time}{label} {}{line}", dir.prefix()),
                    None => eprintln!("{time}{}{line}", dir.prefix()),
                }
            })),
            label: None,
        }
    }

    /// A transcript delivered to a function (the demo narrates with it; tests collect it).
    /// Session labels are not passed on.
    pub fn to_sink(sink: impl Fn(Direction, &str) + Send + Sync + 'static) -> Self {
        Transcript {
            sink: Some(Arc::new(move |_, dir, line| sink(dir, line))),
            label: None,
        }
    }

    /// A transcript delivered to a function that also gets each line's session label
    /// (`imap#3`; `None` for lines outside a session), for callers that tell sessions
    /// apart (the test harness's transcript).
    pub fn to_labelled_sink(
        sink: impl Fn(Option<&str>, Direction, &str) + Send + Sync + 'static,
    ) -> Self {
        Transcript {
            sink: Some(Arc::new(sink)),
            label: None,
        }
    }

    /// One transcript that sends every line to both `self` and `other` (`--trace` and
    /// the live session log, say). A disabled side costs nothing.
    pub fn tee(&self, other: &Transcript) -> Transcript {
        match (&self.sink, &other.sink) {
            (None, _) => other.clone(),
            (_, None) => self.clone(),
            (Some(a), Some(b)) => {
                let (a, b) = (a.clone(), b.clone());
                Transcript {
                    sink: Some(Arc::new(move |label, dir, line| {
                        a(label, dir, line);
                        b(label, dir, line);
                    })),
                    label: self.label.clone(),
                }
            }
        }
    }

    /// The same transcript, its lines labelled as one session's (`imap#3`).
    pub fn labelled(&self, label: impl Into<Arc<str>>) -> Transcript {
        Transcript {
            sink: self.sink.clone(),
            label: self.sink.as_ref().map(|_| label.into()),
        }
    }

    fn emit(&self, dir: Direction, line: &str) {
        if let Some(sink) = &self.sink {
            sink(self.label.as_deref(), dir, line);
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
        if self.sink.is_some() {
            self.emit(Direction::Client, &printable(line));
        }
    }

    /// Records a client line that carries a credential: the first `keep` bytes are shown
    /// (e.g. `PASS `), the rest replaced by `****`.
    pub fn client_masked(&self, line: &[u8], keep: usize) {
        if self.sink.is_some() {
            let shown = &line[..keep.min(line.len())];
            self.emit(Direction::Client, &format!("{}****", printable(shown)));
        }
    }

    /// Records client input as `how` says: commands that carry credentials are masked by
    /// name, whether or not they would parse.
    pub fn client_input(&self, line: &[u8], how: Shown) {
        if self.sink.is_none() {
            return;
        }
        let line = line.strip_suffix(b"\r\n").unwrap_or(line);
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        match how {
            // Counted by the driver's `BodyLines`, which calls `client` for those shown.
            Shown::Body => self.client(line),
            Shown::Secret => self.client_masked(line, 0),
            Shown::Command(rules) => match visible_prefix(line, rules) {
                Some(keep) => self.client_masked(line, keep),
                None => self.client(line),
            },
        }
    }

    /// Records what the server sent; multi-line output is split into lines.
    ///
    /// A long response (a whole message in RETR or FETCH) shows its first and last lines
    /// and counts the ones between.
    pub fn server(&self, bytes: &[u8]) {
        if self.sink.is_none() {
            return;
        }
        let body = bytes.strip_suffix(b"\r\n").unwrap_or(bytes);
        let lines: Vec<&[u8]> = body
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .collect();
        if lines.len() <= RESPONSE_LINES_SHOWN {
            for line in lines {
                self.emit(Direction::Server, &printable(line));
            }
            return;
        }
        let head = RESPONSE_LINES_SHOWN - RESPONSE_TAIL;
        for line in &lines[..head] {
            self.emit(Direction::Server, &printable(line));
        }
        let more = lines.len() - RESPONSE_LINES_SHOWN;
        self.emit(
            Direction::Server,
            &format!("… ({more} more line{})", plural(more)),
        );
        for line in &lines[lines.len() - RESPONSE_TAIL..] {
            self.emit(Direction::Server, &printable(line));
        }
    }
}

/// The label of a listener's `id`th session: `imap#3`.
pub fn session_label(protocol: &str, id: u64) -> String {
    format!("{protocol}#{id}")
}

/// If `line` is a credential-carrying command under `rules`, how many bytes of it may be
/// shown (the name, a space, the allowed words and a space).
fn visible_prefix(line: &[u8], rules: &Redaction) -> Option<usize> {
    // Words separated by runs of anything but printable ASCII: a space, a tab, a form
    // feed, a no-break space (which would print as a space) all separate, so no such
    // byte can slip a password past the name check. A CR or LF (an IMAP literal) ends
    // what can be shown, since what follows may be the password itself.
    let end = line
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(line.len());
    let head = &line[..end];
    let mut words = Vec::new();
    let mut i = 0;
    while i < head.len() && words.len() < rules.name_within + 8 {
        while i < head.len() && !head[i].is_ascii_graphic() {
            i += 1;
        }
        let start = i;
        while i < head.len() && head[i].is_ascii_graphic() {
            i += 1;
        }
        if start < i {
            words.push((start, i));
        }
    }
    for (n, &(start, stop)) in words.iter().enumerate().take(rules.name_within + 1) {
        let word = &head[start..stop];
        let Some(rule) = rules
            .secret
            .iter()
            .find(|m| word.eq_ignore_ascii_case(m.name.as_bytes()))
        else {
            continue;
        };
        // Shown: through the name and `keep` more words, unless a kept word opens a
        // literal (its content is not on this line), or is the last one and may be the
        // secret itself.
        let after = words.len() - (n + 1);
        let keep = if rule.keep_last {
            rule.keep
        } else {
            rule.keep.min(after.saturating_sub(1))
        };
        let mut shown = stop;
        for &(s, e) in words.iter().skip(n + 1).take(keep) {
            if head[s] == b'{' {
                break;
            }
            shown = e;
        }
        // Nothing hidden after what may be shown: the line is shown whole.
        return (shown + 1 < line.len()).then_some(shown + 1);
    }
    None
}

/// The time of day (UTC) to the millisecond, for `--trace-time`.
fn chrono_like_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        now.subsec_millis()
    )
}

/// Shows 8-bit text as UTF-8 where it is, escapes control bytes, and shortens long lines.
fn printable(line: &[u8]) -> String {
    let cut = line.len() > MAX_SHOWN;
    let line = &line[..line.len().min(MAX_SHOWN)];
    let mut out = String::with_capacity(line.len());
    for chunk in line.utf8_chunks() {
        for c in chunk.valid().chars() {
            // Control characters, and white space other than a plain space or tab (a
            // no-break space would pass for a space), are shown escaped.
            if (c.is_control() || c.is_whitespace()) && c != '\t' && c != ' ' {
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
    fn a_tee_sends_each_labelled_line_to_both_sides() {
        let (a, a_lines) = collecting();
        let labels = Arc::new(Mutex::new(Vec::new()));
        let seen = labels.clone();
        let b = Transcript::to_labelled_sink(move |label, dir, line| {
            seen.lock().unwrap().push(format!(
                "{} {}",
                label.unwrap_or("-"),
                Transcript::format(dir, line)
            ))
        });
        let both = a.tee(&b).labelled("pop3#2");
        both.client(b"USER alice");
        both.client_masked(b"PASS hunter2", 5);
        assert_eq!(*a_lines.lock().unwrap(), ["C: USER alice", "C: PASS ****"]);
        assert_eq!(
            *labels.lock().unwrap(),
            ["pop3#2 C: USER alice", "pop3#2 C: PASS ****"]
        );
        // A disabled side costs nothing: the tee is the other side itself.
        assert!(
            !Transcript::disabled()
                .tee(&Transcript::disabled())
                .is_enabled()
        );
        assert!(Transcript::disabled().tee(&b).is_enabled());
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

    const IMAP: Redaction = Redaction {
        name_within: 1,
        secret: &[Masked::user("LOGIN", 1), Masked::mechanism("AUTHENTICATE")],
    };
    const SMTP: Redaction = Redaction {
        name_within: 0,
        secret: &[Masked::mechanism("AUTH")],
    };

    #[test]
    fn masks_credential_commands_by_name_whatever_their_shape() {
        let (t, lines) = collecting();
        t.client_input(b"a LOGIN alice hunter2\r\n", Shown::Command(&IMAP));
        t.client_input(b"a login alice hunter2 extra", Shown::Command(&IMAP));
        t.client_input(b"LOGIN alice hunter2", Shown::Command(&IMAP));
        t.client_input(
            b"a LOGIN {5}\r\nalice {7}\r\nhunter2\r\n",
            Shown::Command(&IMAP),
        );
        t.client_input(b"a LOGIN alice \"hun\x00ter2\"", Shown::Command(&IMAP));
        t.client_input(b"  AUTH PLAIN AGFsaWNlAGh1bnRlcjI=", Shown::Command(&SMTP));
        t.client_input(b"AGFsaWNlAGh1bnRlcjI=", Shown::Secret);
        t.client_input(b"a LOGIN hunter2", Shown::Command(&IMAP));
        t.client_input(
            "a LOGIN alice\u{a0}hunter2".as_bytes(),
            Shown::Command(&IMAP),
        );
        t.client_input(b"b LOGIN\x0calice hunter2", Shown::Command(&IMAP));
        t.client_input(
            "AUTH\u{a0}PLAIN AGFsaWNlAGh1bnRlcjI=".as_bytes(),
            Shown::Command(&SMTP),
        );
        t.client_input(b"a SELECT INBOX", Shown::Command(&IMAP));
        let lines = lines.lock().unwrap();
        assert_eq!(
            *lines,
            [
                "C: a LOGIN alice ****",
                "C: a login alice ****",
                "C: LOGIN alice ****",
                "C: a LOGIN ****",
                "C: a LOGIN alice ****",
                "C:   AUTH PLAIN ****",
                "C: ****",
                "C: a LOGIN ****",
                "C: a LOGIN alice\\xc2****",
                "C: b LOGIN\\u{c}alice ****",
                "C: AUTH\\u{a0}PLAIN ****",
                "C: a SELECT INBOX",
            ]
        );
        assert!(
            !lines
                .iter()
                .any(|l| l.contains("hunter2") || l.contains("AGFsaWNl"))
        );
    }

    #[test]
    fn escapes_control_and_invalid_bytes() {
        let (t, lines) = collecting();
        t.client(b"A\x00B\xff \xe9\x83\xb5");
        assert_eq!(lines.lock().unwrap()[0], "C: A\\u{0}B\\xff 郵");
    }
}
