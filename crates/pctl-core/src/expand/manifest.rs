//! Blueprint manifests (`<blueprint>/blueprint.yaml`) and a run's set of blueprints: the
//! built-in ones and an organisation's folder, every template compiled into one environment.

use super::feed::template_error;
use super::{BlueprintSet, Class, escape};
use crate::diag::Diagnostic;
use crate::load::{self, Document};
use crate::source::{SourceFile, SourceMap};
use crate::validate::params::{ManifestFields, ResourceType};
use crate::validate::schema::{PlatformSchema, embedded_blueprints};
use minijinja::{Environment, UndefinedBehavior};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

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
    /// The compiled template name of the path.
    pub(super) path_tpl: String,
    /// The condition: a minijinja expression over the output's context.
    pub(super) when: Option<String>,
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
    connection: Option<Value>,
    in_cluster: Option<Value>,
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
        env.add_filter("plain", escape::plain_filter);
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
        let defaults = super::selection::defaults(&blueprints, &mut diags);
        if !diags.is_empty() {
            return Err(diags);
        }
        let types = blueprints.iter().filter_map(|b| b.resource_type.clone());
        let schema = PlatformSchema::for_types(types.collect()).map_err(|d| vec![d])?;
        // The environment lives as long as the process (one per run): the conditions are
        // compiled against it once, as expressions that borrow it.
        let env: &'static Environment<'static> = Box::leak(Box::new(env));
        let mut conditions = std::collections::HashMap::new();
        let whens = blueprints.iter().flat_map(|b| {
            let top = match &b.role {
                Role::Addon(Some(w)) => Some(w),
                _ => None,
            };
            top.into_iter()
                .chain(b.outputs.iter().filter_map(|o| o.when.as_ref()))
        });
        for w in whens {
            if !conditions.contains_key(w) {
                let compiled = env
                    .compile_expression_owned(w.clone())
                    .map_err(|e| vec![template_error(&e, &display, None)])?;
                conditions.insert(w.clone(), compiled);
            }
        }
        Ok(BlueprintSet {
            env,
            conditions,
            blueprints,
            display,
            sources: sources.clone(),
            schema,
            defaults,
        })
    }
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
        connection: raw.connection.as_ref(),
        in_cluster: raw.in_cluster.as_ref(),
    };
    let serves = match &role {
        Role::Resource(t) => Some(t.as_str()),
        _ => None,
    };
    let resource_type = fields.read(serves, folder, &raw.description, file, &doc, &mut diags);
    let role = match (role, &raw.when) {
        (Role::Addon(_), Some(w)) => {
            if let Err(e) = env.compile_expression(w) {
                diags.push(expr_error(&e, file, &doc, "/when"));
            }
            Role::Addon(Some(w.clone()))
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
        // A condition is an expression, compiled as one (never spliced into a template).
        if let Some(Err(e)) = o.when.as_ref().map(|w| env.compile_expression(w)) {
            diags.push(expr_error(&e, file, &doc, &format!("/outputs/{i}/when")));
        }
        let when = o.when.clone();
        outputs.push(Output {
            template,
            scope,
            class: o.class,
            path_tpl,
            when,
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
