//! Review reports of a planned change for people and tools: the pull-request summary
//! (markdown, within GitHub's size limits, risky items first), the complete plan as JSON, and
//! the step summary. Pure: takes the plan, returns text.
//!
//! A change may be one file or every file of 10,000 services: the summary stays readable and
//! within the limits at any size. Every list in it is grouped and counted, shows its first
//! (riskiest) items and says how many it left out and where they are (plan.json, the split
//! parts); when even that does not fit, lists shrink to their counts. `classify.rs` decides
//! what is risky, `summary.rs` writes the summary, `diffs.rs` the diffs and their parts.

mod classify;
mod diffs;
mod summary;
#[cfg(test)]
mod tests;

pub use crate::plan::env_of;
pub use classify::{Risk, redacted, risks};

use crate::digest::{sha256, sha256_bytes};
use crate::plan::{Action, Change};
use rayon::prelude::*;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// How a change reads in a sentence: "added", "changed", "deleted".
fn action_word(a: Action) -> &'static str {
    match a {
        Action::Add => "added",
        Action::Change => "changed",
        Action::Delete => "deleted",
    }
}

/// GitHub refuses comment bodies over 65,536 characters (and, measured, over 262,144 bytes);
/// check-run texts stop at 65,535. Stay under all of them with room to spare.
pub const COMMENT_MAX_CHARS: usize = 60_000;
pub const COMMENT_MAX_BYTES: usize = 240_000;
/// `$GITHUB_STEP_SUMMARY` takes at most 1 MiB per step.
pub const STEP_SUMMARY_MAX_BYTES: usize = 1_000_000;
/// Marks pctl's sticky comment, so the action edits it instead of adding new ones.
pub const MARKER: &str = "<!-- pctl:summary -->";

/// What the review needs to know about the organisation.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub title: String,
    pub protected_envs: BTreeSet<String>,
    /// Where the change goes, for the heading: "acme/deploy `main`".
    pub destination: String,
    /// Path prefix -> who must approve changes there (the CODEOWNERS rules).
    pub approvals: BTreeMap<String, Vec<String>>,
}

/// A planned change as a review sees it: the files, what disappears, what moved, what was
/// noticed on the way; each file classified once (in parallel) for every report made of it.
pub struct Review<'a> {
    pub changes: &'a [Change],
    /// "payment-api: removed from staging (25 files)".
    pub removals: &'a [String],
    /// Services whose recorded owner changed on purpose (`--move-from`).
    pub moves: &'a [String],
    /// Problems that did not stop the run (records of other owners that were ignored).
    pub warnings: &'a [String],
    pub ctx: &'a Context,
    /// The risks of each change, index for index.
    risks: Vec<Vec<Risk>>,
}

impl<'a> Review<'a> {
    pub fn new(changes: &'a [Change], removals: &'a [String], ctx: &'a Context) -> Review<'a> {
        let risks = changes
            .par_iter()
            .map(|c| {
                if is_bookkeeping(&c.path) {
                    Vec::new()
                } else {
                    risks(c, ctx)
                }
            })
            .collect();
        Review {
            changes,
            removals,
            moves: &[],
            warnings: &[],
            ctx,
            risks,
        }
    }

    pub fn with_moves(mut self, moves: &'a [String]) -> Review<'a> {
        self.moves = moves;
        self
    }

    pub fn with_warnings(mut self, warnings: &'a [String]) -> Review<'a> {
        self.warnings = warnings;
        self
    }

    /// The changes a person reviews (pctl's own records are bookkeeping), with their risks.
    fn reviewed(&self) -> impl Iterator<Item = (&'a Change, &[Risk])> + '_ {
        self.changes
            .iter()
            .zip(&self.risks)
            .filter(|(c, _)| !is_bookkeeping(&c.path))
            .map(|(c, r)| (c, r.as_slice()))
    }

    /// The pull-request comment: the summary always whole, then as many diffs as fit, each cut
    /// to a reasonable length, with a note saying what was left out.
    pub fn markdown(&self) -> String {
        diffs::fit(
            self,
            &Limit {
                chars: COMMENT_MAX_CHARS,
                bytes: COMMENT_MAX_BYTES,
            },
            &[8, 3, 1, 0],
            120,
        )
    }

    /// The job summary: the same report with a larger budget.
    pub fn step_summary(&self) -> String {
        diffs::fit(
            self,
            &Limit {
                chars: STEP_SUMMARY_MAX_BYTES,
                bytes: STEP_SUMMARY_MAX_BYTES,
            },
            &[30, 8, 1, 0],
            400,
        )
    }

    /// Every diff, split into comment-sized parts ("part 1/3"), for posting as several comments.
    pub fn split_parts(&self) -> Vec<String> {
        diffs::split_parts(self)
    }

    /// The complete plan, for tools: every file with action, owner, environment, hashes and
    /// risks; the removals, moves, cost changes and approvals the summary may cut short.
    pub fn plan_json(&self) -> serde_json::Value {
        let files: Vec<serde_json::Value> = self
            .changes
            .iter()
            .zip(&self.risks)
            .map(|(c, risks)| {
                json!({
                    "path": c.path,
                    "action": match c.action { Action::Add => "add", Action::Change => "change", Action::Delete => "delete" },
                    "owner": c.owner,
                    "environment": env_of(&c.path),
                    "old_sha256": c.old.as_deref().map(sha256_bytes),
                    "new_sha256": c.new.as_deref().map(sha256),
                    "risks": risks.iter().map(Risk::flag).collect::<Vec<_>>(),
                })
            })
            .collect();
        let costs: Vec<serde_json::Value> = cost_changes(self.changes)
            .into_iter()
            .map(|(service, team, old, new)| {
                json!({"service": service, "team": team, "old_usd_month": old, "new_usd_month": new})
            })
            .collect();
        let approvals: Vec<serde_json::Value> = summary::needed_approvals(self)
            .into_iter()
            .map(|(rule, who)| json!({"rule": rule, "approvers": who}))
            .collect();
        json!({
            "removals": self.removals,
            "moves": self.moves,
            "costs": costs,
            "approvals": approvals,
            "files": files,
        })
    }
}

/// pctl's own records change with every file: bookkeeping, not something to review.
fn is_bookkeeping(path: &str) -> bool {
    path.starts_with(".pctl/")
}

/// A title naming what a change is of, short at any size: "pctl: a, b" or
/// "pctl: 300 services (a, b, c and 297 more)".
pub fn title(names: &[String]) -> String {
    match names.len() {
        0 => "pctl: organisation".to_string(),
        1..=3 => format!("pctl: {}", names.join(", ")),
        n => format!("pctl: {n} services ({})", first_names(names, 3)),
    }
}

/// "a, b, c and 297 more".
pub fn first_names(names: &[String], shown: usize) -> String {
    let mut s = names
        .iter()
        .take(shown)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > shown {
        s.push_str(&format!(" and {} more", names.len() - shown));
    }
    s
}

struct Limit {
    chars: usize,
    bytes: usize,
}

impl Limit {
    fn fits(&self, s: &str) -> bool {
        s.len() <= self.bytes && s.chars().count() <= self.chars
    }
    fn less(&self, n: usize) -> Limit {
        Limit {
            chars: self.chars.saturating_sub(n),
            bytes: self.bytes.saturating_sub(n),
        }
    }
}

/// Monthly cost change per service, from the `usd_month` in pctl's records (old vs new):
/// (service, team, old, new).
pub fn cost_changes(changes: &[Change]) -> Vec<(String, String, f64, f64)> {
    let read = |b: Option<&[u8]>| -> (f64, String) {
        let v: serde_json::Value = b
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or_default();
        (
            v["usd_month"].as_f64().unwrap_or(0.0),
            v["team"].as_str().unwrap_or_default().to_string(),
        )
    };
    let mut out = Vec::new();
    for c in changes
        .iter()
        .filter(|c| c.path.starts_with(".pctl/services/"))
    {
        let (old, old_team) = read(c.old.as_deref());
        let (new, new_team) = read(c.new.as_deref().map(str::as_bytes));
        if (new - old).abs() >= 0.005 {
            let service = c
                .path
                .trim_start_matches(".pctl/services/")
                .trim_end_matches(".json")
                .to_string();
            out.push((
                service,
                if new_team.is_empty() {
                    old_team
                } else {
                    new_team
                },
                old,
                new,
            ));
        }
    }
    out
}

/// The owning team of every service whose record changed: service -> team.
fn teams(changes: &[Change]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for c in changes
        .iter()
        .filter(|c| c.path.starts_with(".pctl/services/"))
    {
        let team = |b: Option<&[u8]>| -> Option<String> {
            let v: serde_json::Value = serde_json::from_slice(b?).ok()?;
            v["team"].as_str().map(str::to_string)
        };
        if let Some(t) =
            team(c.new.as_deref().map(str::as_bytes)).or_else(|| team(c.old.as_deref()))
        {
            out.insert(c.owner.clone(), t);
        }
    }
    out
}

/// A Markdown code span showing `s` exactly, on one line.
fn code(s: &str) -> String {
    let text: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let (mut longest, mut run) = (0, 0);
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// Markdown text that shows `s` as it is (no markup can start inside it).
fn text(s: &str) -> String {
    crate::expand::escape::markdown_text(s)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
