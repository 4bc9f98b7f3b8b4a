//! The stages a compiling command runs, in order: read and validate the inputs, find each
//! intent's source (git), consult the render cache, then compile in parts and hand each part to
//! a sink as soon as it is compiled. Shared by render, diff, publish and cost.

use crate::discover::{self, SourceOverrides, shard_of};
use crate::exit::{self, Report};
use crate::inputs::{CheckedRun, Inputs, check};
use pctl_core::diag::{Diagnostic, has_errors, sort};
use pctl_core::model::{Intent, Org};
use pctl_core::resolve::Source;
use pctl_core::validate::Checked;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A run that stopped: its diagnostics and "nothing was written".
pub fn fail(run: &CheckedRun, diags: &[Diagnostic], code: u8) -> Report {
    Report::failed(diags.to_vec(), run.sources.clone(), code)
}

/// The exit code of a run whose inputs have errors.
pub fn input_exit(run: &CheckedRun) -> u8 {
    if run.usage_error {
        exit::USAGE
    } else {
        exit::INVALID
    }
}

/// The compiled tree of a run, or the exit code after reporting why there is none.
pub struct Built {
    pub run: CheckedRun,
    pub org: Checked<Org>,
    pub compiled: pctl_core::compile::Compiled,
    pub sources: Vec<(String, String, String)>,
    /// Service -> the environments whose promotion is manual (`pctl promote` only).
    pub manual: BTreeMap<String, BTreeSet<String>>,
    /// Service -> source commit time, for the Pctl-Source-Time trailer.
    pub times: std::collections::BTreeMap<String, i64>,
    /// Path prefix -> approvers, for the review summary (the CODEOWNERS rules of this run).
    pub approvals: std::collections::BTreeMap<String, Vec<String>>,
    /// Some services failed (with --all): the others were compiled; exit 1 at the end.
    pub partial: bool,
    /// With a render cache: every compiled service's key, and the hits (not rendered).
    pub cache: Option<(BTreeMap<String, String>, BTreeSet<String>)>,
    /// What was surveyed of every service (for the render cache, see cache.rs).
    pub survey: BTreeMap<String, pctl_core::compile::Survey>,
}

/// A consumer of compiled parts of the tree (see [`build`]).
pub type Sink<'a> = &'a mut dyn FnMut(pctl_core::expand::Tree) -> Result<(), Diagnostic>;

/// `cache`: the output folder whose render cache may spare rendering unchanged services.
/// `sink`: takes the tree part by part as it is compiled; without it, `compiled.tree` is whole.
pub fn build(
    input: &Inputs,
    pins: &SourceOverrides,
    cache: Option<&Path>,
    sink: Option<Sink<'_>>,
) -> Result<Built, Report> {
    let mut run = check(input);
    // `pctl diff` deploys nothing: a missing digest is worth a warning, not hiding the diff.
    if pins.review_only && pins.image_digest.is_none() {
        if let Some(org) = run.org.as_mut() {
            let g = &mut org.model.spec.guardrails;
            if g.get("image_digest").is_some_and(|l| l == "deny") {
                g.insert("image_digest".into(), "warn".into());
            }
        }
    }
    // With --all, one bad repository does not block the others: its diagnostics are reported,
    // its earlier output is left alone, the rest renders, and the exit code says it failed.
    let intent_files: std::collections::BTreeSet<String> = run
        .intents
        .iter()
        .map(|(_, c)| c.file.name.clone())
        .collect();
    let failed_files: std::collections::BTreeSet<String> = run
        .diags
        .iter()
        .filter(|d| d.is_error())
        .filter_map(|d| d.file.clone())
        .collect();
    let only_intents_failed = run.org.as_ref().is_some_and(|o| o.ok)
        && run.blueprints.is_some()
        && !run.usage_error
        && run.diags.iter().filter(|d| d.is_error()).all(|d| {
            d.file
                .as_ref()
                .is_some_and(|f| intent_files.contains(f) || f.ends_with("platform.yaml"))
        });
    let mut partial = false;
    if input.all && only_intents_failed && has_errors(&run.diags) {
        partial = true;
        for (_, c) in run.intents.iter_mut() {
            if failed_files.contains(&c.file.name) {
                c.ok = false;
            }
        }
    } else if has_errors(&run.diags) {
        return Err(fail(&run, &run.diags, input_exit(&run)));
    }
    let (Some(org), Some(blueprints)) = (run.org.take(), run.blueprints.take()) else {
        return Err(fail(&run, &run.diags, exit::INVALID));
    };
    // GitOps entry points never point at an empty repository (`pctl_core::gitops`).
    let mut org = org;
    if org.model.spec.deploy_repository.url.trim().is_empty() {
        if let crate::inputs::DeployRepo::Or(url) = &input.deploy_repo {
            org.model.spec.deploy_repository.url = crate::redact::url(url);
        }
    }
    if input.deploy_repo != crate::inputs::DeployRepo::Unused {
        if let Some(d) = pctl_core::gitops::missing_source(&org, &blueprints) {
            run.diags.push(d);
            return Err(fail(&run, &run.diags, exit::INVALID));
        }
    }
    // Every callee's contract: the run's intents (all of them, also other shards'), then what
    // the records outside the run say of the others.
    let mut contracts = match (&input.contracts_from, input.all) {
        (Some(from), false) => match crate::contracts::read(from, &org.model) {
            Ok(d) => d,
            Err(d) => {
                run.diags.push(d);
                return Err(fail(&run, &run.diags, exit::USAGE));
            }
        },
        _ => Default::default(),
    };
    contracts.extend(pctl_core::contract::directory(
        run.intents
            .iter()
            .filter(|(_, c)| c.ok)
            .map(|(_, c)| &c.model),
        &org.model,
    ));
    let mut intents: Vec<(Checked<Intent>, Source)> = Vec::new();
    let mut times = std::collections::BTreeMap::new();
    // This shard's intents, and the others' (the catalog lists every service of the run).
    let (mine, others): (Vec<(std::path::PathBuf, Checked<Intent>)>, Vec<_>) =
        std::mem::take(&mut run.intents)
            .into_iter()
            .filter(|(_, c)| c.ok)
            .partition(|(_, c)| {
                input
                    .shard
                    .is_none_or(|(i, n)| shard_of(&c.model.metadata.name, n) == i)
            });
    // Each intent's repository is opened once, in parallel (an organisation checkout holds
    // thousands); the results are taken in order, so the first problem reported is the same.
    let found: Vec<_> = {
        use rayon::prelude::*;
        mine.par_iter()
            .map(|(path, c)| {
                discover::source_and_time(path, c.model.metadata.repository.as_deref(), pins)
            })
            .collect()
    };
    for ((_, c), found) in mine.into_iter().zip(found) {
        match found {
            Ok((src, _)) if src.repository.is_empty() && input.require_repository => {
                run.diags.push(no_repository(&c, true));
                return Err(fail(&run, &run.diags, exit::USAGE));
            }
            Ok((mut src, time)) => {
                if src.repository.is_empty() {
                    run.diags.push(no_repository(&c, false));
                    src.repository = discover::LOCAL_REPOSITORY.to_string();
                }
                if let Some(t) = time {
                    times.insert(c.model.metadata.name.clone(), t);
                }
                intents.push((c, src))
            }
            Err(d) => {
                run.diags.push(d);
                return Err(fail(&run, &run.diags, exit::USAGE));
            }
        }
    }
    let cache = cache.map(|dir| {
        let run_fp = crate::cache::run_fingerprint(
            &org.file.text,
            &blueprints.fingerprint(),
            run.policies.as_ref().map_or("", |p| p.fingerprint.as_str()),
        );
        let keys: BTreeMap<String, String> = intents
            .iter()
            .map(|(c, src)| {
                // A callee's contract is an input of its callers' files.
                let deps =
                    pctl_core::contract::digest_of(&contracts, &c.model.spec.dependency_names());
                let k = crate::cache::key(&run_fp, &c.file.name, &c.file.text, src, &deps);
                (c.model.metadata.name.clone(), k)
            })
            .collect();
        let hits = crate::cache::hits(dir, &keys);
        (keys, hits)
    });
    // The hits' surveys (from the cache) spare resolving those services at all.
    let (cache, known) = match cache {
        Some((keys, hits)) => (Some((keys, hits.services)), hits.surveys),
        None => (None, BTreeMap::new()),
    };
    let no_hits = BTreeSet::new();
    let cached = cache.as_ref().map_or(&no_hits, |(_, h)| h);
    // Services compile in parts of 500 (in name order), each part handed to `sink` (or kept)
    // as soon as it is compiled: a render of 10,000 services never holds every file at once.
    // Every part renders the organisation's own files the same way: they are kept from the
    // first part and handed over last, with the catalog, once it is known that something
    // rendered. The budget guardrail sees the costs of the whole run.
    // PCTL_RENDER_PART: the part size, for tests that compare renders in parts of 1 and whole.
    let chunk = std::env::var("PCTL_RENDER_PART")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(500);
    intents.sort_by(|a, b| a.0.model.metadata.name.cmp(&b.0.model.metadata.name));
    let survey = pctl_core::compile::survey(
        &org.model,
        &blueprints.capabilities(),
        &intents,
        &contracts,
        known,
    );
    // The organisation-wide catalog (catalog/index.json, catalog/systems.yaml) needs every
    // service: only a run over the whole organisation in which nothing failed renders it.
    let catalog = if input.all && !partial {
        let all: Vec<&Checked<Intent>> = intents
            .iter()
            .map(|(c, _)| c)
            .chain(others.iter().map(|(_, c)| c))
            .collect();
        let known = |name: &str| {
            let entry = survey.get(name)?.catalog.as_deref()?;
            serde_json::from_str(entry).ok()
        };
        match pctl_core::catalog::org_files(
            &org.model,
            &blueprints.capabilities(),
            &all,
            &run.sources,
            &known,
        ) {
            Ok(t) => Some(t),
            Err(d) => {
                run.diags.extend(d);
                return Err(fail(&run, &run.diags, exit::INVALID));
            }
        }
    } else {
        None
    };
    let team_costs = pctl_core::compile::team_costs(&survey);
    // A progress bar on stderr for long runs, when it is a terminal (see progress.rs).
    let progress =
        crate::progress::Progress::new((intents.len() - cached.len()) as u64, "rendering");
    let mut whole = pctl_core::expand::Tree::new();
    let mut tail = pctl_core::expand::Tree::new();
    let mut service_paths: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut services = Vec::new();
    let mut environments = BTreeSet::new();
    let mut costs = Vec::new();
    let mut clean = BTreeSet::new();
    let mut diagnostics = Vec::new();
    let mut sink = sink;
    for (i, part) in intents.chunks(chunk).enumerate() {
        let compiled = pctl_core::compile::compile_with(
            &org.model,
            part,
            &blueprints,
            pctl_core::compile::Options {
                policies: run.policies.as_ref(),
                cached,
                on_service: &|| progress.inc(1),
                team_costs: Some(&team_costs),
                survey: Some(&survey),
                contracts: Some(&contracts),
            },
        );
        let mut tree = pctl_core::expand::Tree::new();
        for (path, f) in compiled.tree {
            match &f.owner {
                pctl_core::expand::Owner::Service(_)
                    if catalog.as_ref().is_some_and(|c| c.contains_key(&path)) =>
                {
                    // Found before anything of this part is written (the check after the
                    // loop is for runs without a catalog part).
                    let d = Diagnostic::error(
                        "render/path-conflict",
                        format!("`{path}` would be generated twice (by a blueprint and by the organisation's service catalog)"),
                    )
                    .help("blueprint outputs must not use the catalog's paths (catalog/index.json, catalog/systems.yaml)");
                    run.diags.push(d);
                    progress.finish();
                    return Err(fail(&run, &run.diags, exit::INVALID));
                }
                pctl_core::expand::Owner::Service(_) => {
                    // Two parts cannot see each other's paths: the first service keeps one.
                    if !service_paths.insert(path.clone()) {
                        diagnostics.push(
                            Diagnostic::error(
                                "render/path-conflict",
                                format!(
                                    "`{path}` would be generated twice (by {} and another service)",
                                    f.owner.name()
                                ),
                            )
                            .help("service names and blueprint output paths must not collide"),
                        );
                        continue;
                    }
                    tree.insert(path, f);
                }
                _ if i == 0 => {
                    tail.insert(path, f);
                }
                _ => {}
            }
        }
        services.extend(compiled.services);
        environments.extend(compiled.environments);
        costs.extend(compiled.costs);
        clean.extend(compiled.clean);
        diagnostics.extend(compiled.diagnostics);
        match sink.as_mut() {
            Some(sink) => {
                if let Err(d) = sink(tree) {
                    progress.finish();
                    return Err(fail(&run, &[d], exit::USAGE));
                }
            }
            None => whole.extend(tree),
        }
    }
    progress.finish();
    let mut diagnostics = pctl_core::diag::dedupe(diagnostics);
    sort(&mut diagnostics);
    run.diags.extend(diagnostics.iter().cloned());
    let mut compiled = pctl_core::compile::Compiled {
        tree: whole,
        services,
        environments: environments.into_iter().collect(),
        diagnostics,
        costs,
        clean,
    };
    if has_errors(&run.diags) {
        // Services whose blueprints failed were left out of the tree whole.
        if !input.all || compiled.services.is_empty() {
            return Err(fail(&run, &run.diags, exit::INVALID));
        }
        partial = true;
    }
    if let (Some(catalog), false) = (catalog, partial) {
        for (path, f) in catalog {
            if tail.contains_key(&path) || service_paths.contains(&path) {
                let d = Diagnostic::error(
                    "render/path-conflict",
                    format!("`{path}` would be generated twice (by a blueprint and by the organisation's service catalog)"),
                )
                .help("blueprint outputs must not use the catalog's paths (catalog/index.json, catalog/systems.yaml)");
                run.diags.push(d);
                return Err(fail(&run, &run.diags, exit::INVALID));
            }
            tail.insert(path, f);
        }
    }
    match sink.as_mut() {
        Some(sink) => {
            if let Err(d) = sink(tail) {
                return Err(fail(&run, &[d], exit::USAGE));
            }
        }
        None => compiled.tree.extend(tail),
    }
    let approvals = {
        let refs: Vec<&Checked<Intent>> = intents.iter().map(|(c, _)| c).collect();
        pctl_core::catalog::approval_rules(&org.model, &refs)
    };
    let mut sources: Vec<(String, String, String)> = intents
        .iter()
        .map(|(c, s)| {
            (
                c.model.metadata.name.clone(),
                s.repository.clone(),
                s.sha.clone(),
            )
        })
        .collect();
    sources.sort();
    // How a new version reaches each environment of each service (see pctl_core::release).
    let manual = intents
        .iter()
        .map(|(c, _)| {
            let envs = org
                .model
                .spec
                .environments
                .iter()
                .filter(|e| {
                    org.model.promotion(&c.model, &e.name) == pctl_core::model::Promotion::Manual
                })
                .map(|e| e.name.clone())
                .collect();
            (c.model.metadata.name.clone(), envs)
        })
        .collect();
    Ok(Built {
        run,
        org,
        compiled,
        sources,
        manual,
        times,
        approvals,
        partial,
        cache,
        survey,
    })
}

/// A service whose repository is unknown: a warning for a local render (its files name
/// `local-checkout`), an error for diff and publish.
fn no_repository(c: &Checked<Intent>, publishing: bool) -> Diagnostic {
    let name = &c.model.metadata.name;
    let d = if publishing {
        Diagnostic::error(
            "source/no-repository",
            format!("cannot publish `{name}`: its repository is unknown (no `metadata.repository`, no git remote `origin`)"),
        )
        .note("the deploy repository records which repository owns each service")
    } else {
        Diagnostic::warning(
            "source/no-repository",
            format!(
                "the repository of `{name}` is unknown (no `metadata.repository`, no git remote `origin`): the files say `generated by pctl from {}@<commit>`",
                discover::LOCAL_REPOSITORY
            ),
        )
    };
    d.in_file(&c.file.name).help(format!(
        "add `repository: https://github.com/OWNER/{name}` under `metadata` in platform.yaml, or `git remote add origin URL`"
    ))
}
