//! Reading a run's inputs (the edge before the core): the organisation config, blueprint
//! overrides, Rego policies and every platform.yaml, read from disk with the limits every input
//! gets, then validated by the core. Shared by every command that compiles.

use crate::discover::{self, OrgSource};
use pctl_core::diag::{Diagnostic, sort};
use pctl_core::expand::{BlueprintSet, OverrideFile};
use pctl_core::load::{MAX_INPUT_BYTES, source_from_bytes};
use pctl_core::model::{Intent, Org};
use pctl_core::source::{SourceFile, SourceMap};
use pctl_core::validate::{self, Checked, schema};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// What a run reads: the arguments every compiling command shares.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// An application folder, a platform.yaml, or (with `all`) an organisation checkout.
    pub path: PathBuf,
    pub all: bool,
    pub org: Option<PathBuf>,
    pub blueprints: Option<PathBuf>,
    pub policies: Option<PathBuf>,
    /// Only shard I of N.
    pub shard: Option<(u32, u32)>,
    /// A run may have no platform.yaml at all (`publish --remove` from an emptied repository).
    pub allow_none: bool,
    /// Where a run that is not over the whole organisation reads the contracts of services
    /// outside it (their records): what it knows of its dependencies (crate::contracts).
    pub contracts_from: Option<crate::contracts::Source>,
    /// Every service must come from a known repository (diff and publish: the deploy
    /// repository's records bind each service to its repository).
    pub require_repository: bool,
    /// Where the GitOps entry points' deploy repository comes from (see `pctl_core::gitops`).
    pub deploy_repo: DeployRepo,
}

/// The deploy repository of a run's GitOps entry points.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DeployRepo {
    /// The organisation config must name it when the blueprints write entry points.
    #[default]
    FromConfig,
    /// The organisation config's, else this URL (publish and diff: `--deploy-repo`).
    Or(String),
    /// The run writes no deploy tree (cost): entry points are not used.
    Unused,
}

/// Reads a file as UTF-8 text with the limits every input gets. Errors are diagnostics.
pub fn read_source(path: &Path, display: &str) -> Result<SourceFile, Diagnostic> {
    let meta = std::fs::metadata(path).map_err(|e| {
        Diagnostic::error("file/unreadable", format!("cannot read `{display}`: {e}"))
            .in_file(display)
    })?;
    if meta.is_dir() {
        return Err(Diagnostic::error(
            "file/is-directory",
            format!("`{display}` is a directory, not a file"),
        )
        .in_file(display)
        .help("platform.yaml must be a file; rename or remove the directory"));
    }
    if meta.len() > MAX_INPUT_BYTES {
        return Err(Diagnostic::error(
            "file/too-large",
            format!(
                "`{display}` is {} bytes; pctl reads at most {MAX_INPUT_BYTES}",
                meta.len()
            ),
        )
        .in_file(display)
        .help("a platform.yaml describes one service and is a few KiB; is this the right file?"));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        Diagnostic::error("file/unreadable", format!("cannot read `{display}`: {e}"))
            .in_file(display)
    })?;
    source_from_bytes(display, bytes)
}

/// The files of an organisation's blueprint folder (no symlinks followed), for the core.
pub fn read_blueprints(dir: &Path) -> Result<Vec<OverrideFile>, Vec<Diagnostic>> {
    if !dir.is_dir() {
        return Err(vec![
            Diagnostic::error(
                "blueprint/no-folder",
                format!(
                    "blueprints folder `{}` does not exist or is not a folder",
                    dir.display()
                ),
            )
            .help("pass --blueprints with a folder that holds one sub-folder per blueprint"),
        ]);
    }
    let mut files = Vec::new();
    let mut diags = Vec::new();
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                diags.push(Diagnostic::error(
                    "blueprint/unreadable",
                    format!("cannot read blueprints folder: {e}"),
                ));
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let rel = rel.to_string_lossy().replace('\\', "/");
        if rel.starts_with('.') || rel.ends_with(".md") {
            continue;
        }
        let display = entry.path().display().to_string();
        match read_source(entry.path(), &display) {
            Ok(src) => files.push(OverrideFile {
                path: rel,
                display,
                text: src.text.to_string(),
            }),
            Err(d) => diags.push(d),
        }
    }
    if diags.is_empty() {
        Ok(files)
    } else {
        Err(diags)
    }
}

/// The blueprints of a run: built-in, plus an organisation's folder.
pub fn blueprints(
    dir: Option<&Path>,
    sources: &SourceMap,
) -> Result<BlueprintSet, Vec<Diagnostic>> {
    let overrides = match dir {
        Some(d) => read_blueprints(d)?,
        None => Vec::new(),
    };
    BlueprintSet::load(&overrides, sources)
}

/// Everything validation produced: shared by `validate` and `render`.
pub struct CheckedRun {
    pub sources: SourceMap,
    pub policies: Option<pctl_core::policy::Policies>,
    pub blueprints: Option<BlueprintSet>,
    pub org: Option<Checked<Org>>,
    pub intents: Vec<(PathBuf, Checked<Intent>)>,
    pub files: usize,
    pub diags: Vec<Diagnostic>,
    pub usage_error: bool,
}

/// Discovers, loads and validates everything a run needs (blueprints, organisation config,
/// intents). Shared by `validate` and `render`, and by tests.
pub fn check_inputs(
    path: &Path,
    all: bool,
    org: Option<&Path>,
    blueprints: Option<&Path>,
) -> CheckedRun {
    check(&Inputs {
        path: path.to_path_buf(),
        all,
        org: org.map(Path::to_path_buf),
        blueprints: blueprints.map(Path::to_path_buf),
        policies: None,
        shard: None,
        allow_none: false,
        contracts_from: None,
        require_repository: false,
        deploy_repo: DeployRepo::FromConfig,
    })
}

pub fn check(input: &Inputs) -> CheckedRun {
    let sources = SourceMap::default();
    let mut run = CheckedRun {
        sources: sources.clone(),
        policies: None,
        blueprints: None,
        org: None,
        intents: Vec::new(),
        files: 0,
        diags: Vec::new(),
        usage_error: false,
    };
    let blueprints = match blueprints(input.blueprints.as_deref(), &sources) {
        Ok(b) => b,
        Err(d) => {
            run.diags = d;
            return run;
        }
    };
    let org_file = match discover::find_org(&input.path, input.org.as_deref()) {
        OrgSource::Builtin => {
            crate::report::notice_once(&discover::builtin_org_notice());
            SourceFile::new("(built-in) examples/pctl-org.yaml", schema::default_org())
        }
        OrgSource::File(p) => match read_source(&p, &display(&p)) {
            Ok(f) => f,
            Err(d) => {
                run.usage_error = input.org.is_some() && !p.exists();
                run.diags.push(d);
                return run;
            }
        },
    };
    sources.add(org_file.clone());
    run.files += 1;
    let (org, mut d) = validate::check_org(&org_file);
    run.diags.append(&mut d);
    let Some(org) = org else { return run };
    // Rego policies: the organisation's (relative to its config file) and --policies.
    let mut policy_paths: Vec<PathBuf> = Vec::new();
    if let OrgSource::File(p) = discover::find_org(&input.path, input.org.as_deref()) {
        let base = p.parent().map(Path::to_path_buf).unwrap_or_default();
        policy_paths.extend(org.model.spec.policies.iter().map(|r| base.join(r)));
    }
    policy_paths.extend(input.policies.iter().cloned());
    let mut rego: Vec<(String, String)> = Vec::new();
    for root in &policy_paths {
        if !root.exists() {
            run.diags.push(
                Diagnostic::error(
                    "policy/missing",
                    format!("policy path `{}` does not exist", display(root)),
                )
                .help("fix `spec.policies` in the organisation config or the --policies argument"),
            );
            continue;
        }
        for e in walkdir::WalkDir::new(root)
            .sort_by_file_name()
            .into_iter()
            .flatten()
        {
            if e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "rego") {
                match read_source(e.path(), &display(e.path())) {
                    Ok(f) => {
                        sources.add(f.clone());
                        rego.push((f.name.clone(), f.text.to_string()));
                    }
                    Err(d) => run.diags.push(d),
                }
            }
        }
    }
    if !rego.is_empty() {
        match pctl_core::policy::Policies::load(&rego) {
            Ok(p) => run.policies = Some(p),
            Err(mut d) => run.diags.append(&mut d),
        }
    }
    let paths = match discover::find_intents(&input.path, input.all) {
        Ok(p) => p,
        Err(d) if input.allow_none && d.code == "usage/no-intent" => Vec::new(),
        Err(d) => {
            run.diags.push(d);
            run.usage_error = true;
            return run;
        }
    };
    let caps = blueprints.capabilities();
    let results: Vec<(PathBuf, Option<Checked<Intent>>, Vec<Diagnostic>)> = paths
        .par_iter()
        .map(|p| match read_source(p, &display(p)) {
            Err(d) => (p.clone(), None, vec![d]),
            Ok(file) => {
                sources.add(file.clone());
                let (c, d) = validate::check_intent(&file, &org.model, &caps);
                (p.clone(), c, d)
            }
        })
        .collect();
    run.files += results.len();
    for (p, c, mut d) in results {
        run.diags.append(&mut d);
        if let Some(c) = c {
            run.intents.push((p, c));
        }
    }
    let refs: Vec<&Checked<Intent>> = run.intents.iter().map(|(_, c)| c).collect();
    run.diags.extend(validate::check_across(&refs));
    // Dependencies must exist when the run sees the whole organisation (--all).
    run.diags.extend(pctl_core::graph::check(&refs, input.all));
    run.org = Some(org);
    run.blueprints = Some(blueprints);
    sort(&mut run.diags);
    run
}

pub fn display(p: &Path) -> String {
    let s = p.display().to_string();
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}
