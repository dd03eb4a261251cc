//! The "base subject" of RFC 5256 §2.1: a subject with the artifacts that replying and
//! forwarding add ("Re:", "Fwd:", `[list]` tags, "(fwd)", "[fwd: ...]") removed, so
//! that a message and its replies share it.
//!
//! RFC 5256 §2.1 gives the procedure, which every server must follow exactly:
//!
//! 1. Convert RFC 2047 encoded-words to UTF-8; tabs and continuations become spaces;
//!    runs of spaces become one space.
//! 2. Remove trailing text matching `subj-trailer`, repeatedly.
//! 3. Remove prefix text matching `subj-leader`.
//! 4. If there is prefix text matching `subj-blob`, and removing it leaves a non-empty
//!    `subj-base`, remove it.
//! 5. Repeat (3) and (4) until no matches remain.
//! 6. If the text begins with `subj-fwd-hdr` and ends with `subj-fwd-trl`, remove both
//!    and repeat from (2).
//! 7. What is left is the base subject.
//!
//! ```text
//! subj-refwd   = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
//! subj-blob    = "[" *BLOBCHAR "]" *WSP
//! subj-fwd-hdr = "[fwd:"
//! subj-fwd-trl = "]"
//! subj-leader  = (*subj-blob subj-refwd) / WSP
//! subj-trailer = "(fwd)" / WSP
//! BLOBCHAR     = %x01-5a / %x5c / %x5e-7f   ; any CHAR except '[' and ']'
//! ```
//!
//! Step 1's decoding is the caller's ([`crate::sort::facts`] decodes the header field);
//! [`base_subject`] does the white space of step 1 and steps 2 to 7. ABNF strings are
//! case-insensitive. The text is UTF-8 after decoding, so a BLOBCHAR is read as any
//! character but the brackets (a blob holding a non-ASCII tag, `[日本]`, is a blob).
//!
//! Every step only removes text, and each pass of the loop either removes some or
//! stops, so the work is linear in the subject's length (with a long run of blobs not
//! followed by a reply marker removed in one step, not rescanned once per blob).

/// A base subject, and whether the original was a reply or forward.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BaseSubject {
    /// The base subject text (case kept; compare it through [`crate::sort::collate`]).
    pub text: String,
    /// Whether removing it took away a `subj-refwd`, a `(fwd)` trailer or a `[fwd: ]`
    /// wrapper: THREAD=REFERENCES step 5 prefers an original over a reply
    /// (RFC 5256 §3, REFERENCES (5)(B)).
    pub reply_or_forward: bool,
}

/// The base subject of `decoded`, a subject field already decoded to UTF-8
/// (RFC 5256 §2.1).
pub fn base_subject(decoded: &str) -> BaseSubject {
    // (1) Tabs and continuations to spaces, runs of spaces to one.
    let mut s = String::with_capacity(decoded.len());
    for c in decoded.chars() {
        let c = if matches!(c, '\t' | '\r' | '\n') {
            ' '
        } else {
            c
        };
        if c == ' ' && s.ends_with(' ') {
            continue;
        }
        s.push(c);
    }
    let b = s.as_bytes();
    let (mut start, mut end) = (0, b.len());
    let mut reply_or_forward = false;
    loop {
        // (2) subj-trailer = "(fwd)" / WSP, from the end, repeatedly.
        loop {
            let text = &b[start..end];
            if text.ends_with(b" ") {
                end -= 1;
            } else if text.len() >= 5 && text[text.len() - 5..].eq_ignore_ascii_case(b"(fwd)") {
                end -= 5;
                reply_or_forward = true;
            } else {
                break;
            }
        }
        // (3), (4) and (5).
        loop {
            let text = &b[start..end];
            if text.first() == Some(&b' ') {
                // subj-leader's WSP alternative.
                start += 1;
                continue;
            }
            match leader(text) {
                Leader::Refwd(n) => {
                    start += n;
                    reply_or_forward = true;
                }
                Leader::Blobs {
                    end: blobs_end,
                    last,
                } => {
                    // (4): a leading blob goes if something non-empty is left after it.
                    // The text after the run of blobs starts no subj-refwd (that is why
                    // (3) failed), so (3) fails again after each removal: the run goes
                    // at once, its last blob only if text follows it (a subject that is
                    // only a blob keeps it as its base, `subj-middle`'s comment).
                    if blobs_end < text.len() {
                        start += blobs_end;
                    } else if last > 0 {
                        start += last;
                    } else {
                        break;
                    }
                }
                Leader::None => break,
            }
        }
        // (6) "[fwd:" ... "]" around the rest: unwrap it and start again at (2).
        let text = &b[start..end];
        if text.len() >= 6 && text[..5].eq_ignore_ascii_case(b"[fwd:") && text.ends_with(b"]") {
            start += 5;
            end -= 1;
            reply_or_forward = true;
            continue;
        }
        break;
    }
    BaseSubject {
        // Only ASCII was removed at either end, so both ends are character boundaries.
        text: s[start..end].to_owned(),
        reply_or_forward,
    }
}

/// What `*subj-blob subj-refwd` finds at the start of a text.
enum Leader {
    /// A whole `subj-leader` of this many bytes.
    Refwd(usize),
    /// One or more blobs not followed by a `subj-refwd`: where the run ends, and where
    /// its last blob starts.
    Blobs { end: usize, last: usize },
    /// Neither.
    None,
}

fn leader(text: &[u8]) -> Leader {
    let mut at = 0;
    let mut last = 0;
    let mut blobs = 0;
    while let Some(n) = blob(&text[at..]) {
        last = at;
        at += n;
        blobs += 1;
    }
    if let Some(n) = refwd(&text[at..]) {
        return Leader::Refwd(at + n);
    }
    if blobs == 0 {
        Leader::None
    } else {
        Leader::Blobs { end: at, last }
    }
}

/// `subj-blob = "[" *BLOBCHAR "]" *WSP`: its length, if `text` starts with one.
fn blob(text: &[u8]) -> Option<usize> {
    if text.first() != Some(&b'[') {
        return None;
    }
    let close = 1 + text[1..].iter().position(|&c| c == b'[' || c == b']')?;
    if text[close] != b']' {
        return None;
    }
    let spaces = text[close + 1..].iter().take_while(|&&c| c == b' ').count();
    Some(close + 1 + spaces)
}

/// `subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"`: its length, if `text`
/// starts with one.
fn refwd(text: &[u8]) -> Option<usize> {
    let lower = |i: usize| text.get(i).map(u8::to_ascii_lowercase);
    let mut at = match (lower(0), lower(1), lower(2)) {
        (Some(b'r'), Some(b'e'), _) => 2,
        (Some(b'f'), Some(b'w'), Some(b'd')) => 3,
        (Some(b'f'), Some(b'w'), _) => 2,
        _ => return None,
    };
    at += text[at..].iter().take_while(|&&c| c == b' ').count();
    if let Some(n) = blob(&text[at..]) {
        at += n;
    }
    (text.get(at) == Some(&b':')).then_some(at + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(s: &str) -> String {
        base_subject(s).text
    }

    #[test]
    fn replies_and_forwards_reduce_to_the_original() {
        let table = [
            ("Hello", "Hello", false),
            ("Re: Hello", "Hello", true),
            ("RE: Hello", "Hello", true),
            ("re:Hello", "Hello", true),
            ("Fw: Hello", "Hello", true),
            ("FWD: Hello", "Hello", true),
            ("Re: Re: Fwd: Re: Hello", "Hello", true),
            ("Re [2]: Hello", "Hello", true),
            ("Re[3]: Hello", "Hello", true),
            ("[list] Re: Hello", "Hello", true),
            ("Re: [list] Hello", "Hello", true),
            ("[list] [other] Hello", "Hello", false),
            ("Hello (fwd)", "Hello", true),
            ("Hello (FWD)  (fwd) ", "Hello", true),
            ("[fwd: Hello]", "Hello", true),
            ("[Fwd: Re: Hello (fwd)]", "Hello", true),
            ("Re: [fwd: [list] Re: Hello]", "Hello", true),
            ("  Hello\t\r\n world  ", "Hello world", false),
        ];
        for (input, want, reply) in table {
            let got = base_subject(input);
            assert_eq!(got.text, want, "{input:?}");
            assert_eq!(got.reply_or_forward, reply, "{input:?}");
        }
    }

    #[test]
    fn text_that_only_looks_like_a_marker_stays() {
        // "Really:" is not "re" *WSP ":"; "Refwd" is not a leader; an unclosed blob is
        // text; a subject that is only a blob keeps it (subj-middle's comment).
        let table = [
            ("Really: yes", "Really: yes"),
            ("Reply", "Reply"),
            ("[unclosed Hello", "[unclosed Hello"),
            ("[only a blob]", "[only a blob]"),
            ("[a] [only a blob]", "[only a blob]"),
            ("Re: [only a blob]", "[only a blob]"),
            ("[fwd:]", ""),
            ("Re:", ""),
            ("", ""),
            ("(fwd)", ""),
            ("a (fwd) b", "a (fwd) b"),
            ("[日本] 会議", "会議"),
        ];
        for (input, want) in table {
            assert_eq!(base(input), want, "{input:?}");
        }
    }

    #[test]
    fn hostile_nesting_is_reduced_in_linear_time() {
        let nested = "Re: [x] Re: (fwd) [fwd: ".repeat(20_000) + "core" + &"]".repeat(20_000);
        // "Re: " and "[x] Re: " are leaders; then "(fwd) [fwd: ..." starts with no
        // leader, no blob and no "[fwd:", and ends with no trailer: it is the base.
        assert_eq!(base(&nested), nested[12..]);
        let blobs = "[x] ".repeat(100_000) + "tail";
        assert_eq!(base(&blobs), "tail");
        let replies = "Re: ".repeat(100_000) + "tail";
        assert_eq!(base(&replies), "tail");
        let trailers = "tail".to_owned() + &" (fwd)".repeat(100_000);
        assert_eq!(base(&trailers), "tail");
        let wrapped = "[fwd: ".repeat(50_000) + "tail" + &"]".repeat(50_000);
        assert_eq!(base(&wrapped), "tail");
    }
}
