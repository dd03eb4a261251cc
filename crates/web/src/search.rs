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

/// The most terms one query may hold: each costs a pass over every candidate.
pub const MAX_TERMS: usize = 32;
/// The longest query accepted, in bytes.
pub const MAX_QUERY: usize = 4096;

/// What one term asks.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Test {
    From(String),
    To(String),
    Cc(String),
    Subject(String),
    MessageId(String),
    Tag(String),
    Account(String),
    Mailbox(String),
    Read,
    Unread,
    Tagged,
    Attachment,
    Text(String),
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
    /// Parses a query; an empty one matches everything.
    pub fn parse(text: &str) -> ApiResult<Query> {
        if text.len() > MAX_QUERY {
            return Err(ApiError::BadRequest(format!(
                "query longer than {MAX_QUERY} bytes"
            )));
        }
        let mut terms = Vec::new();
        for word in words(text)? {
            let (not, word) = match word.strip_prefix(['-', '!']) {
                Some(rest) if !rest.is_empty() => (true, rest.to_owned()),
                _ => (false, word),
            };
            let lower = word.to_lowercase();
            let value = |prefix: &str| unquote(&word[prefix.len()..]).to_lowercase();
            let test = if let Some(p) = [
                "from:",
                "to:",
                "cc:",
                "subject:",
                "message-id:",
                "tag:",
                "account:",
                "mailbox:",
            ]
            .into_iter()
            .find(|p| lower.starts_with(p))
            {
                let v = value(p);
                match p {
                    "from:" => Test::From(v),
                    "to:" => Test::To(v),
                    "cc:" => Test::Cc(v),
                    "subject:" => Test::Subject(v),
                    "message-id:" => Test::MessageId(v.trim_matches(['<', '>']).to_owned()),
                    "tag:" => Test::Tag(v),
                    "account:" => Test::Account(v),
                    _ => Test::Mailbox(v),
                }
            } else {
                match lower.as_str() {
                    "is:read" => Test::Read,
                    "is:unread" => Test::Unread,
                    "is:tagged" => Test::Tagged,
                    "has:attachment" | "has:attachments" => Test::Attachment,
                    _ => Test::Text(unquote(&word).to_lowercase()),
                }
            };
            terms.push(Term { not, test });
            if terms.len() > MAX_TERMS {
                return Err(ApiError::BadRequest(format!(
                    "more than {MAX_TERMS} search terms"
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
        Query::parse(q)
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
        assert_eq!(tests("-"), vec![(false, Test::Text("-".into()))]);
    }

    #[test]
    fn refuses_bad_queries() {
        assert!(Query::parse("\"open").is_err());
        assert!(Query::parse(&"x ".repeat(MAX_TERMS + 1)).is_err());
        assert!(Query::parse(&"x".repeat(MAX_QUERY + 1)).is_err());
    }
}
