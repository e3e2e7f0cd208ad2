//! Chat and mail platforms: translate platform input into desk calls and
//! render desk output (outbox rows) into platform messages. No business
//! rules here — those are the desk's. The HTTP endpoints that receive the
//! platforms' requests live in `http/`; the deliverers run in the outbox
//! dispatcher.

pub mod discord;
pub mod slack;

/// `text` cut to at most `max` characters, with `…` where it was cut
/// (platforms refuse over-long labels and titles).
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}
