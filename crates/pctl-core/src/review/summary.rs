//! The summary of a review: the heading (counts and the first names), the cost change (by team,
//! largest movers), what needs attention (grouped by kind, counted, riskiest first), who must
//! approve what (grouped by CODEOWNERS rule and approvers, each once), and the change by
//! service (small changes) or by team and environment (large ones). Every list shows at most
//! `detail` items and counts the rest, saying where they are.

use super::{Review, Risk, code, cost_changes, env_of, plural, teams, text};
use crate::plan::{Action, Change};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Where every omitted detail is.
const EVERY_FILE: &str = "plan.json lists every file with its risks";

/// Rows of service x environment shown as a table; above it, the change is shown by team and
/// environment instead.
const SERVICE_ROWS: usize = 40;

pub(super) fn summary(r: &Review, detail: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}\n## {}\n", super::MARKER, text(&r.ctx.title));
    let changes: Vec<(&Change, &[Risk])> = r.reviewed().collect();
    if changes.is_empty() {
        let _ = writeln!(s, "No changes: {} is up to date.", r.ctx.destination);
        return s;
    }
    let count = |a: Action| changes.iter().filter(|(c, _)| c.action == a).count();
    let services: BTreeSet<&str> = changes
        .iter()
        .map(|(c, _)| c.owner.as_str())
        .filter(|o| is_service(o))
        .collect();
    let envs: BTreeSet<&str> = changes
        .iter()
        .filter_map(|(c, _)| env_of(&c.path))
        .collect();
    let _ = writeln!(
        s,
        "To {}: **{} · {} · {} added · {} changed · {} deleted**\n",
        r.ctx.destination,
        plural(services.len(), "service", "services"),
        plural(envs.len(), "environment", "environments"),
        count(Action::Add),
        count(Action::Change),
        count(Action::Delete)
    );
    cost(&mut s, r, detail);
    attention(&mut s, r, &changes, detail);
    s.push_str(&crate::exemption::review_section(r.changes, detail));
    approvals(&mut s, r, detail);
    table(&mut s, r, &changes, detail);
    s
}

fn is_service(owner: &str) -> bool {
    owner != "organisation" && owner != crate::expand::CATALOG_OWNER
}

fn signed(d: f64) -> String {
    format!("{}{}", if d >= 0.0 { "+" } else { "" }, crate::cost::usd(d))
}

/// "… and 12 more (where)" when `shown` of `total` were listed.
fn more(s: &mut String, indent: &str, total: usize, shown: usize, what: &str, where_: &str) {
    if total > shown {
        let what = if what.is_empty() {
            String::new()
        } else {
            format!(" {what}")
        };
        let _ = writeln!(s, "{indent}- … and {} more{what} ({where_})", total - shown);
    }
}

/// "3 services", "3 services and the organisation", "the organisation".
fn owners<'a>(owners: impl Iterator<Item = &'a str>) -> String {
    let all: BTreeSet<&str> = owners.collect();
    let services = all.iter().filter(|o| is_service(o)).count();
    let others = all.len() - services;
    match (services, others) {
        (0, _) => "the organisation".to_string(),
        (n, 0) => plural(n, "service", "services"),
        (n, _) => format!("{} and the organisation", plural(n, "service", "services")),
    }
}

fn cost(s: &mut String, r: &Review, detail: usize) {
    let costs = cost_changes(r.changes);
    if costs.is_empty() {
        return;
    }
    let total: f64 = costs.iter().map(|(_, _, o, n)| n - o).sum();
    let line = |(svc, team, o, n): &(String, String, f64, f64)| {
        format!("{} {}/month ({})", text(svc), signed(n - o), text(team))
    };
    if costs.len() <= 3 {
        let parts: Vec<String> = costs.iter().map(line).collect();
        let _ = writeln!(
            s,
            "Monthly cost: **{}** — {}\n",
            signed(total),
            parts.join(", ")
        );
        return;
    }
    let _ = writeln!(
        s,
        "Monthly cost: **{}** across {}\n",
        signed(total),
        plural(costs.len(), "service", "services")
    );
    // By team, largest change first.
    let mut by_team: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    for (_, team, o, n) in &costs {
        let e = by_team.entry(team.as_str()).or_default();
        e.0 += n - o;
        e.1 += 1;
    }
    let mut teams: Vec<(&str, f64, usize)> =
        by_team.into_iter().map(|(t, (d, n))| (t, d, n)).collect();
    teams.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(b.0)));
    let shown = teams.len().min(detail.max(3));
    let parts: Vec<String> = teams[..shown]
        .iter()
        .map(|(t, d, n)| {
            format!(
                "{} {} ({})",
                text(t),
                signed(*d),
                plural(*n, "service", "services")
            )
        })
        .collect();
    let mut by_team_line = format!("- by team: {}", parts.join(", "));
    if teams.len() > shown {
        let rest: f64 = teams[shown..].iter().map(|(_, d, _)| d).sum();
        let _ = write!(
            by_team_line,
            ", and {} more teams {}",
            teams.len() - shown,
            signed(rest)
        );
    }
    let _ = writeln!(s, "{by_team_line}");
    // The services that move most.
    let mut movers: Vec<&(String, String, f64, f64)> = costs.iter().collect();
    movers.sort_by(|a, b| {
        (b.3 - b.2)
            .abs()
            .total_cmp(&(a.3 - a.2).abs())
            .then(a.0.cmp(&b.0))
    });
    let shown = movers.len().min(detail.min(5));
    if shown > 0 {
        let parts: Vec<String> = movers[..shown].iter().map(|c| line(c)).collect();
        let _ = writeln!(s, "- largest: {}", parts.join(", "));
    }
    let _ = writeln!(s, "- every service's cost change: plan.json (`costs`)\n");
}

/// One kind of risk: a headline with counts, and its items, riskiest first.
struct Group {
    icon: &'static str,
    headline: String,
    /// (rank: higher is riskier, line)
    items: Vec<(u32, String)>,
}

/// How risky one file's change is within its kind: a deletion, then a protected environment.
fn rank(c: &Change, risks: &[Risk]) -> u32 {
    let mut n = match c.action {
        Action::Delete => 4,
        Action::Change => 2,
        Action::Add => 1,
    };
    if risks.contains(&Risk::ProtectedEnvironment) {
        n += 8;
    }
    n
}

fn attention(s: &mut String, r: &Review, changes: &[(&Change, &[Risk])], detail: usize) {
    let mut groups: Vec<Group> = Vec::new();
    // Deletions: the removal lines say most; files deleted outside a removal are named.
    let deleted: Vec<&(&Change, &[Risk])> = changes
        .iter()
        .filter(|(c, _)| c.action == Action::Delete)
        .collect();
    if !deleted.is_empty() || !r.removals.is_empty() {
        let covered = |c: &Change| {
            let env = env_of(&c.path).unwrap_or("");
            r.removals.iter().any(|l| {
                l.starts_with(&format!("{}: removed from {env} (", c.owner))
                    || *l == format!("{}: removed from the deploy repository", c.owner)
            })
        };
        let mut items: Vec<(u32, String)> = r
            .removals
            .iter()
            .map(|l| (100, format!("**{}**", text(l))))
            .collect();
        items.extend(
            deleted
                .iter()
                .filter(|(c, _)| !covered(c))
                .map(|(c, risks)| (rank(c, risks), format!("{} is deleted", code(&c.path)))),
        );
        groups.push(Group {
            icon: Risk::Deletion.icon(),
            headline: format!(
                "{} deleted ({})",
                plural(deleted.len(), "file", "files"),
                owners(deleted.iter().map(|(c, _)| c.owner.as_str()))
            ),
            items,
        });
    }
    if !r.moves.is_empty() {
        groups.push(Group {
            icon: "🚚",
            headline: format!(
                "{}: ownership moved",
                plural(r.moves.len(), "service", "services")
            ),
            items: r.moves.iter().map(|m| (1, text(m))).collect(),
        });
    }
    // Protected environments: per service and environment.
    let mut protected: BTreeMap<(&str, &str), [usize; 2]> = BTreeMap::new();
    for (c, risks) in changes {
        if risks.contains(&Risk::ProtectedEnvironment) {
            let e = protected
                .entry((c.owner.as_str(), env_of(&c.path).unwrap_or("?")))
                .or_default();
            e[0] += 1;
            if c.action == Action::Delete {
                e[1] += 1;
            }
        }
    }
    if !protected.is_empty() {
        let files: usize = protected.values().map(|n| n[0]).sum();
        let envs: BTreeSet<&str> = protected.keys().map(|(_, e)| *e).collect();
        groups.push(Group {
            icon: Risk::ProtectedEnvironment.icon(),
            headline: format!(
                "{} in a protected environment ({} in {})",
                plural(files, "file", "files"),
                owners(protected.keys().map(|(o, _)| *o)),
                envs.iter().map(|e| text(e)).collect::<Vec<_>>().join(", ")
            ),
            items: protected
                .iter()
                .map(|((o, e), [n, d])| {
                    let deleted = if *d > 0 {
                        format!(", {d} deleted")
                    } else {
                        String::new()
                    };
                    // More deletions, then more files, is riskier.
                    let rank = (*d as u32).saturating_mul(1000).saturating_add(*n as u32);
                    (
                        rank,
                        format!(
                            "{} in {}: {}{deleted}",
                            text(o),
                            text(e),
                            plural(*n, "file", "files")
                        ),
                    )
                })
                .collect(),
        });
    }
    // Per file, one group per kind, in the order of [`Risk`].
    let kind = |r: &Risk| match r {
        Risk::StatefulResource(_) => Some(0),
        Risk::SizeChange(_) => Some(1),
        Risk::PublicEndpoint => Some(2),
        Risk::Approvals => Some(3),
        Risk::SecretReference => Some(4),
        Risk::Deletion | Risk::ProtectedEnvironment => None,
    };
    let mut per_kind: [Vec<(u32, String)>; 5] = Default::default();
    let mut icons = [""; 5];
    let mut by_what: BTreeMap<&str, usize> = BTreeMap::new();
    for (c, risks) in changes {
        for risk in risks.iter() {
            let Some(k) = kind(risk) else { continue };
            icons[k] = risk.icon();
            let line = match risk {
                Risk::StatefulResource(what) => {
                    *by_what.entry(what.as_str()).or_default() += 1;
                    format!("{}: {what}", code(&c.path))
                }
                Risk::SizeChange(d) => format!("{}: {}", code(&c.path), text(d)),
                _ => format!("{} ({})", code(&c.path), super::action_word(c.action)),
            };
            per_kind[k].push((rank(c, risks), line));
        }
    }
    for (k, items) in per_kind.into_iter().enumerate() {
        if items.is_empty() {
            continue;
        }
        let icon = icons[k];
        let n = items.len();
        let headline = match k {
            0 => format!(
                "{}: {}",
                plural(n, "stateful resource", "stateful resources"),
                ["deleted", "changed", "created"]
                    .iter()
                    .filter_map(|w| by_what.get(w).map(|k| format!("{k} {w}")))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            1 => format!(
                "{}: settings changed",
                plural(n, "data store", "data stores")
            ),
            2 => format!(
                "{}: public endpoint added or changed",
                plural(n, "file", "files")
            ),
            3 => format!(
                "{}: approvals or environments changed",
                plural(n, "workflow", "workflows")
            ),
            _ => format!(
                "{}: secret references changed (values are never shown)",
                plural(n, "file", "files")
            ),
        };
        groups.push(Group {
            icon,
            headline,
            items,
        });
    }
    if !r.warnings.is_empty() {
        groups.push(Group {
            icon: "⚠️",
            headline: plural(r.warnings.len(), "warning", "warnings"),
            items: r.warnings.iter().map(|w| (1, text(w))).collect(),
        });
    }
    if groups.is_empty() {
        return;
    }
    let _ = writeln!(s, "### Needs attention\n");
    for mut g in groups {
        g.items.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let total = g.items.len();
        if total == 1 && detail > 0 {
            let _ = writeln!(s, "- {} **{}**: {}", g.icon, g.headline, g.items[0].1);
            continue;
        }
        let _ = writeln!(s, "- {} **{}**", g.icon, g.headline);
        let shown = total.min(detail);
        for (_, line) in &g.items[..shown] {
            let _ = writeln!(s, "  - {line}");
        }
        more(s, "  ", total, shown, "", EVERY_FILE);
    }
    let _ = writeln!(s);
}

/// The CODEOWNERS rules a change touches: rule -> approvers, by the rule.
pub(super) fn needed_approvals(r: &Review) -> BTreeMap<String, Vec<String>> {
    let mut needed = BTreeMap::new();
    if r.ctx.approvals.is_empty() {
        return needed;
    }
    for (c, _) in r.reviewed() {
        // The rules are folders: look up each folder the file is in.
        let path = format!("/{}", c.path);
        for (i, _) in path.match_indices('/') {
            let prefix = &path[..=i];
            if let Some(who) = r.ctx.approvals.get(prefix) {
                needed.insert(prefix.to_string(), who.clone());
                break;
            }
        }
    }
    needed
}

/// Who must approve what, each group of approvers once, with the rules it covers.
fn approvals(s: &mut String, r: &Review, detail: usize) {
    let needed = needed_approvals(r);
    if needed.is_empty() {
        return;
    }
    let mut groups: BTreeMap<(String, &str), Vec<&str>> = BTreeMap::new();
    for (prefix, who) in &needed {
        let why = if prefix.starts_with("/terraform/") {
            "stateful resources"
        } else {
            "protected environment or declared approvals"
        };
        groups
            .entry((
                who.iter().map(|w| text(w)).collect::<Vec<_>>().join(" "),
                why,
            ))
            .or_default()
            .push(prefix);
    }
    let _ = writeln!(s, "### Approvals required\n");
    let mut groups: Vec<((String, &str), Vec<&str>)> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    let shown_groups = groups.len().min(detail.max(1) * 2);
    for ((who, why), rules) in &groups[..shown_groups] {
        let shown = rules.len().min(detail.clamp(1, 3));
        let listed: Vec<String> = rules[..shown].iter().map(|p| code(p)).collect();
        let rest = if rules.len() > shown {
            format!(" and {} more", rules.len() - shown)
        } else {
            String::new()
        };
        if rules.len() == 1 {
            let _ = writeln!(s, "- {}: {who} ({why})", listed[0]);
        } else {
            let _ = writeln!(
                s,
                "- {who} ({why}): {} — {}{rest}",
                plural(rules.len(), "rule", "rules"),
                listed.join(", ")
            );
        }
    }
    more(
        s,
        "",
        groups.len(),
        shown_groups,
        "groups of approvers",
        "plan.json `approvals` lists every rule",
    );
    let _ = writeln!(s);
}

/// The owners counted in a row, and its files added, changed and deleted.
type Tally<'a> = (BTreeSet<&'a str>, [usize; 3]);

/// The change by service and environment; for large changes by team and by environment.
fn table(s: &mut String, r: &Review, changes: &[(&Change, &[Risk])], detail: usize) {
    let slot = |a: Action| match a {
        Action::Add => 0,
        Action::Change => 1,
        Action::Delete => 2,
    };
    let mut rows: BTreeMap<(&str, &str), [usize; 3]> = BTreeMap::new();
    for (c, _) in changes {
        rows.entry((c.owner.as_str(), env_of(&c.path).unwrap_or("—")))
            .or_default()[slot(c.action)] += 1;
    }
    if rows.len() <= SERVICE_ROWS {
        let _ = writeln!(
            s,
            "| service | environment | added | changed | deleted |\n|---|---|--:|--:|--:|"
        );
        for ((svc, env), n) in &rows {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                text(svc),
                text(env),
                n[0],
                n[1],
                n[2]
            );
        }
        return;
    }
    // By team: the services' owning teams, from their records.
    let team_of = teams(r.changes);
    let mut by_team: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_env: BTreeMap<&str, Tally> = BTreeMap::new();
    for (c, _) in changes {
        let team = if is_service(&c.owner) {
            team_of.get(&c.owner).cloned().unwrap_or_else(|| "?".into())
        } else {
            "(organisation)".into()
        };
        let t = by_team.entry(team).or_default();
        t.0.insert(&c.owner);
        t.1[slot(c.action)] += 1;
        let e = by_env.entry(env_of(&c.path).unwrap_or("—")).or_default();
        e.0.insert(&c.owner);
        e.1[slot(c.action)] += 1;
    }
    let mut teams: Vec<(String, Tally)> = by_team.into_iter().collect();
    teams.sort_by(|a, b| b.1.0.len().cmp(&a.1.0.len()).then(a.0.cmp(&b.0)));
    let _ = writeln!(
        s,
        "| team | services | added | changed | deleted |\n|---|--:|--:|--:|--:|"
    );
    let shown = teams.len().min(detail.max(1) * 2);
    for (team, (owners, n)) in &teams[..shown] {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            text(team),
            owners.len(),
            n[0],
            n[1],
            n[2]
        );
    }
    if teams.len() > shown {
        let _ = writeln!(s, "| … {} more teams | | | | |", teams.len() - shown);
    }
    let _ = writeln!(
        s,
        "\n| environment | services | added | changed | deleted |\n|---|--:|--:|--:|--:|"
    );
    let shown = by_env.len().min(detail.max(1) * 2);
    for (env, (owners, n)) in by_env.iter().take(shown) {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            text(env),
            owners.len(),
            n[0],
            n[1],
            n[2]
        );
    }
    if by_env.len() > shown {
        let _ = writeln!(
            s,
            "| … {} more environments | | | | |",
            by_env.len() - shown
        );
    }
    let _ = writeln!(
        s,
        "\nThe change of each service in each environment ({} rows): plan.json lists every file.",
        rows.len()
    );
}
