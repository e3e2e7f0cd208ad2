//! Row ids: UUIDs, v7 so that ids created later sort later (DESIGN.md §6).
//!
//! Here rather than in `desk` because every layer that writes rows needs
//! them — `store` stages its own seal rows — and `store` may import only
//! `domain`.

use uuid::Uuid;

/// A new time-ordered id.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_7_and_increase() {
        let ids: Vec<Uuid> = (0..100).map(|_| new_id()).collect();
        assert!(ids.iter().all(|id| id.get_version_num() == 7));
        // v7 keeps a counter within the millisecond: order holds in one process.
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
    }
}
