//! Output encoders: every value a template prints goes through here, so user input can never
//! change a document's structure (`a: b`, `"`, `{{`, newlines, `yes`, `${x}`).
//!
//! YAML: strings are JSON-quoted (JSON is valid YAML 1.2 and unambiguous to YAML 1.1 readers),
//! plus escapes for the characters YAML treats as line breaks but JSON does not (U+0085,
//! U+2028, U+2029). HCL: JSON-quoted strings with template sequences (`${`, `%{`) escaped.

use minijinja::{AutoEscape, Error, ErrorKind, Output, State, Value as JValue};
use serde_json::Value;

pub const YAML: &str = "yaml";
pub const HCL: &str = "hcl";
pub const MARKDOWN: &str = "markdown";

/// The auto-escape mode for a template, by file name.
pub fn mode_for(name: &str) -> AutoEscape {
    let n = name.strip_suffix(".j2").unwrap_or(name);
    if n.ends_with(".yaml") || n.ends_with(".yml") {
        AutoEscape::Custom(YAML.into())
    } else if n.ends_with(".tf") || n.ends_with(".hcl") || n.ends_with(".tfvars") {
        AutoEscape::Custom(HCL.into())
    } else if n.ends_with(".json") {
        AutoEscape::Json
    } else if n.ends_with(".md") {
        AutoEscape::Custom(MARKDOWN.into())
    } else {
        AutoEscape::None
    }
}

fn to_json(value: &JValue) -> Result<Value, Error> {
    serde_json::to_value(value).map_err(|e| {
        Error::new(
            ErrorKind::BadSerialization,
            format!("cannot encode value: {e}"),
        )
    })
}

/// A JSON string literal that every YAML reader reads back as the same string.
pub fn yaml_string(s: &str) -> String {
    let q = serde_json::to_string(s).expect("strings always serialize");
    if q.contains(['\u{85}', '\u{2028}', '\u{2029}']) {
        q.replace('\u{85}', "\\u0085")
            .replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029")
    } else {
        q
    }
}

/// A flow (single-line) YAML rendering of a value.
pub fn yaml_flow(v: &Value) -> String {
    match v {
        Value::String(s) => yaml_string(s),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(yaml_flow).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", yaml_string(k), yaml_flow(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

fn yaml_key(k: &str) -> String {
    let plain_ok = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c))
        && k.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && !crate::load::yaml11_differs(k)
        && !matches!(k.to_ascii_lowercase().as_str(), "true" | "false" | "null");
    if plain_ok {
        k.to_string()
    } else {
        yaml_string(k)
    }
}

/// `{{ name | plain }}`: a string as a plain YAML scalar when that reads back as the same
/// string (an identifier such as a port name, not a YAML 1.1 boolean or null), else quoted
/// like any printed value. Other values print as usual.
pub fn plain_filter(value: &JValue) -> Result<JValue, Error> {
    match value.as_str() {
        Some(s) => Ok(JValue::from_safe_string(yaml_key(s))),
        None => Ok(JValue::from_safe_string(yaml_flow(&to_json(value)?))),
    }
}

/// Block YAML for a map or list, to follow a key: starts with a newline, every line indented
/// by `indent`. Scalars and empty collections stay on the key's line.
pub fn yaml_block(v: &Value, indent: usize) -> String {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) if !m.is_empty() => {
            let mut out = String::new();
            for (k, val) in m {
                out.push('\n');
                out.push_str(&pad);
                out.push_str(&yaml_key(k));
                out.push(':');
                let inner = yaml_block(val, indent + 2);
                if !inner.starts_with('\n') {
                    out.push(' ');
                }
                out.push_str(&inner);
            }
            out
        }
        Value::Array(a) if !a.is_empty() => {
            let mut out = String::new();
            for item in a {
                out.push('\n');
                out.push_str(&pad);
                out.push('-');
                match item {
                    Value::Object(m) if !m.is_empty() => {
                        // `- key: v` with the following keys aligned under the first.
                        let inner = yaml_block(item, indent + 2);
                        out.push(' ');
                        out.push_str(inner.trim_start_matches('\n').trim_start());
                        let _ = m;
                    }
                    _ => {
                        let inner = yaml_block(item, indent + 2);
                        if !inner.starts_with('\n') {
                            out.push(' ');
                        }
                        out.push_str(&inner);
                    }
                }
            }
            out
        }
        Value::Object(_) => "{}".to_string(),
        Value::Array(_) => "[]".to_string(),
        other => yaml_flow(other),
    }
}

fn hcl_string(s: &str) -> String {
    yaml_string(s).replace("${", "$${").replace("%{", "%%{")
}

fn hcl_key(k: &str) -> String {
    let ident = k
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ident { k.to_string() } else { hcl_string(k) }
}

/// An HCL expression for a value.
pub fn hcl(v: &Value) -> String {
    match v {
        Value::String(s) => hcl_string(s),
        Value::Array(a) => format!("[{}]", a.iter().map(hcl).collect::<Vec<_>>().join(", ")),
        Value::Object(m) if m.is_empty() => "{}".to_string(),
        Value::Object(m) => format!(
            "{{ {} }}",
            m.iter()
                .map(|(k, v)| format!("{} = {}", hcl_key(k), hcl(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// The environment's formatter: applies the template's escape mode to every printed value.
pub fn formatter(out: &mut Output, state: &mut State, value: &JValue) -> Result<(), Error> {
    if value.is_safe() {
        return out
            .write_str(value.as_str().unwrap_or_default())
            .map_err(Error::from);
    }
    let text = match state.auto_escape() {
        AutoEscape::Custom(m) if m == YAML => yaml_flow(&to_json(value)?),
        AutoEscape::Custom(m) if m == HCL => hcl(&to_json(value)?),
        AutoEscape::Custom(m) if m == MARKDOWN => {
            if value.is_none() {
                String::new()
            } else {
                markdown_text(&value.to_string())
            }
        }
        AutoEscape::Json => serde_json::to_string(&to_json(value)?).map_err(|e| {
            Error::new(
                ErrorKind::BadSerialization,
                format!("cannot encode value: {e}"),
            )
        })?,
        _ => {
            if value.is_none() {
                String::new()
            } else {
                value.to_string()
            }
        }
    };
    out.write_str(&text).map_err(Error::from)
}

/// Markdown text that shows `s` as it is: no markup, link, HTML, heading, list or table cell
/// can start inside it, and it stays on one line (a line break in a value would start a new
/// block).
pub fn markdown_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    // A value may begin a line (a paragraph): what starts a block there is escaped too.
    let list_number = s.find(|c: char| !c.is_ascii_digit()).filter(|&n| {
        n > 0
            && matches!(s.as_bytes().get(n), Some(b'.') | Some(b')'))
            && matches!(s.as_bytes().get(n + 1), None | Some(b' ') | Some(b'\t'))
    });
    for (i, c) in s.chars().enumerate() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '-' | '+' | '=' | '#' | '>' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            '.' | ')' if Some(i) == list_number => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// `{{ value | code }}` in a Markdown template: a code span holding the value exactly (fenced
/// with more backticks than the value contains, on one line).
pub fn code_filter(value: JValue) -> Result<JValue, Error> {
    let text: String = value
        .to_string()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    Ok(JValue::from_safe_string(format!(
        "{fence}{pad}{text}{pad}{fence}"
    )))
}

/// `{{ value | yaml(4) }}`: block YAML, safe to place after a key.
pub fn yaml_filter(value: JValue, indent: Option<usize>) -> Result<JValue, Error> {
    Ok(JValue::from_safe_string(yaml_block(
        &to_json(&value)?,
        indent.unwrap_or(2),
    )))
}

/// `{{ value | hcl }}`: an HCL expression, for templates that are not .tf files.
pub fn hcl_filter(value: JValue) -> Result<JValue, Error> {
    Ok(JValue::from_safe_string(hcl(&to_json(&value)?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn markdown_values_cannot_add_markup() {
        assert_eq!(markdown_text("plain text 1.2"), "plain text 1.2");
        assert_eq!(
            markdown_text("[x](javascript:alert(1)) | a\n# h <b>"),
            "\\[x\\](javascript:alert(1)) \\| a # h \\<b>"
        );
        assert_eq!(markdown_text("- item"), "\\- item");
        assert_eq!(markdown_text("# title"), "\\# title");
        assert_eq!(markdown_text("12. twelve"), "12\\. twelve");
        let code = code_filter(JValue::from("a`b")).unwrap();
        assert_eq!(code.as_str(), Some("``a`b``"));
    }

    #[test]
    fn yaml_strings_cannot_change_structure() {
        for s in [
            "a: b",
            "yes",
            "\"x\"",
            "{{ x }}",
            "line\nnext: 1",
            "#c",
            "- x",
            "\u{2028}",
            "010",
        ] {
            let doc = format!("k: {}\n", yaml_string(s));
            let f = crate::source::SourceFile::new("t", doc);
            let v = crate::load::parse(
                &f,
                crate::load::Options {
                    strict_scalars: true,
                    no_spans: false,
                },
            )
            .unwrap()
            .value;
            assert_eq!(v["k"], json!(s), "{s:?}");
        }
    }

    #[test]
    fn block_yaml_round_trips() {
        let v = json!({"app.kubernetes.io/name": "x", "on": "no", "list": [{"a": 1, "b": "c"}, "y"], "e": {}});
        let doc = format!("root:{}\n", yaml_block(&v, 2));
        let f = crate::source::SourceFile::new("t", doc.clone());
        let back = crate::load::parse(
            &f,
            crate::load::Options {
                strict_scalars: true,
                no_spans: false,
            },
        )
        .unwrap()
        .value;
        assert_eq!(back["root"], v, "{doc}");
    }

    #[test]
    fn plain_prints_only_what_reads_back_the_same() {
        let plain = |s: &str| plain_filter(&JValue::from(s)).unwrap().to_string();
        assert_eq!(plain("http"), "http");
        assert_eq!(plain("grpc-web"), "grpc-web");
        for quoted in ["yes", "on", "null", "true", "8080", "a: b", "", "-x"] {
            assert!(
                plain(quoted).starts_with('"'),
                "{quoted}: {}",
                plain(quoted)
            );
        }
    }

    #[test]
    fn hcl_escapes_templates() {
        assert_eq!(hcl(&json!("say ${x} %{y}")), r#""say $${x} %%{y}""#);
        assert_eq!(
            hcl(&json!({"a": 1, "b c": "d"})),
            r#"{ a = 1, "b c" = "d" }"#
        );
    }
}
