//! Stage 5, expand: blueprints (minijinja templates, embedded or from an override folder)
//! turn the resolved model into files. Templates are compiled once; services render in
//! parallel; every output is re-parsed before it is accepted. Pure: reads no files after load.
//!
//! - `manifest.rs`: blueprint manifests and loading a run's blueprints into one environment.
//! - `output.rs`: what a rendered file is (owner, class), where it may go (the layout), and
//!   how it is finished (header, kustomizations, the re-parse of `check.rs`).
//! - `feed.rs`: pointing a template error at the platform.yaml field that fed it.
//! - `escape.rs`: encoders by file type; `check.rs`: the output check.

pub mod check;
pub mod escape;
mod feed;
mod manifest;
mod output;
mod selection;

use crate::diag::Diagnostic;
pub use crate::record::Class;
use crate::resolve::Service;
use crate::source::SourceMap;
use crate::validate::Capabilities;
use crate::validate::schema::PlatformSchema;
pub use feed::Feed;
use feed::template_error;
pub use manifest::{Blueprint, Output, OverrideFile, Role, Scope};
use minijinja::{Environment, Value as JValue};
pub use output::{CATALOG_OWNER, Owner, RenderedFile, Tree};
use output::{Expected, add_kustomizations, check_output_path, describe_owner, finish, one_line};
use rayon::prelude::*;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// One service's rendered files (path, content), its diagnostics, and whether it failed (then
/// it has no files: all or nothing).
type ServiceOutput = (Vec<(String, String, Option<Class>)>, Vec<Diagnostic>, bool);

/// One output as rendered: its path, text and class.
type Rendered = (String, String, Option<Class>);

/// What every service of a run renders with: the add-on blueprints that apply, and the
/// organisation and pctl as template values (converted once, shared by reference count).
struct RunValues<'a> {
    addons: &'a [&'a Blueprint],
    org: JValue,
    version: JValue,
}

/// What [`BlueprintSet::expand`] produced.
pub struct Expanded {
    pub tree: Tree,
    pub diagnostics: Vec<Diagnostic>,
    /// Services that failed: left out of the tree whole.
    pub failed: BTreeSet<String>,
    /// Services rendered without any diagnostic.
    pub clean: BTreeSet<String>,
}

/// Checks run on each service's output as soon as it is rendered (guardrails, policies): the
/// service's index and model, its files (path, content) and the parsed objects `{path, kind, name, object}` of
/// its single-document YAML files. Errors drop the service.
pub type ServiceCheck<'a> =
    dyn Fn(usize, &Service, &[(String, String)], &[Value]) -> Vec<Diagnostic> + Sync + 'a;

/// All blueprints of a run, with their templates compiled into one environment.
pub struct BlueprintSet {
    env: &'static Environment<'static>,
    /// Every `when` of the manifests, compiled once: source -> expression.
    conditions: std::collections::HashMap<String, minijinja::Expression<'static, 'static>>,
    pub blueprints: Vec<Blueprint>,
    /// Template name -> (display path, source text), for diagnostics.
    display: BTreeMap<String, (String, String)>,
    sources: SourceMap,
    /// The platform schema with these blueprints' resource types, compiled once.
    schema: std::sync::Arc<PlatformSchema>,
    /// Workload kind -> the blueprint a service of that kind uses without `spec.blueprint`.
    defaults: BTreeMap<String, String>,
}

impl BlueprintSet {
    /// A hash of every blueprint file (name and text): what the render cache keys on.
    pub fn fingerprint(&self) -> String {
        let mut all = String::new();
        for (name, (_, text)) in &self.display {
            all.push_str(&format!("{}:{name}{}:{text}", name.len(), text.len()));
        }
        crate::digest::sha256(&all)
    }

    pub fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities {
            workloads: Vec::new(),
            resource_types: self.schema.resource_types().to_vec(),
            schema: self.schema.clone(),
        };
        for bp in &self.blueprints {
            if let Role::Workload(k) = &bp.role {
                caps.workloads.push((k.clone(), bp.name.clone()));
            }
        }
        caps
    }

    fn workload_for(&self, svc: &Service) -> Option<&Blueprint> {
        let name = svc.blueprint.as_ref().or(self.defaults.get(&svc.kind))?;
        self.blueprints
            .iter()
            .find(|b| matches!(b.role, Role::Workload(_)) && &b.name == name)
    }

    /// Evaluates a manifest's condition (compiled at load) in a context.
    fn test(&self, when: &str, ctx: &JValue) -> Result<bool, minijinja::Error> {
        match self.conditions.get(when) {
            Some(expr) => Ok(expr.eval(ctx)?.is_true()),
            None => Ok(self.env.compile_expression(when)?.eval(ctx)?.is_true()),
        }
    }

    /// Renders one output for one context, with its path; None when `when` is false.
    fn render_one(
        &self,
        bp: &Blueprint,
        out: &Output,
        ctx: &JValue,
        what: &str,
        feed: &Feed,
        place: Expected<'_>,
    ) -> Result<Option<Rendered>, Diagnostic> {
        let err = |e: minijinja::Error| {
            template_error(&e, &self.display, Some(feed)).note(format!(
                "while rendering blueprint `{}` for {what}",
                bp.name
            ))
        };
        if let Some(w) = &out.when {
            if !self
                .test(w, ctx)
                .map_err(|e| condition_error(&e, bp, w, what))?
            {
                return Ok(None);
            }
        }
        let path = self
            .env
            .get_template(&out.path_tpl)
            .and_then(|t| t.render(ctx))
            .map_err(err)?;
        let path = path.trim().to_string();
        if let Err(why) = check_output_path(&path).and_then(|()| place.check(&path)) {
            return Err(Diagnostic::error(
                "blueprint/bad-path",
                format!(
                    "blueprint `{}` renders output path `{path}`: {why}",
                    bp.name
                ),
            )
            .in_file(&bp.manifest)
            .note(format!("while rendering for {what}")));
        }
        let text = self
            .env
            .get_template(&out.template)
            .and_then(|t| t.render(ctx))
            .map_err(err)?;
        Ok(Some((path, text, out.class)))
    }

    /// Renders every service (in parallel) and every environment entry point; `check` runs on
    /// each service's output.
    pub fn expand(
        &self,
        services: &[Service],
        feeds: &[Feed],
        org_ctx: &Value,
        envs: &[Value],
        check: &ServiceCheck<'_>,
    ) -> Expanded {
        let version = json!({"version": env!("CARGO_PKG_VERSION")});
        let org_only = JValue::from(minijinja::value::Serde(
            json!({"org": org_ctx, "pctl": version}),
        ));

        let mut diags = Vec::new();
        let addons: Vec<&Blueprint> = self
            .blueprints
            .iter()
            .filter(|b| match &b.role {
                Role::Addon(None) => true,
                Role::Addon(Some(w)) => match self.test(w, &org_only) {
                    Ok(yes) => yes,
                    Err(e) => {
                        diags.push(condition_error(&e, b, w, "the organisation"));
                        false
                    }
                },
                _ => false,
            })
            .collect();

        let run_values = RunValues {
            addons: &addons,
            org: JValue::from(minijinja::value::Serde(org_ctx)),
            version: JValue::from(minijinja::value::Serde(&version)),
        };
        // Per-service outputs, in parallel; results come back in input order.
        let per_service: Vec<ServiceOutput> = services
            .par_iter()
            .zip(feeds.par_iter())
            .enumerate()
            .map(|(i, (svc, feed))| self.expand_service(i, svc, feed, &run_values, check))
            .collect();

        let mut tree = Tree::new();
        let add =
            |tree: &mut Tree, diags: &mut Vec<Diagnostic>, path: String, file: RenderedFile| {
                if let Some(prev) = tree.get(&path) {
                    diags.push(
                        Diagnostic::error(
                            "render/path-conflict",
                            format!(
                                "`{path}` would be generated twice (by {} and {})",
                                describe_owner(&prev.owner),
                                describe_owner(&file.owner)
                            ),
                        )
                        .help("service names and blueprint output paths must not collide"),
                    );
                    return;
                }
                tree.insert(path, file);
            };
        let mut failed = BTreeSet::new();
        let mut clean = BTreeSet::new();
        for (svc, (files, mut d, bad)) in services.iter().zip(per_service) {
            if bad {
                failed.insert(svc.name.clone());
            } else if d.is_empty() {
                clean.insert(svc.name.clone());
            }
            diags.append(&mut d);
            for (path, content, class) in files {
                let owner = Owner::Service(svc.name.clone());
                add(
                    &mut tree,
                    &mut diags,
                    path,
                    RenderedFile {
                        content,
                        owner,
                        class,
                    },
                );
            }
        }

        // Organisation-owned outputs, once per environment.
        for env_ctx in envs {
            let ctx = JValue::from(minijinja::value::Serde(
                json!({"org": org_ctx, "env": env_ctx, "pctl": version}),
            ));
            let what = format!(
                "environment `{}`",
                env_ctx["name"].as_str().unwrap_or_default()
            );
            for bp in &addons {
                for out in bp.outputs.iter().filter(|o| o.scope == Scope::Environment) {
                    let env_name = env_ctx["name"].as_str().unwrap_or_default();
                    let place = Expected::Organisation(env_name);
                    match self.render_one(bp, out, &ctx, &what, &Feed::default(), place) {
                        Ok(Some((path, text, class))) => {
                            let header = format!(
                                "generated by pctl from organisation config ({}) — do not edit",
                                org_ctx["name"].as_str().unwrap_or_default()
                            );
                            match finish(&path, text, &header, &self.sources) {
                                Ok((content, _)) => add(
                                    &mut tree,
                                    &mut diags,
                                    path,
                                    RenderedFile {
                                        content,
                                        owner: Owner::Org,
                                        class,
                                    },
                                ),
                                Err(mut d) => diags.append(&mut d),
                            }
                        }
                        Ok(None) => {}
                        Err(d) => diags.push(d),
                    }
                }
            }
        }
        add_kustomizations(&mut tree);
        Expanded {
            tree,
            diagnostics: diags,
            failed,
            clean,
        }
    }

    fn expand_service(
        &self,
        index: usize,
        svc: &Service,
        feed: &Feed,
        run: &RunValues<'_>,
        check: &ServiceCheck<'_>,
    ) -> ServiceOutput {
        let RunValues {
            addons,
            org,
            version,
        } = run;
        let mut files = Vec::new();
        let mut objects = Vec::new();
        let mut diags = Vec::new();
        let header = format!(
            "generated by pctl from {}@{} — do not edit",
            one_line(&svc.source.repository),
            one_line(&svc.source.sha)
        );
        // Which output rendered each path: a second output to the same path is an error of
        // the service (located at the resource that caused it), and fails it whole.
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut emit = |r: Result<Option<Rendered>, Diagnostic>,
                        diags: &mut Vec<Diagnostic>,
                        feed: &Feed,
                        what: &str| match r {
            Ok(Some((path, _, _))) if seen.contains_key(&path) => {
                let first = &seen[&path];
                let mut d = Diagnostic::error(
                        "render/path-conflict",
                        format!("`{path}` would be generated twice: for {first} and for {what}"),
                    )
                    .help("rename the resource in platform.yaml (or the blueprint output) so that the file names differ");
                if let Some((file, span)) = feed.origin() {
                    d = d.in_file(file).at(Some(span));
                }
                diags.push(d);
            }
            Ok(Some((path, text, class))) => {
                seen.insert(path.clone(), what.to_string());
                match finish(&path, text, &header, &self.sources) {
                    Ok((content, docs)) => {
                        // One parse serves the check above and the guardrails and policies.
                        if let Ok([object]) = <[Value; 1]>::try_from(docs) {
                            objects.push(json!({
                                "path": path.clone(),
                                "kind": object["kind"].clone(),
                                "name": object["metadata"]["name"].clone(),
                                "object": object,
                            }));
                        }
                        files.push((path, content, class))
                    }
                    Err(mut d) => diags.append(&mut d),
                }
            }
            Ok(None) => {}
            Err(d) => diags.push(d),
        };
        let Some(workload) = self.workload_for(svc) else {
            // Reported by validation (unknown blueprint / kind); nothing to render.
            return (files, diags, true);
        };
        let mut chosen: Vec<&Blueprint> = vec![workload];
        chosen.extend(addons.iter().copied());
        // Contexts are minijinja maps of converted values: the organisation's and pctl's are
        // converted once per run and shared (an Arc clone), the service's and deployment's once.
        let shared = |m: &Map<String, Value>| -> BTreeMap<String, JValue> {
            let mut out: BTreeMap<String, JValue> = m
                .iter()
                .map(|(k, v)| (k.clone(), JValue::from(minijinja::value::Serde(v))))
                .collect();
            out.insert("org".into(), org.clone());
            out.insert("pctl".into(), version.clone());
            out
        };
        let svc_ctx = JValue::from(shared(&svc.context));
        let what = format!("service `{}`", svc.name);
        for bp in &chosen {
            for out in bp.outputs.iter().filter(|o| o.scope == Scope::Service) {
                let place = Expected::Service(&svc.name, None);
                emit(
                    self.render_one(bp, out, &svc_ctx, &what, feed, place),
                    &mut diags,
                    feed,
                    &what,
                );
            }
        }
        for dep in &svc.deployments {
            let base = shared(&dep.context);
            let ctx = JValue::from(base.clone());
            let what = format!("service `{}` in environment `{}`", svc.name, dep.env);
            let feed = feed.for_env(&dep.env);
            for bp in &chosen {
                for out in bp.outputs.iter().filter(|o| o.scope == Scope::Deployment) {
                    let place = Expected::Service(&svc.name, Some(&dep.env));
                    emit(
                        self.render_one(bp, out, &ctx, &what, &feed, place),
                        &mut diags,
                        &feed,
                        &what,
                    );
                }
            }
            for res in &dep.resources {
                let rtype = res["type"].as_str().unwrap_or_default();
                let rname = res["name"].as_str().unwrap_or_default();
                let mut m = base.clone();
                m.insert(
                    "resource".into(),
                    JValue::from(minijinja::value::Serde(res)),
                );
                let ctx = JValue::from(m);
                let what = format!(
                    "resource `{rname}` of service `{}` in environment `{}`",
                    svc.name, dep.env
                );
                let feed = feed.for_resource(rname);
                for bp in self
                    .blueprints
                    .iter()
                    .filter(|b| b.role == Role::Resource(rtype.to_string()))
                {
                    for out in bp.outputs.iter().filter(|o| o.scope == Scope::Resource) {
                        let place = Expected::Service(&svc.name, Some(&dep.env));
                        emit(
                            self.render_one(bp, out, &ctx, &what, &feed, place),
                            &mut diags,
                            &feed,
                            &what,
                        );
                    }
                }
                for bp in addons.iter() {
                    for out in bp.outputs.iter().filter(|o| o.scope == Scope::Resource) {
                        let place = Expected::Service(&svc.name, Some(&dep.env));
                        emit(
                            self.render_one(bp, out, &ctx, &what, &feed, place),
                            &mut diags,
                            &feed,
                            &what,
                        );
                    }
                }
            }
        }
        // All or nothing per service: half a service's files would be worse than none.
        if diags.iter().any(Diagnostic::is_error) {
            files.clear();
            objects.clear();
        }
        // Guardrails and policies see the service's rendered files and parsed objects; a
        // `deny` drops the service whole too.
        let texts: Vec<(String, String)> = files
            .iter()
            .map(|(p, c, _)| (p.clone(), c.clone()))
            .collect();
        diags.extend(check(index, svc, &texts, &objects));
        let failed = diags.iter().any(Diagnostic::is_error);
        if failed {
            files.clear();
        }
        (files, diags, failed)
    }
}

/// A `when` that failed to evaluate: the manifest is the place to fix it.
fn condition_error(e: &minijinja::Error, bp: &Blueprint, when: &str, what: &str) -> Diagnostic {
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    Diagnostic::error(
        "blueprint/template",
        format!("the condition `{when}` cannot be evaluated ({}){detail}", e.kind()),
    )
    .in_file(&bp.manifest)
    .note(format!("while rendering blueprint `{}` for {what}", bp.name))
    .help("the context each scope sees is in blueprints/README.md; guard optional values with `is not none`")
}
