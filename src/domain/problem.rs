//! Problem management and incident specifics: the shape of a root-cause
//! analysis, which tickets may be linked (problem ⇄ incident, parent ⇄
//! child), escalation levels, and the plain term matching that ranks known
//! errors where the database has no full-text search (SQLite).

use chrono::{DateTime, Utc};

use super::{
    text::{Description, FieldError},
    Kind, State,
};

/// The most timeline entries one analysis keeps.
pub const MAX_TIMELINE: usize = 200;
/// The most "why?" steps; five is the custom, a few more are tolerated.
pub const MAX_WHYS: usize = 10;
/// The longest timeline entry or "why?" answer, in characters.
pub const MAX_ENTRY_CHARS: usize = 2_000;
/// Escalation levels run from 0 (not escalated) to this.
pub const MAX_ESCALATION_LEVEL: i64 = 10;

/// A root-cause analysis as given by a person: every part optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RcaInput {
    pub timeline: Vec<(DateTime<Utc>, String)>,
    pub cause: String,
    pub five_whys: Vec<String>,
    pub analysis: String,
}

/// One moment of the incident's story.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub text: String,
}

/// A checked root-cause analysis: trimmed texts, the timeline in time order,
/// and at least one part filled in. Its only constructor is [`Rca::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rca {
    timeline: Vec<TimelineEntry>,
    cause: String,
    five_whys: Vec<String>,
    analysis: String,
}

impl Rca {
    /// Checks an analysis; every problem found is reported, by field.
    pub fn parse(input: RcaInput) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let error = |field: &'static str, message: String| FieldError::new(field, message);
        if input.timeline.len() > MAX_TIMELINE {
            errors.push(error(
                "rca.timeline",
                format!(
                    "at most {MAX_TIMELINE} entries (got {})",
                    input.timeline.len()
                ),
            ));
        }
        let mut timeline = Vec::with_capacity(input.timeline.len());
        for (i, (at, text)) in input.timeline.into_iter().enumerate() {
            match entry_text(&text) {
                Ok(text) => timeline.push(TimelineEntry { at, text }),
                Err(message) => {
                    errors.push(error("rca.timeline", format!("entry {}: {message}", i + 1)))
                }
            }
        }
        // Stable: entries of the same moment keep the order they were given in.
        timeline.sort_by_key(|e| e.at);
        if input.five_whys.len() > MAX_WHYS {
            errors.push(error(
                "rca.five_whys",
                format!("at most {MAX_WHYS} steps (got {})", input.five_whys.len()),
            ));
        }
        let mut five_whys = Vec::with_capacity(input.five_whys.len());
        for (i, why) in input.five_whys.into_iter().enumerate() {
            match entry_text(&why) {
                Ok(why) => five_whys.push(why),
                Err(message) => {
                    errors.push(error("rca.five_whys", format!("step {}: {message}", i + 1)))
                }
            }
        }
        let cause = Description::parse("rca.cause", input.cause.trim())
            .map_err(|e| errors.push(e))
            .map(Description::into_inner)
            .unwrap_or_default();
        let analysis = Description::parse("rca.analysis", input.analysis.trim())
            .map_err(|e| errors.push(e))
            .map(Description::into_inner)
            .unwrap_or_default();
        if errors.is_empty()
            && timeline.is_empty()
            && cause.is_empty()
            && five_whys.is_empty()
            && analysis.is_empty()
        {
            errors.push(error(
                "rca",
                "an analysis needs at least one of: timeline, cause, five_whys, analysis".into(),
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            timeline,
            cause,
            five_whys,
            analysis,
        })
    }

    pub fn timeline(&self) -> &[TimelineEntry] {
        &self.timeline
    }

    pub fn cause(&self) -> &str {
        &self.cause
    }

    pub fn five_whys(&self) -> &[String] {
        &self.five_whys
    }

    pub fn analysis(&self) -> &str {
        &self.analysis
    }
}

fn entry_text(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    let chars = text.chars().count();
    if chars > MAX_ENTRY_CHARS {
        return Err(format!(
            "must be at most {MAX_ENTRY_CHARS} characters (got {chars})"
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err("must not contain control characters other than newlines and tabs".into());
    }
    Ok(text.to_string())
}

/// Checks an escalation level: a whole number from 0 to
/// [`MAX_ESCALATION_LEVEL`].
pub fn escalation_level(level: i64) -> Result<i32, FieldError> {
    if (0..=MAX_ESCALATION_LEVEL).contains(&level) {
        i32::try_from(level).map_err(|_| FieldError {
            field: "level".into(),
            message: "out of range".into(),
        })
    } else {
        Err(FieldError {
            field: "level".into(),
            message: format!("must be between 0 and {MAX_ESCALATION_LEVEL} (got {level})"),
        })
    }
}

/// Why two tickets may not be linked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("{number} is {kind_article}, not {expected}")]
    WrongKind {
        number: String,
        kind_article: &'static str,
        expected: &'static str,
    },
    #[error("{0} is {1}: nothing more may be linked to it")]
    Finished(String, State),
    #[error("a ticket cannot be linked to itself")]
    SelfLink,
    #[error("linking {child} under {parent} would make a cycle")]
    Cycle { child: String, parent: String },
    #[error("{parent} is itself a child of {grandparent}: a child cannot be a parent")]
    ParentIsChild { parent: String, grandparent: String },
    #[error("{0} has child incidents of its own: a parent cannot become a child")]
    ChildIsParent(String),
}

fn article(kind: Kind) -> &'static str {
    match kind {
        Kind::Incident => "an incident",
        Kind::ServiceRequest => "a service request",
        Kind::Problem => "a problem",
        Kind::Change => "a change",
    }
}

fn require_kind(ticket: &Linkable<'_>, expected: Kind) -> Result<(), LinkError> {
    if ticket.kind == expected {
        Ok(())
    } else {
        Err(LinkError::WrongKind {
            number: ticket.number.to_string(),
            kind_article: article(ticket.kind),
            expected: article(expected),
        })
    }
}

/// What the link rules need to know of a ticket.
#[derive(Debug, Clone, Copy)]
pub struct Linkable<'a> {
    pub number: &'a str,
    pub kind: Kind,
    pub state: State,
    /// For incidents: the number of the parent incident, if any.
    pub parent: Option<&'a str>,
    /// For incidents: whether child incidents point at this one.
    pub has_children: bool,
}

/// A problem gathers incidents; a finished (closed or cancelled) problem
/// takes no new ones.
pub fn check_problem_link(
    problem: &Linkable<'_>,
    incident: &Linkable<'_>,
) -> Result<(), LinkError> {
    require_kind(problem, Kind::Problem)?;
    require_kind(incident, Kind::Incident)?;
    if problem.state.is_terminal() {
        return Err(LinkError::Finished(problem.number.into(), problem.state));
    }
    Ok(())
}

/// Parent/child incidents form a forest of depth one: a parent has no
/// parent and a child has no children, which also rules out every cycle.
/// Finished incidents take no new links on either side.
pub fn check_parent_link(child: &Linkable<'_>, parent: &Linkable<'_>) -> Result<(), LinkError> {
    require_kind(child, Kind::Incident)?;
    require_kind(parent, Kind::Incident)?;
    if child.number == parent.number {
        return Err(LinkError::SelfLink);
    }
    if parent.parent == Some(child.number) {
        return Err(LinkError::Cycle {
            child: child.number.into(),
            parent: parent.number.into(),
        });
    }
    if let Some(grandparent) = parent.parent {
        return Err(LinkError::ParentIsChild {
            parent: parent.number.into(),
            grandparent: grandparent.into(),
        });
    }
    if child.has_children {
        return Err(LinkError::ChildIsParent(child.number.into()));
    }
    for t in [child, parent] {
        if t.state.is_terminal() {
            return Err(LinkError::Finished(t.number.into(), t.state));
        }
    }
    Ok(())
}

/// Whether a ticket in `state` still needs resolving (neither resolved nor
/// finished) — what "open" means when a problem or a parent resolves.
pub const fn is_open(state: State) -> bool {
    !state.is_resolved() && !state.is_terminal()
}

/// Words too common to say anything about which known error fits.
const STOPWORDS: &[&str] = &[
    "the", "and", "for", "are", "but", "not", "you", "all", "any", "can", "had", "her", "was",
    "one", "our", "out", "has", "have", "with", "this", "that", "from", "they", "been", "into",
    "its", "when", "what", "which", "will", "would", "there", "their", "then", "than", "them",
    "were", "some", "does", "did", "doesn", "isn", "wasn", "after", "before", "again", "also",
    "just", "very", "too", "please", "help", "issue", "problem", "working", "work", "get", "got",
];

/// The search terms of a text: lowercase alphanumeric words of three or
/// more characters, without stop words, each once, in order of appearance,
/// at most `max`. Being alphanumeric only, they are safe to join into a
/// full-text query.
pub fn search_terms(text: &str, max: usize) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for word in words(text) {
        if terms.len() >= max {
            break;
        }
        if word.chars().count() >= 3
            && !STOPWORDS.contains(&word.as_str())
            && !terms.contains(&word)
        {
            terms.push(word);
        }
    }
    terms
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// The texts of a known error, most telling first.
#[derive(Debug, Clone, Copy)]
pub struct KnownErrorText<'a> {
    pub title: &'a str,
    pub symptoms: &'a str,
    pub cause: &'a str,
    pub workaround: &'a str,
}

/// How well a known error matches a list of terms, without a full-text
/// engine (the SQLite fallback).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TermScore {
    /// Distinct terms found anywhere.
    pub matched: usize,
    /// Sum over the matched terms of the weight of the best field each
    /// was found in: title 8, symptoms 4, cause 2, workaround 1.
    pub weight: u32,
}

/// Scores `ke` against `terms` (as from [`search_terms`]): a term matches a
/// word equal to it or, when both have four characters or more, a word one
/// of them starts the other, so `crash` and `crashes` find each other (a
/// crude stand-in for stemming). Rank by [`TermScore`] descending: more distinct terms
/// first, then better placed ones.
pub fn term_score(terms: &[String], ke: KnownErrorText<'_>) -> TermScore {
    let fields: [(Vec<String>, u32); 4] = [
        (words(ke.title).collect(), 8),
        (words(ke.symptoms).collect(), 4),
        (words(ke.cause).collect(), 2),
        (words(ke.workaround).collect(), 1),
    ];
    let mut score = TermScore {
        matched: 0,
        weight: 0,
    };
    for term in terms {
        let best = fields
            .iter()
            .filter(|(words, _)| words.iter().any(|w| word_matches(w, term)))
            .map(|(_, weight)| *weight)
            .max();
        if let Some(weight) = best {
            score.matched += 1;
            score.weight += weight;
        }
    }
    score
}

fn word_matches(word: &str, term: &str) -> bool {
    word == term
        || (word.chars().count().min(term.chars().count()) >= 4
            && (word.starts_with(term) || term.starts_with(word)))
}

/// A score in (0, 1] comparable across one result list: the share of the
/// best possible weight (every term in the title).
pub fn relevance(score: TermScore, terms: usize) -> f32 {
    if terms == 0 {
        return 0.0;
    }
    score.weight as f32 / (terms as f32 * 8.0)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, hour, 0, 0)
            .single()
            .expect("valid time")
    }

    fn incident<'a>(number: &'a str) -> Linkable<'a> {
        Linkable {
            number,
            kind: Kind::Incident,
            state: State::New,
            parent: None,
            has_children: false,
        }
    }

    #[test]
    fn an_analysis_keeps_its_timeline_in_time_order_and_trims_its_texts() {
        let rca = Rca::parse(RcaInput {
            timeline: vec![(at(10), " fixed ".into()), (at(9), "paged".into())],
            cause: "  expired certificate ".into(),
            five_whys: vec!["TLS failed".into(), " nobody renewed it ".into()],
            analysis: String::new(),
        })
        .expect("valid");
        let texts: Vec<&str> = rca.timeline().iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["paged", "fixed"]);
        assert_eq!(rca.cause(), "expired certificate");
        assert_eq!(rca.five_whys()[1], "nobody renewed it");
    }

    #[test]
    fn an_empty_analysis_or_a_blank_step_is_refused_with_every_reason() {
        let empty = Rca::parse(RcaInput::default()).expect_err("empty");
        assert_eq!(empty[0].field, "rca");
        let bad = Rca::parse(RcaInput {
            timeline: vec![(at(1), "  ".into())],
            five_whys: vec!["why".into(); MAX_WHYS + 1],
            ..RcaInput::default()
        })
        .expect_err("bad");
        let fields: Vec<&str> = bad.iter().map(|e| e.field.as_ref()).collect();
        assert!(fields.contains(&"rca.timeline"), "{bad:?}");
        assert!(fields.contains(&"rca.five_whys"), "{bad:?}");
        let long = Rca::parse(RcaInput {
            five_whys: vec!["x".repeat(MAX_ENTRY_CHARS + 1)],
            ..RcaInput::default()
        });
        assert!(long.is_err());
        let control = Rca::parse(RcaInput {
            cause: "bad\u{0}byte".into(),
            ..RcaInput::default()
        });
        assert!(control.is_err());
        let free_form = Rca::parse(RcaInput {
            analysis: "the whole story".into(),
            ..RcaInput::default()
        });
        assert!(free_form.is_ok(), "free-form analysis alone is enough");
    }

    #[test]
    fn escalation_levels_run_from_zero_to_ten() {
        assert_eq!(escalation_level(0), Ok(0));
        assert_eq!(escalation_level(10), Ok(10));
        assert!(escalation_level(-1).is_err());
        assert!(escalation_level(11).is_err());
        assert!(escalation_level(i64::MAX).is_err());
    }

    #[test]
    fn only_incidents_link_to_an_unfinished_problem() {
        let problem = Linkable {
            number: "PRB0000001",
            kind: Kind::Problem,
            state: State::Investigating,
            parent: None,
            has_children: false,
        };
        assert!(check_problem_link(&problem, &incident("INC0000001")).is_ok());
        let request = Linkable {
            kind: Kind::ServiceRequest,
            ..incident("REQ0000001")
        };
        let err = check_problem_link(&problem, &request).expect_err("not an incident");
        assert_eq!(
            err.to_string(),
            "REQ0000001 is a service request, not an incident"
        );
        assert!(matches!(
            check_problem_link(&incident("INC0000002"), &incident("INC0000001")),
            Err(LinkError::WrongKind { .. })
        ));
        let closed = Linkable {
            state: State::Closed,
            ..problem
        };
        assert!(matches!(
            check_problem_link(&closed, &incident("INC0000001")),
            Err(LinkError::Finished(..))
        ));
    }

    #[test]
    fn parent_links_stay_one_level_deep_and_never_cycle() {
        let parent = incident("INC0000001");
        let child = incident("INC0000002");
        assert!(check_parent_link(&child, &parent).is_ok());
        assert_eq!(check_parent_link(&child, &child), Err(LinkError::SelfLink));
        // The parent is already our child: a two-cycle.
        let our_child = Linkable {
            parent: Some("INC0000002"),
            ..parent
        };
        assert!(matches!(
            check_parent_link(&child, &our_child),
            Err(LinkError::Cycle { .. })
        ));
        // The parent is someone else's child.
        let grandchild_parent = Linkable {
            parent: Some("INC0000009"),
            ..parent
        };
        assert!(matches!(
            check_parent_link(&child, &grandchild_parent),
            Err(LinkError::ParentIsChild { .. })
        ));
        let a_parent = Linkable {
            has_children: true,
            ..child
        };
        assert!(matches!(
            check_parent_link(&a_parent, &parent),
            Err(LinkError::ChildIsParent(_))
        ));
        let problem = Linkable {
            kind: Kind::Problem,
            ..parent
        };
        assert!(matches!(
            check_parent_link(&child, &problem),
            Err(LinkError::WrongKind { .. })
        ));
        let cancelled = Linkable {
            state: State::Cancelled,
            ..parent
        };
        assert!(matches!(
            check_parent_link(&child, &cancelled),
            Err(LinkError::Finished(..))
        ));
    }

    #[test]
    fn open_means_neither_resolved_nor_finished() {
        assert!(is_open(State::New));
        assert!(is_open(State::OnHold));
        assert!(!is_open(State::Resolved));
        assert!(!is_open(State::Closed));
        assert!(!is_open(State::Cancelled));
    }

    #[test]
    fn search_terms_drop_noise_and_repeats() {
        assert_eq!(
            search_terms("The VPN drops; VPN client crashes after it's updated!", 10),
            ["vpn", "drops", "client", "crashes", "updated"]
        );
        assert_eq!(search_terms("a an to of", 10), Vec::<String>::new());
        assert_eq!(search_terms("alpha beta gamma", 2), ["alpha", "beta"]);
        assert_eq!(
            search_terms("'; DROP TABLE x; -- | & !", 10),
            ["drop", "table"],
            "only alphanumeric words survive"
        );
    }

    #[test]
    fn the_fallback_ranks_more_terms_first_then_better_placed_ones() {
        let terms = search_terms("outlook crashes on start", 10);
        let title_hit = term_score(
            &terms,
            KnownErrorText {
                title: "Outlook crash on start",
                symptoms: "",
                cause: "",
                workaround: "",
            },
        );
        let buried = term_score(
            &terms,
            KnownErrorText {
                title: "Mail client",
                symptoms: "",
                cause: "",
                workaround: "restart outlook after the crash, then start it",
            },
        );
        let one_term = term_score(
            &terms,
            KnownErrorText {
                title: "Outlook calendar is slow",
                symptoms: "",
                cause: "",
                workaround: "",
            },
        );
        assert_eq!(title_hit.matched, 3);
        assert_eq!(buried.matched, 3);
        assert!(title_hit > buried, "{title_hit:?} vs {buried:?}");
        assert!(buried > one_term, "more terms beat better placement");
        assert!((relevance(title_hit, terms.len()) - 1.0).abs() < f32::EPSILON);
        assert_eq!(relevance(title_hit, 0), 0.0);
    }
}
