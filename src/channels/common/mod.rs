//! What the chat platforms share, below both so that one never imports the
//! other: text helpers (here) and the deliverer's ticket mirroring
//! (`deliver`). Each platform brings its own markup and API calls; the
//! wording and the order of what is posted, edited and recorded is here.

pub(crate) mod deliver;

use crate::desk::approvals::ApprovalView;

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

/// "Approved by Ada Lovelace, 14:02 UTC" and the like, with names and
/// reasons passed through the platform's `escape`.
pub fn outcome(view: &ApprovalView, escape: fn(&str) -> String) -> String {
    let last = view
        .stages
        .iter()
        .flat_map(|s| s.decisions.iter())
        .max_by_key(|d| d.at);
    let verb = match view.status.as_str() {
        "approved" => "Approved",
        "rejected" => "Rejected",
        "cancelled" => "Cancelled",
        other => other,
    };
    match (last, view.status.as_str()) {
        (_, "cancelled") => "Cancelled with its ticket".into(),
        (Some(d), _)
            if view
                .reason
                .as_deref()
                .is_none_or(|r| r.starts_with("rejected by")) =>
        {
            format!(
                "{verb} by {}, {} UTC",
                escape(&d.approver.name),
                d.at.format("%H:%M")
            )
        }
        (_, _) => match &view.reason {
            Some(reason) => format!("{verb}: {}", escape(reason)),
            None => verb.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_keeps_short_text_and_marks_where_it_cut() {
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("a longer title", 8), "a longe…");
        assert_eq!(cut("ééééé", 3).chars().count(), 3);
    }
}
