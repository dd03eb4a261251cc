//! Words for people: counts with the right plural.

/// `n` and the noun, in the plural unless `n` is 1: "1 message", "3 messages".
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(count(0u32, "message"), "0 messages");
        assert_eq!(count(1u32, "message"), "1 message");
        assert_eq!(count(2u64, "byte"), "2 bytes");
    }
}
