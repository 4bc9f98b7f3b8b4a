//! The book's generated pages are never stale: the platform.yaml and pctl-org.yaml references
//! come from the JSON Schemas' descriptions, the CLI reference from clap (the same source as
//! `--help`). Each test renders its page and compares it with the file in `docs/reference/`;
//! `PCTL_BLESS=1 cargo test --test suite docs::` rewrites them. Also: every page SUMMARY.md lists
//! exists (or is the security model's slot), and every relative link of the README and the
//! book points at a file that exists.

use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn check(page: &str, generated: &str) {
    let path = Path::new(ROOT).join(page);
    if std::env::var_os("PCTL_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, generated).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current != generated {
        let diff = similar::TextDiff::from_lines(&current, generated)
            .unified_diff()
            .header(page, "generated")
            .to_string();
        panic!("{page} is stale: run PCTL_BLESS=1 cargo test --test suite docs::\n{diff}");
    }
}

#[test]
fn the_cli_reference_is_generated_from_clap() {
    check(
        "docs/reference/cli.md",
        &pctl::manual::markdown_reference(<pctl::cli::Cli as clap::CommandFactory>::command()),
    );
}

#[test]
fn the_platform_yaml_reference_is_generated_from_the_schema() {
    check(
        "docs/reference/platform-yaml.md",
        &schema_reference(
            "schemas/platform.schema.json",
            "platform.yaml",
            "What an application repository declares: what the service is, who owns it, what it \
             needs. Read as YAML 1.2 (`no` and `on` are strings); anchors, aliases, merge keys and \
             custom tags are refused. `pctl schema` prints the schema for editors \
             (yaml-language-server); `pctl new service` writes a platform.yaml that validates.",
        ),
    );
}

#[test]
fn the_organisation_reference_is_generated_from_the_schema() {
    check(
        "docs/reference/pctl-org-yaml.md",
        &schema_reference(
            "schemas/organisation.schema.json",
            "pctl-org.yaml",
            "The organisation config, kept by the platform team in the platform repository \
             (see [Organisation config](../organisation-config.md) for how application \
             repositories find it). `pctl schema organisation` prints the schema.",
        ),
    );
}

fn schema_reference(file: &str, title: &str, intro: &str) -> String {
    let root: Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(ROOT).join(file)).unwrap())
            .unwrap();
    let mut out = format!(
        "# `{title}` reference\n\n<!-- Generated from {file} by tests/docs.rs (PCTL_BLESS=1 cargo \
         test --test suite docs:: rewrites it); edit the schema's descriptions, not this page. -->\n\n\
         {intro}\n\n"
    );
    let mut sections = Vec::new();
    section(&root, &root, "", &mut sections);
    for (path, table) in sections {
        let heading = if path.is_empty() {
            "Top level".to_string()
        } else {
            format!("`{path}`")
        };
        let _ = writeln!(out, "## {heading}\n\n{table}");
    }
    out
}

fn resolve<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => root
            .pointer(r.trim_start_matches('#'))
            .map(|t| resolve(root, t))
            .unwrap_or(s),
        None => s,
    }
}

/// The alternative of an `if`/`then`/`else` schema that is a mapping with named fields (`metrics:
/// false` or `{port, path}`; a dependency's name or its contract), else the schema itself.
fn fields_of<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    let s = resolve(root, s);
    ["then", "else"]
        .iter()
        .filter_map(|k| s.get(*k))
        .map(|b| resolve(root, b))
        .find(|b| b.get("properties").is_some())
        .unwrap_or(s)
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The type of a schema, in words.
fn type_of(root: &Value, s: &Value) -> String {
    let named = s
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| root.pointer(r.trim_start_matches('#')))
        .and_then(|t| t.get("title"))
        .and_then(Value::as_str);
    let s = resolve(root, s);
    if let Some(t) = named.or_else(|| s.get("title").and_then(Value::as_str)) {
        return t.to_string();
    }
    if let Some(c) = s.get("const") {
        return format!("`{}`", plain(c));
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        return e
            .iter()
            .map(|v| format!("`{}`", plain(v)))
            .collect::<Vec<_>>()
            .join(" \\| ");
    }
    if let (Some(a), Some(b)) = (s.get("then"), s.get("else")) {
        // A `then` that only narrows (`minimum`, ...) has the type its `if` tested.
        let mut then = type_of(root, a);
        if then.is_empty() {
            then = s.get("if").map(|i| type_of(root, i)).unwrap_or_default();
        }
        return format!("{then} or {}", type_of(root, b));
    }
    for k in ["oneOf", "anyOf"] {
        if let Some(alts) = s.get(k).and_then(Value::as_array) {
            return alts
                .iter()
                .map(|a| type_of(root, a))
                .collect::<Vec<_>>()
                .join(" or ");
        }
    }
    match s.get("type") {
        Some(Value::String(t)) if t == "array" => match s.get("items") {
            Some(items) => format!("list of {}", type_of(root, items)),
            None => "list".into(),
        },
        Some(Value::String(t)) if t == "object" => {
            if s.get("properties").is_some() {
                "mapping".into()
            } else if let Some(v) = s.get("additionalProperties").filter(|v| v.is_object()) {
                format!("mapping of name to {}", type_of(root, v))
            } else {
                "mapping".into()
            }
        }
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts.iter().map(plain).collect::<Vec<_>>().join(" or "),
        _ => String::new(),
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One table per mapping with named fields, depth first, in schema order.
fn section(root: &Value, s: &Value, path: &str, out: &mut Vec<(String, String)>) {
    let s = fields_of(root, s);
    let Some(props) = s.get("properties").and_then(Value::as_object) else {
        return;
    };
    if out.iter().any(|(p, _)| p == path) {
        return;
    }
    let required: Vec<&str> = s
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut table = String::from("| field | type | description |\n| --- | --- | --- |\n");
    let mut nested = Vec::new();
    for (name, p) in props {
        let desc = resolve(root, p)
            .get("description")
            .or_else(|| p.get("description"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let desc = p.get("description").and_then(Value::as_str).unwrap_or(desc);
        let req = if required.contains(&name.as_str()) {
            " (required)"
        } else {
            ""
        };
        let _ = writeln!(
            table,
            "| `{name}`{req} | {} | {} |",
            cell(&type_of(root, p)),
            cell(desc)
        );
        let child = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        let r = fields_of(root, p);
        if r.get("properties").is_some() {
            nested.push((child, p));
        } else if let Some(v) = r.get("additionalProperties").filter(|v| v.is_object()) {
            nested.push((format!("{child}.<name>"), v));
        } else if let Some(items) = r.get("items") {
            nested.push((format!("{child}[]"), items));
        }
    }
    out.push((path.to_string(), table));
    for (child, p) in nested {
        section(root, p, &child, out);
    }
}

#[test]
fn the_book_lists_pages_that_exist_and_links_resolve() {
    let docs = Path::new(ROOT).join("docs");
    let summary = std::fs::read_to_string(docs.join("SUMMARY.md")).unwrap();
    let mut files = vec![Path::new(ROOT).join("README.md")];
    for target in links(&summary) {
        let p = docs.join(&target);
        // The security model is the lead's page; its slot may be empty until it lands.
        if target == "security-model.md" {
            continue;
        }
        assert!(
            p.is_file(),
            "SUMMARY.md lists {target}, which does not exist"
        );
        files.push(p);
    }
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for target in links(&text) {
            // Not a path: a URL, an anchor, or a pattern in prose (`([-a-z0-9]*)`).
            if target.starts_with("http")
                || target.starts_with('#')
                || target.contains(['[', '*', ' '])
                || target.contains("security-model.md")
            {
                continue;
            }
            let target = target.split('#').next().unwrap();
            let p = f.parent().unwrap().join(target);
            assert!(
                p.exists(),
                "{}: link to {target}, which does not exist",
                f.display()
            );
        }
    }
}

/// The targets of markdown links `[text](target)` outside code blocks.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Code spans hold no links (`^[a-z]([-a-z0-9]*)$` is a pattern).
        let prose: String = line
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
            .join(" ");
        let mut rest = prose.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    out
}
