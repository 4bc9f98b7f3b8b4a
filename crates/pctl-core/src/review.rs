//! Review reports of a planned change for people and tools: the pull-request summary
//! (markdown, within GitHub's size limits, risky items first), the complete plan as JSON, and
//! the step summary. Pure: takes the plan, returns text.

use crate::digest::{sha256, sha256_bytes};
use crate::layout::{self, Area};
use crate::plan::Action;
use crate::plan::Change;
pub use crate::plan::env_of;
use crate::record::Class;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// GitHub refuses comment bodies over 65,536 characters (and, measured, over 262,144 bytes);
/// check-run texts stop at 65,535. Stay under all of them with room to spare.
pub const COMMENT_MAX_CHARS: usize = 60_000;
pub const COMMENT_MAX_BYTES: usize = 240_000;
/// `$GITHUB_STEP_SUMMARY` takes at most 1 MiB per step.
pub const STEP_SUMMARY_MAX_BYTES: usize = 1_000_000;
/// Marks pctl's sticky comment, so the action edits it instead of adding new ones.
pub const MARKER: &str = "<!-- pctl:summary -->";

/// Why a change deserves a reviewer's attention, most important first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Risk {
    Deletion,
    ProtectedEnvironment,
    StatefulResource(String),
    SizeChange(String),
    PublicEndpoint,
    Approvals,
    SecretReference,
}

impl Risk {
    fn icon(&self) -> &'static str {
        match self {
            Risk::Deletion => "🗑️",
            Risk::ProtectedEnvironment => "🔒",
            Risk::StatefulResource(_) => "🗄️",
            Risk::SizeChange(_) => "📏",
            Risk::PublicEndpoint => "🌐",
            Risk::Approvals => "✅",
            Risk::SecretReference => "🔑",
        }
    }
    pub fn flag(&self) -> &'static str {
        match self {
            Risk::Deletion => "deletion",
            Risk::ProtectedEnvironment => "protected-environment",
            Risk::StatefulResource(_) => "stateful-resource",
            Risk::SizeChange(_) => "size-change",
            Risk::PublicEndpoint => "public-endpoint",
            Risk::Approvals => "approvals",
            Risk::SecretReference => "secret-reference",
        }
    }
}

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

/// The objects of a YAML file (every document), or none when it does not parse.
fn objects(text: &str) -> Vec<serde_json::Value> {
    let file = crate::source::SourceFile::new("review", text.to_string());
    let opts = crate::load::Options {
        no_spans: true,
        ..Default::default()
    };
    crate::load::parse_all(&file, opts)
        .map(|docs| docs.into_iter().map(|d| d.value).collect())
        .unwrap_or_default()
}

fn is_yaml(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml")
}

/// Whether a YAML text may hold a secret-bearing kind: it spells `Secret`, or has an escape
/// sequence that could spell it (`"Secr\x65t"`). A cheap test before parsing.
fn may_name_secret(text: &str) -> bool {
    text.contains("Secret") || text.contains('\\')
}

/// Kinds whose objects hold or fetch secret values.
const SECRET_KINDS: &[&str] = &["Secret", "SealedSecret", "ExternalSecret"];
/// Kinds whose content must never be shown (values, or encrypted values).
const SECRET_VALUE_KINDS: &[&str] = &["Secret", "SealedSecret"];

fn has_kind(objects: &[serde_json::Value], kinds: &[&str]) -> bool {
    objects
        .iter()
        .any(|o| o["kind"].as_str().is_some_and(|k| kinds.contains(&k)))
}

/// Every attribute of a Terraform file as `block.label.attribute = value` text, in order.
fn hcl_settings(text: &str) -> Vec<(String, String)> {
    fn walk(body: &hcl_edit::structure::Body, prefix: &str, out: &mut Vec<(String, String)>) {
        for s in body.iter() {
            if let Some(a) = s.as_attribute() {
                let v = a.value.to_string();
                out.push((
                    format!("{prefix}{}", a.key.as_str()),
                    v.split_whitespace().collect::<Vec<_>>().join(" "),
                ));
            } else if let Some(b) = s.as_block() {
                let mut p = format!("{prefix}{}", b.ident.as_str());
                for l in &b.labels {
                    p.push('.');
                    p.push_str(l.as_str());
                }
                p.push('.');
                walk(&b.body, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    if let Ok(body) = hcl_edit::parser::parse_body(text) {
        walk(&body, "", &mut out);
    }
    out
}

/// The settings of a changed data store: `instance_class "a" → "b"` for each attribute whose
/// value changed (at most four named).
fn changed_settings(old: &str, new: &str) -> Option<String> {
    let (a, b) = (hcl_settings(old), hcl_settings(new));
    let before: BTreeMap<&str, &str> = a.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut changed = Vec::new();
    for (k, v) in &b {
        match before.get(k.as_str()) {
            Some(old) if old == v => {}
            Some(old) => changed.push(format!("{k} {old} → {v}")),
            None => changed.push(format!("{k} → {v}")),
        }
    }
    let after: BTreeSet<&str> = b.iter().map(|(k, _)| k.as_str()).collect();
    for (k, v) in &a {
        if !after.contains(k.as_str()) {
            changed.push(format!("{k} {v} → (removed)"));
        }
    }
    if changed.is_empty() {
        return None;
    }
    let more = changed.len().saturating_sub(4);
    changed.truncate(4);
    let mut line = changed.join(", ");
    if more > 0 {
        line.push_str(&format!(" and {more} more"));
    }
    Some(line)
}

/// The environments a workflow's jobs run in (`jobs.<id>.environment`).
fn workflow_environments(objects: &[serde_json::Value]) -> Vec<String> {
    let mut envs = Vec::new();
    for o in objects {
        if let Some(jobs) = o["jobs"].as_object() {
            for (id, job) in jobs {
                envs.push(format!("{id}={}", job["environment"]));
            }
        }
    }
    envs
}

/// Classifies one change, from what the blueprint declared (its class), the layout (its
/// environment) and the parsed objects of both sides, never from lines of text. Values are
/// never read from secret-bearing objects.
pub fn risks(c: &Change, ctx: &Context) -> Vec<Risk> {
    let mut r = Vec::new();
    let old = c
        .old
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let new = c.new.as_deref().unwrap_or_default();
    // Parsed only where a risk depends on the objects (or a text may name a secret kind).
    let pipeline = layout::place(&c.path).is_some_and(|p| p.area == Area::Pipeline);
    let wanted = is_yaml(&c.path)
        && (c.class == Some(Class::Exposure)
            || pipeline
            || may_name_secret(&old)
            || may_name_secret(new));
    let (old_objs, new_objs) = if wanted {
        (objects(&old), objects(new))
    } else {
        (Vec::new(), Vec::new())
    };
    if c.action == Action::Delete {
        r.push(Risk::Deletion);
    }
    if env_of(&c.path).is_some_and(|e| ctx.protected_envs.contains(e)) {
        r.push(Risk::ProtectedEnvironment);
    }
    if c.class == Some(Class::Stateful) {
        let what = match c.action {
            Action::Add => "created",
            Action::Change => "changed",
            Action::Delete => "deleted",
        };
        r.push(Risk::StatefulResource(what.into()));
        if c.action == Action::Change {
            if let Some(d) = changed_settings(&old, new) {
                r.push(Risk::SizeChange(d));
            }
        }
    }
    if c.class == Some(Class::Exposure)
        && (c.action == Action::Add
            || (c.action == Action::Change
                && old_objs.iter().map(|o| &o["spec"]).collect::<Vec<_>>()
                    != new_objs.iter().map(|o| &o["spec"]).collect::<Vec<_>>()))
    {
        r.push(Risk::PublicEndpoint);
    }
    if pipeline
        && c.action != Action::Add
        && workflow_environments(&old_objs) != workflow_environments(&new_objs)
    {
        r.push(Risk::Approvals);
    }
    if has_kind(&old_objs, SECRET_KINDS) || has_kind(&new_objs, SECRET_KINDS) {
        r.push(Risk::SecretReference);
    }
    r.sort();
    r
}

/// Whether a change's content must never be shown: either side holds a Kubernetes `Secret`
/// (or a sealed one), however it is spelt (`kind: "Secret"` included).
pub fn redacted(c: &Change) -> bool {
    if !is_yaml(&c.path) {
        return false;
    }
    let old = c
        .old
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let new = c.new.as_deref().unwrap_or_default();
    if !may_name_secret(&old) && !may_name_secret(new) {
        return false;
    }
    has_kind(&objects(&old), SECRET_VALUE_KINDS) || has_kind(&objects(new), SECRET_VALUE_KINDS)
}

fn action_word(a: Action) -> &'static str {
    match a {
        Action::Add => "added",
        Action::Change => "changed",
        Action::Delete => "deleted",
    }
}

/// The complete plan, for tools: every file with action, owner, environment, hashes and risks.
pub fn plan_json(changes: &[Change], removals: &[String], ctx: &Context) -> serde_json::Value {
    let files: Vec<serde_json::Value> = changes
        .iter()
        .map(|c| {
            json!({
                "path": c.path,
                "action": match c.action { Action::Add => "add", Action::Change => "change", Action::Delete => "delete" },
                "owner": c.owner,
                "environment": env_of(&c.path),
                "old_sha256": c.old.as_deref().map(sha256_bytes),
                "new_sha256": c.new.as_deref().map(sha256),
                "risks": risks(c, ctx).iter().map(Risk::flag).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({"removals": removals, "files": files})
}

struct Limit {
    chars: usize,
    bytes: usize,
}

impl Limit {
    fn fits(&self, s: &str) -> bool {
        s.len() <= self.bytes && s.chars().count() <= self.chars
    }
}

/// The summary part of a review: heading, what needs attention, the per-service table.
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

fn summary(changes: &[Change], removals: &[String], ctx: &Context) -> String {
    let costs = cost_changes(changes);
    let exemptions = crate::exemption::review_section(changes);
    // pctl's own records change with every file: bookkeeping, not something to review.
    let changes: Vec<Change> = changes
        .iter()
        .filter(|c| !c.path.starts_with(".pctl/"))
        .cloned()
        .collect();
    let changes = changes.as_slice();
    let mut s = String::new();
    let _ = writeln!(s, "{MARKER}\n## {}\n", ctx.title);
    let count = |a: Action| changes.iter().filter(|c| c.action == a).count();
    let services: BTreeSet<&str> = changes
        .iter()
        .map(|c| c.owner.as_str())
        .filter(|o| *o != "organisation" && *o != crate::expand::CATALOG_OWNER)
        .collect();
    let envs: BTreeSet<&str> = changes.iter().filter_map(|c| env_of(&c.path)).collect();
    if changes.is_empty() {
        let _ = writeln!(s, "No changes: {} is up to date.", ctx.destination);
        return s;
    }
    let _ = writeln!(
        s,
        "To {}: **{} service{} · {} environment{} · {} added · {} changed · {} deleted**\n",
        ctx.destination,
        services.len(),
        if services.len() == 1 { "" } else { "s" },
        envs.len(),
        if envs.len() == 1 { "" } else { "s" },
        count(Action::Add),
        count(Action::Change),
        count(Action::Delete)
    );
    if !costs.is_empty() {
        let total: f64 = costs.iter().map(|(_, _, o, n)| n - o).sum();
        let parts: Vec<String> = costs
            .iter()
            .map(|(svc, team, o, n)| {
                let d = n - o;
                format!(
                    "{svc} {}{}/month ({team})",
                    if d >= 0.0 { "+" } else { "" },
                    crate::cost::usd(d)
                )
            })
            .collect();
        let _ = writeln!(
            s,
            "Monthly cost: **{}{}** — {}\n",
            if total >= 0.0 { "+" } else { "" },
            crate::cost::usd(total),
            parts.join(", ")
        );
    }
    // Needs attention: removals, then each risk kind once per (kind, env/service), worst first.
    let mut attention: Vec<(Risk, String)> = Vec::new();
    for r in removals {
        attention.push((Risk::Deletion, format!("**{r}**")));
    }
    let mut by_kind: BTreeMap<(Risk, String), Vec<&str>> = BTreeMap::new();
    for c in changes {
        for r in risks(c, ctx) {
            if r == Risk::Deletion && !removals.is_empty() {
                continue; // already said, per environment, above
            }
            let key = match &r {
                Risk::ProtectedEnvironment => {
                    format!("{} in {}", c.owner, env_of(&c.path).unwrap_or("?"))
                }
                _ => c.path.clone(),
            };
            by_kind.entry((r, key)).or_default().push(&c.path);
        }
    }
    for ((r, key), paths) in by_kind {
        let line = match &r {
            Risk::Deletion => format!("`{key}` is deleted"),
            Risk::ProtectedEnvironment => format!(
                "{key}: {} file{} in a protected environment",
                paths.len(),
                if paths.len() == 1 { "" } else { "s" }
            ),
            Risk::StatefulResource(what) => format!("`{key}`: stateful resource {what}"),
            Risk::SizeChange(d) => format!("`{key}`: settings changed: {d}"),
            Risk::PublicEndpoint => format!("`{key}`: public endpoint added or changed"),
            Risk::Approvals => format!("`{key}`: approvals or environments changed"),
            Risk::SecretReference => {
                format!("`{key}`: secret references changed (values are never shown)")
            }
        };
        attention.push((r, line));
    }
    attention.sort();
    if !attention.is_empty() {
        let _ = writeln!(s, "### Needs attention\n");
        const SHOWN: usize = 40;
        for (r, line) in attention.iter().take(SHOWN) {
            let _ = writeln!(s, "- {} {line}", r.icon());
        }
        if attention.len() > SHOWN {
            let _ = writeln!(
                s,
                "- … and {} more (see plan.json)",
                attention.len() - SHOWN
            );
        }
        let _ = writeln!(s);
    }
    s.push_str(&exemptions);
    // Who must approve, and why: the CODEOWNERS rules this change touches.
    let mut needed: BTreeMap<&str, &Vec<String>> = BTreeMap::new();
    for c in changes {
        if let Some((prefix, who)) = ctx
            .approvals
            .iter()
            .find(|(p, _)| format!("/{}", c.path).starts_with(p.as_str()))
        {
            needed.insert(prefix.as_str(), who);
        }
    }
    if !needed.is_empty() {
        let _ = writeln!(s, "### Approvals required\n");
        for (prefix, who) in needed {
            let why = if prefix.starts_with("/terraform/") {
                "stateful resources"
            } else {
                "protected environment or declared approvals"
            };
            let _ = writeln!(s, "- `{prefix}`: {} ({why})", who.join(" "));
        }
        let _ = writeln!(s);
    }
    // Per service and environment.
    let mut table: BTreeMap<(&str, &str), [usize; 3]> = BTreeMap::new();
    for c in changes {
        let e = table
            .entry((c.owner.as_str(), env_of(&c.path).unwrap_or("—")))
            .or_default();
        e[match c.action {
            Action::Add => 0,
            Action::Change => 1,
            Action::Delete => 2,
        }] += 1;
    }
    let _ = writeln!(
        s,
        "| service | environment | added | changed | deleted |\n|---|---|--:|--:|--:|"
    );
    const ROWS: usize = 200;
    for ((svc, env), n) in table.iter().take(ROWS) {
        let _ = writeln!(s, "| {svc} | {env} | {} | {} | {} |", n[0], n[1], n[2]);
    }
    if table.len() > ROWS {
        let _ = writeln!(
            s,
            "| … {} more rows (see plan.json) | | | | |",
            table.len() - ROWS
        );
    }
    s
}

/// One file's diff as a collapsible section, cut to `max_lines`.
fn file_section(c: &Change, ctx: &Context, max_lines: usize) -> String {
    let old = c
        .old
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let new = c.new.as_deref().unwrap_or_default();
    let icons: String = risks(c, ctx)
        .iter()
        .map(Risk::icon)
        .collect::<Vec<_>>()
        .join("");
    let mut s = format!(
        "<details><summary>{icons}{}<code>{}</code> ({})</summary>\n\n",
        if icons.is_empty() { "" } else { " " },
        c.path,
        action_word(c.action)
    );
    if redacted(c) {
        s.push_str("_A Secret: its content is not shown._\n\n</details>\n");
        return s;
    }
    let diff = similar::TextDiff::from_lines(old.as_ref(), new);
    let text = diff.unified_diff().context_radius(3).to_string();
    let lines: Vec<&str> = text.lines().collect();
    s.push_str("```diff\n");
    for l in lines.iter().take(max_lines) {
        // A fence inside the diff would end the code block early.
        s.push_str(&l.replace("```", "`\u{200b}``"));
        s.push('\n');
    }
    s.push_str("```\n");
    if lines.len() > max_lines {
        let _ = writeln!(s, "_… {} more lines not shown._", lines.len() - max_lines);
    }
    s.push_str("\n</details>\n");
    s
}

fn ordered<'a>(changes: &'a [Change], ctx: &Context) -> Vec<&'a Change> {
    let mut v: Vec<(Vec<Risk>, &Change)> = changes
        .iter()
        .filter(|c| !c.path.starts_with(".pctl/"))
        .map(|c| (risks(c, ctx), c))
        .collect();
    // Riskiest first (an empty risk list sorts last), then by path.
    v.sort_by(|a, b| match (a.0.first(), b.0.first()) {
        (Some(x), Some(y)) => x.cmp(y).then(a.1.path.cmp(&b.1.path)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.1.path.cmp(&b.1.path),
    });
    v.into_iter().map(|(_, c)| c).collect()
}

/// The pull-request comment: the summary always whole, then as many diffs as fit, each cut to
/// a reasonable length, with a note saying what was left out.
pub fn markdown(changes: &[Change], removals: &[String], ctx: &Context) -> String {
    fit(
        changes,
        removals,
        ctx,
        &Limit {
            chars: COMMENT_MAX_CHARS,
            bytes: COMMENT_MAX_BYTES,
        },
        120,
    )
}

/// The job summary: the same report with a larger budget.
pub fn step_summary(changes: &[Change], removals: &[String], ctx: &Context) -> String {
    fit(
        changes,
        removals,
        ctx,
        &Limit {
            chars: STEP_SUMMARY_MAX_BYTES,
            bytes: STEP_SUMMARY_MAX_BYTES,
        },
        400,
    )
}

fn fit(
    changes: &[Change],
    removals: &[String],
    ctx: &Context,
    limit: &Limit,
    max_lines: usize,
) -> String {
    let mut s = summary(changes, removals, ctx);
    let files = ordered(changes, ctx);
    if files.is_empty() {
        return s;
    }
    s.push_str("\n### Diffs\n\n");
    let reserve = 200; // for the closing note
    let mut shown = 0;
    for c in &files {
        let section = file_section(c, ctx, max_lines);
        let candidate = format!("{s}{section}");
        if !(Limit {
            chars: limit.chars - reserve,
            bytes: limit.bytes - reserve,
        })
        .fits(&candidate)
        {
            break;
        }
        s = candidate;
        shown += 1;
    }
    if shown < files.len() {
        let _ = writeln!(
            s,
            "\n_{} more file{} not shown here: see the split parts (`--split`), the job summary or plan.json._",
            files.len() - shown,
            if files.len() - shown == 1 { "" } else { "s" }
        );
    }
    debug_assert!(limit.fits(&s));
    s
}

/// Every diff, split into comment-sized parts ("part 1/3"), for posting as several comments.
pub fn split_parts(changes: &[Change], ctx: &Context) -> Vec<String> {
    let limit = Limit {
        chars: COMMENT_MAX_CHARS - 500,
        bytes: COMMENT_MAX_BYTES - 2000,
    };
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    for c in ordered(changes, ctx) {
        // A single file never needs more than one part: cut it to what fits.
        let mut section = file_section(c, ctx, 2000);
        let mut lines = 2000;
        while !limit.fits(&section) && lines > 10 {
            lines /= 2;
            section = file_section(c, ctx, lines);
        }
        if !current.is_empty() && !limit.fits(&format!("{current}{section}")) {
            parts.push(std::mem::take(&mut current));
        }
        current.push_str(&section);
    }
    if !current.is_empty() {
        parts.push(current);
    }
    let n = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            format!(
                "<!-- pctl:part {}/{n} -->\n### {} — diffs, part {}/{n}\n\n{body}",
                i + 1,
                ctx.title,
                i + 1
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(path: &str, action: Action, old: &str, new: &str) -> Change {
        Change {
            path: path.into(),
            action,
            owner: path.split('/').nth(2).unwrap_or("organisation").into(),
            old: (action != Action::Add).then(|| old.as_bytes().to_vec()),
            new: (action != Action::Delete).then(|| new.to_string()),
            class: if path.starts_with("terraform/") && !path.ends_with("/main.tf") {
                Some(Class::Stateful)
            } else if path.ends_with("/ingress.yaml") {
                Some(Class::Exposure)
            } else {
                None
            },
        }
    }

    fn ctx() -> Context {
        Context {
            title: "pctl: test".into(),
            protected_envs: ["prod".to_string()].into(),
            destination: "acme/deploy `main`".into(),
            approvals: [(
                "/terraform/prod/a/".to_string(),
                vec!["@acme/team-a".to_string()],
            )]
            .into(),
        }
    }

    #[test]
    fn risky_items_come_first_and_are_named() {
        let changes = vec![
            change(
                "apps/dev/a/configmap.yaml",
                Action::Change,
                "x: 1\n",
                "x: 2\n",
            ),
            change(
                "terraform/prod/a/db.tf",
                Action::Change,
                "  instance_class = \"db.m6g.large\"\n",
                "  instance_class = \"db.m6g.2xlarge\"\n",
            ),
            change(
                "apps/dev/a/ingress.yaml",
                Action::Add,
                "",
                "kind: Ingress\n",
            ),
            change(
                "apps/staging/a/hpa.yaml",
                Action::Delete,
                "kind: HorizontalPodAutoscaler\n",
                "",
            ),
            change(
                "apps/dev/a/secret.yaml",
                Action::Change,
                "kind: Secret\ndata:\n  k: b2xk\n",
                "kind: Secret\ndata:\n  k: bmV3\n",
            ),
        ];
        let md = markdown(&changes, &[], &ctx());
        let attention = md.split("### Needs attention").nth(1).unwrap();
        let pos = |s: &str| {
            attention
                .find(s)
                .unwrap_or_else(|| panic!("{s} missing:\n{md}"))
        };
        assert!(pos("hpa.yaml` is deleted") < pos("protected environment"));
        assert!(pos("protected environment") < pos("stateful resource changed"));
        assert!(
            md.contains("settings changed: instance_class \"db.m6g.large\" → \"db.m6g.2xlarge\""),
            "{md}"
        );
        assert!(md.contains("public endpoint"));
        assert!(
            md.contains("- `/terraform/prod/a/`: @acme/team-a (stateful resources)"),
            "{md}"
        );
        assert!(md.contains("_A Secret: its content is not shown._"));
        assert!(
            !md.contains("bmV3") && !md.contains("b2xk"),
            "secret data leaked:\n{md}"
        );
        // Diffs follow the same order: the deletion's diff comes before the configmap's.
        assert!(
            md.find("hpa.yaml</code> (deleted)").unwrap()
                < md.find("configmap.yaml</code>").unwrap()
        );
    }

    #[test]
    fn thousands_of_files_stay_under_github_limits_with_the_summary_whole() {
        let mut changes = Vec::new();
        for svc in 0..300 {
            for env in ["dev", "staging", "prod"] {
                for f in 0..4 {
                    let old: String = (0..60)
                        .map(|i| format!("line {i} of ümlaut-heavy file {f}\n"))
                        .collect();
                    let new = old
                        .replace("line 3 ", "line three ")
                        .replace("line 40", "line forty");
                    changes.push(change(
                        &format!("apps/{env}/svc-{svc:03}/file-{f}.yaml"),
                        Action::Change,
                        &old,
                        &new,
                    ));
                }
            }
        }
        assert_eq!(changes.len(), 3600);
        let ctx = ctx();
        let md = markdown(&changes, &[], &ctx);
        assert!(
            md.chars().count() <= 65_536 && md.len() <= 262_144,
            "{} chars, {} bytes",
            md.chars().count(),
            md.len()
        );
        assert!(md.contains("more files not shown"), "the cut is said");
        // The summary is complete: the table's row count note and totals are there.
        assert!(md.contains("3600 changed"), "totals");
        let parts = split_parts(&changes, &ctx);
        assert!(parts.len() > 1);
        let n = parts.len();
        for (i, p) in parts.iter().enumerate() {
            assert!(
                p.chars().count() <= 65_536 && p.len() <= 262_144,
                "part {i}"
            );
            assert!(p.contains(&format!("part {}/{n}", i + 1)));
        }
        // Every file appears in exactly one part.
        let total: usize = parts.iter().map(|p| p.matches("<details>").count()).sum();
        assert_eq!(total, 3600);
        let step = step_summary(&changes, &[], &ctx);
        assert!(step.len() <= STEP_SUMMARY_MAX_BYTES);
    }

    #[test]
    fn one_huge_file_is_cut_not_dropped() {
        let old: String = (0..100_000).map(|i| format!("a{i}\n")).collect();
        let new: String = (0..100_000).map(|i| format!("b{i}\n")).collect();
        let changes = vec![change("apps/dev/a/big.yaml", Action::Change, &old, &new)];
        let md = markdown(&changes, &[], &ctx());
        assert!(md.contains("more lines not shown"));
        assert!(md.len() <= COMMENT_MAX_BYTES);
        let parts = split_parts(&changes, &ctx());
        assert_eq!(parts.len(), 1);
        assert!(parts[0].chars().count() <= 65_536);
    }
}
