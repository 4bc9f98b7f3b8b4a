//! Classification of one change: the risks a reviewer must see, from what the blueprint
//! declared (the file's class), the layout (its environment) and the parsed objects of both
//! sides, never from lines of text; and whether its content may be shown at all.

use super::Context;
use crate::layout::{self, Area};
use crate::plan::{Action, Change, env_of};
use crate::record::Class;
use std::collections::{BTreeMap, BTreeSet};

/// Why a change deserves a reviewer's attention, most important first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Risk {
    Deletion,
    ProtectedEnvironment,
    StatefulResource(String),
    SizeChange(String),
    PublicEndpoint,
    Approvals,
    SecretReference,
}

impl Risk {
    pub(super) fn icon(&self) -> &'static str {
        match self {
            Risk::Deletion => "🗑️",
            Risk::ProtectedEnvironment => "🔒",
            Risk::StatefulResource(_) => "🗄️",
            Risk::SizeChange(_) => "📏",
            Risk::PublicEndpoint => "🌐",
            Risk::Approvals => "✅",
            Risk::SecretReference => "🔑",
        }
    }
    pub fn flag(&self) -> &'static str {
        match self {
            Risk::Deletion => "deletion",
            Risk::ProtectedEnvironment => "protected-environment",
            Risk::StatefulResource(_) => "stateful-resource",
            Risk::SizeChange(_) => "size-change",
            Risk::PublicEndpoint => "public-endpoint",
            Risk::Approvals => "approvals",
            Risk::SecretReference => "secret-reference",
        }
    }
}

/// The objects of a YAML file (every document), or none when it does not parse.
fn objects(text: &str) -> Vec<serde_json::Value> {
    let file = crate::source::SourceFile::new("review", text.to_string());
    let opts = crate::load::Options {
        no_spans: true,
        ..Default::default()
    };
    crate::load::parse_all(&file, opts)
        .map(|docs| docs.into_iter().map(|d| d.value).collect())
        .unwrap_or_default()
}

fn is_yaml(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml")
}

/// Whether a YAML text may hold a secret-bearing kind: it spells `Secret`, or has an escape
/// sequence that could spell it (`"Secr\x65t"`). A cheap test before parsing.
fn may_name_secret(text: &str) -> bool {
    text.contains("Secret") || text.contains('\\')
}

/// Kinds whose objects hold or fetch secret values.
const SECRET_KINDS: &[&str] = &["Secret", "SealedSecret", "ExternalSecret"];
/// Kinds whose content must never be shown (values, or encrypted values).
const SECRET_VALUE_KINDS: &[&str] = &["Secret", "SealedSecret"];

fn has_kind(objects: &[serde_json::Value], kinds: &[&str]) -> bool {
    objects
        .iter()
        .any(|o| o["kind"].as_str().is_some_and(|k| kinds.contains(&k)))
}

/// Every attribute of a Terraform file as `block.label.attribute = value` text, in order.
fn hcl_settings(text: &str) -> Vec<(String, String)> {
    fn walk(body: &hcl_edit::structure::Body, prefix: &str, out: &mut Vec<(String, String)>) {
        for s in body.iter() {
            if let Some(a) = s.as_attribute() {
                let v = a.value.to_string();
                out.push((
                    format!("{prefix}{}", a.key.as_str()),
                    v.split_whitespace().collect::<Vec<_>>().join(" "),
                ));
            } else if let Some(b) = s.as_block() {
                let mut p = format!("{prefix}{}", b.ident.as_str());
                for l in &b.labels {
                    p.push('.');
                    p.push_str(l.as_str());
                }
                p.push('.');
                walk(&b.body, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    if let Ok(body) = hcl_edit::parser::parse_body(text) {
        walk(&body, "", &mut out);
    }
    out
}

/// The settings of a changed data store: `instance_class "a" → "b"` for each attribute whose
/// value changed (at most four named).
fn changed_settings(old: &str, new: &str) -> Option<String> {
    let (a, b) = (hcl_settings(old), hcl_settings(new));
    let before: BTreeMap<&str, &str> = a.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut changed = Vec::new();
    for (k, v) in &b {
        match before.get(k.as_str()) {
            Some(old) if old == v => {}
            Some(old) => changed.push(format!("{k} {old} → {v}")),
            None => changed.push(format!("{k} → {v}")),
        }
    }
    let after: BTreeSet<&str> = b.iter().map(|(k, _)| k.as_str()).collect();
    for (k, v) in &a {
        if !after.contains(k.as_str()) {
            changed.push(format!("{k} {v} → (removed)"));
        }
    }
    if changed.is_empty() {
        return None;
    }
    let more = changed.len().saturating_sub(4);
    changed.truncate(4);
    let mut line = changed.join(", ");
    if more > 0 {
        line.push_str(&format!(" and {more} more"));
    }
    Some(line)
}

/// The environments a workflow's jobs run in (`jobs.<id>.environment`).
fn workflow_environments(objects: &[serde_json::Value]) -> Vec<String> {
    let mut envs = Vec::new();
    for o in objects {
        if let Some(jobs) = o["jobs"].as_object() {
            for (id, job) in jobs {
                envs.push(format!("{id}={}", job["environment"]));
            }
        }
    }
    envs
}

/// Classifies one change, from what the blueprint declared (its class), the layout (its
/// environment) and the parsed objects of both sides, never from lines of text. Values are
/// never read from secret-bearing objects.
pub fn risks(c: &Change, ctx: &Context) -> Vec<Risk> {
    let mut r = Vec::new();
    let old = c
        .old
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let new = c.new.as_deref().unwrap_or_default();
    // Parsed only where a risk depends on the objects (or a text may name a secret kind).
    let pipeline = layout::place(&c.path).is_some_and(|p| p.area == Area::Pipeline);
    let wanted = is_yaml(&c.path)
        && (c.class == Some(Class::Exposure)
            || pipeline
            || may_name_secret(&old)
            || may_name_secret(new));
    let (old_objs, new_objs) = if wanted {
        (objects(&old), objects(new))
    } else {
        (Vec::new(), Vec::new())
    };
    if c.action == Action::Delete {
        r.push(Risk::Deletion);
    }
    if env_of(&c.path).is_some_and(|e| ctx.protected_envs.contains(e)) {
        r.push(Risk::ProtectedEnvironment);
    }
    if c.class == Some(Class::Stateful) {
        let what = match c.action {
            Action::Add => "created",
            Action::Change => "changed",
            Action::Delete => "deleted",
        };
        r.push(Risk::StatefulResource(what.into()));
        if c.action == Action::Change {
            if let Some(d) = changed_settings(&old, new) {
                r.push(Risk::SizeChange(d));
            }
        }
    }
    if c.class == Some(Class::Exposure)
        && (c.action == Action::Add
            || (c.action == Action::Change
                && old_objs.iter().map(|o| &o["spec"]).collect::<Vec<_>>()
                    != new_objs.iter().map(|o| &o["spec"]).collect::<Vec<_>>()))
    {
        r.push(Risk::PublicEndpoint);
    }
    if pipeline
        && c.action != Action::Add
        && workflow_environments(&old_objs) != workflow_environments(&new_objs)
    {
        r.push(Risk::Approvals);
    }
    if has_kind(&old_objs, SECRET_KINDS) || has_kind(&new_objs, SECRET_KINDS) {
        r.push(Risk::SecretReference);
    }
    r.sort();
    r
}

/// Whether a change's content must never be shown: either side holds a Kubernetes `Secret`
/// (or a sealed one), however it is spelt (`kind: "Secret"` included).
pub fn redacted(c: &Change) -> bool {
    if !is_yaml(&c.path) {
        return false;
    }
    let old = c
        .old
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let new = c.new.as_deref().unwrap_or_default();
    if !may_name_secret(&old) && !may_name_secret(new) {
        return false;
    }
    has_kind(&objects(&old), SECRET_VALUE_KINDS) || has_kind(&objects(new), SECRET_VALUE_KINDS)
}
