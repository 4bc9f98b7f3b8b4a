//! The functional core: checked intents + organisation config + blueprints -> rendered deploy
//! tree + diagnostics. No I/O, no clock, no randomness: the same input gives the same bytes.

use crate::diag::{Diagnostic, dedupe, sort};
use crate::expand::{BlueprintSet, Feed, Tree};
use crate::model::{Intent, Org};
use crate::plan;
use crate::resolve::{self, Source};
use crate::validate::Checked;
use std::collections::BTreeSet;
use std::sync::Arc;

pub struct Compiled {
    pub tree: Tree,
    /// Services rendered, sorted by name.
    pub services: Vec<String>,
    /// Environments with at least one service.
    pub environments: Vec<String>,
    pub diagnostics: Vec<Diagnostic>,
    /// Monthly cost lines of every rendered service.
    pub costs: Vec<crate::cost::Line>,
}

/// Compiles every valid intent. Intents with errors are skipped (their diagnostics were
/// reported by validation); the caller decides whether a partial tree may be written.
pub fn compile(
    org: &Org,
    intents: &[(Checked<Intent>, Source)],
    blueprints: &BlueprintSet,
) -> Compiled {
    compile_with(org, intents, blueprints, None, &|| {})
}

/// [`compile`], with the organisation's Rego policies evaluated over every service;
/// `on_service` is called (from any thread) as each service is done, for progress reports.
pub fn compile_with(
    org: &Org,
    intents: &[(Checked<Intent>, Source)],
    blueprints: &BlueprintSet,
    policies: Option<&crate::policy::Policies>,
    on_service: &(dyn Fn() + Sync),
) -> Compiled {
    let org_ctx = resolve::org_context(org);
    // Sort by service name so that input order (file system, threads) never matters.
    let mut valid: Vec<&(Checked<Intent>, Source)> = intents.iter().filter(|(c, _)| c.ok).collect();
    valid.sort_by(|a, b| {
        a.0.model
            .metadata
            .name
            .cmp(&b.0.model.metadata.name)
            .then(a.0.file.name.cmp(&b.0.file.name))
    });
    let services: Vec<resolve::Service> = valid
        .iter()
        .map(|(c, src)| resolve::resolve(&c.model, org, &org_ctx, src))
        .collect();
    let feeds: Vec<Feed> = valid
        .iter()
        .map(|(c, _)| Feed::new(c.file.clone(), Arc::new(c.doc.clone())))
        .collect();
    // Environment-scope outputs see only the organisation: any service's publish renders them,
    // so they must not depend on which services a run happens to include.
    let envs: Vec<serde_json::Value> = org
        .spec
        .environments
        .iter()
        .map(resolve::env_context)
        .collect();
    let costs: Vec<crate::cost::Line> = services
        .iter()
        .flat_map(|s| crate::cost::of_service(s, org))
        .collect();
    // Guardrails and policies run on each service as soon as it is rendered (its objects are
    // parsed once, by the output check); a service with a `deny` is not rendered at all.
    let team_costs = crate::cost::by(&costs, "team");
    let check = |i: usize,
                 svc: &resolve::Service,
                 files: &[(String, String)],
                 objects: &[serde_json::Value]| {
        let found =
            crate::policy::check(org, &valid[i].0, svc, files, objects, &team_costs, policies);
        on_service();
        found
    };
    let (mut tree, diagnostics, denied) =
        blueprints.expand(&services, &feeds, &org_ctx, &envs, &check);
    let services: Vec<resolve::Service> = services
        .into_iter()
        .filter(|s| !denied.contains(&s.name))
        .collect();
    let costs: Vec<crate::cost::Line> = costs
        .into_iter()
        .filter(|l| !denied.contains(&l.service))
        .collect();
    plan::add_state(&mut tree, &services, &costs);
    let mut diagnostics = dedupe(diagnostics);
    sort(&mut diagnostics);
    let environments: BTreeSet<String> = services
        .iter()
        .flat_map(|s| s.deployments.iter().map(|d| d.env.clone()))
        .collect();
    Compiled {
        tree,
        services: services.iter().map(|s| s.name.clone()).collect(),
        environments: environments.into_iter().collect(),
        diagnostics,
        costs,
    }
}
