//! What a rendered file is (its owner and class), where it may go (the deploy-tree layout),
//! and how it is finished: header, trimmed endings, the re-parse of `check.rs`, and a
//! `kustomization.yaml` for every folder of Kubernetes objects.

use super::check::{self, Format};
use super::escape;
use crate::diag::Diagnostic;
use crate::layout::{self, OwnerKind};
pub use crate::layout::{CATALOG_OWNER, Owner};
use crate::record::Class;
use crate::source::SourceMap;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    pub content: String,
    pub owner: Owner,
    /// Declared by the blueprint output that rendered it.
    pub class: Option<Class>,
}

/// The rendered deploy tree: relative path -> file. A BTreeMap, so iteration is sorted.
pub type Tree = BTreeMap<String, RenderedFile>;

pub(super) fn describe_owner(o: &Owner) -> String {
    match o {
        Owner::Org => "the organisation config".into(),
        Owner::Service(s) => format!("service `{s}`"),
        Owner::Catalog => "the organisation's service catalog".into(),
    }
}

pub(super) fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Adds the header, normalises the ending and re-parses the file; returns the content and the
/// parsed YAML documents (none for other formats).
pub(super) fn finish(
    path: &str,
    text: String,
    header: &str,
    sources: &SourceMap,
) -> Result<(String, Vec<Value>), Vec<Diagnostic>> {
    let format = Format::of(path);
    let mut body = text.trim_start_matches('\n').to_string();
    // Trailing whitespace on lines and a missing final newline are noise in diffs (and yamllint
    // errors): templates need not be careful about them.
    body = body
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n");
    while body.ends_with("\n\n") {
        body.pop();
    }
    if !body.ends_with('\n') {
        body.push('\n');
    }
    let content = match format.header(header) {
        Some(h) => h + &body,
        None => body,
    };
    // One Kubernetes object per file where controllers apply files.
    let manifest = layout::place(path)
        .is_some_and(|p| matches!(p.area, layout::Area::Manifests | layout::Area::Gitops));
    let docs = check::parse_checked(path, &content, manifest, sources)?;
    Ok((content, docs))
}

/// Each `apps/<env>/<service>/` folder gets a kustomization.yaml listing its objects, so Argo CD
/// and Flux read the folder the same way.
pub(super) fn add_kustomizations(tree: &mut Tree) {
    let mut folders: BTreeMap<String, (Vec<String>, Owner, String)> = BTreeMap::new();
    for (path, f) in tree.iter() {
        let Some(place) = layout::place(path).filter(|p| p.area == layout::Area::Manifests) else {
            continue;
        };
        let (Some(env), Some(service)) = (place.env, place.service) else {
            continue;
        };
        let file = path.rsplit('/').next().unwrap_or_default();
        if file != "kustomization.yaml" {
            let dir = layout::manifests_dir(env, service);
            let header = f
                .content
                .lines()
                .next()
                .filter(|l| l.starts_with("# "))
                .unwrap_or("")
                .to_string();
            folders
                .entry(dir)
                .or_insert_with(|| (Vec::new(), f.owner.clone(), header))
                .0
                .push(file.to_string());
        }
    }
    for (dir, (files, owner, header)) in folders {
        let mut s = String::new();
        if !header.is_empty() {
            s.push_str(&header);
            s.push('\n');
        }
        s.push_str(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n",
        );
        for f in files {
            s.push_str(&format!("  - {}\n", escape::yaml_string(&f)));
        }
        tree.entry(format!("{dir}/kustomization.yaml"))
            .or_insert(RenderedFile {
                content: s,
                owner,
                class: None,
            });
    }
}

/// Where an output must land in the layout: in its service's namespace (and in the
/// environment it was rendered for), or among the organisation's files of its environment.
#[derive(Debug, Clone, Copy)]
pub(super) enum Expected<'a> {
    Service(&'a str, Option<&'a str>),
    Organisation(&'a str),
}

impl Expected<'_> {
    pub(super) fn check(&self, path: &str) -> Result<(), &'static str> {
        let Some(place) = layout::place(path) else {
            return Err(
                "it is not a place of the deploy-tree layout (see `pctl_core::layout`: apps/<env>/<service>/, terraform/<env>/<service>/, ...)",
            );
        };
        match *self {
            Expected::Service(name, env) => {
                if place.service != Some(name) {
                    return Err(
                        "it is outside the service's own files (a blueprint renders only into the namespace of the service it renders for)",
                    );
                }
                if place.area == layout::Area::Record {
                    return Err("`.pctl/` is reserved for pctl's records");
                }
                if env.is_some() && place.env.is_some() && place.env != env {
                    return Err("it is in another environment than the one being rendered");
                }
                Ok(())
            }
            Expected::Organisation(env) => {
                if place.owner != OwnerKind::Organisation || place.area == layout::Area::Record {
                    return Err(
                        "environment outputs belong among the organisation's files (clusters/<env>/<file>)",
                    );
                }
                if place.env != Some(env) {
                    return Err("it is in another environment than the one being rendered");
                }
                Ok(())
            }
        }
    }
}

pub(super) fn check_output_path(p: &str) -> Result<(), &'static str> {
    if p.is_empty() {
        return Err("the path is empty");
    }
    if p.starts_with('/') || p.contains('\\') || p.contains(':') {
        return Err("paths must be relative, with `/` separators");
    }
    if p.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return Err("paths must not contain empty, `.` or `..` segments");
    }
    if p.starts_with(".pctl/") || p.starts_with(".git/") {
        return Err("`.pctl/` and `.git/` are reserved");
    }
    if p.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("paths must not contain spaces or control characters");
    }
    Ok(())
}
