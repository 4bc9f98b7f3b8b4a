//! Stage 5, expand: blueprints (minijinja templates, embedded or from an override folder)
//! turn the resolved model into files. Templates are compiled once; services render in
//! parallel; every output is re-parsed before it is accepted. Pure: reads no files after load.

pub mod check;
pub mod escape;

use crate::diag::{Diagnostic, Span};
use crate::layout::{self, OwnerKind};
use crate::load::{self, Document};
pub use crate::record::Class;
use crate::resolve::Service;
use crate::source::{SourceFile, SourceMap};
use crate::validate::Capabilities;
use crate::validate::params::{ManifestFields, ResourceType};
use crate::validate::schema::{PlatformSchema, embedded_blueprints};
use check::Format;
use minijinja::{Environment, UndefinedBehavior, Value as JValue};
use rayon::prelude::*;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Which part of the model an output is rendered for, and so how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Once per organisation environment (controller entry points). Owned by the organisation.
    Environment,
    /// Once per service (pipelines).
    Service,
    /// Once per service and environment (Kubernetes objects).
    Deployment,
    /// Once per resource, service and environment (Terraform, credentials).
    Resource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Workload(String),
    Resource(String),
    /// Applied when its `when` expression (org context) is true, or always.
    Addon(Option<String>),
}

#[derive(Debug, Clone)]
pub struct Output {
    pub template: String,
    pub scope: Scope,
    /// What the file is, when its path cannot tell (see [`Class`]).
    pub class: Option<Class>,
    /// Compiled template names for the path and the condition.
    path_tpl: String,
    when_tpl: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Blueprint {
    pub name: String,
    pub description: String,
    pub role: Role,
    pub outputs: Vec<Output>,
    /// Display path of blueprint.yaml.
    pub manifest: String,
    pub builtin: bool,
    /// Resource blueprints: the type's port, parameters, ... (see validate::params).
    pub resource_type: Option<ResourceType>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    #[serde(default)]
    description: String,
    workload: Option<String>,
    resource: Option<String>,
    when: Option<String>,
    outputs: Vec<RawOutput>,
    // Resource blueprints only (see validate::params).
    port: Option<u16>,
    sized: Option<bool>,
    category: Option<String>,
    parameters: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    template: String,
    path: String,
    scope: Option<Scope>,
    when: Option<String>,
    class: Option<Class>,
}

/// One file of an organisation's blueprint folder, as the caller read it.
#[derive(Debug, Clone)]
pub struct OverrideFile {
    /// Relative to the folder, with `/` separators: `web-service/blueprint.yaml`.
    pub path: String,
    /// How diagnostics name the file.
    pub display: String,
    pub text: String,
}

/// Who owns a generated file: one service, or the organisation (shared entry points), or the
/// organisation-wide service catalog (`catalog/index.json`, `catalog/systems.yaml`: they depend
/// on every service, so only runs over the whole organisation render, change or delete them).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Owner {
    Org,
    Service(String),
    Catalog,
}

impl Owner {
    /// The owner's name in `.pctl/` records, plans and reports. The catalog's cannot be a
    /// service name (those are DNS labels, without `/`).
    pub fn name(&self) -> String {
        match self {
            Owner::Org => "organisation".into(),
            Owner::Service(s) => s.clone(),
            Owner::Catalog => CATALOG_OWNER.into(),
        }
    }
}

/// The owner name of the organisation-wide catalog files (see [`Owner::Catalog`]).
pub const CATALOG_OWNER: &str = "organisation/catalog";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    pub content: String,
    pub owner: Owner,
    /// Declared by the blueprint output that rendered it.
    pub class: Option<Class>,
}

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

/// The rendered deploy tree: relative path -> file. A BTreeMap, so iteration is sorted.
pub type Tree = BTreeMap<String, RenderedFile>;

/// All blueprints of a run, with their templates compiled into one environment.
pub struct BlueprintSet {
    env: Environment<'static>,
    pub blueprints: Vec<Blueprint>,
    /// Template name -> (display path, source text), for diagnostics.
    display: BTreeMap<String, (String, String)>,
    sources: SourceMap,
    /// The platform schema with these blueprints' resource types, compiled once.
    schema: std::sync::Arc<PlatformSchema>,
}

impl BlueprintSet {
    /// Loads the built-in blueprints, then an organisation's folder (read by the caller, see
    /// [`OverrideFile`]): a blueprint folder there replaces the built-in one of the same name;
    /// `_common/` files replace file by file.
    pub fn load(
        overrides: &[OverrideFile],
        sources: &SourceMap,
    ) -> Result<BlueprintSet, Vec<Diagnostic>> {
        let mut files: BTreeMap<String, (String, String)> = embedded_blueprints()
            .iter()
            .filter(|(p, _)| !p.ends_with(".md"))
            .map(|(p, t)| {
                (
                    p.to_string(),
                    (format!("(built-in) blueprints/{p}"), t.to_string()),
                )
            })
            .collect();
        let mut builtin: BTreeMap<String, bool> = BTreeMap::new();
        let mut diags = Vec::new();
        if !overrides.is_empty() {
            let found: BTreeMap<String, (String, String)> = overrides
                .iter()
                .filter(|f| !f.path.starts_with('.') && !f.path.ends_with(".md"))
                .map(|f| (f.path.clone(), (f.display.clone(), f.text.clone())))
                .collect();
            let replaced: Vec<String> = found
                .keys()
                .filter_map(|p| p.split_once('/').map(|(f, _)| f.to_string()))
                .filter(|f| f != "_common")
                .collect();
            files.retain(|p, _| !replaced.iter().any(|f| p.starts_with(&format!("{f}/"))));
            for f in &replaced {
                builtin.insert(f.clone(), false);
            }
            files.extend(found);
        }

        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Debug info would print every context value (secrets included) with an error.
        env.set_debug(false);
        env.set_auto_reload(false);
        env.set_recursion_limit(64);
        let mut syntax = minijinja::syntax::SyntaxConfig::builder();
        syntax.keep_trailing_newline(true);
        env.set_syntax(syntax.build().expect("default syntax is valid"));
        env.set_auto_escape_callback(escape::mode_for);
        env.set_formatter(escape::formatter);
        env.add_filter("yaml", escape::yaml_filter);
        env.add_filter("hcl", escape::hcl_filter);
        env.add_filter("code", escape::code_filter);

        let mut display = BTreeMap::new();
        let mut manifests = Vec::new();
        for (name, (shown, text)) in &files {
            display.insert(name.clone(), (shown.clone(), text.clone()));
            sources.add(SourceFile::new(shown, text.clone()));
            if name.ends_with("/blueprint.yaml") && name.matches('/').count() == 1 {
                manifests.push((name.clone(), shown.clone(), text.clone()));
                continue;
            }
            if let Err(e) = env.add_template_owned(name.clone(), text.clone()) {
                diags.push(template_error(&e, &display, None));
            }
        }

        let mut blueprints = Vec::new();
        for (name, shown, text) in manifests {
            let folder = name.split('/').next().unwrap_or_default().to_string();
            let file = SourceFile::new(&shown, text);
            match parse_manifest(&folder, &file, &files, &mut env) {
                Ok(mut bp) => {
                    bp.builtin = builtin.get(&folder).copied().unwrap_or(true);
                    blueprints.push(bp);
                }
                Err(mut d) => diags.append(&mut d),
            }
        }
        // Two blueprints for the same kind or resource type would make the choice arbitrary.
        let mut claimed: BTreeMap<String, &str> = BTreeMap::new();
        for bp in &blueprints {
            let key = match &bp.role {
                Role::Workload(k) => format!("workload `{k}`"),
                Role::Resource(t) => format!("resource type `{t}`"),
                Role::Addon(_) => continue,
            };
            if let Some(first) = claimed.insert(key.clone(), &bp.name) {
                diags.push(
                    Diagnostic::error("blueprint/conflict", format!("blueprints `{first}` and `{}` both serve {key}", bp.name))
                        .in_file(&bp.manifest)
                        .help("keep one of them; a service picks another workload blueprint with `spec.blueprint`"),
                );
            }
        }
        if !diags.is_empty() {
            return Err(diags);
        }
        let types = blueprints.iter().filter_map(|b| b.resource_type.clone());
        let schema = PlatformSchema::for_types(types.collect()).map_err(|d| vec![d])?;
        Ok(BlueprintSet {
            env,
            blueprints,
            display,
            sources: sources.clone(),
            schema,
        })
    }

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
        self.blueprints
            .iter()
            .find(|b| match (&svc.blueprint, &b.role) {
                (Some(name), Role::Workload(_)) => &b.name == name,
                (None, Role::Workload(k)) => k == &svc.kind,
                _ => false,
            })
    }

    fn test(&self, tpl: &str, ctx: &JValue) -> Result<bool, minijinja::Error> {
        Ok(self.env.get_template(tpl)?.render(ctx)?.trim() == "1")
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
        if let Some(w) = &out.when_tpl {
            if !self.test(w, ctx).map_err(err)? {
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
                        diags.push(template_error(&e, &self.display, None));
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

fn describe_owner(o: &Owner) -> String {
    match o {
        Owner::Org => "the organisation config".into(),
        Owner::Service(s) => format!("service `{s}`"),
        Owner::Catalog => "the organisation's service catalog".into(),
    }
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Adds the header, normalises the ending and re-parses the file; returns the content and the
/// parsed YAML documents (none for other formats).
fn finish(
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
fn add_kustomizations(tree: &mut Tree) {
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
enum Expected<'a> {
    Service(&'a str, Option<&'a str>),
    Organisation(&'a str),
}

impl Expected<'_> {
    fn check(&self, path: &str) -> Result<(), &'static str> {
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

fn check_output_path(p: &str) -> Result<(), &'static str> {
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

fn parse_manifest(
    folder: &str,
    file: &SourceFile,
    files: &BTreeMap<String, (String, String)>,
    env: &mut Environment<'static>,
) -> Result<Blueprint, Vec<Diagnostic>> {
    let doc: Document = load::parse(file, load::Options::default())?;
    let raw: RawManifest = serde_json::from_value(doc.value.clone()).map_err(|e| {
        vec![Diagnostic::error("blueprint/manifest", format!("invalid blueprint manifest: {e}"))
            .in_file(&file.name)
            .help("a manifest has `description`, one of `workload`/`resource`/`when`, and `outputs` with `template`, `path`, optional `scope` and `when`; a resource blueprint also `port`, `sized`, `category` and `parameters`")]
    })?;
    let role = match (&raw.workload, &raw.resource) {
        (Some(k), None) => Role::Workload(k.clone()),
        (None, Some(t)) => Role::Resource(t.clone()),
        (None, None) => Role::Addon(None),
        (Some(_), Some(_)) => {
            return Err(vec![
                Diagnostic::error(
                    "blueprint/manifest",
                    "a blueprint serves either a `workload` kind or a `resource` type, not both",
                )
                .in_file(&file.name)
                .at(doc.spans.locate_key(file, "/resource")),
            ]);
        }
    };
    let mut diags = Vec::new();
    let fields = ManifestFields {
        port: raw.port,
        sized: raw.sized,
        category: raw.category.as_deref(),
        parameters: raw.parameters.as_ref(),
    };
    let serves = match &role {
        Role::Resource(t) => Some(t.as_str()),
        _ => None,
    };
    let resource_type = fields.read(serves, folder, &raw.description, file, &doc, &mut diags);
    let role = match (role, &raw.when) {
        (Role::Addon(_), Some(w)) => {
            let name = format!("{folder}/blueprint.yaml#when");
            if let Err(e) =
                env.add_template_owned(name.clone(), format!("{{% if {w} %}}1{{% endif %}}"))
            {
                diags.push(expr_error(&e, file, &doc, "/when"));
            }
            Role::Addon(Some(name))
        }
        (Role::Addon(_), None) => Role::Addon(None),
        (r, Some(_)) => {
            diags.push(Diagnostic::error("blueprint/manifest", "`when` at the top level is only for add-on blueprints (neither `workload` nor `resource`)")
                .in_file(&file.name)
                .at(doc.spans.locate_key(file, "/when")));
            r
        }
        (r, None) => r,
    };
    let mut outputs = Vec::new();
    for (i, o) in raw.outputs.iter().enumerate() {
        let template = if o.template.contains('/') {
            o.template.clone()
        } else {
            format!("{folder}/{}", o.template)
        };
        if !files.contains_key(&template) {
            diags.push(Diagnostic::error("blueprint/missing-template", format!("template `{template}` does not exist"))
                .in_file(&file.name)
                .at(doc.spans.locate(file, &format!("/outputs/{i}/template")))
                .help("a name without `/` is relative to the blueprint's folder; with `/`, relative to the blueprints root"));
            continue;
        }
        let scope = o.scope.unwrap_or(match role {
            Role::Resource(_) => Scope::Resource,
            _ => Scope::Deployment,
        });
        if scope == Scope::Environment && !matches!(role, Role::Addon(_)) {
            diags.push(
                Diagnostic::error(
                    "blueprint/manifest",
                    "`scope: environment` outputs belong to add-on blueprints",
                )
                .in_file(&file.name)
                .at(doc.spans.locate(file, &format!("/outputs/{i}/scope"))),
            );
        }
        let path_tpl = format!("{folder}/blueprint.yaml#outputs[{i}].path");
        if let Err(e) = env.add_template_owned(path_tpl.clone(), o.path.clone()) {
            diags.push(expr_error(&e, file, &doc, &format!("/outputs/{i}/path")));
        }
        let when_tpl = o.when.as_ref().map(|w| {
            let name = format!("{folder}/blueprint.yaml#outputs[{i}].when");
            if let Err(e) =
                env.add_template_owned(name.clone(), format!("{{% if {w} %}}1{{% endif %}}"))
            {
                diags.push(expr_error(&e, file, &doc, &format!("/outputs/{i}/when")));
            }
            name
        });
        outputs.push(Output {
            template,
            scope,
            class: o.class,
            path_tpl,
            when_tpl,
        });
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok(Blueprint {
        name: folder.to_string(),
        description: raw.description,
        role,
        outputs,
        manifest: file.name.clone(),
        builtin: true,
        resource_type,
    })
}

fn expr_error(
    e: &minijinja::Error,
    file: &SourceFile,
    doc: &Document,
    pointer: &str,
) -> Diagnostic {
    Diagnostic::error(
        "blueprint/syntax",
        format!(
            "invalid expression: {}",
            e.detail().unwrap_or("syntax error")
        ),
    )
    .in_file(&file.name)
    .at(doc.spans.locate(file, pointer))
}

/// Where, in platform.yaml, the values a template reads come from (best effort): used to point
/// a template error at the field that fed it.
#[derive(Debug, Clone, Default)]
pub struct Feed {
    pub file: Option<SourceFile>,
    pub doc: Option<std::sync::Arc<Document>>,
    env: Option<String>,
    resource: Option<String>,
}

impl Feed {
    pub fn new(file: SourceFile, doc: std::sync::Arc<Document>) -> Feed {
        Feed {
            file: Some(file),
            doc: Some(doc),
            env: None,
            resource: None,
        }
    }
    fn for_env(&self, env: &str) -> Feed {
        Feed {
            env: Some(env.to_string()),
            ..self.clone()
        }
    }
    fn for_resource(&self, r: &str) -> Feed {
        Feed {
            resource: Some(r.to_string()),
            ..self.clone()
        }
    }

    /// Where in platform.yaml the output being rendered comes from: its resource's key, else
    /// the environment's, else the document.
    fn origin(&self) -> Option<(String, Span)> {
        let (file, doc) = (self.file.as_ref()?, self.doc.as_ref()?);
        let pointers = [
            self.resource
                .as_ref()
                .map(|r| crate::diag::join_pointer("/spec/resources", r)),
            self.env
                .as_ref()
                .map(|e| crate::diag::join_pointer("/spec/environments", e)),
            Some(String::new()),
        ];
        pointers
            .into_iter()
            .flatten()
            .find_map(|p| doc.spans.locate_key(file, &p))
            .map(|span| (file.name.clone(), span))
    }

    /// `service.health.liveness` -> `/spec/health/liveness`, located in the file.
    fn locate(&self, expr: &str) -> Option<(String, Span, String)> {
        let (file, doc) = (self.file.as_ref()?, self.doc.as_ref()?);
        let path: Vec<&str> = expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .find(|s| s.contains('.'))?
            .split('.')
            .collect();
        const META: &[&str] = &[
            "name",
            "owner",
            "description",
            "system",
            "lifecycle",
            "oncall",
            "repository",
            "runbook",
            "tags",
        ];
        let pointer = match path.as_slice() {
            ["service", f, rest @ ..] if META.contains(f) => {
                format!("/metadata/{f}{}", suffix(rest))
            }
            ["service", "image_ref" | "image_tag", ..] => "/spec/image".to_string(),
            ["service", f, rest @ ..] => format!("/spec/{f}{}", suffix(rest)),
            ["deployment", f, rest @ ..] => format!(
                "/spec/environments/{}/{f}{}",
                self.env.as_deref()?,
                suffix(rest)
            ),
            ["resource", f, rest @ ..] => format!(
                "/spec/resources/{}/{f}{}",
                self.resource.as_deref()?,
                suffix(rest)
            ),
            _ => return None,
        };
        // The deepest part of that path the file really has.
        let mut p = pointer.as_str();
        while doc.spans.get(p).is_none() {
            p = &p[..p.rfind('/')?];
        }
        let span = doc.spans.locate_key(file, p)?;
        Some((file.name.clone(), span, crate::diag::pointer_to_path(p)))
    }
}

fn suffix(rest: &[&str]) -> String {
    rest.iter().map(|s| format!("/{s}")).collect()
}

fn template_error(
    e: &minijinja::Error,
    display: &BTreeMap<String, (String, String)>,
    feed: Option<&Feed>,
) -> Diagnostic {
    let name = e.name().unwrap_or("template");
    let (shown, text) = display
        .get(name.split('#').next().unwrap_or(name))
        .cloned()
        .unwrap_or_else(|| (name.to_string(), String::new()));
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    let help = match e.kind() {
        minijinja::ErrorKind::UndefinedError => {
            "the template reads a variable the context does not have (see the context reference in blueprints/README.md); guard optional values with `is not none`"
        }
        minijinja::ErrorKind::SyntaxError => "fix the template syntax at this line",
        _ => "fix the template at this line, or the platform.yaml value it reads",
    };
    let mut d = Diagnostic::error("blueprint/template", format!("{}{detail}", e.kind()))
        .in_file(&shown)
        .help(help);
    if name.contains('#') {
        // An expression inside blueprint.yaml (path or when): the manifest is the place.
        return d;
    }
    // Debug info is off (it would print the whole context), so the source comes from our copy.
    let src = e.template_source().unwrap_or(&text);
    let f = SourceFile::new(&shown, src.to_string());
    match e.range().filter(|r| r.end <= src.len()) {
        Some(range) => {
            let s = f.span_at_byte(range.start);
            d = d.at(Some(Span {
                end: range.end.max(s.start),
                ..s
            }));
            if let Some((file, span, path)) = feed.and_then(|f| f.locate(&src[range.clone()])) {
                d = d.label(file, span, format!("`{path}` feeds this value"));
            }
        }
        None => {
            if let Some(line) = e.line() {
                d = d.at(Some(f.span(line, 0, 0)));
            }
        }
    }
    d
}
