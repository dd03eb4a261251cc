//! ENVELOPE and BODYSTRUCTURE for every message of the shared corpus, checked against the
//! RFC 3501 §9 grammar field by field, plus known answers per message.

use std::path::PathBuf;

use mini_imap::command::{Section, SectionText};
use mini_imap::mime::MessageInfo;
use mini_imap::value::{Value, parse_items};

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/corpus");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .map(|p| {
            let raw = std::fs::read(&p).unwrap();
            // The store keeps and serves the wire form (CRLF), so that is what we parse.
            let wire = yubin_store::wire::to_crlf(&raw).into_owned();
            (p.file_name().unwrap().to_string_lossy().into_owned(), wire)
        })
        .collect();
    out.sort();
    assert!(out.len() >= 10, "corpus has {} messages", out.len());
    out
}

fn one(bytes: &[u8]) -> Value {
    let items = parse_items(bytes);
    assert_eq!(
        items.len(),
        1,
        "one value in {:?}",
        String::from_utf8_lossy(bytes)
    );
    items.into_iter().next().unwrap()
}

fn is_nstring(i: &Value) -> bool {
    matches!(i, Value::Nil | Value::String(_))
}

fn is_number(i: &Value) -> bool {
    matches!(i, Value::Number(_))
}

/// `address = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"`
fn check_address_list(i: &Value, what: &str) {
    match i {
        Value::Nil => {}
        Value::List(addrs) => {
            assert!(!addrs.is_empty(), "{what}: empty list must be NIL");
            for a in addrs {
                let Value::List(f) = a else {
                    panic!("{what}: address is not a list: {a:?}")
                };
                assert_eq!(f.len(), 4, "{what}: address has 4 fields");
                assert!(
                    f.iter().all(is_nstring),
                    "{what}: fields are nstrings: {f:?}"
                );
            }
        }
        other => panic!("{what}: not an address list: {other:?}"),
    }
}

/// `envelope = "(" env-date SP env-subject SP env-from SP env-sender SP env-reply-to SP
/// env-to SP env-cc SP env-bcc SP env-in-reply-to SP env-message-id ")"`
fn check_envelope(i: &Value) {
    let Value::List(f) = i else {
        panic!("envelope is not a list")
    };
    assert_eq!(f.len(), 10, "envelope has 10 fields");
    assert!(is_nstring(&f[0]) && is_nstring(&f[1]), "date, subject");
    for (k, name) in ["from", "sender", "reply-to", "to", "cc", "bcc"]
        .iter()
        .enumerate()
    {
        check_address_list(&f[2 + k], name);
    }
    assert!(
        is_nstring(&f[8]) && is_nstring(&f[9]),
        "in-reply-to, message-id"
    );
}

/// `body-fld-param = "(" string SP string *(SP string SP string) ")" / nil`
fn check_params(i: &Value) {
    match i {
        Value::Nil => {}
        Value::List(p) => {
            assert!(!p.is_empty() && p.len() % 2 == 0, "params in pairs: {p:?}");
            assert!(p.iter().all(|x| matches!(x, Value::String(_))));
        }
        other => panic!("params: {other:?}"),
    }
}

/// `body-fld-dsp SP body-fld-lang SP body-fld-loc`
fn check_ext_tail(f: &[Value]) {
    if let Some(dsp) = f.first() {
        match dsp {
            Value::Nil => {}
            Value::List(d) => {
                assert_eq!(d.len(), 2);
                assert!(matches!(d[0], Value::String(_)));
                check_params(&d[1]);
            }
            other => panic!("disposition: {other:?}"),
        }
    }
    if let Some(lang) = f.get(1) {
        assert!(is_nstring(lang) || matches!(lang, Value::List(_)));
    }
    if let Some(loc) = f.get(2) {
        assert!(is_nstring(loc));
    }
}

/// `body = "(" (body-type-1part / body-type-mpart) ")"`; returns the number of leaf parts.
fn check_body(i: &Value, extended: bool) -> usize {
    let Value::List(f) = i else {
        panic!("body is not a list: {i:?}")
    };
    if matches!(f.first(), Some(Value::List(_))) {
        // body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
        let n = f.iter().take_while(|x| matches!(x, Value::List(_))).count();
        let leaves = f[..n].iter().map(|b| check_body(b, extended)).sum();
        assert!(matches!(f[n], Value::String(_)), "media-subtype");
        if extended {
            check_params(&f[n + 1]);
            check_ext_tail(&f[n + 2..]);
        } else {
            assert_eq!(f.len(), n + 1, "BODY has no extension data");
        }
        return leaves;
    }
    // body-type-1part: media-type, body-fields (param id desc enc octets), then per type.
    let ty = f[0].text().unwrap().to_ascii_uppercase();
    let sub = f[1].text().unwrap().to_ascii_uppercase();
    assert!(matches!(f[0], Value::String(_)) && matches!(f[1], Value::String(_)));
    check_params(&f[2]);
    assert!(is_nstring(&f[3]) && is_nstring(&f[4]), "id, desc");
    assert!(matches!(f[5], Value::String(_)), "encoding");
    assert!(is_number(&f[6]), "octets");
    let mut k = 7;
    let mut leaves = 1;
    if ty == "MESSAGE" && sub == "RFC822" {
        check_envelope(&f[7]);
        leaves = check_body(&f[8], extended);
        assert!(is_number(&f[9]), "message lines");
        k = 10;
    } else if ty == "TEXT" {
        assert!(is_number(&f[7]), "text lines");
        k = 8;
    }
    if extended {
        assert!(is_nstring(&f[k]), "md5");
        check_ext_tail(&f[k + 1..]);
    } else {
        assert_eq!(f.len(), k, "BODY has no extension data");
    }
    leaves
}

#[test]
fn every_corpus_message_has_grammatical_envelope_and_bodystructure() {
    for (name, raw) in corpus() {
        let info = MessageInfo::parse(&raw);
        println!(
            "{name}\n  ENVELOPE {}",
            String::from_utf8_lossy(&info.envelope)
        );
        println!(
            "  BODYSTRUCTURE {}",
            String::from_utf8_lossy(&info.bodystructure)
        );
        check_envelope(&one(&info.envelope));
        check_body(&one(&info.bodystructure), true);
        check_body(&one(&info.body), false);
        // The whole message and its header/text split add up.
        let header = info
            .section(&raw, &sec(&[], Some(SectionText::Header)))
            .unwrap();
        let text = info
            .section(&raw, &sec(&[], Some(SectionText::Text)))
            .unwrap();
        assert_eq!(
            header.len() + text.len(),
            raw.len(),
            "{name}: header + text"
        );
        assert!(
            header.ends_with(b"\r\n\r\n"),
            "{name}: header ends with blank line"
        );
    }
}

fn sec(part: &[u32], text: Option<SectionText>) -> Section {
    Section {
        part: part.to_vec(),
        text,
    }
}

fn info_of(prefix: &str) -> (MessageInfo, Vec<u8>) {
    let (_, raw) = corpus()
        .into_iter()
        .find(|(n, _)| n.starts_with(prefix))
        .unwrap();
    (MessageInfo::parse(&raw), raw)
}

fn envelope_fields(info: &MessageInfo) -> Vec<Value> {
    match one(&info.envelope) {
        Value::List(f) => f,
        _ => unreachable!(),
    }
}

#[test]
fn plain_message_envelope_fields() {
    let (info, _) = info_of("01-");
    let f = envelope_fields(&info);
    assert!(matches!(f[0], Value::String(_)), "has a date");
    let Value::List(from) = &f[2] else { panic!() };
    let Value::List(a) = &from[0] else { panic!() };
    assert_eq!(a[2].text().as_deref(), Some("hanako"));
    assert_eq!(a[3].text().as_deref(), Some("example.jp"));
    // Sender and Reply-To default to From (RFC 3501 §7.4.2).
    assert_eq!(f[3], f[2]);
    assert_eq!(f[4], f[2]);
}

#[test]
fn iso_2022_jp_subject_stays_encoded_in_envelope_and_decodes_for_search() {
    let (info, _) = info_of("03-");
    let f = envelope_fields(&info);
    assert!(f[1].text().unwrap().starts_with("=?ISO-2022-JP?B?"));
    let subject = &info.headers.iter().find(|(n, _)| n == "subject").unwrap().1;
    assert!(subject.contains("件名"), "decoded subject: {subject}");
    assert!(info.text.contains("日本語"), "decoded body: {}", info.text);
}

#[test]
fn message_without_date_has_nil_date() {
    let (info, _) = info_of("08-");
    let f = envelope_fields(&info);
    assert_eq!(f[0], Value::Nil);
    let Value::List(to) = &f[5] else { panic!() };
    assert!(to.len() > 20, "every folded To address is kept");
    let Value::List(from) = &f[2] else { panic!() };
    let Value::List(a) = &from[0] else { panic!() };
    assert_eq!(a[0].text().as_deref(), Some("Frank, the \"quoted\" one"));
}

#[test]
fn forwarded_message_sections_reach_inside_the_encapsulated_message() {
    let (info, raw) = info_of("06-");
    let bs = String::from_utf8_lossy(&info.bodystructure).into_owned();
    assert!(bs.contains("\"MESSAGE\" \"RFC822\""), "{bs}");
    assert!(bs.contains("\"Plain hello\""), "nested envelope: {bs}");
    let part1 = info.section(&raw, &sec(&[1], None)).unwrap();
    assert!(part1.starts_with(b"Forwarding the message below."));
    let nested_header = info
        .section(&raw, &sec(&[2], Some(SectionText::Header)))
        .unwrap();
    assert!(
        nested_header.starts_with(b"From: Hanako Yamada"),
        "{}",
        String::from_utf8_lossy(&nested_header)
    );
    let nested_body = info.section(&raw, &sec(&[2, 1], None)).unwrap();
    assert!(
        nested_body.starts_with(b"Hello Alice,"),
        "{}",
        String::from_utf8_lossy(&nested_body)
    );
    let whole = info.section(&raw, &sec(&[2], None)).unwrap();
    assert!(whole.starts_with(b"From: Hanako Yamada"));
    assert!(
        !whole.ends_with(b"--\r\n"),
        "the boundary is not part of the part"
    );
    let mime = info
        .section(&raw, &sec(&[2], Some(SectionText::Mime)))
        .unwrap();
    assert!(
        mime.starts_with(b"Content-Type: message/rfc822"),
        "{}",
        String::from_utf8_lossy(&mime)
    );
    assert!(info.section(&raw, &sec(&[3], None)).is_none());
    let fields = info
        .section(
            &raw,
            &sec(&[], Some(SectionText::HeaderFields(vec!["subject".into()]))),
        )
        .unwrap();
    assert_eq!(&fields[..], b"Subject: Fwd: Plain hello\r\n\r\n");
}

#[test]
fn multipart_part_sizes_match_their_sections() {
    for prefix in ["04-", "05-", "06-"] {
        let (info, raw) = info_of(prefix);
        let Value::List(f) = one(&info.bodystructure) else {
            panic!()
        };
        for (k, part) in f
            .iter()
            .take_while(|x| matches!(x, Value::List(_)))
            .enumerate()
        {
            let Value::List(pf) = part else {
                unreachable!()
            };
            if matches!(pf.first(), Some(Value::List(_))) {
                continue;
            }
            let octets: usize = pf[6].text().unwrap().parse().unwrap();
            let bytes = info.section(&raw, &sec(&[k as u32 + 1], None)).unwrap();
            assert_eq!(octets, bytes.len(), "{prefix} part {}", k + 1);
        }
    }
}

#[test]
fn a_mime_parser_panic_is_contained() {
    // Found by the imap_mime fuzz target: reaches a debug_assert! inside mail-parser.
    let raw = include_bytes!("data/mail-parser-debug-assert.eml");
    let info = MessageInfo::parse(raw);
    check_envelope(&one(&info.envelope));
    check_body(&one(&info.bodystructure), true);
}
