//! One value type both ways: whatever the server's encoder writes, the client's reader
//! reads back as the same value (strings as strings whatever their bytes, quoted or
//! literal; numbers as numbers; atoms, NIL and nested lists as themselves).

use mini_imap::value::{Value, parse_items};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Nil),
        any::<u64>().prop_map(Value::Number),
        // An atom as servers send them (flags, keywords): not NIL, not all digits.
        "\\\\?[A-Za-z$][A-Za-z0-9$._-]{0,12}"
            .prop_filter("NIL is not an atom", |a| !a.eq_ignore_ascii_case("NIL"))
            .prop_map(Value::Atom),
        // Any octets but NUL: quoted when they can be, a literal otherwise.
        proptest::collection::vec(1u8..=255, 0..80).prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        proptest::collection::vec(inner, 0..6).prop_map(Value::List)
    })
}

proptest! {
    #[test]
    fn what_is_written_reads_back(values in proptest::collection::vec(value(), 1..5)) {
        let mut line = Vec::new();
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                line.push(b' ');
            }
            v.encode(&mut line);
        }
        prop_assert_eq!(parse_items(&line), values);
    }
}
