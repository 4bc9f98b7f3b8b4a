//! The GitOps source: the deploy repository the controller entry points (Argo CD
//! ApplicationSet and AppProjects, Flux GitRepository) point at. It is never rendered empty: a
//! run whose blueprints write GitOps entry points needs `spec.deploy_repository.url` in the
//! organisation config (publish and diff fill it from `--deploy-repo` when the config has none).

use crate::diag::Diagnostic;
use crate::expand::BlueprintSet;
use crate::layout::{self, Area};
use crate::model::Org;
use crate::validate::Checked;

/// Whether the blueprints write GitOps entry points for this organisation (the organisation's
/// own files, rendered from its config alone).
pub fn renders_entry_points(org: &Org, blueprints: &BlueprintSet) -> bool {
    let org_ctx = crate::resolve::org_context(org);
    let envs: Vec<serde_json::Value> = org
        .spec
        .environments
        .iter()
        .map(crate::resolve::env_context)
        .collect();
    let none = |_: usize,
                _: &crate::resolve::Service,
                _: &[(String, String)],
                _: &[serde_json::Value]| Vec::new();
    let expanded = blueprints.expand(&[], &[], &org_ctx, &envs, &none);
    expanded
        .tree
        .keys()
        .any(|p| layout::place(p).is_some_and(|pl| pl.area == Area::Gitops))
}

/// The error of a run that would render GitOps entry points without a deploy repository,
/// located in the organisation config.
pub fn missing_source(org: &Checked<Org>, blueprints: &BlueprintSet) -> Option<Diagnostic> {
    if !org.model.spec.deploy_repository.url.trim().is_empty()
        || !renders_entry_points(&org.model, blueprints)
    {
        return None;
    }
    let spans = &org.doc.spans;
    let (pointer, span) = if spans.get("/spec/deploy_repository/url").is_some() {
        let p = "/spec/deploy_repository/url";
        (p, spans.locate(&org.file, p))
    } else if spans.get("/spec/deploy_repository").is_some() {
        let p = "/spec/deploy_repository";
        (p, spans.locate_key(&org.file, p))
    } else {
        ("/spec", spans.locate_key(&org.file, "/spec"))
    };
    let engine = match org.model.gitops() {
        "flux" => "Flux's GitRepository",
        _ => "Argo CD's ApplicationSet and AppProjects",
    };
    Some(
        Diagnostic::error(
            "org/no-deploy-repository",
            "the organisation config names no deploy repository (`spec.deploy_repository.url`)",
        )
        .in_file(&org.file.name)
        .at(span)
        .pointer(pointer)
        .expected("the URL of the deploy repository, e.g. `https://github.com/acme/deploy`")
        .note(format!(
            "{engine} (clusters/<env>/...) read the deploy repository from it: rendered empty, they sync nothing"
        ))
        .help("add `deploy_repository: {url: https://github.com/<org>/deploy}` under `spec`, or publish with `--deploy-repo <url>`"),
    )
}
