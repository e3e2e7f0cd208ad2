//! Mutation fuzzing on stable Rust, for every parser that reads bytes from
//! outside (mail, chat payloads, alert webhooks, imports). Test-only.
//!
//! Random bytes rarely get past a parser's first check, so each input is a
//! real sample (a seed) changed by a few edits — bytes flipped, deleted,
//! duplicated, or replaced by tokens the format cares about (quotes,
//! braces, MIME boundaries, huge numbers). proptest draws the edits and,
//! when a target panics, shrinks them to the smallest failing input.
//!
//! `SWITCHBOARD_FUZZ_CASES` sets the inputs per target: a few thousand by
//! default so `cargo test` stays quick, 1,000,000 in `scripts/fuzz`
//! (RELIABILITY.md has the figures).

use std::sync::atomic::{AtomicU64, Ordering};

use proptest::{
    collection::vec,
    prelude::*,
    test_runner::{Config, TestRunner},
};

/// Tokens worth splicing into any text format.
const COMMON_TOKENS: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"\0",
    b"\xff\xfe",
    b"\xe2\x80",
    b"\r\n",
    b"\n\n",
    b"%",
    b"%zz",
    b"&amp;",
    b"<",
    b"-1",
    b"0",
    b"18446744073709551616",
    b"1e999",
    b"null",
    b"true",
    b"\"\"",
    b"\\u0000",
    b"\\ud800",
    b"9999-99-99T99:99:99Z",
];

/// How many inputs each target gets.
pub fn cases() -> u32 {
    std::env::var("SWITCHBOARD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000)
}

/// One change to a seed; positions are taken modulo the input's length.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Delete(usize, usize),
    Duplicate(usize, usize),
    Token(usize, usize),
    Truncate(usize),
}

fn edit(tokens: usize) -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Edit::Flip(at, byte)),
        (any::<usize>(), 1..64usize).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<usize>(), 1..256usize).prop_map(|(at, n)| Edit::Duplicate(at, n)),
        (any::<usize>(), 0..tokens).prop_map(|(at, t)| Edit::Token(at, t)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(mut input: Vec<u8>, edits: &[Edit], tokens: &[&[u8]]) -> Vec<u8> {
    for edit in edits {
        let len = input.len().max(1);
        match *edit {
            Edit::Flip(at, byte) => {
                if let Some(b) = input.get_mut(at % len) {
                    *b = byte;
                }
            }
            Edit::Delete(at, n) => {
                let at = at % len;
                let end = (at + n).min(input.len());
                if at < end {
                    input.drain(at..end);
                }
            }
            Edit::Duplicate(at, n) => {
                let at = at % len;
                let end = (at + n).min(input.len());
                if at < end {
                    let copy = input[at..end].to_vec();
                    input.splice(at..at, copy);
                }
            }
            Edit::Token(at, t) => {
                let at = (at % len).min(input.len());
                if let Some(token) = tokens.get(t) {
                    input.splice(at..at, token.iter().copied());
                }
            }
            Edit::Truncate(at) => input.truncate(at % len),
        }
    }
    input
}

/// Feeds `target` [`cases`] mutations of `seeds` (with `tokens` of the
/// format beside the common ones). `target` answers whether it accepted the
/// input; a panic anywhere fails the test with the smallest input found,
/// and so does a run in which nothing was accepted — the seeds would then
/// no longer reach past the first check, and the fuzzing would prove little.
pub fn run(seeds: &[&[u8]], tokens: &[&[u8]], target: impl Fn(&[u8]) -> bool) {
    assert!(!seeds.is_empty(), "a fuzz target needs seeds");
    let tokens: Vec<&[u8]> = COMMON_TOKENS.iter().chain(tokens).copied().collect();
    let seeds: Vec<Vec<u8>> = seeds.iter().map(|s| s.to_vec()).collect();
    // No edits at all is one of the draws: the seeds themselves run too.
    let strategy = (0..seeds.len(), vec(edit(tokens.len()), 0..6));
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    });
    let accepted = AtomicU64::new(0);
    let result = runner.run(&strategy, |(seed, edits)| {
        let input = apply(seeds[seed].clone(), &edits, &tokens);
        if target(&input) {
            accepted.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("fuzz target failed: {failure}");
    }
    assert!(
        accepted.load(Ordering::Relaxed) > 0,
        "no input was accepted: the seeds no longer parse"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_stay_in_bounds_and_change_the_input() {
        let tokens: &[&[u8]] = &[b"XY"];
        let seed = b"hello".to_vec();
        assert_eq!(
            apply(seed.clone(), &[Edit::Token(2, 0)], tokens),
            b"heXYllo"
        );
        assert_eq!(apply(seed.clone(), &[Edit::Delete(4, 60)], tokens), b"hell");
        assert_eq!(
            apply(seed.clone(), &[Edit::Duplicate(0, 2)], tokens),
            b"hehello"
        );
        assert_eq!(apply(seed.clone(), &[Edit::Truncate(7)], tokens), b"he");
        assert_eq!(
            apply(Vec::new(), &[Edit::Flip(3, 1), Edit::Delete(0, 9)], tokens),
            b""
        );
    }

    #[test]
    #[should_panic(expected = "fuzz target failed")]
    fn a_panicking_target_fails_the_run() {
        run(&[b"seed"], &[], |input| {
            assert!(input.len() < 6, "too long");
            true
        });
    }
}
