//! Table-driven tests of the grammar (RFC 3501 §9) and the encoder: each sample, every
//! incomplete prefix of it, the same bytes through the codec in chunks of 1..512, and
//! encode∘parse known answers.

use bytes::BytesMut;
use chrono::NaiveDate;
use mini_imap::codec::{Frame, ImapCodec};
use mini_imap::command::{
    AppendData, AppendMessage, CatPart, CommandBody as C, Compression, FetchAttr as F,
    ListExtended, QResync, SearchKey as K, SearchReturn, Section, SectionText as T, SelectParams,
    SeqNum, SequenceSet, SortCriterion, SortKey, StatusItem, StoreMode, ThreadAlgorithm,
};
use mini_imap::parse::{ParseError, command};
use mini_imap::request::encode_command;
use mini_imap::value::{Value, write_astring, write_nstring, write_string};
use tokio_util::codec::Decoder;
use yubin_core::Secret;

fn set(ranges: &[(u32, u32)]) -> SequenceSet {
    let v = |n: u32| {
        if n == 0 {
            SeqNum::Star
        } else {
            SeqNum::Value(n)
        }
    };
    SequenceSet(ranges.iter().map(|&(a, b)| (v(a), v(b))).collect())
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn sec(part: &[u32], text: Option<T>) -> Section {
    Section {
        part: part.to_vec(),
        text,
    }
}

/// (input, expected body). Every input here is valid.
fn valid() -> Vec<(&'static [u8], C)> {
    vec![
        (b"a1 CAPABILITY\r\n", C::Capability),
        (b"A.b-c_9 noop\r\n", C::Noop),
        (b"t] LOGOUT\r\n", C::Logout),
        (
            b"a LOGIN alice secret\r\n",
            C::Login {
                user: "alice".into(),
                password: Secret::from("secret"),
            },
        ),
        (
            b"a LOGIN \"al ice\" \"p\\\\w\\\"d\"\r\n",
            C::Login {
                user: "al ice".into(),
                password: Secret::from("p\\w\"d"),
            },
        ),
        (
            b"a LOGIN {5}\r\nalice {6+}\r\nsecret\r\n",
            C::Login {
                user: "alice".into(),
                password: Secret::from("secret"),
            },
        ),
        (
            b"a AUTHENTICATE plain AGFsaWNlAHNlY3JldA==\r\n",
            C::Authenticate {
                mechanism: "PLAIN".into(),
                initial: Some("AGFsaWNlAHNlY3JldA==".into()),
            },
        ),
        (
            b"a AUTHENTICATE PLAIN\r\n",
            C::Authenticate {
                mechanism: "PLAIN".into(),
                initial: None,
            },
        ),
        (b"a ID NIL\r\n", C::Id(None)),
        (
            b"a ID (\"name\" \"mutt\" \"os\" NIL)\r\n",
            C::Id(Some(vec![
                ("name".into(), Some("mutt".into())),
                ("os".into(), None),
            ])),
        ),
        (b"a NAMESPACE\r\n", C::Namespace),
        (
            b"a ENABLE CONDSTORE UTF8=ACCEPT\r\n",
            C::Enable(vec!["CONDSTORE".into(), "UTF8=ACCEPT".into()]),
        ),
        (
            b"a LIST \"\" *\r\n",
            C::List {
                reference: "".into(),
                pattern: "*".into(),
            },
        ),
        (
            b"a LIST Archive/ %/2024]\r\n",
            C::List {
                reference: "Archive/".into(),
                pattern: "%/2024]".into(),
            },
        ),
        (
            b"a LIST (subscribed RECURSIVEMATCH remote) \"\" (INBOX \"a b/%\") RETURN (CHILDREN STATUS (MESSAGES SIZE))\r\n",
            C::ListExtended(ListExtended {
                subscribed: true,
                remote: true,
                recursive_match: true,
                patterns: vec!["INBOX".into(), "a b/%".into()],
                return_children: true,
                return_status: Some(vec![StatusItem::Messages, StatusItem::Size]),
                ..ListExtended::default()
            }),
        ),
        (
            b"a LIST (SPECIAL-USE) x * RETURN (SUBSCRIBED SPECIAL-USE)\r\n",
            C::ListExtended(ListExtended {
                special_use: true,
                reference: "x".into(),
                patterns: vec!["*".into()],
                return_subscribed: true,
                return_special_use: true,
                ..ListExtended::default()
            }),
        ),
        (
            b"a LIST () \"\" %\r\n",
            C::ListExtended(ListExtended {
                patterns: vec!["%".into()],
                ..ListExtended::default()
            }),
        ),
        (
            b"a CREATE Sent (USE (\\Sent \\X-Mine))\r\n",
            C::CreateSpecialUse {
                mailbox: "Sent".into(),
                uses: vec!["\\Sent".into(), "\\X-Mine".into()],
            },
        ),
        (
            b"a CREATE Plain (use ())\r\n",
            C::CreateSpecialUse {
                mailbox: "Plain".into(),
                uses: vec![],
            },
        ),
        (
            b"a LSUB \"\" \"a b*\"\r\n",
            C::Lsub {
                reference: "".into(),
                pattern: "a b*".into(),
            },
        ),
        (b"a SUBSCRIBE Trash\r\n", C::Subscribe("Trash".into())),
        (b"a UNSUBSCRIBE \"My Box\"\r\n", C::Unsubscribe("My Box".into())),
        (
            b"a STATUS inbox (MESSAGES recent UIDNEXT UIDVALIDITY UNSEEN size)\r\n",
            C::Status {
                mailbox: "inbox".into(),
                items: vec![
                    StatusItem::Messages,
                    StatusItem::Recent,
                    StatusItem::UidNext,
                    StatusItem::UidValidity,
                    StatusItem::Unseen,
                    StatusItem::Size,
                ],
            },
        ),
        (
            b"a SELECT INBOX\r\n",
            C::Select {
                mailbox: "INBOX".into(),
                params: SelectParams::default(),
            },
        ),
        (
            b"a EXAMINE &ZeVnLIqe-\r\n",
            C::Examine {
                mailbox: "&ZeVnLIqe-".into(),
                params: SelectParams::default(),
            },
        ),
        // RFC 7162 §3.1.8, §3.2.5 (its example: `QRESYNC (67890007 20050715194045000
        // 41,43:211,214:541)`).
        (
            b"a SELECT INBOX (CONDSTORE)\r\n",
            C::Select {
                mailbox: "INBOX".into(),
                params: SelectParams {
                    condstore: true,
                    qresync: None,
                },
            },
        ),
        (
            b"A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n",
            C::Select {
                mailbox: "INBOX".into(),
                params: SelectParams {
                    condstore: false,
                    qresync: Some(QResync {
                        uid_validity: 67890007,
                        modseq: 20050715194045000,
                        known_uids: Some(set(&[(41, 41), (43, 211), (214, 541)])),
                        seq_match: None,
                    }),
                },
            },
        ),
        (
            b"B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))\r\n",
            C::Select {
                mailbox: "INBOX".into(),
                params: SelectParams {
                    condstore: false,
                    qresync: Some(QResync {
                        uid_validity: 67890007,
                        modseq: 90060115194045000,
                        known_uids: Some(set(&[(1, 29997)])),
                        seq_match: Some((
                            set(&[(5000, 5000), (7500, 7500), (9000, 9000), (9990, 9999)]),
                            set(&[
                                (15000, 15000),
                                (22500, 22500),
                                (27000, 27000),
                                (29970, 29970),
                                (29973, 29973),
                                (29976, 29976),
                                (29979, 29979),
                                (29982, 29982),
                                (29985, 29985),
                                (29988, 29988),
                                (29991, 29991),
                                (29994, 29994),
                                (29997, 29997),
                            ]),
                        )),
                    }),
                },
            },
        ),
        // RFC 7162 §3.1.4.1 example, and §3.2.6's VANISHED modifier.
        (
            b"s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)\r\n",
            C::Fetch {
                uid: true,
                set: set(&[(1, 0)]),
                items: vec![F::Flags],
                changed_since: Some(12345),
                vanished: false,
            },
        ),
        (
            b"s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n",
            C::Fetch {
                uid: true,
                set: set(&[(300, 500)]),
                items: vec![F::Flags],
                changed_since: Some(12345),
                vanished: true,
            },
        ),
        (
            b"a FETCH 1:3 (MODSEQ)\r\n",
            C::Fetch {
                uid: false,
                set: set(&[(1, 3)]),
                items: vec![F::ModSeq],
                changed_since: None,
                vanished: false,
            },
        ),
        // RFC 7162 §3.1.3 example 8.
        (
            b"d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)\r\n",
            C::Store {
                uid: false,
                set: set(&[(7, 7), (5, 5), (9, 9)]),
                mode: StoreMode::Add,
                silent: true,
                flags: vec!["\\Deleted".into()],
                unchanged_since: Some(320162338),
            },
        ),
        // RFC 5267 §4: CONTEXT's return options and CANCELUPDATE.
        (
            b"B01 UID SEARCH RETURN (UPDATE COUNT) DELETED\r\n",
            C::Search {
                uid: true,
                ret: Some(SearchReturn {
                    update: true,
                    count: true,
                    ..Default::default()
                }),
                charset: None,
                criteria: vec![K::Deleted],
            },
        ),
        // RFC 5465 §7: UPDATE with the attributes to fetch for a new message.
        (
            b"a00 SEARCH RETURN (COUNT UPDATE (UID FLAGS)) FROM \"boss\"\r\n",
            C::Search {
                uid: false,
                ret: Some(SearchReturn {
                    count: true,
                    update: true,
                    update_fetch: vec![F::Uid, F::Flags],
                    ..Default::default()
                }),
                charset: None,
                criteria: vec![K::From(b"boss".to_vec())],
            },
        ),
        (
            b"A02 UID SEARCH RETURN (PARTIAL 23500:24000 CONTEXT) UNDELETED\r\n",
            C::Search {
                uid: true,
                ret: Some(SearchReturn {
                    partial: Some((23500, 24000)),
                    context: true,
                    ..Default::default()
                }),
                charset: None,
                criteria: vec![K::Undeleted],
            },
        ),
        (
            b"B04 CANCELUPDATE \"B01\" \"B02\"\r\n",
            C::CancelUpdate(vec!["B01".into(), "B02".into()]),
        ),
        (
            b"a STATUS blurdybloop (UIDNEXT HIGHESTMODSEQ)\r\n",
            C::Status {
                mailbox: "blurdybloop".into(),
                items: vec![StatusItem::UidNext, StatusItem::HighestModSeq],
            },
        ),
        (b"a CHECK\r\n", C::Check),
        (b"a CLOSE\r\n", C::Close),
        (b"a UNSELECT\r\n", C::Unselect),
        // RFC 4978 §5: `algorithm = "DEFLATE"`, case-insensitive like every IMAP atom.
        (b"a COMPRESS DEFLATE\r\n", C::Compress(Compression::Deflate)),
        (b"a compress deflate\r\n", C::Compress(Compression::Deflate)),
        (
            b"a FETCH 1:* ALL\r\n",
            C::Fetch {
                uid: false,
                set: set(&[(1, 0)]),
                items: vec![F::Flags, F::InternalDate, F::Rfc822Size, F::Envelope],
                changed_since: None,
                vanished: false,
            },
        ),
        (
            b"a FETCH *:3,7,2:4 fast\r\n",
            C::Fetch {
                uid: false,
                set: set(&[(0, 3), (7, 7), (2, 4)]),
                items: vec![F::Flags, F::InternalDate, F::Rfc822Size],
                changed_since: None,
                vanished: false,
            },
        ),
        (
            b"a FETCH 1 FULL\r\n",
            C::Fetch {
                uid: false,
                set: set(&[(1, 1)]),
                items: vec![F::Flags, F::InternalDate, F::Rfc822Size, F::Envelope, F::Body],
                changed_since: None,
                vanished: false,
            },
        ),
        (
            b"a UID FETCH 4 (UID RFC822 RFC822.HEADER RFC822.TEXT RFC822.SIZE BODY BODYSTRUCTURE ENVELOPE)\r\n",
            C::Fetch {
                uid: true,
                set: set(&[(4, 4)]),
                items: vec![
                    F::Uid,
                    F::Rfc822,
                    F::Rfc822Header,
                    F::Rfc822Text,
                    F::Rfc822Size,
                    F::Body,
                    F::BodyStructure,
                    F::Envelope,
                ],
                changed_since: None,
                vanished: false,
            },
        ),
        // RFC 3516 §7.
        (
            b"a FETCH 1 (BINARY[1.2]<0.10> BINARY.PEEK[] binary.size[3])\r\n",
            C::Fetch {
                uid: false,
                set: set(&[(1, 1)]),
                items: vec![
                    F::Binary {
                        part: vec![1, 2],
                        partial: Some((0, 10)),
                        peek: false,
                    },
                    F::Binary {
                        part: vec![],
                        partial: None,
                        peek: true,
                    },
                    F::BinarySize(vec![3]),
                ],
                changed_since: None,
                vanished: false,
            },
        ),
        (
            b"a FETCH 1 (BODY[] BODY.PEEK[HEADER] BODY[TEXT]<0.100> BODY[1.2.MIME] BODY[2.HEADER.FIELDS (From \"X-A\")] BODY.PEEK[HEADER.FIELDS.NOT (Subject)] BODY[3])\r\n",
            C::Fetch {
                uid: false,
                set: set(&[(1, 1)]),
                items: vec![
                    F::BodySection {
                        section: sec(&[], None),
                        partial: None,
                        peek: false,
                    },
                    F::BodySection {
                        section: sec(&[], Some(T::Header)),
                        partial: None,
                        peek: true,
                    },
                    F::BodySection {
                        section: sec(&[], Some(T::Text)),
                        partial: Some((0, 100)),
                        peek: false,
                    },
                    F::BodySection {
                        section: sec(&[1, 2], Some(T::Mime)),
                        partial: None,
                        peek: false,
                    },
                    F::BodySection {
                        section: sec(&[2], Some(T::HeaderFields(vec!["From".into(), "X-A".into()]))),
                        partial: None,
                        peek: false,
                    },
                    F::BodySection {
                        section: sec(&[], Some(T::HeaderFieldsNot(vec!["Subject".into()]))),
                        partial: None,
                        peek: true,
                    },
                    F::BodySection {
                        section: sec(&[3], None),
                        partial: None,
                        peek: false,
                    },
                ],
                changed_since: None,
                vanished: false,
            },
        ),
        (
            b"a SEARCH ALL\r\n",
            C::Search {
                uid: false,
                ret: None,
                charset: None,
                criteria: vec![K::All],
            },
        ),
        (
            b"a UID SEARCH CHARSET UTF-8 SUBJECT {6+}\r\n\xe9\x83\xb5\xe4\xbe\xbf\r\n",
            C::Search {
                uid: true,
                ret: None,
                charset: Some("UTF-8".into()),
                criteria: vec![K::Subject("郵便".as_bytes().to_vec())],
            },
        ),
        (
            b"a SEARCH OR (FROM a TO \"b c\") NOT SEEN 1:3,* UID 5:* SINCE 1-Feb-2024 BEFORE \"02-Mar-2025\"\r\n",
            C::Search {
                uid: false,
                ret: None,
                charset: None,
                criteria: vec![
                    K::Or(
                        Box::new(K::And(vec![K::From(b"a".to_vec()), K::To(b"b c".to_vec())])),
                        Box::new(K::Not(Box::new(K::Seen))),
                    ),
                    K::SequenceSet(set(&[(1, 3), (0, 0)])),
                    K::Uid(set(&[(5, 0)])),
                    K::Since(d(2024, 2, 1)),
                    K::Before(d(2025, 3, 2)),
                ],
            },
        ),
        // RFC 5256 §5: sort and thread; RFC 5267 §3: ESORT's RETURN; RFC 5957 keys.
        (
            b"a SORT (SUBJECT REVERSE DATE) UTF-8 ALL\r\n",
            C::Sort {
                uid: false,
                ret: None,
                criteria: vec![
                    SortCriterion {
                        reverse: false,
                        key: SortKey::Subject,
                    },
                    SortCriterion {
                        reverse: true,
                        key: SortKey::Date,
                    },
                ],
                charset: "UTF-8".into(),
                keys: vec![K::All],
            },
        ),
        (
            b"a uid sort return (min count) (arrival cc from size to displayfrom reverse displayto) \"US-ASCII\" FROM x 1:*\r\n",
            C::Sort {
                uid: true,
                ret: Some(SearchReturn {
                    min: true,
                    count: true,
                    ..SearchReturn::default()
                }),
                criteria: [
                    SortKey::Arrival,
                    SortKey::Cc,
                    SortKey::From,
                    SortKey::Size,
                    SortKey::To,
                    SortKey::DisplayFrom,
                    SortKey::DisplayTo,
                ]
                .into_iter()
                .map(|key| SortCriterion {
                    reverse: key == SortKey::DisplayTo,
                    key,
                })
                .collect(),
                charset: "US-ASCII".into(),
                keys: vec![K::From(b"x".to_vec()), K::SequenceSet(set(&[(1, 0)]))],
            },
        ),
        (
            b"a SORT RETURN () (SIZE) UTF-8 ALL\r\n",
            C::Sort {
                uid: false,
                ret: Some(SearchReturn {
                    all: true,
                    ..SearchReturn::default()
                }),
                criteria: vec![SortCriterion {
                    reverse: false,
                    key: SortKey::Size,
                }],
                charset: "UTF-8".into(),
                keys: vec![K::All],
            },
        ),
        (
            b"a THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000\r\n",
            C::Thread {
                uid: false,
                algorithm: ThreadAlgorithm::OrderedSubject,
                charset: "UTF-8".into(),
                keys: vec![K::Since(d(2000, 3, 5))],
            },
        ),
        (
            b"a UID THREAD references US-ASCII TEXT \"gewp\" UNSEEN\r\n",
            C::Thread {
                uid: true,
                algorithm: ThreadAlgorithm::References,
                charset: "US-ASCII".into(),
                keys: vec![K::Text(b"gewp".to_vec()), K::Unseen],
            },
        ),
        (
            b"a SEARCH ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN KEYWORD $Junk UNKEYWORD foo LARGER 10 SMALLER 99 ON 9-dec-2023 SENTON 1-Jan-2024 SENTBEFORE 1-Jan-2024 SENTSINCE 1-Jan-2024 BCC x CC y BODY z TEXT w HEADER X-Spam yes OLDER 3600 YOUNGER 259200 MODSEQ \"/flags/\\\\draft\" all 620162338 MODSEQ 0\r\n",
            C::Search {
                uid: false,
                ret: None,
                charset: None,
                criteria: vec![
                    K::Answered,
                    K::Deleted,
                    K::Draft,
                    K::Flagged,
                    K::New,
                    K::Old,
                    K::Recent,
                    K::Unanswered,
                    K::Undeleted,
                    K::Undraft,
                    K::Unflagged,
                    K::Unseen,
                    K::Keyword("$Junk".into()),
                    K::Unkeyword("foo".into()),
                    K::Larger(10),
                    K::Smaller(99),
                    K::On(d(2023, 12, 9)),
                    K::SentOn(d(2024, 1, 1)),
                    K::SentBefore(d(2024, 1, 1)),
                    K::SentSince(d(2024, 1, 1)),
                    K::Bcc(b"x".to_vec()),
                    K::Cc(b"y".to_vec()),
                    K::Body(b"z".to_vec()),
                    K::Text(b"w".to_vec()),
                    K::Header("X-Spam".into(), b"yes".to_vec()),
                    K::Older(3600),
                    K::Younger(259200),
                    K::ModSeq(620162338),
                    K::ModSeq(0),
                ],
            },
        ),
        (
            b"a STORE 1:2 +FLAGS.SILENT (\\Seen $Forwarded)\r\n",
            C::Store {
                uid: false,
                set: set(&[(1, 2)]),
                mode: StoreMode::Add,
                silent: true,
                flags: vec!["\\Seen".into(), "$Forwarded".into()],
                unchanged_since: None,
            },
        ),
        (
            b"a UID STORE 9 FLAGS \\Deleted\r\n",
            C::Store {
                uid: true,
                set: set(&[(9, 9)]),
                mode: StoreMode::Replace,
                silent: false,
                flags: vec!["\\Deleted".into()],
                unchanged_since: None,
            },
        ),
        (
            b"a UID COPY 1:* Archive\r\n",
            C::Copy {
                uid: true,
                set: set(&[(1, 0)]),
                mailbox: "Archive".into(),
            },
        ),
        (
            b"a MOVE 2 Trash\r\n",
            C::Move {
                uid: false,
                set: set(&[(2, 2)]),
                mailbox: "Trash".into(),
            },
        ),
        (b"a UID EXPUNGE 3:4\r\n", C::UidExpunge(set(&[(3, 4)]))),
        (b"a EXPUNGE\r\n", C::Expunge),
        (b"a IDLE\r\n", C::Idle),
        (b"a CREATE a/b\r\n", C::Create("a/b".into())),
        (b"a DELETE a/b\r\n", C::Delete("a/b".into())),
        (
            b"a RENAME a b\r\n",
            C::Rename {
                from: "a".into(),
                to: "b".into(),
            },
        ),
        (
            b"a APPEND Sent (\\Seen) \" 7-Feb-1994 21:52:25 -0800\" {4}\r\nhi\r\n\r\n",
            C::Append {
                mailbox: "Sent".into(),
                messages: vec![AppendMessage {
                    flags: vec!["\\Seen".into()],
                    date: Some(
                        chrono::DateTime::parse_from_rfc3339("1994-02-07T21:52:25-08:00")
                            .unwrap(),
                    ),
                    data: AppendData::Literal(b"hi\r\n".to_vec()),
                }],
            },
        ),
        // RFC 3502: several messages, each with its own flags and date.
        (
            b"a APPEND Sent {2}\r\nhi (\\Seen) {3+}\r\nyou\r\n",
            C::Append {
                mailbox: "Sent".into(),
                messages: vec![
                    AppendMessage {
                        flags: vec![],
                        date: None,
                        data: AppendData::Literal(b"hi".to_vec()),
                    },
                    AppendMessage {
                        flags: vec!["\\Seen".into()],
                        date: None,
                        data: AppendData::Literal(b"you".to_vec()),
                    },
                ],
            },
        ),
        // RFC 3516 §4.4: a literal8 may carry NUL.
        (
            b"a APPEND Sent ~{3}\r\na\0b\r\n",
            C::Append {
                mailbox: "Sent".into(),
                messages: vec![AppendMessage {
                    flags: vec![],
                    date: None,
                    data: AppendData::Literal(b"a\0b".to_vec()),
                }],
            },
        ),
        // RFC 4469 §5: CATENATE with URL and TEXT parts.
        (
            b"a APPEND Drafts CATENATE (URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER\" TEXT {2}\r\nhi url /INBOX/;UID=3)\r\n",
            C::Append {
                mailbox: "Drafts".into(),
                messages: vec![AppendMessage {
                    flags: vec![],
                    date: None,
                    data: AppendData::Catenate(vec![
                        CatPart::Url(
                            "/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER".into(),
                        ),
                        CatPart::Text(b"hi".to_vec()),
                        CatPart::Url("/INBOX/;UID=3".into()),
                    ]),
                }],
            },
        ),
        // RFC 6855 §4: `utf8-literal = "UTF8" SP "(" literal8 ")"`.
        (
            "a APPEND INBOX UTF8 (~{10+}\r\nS: \u{e9}t\u{e9}\r\n)\r\n".as_bytes(),
            C::Append {
                mailbox: "INBOX".into(),
                messages: vec![AppendMessage {
                    flags: vec![],
                    date: None,
                    data: AppendData::Literal("S: \u{e9}t\u{e9}\r\n".as_bytes().to_vec()),
                }],
            },
        ),
        (
            b"a STATUS INBOX (DELETED)\r\n",
            C::Status {
                mailbox: "INBOX".into(),
                items: vec![StatusItem::Deleted],
            },
        ),
    ]
}

#[test]
fn valid_commands_parse_to_their_values() {
    for (input, expected) in valid() {
        let got = command(input)
            .unwrap_or_else(|e| panic!("{:?}: {e:?}", String::from_utf8_lossy(input)));
        assert_eq!(got.body, expected, "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn every_incomplete_prefix_is_an_error() {
    for (input, _) in valid() {
        for k in 0..input.len() {
            assert!(
                command(&input[..k]).is_err(),
                "prefix {:?} of {:?} parsed",
                String::from_utf8_lossy(&input[..k]),
                String::from_utf8_lossy(input)
            );
        }
    }
}

#[test]
fn encode_then_parse_gives_the_same_command() {
    for (input, _) in valid() {
        let cmd = command(input).unwrap();
        let again = command(&encode_command(&cmd)).unwrap();
        assert_eq!(again, cmd, "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn codec_frames_identically_whatever_the_chunking() {
    let mut script = Vec::new();
    for (input, _) in valid() {
        script.extend_from_slice(input);
    }
    let frames = |chunk: usize| {
        let mut codec = ImapCodec::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        // An APPEND with a synchronizing literal comes as a head, pieces and the rest of
        // the line (the session may refuse it before the client sends the message):
        // put back together, it is the command as sent.
        let mut streamed: Option<Vec<u8>> = None;
        for piece in script.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                match f {
                    Frame::AppendHead { head, .. } => {
                        codec.stream_decided(true);
                        streamed.get_or_insert_default().extend_from_slice(&head);
                    }
                    Frame::Piece(p) => streamed.get_or_insert_default().extend_from_slice(&p),
                    Frame::Command(c) => match streamed.take() {
                        Some(mut whole) => {
                            whole.extend_from_slice(&c);
                            out.push(whole);
                        }
                        None => out.push(c.to_vec()),
                    },
                    _ => {}
                }
            }
        }
        out
    };
    let whole = frames(script.len());
    assert_eq!(whole.len(), valid().len());
    for (frame, (input, _)) in whole.iter().zip(valid()) {
        assert_eq!(&frame[..], input);
    }
    for chunk in [1, 2, 4, 8, 16, 32, 64, 128, 256, 512] {
        assert_eq!(frames(chunk), whole, "chunk {chunk}");
    }
}

#[test]
fn bad_inputs_are_errors_with_the_tag_when_there_is_one() {
    let table: Vec<(&[u8], Option<&str>)> = vec![
        (b"\r\n", None),
        (b" NOOP\r\n", None),
        (b"+a NOOP\r\n", None),
        (b"(a NOOP\r\n", None),
        (b"a\r\n", Some("a")),
        (b"a FROB\r\n", Some("a")),
        (b"a NOOP extra\r\n", Some("a")),
        (b"a LOGIN alice\r\n", Some("a")),
        (b"a LOGIN \"alice secret\r\n", Some("a")),
        (b"a LOGIN \"al\\ice\" x\r\n", Some("a")),
        (b"a LOGIN {5}\r\nali\r\n", Some("a")),
        (b"a LOGIN {9}\r\nali\r\n", None),
        (b"a LOGIN {x}\r\nalice x\r\n", Some("a")),
        (b"a LOGIN al\x00ice x\r\n", Some("a")),
        (b"a SELECT\r\n", Some("a")),
        (b"a SELECT  INBOX\r\n", Some("a")),
        (b"a FETCH 0 FLAGS\r\n", Some("a")),
        (b"a FETCH 1: FLAGS\r\n", Some("a")),
        (b"a FETCH 01 FLAGS\r\n", Some("a")),
        (b"a FETCH 1 FLAGSX\r\n", Some("a")),
        (b"a FETCH 1 (FLAGS\r\n", Some("a")),
        (b"a FETCH 1 ()\r\n", Some("a")),
        (b"a FETCH 1 BODY[MIME]\r\n", Some("a")),
        (b"a FETCH 1 BODY[0]\r\n", Some("a")),
        (b"a FETCH 1 BODY[1]<0.0>\r\n", Some("a")),
        (b"a FETCH 1 BODY[HEADER.FIELDS ()]\r\n", Some("a")),
        (b"a FETCH 99999999999 FLAGS\r\n", Some("a")),
        (b"a SEARCH\r\n", Some("a")),
        (b"a SEARCH FROB\r\n", Some("a")),
        (b"a SEARCH SINCE 32-Jan-2024\r\n", Some("a")),
        (b"a SEARCH SINCE 1-Foo-2024\r\n", Some("a")),
        (b"a SEARCH OR SEEN\r\n", Some("a")),
        (b"a SEARCH (SEEN\r\n", Some("a")),
        (b"a SEARCH CHARSET\r\n", Some("a")),
        (b"a SORT\r\n", Some("a")),
        (b"a SORT () UTF-8 ALL\r\n", Some("a")),
        (b"a SORT (SUBJECT) UTF-8\r\n", Some("a")),
        (b"a SORT (SUBJECT) ALL\r\n", Some("a")),
        (b"a SORT SUBJECT UTF-8 ALL\r\n", Some("a")),
        (b"a SORT (REVERSE) UTF-8 ALL\r\n", Some("a")),
        (b"a SORT (REVERSE REVERSE DATE) UTF-8 ALL\r\n", Some("a")),
        (b"a SORT (SUBJECT  DATE) UTF-8 ALL\r\n", Some("a")),
        (b"a SORT (MODSEQ) UTF-8 ALL\r\n", Some("a")),
        (b"a SORT RETURN (SAVE) (DATE) UTF-8 ALL\r\n", Some("a")),
        // RFC 5267 §4.4: PARTIAL and ALL exclude each other; a range has no `*` or 0.
        (
            b"a SORT RETURN (PARTIAL 1:10 ALL) (DATE) UTF-8 ALL\r\n",
            Some("a"),
        ),
        (b"a SEARCH RETURN (PARTIAL 0:10) ALL\r\n", Some("a")),
        (b"a SEARCH RETURN (PARTIAL 1:*) ALL\r\n", Some("a")),
        (b"a SEARCH RETURN (UPDATE PARTIAL) ALL\r\n", Some("a")),
        // RFC 5267 §5: `"CANCELUPDATE" 1*(SP quoted)`.
        (b"a CANCELUPDATE\r\n", Some("a")),
        (b"a CANCELUPDATE t1\r\n", Some("a")),
        (b"a THREAD\r\n", Some("a")),
        (b"a THREAD REFERENCES\r\n", Some("a")),
        (b"a THREAD REFERENCES UTF-8\r\n", Some("a")),
        (b"a THREAD REFS UTF-8 ALL\r\n", Some("a")),
        (b"a UID THREAD (REFERENCES) UTF-8 ALL\r\n", Some("a")),
        (b"a LIST (RECURSIVEMATCH) \"\" %\r\n", Some("a")),
        (b"a LIST (FOO) \"\" %\r\n", Some("a")),
        (b"a LIST \"\" % RETURN (STATUS ())\r\n", Some("a")),
        (b"a LIST \"\" ()\r\n", Some("a")),
        (b"a SEARCH OLDER 0\r\n", Some("a")),
        (b"a SEARCH YOUNGER\r\n", Some("a")),
        (b"a STATUS INBOX ()\r\n", Some("a")),
        (b"a STATUS INBOX (EXPUNGED)\r\n", Some("a")),
        (b"a STORE 1 FLAGS (\\Seen\r\n", Some("a")),
        // RFC 7162 §7: modseqs are numbers within 63 bits; CHANGEDSINCE's is never 0.
        (b"a FETCH 1 (FLAGS) (CHANGEDSINCE x)\r\n", Some("a")),
        (b"a FETCH 1 (FLAGS) (CHANGEDSINCE 0)\r\n", Some("a")),
        (
            b"a FETCH 1 (FLAGS) (CHANGEDSINCE 9223372036854775808)\r\n",
            Some("a"),
        ),
        (b"a FETCH 1 (FLAGS) (FROB)\r\n", Some("a")),
        (b"a STORE 1 (UNCHANGEDSINCE) +FLAGS (\\Seen)\r\n", Some("a")),
        (
            b"a STORE 1 (UNCHANGEDSINCE -1) +FLAGS (\\Seen)\r\n",
            Some("a"),
        ),
        (b"a SELECT INBOX (FROB)\r\n", Some("a")),
        (b"a SELECT INBOX ()\r\n", Some("a")),
        (b"a SELECT INBOX (QRESYNC (0 5))\r\n", Some("a")),
        (b"a SELECT INBOX (QRESYNC (1 0))\r\n", Some("a")),
        (
            b"a SELECT INBOX (QRESYNC (1 5) QRESYNC (1 5))\r\n",
            Some("a"),
        ),
        (b"a SEARCH MODSEQ\r\n", Some("a")),
        (b"a SEARCH MODSEQ \"/flags/\\\\seen\" some 5\r\n", Some("a")),
        (b"a UID\r\n", Some("a")),
        (b"a UID LOGIN a b\r\n", Some("a")),
        (
            b"a APPEND INBOX (\\Seen) \"bad date\" {1}\r\nx\r\n",
            Some("a"),
        ),
        // RFC 3501 §9: `CHAR8` has no NUL; only a literal8 may carry one (RFC 3516).
        (b"a APPEND INBOX {3}\r\na\0b\r\n", Some("a")),
        // RFC 3502: at least one message; RFC 4469: at least one part, TEXT or URL.
        (b"a APPEND INBOX\r\n", Some("a")),
        (b"a APPEND INBOX CATENATE ()\r\n", Some("a")),
        (b"a APPEND INBOX CATENATE (BODY \"x\")\r\n", Some("a")),
        (b"a APPEND INBOX CATENATE (TEXT {1}\r\nx\r\n", Some("a")),
        (b"a APPEND INBOX {1}\r\nx (\\Seen)\r\n", Some("a")),
        // RFC 3516 §7: a binary section is a part number only; BINARY.SIZE has no partial.
        (b"a FETCH 1 BINARY[1.MIME]\r\n", Some("a")),
        (b"a FETCH 1 BINARY[HEADER]\r\n", Some("a")),
        (b"a FETCH 1 BINARY.SIZE[1]<0.5>\r\n", Some("a")),
        (b"a FETCH 1 BINARY[0]\r\n", Some("a")),
        (b"a ID (\"name\")\r\n", Some("a")),
        (b"a COMPRESS\r\n", Some("a")),
        (b"a COMPRESS LZ4\r\n", Some("a")),
        (b"a COMPRESS DEFLATEX\r\n", Some("a")),
        (b"a COMPRESS DEFLATE DEFLATE\r\n", Some("a")),
        (b"a NOOP", None),
    ];
    for (input, tag) in table {
        let e = command(input).expect_err(&String::from_utf8_lossy(input));
        if e != ParseError::Incomplete {
            assert_eq!(e.tag(), tag, "{:?}: {e:?}", String::from_utf8_lossy(input));
        }
    }
}

#[test]
fn encoder_picks_atom_quoted_or_literal() {
    let table: Vec<(&[u8], &[u8], &[u8])> = vec![
        // (input, as astring, as string)
        (b"INBOX", b"INBOX", b"\"INBOX\""),
        (b"", b"\"\"", b"\"\""),
        (b"NIL", b"\"NIL\"", b"\"NIL\""),
        (b"a b", b"\"a b\"", b"\"a b\""),
        (b"a\"b", b"\"a\\\"b\"", b"\"a\\\"b\""),
        (b"a\\b", b"\"a\\\\b\"", b"\"a\\\\b\""),
        (b"a(b", b"\"a(b\"", b"\"a(b\""),
        (b"x]", b"x]", b"\"x]\""),
        (b"a\r\nb", b"{4}\r\na\r\nb", b"{4}\r\na\r\nb"),
        (b"caf\xc3\xa9", b"{5}\r\ncaf\xc3\xa9", b"{5}\r\ncaf\xc3\xa9"),
    ];
    for (input, astring, string) in table {
        let mut a = Vec::new();
        write_astring(&mut a, input);
        assert_eq!(a, astring, "astring {input:?}");
        let mut s = Vec::new();
        write_string(&mut s, input);
        assert_eq!(s, string, "string {input:?}");
    }
    let mut n = Vec::new();
    write_nstring(&mut n, None);
    assert_eq!(n, b"NIL");
    let v = Value::List(vec![
        Value::List(vec![]),
        Value::Nil,
        Value::List(vec![Value::List(vec![Value::Number(0)])]),
        Value::str("x y"),
    ]);
    assert_eq!(v.to_bytes(), b"(() NIL ((0)) \"x y\")");
}
