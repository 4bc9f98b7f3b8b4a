//! `pctl render`: compile into a folder (`--out`, written part by part as it is compiled, only
//! what changed) or print the files.

use crate::discover::SourceOverrides;
use crate::exit::{self, Report, counts};
use crate::inputs::{Inputs, display};
use crate::outdir;
use crate::pipeline::{Built, Sink, build, fail};
use pctl_core::diag::Diagnostic;
use pctl_core::expand::{Owner, Tree};
use pctl_core::plan::{Action, Scope};
use pctl_core::record::Claims;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

/// Stages the parts of a render in a folder as they are compiled (see [`build`]); nothing is
/// in place until [`PartWriter::finish`].
struct PartWriter<'a> {
    out: &'a Path,
    folder: Option<outdir::Folder>,
    claims: Claims,
    staged: outdir::Staged,
    added: usize,
    changed: usize,
    unchanged: usize,
    /// Every path rendered, and the owners that rendered any: what deletion must spare.
    paths: HashSet<String>,
    owners: BTreeSet<Owner>,
    /// Hashes of the service records written, for the render cache.
    records: BTreeMap<String, String>,
}

impl PartWriter<'_> {
    /// Before anything is read or written: the folder is one pctl may write into, and its
    /// records can be trusted.
    fn open(&mut self) -> Result<&outdir::Folder, Diagnostic> {
        if self.folder.is_none() {
            outdir::check_dir(self.out)?;
            self.claims = outdir::claims(self.out);
            if let Some(d) = outdir::forged(&self.claims).into_iter().next() {
                return Err(d);
            }
            self.folder = Some(outdir::Folder::new(self.out));
        }
        Ok(self.folder.as_ref().expect("opened"))
    }

    fn write(&mut self, tree: Tree) -> Result<(), Diagnostic> {
        self.open()?;
        let folder = self.folder.as_ref().expect("opened");
        let (owners, kept) = (BTreeSet::new(), BTreeSet::new());
        let scope = scope(&owners, &kept, false);
        let plan = pctl_core::plan::compare(&tree, &self.claims, folder, &scope)
            .map_err(|mut d| d.remove(0))?;
        self.staged.stage(folder, &tree, &plan)?;
        self.added += plan.count(Action::Add);
        self.changed += plan.count(Action::Change);
        self.unchanged += plan.unchanged;
        self.records.extend(crate::cache::records(&tree));
        for (path, f) in tree {
            self.owners.insert(f.owner);
            self.paths.insert(path);
        }
        Ok(())
    }
}

/// What a render may change in its folder: it mirrors the run.
fn scope<'a>(
    rendered: &'a BTreeSet<Owner>,
    kept: &'a BTreeSet<String>,
    partial: bool,
) -> Scope<'a> {
    Scope {
        rendered,
        removed: &[],
        kept,
        mirror: true,
        partial,
        protect_edits: false,
        force: false,
        explain: None,
    }
}

pub fn run(input: &Inputs, out: Option<&Path>, pins: SourceOverrides, use_cache: bool) -> Report {
    let started = std::time::Instant::now();
    // Before the render cache or anything else reads the folder.
    if let Some(d) = out.and_then(|o| outdir::check_dir(o).err()) {
        return Report::failed(vec![d], Default::default(), exit::USAGE);
    }
    // One application's render reads its dependencies' contracts from the folder's records.
    let input = &Inputs {
        contracts_from: out.map(|o| crate::contracts::Source::Folder(o.to_path_buf())),
        ..input.clone()
    };
    let cache_dir = out.filter(|_| use_cache);
    let mut writer = out.map(|out| PartWriter {
        out,
        folder: None,
        claims: Claims::default(),
        staged: outdir::Staged::default(),
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
        survey,
        ..
    } = match built {
        Ok(b) => b,
        Err(r) => {
            // Nothing staged goes into place: the folder is exactly as it was.
            if let Some(w) = writer {
                w.staged.abort();
            }
            return r;
        }
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
    if let Err(d) = w.open() {
        let code = if d.code == "out/forged-record" {
            exit::INVALID
        } else {
            exit::USAGE
        };
        w.staged.abort();
        return fail(&run, &[d], code);
    }
    // What pctl generated before and this run did not render: deleted (see plan::deletions).
    let hits = cache.as_ref().map(|(_, h)| h.clone()).unwrap_or_default();
    let folder = w.folder.take().expect("opened");
    let deletions = pctl_core::plan::deletions(
        &w.claims,
        &|p| w.paths.contains(p),
        &folder,
        &scope(&w.owners, &hits, partial),
    );
    let staged = std::mem::take(&mut w.staged);
    let committed = match deletions {
        Ok(deletions) => staged.commit(&folder, &deletions).map(|()| deletions),
        Err(mut d) => {
            staged.abort();
            Err(d.remove(0))
        }
    };
    let deletions = match committed {
        Ok(d) => d,
        Err(d) => return fail(&run, &[d], exit::USAGE),
    };
    if let Some((keys, _)) = &cache {
        // What this render wrote, for the next one. The folder is complete without it.
        let _ = crate::cache::write(out, keys, &hits, &compiled.clean, &w.records, &survey);
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
