//! Properties of the command grammar: it never panics, and encode∘parse is the identity.

use mini_pop::command::{AuthStart, Command};
use mini_pop::parse;
use proptest::prelude::*;
use yubin_core::Secret;

fn command() -> impl Strategy<Value = Command> {
    let name = "[!-~\u{a0}-\u{3000}]{1,60}";
    let number = any::<u32>();
    prop_oneof![
        name.prop_map(Command::User),
        "[ -~]{1,100}".prop_map(|p| Command::Pass(Secret::from(p))),
        ("[!-~]{1,40}", "[0-9a-f]{32}").prop_map(|(user, digest)| Command::Apop { user, digest }),
        Just(Command::Auth(None)),
        (
            "[A-Z0-9_-]{1,20}",
            proptest::option::of("[A-Za-z0-9+/]{1,100}={0,2}|=")
        )
            .prop_map(|(mechanism, ir)| Command::Auth(Some(AuthStart {
                mechanism,
                initial: ir.map(Secret::from),
            }))),
        Just(Command::Stat),
        proptest::option::of(number).prop_map(Command::List),
        number.prop_map(Command::Retr),
        number.prop_map(Command::Dele),
        Just(Command::Noop),
        Just(Command::Rset),
        Just(Command::Quit),
        (number, number).prop_map(|(msg, lines)| Command::Top { msg, lines }),
        proptest::option::of(number).prop_map(Command::Uidl),
        Just(Command::Capa),
        Just(Command::Stls),
    ]
}

proptest! {
    #[test]
    fn parse_never_panics(line in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse::command(&line);
        let _ = parse::sasl_response(&line);
    }

    #[test]
    fn parse_never_panics_on_near_commands(
        kw in "(?i)(user|pass|apop|auth|stat|list|retr|dele|noop|rset|quit|top|uidl|capa|stls)",
        rest in "[ 0-9a-zA-Z=+/\\-]{0,60}",
    ) {
        let _ = parse::command(format!("{kw}{rest}").as_bytes());
    }

    #[test]
    fn encode_then_parse_round_trips(cmd in command()) {
        let line = cmd.encode();
        prop_assert_eq!(parse::command(&line), Ok(cmd));
    }
}
