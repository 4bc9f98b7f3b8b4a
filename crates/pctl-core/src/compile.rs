//! The functional core: checked intents + organisation config + blueprints -> rendered deploy
//! tree + diagnostics. No I/O, no clock, no randomness: the same input gives the same bytes.

use crate::contract::Directory;
use crate::diag::{Diagnostic, dedupe, sort};
use crate::expand::{BlueprintSet, Feed, Tree};
use crate::model::{Intent, Org};
use crate::plan;
use crate::resolve::{self, Source};
use crate::validate::Checked;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub struct Compiled {
    pub tree: Tree,
    /// Services rendered or taken from the render cache, sorted by name.
    pub services: Vec<String>,
    /// Environments with at least one service.
    pub environments: Vec<String>,
    pub diagnostics: Vec<Diagnostic>,
    /// Monthly cost lines of every rendered service.
    pub costs: Vec<crate::cost::Line>,
    /// Services rendered by this run without a single diagnostic from rendering, the labels
    /// guardrail or Rego policies: the ones the render cache may remember.
    pub clean: BTreeSet<String>,
}

/// What a compile may use besides intents, organisation and blueprints.
#[derive(Clone, Copy)]
pub struct Options<'a> {
    /// The organisation's Rego policies, evaluated over every service.
    pub policies: Option<&'a crate::policy::Policies>,
    /// Services whose files are known to be in the target already, as this compile would
    /// render them (render cache hits, see cache.rs): resolved, costed and budget-checked, but
    /// not expanded; the tree has no files of theirs.
    pub cached: &'a BTreeSet<String>,
    /// Called (from any thread) as each service is done, for progress reports.
    pub on_service: &'a (dyn Fn() + Sync),
    /// Monthly cost per team for the budget guardrail, when the run compiles its services in
    /// several parts (see [`team_costs`]); else the costs of the compiled services.
    pub team_costs: Option<&'a BTreeMap<String, f64>>,
    /// What the caller already knows of the services (see [`survey`]): a cached service found
    /// here is not even resolved.
    pub survey: Option<&'a BTreeMap<String, Survey>>,
    /// The contracts of every service the compiled ones may call (the whole run's, and those
    /// read from the deploy repository); without it, the compiled intents' own.
    pub contracts: Option<&'a Directory>,
}

impl Options<'_> {
    pub const NONE: Options<'static> = Options {
        policies: None,
        cached: &EMPTY,
        on_service: &|| {},
        team_costs: None,
        survey: None,
        contracts: None,
    };
}

static EMPTY: BTreeSet<String> = BTreeSet::new();

/// Compiles every valid intent. Intents with errors are skipped (their diagnostics were
/// reported by validation); the caller decides whether a partial tree may be written.
pub fn compile(
    org: &Org,
    intents: &[(Checked<Intent>, Source)],
    blueprints: &BlueprintSet,
) -> Compiled {
    compile_with(org, intents, blueprints, Options::NONE)
}

/// [`compile`], with [`Options`].
pub fn compile_with(
    org: &Org,
    intents: &[(Checked<Intent>, Source)],
    blueprints: &BlueprintSet,
    opts: Options<'_>,
) -> Compiled {
    let org_ctx = resolve::org_context(org);
    let caps = blueprints.capabilities();
    // Sort by service name so that input order (file system, threads) never matters.
    let mut valid: Vec<&(Checked<Intent>, Source)> = intents.iter().filter(|(c, _)| c.ok).collect();
    valid.sort_by(|a, b| {
        a.0.model
            .metadata
            .name
            .cmp(&b.0.model.metadata.name)
            .then(a.0.file.name.cmp(&b.0.file.name))
    });
    // Every service is resolved, except a cached one the caller surveyed already: it is not
    // rendered, and the survey has what is needed of it (costs, environments, intent checks).
    let own;
    let contracts = match opts.contracts {
        Some(d) => d,
        None => {
            own = crate::contract::directory(valid.iter().map(|(c, _)| &c.model), org);
            &own
        }
    };
    let surveyed = |name: &str| {
        opts.cached.contains(name) && opts.survey.is_some_and(|s| s.contains_key(name))
    };
    let mut resolved: Vec<Option<resolve::Service>> = {
        use rayon::prelude::*;
        valid
            .par_iter()
            .map(|(c, src)| {
                (!surveyed(&c.model.metadata.name))
                    .then(|| resolve::resolve(&c.model, org, &caps, &org_ctx, src, contracts))
            })
            .collect()
    };
    let facts: Vec<Survey> = {
        use rayon::prelude::*;
        valid
            .par_iter()
            .zip(resolved.par_iter())
            .map(|((c, _), svc)| match svc {
                Some(svc) => Survey::of(org, c, svc),
                None => opts.survey.expect("surveyed")[&c.model.metadata.name].clone(),
            })
            .collect()
    };
    // Environment-scope outputs see only the organisation: any service's publish renders them,
    // so they must not depend on which services a run happens to include.
    let envs: Vec<serde_json::Value> = org
        .spec
        .environments
        .iter()
        .map(resolve::env_context)
        .collect();
    // Guardrails on intents alone, and the budget (which depends on every service of the
    // team): checked for every service, cached or not.
    let own_costs;
    let team_costs = match opts.team_costs {
        Some(t) => t,
        None => {
            let all: Vec<crate::cost::Line> =
                facts.iter().flat_map(|f| f.costs.iter().cloned()).collect();
            own_costs = crate::cost::by(&all, "team");
            &own_costs
        }
    };
    let mut diagnostics = Vec::new();
    let mut denied: BTreeSet<String> = BTreeSet::new();
    for ((c, _), f) in valid.iter().zip(&facts) {
        let mut found = f.intent_checks.clone();
        // Against its callees' contracts (ports, environments, hand-written addresses).
        found.extend(crate::validate::dependencies::check(c, contracts, org));
        found.extend(crate::policy::budget(org, c, team_costs));
        if found.iter().any(Diagnostic::is_error) {
            denied.insert(c.model.metadata.name.clone());
        }
        diagnostics.extend(found);
    }
    // The services to render: all but the cached ones.
    let todo: Vec<usize> = (0..valid.len())
        .filter(|&i| !opts.cached.contains(&valid[i].0.model.metadata.name))
        .collect();
    let to_render: Vec<resolve::Service> =
        todo.iter().filter_map(|&i| resolved[i].take()).collect();
    let feeds: Vec<Feed> = todo
        .iter()
        .map(|&i| Feed::new(valid[i].0.file.clone(), Arc::new(valid[i].0.doc.clone())))
        .collect();
    // Guardrails and policies run on each service as soon as it is rendered (its objects are
    // parsed once, by the output check); a service with a `deny` is not rendered at all.
    let check = |i: usize,
                 svc: &resolve::Service,
                 files: &[(String, String)],
                 objects: &[serde_json::Value]| {
        let found = crate::policy::check(
            org,
            &org_ctx,
            &valid[todo[i]].0,
            svc,
            files,
            objects,
            opts.policies,
        );
        (opts.on_service)();
        found
    };
    let expanded = blueprints.expand(&to_render, &feeds, &org_ctx, &envs, &check);
    let mut tree = expanded.tree;
    diagnostics.extend(expanded.diagnostics);
    // The organisation's own catalog entities (teams and declared systems), like the other
    // organisation files rendered from its config alone, in every run.
    tree.insert(
        crate::teams::entities::ORG_CATALOG_PATH.to_string(),
        crate::expand::RenderedFile {
            content: crate::teams::entities::org_catalog(org),
            owner: crate::expand::Owner::Org,
            class: None,
        },
    );
    denied.extend(expanded.failed);
    tree.retain(|_, f| !matches!(&f.owner, crate::expand::Owner::Service(s) if denied.contains(s)));
    let rendered: Vec<resolve::Service> = to_render
        .into_iter()
        .filter(|s| !denied.contains(&s.name))
        .collect();
    let kept: Vec<(&String, &Survey)> = valid
        .iter()
        .zip(&facts)
        .map(|((c, _), f)| (&c.model.metadata.name, f))
        .filter(|(name, _)| !denied.contains(*name))
        .collect();
    let costs: Vec<crate::cost::Line> = kept
        .iter()
        .flat_map(|(_, f)| f.costs.iter().cloned())
        .collect();
    let intents: BTreeMap<&str, &serde_json::Value> = valid
        .iter()
        .map(|(c, _)| (c.model.metadata.name.as_str(), &c.doc.value))
        .collect();
    plan::add_state(&mut tree, &rendered, &costs, &intents);
    let mut diagnostics = dedupe(diagnostics);
    sort(&mut diagnostics);
    let environments: BTreeSet<String> = kept
        .iter()
        .flat_map(|(_, f)| f.environments.iter().cloned())
        .collect();
    let services: Vec<String> = kept.iter().map(|(n, _)| (*n).clone()).collect();
    Compiled {
        tree,
        services,
        environments: environments.into_iter().collect(),
        diagnostics,
        costs,
        clean: expanded
            .clean
            .into_iter()
            .filter(|s| !denied.contains(s))
            .collect(),
    }
}

/// What a run needs of a service that it does not render: its cost lines, environments and
/// the guardrails on its intent alone.
/// Serialized (the render cache keeps it) without its intent checks: only a survey without
/// any is kept, so one read back has none.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Survey {
    pub costs: Vec<crate::cost::Line>,
    pub environments: Vec<String>,
    #[serde(skip)]
    pub intent_checks: Vec<Diagnostic>,
    /// Its entry of the organisation's catalog (`catalog::entry_of`) as compact JSON, when
    /// [`survey`] made it: text until the catalog is written (a tenth of the memory of a
    /// `Value`, with 10,000 services held for a whole run).
    pub catalog: Option<String>,
}

impl Survey {
    fn of(org: &Org, checked: &Checked<Intent>, svc: &resolve::Service) -> Survey {
        Survey {
            costs: crate::cost::of_service(svc, org),
            environments: svc.deployments.iter().map(|d| d.env.clone()).collect(),
            intent_checks: crate::policy::check_intent(org, checked, svc),
            catalog: None,
        }
    }
}

/// Every valid intent's [`Survey`], by service name (each resolved once, in parallel, with its
/// catalog entry from the same resolution): what a run compiling its services in parts needs
/// for the budget ([`Options::team_costs`]), for its cached services ([`Options::survey`]) and
/// for the catalog. `known`: surveys the caller already has (the render cache's, made from the
/// same inputs): those services are not resolved at all.
pub fn survey(
    org: &Org,
    caps: &crate::validate::Capabilities,
    intents: &[(Checked<Intent>, Source)],
    contracts: &Directory,
    mut known: BTreeMap<String, Survey>,
) -> BTreeMap<String, Survey> {
    use rayon::prelude::*;
    let org_ctx = resolve::org_context(org);
    let ok: BTreeSet<&str> = intents
        .iter()
        .filter(|(c, _)| c.ok)
        .map(|(c, _)| c.model.metadata.name.as_str())
        .collect();
    known.retain(|name, _| ok.contains(name.as_str()));
    let new: Vec<(String, Survey)> = intents
        .par_iter()
        .filter(|(c, _)| c.ok && !known.contains_key(&c.model.metadata.name))
        .map(|(c, src)| {
            let svc = resolve::resolve(&c.model, org, caps, &org_ctx, src, contracts);
            let mut s = Survey::of(org, c, &svc);
            s.catalog = Some(crate::catalog::entry_of(&svc, &c.model, org).to_string());
            (c.model.metadata.name.clone(), s)
        })
        .collect();
    known.extend(new);
    known
}

/// Monthly cost per team of a survey.
pub fn team_costs(survey: &BTreeMap<String, Survey>) -> BTreeMap<String, f64> {
    let lines: Vec<crate::cost::Line> = survey
        .values()
        .flat_map(|s| s.costs.iter().cloned())
        .collect();
    crate::cost::by(&lines, "team")
}
