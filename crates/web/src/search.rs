//! Mailpit's search language, the part of it yubin offers: `from:`, `to:`, `cc:`,
//! `subject:`, `message-id:`, `tag:`, `is:read`, `is:unread`, `is:tagged`,
//! `has:attachment`, yubin's `account:` and `mailbox:`, free text and `"quoted
//! phrases"`; `-` or `!` before a term negates it. All terms must match.

use crate::decode::Parsed;
use crate::error::{ApiError, ApiResult};
use crate::scope::{Entry, Opened};
use crate::shape::Content;
use crate::state::WebState;
use yubin_store::Flag;

/// The default of [`crate::WebConfig::max_search_terms`]: each term costs a test of
/// every candidate message.
pub const MAX_TERMS: usize = 32;
/// The default of [`crate::WebConfig::max_query`], in bytes.
pub const MAX_QUERY: usize = 4096;

/// How large a query may be.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes.
    pub bytes: usize,
    /// Terms.
    pub terms: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            bytes: MAX_QUERY,
            terms: MAX_TERMS,
        }
    }
}

/// What one term asks.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Test {
    From(String),
    To(String),
    Cc(String),
    ReplyTo(String),
    Subject(String),
    MessageId(String),
    Tag(String),
    Account(String),
    Mailbox(String),
    Read,
    Unread,
    Tagged,
    Attachment,
    /// Arrived before this time (seconds since the epoch).
    Before(i64),
    /// Arrived on or after this time.
    After(i64),
    /// Larger than this many bytes.
    Larger(u64),
    /// Smaller than this many bytes.
    Smaller(u64),
    Text(String),
}

/// A field prefix and the test it makes of its value.
type Field = (&'static str, fn(String) -> Test);

impl Test {
    /// One word of a query, its negation removed.
    fn parse(word: &str) -> ApiResult<Test> {
        // Prefixes are ASCII: compared without regard to case on the word itself, so the
        // value is cut at the right byte whatever lower-casing does to other letters.
        let prefix = |p: &str| {
            word.get(..p.len())
                .filter(|w| w.eq_ignore_ascii_case(p))
                .map(|_| unquote(&word[p.len()..]).to_lowercase())
        };
        let fields: [Field; 9] = [
            ("from:", Test::From),
            ("to:", Test::To),
            ("cc:", Test::Cc),
            ("reply-to:", Test::ReplyTo),
            ("subject:", Test::Subject),
            ("message-id:", |v| {
                Test::MessageId(v.trim_matches(['<', '>']).to_owned())
            }),
            ("tag:", Test::Tag),
            ("account:", Test::Account),
            ("mailbox:", Test::Mailbox),
        ];
        for (p, make) in fields {
            if let Some(v) = prefix(p) {
                return Ok(make(v));
            }
        }
        if let Some(v) = prefix("before:") {
            return Ok(Test::Before(day(&v)?));
        }
        if let Some(v) = prefix("after:") {
            return Ok(Test::After(day(&v)?));
        }
        if let Some(v) = prefix("larger:") {
            return Ok(Test::Larger(size(&v)?));
        }
        if let Some(v) = prefix("smaller:") {
            return Ok(Test::Smaller(size(&v)?));
        }
        Ok(match word.to_ascii_lowercase().as_str() {
            "is:read" => Test::Read,
            "is:unread" => Test::Unread,
            "is:tagged" => Test::Tagged,
            "has:attachment" | "has:attachments" => Test::Attachment,
            _ => Test::Text(unquote(word).to_lowercase()),
        })
    }
}

/// `YYYY-MM-DD`: the start of that day, UTC.
fn day(v: &str) -> ApiResult<i64> {
    chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp())
        .ok_or_else(|| ApiError::BadRequest(format!("{v:?} is not a date (YYYY-MM-DD)")))
}

/// A size in bytes, with an optional `k`, `m` or `g` (1024-based, Mailpit's reading).
fn size(v: &str) -> ApiResult<u64> {
    let (digits, unit) = match v.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => v.split_at(i),
        None => (v, ""),
    };
    let shift = match unit.trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        _ => {
            return Err(ApiError::BadRequest(format!(
                "{v:?} is not a size (e.g. 100k, 2m)"
            )));
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| ApiError::BadRequest(format!("{v:?} is not a size (e.g. 100k, 2m)")))
}

/// One term: a test and whether it is negated.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    not: bool,
    test: Test,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    terms: Vec<Term>,
}

impl Query {
    /// Parses a query within the limits; an empty one matches everything.
    pub fn parse(text: &str, limits: Limits) -> ApiResult<Query> {
        if text.len() > limits.bytes {
            return Err(ApiError::BadRequest(format!(
                "query longer than {} bytes",
                limits.bytes
            )));
        }
        let mut terms = Vec::new();
        for word in words(text)? {
            let (not, word) = match word.strip_prefix(['-', '!']) {
                Some(rest) if !rest.is_empty() => (true, rest.to_owned()),
                _ => (false, word),
            };
            terms.push(Term {
                not,
                test: Test::parse(&word)?,
            });
            if terms.len() > limits.terms {
                return Err(ApiError::BadRequest(format!(
                    "more than {} search terms",
                    limits.terms
                )));
            }
        }
        Ok(Query { terms })
    }

    /// Whether the message matches. Flag and place tests look at the snapshot only; the
    /// header tests at the (cached) summary; free text reads the message.
    pub fn matches(&self, state: &WebState, o: &Opened, e: &Entry) -> bool {
        let mut content: Option<Option<Content>> = None;
        let mut body: Option<Option<String>> = None;
        for term in &self.terms {
            let hit = match &term.test {
                Test::Read => e.read(),
                Test::Unread => !e.read(),
                Test::Before(t) => e.meta.internal_date.timestamp() < *t,
                Test::After(t) => e.meta.internal_date.timestamp() >= *t,
                Test::Larger(n) => e.meta.size > *n,
                Test::Smaller(n) => e.meta.size < *n,
                Test::Tagged => e.meta.flags.iter().any(|f| matches!(f, Flag::Keyword(_))),
                Test::Tag(t) => crate::tag::tags_of(&e.meta.flags)
                    .iter()
                    .any(|x| x.to_lowercase() == *t),
                Test::Account(a) => o.account.to_lowercase() == *a,
                Test::Mailbox(m) => o.name.to_lowercase() == *m,
                Test::Text(t) => {
                    let c = content.get_or_insert_with(|| load(state, o, e));
                    let b = body.get_or_insert_with(|| {
                        let raw = o.mailbox.read(e.meta.uid).ok()?;
                        let p = Parsed::new(&raw);
                        Some(format!("{}\n{}", p.text(), p.html()).to_lowercase())
                    });
                    c.as_ref().is_some_and(|c| content_has(c, t))
                        || b.as_ref().is_some_and(|b| b.contains(t.as_str()))
                }
                header => {
                    let Some(c) = content.get_or_insert_with(|| load(state, o, e)) else {
                        return false;
                    };
                    let any = |list: &[crate::shape::Address], v: &str| {
                        list.iter().any(|a| addr_has(a, v))
                    };
                    match header {
                        Test::From(v) => c.from.as_ref().is_some_and(|a| addr_has(a, v)),
                        Test::To(v) => any(&c.to, v) || any(&c.cc, v) || any(&c.bcc, v),
                        Test::Cc(v) => any(&c.cc, v),
                        Test::ReplyTo(v) => any(&c.reply_to, v),
                        Test::Subject(v) => c.subject.to_lowercase().contains(v.as_str()),
                        Test::MessageId(v) => c.message_id.to_lowercase().contains(v.as_str()),
                        Test::Attachment => c.attachments > 0,
                        _ => false,
                    }
                }
            };
            if hit == term.not {
                return false;
            }
        }
        true
    }
}

fn load(state: &WebState, o: &Opened, e: &Entry) -> Option<Content> {
    crate::scope::summary(state, o, &e.meta).map(|s| s.content)
}

fn addr_has(a: &crate::shape::Address, v: &str) -> bool {
    a.address.to_lowercase().contains(v) || a.name.to_lowercase().contains(v)
}

fn content_has(c: &Content, t: &str) -> bool {
    c.subject.to_lowercase().contains(t)
        || c.from
            .iter()
            .chain(&c.to)
            .chain(&c.cc)
            .any(|a| addr_has(a, t))
}

/// Splits a query into words at spaces outside double quotes; a quote may open inside
/// a word (`subject:"two words"`).
fn words(text: &str) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                word.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if quoted {
        return Err(ApiError::BadRequest("unterminated quote in query".into()));
    }
    if !word.is_empty() {
        out.push(word);
    }
    Ok(out)
}

fn unquote(s: &str) -> String {
    s.replace('"', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tests(q: &str) -> Vec<(bool, Test)> {
        Query::parse(q, Limits::default())
            .unwrap()
            .terms
            .into_iter()
            .map(|t| (t.not, t.test))
            .collect()
    }

    #[test]
    fn parses_prefixes_phrases_and_negation() {
        assert_eq!(
            tests(r#"from:Bob subject:"two words" -is:read !tag:x "a phrase" plain"#),
            vec![
                (false, Test::From("bob".into())),
                (false, Test::Subject("two words".into())),
                (true, Test::Read),
                (true, Test::Tag("x".into())),
                (false, Test::Text("a phrase".into())),
                (false, Test::Text("plain".into())),
            ]
        );
        assert_eq!(tests("  "), vec![]);
        assert_eq!(
            tests("FROM:Bob larger:2k smaller:1M after:2024-01-02 reply-to:x"),
            vec![
                (false, Test::From("bob".into())),
                (false, Test::Larger(2048)),
                (false, Test::Smaller(1 << 20)),
                (false, Test::After(1_704_153_600)),
                (false, Test::ReplyTo("x".into())),
            ]
        );
        assert_eq!(tests("-"), vec![(false, Test::Text("-".into()))]);
    }

    proptest::proptest! {
        /// No query, however odd, panics: it parses or is a clear error.
        #[test]
        fn any_query_parses_or_is_refused(q in "\\PC{0,80}") {
            let _ = Query::parse(&q, Limits::default());
        }
    }

    #[test]
    fn refuses_bad_queries() {
        assert!(Query::parse("\"open", Limits::default()).is_err());
        assert!(Query::parse("before:yesterday", Limits::default()).is_err());
        assert!(Query::parse("larger:lots", Limits::default()).is_err());
        assert!(Query::parse("larger:99999999999999999999g", Limits::default()).is_err());
        assert!(Query::parse(&"x ".repeat(MAX_TERMS + 1), Limits::default()).is_err());
        assert!(Query::parse(&"x".repeat(MAX_QUERY + 1), Limits::default()).is_err());
    }
}
