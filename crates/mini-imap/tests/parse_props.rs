//! Properties: parsing and framing never panic on any bytes, and encode∘parse round-trips
//! for generated commands.

use bytes::BytesMut;
use chrono::NaiveDate;
use mini_imap::codec::{CodecLimits, ImapCodec};
use mini_imap::command::{
    AppendData, AppendMessage, CatPart, Command, CommandBody as C, EventGroup, FetchAttr as F,
    MailboxFilter, NotifyEvent, NotifySet, QResync, SearchKey as K, SearchReturn, Section,
    SectionText as T, SelectParams, SeqNum, SequenceSet, SortCriterion, SortKey, StatusItem,
    ThreadAlgorithm,
};
use mini_imap::parse::command;
use mini_imap::request::encode_command;
use proptest::prelude::*;
use tokio_util::codec::Decoder;
use yubin_core::Secret;

fn tag() -> impl Strategy<Value = String> {
    "[A-Za-z0-9.]{1,8}"
}

fn text() -> impl Strategy<Value = String> {
    // Any characters but NUL: atoms, quoted strings, literals with 8-bit and CR/LF.
    proptest::collection::vec(any::<char>().prop_filter("no NUL", |c| *c != '\0'), 0..20)
        .prop_map(|v| v.into_iter().collect())
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(1u8..=255, 0..20)
}

fn atom() -> impl Strategy<Value = String> {
    "[A-Za-z$][A-Za-z0-9$_.-]{0,10}"
}

fn seq() -> impl Strategy<Value = SeqNum> {
    prop_oneof![Just(SeqNum::Star), (1u32..100_000).prop_map(SeqNum::Value)]
}

/// A set without `*` (RFC 7162's `known-uids`).
fn known_set() -> impl Strategy<Value = SequenceSet> {
    proptest::collection::vec((1u32..100_000, 1u32..100_000), 1..5).prop_map(|v| {
        SequenceSet(
            v.into_iter()
                .map(|(a, b)| (SeqNum::Value(a), SeqNum::Value(b)))
                .collect(),
        )
    })
}

fn seq_set() -> impl Strategy<Value = SequenceSet> {
    proptest::collection::vec((seq(), seq()), 1..5).prop_map(SequenceSet)
}

fn date() -> impl Strategy<Value = NaiveDate> {
    (1970i32..2100, 1u32..=12, 1u32..=28)
        .prop_map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap())
}

fn search_key() -> impl Strategy<Value = K> {
    let leaf = prop_oneof![
        Just(K::All),
        Just(K::Seen),
        Just(K::Unseen),
        Just(K::New),
        Just(K::Recent),
        bytes().prop_map(K::Subject),
        bytes().prop_map(K::Body),
        bytes().prop_map(K::From),
        (atom(), bytes()).prop_map(|(f, v)| K::Header(f, v)),
        atom().prop_map(K::Keyword),
        any::<u32>().prop_map(K::Larger),
        (1..=u32::MAX).prop_map(K::Older),
        (1..=u32::MAX).prop_map(K::Younger),
        (0..=i64::MAX as u64).prop_map(K::ModSeq),
        date().prop_map(K::Since),
        date().prop_map(K::SentOn),
        seq_set().prop_map(K::Uid),
        seq_set().prop_map(K::SequenceSet),
    ];
    leaf.prop_recursive(4, 16, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|k| K::Not(Box::new(k))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| K::Or(Box::new(a), Box::new(b))),
            proptest::collection::vec(inner, 1..3).prop_map(K::And),
        ]
    })
}

fn section() -> impl Strategy<Value = Section> {
    let names = || proptest::collection::vec(atom(), 1..3);
    (
        proptest::collection::vec(1u32..20, 0..3),
        prop_oneof![
            Just(None),
            Just(Some(T::Header)),
            Just(Some(T::Text)),
            names().prop_map(|n| Some(T::HeaderFields(n))),
            names().prop_map(|n| Some(T::HeaderFieldsNot(n))),
        ],
    )
        .prop_map(|(part, text)| Section { part, text })
}

fn fetch_attr() -> impl Strategy<Value = F> {
    prop_oneof![
        Just(F::Flags),
        Just(F::Uid),
        Just(F::Envelope),
        Just(F::BodyStructure),
        Just(F::Body),
        Just(F::Rfc822),
        Just(F::Rfc822Size),
        Just(F::Rfc822Header),
        Just(F::Rfc822Text),
        Just(F::InternalDate),
        Just(F::ModSeq),
        (
            section(),
            proptest::option::of((any::<u32>(), 1u32..u32::MAX)),
            any::<bool>()
        )
            .prop_map(|(section, partial, peek)| F::BodySection {
                section,
                partial,
                peek
            }),
        // RFC 3516 §7: `section-binary = "[" [section-part] "]"`.
        (
            proptest::collection::vec(1u32..20, 0..4),
            proptest::option::of((any::<u32>(), 1u32..u32::MAX)),
            any::<bool>()
        )
            .prop_map(|(part, partial, peek)| F::Binary {
                part,
                partial,
                peek
            }),
        proptest::collection::vec(1u32..20, 0..4).prop_map(F::BinarySize),
    ]
}

/// SELECT's CONDSTORE and QRESYNC parameters (RFC 7162 §3.1.8, §3.2.5).
fn select_params() -> impl Strategy<Value = SelectParams> {
    let qresync = (
        1..=u32::MAX,
        1..=i64::MAX as u64,
        proptest::option::of(known_set()),
        proptest::option::of((known_set(), known_set())),
    )
        .prop_map(|(uid_validity, modseq, known_uids, seq_match)| QResync {
            uid_validity,
            modseq,
            known_uids,
            seq_match,
        });
    (any::<bool>(), proptest::option::of(qresync))
        .prop_map(|(condstore, qresync)| SelectParams { condstore, qresync })
}

fn body() -> impl Strategy<Value = C> {
    prop_oneof![
        Just(C::Capability),
        Just(C::Noop),
        Just(C::Logout),
        (text(), text()).prop_map(|(u, p)| C::Login {
            user: u,
            password: Secret::from(p)
        }),
        (text(), select_params()).prop_map(|(mailbox, params)| C::Select { mailbox, params }),
        (text(), select_params()).prop_map(|(mailbox, params)| C::Examine { mailbox, params }),
        text().prop_map(C::Subscribe),
        (text(), text()).prop_map(|(reference, pattern)| C::List { reference, pattern }),
        (
            text(),
            proptest::collection::vec(
                prop_oneof![
                    Just(StatusItem::Messages),
                    Just(StatusItem::Unseen),
                    Just(StatusItem::UidNext),
                    Just(StatusItem::Size),
                    Just(StatusItem::HighestModSeq),
                    Just(StatusItem::Deleted)
                ],
                1..4
            )
        )
            .prop_map(|(mailbox, items)| C::Status { mailbox, items }),
        (
            any::<bool>(),
            seq_set(),
            proptest::collection::vec(fetch_attr(), 1..5),
            proptest::option::of(1..=i64::MAX as u64),
            any::<bool>()
        )
            .prop_map(|(uid, set, items, changed_since, vanished)| C::Fetch {
                uid,
                set,
                items,
                changed_since,
                vanished
            }),
        (
            any::<bool>(),
            seq_set(),
            proptest::option::of(0..=i64::MAX as u64),
            proptest::collection::vec(atom(), 1..3)
        )
            .prop_map(|(uid, set, unchanged_since, flags)| C::Store {
                uid,
                set,
                mode: mini_imap::command::StoreMode::Add,
                silent: false,
                flags,
                unchanged_since
            }),
        (
            any::<bool>(),
            proptest::option::of(Just("UTF-8".to_string())),
            proptest::collection::vec(search_key(), 1..4)
        )
            .prop_map(|(uid, charset, criteria)| C::Search {
                uid,
                ret: None,
                charset,
                criteria
            }),
        proptest::collection::vec(atom(), 1..3).prop_map(C::Enable),
        (
            any::<bool>(),
            proptest::option::of(
                (
                    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
                    (any::<bool>(), any::<bool>()),
                    proptest::option::of((1u32..1000, 1u32..1000)),
                    proptest::collection::vec(fetch_attr(), 0..3)
                )
                    .prop_map(
                        |((min, max, all, count), (update, context), partial, atts)| {
                            // RFC 5267 §4.4: PARTIAL and ALL exclude each other; the range is
                            // read low to high.
                            let partial = partial.map(|(a, b)| (a.min(b), a.max(b)));
                            SearchReturn {
                                min,
                                max,
                                // RETURN () reads as RETURN (ALL) (RFC 4731 §3.1).
                                all: partial.is_none()
                                    && (all || !(min || max || count || update || context)),
                                count,
                                save: false,
                                update,
                                // RFC 5465 §7: `UPDATE (fetch-att ...)`.
                                update_fetch: if update { atts } else { Vec::new() },
                                context,
                                partial,
                            }
                        }
                    )
            ),
            proptest::collection::vec(sort_criterion(), 1..4),
            prop_oneof![Just("UTF-8".to_string()), Just("US-ASCII".to_string())],
            proptest::collection::vec(search_key(), 1..3)
        )
            .prop_map(|(uid, ret, criteria, charset, keys)| C::Sort {
                uid,
                ret,
                criteria,
                charset,
                keys
            }),
        (
            any::<bool>(),
            prop_oneof![
                Just(ThreadAlgorithm::OrderedSubject),
                Just(ThreadAlgorithm::References)
            ],
            proptest::collection::vec(search_key(), 1..3)
        )
            .prop_map(|(uid, algorithm, keys)| C::Thread {
                uid,
                algorithm,
                charset: "UTF-8".into(),
                keys
            }),
        (text(), proptest::collection::vec(append_message(), 1..4))
            .prop_map(|(mailbox, messages)| C::Append { mailbox, messages }),
        Just(C::Notify(None)),
        (
            any::<bool>(),
            proptest::collection::vec(event_group(), 1..4)
        )
            .prop_map(|(status, groups)| C::Notify(Some(NotifySet { status, groups }))),
    ]
}

/// One NOTIFY event group (RFC 5465 §8), any filter with any events.
fn event_group() -> impl Strategy<Value = EventGroup> {
    let names = || proptest::collection::vec(text(), 1..3);
    let filter = prop_oneof![
        Just(MailboxFilter::Selected),
        Just(MailboxFilter::SelectedDelayed),
        Just(MailboxFilter::Inboxes),
        Just(MailboxFilter::Personal),
        Just(MailboxFilter::Subscribed),
        names().prop_map(MailboxFilter::Subtree),
        names().prop_map(MailboxFilter::Mailboxes),
    ];
    let event = prop_oneof![
        proptest::collection::vec(fetch_attr(), 0..3).prop_map(NotifyEvent::MessageNew),
        Just(NotifyEvent::MessageExpunge),
        Just(NotifyEvent::FlagChange),
        Just(NotifyEvent::AnnotationChange),
        Just(NotifyEvent::MailboxName),
        Just(NotifyEvent::SubscriptionChange),
        Just(NotifyEvent::MailboxMetadataChange),
        Just(NotifyEvent::ServerMetadataChange),
        atom().prop_map(|a| NotifyEvent::Other(format!("X-{a}"))),
    ];
    (filter, proptest::collection::vec(event, 0..4))
        .prop_map(|(filter, events)| EventGroup { filter, events })
}

fn sort_criterion() -> impl Strategy<Value = SortCriterion> {
    (
        any::<bool>(),
        prop_oneof![
            Just(SortKey::Arrival),
            Just(SortKey::Cc),
            Just(SortKey::Date),
            Just(SortKey::From),
            Just(SortKey::Size),
            Just(SortKey::Subject),
            Just(SortKey::To),
            Just(SortKey::DisplayFrom),
            Just(SortKey::DisplayTo),
        ],
    )
        .prop_map(|(reverse, key)| SortCriterion { reverse, key })
}

/// Any octets, NUL included: a message with NUL goes as a literal8 (RFC 3516 §4.4).
fn octets() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..20)
}

/// One message of a MULTIAPPEND (RFC 3502): a literal or CATENATE parts (RFC 4469).
fn append_message() -> impl Strategy<Value = AppendMessage> {
    let data = prop_oneof![
        octets().prop_map(AppendData::Literal),
        proptest::collection::vec(
            prop_oneof![
                octets().prop_map(CatPart::Text),
                text().prop_map(CatPart::Url)
            ],
            1..4
        )
        .prop_map(AppendData::Catenate),
    ];
    let date = proptest::option::of((0i64..2_000_000_000, -720i32..=720).prop_map(|(t, m)| {
        chrono::DateTime::from_timestamp(t, 0)
            .unwrap()
            .with_timezone(&chrono::FixedOffset::east_opt(m * 60).unwrap())
    }));
    (proptest::collection::vec(atom(), 0..3), date, data)
        .prop_map(|(flags, date, data)| AppendMessage { flags, date, data })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_never_panics(input in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = command(&input);
    }

    #[test]
    fn parse_never_panics_on_near_commands(
        head in prop_oneof![Just("a FETCH 1 "), Just("a SEARCH "), Just("a LOGIN "), Just("a UID FETCH 1:* "), Just("a SORT ("), Just("a UID THREAD REFERENCES ")],
        tail in "[ -~]{0,60}",
    ) {
        let _ = command(format!("{head}{tail}\r\n").as_bytes());
    }

    #[test]
    fn codec_never_panics_and_stays_bounded(input in proptest::collection::vec(any::<u8>(), 0..600), chunk in 1usize..64) {
        let mut codec = ImapCodec::new(CodecLimits { max_line: 64, max_literal: 32, max_command: 256, stream_above: usize::MAX });
        let mut buf = BytesMut::new();
        for piece in input.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Ok(Some(_)) = codec.decode(&mut buf) {}
            prop_assert!(buf.len() <= 64 + 2 + chunk);
        }
    }

    #[test]
    fn encode_then_parse_round_trips(tag in tag(), body in body()) {
        let cmd = Command { tag, body };
        let bytes = encode_command(&cmd);
        let parsed = command(&bytes);
        prop_assert_eq!(parsed.as_ref().ok(), Some(&cmd), "{:?}", String::from_utf8_lossy(&bytes));
    }
}
