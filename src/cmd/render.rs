//! `pctl render`: compile into a folder (`--out`, written part by part as it is compiled, only
//! what changed) or print the files.

use crate::discover::SourceOverrides;
use crate::exit::{self, Report, counts};
use crate::inputs::{Inputs, display};
use crate::outdir;
use crate::pipeline::{Built, Sink, build, fail};
use pctl_core::diag::Diagnostic;
use pctl_core::expand::Tree;
use pctl_core::plan::Action;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

/// Writes the parts of a render into a folder as they are compiled (see [`build`]).
struct PartWriter<'a> {
    out: &'a Path,
    checked: bool,
    added: usize,
    changed: usize,
    unchanged: usize,
    /// Every path rendered, and the owners that rendered any: what deletion must spare.
    paths: HashSet<String>,
    owners: BTreeSet<String>,
    /// Hashes of the service records written, for the render cache.
    records: BTreeMap<String, String>,
}

impl PartWriter<'_> {
    fn write(&mut self, tree: Tree) -> Result<(), Diagnostic> {
        if !self.checked {
            // Before the first write: never into a folder pctl did not write.
            outdir::check_dir(self.out)?;
            self.checked = true;
        }
        let plan = outdir::plan_files(self.out, &tree);
        outdir::apply(self.out, &tree, &plan, &|| {})
            .map_err(|e| Diagnostic::error("out/write", format!("{e:#}")))?;
        self.added += plan.count(Action::Add);
        self.changed += plan.count(Action::Change);
        self.unchanged += plan.unchanged;
        self.records.extend(crate::cache::records(&tree));
        for (path, f) in tree {
            self.owners.insert(f.owner.name());
            self.paths.insert(path);
        }
        Ok(())
    }
}

pub fn run(input: &Inputs, out: Option<&Path>, pins: SourceOverrides, use_cache: bool) -> Report {
    let started = std::time::Instant::now();
    let cache_dir = out.filter(|_| use_cache);
    let mut writer = out.map(|out| PartWriter {
        out,
        checked: false,
        added: 0,
        changed: 0,
        unchanged: 0,
        paths: Default::default(),
        owners: BTreeSet::new(),
        records: BTreeMap::new(),
    });
    let mut write_part = |tree: Tree| match writer.as_mut() {
        Some(w) => w.write(tree),
        None => Ok(()),
    };
    let sink: Option<Sink<'_>> = if out.is_some() {
        Some(&mut write_part)
    } else {
        None
    };
    let built = build(input, &pins, cache_dir, sink);
    let Built {
        run,
        compiled,
        partial,
        cache,
        ..
    } = match built {
        Ok(b) => b,
        Err(r) => return r,
    };
    let (errors, warnings) = counts(&run.diags);
    let finish = if partial { exit::INVALID } else { exit::OK };
    let (Some(out), Some(mut w)) = (out, writer) else {
        let mut files = String::new();
        for (path, f) in &compiled.tree {
            files.push_str(&format!("--- {path}\n"));
            files.push_str(&f.content);
        }
        return Report::new(run.diags, run.sources, finish)
            .summary(serde_json::json!({"files": compiled.tree.len()}))
            .stdout(files);
    };
    if !w.checked {
        if let Err(d) = outdir::check_dir(out) {
            return fail(&run, &[d], exit::USAGE);
        }
    }
    // What pctl generated before and this run did not render: deleted (see plan_deletions).
    let hits = cache.as_ref().map(|(_, h)| h.clone()).unwrap_or_default();
    let deletions =
        outdir::plan_deletions(out, &|p| w.paths.contains(p), &w.owners, partial, &hits);
    if let Err(e) = outdir::apply(out, &Tree::new(), &deletions, &|| {}) {
        let d = Diagnostic::error("out/write", format!("{e:#}"));
        return fail(&run, &[d], exit::USAGE);
    }
    if let Some((keys, _)) = &cache {
        // What this render wrote, for the next one. The folder is complete without it.
        let _ = crate::cache::write(out, keys, &hits, &compiled.clean, &w.records);
    }
    let deleted = deletions.count(Action::Delete);
    w.unchanged += deletions.kept;
    let files = w.paths.len() + deletions.kept;
    let rendered = compiled
        .services
        .iter()
        .filter(|s| !hits.contains(*s))
        .count();
    let cached = compiled.services.len() - rendered;
    let summary = serde_json::json!({
        "services": compiled.services,
        "environments": compiled.environments,
        "files": files,
        "rendered": rendered,
        "added": w.added,
        "changed": w.changed,
        "deleted": deleted,
        "unchanged": w.unchanged,
        "errors": errors,
        "warnings": warnings,
    });
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let failed = if partial {
        let files: BTreeSet<&String> = run
            .diags
            .iter()
            .filter(|d| d.is_error())
            .filter_map(|d| d.file.as_ref())
            .collect();
        format!(
            "; {} file{} with errors skipped, earlier output of those services left as it was",
            files.len(),
            plural(files.len())
        )
    } else {
        String::new()
    };
    let closing = format!(
        "rendered {} service{} x {} environment{} into {}{}: {} files ({} added, {} changed, {} deleted, {} unchanged) in {:.2} s{failed}",
        compiled.services.len(),
        plural(compiled.services.len()),
        compiled.environments.len(),
        plural(compiled.environments.len()),
        display(out),
        if cached > 0 {
            format!(" ({cached} unchanged since the last render, from its cache)")
        } else {
            String::new()
        },
        files,
        w.added,
        w.changed,
        deleted,
        w.unchanged,
        started.elapsed().as_secs_f64(),
    );
    Report::new(run.diags, run.sources, finish)
        .summary(summary)
        .closing(closing)
}
