//! Rules about the code, checked by reading `src/` (in the spirit of
//! rust-analyzer's `xtask/src/tidy.rs`): which layer may import which, one
//! chat platform never importing the other, and long files saying why they
//! are one file. A rule written only in a module doc drifts; a rule that
//! fails the build with the file, the line and the import stays true.
//!
//! Imports are found in the source text, with comments and string literals
//! blanked out: `use` trees (`use crate::{a::b, c}`, `use super::…`
//! resolved against the file's module and any inline `mod` around it), and
//! `crate::x::…` / `super::…` paths written anywhere in code. No new
//! dependency: std reads the files, a small lexer does the rest.

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

/// What a layer may import of the project. A file may always import its
/// own layer.
enum May {
    /// Only these modules (besides its own layer).
    Only(&'static [&'static str]),
    /// Anything but these modules.
    Not(&'static [&'static str]),
}

struct Rule {
    /// How the allowlist names the rule.
    name: &'static str,
    /// The module path the rule governs (`channels::slack`); empty: every file.
    layer: &'static str,
    /// Modules exempt from a rule that governs every file.
    except: &'static [&'static str],
    may: May,
}

/// The layer rules of DESIGN.md §2 and ARCHITECTURE.md.
const RULES: &[Rule] = &[
    Rule {
        name: "domain",
        layer: "domain",
        except: &[],
        may: May::Only(&[]),
    },
    Rule {
        name: "store",
        layer: "store",
        except: &[],
        may: May::Only(&["domain"]),
    },
    Rule {
        name: "export",
        layer: "export",
        except: &[],
        may: May::Only(&["domain"]),
    },
    Rule {
        name: "runtime",
        layer: "runtime",
        except: &[],
        may: May::Only(&["domain", "store", "metrics"]),
    },
    Rule {
        name: "desk",
        layer: "desk",
        except: &[],
        may: May::Not(&[
            "http", "channels", "workers", "runtime", "app", "console", "cli",
        ]),
    },
    Rule {
        name: "workers",
        layer: "workers",
        except: &[],
        may: May::Not(&["channels", "http", "app", "console", "cli"]),
    },
    Rule {
        name: "channels-edge",
        layer: "channels",
        except: &[],
        may: May::Not(&["http", "workers", "app", "console", "cli"]),
    },
    Rule {
        name: "console",
        layer: "console",
        except: &[],
        may: May::Only(&["desk", "domain", "config", "runtime"]),
    },
    Rule {
        name: "slack",
        layer: "channels::slack",
        except: &[],
        may: May::Not(&["channels::discord"]),
    },
    Rule {
        name: "discord",
        layer: "channels::discord",
        except: &[],
        may: May::Not(&["channels::slack"]),
    },
    // `app` wires the platforms in (deliverers, routers, gateways) and the
    // command line signs test payloads with them; nothing else needs them.
    Rule {
        name: "channels",
        layer: "",
        except: &["app", "cli", "channels"],
        may: May::Not(&["channels"]),
    },
];

/// The rule name of the long-file check.
const WHY_ONE_FILE: &str = "why-one-file";
const MAX_LINES: usize = 1000;

/// Accepted exceptions: a file and a rule name each, with the reason above
/// it. None today. An entry that no longer matches a violation fails the
/// test, so the list never outlives its reasons.
const ALLOWED: &[(&str, &str)] = &[];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Violation {
    file: String,
    line: usize,
    rule: &'static str,
    message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: [{}] {}",
            self.file, self.line, self.rule, self.message
        )
    }
}

#[test]
fn layers_import_only_what_they_may_and_long_files_say_why() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    assert!(
        files.len() > 50,
        "expected the project's sources under {}, found {} files",
        root.join("src").display(),
        files.len()
    );
    let mut found = Vec::new();
    for path in &files {
        let text =
            fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let relative = path
            .strip_prefix(root)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        found.extend(check_file(&relative, &text));
    }
    let mut report = Vec::new();
    let mut used = BTreeSet::new();
    for v in &found {
        match ALLOWED
            .iter()
            .position(|(file, rule)| *file == v.file && *rule == v.rule)
        {
            Some(i) => {
                used.insert(i);
            }
            None => report.push(v.to_string()),
        }
    }
    for (i, (file, rule)) in ALLOWED.iter().enumerate() {
        if !used.contains(&i) {
            report.push(format!(
                "{file}: the allowlist entry for rule [{rule}] matches nothing any more: delete it from ALLOWED in tests/tidy.rs"
            ));
        }
    }
    assert!(
        report.is_empty(),
        "tidy found {} problem(s):\n{}",
        report.len(),
        report.join("\n")
    );
}

/// The desk's feature files call each other's helpers, so an import circle
/// creeps in easily (issue 21 untangled one through five files): shared
/// helpers belong to the module they are about, and a feature reaches
/// another's side effects through a hook (`Desk::sla_on_*`,
/// `Desk::mail_on_public_comment`).
#[test]
fn desk_modules_import_each_other_without_a_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let desk = root.join("src/desk");
    let mut files = Vec::new();
    rust_files(&desk, &mut files);
    let modules: BTreeSet<String> = fs::read_dir(&desk)
        .unwrap_or_else(|e| panic!("reading {}: {e}", desk.display()))
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            match name.strip_suffix(".rs") {
                Some("mod") => None,
                Some(stem) => Some(stem.to_string()),
                None => e.path().is_dir().then_some(name),
            }
        })
        .collect();
    assert!(
        modules.len() > 20,
        "expected the desk's modules, found {modules:?}"
    );
    let mut edges: BTreeSet<(String, String)> = BTreeSet::new();
    for path in &files {
        let text =
            fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let relative = path
            .strip_prefix(root)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        let module = module_of(&relative);
        let Some(from) = module.get(1) else { continue };
        for import in imports(&module, &text) {
            if let [first, to, ..] = import.path.as_slice() {
                if first == "desk" && to != from && modules.contains(to) {
                    edges.insert((from.clone(), to.clone()));
                }
            }
        }
    }
    if let Some(cycle) = find_cycle(&modules, &edges) {
        panic!(
            "desk modules import each other in a circle: {}",
            cycle.join(" -> ")
        );
    }
}

/// A cycle in the directed graph, as the modules along it (first repeated
/// last), if there is one.
fn find_cycle(nodes: &BTreeSet<String>, edges: &BTreeSet<(String, String)>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeSet<(String, String)>,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for (_, to) in edges.iter().filter(|(from, _)| from == node) {
            if let Some(cycle) = visit(to, edges, done, path) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    nodes
        .iter()
        .find_map(|n| visit(n, edges, &mut done, &mut Vec::new()))
}

#[test]
fn the_cycle_finder_finds_a_circle_and_passes_a_chain() {
    let nodes: BTreeSet<String> = ["a", "b", "c"].map(String::from).into();
    let edge = |a: &str, b: &str| (a.to_string(), b.to_string());
    let chain: BTreeSet<_> = [edge("a", "b"), edge("b", "c")].into();
    assert_eq!(find_cycle(&nodes, &chain), None);
    let circle: BTreeSet<_> = [edge("a", "b"), edge("b", "c"), edge("c", "a")].into();
    assert_eq!(
        find_cycle(&nodes, &circle),
        Some(["a", "b", "c", "a"].map(String::from).to_vec())
    );
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|e| panic!("reading directory {}: {e}", dir.display()));
    let mut paths: Vec<PathBuf> = entries
        .map(|e| {
            e.unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
                .path()
        })
        .collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// Every violation in one file; `file` is its path from the crate root
/// (`src/channels/slack/deliver.rs`).
fn check_file(file: &str, text: &str) -> Vec<Violation> {
    let module = module_of(file);
    let mut out = Vec::new();
    for import in imports(&module, text) {
        for rule in RULES {
            if let Some(message) = rule.refuses(&module, &import.path) {
                out.push(Violation {
                    file: file.to_string(),
                    line: import.line,
                    rule: rule.name,
                    message,
                });
            }
        }
    }
    let lines = text.lines().count();
    if lines > MAX_LINES && !says_why_one_file(text) {
        out.push(Violation {
            file: file.to_string(),
            line: 1,
            rule: WHY_ONE_FILE,
            message: format!(
                "{lines} lines: split it, or say why in a top module-doc line starting `//! Why one file:`"
            ),
        });
    }
    out
}

fn says_why_one_file(text: &str) -> bool {
    text.lines()
        .map(str::trim_start)
        .skip_while(|l| l.is_empty())
        .take_while(|l| l.starts_with("//!"))
        .any(|l| l.starts_with("//! Why one file:"))
}

/// `src/channels/slack/deliver.rs` → `channels::slack::deliver`;
/// `src/channels/mod.rs` → `channels`; `src/lib.rs` → the crate root.
fn module_of(file: &str) -> Vec<String> {
    let inner = file.strip_prefix("src/").unwrap_or(file);
    let inner = inner.strip_suffix(".rs").unwrap_or(inner);
    let mut parts: Vec<String> = inner.split('/').map(String::from).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// `a` is `b` or inside it, segment by segment.
fn within(a: &[String], b: &str) -> bool {
    let b: Vec<&str> = b.split("::").filter(|s| !s.is_empty()).collect();
    a.len() >= b.len() && a.iter().zip(&b).all(|(x, y)| x == y)
}

impl Rule {
    /// Why `module` may not import `target`, if it may not.
    fn refuses(&self, module: &[String], target: &[String]) -> Option<String> {
        if !within(module, self.layer) || self.except.iter().any(|e| within(module, e)) {
            return None;
        }
        // A file may import its own layer; for a rule over every file,
        // its own top-level module.
        let own = if self.layer.is_empty() {
            module.first().cloned().unwrap_or_default()
        } else {
            self.layer.to_string()
        };
        if target.is_empty() || within(target, &own) {
            return None;
        }
        let refused = match self.may {
            May::Only(allowed) => !allowed.iter().any(|a| within(target, a)),
            May::Not(refused) => refused.iter().any(|r| within(target, r)),
        };
        refused.then(|| {
            let who = if self.layer.is_empty() {
                module.join("::")
            } else {
                self.layer.to_string()
            };
            let may = match self.may {
                May::Only([]) => "nothing of the project".to_string(),
                May::Only(allowed) => format!("only {}", allowed.join(", ")),
                May::Not(refused) => format!("no {}", refused.join(", ")),
            };
            format!("`crate::{}`: {who} may import {may}", target.join("::"))
        })
    }
}

/// A path of the project a file names, resolved to start at the crate root.
#[derive(Debug, PartialEq)]
struct Import {
    path: Vec<String>,
    line: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    Sep,
    Punct(char),
}

/// Tokens with their line numbers; comments, strings, characters and
/// numbers are left out, lifetimes are read as identifiers.
fn lex(text: &str) -> Vec<(Tok, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if c == '"' {
            i = skip_string(&chars, i + 1, &mut line);
        } else if c == '\'' {
            if at(i + 1) == '\\' {
                // An escaped character literal: up to the closing quote.
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                // A lifetime: the name follows as an identifier.
                i += 1;
            }
        } else if c.is_ascii_digit() {
            while i < chars.len()
                && (chars[i].is_alphanumeric()
                    || chars[i] == '_'
                    || (chars[i] == '.' && at(i + 1).is_ascii_digit()))
            {
                i += 1;
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let raw_prefix = matches!(word.as_str(), "r" | "br" | "cr");
            if raw_prefix && (at(i) == '"' || (at(i) == '#' && matches!(at(i + 1), '"' | '#'))) {
                i = skip_raw_string(&chars, i, &mut line);
            } else if matches!(word.as_str(), "b" | "c") && at(i) == '"' {
                i = skip_string(&chars, i + 1, &mut line);
            } else if word == "b" && at(i) == '\'' {
                // A byte literal: read as the character literal it is.
                continue;
            } else if word == "r" && at(i) == '#' {
                // A raw identifier, `r#type`: the name follows.
                i += 1;
            } else {
                out.push((Tok::Ident(word), line));
            }
        } else if c == ':' && at(i + 1) == ':' {
            out.push((Tok::Sep, line));
            i += 2;
        } else {
            out.push((Tok::Punct(c), line));
            i += 1;
        }
    }
    out
}

/// Past a string whose opening quote is before `i`.
fn skip_string(chars: &[char], mut i: usize, line: &mut usize) -> usize {
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if chars.get(i + 1) == Some(&'\n') {
                    *line += 1;
                }
                i += 2;
            }
            '"' => return i + 1,
            '\n' => {
                *line += 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    i
}

/// Past a raw string; `i` is at its hashes or opening quote.
fn skip_raw_string(chars: &[char], mut i: usize, line: &mut usize) -> usize {
    let mut hashes = 0;
    while chars.get(i) == Some(&'#') {
        hashes += 1;
        i += 1;
    }
    i += 1;
    while i < chars.len() {
        if chars[i] == '\n' {
            *line += 1;
        }
        if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
            return i + 1 + hashes;
        }
        i += 1;
    }
    i
}

/// Every project path `text` names, as seen from `module`.
fn imports(module: &[String], text: &str) -> Vec<Import> {
    let toks = lex(text);
    let ident = |i: usize| match toks.get(i) {
        Some((Tok::Ident(s), _)) => Some(s.as_str()),
        _ => None,
    };
    let is = |i: usize, t: &Tok| toks.get(i).map(|(x, _)| x) == Some(t);
    let mut out = Vec::new();
    // Inline modules around the position: (name, brace depth inside it).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    // Inside a `macro_rules!` body (its brace depth): `super` there is the
    // module the macro is expanded in, which this reading cannot know.
    let mut macro_body: Option<usize> = None;
    let mut i = 0;
    while i < toks.len() {
        let here = || {
            let mut m = module.to_vec();
            m.extend(inline.iter().map(|(name, _)| name.clone()));
            m
        };
        match &toks[i].0 {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                if macro_body == Some(depth) {
                    macro_body = None;
                }
                depth = depth.saturating_sub(1);
            }
            Tok::Ident(w)
                if w == "macro_rules"
                    && is(i + 1, &Tok::Punct('!'))
                    && is(i + 3, &Tok::Punct('{'))
                    && macro_body.is_none() =>
            {
                macro_body = Some(depth + 1);
            }
            Tok::Ident(w) if w == "mod" && is(i + 2, &Tok::Punct('{')) => {
                if let Some(name) = ident(i + 1) {
                    inline.push((name.to_string(), depth + 1));
                }
            }
            Tok::Ident(w)
                if w == "use"
                    && !is(i + 1, &Tok::Punct('<'))
                    && !is(i.wrapping_sub(1), &Tok::Sep) =>
            {
                let mut leaves = Vec::new();
                let end = use_tree(&toks, i + 1, Vec::new(), &mut leaves);
                let at = here();
                for (path, line) in leaves {
                    if let Some(path) = resolve(&at, &path) {
                        out.push(Import { path, line });
                    }
                }
                i = end;
                continue;
            }
            Tok::Ident(w)
                if (w == "crate" || (w == "super" && macro_body.is_none()))
                    && is(i + 1, &Tok::Sep)
                    && !is(i.wrapping_sub(1), &Tok::Sep) =>
            {
                let line = toks[i].1;
                let mut path = vec![w.clone()];
                let mut j = i + 1;
                while is(j, &Tok::Sep) {
                    match ident(j + 1) {
                        Some(s) => path.push(s.to_string()),
                        None => break,
                    }
                    j += 2;
                }
                if let Some(path) = resolve(&here(), &path) {
                    out.push(Import { path, line });
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Reads a use tree from `i`, adding each leaf path (with the line of its
/// last segment) to `leaves`; returns the index after the tree (past the
/// `;` at the top level).
fn use_tree(
    toks: &[(Tok, usize)],
    mut i: usize,
    prefix: Vec<String>,
    leaves: &mut Vec<(Vec<String>, usize)>,
) -> usize {
    let top = prefix.is_empty();
    let mut path = prefix;
    let mut line = toks.get(i).map_or(0, |(_, l)| *l);
    loop {
        match toks.get(i) {
            Some((Tok::Ident(s), l)) if s != "as" => {
                path.push(s.clone());
                line = *l;
                i += 1;
            }
            // `$crate` in a macro is this crate.
            Some((Tok::Sep | Tok::Punct('$'), _)) => i += 1,
            Some((Tok::Punct('{'), _)) => {
                i += 1;
                loop {
                    match toks.get(i) {
                        Some((Tok::Punct('}'), _)) => {
                            i += 1;
                            break;
                        }
                        Some((Tok::Punct(','), _)) => i += 1,
                        Some(_) => i = use_tree(toks, i, path.clone(), leaves),
                        None => return i,
                    }
                }
                // A group leaves nothing of its own.
                path.clear();
            }
            Some((Tok::Punct('*'), l)) => {
                line = *l;
                i += 1;
            }
            Some((Tok::Ident(_), _)) => {
                // `as name`: the name is local; skip it.
                i += 2;
            }
            _ => break,
        }
    }
    if path.last().is_some_and(|s| s == "self") {
        path.pop();
    }
    if !path.is_empty() {
        leaves.push((path, line));
    }
    if top {
        while let Some((t, _)) = toks.get(i) {
            i += 1;
            if *t == Tok::Punct(';') {
                break;
            }
        }
    }
    i
}

/// A path as written in `module`, from the crate root; `None` when it is
/// not the project's (another crate, a local name).
fn resolve(module: &[String], path: &[String]) -> Option<Vec<String>> {
    match path.first().map(String::as_str) {
        Some("crate") => Some(path[1..].to_vec()),
        Some("super") => {
            let mut at = module.to_vec();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                at.pop()?;
                rest = &rest[1..];
            }
            at.extend(rest.iter().cloned());
            Some(at)
        }
        Some("self") => {
            let mut at = module.to_vec();
            at.extend(path[1..].iter().cloned());
            Some(at)
        }
        _ => None,
    }
}

/// The checker on made-up sources, so the test above cannot pass because
/// the checker sees nothing.
#[test]
fn the_checker_finds_each_kind_of_import_and_ignores_comments_and_strings() {
    let source = r####"
//! A desk file breaking the rules in every way the checker reads.
use crate::{
    domain::Kind,
    store::{self, outbox::OutboxRow},
    workers::dispatcher::{Deliverer as D, Delivery},
};
use super::super::channels::slack;
// use crate::http::error;  (a comment is not an import)
/* crate::app::Application in a block comment */
fn f() -> &'static str {
    let _ = crate::http::router;
    let _ = 'x';
    let _ = b'y';
    let _ = r#"crate::cli::main"#;
    "use crate::console::x;"
}
pub(crate) fn g() {}
mod tests {
    use super::*;
    use super::super::super::workers as w;
}
"####;
    let found: Vec<String> = check_file("src/desk/fake.rs", source)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        found,
        [
            "src/desk/fake.rs:6: [desk] `crate::workers::dispatcher::Deliverer`: desk may import no http, channels, workers, runtime, app, console, cli",
            "src/desk/fake.rs:6: [desk] `crate::workers::dispatcher::Delivery`: desk may import no http, channels, workers, runtime, app, console, cli",
            "src/desk/fake.rs:8: [desk] `crate::channels::slack`: desk may import no http, channels, workers, runtime, app, console, cli",
            "src/desk/fake.rs:8: [channels] `crate::channels::slack`: desk::fake may import no channels",
            "src/desk/fake.rs:12: [desk] `crate::http::router`: desk may import no http, channels, workers, runtime, app, console, cli",
            "src/desk/fake.rs:21: [desk] `crate::workers`: desk may import no http, channels, workers, runtime, app, console, cli",
        ]
    );

    // One platform importing the other, through `super`, resolved from
    // the file's own module (a `mod.rs` is its folder's module).
    let slack = "use super::{cut, discord::api};\nfn f() { super::discord::x(); }\n";
    let rules = |file: &str, text: &str| -> Vec<String> {
        check_file(file, text)
            .iter()
            .map(|v| format!("{}:{}", v.line, v.rule))
            .collect()
    };
    assert_eq!(
        rules("src/channels/slack/mod.rs", slack),
        ["1:slack", "2:slack"]
    );
    assert!(rules("src/channels/slack/deliver.rs", slack).is_empty());
    let deliver = "fn f() { super::super::discord::render::card(); }\n";
    assert_eq!(rules("src/channels/slack/deliver.rs", deliver), ["1:slack"]);
    // `super` in a macro body is the caller's module: not resolved here.
    let mac = "macro_rules! m { () => { super::super::http::x() }; }\n";
    assert!(rules("src/workers/mod.rs", mac).is_empty());

    // A layer that may import only some modules.
    let store = "use crate::domain::Kind;\nuse super::on;\nfn f() { crate::desk::new_id(); }\n";
    let found: Vec<String> = check_file("src/store/flush.rs", store)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        found,
        ["src/store/flush.rs:3: [store] `crate::desk::new_id`: store may import only domain"]
    );

    // A long file needs its reason at the top.
    let long = "fn x() {}\n".repeat(MAX_LINES + 1);
    assert_eq!(check_file("src/app.rs", &long)[0].rule, WHY_ONE_FILE);
    let justified = format!("//! Long.\n//! Why one file: a test.\n{long}");
    assert!(check_file("src/app.rs", &justified).is_empty());
}
