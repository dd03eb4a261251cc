//! RFC 5322 §3.4 address lists as ENVELOPE shows them (RFC 3501 §7.4.2), read from the
//! raw header text.
//!
//! mail-parser reads addresses for display and loses what ENVELOPE must keep: a comment
//! inside a group (`group2: (foo) ;`) comes back as an address named "foo", and a source
//! route stays glued to the local part. This grammar keeps both apart; it accepts the
//! obsolete forms of RFC 5322 §4.4 (routes, empty list elements, `Joe Q. Public`,
//! CFWS around dots), since old mail uses them. A header it cannot read is left to
//! mail-parser's best guess by the caller.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::combinator::{eof, map, opt, recognize};
use nom::multi::{fold_many0, separated_list1};
use nom::sequence::{delimited, preceded};
use nom::{IResult, Parser};

/// One entry of an ENVELOPE address list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// `address = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"`.
    Mailbox {
        /// The display name (a quoted one unquoted), or the comment after a bare address.
        name: Option<Vec<u8>>,
        /// The source route, `@a,@b`, without its colon.
        adl: Option<Vec<u8>>,
        /// The local part (a quoted one unquoted).
        mailbox: Vec<u8>,
        /// The domain; empty when the address has none.
        host: Vec<u8>,
    },
    /// A group's start, `(NIL NIL "name" NIL)`.
    GroupStart(Vec<u8>),
    /// A group's end, `(NIL NIL NIL NIL)`.
    GroupEnd,
}

type Res<'a, T> = IResult<&'a [u8], T>;

/// An `addr-spec`: the local part and the domain.
type Spec = (Vec<u8>, Vec<u8>);

/// How deep comments may nest; RFC 5322 sets no limit, real mail nests one or two.
const MAX_COMMENT_DEPTH: usize = 8;

fn fail<T>(i: &[u8]) -> Res<'_, T> {
    Err(nom::Err::Error(nom::error::Error::new(
        i,
        nom::error::ErrorKind::Verify,
    )))
}

/// Reads a header field's value (unfolded) as an address list; `None` when it does not
/// follow the grammar. An empty list (no value, only comments) is `Some(vec![])`.
pub fn address_list(value: &[u8]) -> Option<Vec<Entry>> {
    let (rest, entries) = list(value, &address).ok()?;
    let (_, _) = (cfws, eof).parse(rest).ok()?;
    Some(entries)
}

/// `atext = ALPHA / DIGIT / "!" / "#" / ... / "~"`, and UTF-8 octets (RFC 6532 §3.2).
fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b) || b >= 0x80
}

/// `FWS`, once unfolded: spaces and tabs.
fn wsp(i: &[u8]) -> Res<'_, &[u8]> {
    take_while1(|b| b == b' ' || b == b'\t').parse(i)
}

/// `comment = "(" *([FWS] ccontent) [FWS] ")"`, `ccontent = ctext / quoted-pair /
/// comment`: the text inside, quoted pairs resolved.
fn comment(i: &[u8]) -> Res<'_, Vec<u8>> {
    comment_at(i, 0)
}

fn comment_at(i: &[u8], depth: usize) -> Res<'_, Vec<u8>> {
    let (mut i, _) = tag(&b"("[..]).parse(i)?;
    let mut text = Vec::new();
    loop {
        match i {
            [b')', rest @ ..] => return Ok((rest, text)),
            [b'\\', c, rest @ ..] => {
                text.push(*c);
                i = rest;
            }
            [b'(', ..] if depth < MAX_COMMENT_DEPTH => {
                let (rest, inner) = comment_at(i, depth + 1)?;
                text.push(b'(');
                text.extend(inner);
                text.push(b')');
                i = rest;
            }
            [] | [b'(', ..] => return fail(i),
            [c, rest @ ..] => {
                text.push(*c);
                i = rest;
            }
        }
    }
}

/// `CFWS = (1*([FWS] comment) [FWS]) / FWS`, here optional; gives the last comment's
/// text, which names an address written `user@host (Real Name)` (Dovecot does the same).
fn cfws(i: &[u8]) -> Res<'_, Option<Vec<u8>>> {
    fold_many0(
        alt((map(wsp, |_| None), map(comment, Some))),
        || None,
        |last, c| c.or(last),
    )
    .parse(i)
}

/// `atom = [CFWS] 1*atext [CFWS]` (the trailing CFWS is left to what follows).
fn atom(i: &[u8]) -> Res<'_, &[u8]> {
    preceded(cfws, take_while1(is_atext)).parse(i)
}

/// `quoted-string = [CFWS] DQUOTE *([FWS] qcontent) [FWS] DQUOTE [CFWS]`: the content,
/// quoted pairs resolved.
fn quoted(i: &[u8]) -> Res<'_, Vec<u8>> {
    let (mut i, _) = preceded(cfws, tag(&b"\""[..])).parse(i)?;
    let mut text = Vec::new();
    loop {
        match i {
            [b'"', rest @ ..] => return Ok((rest, text)),
            [b'\\', c, rest @ ..] => {
                text.push(*c);
                i = rest;
            }
            [] => return fail(i),
            [c, rest @ ..] => {
                text.push(*c);
                i = rest;
            }
        }
    }
}

/// `word = atom / quoted-string`
fn word(i: &[u8]) -> Res<'_, Vec<u8>> {
    alt((map(atom, <[u8]>::to_vec), quoted)).parse(i)
}

/// A `"."` between words, CFWS before it allowed (obs-local-part, obs-domain).
fn dot(i: &[u8]) -> Res<'_, &[u8]> {
    preceded(cfws, tag(&b"."[..])).parse(i)
}

/// `display-name = phrase`, `phrase = 1*word / obs-phrase`, `obs-phrase = word *(word /
/// "." / CFWS)`: the words joined by one space, a dot kept where it stands
/// (`Joe Q. Public`).
fn phrase(i: &[u8]) -> Res<'_, Vec<u8>> {
    let (i, first) = word(i)?;
    let mut first = Some(first);
    fold_many0(
        alt((map(word, Some), map(dot, |_| None))),
        move || first.take().unwrap_or_default(),
        |mut name, w| {
            match w {
                Some(w) => {
                    name.push(b' ');
                    name.extend(w);
                }
                None => name.push(b'.'),
            }
            name
        },
    )
    .parse(i)
}

/// `local-part = dot-atom / quoted-string / obs-local-part`, `obs-local-part = word
/// *("." word)`.
fn local_part(i: &[u8]) -> Res<'_, Vec<u8>> {
    dotted(i, word)
}

/// `domain = dot-atom / domain-literal / obs-domain`, `obs-domain = atom *("." atom)`;
/// `domain-literal = [CFWS] "[" *([FWS] dtext) [FWS] "]" [CFWS]`, kept with its brackets.
fn domain(i: &[u8]) -> Res<'_, Vec<u8>> {
    let literal = preceded(
        cfws,
        recognize(delimited(
            tag(&b"["[..]),
            take_while(|b| b != b'[' && b != b']' && b != b'\\'),
            tag(&b"]"[..]),
        )),
    );
    alt((map(literal, <[u8]>::to_vec), |i| {
        dotted(i, |i| map(atom, <[u8]>::to_vec).parse(i))
    }))
    .parse(i)
}

/// `item *("." item)`, joined with dots and without the CFWS between.
fn dotted<'a>(i: &'a [u8], item: fn(&'a [u8]) -> Res<'a, Vec<u8>>) -> Res<'a, Vec<u8>> {
    let (i, first) = item(i)?;
    let mut first = Some(first);
    fold_many0(
        preceded(dot, item),
        move || first.take().unwrap_or_default(),
        |mut all, w| {
            all.push(b'.');
            all.extend(w);
            all
        },
    )
    .parse(i)
}

/// `addr-spec = local-part "@" domain`; an address without `@domain` (`root`, in old
/// local mail) is read with an empty domain.
fn addr_spec(i: &[u8]) -> Res<'_, Spec> {
    let (i, local) = local_part(i)?;
    let (i, host) = opt(preceded((cfws, tag(&b"@"[..])), domain)).parse(i)?;
    Ok((i, (local, host.unwrap_or_default())))
}

/// `obs-route = obs-domain-list ":"`, `obs-domain-list = *(CFWS / ",") "@" domain
/// *("," [CFWS] ["@" domain])`: the route as `@a,@b` for the adl field.
fn route(i: &[u8]) -> Res<'_, Vec<u8>> {
    let hop = map(preceded((cfws, tag(&b"@"[..])), domain), |d| {
        let mut hop = b"@".to_vec();
        hop.extend(d);
        hop
    });
    let (i, hops) = separated_list1((cfws, tag(&b","[..])), hop).parse(i)?;
    let (i, _) = (cfws, tag(&b":"[..])).parse(i)?;
    Ok((i, hops.join(&b","[..])))
}

/// `angle-addr = [CFWS] "<" addr-spec ">" [CFWS] / obs-angle-addr`, `obs-angle-addr =
/// [CFWS] "<" obs-route addr-spec ">" [CFWS]`.
fn angle_addr(i: &[u8]) -> Res<'_, (Option<Vec<u8>>, Spec)> {
    delimited(
        (cfws, tag(&b"<"[..])),
        (opt(route), addr_spec),
        (cfws, tag(&b">"[..])),
    )
    .parse(i)
}

/// `mailbox = name-addr / addr-spec`, `name-addr = [display-name] angle-addr`.
fn mailbox(i: &[u8]) -> Res<'_, Vec<Entry>> {
    let entry = |name: Option<Vec<u8>>, adl, (mailbox, host)| {
        vec![Entry::Mailbox {
            name: name.filter(|n| !n.is_empty()),
            adl,
            mailbox,
            host,
        }]
    };
    alt((
        map(
            (opt(phrase), angle_addr, cfws),
            |(name, (adl, spec), comment)| entry(name.or(comment), adl, spec),
        ),
        map((addr_spec, cfws), |(spec, comment)| {
            entry(comment, None, spec)
        }),
    ))
    .parse(i)
}

/// `group = display-name ":" [group-list] ";" [CFWS]`, `group-list = mailbox-list / CFWS
/// / obs-group-list`; a missing final `";"` at the end of the field is forgiven.
fn group(i: &[u8]) -> Res<'_, Vec<Entry>> {
    let (i, name) = phrase(i)?;
    let (i, _) = (cfws, tag(&b":"[..])).parse(i)?;
    let (i, members) = list(i, &mailbox)?;
    let (i, _) = (cfws, alt((tag(&b";"[..]), eof))).parse(i)?;
    let mut out = vec![Entry::GroupStart(name)];
    out.extend(members);
    out.push(Entry::GroupEnd);
    Ok((i, out))
}

/// `address = mailbox / group`
fn address(i: &[u8]) -> Res<'_, Vec<Entry>> {
    alt((group, mailbox)).parse(i)
}

/// `address-list = (address *("," address)) / obs-addr-list`, `obs-addr-list =
/// *([CFWS] ",") address *("," [address / CFWS])`, and `mailbox-list` likewise: empty
/// elements (only CFWS, like the comment in `g: (foo) ;`) are no address.
fn list<'a>(
    mut i: &'a [u8],
    element: &dyn Fn(&'a [u8]) -> Res<'a, Vec<Entry>>,
) -> Res<'a, Vec<Entry>> {
    let mut out = Vec::new();
    loop {
        match element(i) {
            Ok((rest, entries)) => {
                out.extend(entries);
                i = rest;
            }
            Err(nom::Err::Error(_)) => {}
            Err(e) => return Err(e),
        }
        let (rest, _) = cfws(i)?;
        match tag::<_, _, nom::error::Error<&[u8]>>(&b","[..]).parse(rest) {
            Ok((rest, _)) => i = rest,
            Err(_) => return Ok((rest, out)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mb(name: Option<&str>, adl: Option<&str>, mailbox: &str, host: &str) -> Entry {
        Entry::Mailbox {
            name: name.map(|n| n.as_bytes().to_vec()),
            adl: adl.map(|a| a.as_bytes().to_vec()),
            mailbox: mailbox.as_bytes().to_vec(),
            host: host.as_bytes().to_vec(),
        }
    }

    fn start(name: &str) -> Entry {
        Entry::GroupStart(name.as_bytes().to_vec())
    }

    #[test]
    fn groups_and_comments() {
        assert_eq!(
            address_list(b"group:;, group2: (foo) ;").unwrap(),
            vec![
                start("group"),
                Entry::GroupEnd,
                start("group2"),
                Entry::GroupEnd
            ]
        );
        assert_eq!(
            address_list(b"group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;").unwrap(),
            vec![
                start("group"),
                mb(None, None, "g1", "d1.org"),
                mb(None, None, "g2", "d2.org"),
                Entry::GroupEnd,
                start("group2"),
                mb(None, None, "g3", "d3.org"),
                Entry::GroupEnd,
            ]
        );
        assert_eq!(
            address_list(b"undisclosed-recipients:").unwrap(),
            vec![start("undisclosed-recipients"), Entry::GroupEnd]
        );
    }

    /// RFC 5322 Appendix A.1.2, A.1.3, A.5 and A.6.1, field by field.
    #[test]
    fn rfc5322_appendix_examples() {
        let cases: Vec<(&[u8], Vec<Entry>)> = vec![
            (
                b"\"Joe Q. Public\" <john.q.public@example.com>",
                vec![mb(Some("Joe Q. Public"), None, "john.q.public", "example.com")],
            ),
            (
                b"Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
                vec![
                    mb(Some("Mary Smith"), None, "mary", "x.test"),
                    mb(None, None, "jdoe", "example.org"),
                    mb(Some("Who?"), None, "one", "y.test"),
                ],
            ),
            (
                b"<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>",
                vec![
                    mb(None, None, "boss", "nil.test"),
                    mb(Some("Giant; \"Big\" Box"), None, "sysservices", "example.net"),
                ],
            ),
            (
                b"A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
                vec![
                    start("A Group"),
                    mb(Some("Ed Jones"), None, "c", "a.test"),
                    mb(None, None, "joe", "where.test"),
                    mb(Some("John"), None, "jdoe", "one.test"),
                    Entry::GroupEnd,
                ],
            ),
            (
                b"Undisclosed recipients:;",
                vec![start("Undisclosed recipients"), Entry::GroupEnd],
            ),
            (
                b"Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
                vec![mb(Some("Pete"), None, "pete", "silly.test")],
            ),
            (
                b"A Group(Some people)     :Chris Jones <c@(Chris's host.)public.example>,         joe@example.org,  John <jdoe@one.test> (my dear friend); (the end of the group)",
                vec![
                    start("A Group"),
                    mb(Some("Chris Jones"), None, "c", "public.example"),
                    mb(None, None, "joe", "example.org"),
                    mb(Some("John"), None, "jdoe", "one.test"),
                    Entry::GroupEnd,
                ],
            ),
            (
                b"(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;",
                vec![start("Hidden recipients"), Entry::GroupEnd],
            ),
            (
                b"Joe Q. Public <john.q.public@example.com>",
                vec![mb(Some("Joe Q. Public"), None, "john.q.public", "example.com")],
            ),
            (
                b"Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example",
                vec![
                    mb(Some("Mary Smith"), Some("@node.test"), "mary", "example.net"),
                    mb(None, None, "jdoe", "test.example"),
                ],
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                address_list(input),
                Some(expected),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn routes_comments_as_names_and_odd_forms() {
        assert_eq!(
            address_list(b"<@route:user@domain>").unwrap(),
            vec![mb(None, Some("@route"), "user", "domain")]
        );
        assert_eq!(
            address_list(b"<@a.example,@b.example:user@domain>").unwrap(),
            vec![mb(None, Some("@a.example,@b.example"), "user", "domain")]
        );
        assert_eq!(
            address_list(b"user@domain (Real Name)").unwrap(),
            vec![mb(Some("Real Name"), None, "user", "domain")]
        );
        assert_eq!(
            address_list(b"\"john doe\"@example.com, root, u@[192.0.2.1]").unwrap(),
            vec![
                mb(None, None, "john doe", "example.com"),
                mb(None, None, "root", ""),
                mb(None, None, "u", "[192.0.2.1]"),
            ]
        );
        assert_eq!(
            address_list(b"=?utf-8?q?Fran=C3=A7ois?= <f@example.fr>").unwrap(),
            vec![mb(
                Some("=?utf-8?q?Fran=C3=A7ois?="),
                None,
                "f",
                "example.fr"
            )]
        );
        assert_eq!(address_list(b"").unwrap(), vec![]);
        assert_eq!(address_list(b" (nobody) ").unwrap(), vec![]);
        for bad in [
            &b"a@b <c@d"[..],
            b"Name <a@b> extra",
            b"g: h: x@y;;",
            b"(((((((((((deep)))))))))))",
            b"\"open",
        ] {
            assert_eq!(address_list(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
