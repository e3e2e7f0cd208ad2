//! The tamper-evident audit log: a SHA-256 hash chain.
//!
//! Each entry's hash covers the previous entry's hash and its own content, so
//! altering, inserting or deleting any entry breaks every hash after it.
//! Storage is someone else's job; this module only computes and checks.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The "previous hash" of the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// The hash of an entry: SHA-256(prev ‖ content).
pub fn chain_hash(prev: &[u8; 32], content: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev);
    hasher.update(content);
    hasher.finalize().into()
}

/// One stored entry, borrowed from wherever it was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditEntry<'a> {
    pub seq: i64,
    pub content: &'a [u8],
    /// Stored as a slice because the store hands back arbitrary bytes; a
    /// wrong length simply fails verification.
    pub hash: &'a [u8],
}

/// Why a chain failed verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The stored hash does not match the content and the previous entry.
    #[error("audit chain broken at entry {seq}: content or hash was altered")]
    BrokenAt { seq: i64 },
    /// Sequence numbers are not consecutive from 1.
    #[error("audit chain has a gap: expected entry {expected}, found {found}")]
    Gap { expected: i64, found: i64 },
}

/// Verifies a whole chain, given in sequence order from entry 1, and returns
/// how many entries were checked.
///
/// Deleting entries from the *end* cannot be detected from the entries
/// alone; callers that care must compare the count or last hash with an
/// anchor kept elsewhere.
pub fn verify_chain<'a>(
    entries: impl IntoIterator<Item = AuditEntry<'a>>,
) -> Result<u64, ChainError> {
    let mut prev = GENESIS;
    let mut checked: u64 = 0;
    let mut expected: i64 = 1;
    for entry in entries {
        if entry.seq != expected {
            return Err(ChainError::Gap {
                expected,
                found: entry.seq,
            });
        }
        let hash = chain_hash(&prev, entry.content);
        if entry.hash != hash.as_slice() {
            return Err(ChainError::BrokenAt { seq: entry.seq });
        }
        prev = hash;
        checked += 1;
        expected = expected.saturating_add(1);
    }
    Ok(checked)
}

/// Deterministic JSON bytes for hashing: compact, with object keys sorted
/// recursively.
///
/// Sorting is done here rather than relying on `serde_json`'s map type,
/// because another crate enabling `preserve_order` would silently change the
/// bytes and break every existing chain.
pub fn canonical_content(value: &Value) -> Vec<u8> {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out.into_bytes()
}

/// An entry's canonical content without its sequence number: the text on
/// either side of where the number goes.
///
/// Why: an entry's number is decided only where its organization's chain
/// head is locked — on Postgres inside COMMIT, in SQL — long after the rest
/// of the content is known. The content is canonicalized here, once, and
/// the lock holder only puts the number between the parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqSplit {
    pub before_seq: String,
    pub after_seq: String,
}

impl SeqSplit {
    /// The canonical content with `seq` in place.
    pub fn join(&self, seq: i64) -> String {
        format!("{}{seq}{}", self.before_seq, self.after_seq)
    }
}

/// The key of an entry's sequence number in its content.
pub const SEQ_KEY: &str = "seq";

/// [`canonical_content`] of `fields` plus a top-level [`SEQ_KEY`], split
/// where that key's value goes (a `seq` already in `fields` is replaced).
/// The split follows the structure, not a search of the text, so no value
/// can be mistaken for the number.
pub fn canonical_split(fields: &Map<String, Value>) -> SeqSplit {
    let mut entries: Vec<(&str, Option<&Value>)> = fields
        .iter()
        .filter(|(key, _)| key.as_str() != SEQ_KEY)
        .map(|(key, value)| (key.as_str(), Some(value)))
        .collect();
    entries.push((SEQ_KEY, None));
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut before_seq = String::from("{");
    let mut after_seq = String::new();
    let mut out = &mut before_seq;
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_key(key, out);
        match value {
            Some(value) => write_canonical(value, out),
            None => out = &mut after_seq,
        }
    }
    out.push('}');
    SeqSplit {
        before_seq,
        after_seq,
    }
}

fn write_key(key: &str, out: &mut String) {
    // Reuse serde_json's string escaping by printing the key as a JSON
    // string value.
    out.push_str(&Value::from(key).to_string());
    out.push(':');
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_key(key, out);
                write_canonical(item, out);
            }
            out.push('}');
        }
        // Scalars print the same whatever the map implementation.
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    struct Row {
        seq: i64,
        content: Vec<u8>,
        hash: Vec<u8>,
    }

    fn build(contents: &[Vec<u8>]) -> Vec<Row> {
        let mut prev = GENESIS;
        let mut seq = 0;
        contents
            .iter()
            .map(|content| {
                prev = chain_hash(&prev, content);
                seq += 1;
                Row {
                    seq,
                    content: content.clone(),
                    hash: prev.to_vec(),
                }
            })
            .collect()
    }

    fn verify(rows: &[Row]) -> Result<u64, ChainError> {
        verify_chain(rows.iter().map(|r| AuditEntry {
            seq: r.seq,
            content: &r.content,
            hash: &r.hash,
        }))
    }

    #[test]
    fn empty_chain_verifies() {
        assert_eq!(verify(&[]), Ok(0));
    }

    #[test]
    fn chain_hash_is_sha256_of_prev_and_content() {
        // SHA-256 of 32 zero bytes followed by "abc", computed independently.
        let expected = Sha256::digest([&GENESIS[..], b"abc"].concat());
        assert_eq!(chain_hash(&GENESIS, b"abc").as_slice(), expected.as_slice());
    }

    #[test]
    fn truncated_hash_is_broken() {
        let mut rows = build(&[b"a".to_vec()]);
        rows[0].hash.pop();
        assert_eq!(verify(&rows), Err(ChainError::BrokenAt { seq: 1 }));
    }

    #[test]
    fn canonical_content_sorts_keys_recursively() {
        let value = json!({"b": {"z": [1, {"y": null, "x": "\"q\""}], "a": true}, "a": 1.5});
        assert_eq!(
            String::from_utf8(canonical_content(&value)).ok().as_deref(),
            Some(r#"{"a":1.5,"b":{"a":true,"z":[1,{"x":"\"q\"","y":null}]}}"#)
        );
    }

    #[test]
    fn canonical_split_surrounds_the_sequence_number() {
        let fields: Map<String, Value> = [
            ("subject", "INC0000001"),
            ("action", "ticket.created"),
            ("seq", "9"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_string(), json!(value)))
        .collect();
        let split = canonical_split(&fields);
        assert_eq!(split.before_seq, r#"{"action":"ticket.created","seq":"#);
        assert_eq!(split.after_seq, r#","subject":"INC0000001"}"#);
        assert_eq!(
            split.join(42),
            r#"{"action":"ticket.created","seq":42,"subject":"INC0000001"}"#
        );
        assert_eq!(canonical_split(&Map::new()).join(-1), r#"{"seq":-1}"#);
    }

    /// Any JSON value, with keys and strings that sort next to, contain or
    /// are `seq`, and quotes and escapes that a text search could trip on.
    fn json_value() -> impl Strategy<Value = Value> {
        let text = || {
            prop_oneof![
                Just("seq".to_string()),
                Just("seq\"".to_string()),
                Just(r#","seq":0,"#.to_string()),
                "se[a-z]?",
                ".{0,8}",
            ]
        };
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            text().prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                proptest::collection::vec((text(), inner), 0..6)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    fn contents() -> impl Strategy<Value = Vec<Vec<u8>>> {
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..40), 1..12)
    }

    proptest! {
        #[test]
        fn built_chain_verifies(contents in contents()) {
            let rows = build(&contents);
            prop_assert_eq!(verify(&rows), Ok(contents.len() as u64));
        }

        #[test]
        fn flipped_byte_is_detected_at_its_entry(
            contents in contents(),
            entry in any::<prop::sample::Index>(),
            byte in any::<prop::sample::Index>(),
            bit in 0u8..8,
            in_hash in any::<bool>(),
        ) {
            let mut rows = build(&contents);
            let i = entry.index(rows.len());
            let target = if in_hash { &mut rows[i].hash } else { &mut rows[i].content };
            let j = byte.index(target.len());
            target[j] ^= 1 << bit;
            prop_assert_eq!(verify(&rows), Err(ChainError::BrokenAt { seq: i as i64 + 1 }));
        }

        #[test]
        fn removed_entry_is_a_gap(contents in contents(), entry in any::<prop::sample::Index>()) {
            let mut rows = build(&contents);
            let i = entry.index(rows.len());
            rows.remove(i);
            let result = verify(&rows);
            if i == contents.len() - 1 {
                // A removed tail is undetectable without an external anchor.
                prop_assert_eq!(result, Ok(rows.len() as u64));
            } else {
                let expected = i as i64 + 1;
                prop_assert_eq!(result, Err(ChainError::Gap { expected, found: expected + 1 }));
            }
        }

        #[test]
        fn split_content_rejoins_to_the_canonical_content(
            pairs in proptest::collection::vec(("seq|se[a-z]?|[a-z\"]{0,5}", json_value()), 0..8),
            seq in any::<i64>(),
        ) {
            let fields: Map<String, Value> = pairs.into_iter().collect();
            let mut whole = fields.clone();
            whole.insert(SEQ_KEY.to_string(), Value::from(seq));
            let joined = canonical_split(&fields).join(seq);
            let canonical = canonical_content(&Value::Object(whole));
            prop_assert_eq!(joined.as_bytes(), canonical.as_slice());
        }

        #[test]
        fn canonical_content_ignores_insertion_order(
            pairs in proptest::collection::btree_map("[a-z]{1,6}", any::<i64>(), 0..10),
            nested in proptest::collection::btree_map("[a-z]{1,6}", "[ -~]{0,8}", 0..5),
        ) {
            let build = |reverse: bool| {
                let mut inner = serde_json::Map::new();
                let mut outer = serde_json::Map::new();
                let nested: Vec<_> = if reverse { nested.iter().rev().collect() } else { nested.iter().collect() };
                for (k, v) in nested {
                    inner.insert(k.clone(), json!(v));
                }
                let pairs: Vec<_> = if reverse { pairs.iter().rev().collect() } else { pairs.iter().collect() };
                for (k, v) in pairs {
                    outer.insert(k.clone(), json!([v, Value::Object(inner.clone())]));
                }
                Value::Object(outer)
            };
            let forward = canonical_content(&build(false));
            prop_assert_eq!(&forward, &canonical_content(&build(true)));
            // The canonical form is itself valid JSON describing the same value.
            let reparsed: Value = serde_json::from_slice(&forward)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(reparsed, build(false));
        }
    }
}
