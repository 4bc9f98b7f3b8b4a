//! From the history to the numbers: DORA metrics per group, failed deploys, adoption of pctl
//! versions and time to a first production deploy. The document `--format json` prints.

use super::history::{Cause, Deploy, History, read_history, restored, version_key};
use super::{By, Options, SCHEMA};
use crate::time::{date, rfc3339, week_start};
use git2::{Oid, Repository};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Nearest-rank percentile of sorted values: the smallest value with at least `p`% of the
/// values at or below it (the median of 4 values is the 2nd).
pub fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Window {
    pub since: String,
    pub until: String,
    pub days: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Settings {
    pub hotfix_window_seconds: i64,
    pub prod_environments: Vec<String>,
    /// The environments counted (empty: all).
    pub environments: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Commits {
    /// First-parent commits of the branch.
    pub walked: usize,
    /// Made by pctl (before --until).
    pub pctl: usize,
    /// `git revert`s (before --until).
    pub reverts: usize,
    /// Neither (before --until): not counted.
    pub ignored: usize,
    /// At or after --until: not counted.
    pub after_until: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Stat {
    pub samples: usize,
    pub median_seconds: Option<i64>,
    pub p90_seconds: Option<i64>,
}

impl Stat {
    fn of(mut v: Vec<i64>) -> Stat {
        v.sort_unstable();
        Stat {
            samples: v.len(),
            median_seconds: percentile(&v, 50),
            p90_seconds: percentile(&v, 90),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Week {
    /// The Monday (UTC) the week starts on.
    pub week: String,
    pub deployments: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Causes {
    pub revert: usize,
    pub rollback: usize,
    pub hotfix: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Group {
    /// The environment, service or team (`total` for the whole).
    pub key: String,
    pub deployments: usize,
    pub per_day: f64,
    pub per_week: f64,
    pub weekly: Vec<Week>,
    pub lead_time: Stat,
    /// Deploys of a new source commit without `Pctl-Source-Time` (no lead time).
    pub lead_time_unknown: usize,
    pub failed: usize,
    /// failed / deployments; null without deployments.
    pub change_failure_rate: Option<f64>,
    pub failures_by_cause: Causes,
    pub time_to_restore: Stat,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FailureRow {
    pub service: String,
    pub env: String,
    pub team: Option<String>,
    pub commit: String,
    pub time: String,
    pub image: Option<String>,
    pub cause: Cause,
    /// The revert, rollback or hot-fix commit.
    pub detected_by: String,
    /// The commit that restored service (see docs/metrics.md), null if none yet.
    pub restored_by: Option<String>,
    pub restore_seconds: Option<i64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VersionCount {
    pub version: String,
    pub services: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Lagging {
    pub service: String,
    pub version: String,
    /// Distinct pctl versions seen in the repository that are newer.
    pub versions_behind: usize,
    /// Since the golden version first appeared in the repository.
    pub lagging_seconds: Option<i64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Adoption {
    /// The newest pctl version in the repository (records and trailers).
    pub golden_version: Option<String>,
    pub golden_since: Option<String>,
    pub services: usize,
    pub current: usize,
    pub lagging: usize,
    /// Newest first.
    pub versions: Vec<VersionCount>,
    pub lagging_services: Vec<Lagging>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Onboarded {
    pub service: String,
    pub first_deploy: String,
    pub first_prod_deploy: Option<String>,
    pub seconds: Option<i64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Onboarding {
    /// Services whose first deploy is in the window.
    pub services: Vec<Onboarded>,
    pub time_to_prod: Stat,
    pub not_in_prod: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Metrics {
    pub schema: String,
    pub repository: String,
    pub branch: String,
    /// The last commit before --until (null: none).
    pub head: Option<String>,
    pub window: Window,
    pub by: By,
    pub settings: Settings,
    pub commits: Commits,
    pub groups: Vec<Group>,
    pub total: Group,
    pub failures: Vec<FailureRow>,
    pub adoption: Adoption,
    pub onboarding: Onboarding,
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// A week of the UTC calendar: 7 days of 86,400 seconds each (Unix time has no leap seconds).
const WEEK: i64 = 7 * 86_400;

fn group(
    key: String,
    deploys: &[&Deploy],
    all: &[Deploy],
    index: &[usize],
    opts: &Options,
) -> Group {
    let days = (opts.until - opts.since) as f64 / 86_400.0;
    let mut weeks: BTreeMap<i64, usize> = BTreeMap::new();
    if opts.until > opts.since {
        let mut w = week_start(opts.since);
        while w < opts.until {
            weeks.insert(w, 0);
            w += WEEK;
        }
    }
    let mut leads = Vec::new();
    let mut restores = Vec::new();
    let mut g = Group {
        key,
        deployments: deploys.len(),
        ..Group::default()
    };
    for (d, &i) in deploys.iter().zip(index) {
        *weeks.entry(week_start(d.time)).or_default() += 1;
        if let Some(l) = d.lead {
            leads.push(l);
        }
        g.lead_time_unknown += usize::from(d.lead_unknown);
        if let Some(f) = &d.failure {
            g.failed += 1;
            match f.cause {
                Cause::Revert => g.failures_by_cause.revert += 1,
                Cause::Rollback => g.failures_by_cause.rollback += 1,
                Cause::Hotfix => g.failures_by_cause.hotfix += 1,
            }
            if let Some((_, t)) = restored(all, i) {
                restores.push(t - d.time);
            }
        }
    }
    if days > 0.0 {
        g.per_day = round(g.deployments as f64 / days, 3);
        g.per_week = round(g.deployments as f64 * 7.0 / days, 3);
    }
    g.change_failure_rate =
        (g.deployments > 0).then(|| round(g.failed as f64 / g.deployments as f64, 4));
    g.weekly = weeks
        .into_iter()
        .map(|(w, n)| Week {
            week: date(w),
            deployments: n,
        })
        .collect();
    g.lead_time = Stat::of(leads);
    g.time_to_restore = Stat::of(restores);
    g
}

fn read_adoption(repo: &Repository, h: &History, opts: &Options) -> Adoption {
    let mut services: BTreeMap<String, String> = BTreeMap::new();
    let tree = h
        .head
        .and_then(|o| repo.find_commit(o).ok())
        .and_then(|c| c.tree().ok());
    if let Some(dir) = tree
        .as_ref()
        .and_then(|t| t.get_path(Path::new(".pctl/services")).ok())
        .and_then(|e| repo.find_tree(e.id()).ok())
    {
        for e in dir.iter() {
            let Some(blob) = e
                .name()
                .ok()
                .filter(|n| n.ends_with(".json"))
                .and_then(|_| repo.find_blob(e.id()).ok())
            else {
                continue;
            };
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(blob.content()) else {
                continue;
            };
            if let Some(s) = v["service"].as_str() {
                let version = v["pctl_version"].as_str().unwrap_or("unknown");
                services.insert(s.to_string(), version.to_string());
            }
        }
    }
    let mut all: BTreeSet<&str> = services.values().map(String::as_str).collect();
    all.extend(h.versions.keys().map(String::as_str));
    let mut all: Vec<&str> = all.into_iter().collect();
    all.sort_by_key(|v| std::cmp::Reverse(version_key(v)));
    let golden = all.first().map(|v| v.to_string());
    let golden_since = golden.as_ref().and_then(|g| h.versions.get(g)).copied();
    let mut a = Adoption {
        golden_version: golden.clone(),
        golden_since: golden_since.map(rfc3339),
        services: services.len(),
        ..Adoption::default()
    };
    for v in &all {
        let names: Vec<String> = services
            .iter()
            .filter(|(_, sv)| sv == v)
            .map(|(s, _)| s.clone())
            .collect();
        if !names.is_empty() {
            a.versions.push(VersionCount {
                version: v.to_string(),
                services: names,
            });
        }
    }
    for (s, v) in &services {
        if Some(v) == golden.as_ref() {
            a.current += 1;
        } else {
            a.lagging += 1;
            a.lagging_services.push(Lagging {
                service: s.clone(),
                version: v.clone(),
                versions_behind: all.iter().position(|x| x == v).unwrap_or(0),
                lagging_seconds: golden_since.map(|t| (opts.until - t).max(0)),
            });
        }
    }
    a
}

/// Computes the report from the history of `tip` (the branch).
pub fn analyse(repo: &Repository, tip: Oid, opts: &Options) -> Result<Metrics, git2::Error> {
    let h = read_history(repo, tip, opts)?;
    let in_window: Vec<usize> = (0..h.deploys.len())
        .filter(|&i| {
            let d = &h.deploys[i];
            d.time >= opts.since && (opts.envs.is_empty() || opts.envs.contains(&d.env))
        })
        .collect();
    let key_of = |d: &Deploy| match opts.by {
        By::Env => d.env.clone(),
        By::Service => d.service.clone(),
        By::Team => d.team.clone().unwrap_or_else(|| "(unknown)".into()),
    };
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for &i in &in_window {
        groups.entry(key_of(&h.deploys[i])).or_default().push(i);
    }
    let pick = |idx: &[usize]| idx.iter().map(|&i| &h.deploys[i]).collect::<Vec<_>>();
    let groups_out = groups
        .into_iter()
        .map(|(k, idx)| group(k, &pick(&idx), &h.deploys, &idx, opts))
        .collect();
    let total = group(
        "total".into(),
        &pick(&in_window),
        &h.deploys,
        &in_window,
        opts,
    );
    let failures = in_window
        .iter()
        .filter_map(|&i| {
            let d = &h.deploys[i];
            let f = d.failure.as_ref()?;
            let r = restored(&h.deploys, i);
            Some(FailureRow {
                service: d.service.clone(),
                env: d.env.clone(),
                team: d.team.clone(),
                commit: d.commit.to_string(),
                time: rfc3339(d.time),
                image: d.image.clone(),
                cause: f.cause,
                detected_by: f.by_commit.to_string(),
                restored_by: r.map(|(c, _)| c.to_string()),
                restore_seconds: r.map(|(_, t)| t - d.time),
            })
        })
        .collect();
    let mut onboarding = Onboarding::default();
    let mut tt = Vec::new();
    for (s, &first) in &h.first_deploy {
        if first < opts.since {
            continue;
        }
        let prod = h.first_prod.get(s).copied();
        match prod {
            Some(p) => tt.push(p - first),
            None => onboarding.not_in_prod += 1,
        }
        onboarding.services.push(Onboarded {
            service: s.clone(),
            first_deploy: rfc3339(first),
            first_prod_deploy: prod.map(rfc3339),
            seconds: prod.map(|p| p - first),
        });
    }
    onboarding.time_to_prod = Stat::of(tt);
    Ok(Metrics {
        schema: SCHEMA.into(),
        repository: String::new(),
        branch: String::new(),
        head: h.head.map(|o| o.to_string()),
        window: Window {
            since: rfc3339(opts.since),
            until: rfc3339(opts.until),
            days: round((opts.until - opts.since) as f64 / 86_400.0, 3),
        },
        by: opts.by,
        settings: Settings {
            hotfix_window_seconds: opts.hotfix_window,
            prod_environments: opts.prod_envs.iter().cloned().collect(),
            environments: opts.envs.iter().cloned().collect(),
        },
        commits: Commits {
            walked: h.walked,
            pctl: h.pctl,
            reverts: h.reverts,
            ignored: h.ignored,
            after_until: h.after_until,
        },
        adoption: read_adoption(repo, &h, opts),
        groups: groups_out,
        total,
        failures,
        onboarding,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[5], 90), Some(5));
        assert_eq!(percentile(&[1, 2, 3, 4], 50), Some(2));
        assert_eq!(percentile(&[1, 2, 3, 4, 5], 50), Some(3));
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&ten, 90), Some(9));
        assert_eq!(percentile(&ten, 100), Some(10));
    }
}
