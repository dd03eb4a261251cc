//! Properties of the SMTP grammar: it never panics, and encode∘parse is the identity.

use mini_smtp::command::{Body, Command, MailParams};
use mini_smtp::parse;
use proptest::prelude::*;
use yubin_core::Secret;

fn address() -> impl Strategy<Value = String> {
    (
        "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,12}(\\.[a-z0-9]{1,8}){0,2}",
        "[a-z0-9]{1,10}(\\.[a-z]{2,6}){0,2}",
    )
        .prop_map(|(local, domain)| format!("{local}@{domain}"))
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        "[!-~]{1,40}".prop_map(Command::Ehlo),
        "[!-~]{1,40}".prop_map(Command::Helo),
        (
            proptest::option::of(address()),
            proptest::option::of(0u64..1 << 40),
            proptest::option::of(prop_oneof![Just(Body::SevenBit), Just(Body::EightBitMime)]),
            any::<bool>()
        )
            .prop_map(|(from, size, body, smtputf8)| Command::Mail {
                from,
                params: MailParams {
                    size,
                    body,
                    smtputf8
                }
            }),
        address().prop_map(|to| Command::Rcpt { to }),
        Just(Command::Data),
        Just(Command::Rset),
        Just(Command::Noop),
        Just(Command::Help),
        Just(Command::Quit),
        Just(Command::StartTls),
        "[ -~]{1,40}"
            .prop_filter("not blank", |s| !s.trim().is_empty())
            .prop_map(Command::Vrfy),
        (
            "[A-Z0-9_-]{1,20}",
            proptest::option::of("[A-Za-z0-9+/]{1,60}={0,2}")
        )
            .prop_map(|(mechanism, ir)| {
                Command::Auth {
                    mechanism,
                    initial: ir.map(Secret::from),
                }
            }),
    ]
}

proptest! {
    #[test]
    fn parse_never_panics(line in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse::command(&line);
    }

    #[test]
    fn encode_then_parse_round_trips(cmd in command()) {
        prop_assert_eq!(parse::command(&cmd.encode()), Ok(cmd));
    }
}
