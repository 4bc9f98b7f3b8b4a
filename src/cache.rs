//! The render cache of an output folder (part of stage 6, plan): a service whose inputs have not
//! changed since the last `render --out` into that folder needs neither rendering nor writing.
//!
//! A service's files are a function of its platform.yaml, where it came from (repository,
//! commit, image tag), the organisation config, the blueprints, the Rego policies, pctl's
//! version and its dependencies' contracts (the addresses it reads come from their Services
//! and ports), and of nothing else. The key is a hash of exactly those. `.pctl/render-cache` maps each service to
//! the key it was last rendered with and the hash of the `.pctl/services/<name>.json` record that
//! render wrote; a service is a hit when both still match. The record lists every file with
//! its content hash, so a hit means the folder holds what a render would write, as long as
//! nobody edited it by hand: `render --no-cache` renders and compares everything. The line also
//! keeps what the run surveyed of the service (cost lines, environments, catalog entry: all
//! functions of the same inputs), so a hit is not even resolved.
//!
//! Only services rendered without any diagnostic from rendering, the labels guardrail or Rego
//! policies are remembered, so a hit never hides a warning; validation, the guardrails on the
//! intent alone and the budget (which depends on other services) run on every render. The cache is not part of the deploy tree: publish neither reads nor
//! writes it.

use pctl_core::compile::Survey;
use pctl_core::digest::sha256;
use pctl_core::plan::STATE_DIR;
use pctl_core::resolve::Source;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

/// The cache file, relative to the output folder.
pub const FILE: &str = ".pctl/render-cache";

const FORMAT: &str = "pctl render cache v2";

/// Hash of length-prefixed parts: no two different part lists hash the same.
fn digest(parts: &[&str]) -> String {
    let mut all = String::new();
    for p in parts {
        all.push_str(&p.len().to_string());
        all.push(':');
        all.push_str(p);
    }
    sha256(&all)
}

/// What every service of a run shares: pctl's version, the organisation config, the
/// blueprints' and the policies' fingerprints.
pub fn run_fingerprint(org_config: &str, blueprints: &str, policies: &str) -> String {
    digest(&[
        FORMAT,
        env!("CARGO_PKG_VERSION"),
        org_config,
        blueprints,
        policies,
    ])
}

/// One service's key: the run's fingerprint, its platform.yaml (name and text), its source and
/// a digest of its dependencies' contracts (`pctl_core::contract::digest_of`).
pub fn key(
    run: &str,
    intent_name: &str,
    intent_text: &str,
    source: &Source,
    dependencies: &str,
) -> String {
    digest(&[
        run,
        intent_name,
        intent_text,
        &source.repository,
        &source.sha,
        &source.image_tag,
        source.image_digest.as_deref().unwrap_or(""),
        dependencies,
    ])
}

fn record_path(service: &str) -> String {
    format!("{STATE_DIR}/services/{service}.json")
}

/// One service's line: the key it was rendered with, the hash of the record that render
/// wrote, and what the run surveyed of it (a [`Survey`] as JSON: cost lines, environments,
/// catalog entry), when its intent checks found nothing, so a hit never hides a warning.
struct Line {
    key: String,
    record: String,
    survey: Option<String>,
}

/// service -> its line, from the cache file's text (nothing when the format is another's).
fn parse(text: &str) -> BTreeMap<String, Line> {
    let mut lines = text.lines();
    if lines.next() != Some(FORMAT) {
        return BTreeMap::new();
    }
    lines
        .filter_map(|l| {
            let mut f = l.splitn(4, ' ');
            let (s, key, record) = (f.next()?, f.next()?, f.next()?);
            let line = Line {
                key: key.to_string(),
                record: record.to_string(),
                survey: f.next().map(str::to_string),
            };
            Some((s.to_string(), line))
        })
        .collect()
}

/// The cache file's text in `dir` (empty when there is none).
fn read(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(FILE)).unwrap_or_default()
}

/// The cache's verdict on a run's services.
#[derive(Default)]
pub struct Hits {
    /// The services whose output in the folder is what a render would write.
    pub services: BTreeSet<String>,
    /// What was surveyed of those hits (not all have one).
    pub surveys: BTreeMap<String, Survey>,
}

/// The services of `keys` (service -> key) whose output in `dir` is what a render would write,
/// and their surveys.
pub fn hits(dir: &Path, keys: &BTreeMap<String, String>) -> Hits {
    use rayon::prelude::*;
    let known = parse(&read(dir));
    let candidates: Vec<(&String, &Line)> = keys
        .iter()
        .filter_map(|(s, k)| known.get(s).filter(|l| &l.key == k).map(|l| (s, l)))
        .collect();
    let found: Vec<(String, Option<Survey>)> = candidates
        .par_iter()
        .filter(|(s, line)| {
            std::fs::read_to_string(dir.join(record_path(s)))
                .is_ok_and(|text| sha256(&text) == line.record)
        })
        .map(|(s, line)| {
            let survey = line
                .survey
                .as_deref()
                .and_then(|j| serde_json::from_str::<Survey>(j).ok())
                // A survey is a claim like anything in the folder: one that prices another
                // service (its budget, its team's) is not taken.
                .filter(|v| v.costs.iter().all(|l| &l.service == *s));
            ((*s).clone(), survey)
        })
        .collect();
    let mut hits = Hits::default();
    for (s, survey) in found {
        if let Some(v) = survey {
            hits.surveys.insert(s.clone(), v);
        }
        hits.services.insert(s);
    }
    hits
}

/// The hashes of the service records in a rendered tree: what [`write`] remembers.
pub fn records(tree: &pctl_core::expand::Tree) -> BTreeMap<String, String> {
    let prefix = format!("{STATE_DIR}/services/");
    tree.range(prefix.clone()..)
        .take_while(|(p, _)| p.starts_with(&prefix))
        .filter_map(|(p, f)| {
            let name = p.strip_prefix(&prefix)?.strip_suffix(".json")?;
            Some((name.to_string(), sha256(&f.content)))
        })
        .collect()
}

/// Writes the cache after a render into `dir`: the hits stay, services rendered without
/// diagnostics (`clean`) are added with their new record (`records`, see [`records`]) and
/// what the run surveyed of them (`surveys`), everything else is forgotten.
pub fn write(
    dir: &Path,
    keys: &BTreeMap<String, String>,
    hits: &BTreeSet<String>,
    clean: &BTreeSet<String>,
    records: &BTreeMap<String, String>,
    surveys: &BTreeMap<String, Survey>,
) -> std::io::Result<()> {
    let old = read(dir);
    let known = parse(&old);
    let mut text = format!("{FORMAT}\n");
    // Written from this run's survey, hits too: a line whose survey could not be read (an
    // older pctl's) is mended rather than carried along.
    let survey = |service: &str| {
        surveys
            .get(service)
            .filter(|v| v.intent_checks.is_empty())
            .and_then(|v| serde_json::to_string(v).ok())
    };
    for (service, key) in keys {
        let line = if hits.contains(service) {
            known
                .get(service)
                .map(|l| (l.record.clone(), survey(service)))
        } else if clean.contains(service) {
            records.get(service).map(|r| (r.clone(), survey(service)))
        } else {
            None
        };
        if let Some((record, survey)) = line {
            text.push_str(&format!("{service} {key} {record}"));
            if let Some(j) = survey {
                text.push(' ');
                text.push_str(&j);
            }
            text.push('\n');
        }
    }
    if old == text {
        return Ok(());
    }
    let target = dir.join(FILE);
    let parent = target.parent().expect("cache file has a folder");
    std::fs::create_dir_all(parent)?;
    let mut tmp = tempfile::NamedTempFile::new_in(parent)?;
    tmp.write_all(text.as_bytes())?;
    tmp.persist(&target).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(sha: &str) -> Source {
        Source {
            repository: "r".into(),
            sha: sha.into(),
            image_tag: "t".into(),
            image_digest: None,
        }
    }

    #[test]
    fn every_input_changes_the_key() {
        let run = run_fingerprint("org", "bp", "pol");
        let base = key(&run, "a/platform.yaml", "text", &src("1"), "d");
        for other in [
            key(
                &run_fingerprint("org2", "bp", "pol"),
                "a/platform.yaml",
                "text",
                &src("1"),
                "d",
            ),
            key(
                &run_fingerprint("org", "bp2", "pol"),
                "a/platform.yaml",
                "text",
                &src("1"),
                "d",
            ),
            key(
                &run_fingerprint("org", "bp", "pol2"),
                "a/platform.yaml",
                "text",
                &src("1"),
                "d",
            ),
            key(&run, "b/platform.yaml", "text", &src("1"), "d"),
            key(&run, "a/platform.yaml", "text2", &src("1"), "d"),
            key(&run, "a/platform.yaml", "text", &src("2"), "d"),
            key(&run, "a/platform.yaml", "text", &src("1"), "d2"),
        ] {
            assert_ne!(base, other);
        }
        assert_eq!(base, key(&run, "a/platform.yaml", "text", &src("1"), "d"));
        // Length prefixes: moving a boundary changes the key.
        assert_ne!(digest(&["ab", "c"]), digest(&["a", "bc"]));
    }

    /// a: a survey without findings (an awkward float among its costs); b: one with a finding.
    fn surveys() -> BTreeMap<String, Survey> {
        let line = pctl_core::cost::Line {
            service: "a".into(),
            team: "t".into(),
            environment: "dev".into(),
            item: "compute".into(),
            what: "2 x".into(),
            usd_month: 0.1f64.mul_add(3.0, 1e-9),
        };
        let a = Survey {
            costs: vec![line],
            environments: vec!["dev".into()],
            intent_checks: vec![],
            catalog: Some(serde_json::json!({"name": "a", "usd_month": 0.1 + 0.2}).to_string()),
        };
        let mut b = a.clone();
        b.intent_checks
            .push(pctl_core::diag::Diagnostic::warning("x/y", "finding"));
        [("a".to_string(), a), ("b".to_string(), b)].into()
    }

    #[test]
    fn hits_need_the_same_key_and_the_same_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut tree = pctl_core::expand::Tree::new();
        for s in ["a", "b", "c"] {
            tree.insert(
                record_path(s),
                pctl_core::expand::RenderedFile {
                    content: format!("record of {s}\n"),
                    owner: pctl_core::expand::Owner::Service(s.into()),
                    class: None,
                },
            );
            std::fs::create_dir_all(dir.path().join(".pctl/services")).unwrap();
            std::fs::write(dir.path().join(record_path(s)), format!("record of {s}\n")).unwrap();
        }
        let keys: BTreeMap<String, String> = ["a", "b", "c"]
            .iter()
            .map(|s| (s.to_string(), format!("k{s}")))
            .collect();
        assert!(
            hits(dir.path(), &keys).services.is_empty(),
            "no cache file yet"
        );
        let clean: BTreeSet<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        write(
            dir.path(),
            &keys,
            &BTreeSet::new(),
            &clean,
            &records(&tree),
            &surveys(),
        )
        .unwrap();
        // c had diagnostics: not remembered.
        assert_eq!(hits(dir.path(), &keys).services, clean);
        // a's survey comes back as it was (to the bit), b had a finding: none kept.
        let back = hits(dir.path(), &keys).surveys;
        assert_eq!(back.keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!(back["a"].costs, surveys()["a"].costs);
        assert_eq!(
            back["a"].costs[0].usd_month.to_bits(),
            0.1f64.mul_add(3.0, 1e-9).to_bits()
        );
        assert_eq!(back["a"].catalog, surveys()["a"].catalog);
        // A survey that cannot be read (an older pctl's) is a hit without one, mended by the
        // next write.
        let file = dir.path().join(FILE);
        let text = std::fs::read_to_string(&file).unwrap();
        let mended: String = text
            .lines()
            .map(|l| match l.split_once(" {\"costs\"") {
                Some((head, _)) if l.starts_with("a ") => format!("{head} {{\"catalog\":{{}}}}\n"),
                _ => format!("{l}\n"),
            })
            .collect();
        std::fs::write(&file, mended).unwrap();
        let found = hits(dir.path(), &keys);
        assert!(found.services.contains("a") && found.surveys.is_empty());
        write(
            dir.path(),
            &keys,
            &found.services,
            &BTreeSet::new(),
            &BTreeMap::new(),
            &surveys(),
        )
        .unwrap();
        assert_eq!(
            hits(dir.path(), &keys).surveys["a"].costs,
            surveys()["a"].costs
        );
        // A line whose survey prices another service: a hit, its survey not taken.
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(
            &file,
            text.replace("\"service\":\"a\"", "\"service\":\"b\""),
        )
        .unwrap();
        let found = hits(dir.path(), &keys);
        assert!(found.services.contains("a") && !found.surveys.contains_key("a"));
        // A changed key, or a record edited since, is a miss.
        let mut changed = keys.clone();
        changed.insert("a".into(), "other".into());
        std::fs::write(dir.path().join(record_path("b")), "edited\n").unwrap();
        assert!(hits(dir.path(), &changed).services.is_empty());
        // Hits survive the next write; a miss that renders with diagnostics is forgotten.
        std::fs::write(dir.path().join(record_path("b")), "record of b\n").unwrap();
        let b: BTreeSet<String> = ["b".to_string()].into();
        write(
            dir.path(),
            &changed,
            &b,
            &BTreeSet::new(),
            &records(&tree),
            &surveys(),
        )
        .unwrap();
        assert_eq!(hits(dir.path(), &keys).services, b);
    }
}
