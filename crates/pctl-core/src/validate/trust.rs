//! Checks on the values of platform.yaml that reach places where text is code: CODEOWNERS
//! (approvers), links in the catalog and the docs (URLs), ingress and probe paths (proxies
//! read `//`, `..` and `;` their own way). Each value is hostile until it has one of the shapes
//! accepted here; anything else is an error at its line, with the fix.

use crate::diag::{Diagnostic, did_you_mean, escape_control, join_pointer, one_of};
use crate::load::Document;
use crate::model::{Intent, Org};
use crate::source::SourceFile;

/// A GitHub login: alphanumerics and single hyphens, at most 39 characters.
fn github_login(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 39
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// A GitHub team slug: alphanumerics, `-`, `_` and `.`.
fn team_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !s.starts_with('.')
}

/// An e-mail address as CODEOWNERS takes it: one `@`, no spaces or control characters.
fn email(s: &str) -> bool {
    let Some((user, host)) = s.split_once('@') else {
        return false;
    };
    !user.is_empty()
        && host.contains('.')
        && !host.contains('@')
        && s.chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '#' | '\\' | '"' | '\'' | '`'))
}

/// What an approver may be: `@login`, `@org/team`, an e-mail address, or a team of the
/// organisation config (written as its name).
pub fn approver_problem(who: &str, org: &Org) -> Option<(String, String)> {
    if who.chars().any(|c| c.is_whitespace() || c.is_control()) || who.contains(',') {
        return Some((
            "one approver: `@login`, `@org/team`, an e-mail address or a team name, without spaces or line breaks".to_string(),
            "list each approver as its own item, e.g. `approvals: [qa-lead, \"@acme/security\"]`".to_string(),
        ));
    }
    if let Some(handle) = who.strip_prefix('@') {
        let ok = match handle.split_once('/') {
            Some((org_name, team)) => github_login(org_name) && team_slug(team),
            None => github_login(handle),
        };
        return (!ok).then(|| {
            (
                "a GitHub handle: `@login` or `@org/team`".to_string(),
                "write a GitHub user as `@login` or a team as `@org/team-slug` (letters, digits, `-`)".to_string(),
            )
        });
    }
    if who.contains('@') {
        return (!email(who)).then(|| {
            (
                "an e-mail address".to_string(),
                "write one address, without spaces or quotes".to_string(),
            )
        });
    }
    let teams: Vec<&str> = org.spec.teams.iter().map(|t| t.name.as_str()).collect();
    if teams.contains(&who) {
        return None;
    }
    let help = match did_you_mean(who, teams.iter().copied()) {
        Some(t) => format!("did you mean `{t}`?"),
        None => "name a team of the organisation config, or write a GitHub handle (`@login`, `@org/team`)".to_string(),
    };
    Some((
        format!(
            "a team of the organisation ({}), `@login`, `@org/team` or an e-mail address",
            one_of(&teams)
        ),
        help,
    ))
}

/// Why an HTTP path is refused: empty segments (`//x`), dot segments (`/a/../b`) and `;`
/// (matrix parameters) are read differently by proxies, ingress controllers and applications,
/// so the path a review shows would not be the path that is served.
pub fn http_path_problem(p: &str) -> Option<&'static str> {
    if !p.starts_with('/') {
        return None; // the schema says so, with its own message
    }
    let body = p.strip_suffix('/').unwrap_or(p);
    let segments = body.get(1..).unwrap_or_default();
    if !segments.is_empty() && segments.split('/').any(str::is_empty) {
        return Some("it has an empty segment (`//`)");
    }
    if segments.split('/').any(|s| s == "." || s == "..") {
        return Some("it has a `.` or `..` segment");
    }
    if p.starts_with("//") {
        return Some("it has an empty segment (`//`)");
    }
    if p.contains(';') {
        return Some("it has a `;` (matrix parameters)");
    }
    if p.contains('?') || p.contains('#') {
        return Some("it has a query or fragment (`?`, `#`)");
    }
    if p.chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return Some("it has spaces, control characters or `\\`");
    }
    None
}

/// Why a link is refused: only `https://`, `http://` and (for contacts) `mailto:` are links a
/// browser follows without running anything.
pub fn link_problem(url: &str, mailto: bool) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    let ok = lower.starts_with("https://")
        || lower.starts_with("http://")
        || (mailto && lower.starts_with("mailto:"));
    let host_ok = || {
        let rest = lower.split_once("://").map(|(_, r)| r).unwrap_or_default();
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        !host.is_empty() && !host.contains(['@', ' ', '\\'])
    };
    if !ok {
        return Some(if mailto {
            "an `https://`, `http://` or `mailto:` link".to_string()
        } else {
            "an `https://` or `http://` link".to_string()
        });
    }
    if lower.starts_with("http") && !host_ok() {
        return Some("a link with a host and no credentials (`https://host/...`)".to_string());
    }
    None
}

/// The checks of this module on one intent.
pub fn check_intent(
    file: &SourceFile,
    doc: &Document,
    intent: &Intent,
    org: &Org,
) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let at = |pointer: &str| doc.spans.locate(file, pointer);
    let m = &intent.metadata;
    for (field, value, mailto) in [
        ("oncall", &m.oncall, true),
        ("runbook", &m.runbook, false),
        ("repository", &m.repository, false),
    ] {
        let Some(v) = value else { continue };
        if let Some(expected) = link_problem(v, mailto) {
            let pointer = format!("/metadata/{field}");
            diags.push(
                Diagnostic::error("semantic/link", format!("`metadata.{field}` is not a link pctl can publish"))
                    .in_file(&file.name)
                    .at(at(&pointer))
                    .pointer(&pointer)
                    .found(format!("`{}`", escape_control(v)))
                    .expected(expected)
                    .help("the catalog, the docs and alerts show this as a link: give the page's https:// address"),
            );
        }
    }
    let mut paths: Vec<(String, &str)> = intent
        .spec
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, e)| (format!("/spec/endpoints/{i}/path"), e.path.as_str()))
        .collect();
    if let Some(h) = &intent.spec.health {
        paths.extend(
            h.liveness
                .as_deref()
                .map(|p| ("/spec/health/liveness".to_string(), p)),
        );
        paths.extend(
            h.readiness
                .as_deref()
                .map(|p| ("/spec/health/readiness".to_string(), p)),
        );
        paths.extend(
            h.path
                .as_deref()
                .map(|p| ("/spec/health/path".to_string(), p)),
        );
    }
    if let Some(p) = intent
        .spec
        .metrics
        .as_ref()
        .and_then(|m| m.scrape())
        .and_then(|m| m.path.as_deref())
    {
        paths.push(("/spec/metrics/path".to_string(), p));
    }
    for (pointer, p) in paths {
        if let Some(why) = http_path_problem(p) {
            diags.push(
                Diagnostic::error("semantic/http-path", format!("path `{}` is ambiguous: {why}", escape_control(p)))
                    .in_file(&file.name)
                    .at(at(&pointer))
                    .pointer(&pointer)
                    .expected("`/` and segments of letters, digits and `-._~!$&'()*+,=:@%`")
                    .help("write the path the application serves, normalised (`/a/b`, not `/a//b` or `/a/./b`)"),
            );
        }
    }
    for (env, o) in &intent.spec.environments {
        for (i, who) in o.approvals.iter().enumerate() {
            let Some((expected, help)) = approver_problem(who, org) else {
                continue;
            };
            let pointer =
                join_pointer(&crate::diag::env_pointer(env), "approvals") + &format!("/{i}");
            diags.push(
                Diagnostic::error(
                    "semantic/approver",
                    format!("`{}` is not someone who can approve", escape_control(who)),
                )
                .in_file(&file.name)
                .at(at(&pointer))
                .pointer(&pointer)
                .expected(expected)
                .help(help)
                .note("approvers are written into the deploy repository's CODEOWNERS, where GitHub enforces them"),
            );
        }
    }
    diags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approvers_are_handles_emails_or_teams() {
        let mut org = Org::default();
        org.spec.teams.push(crate::model::Team {
            name: "qa-lead".into(),
            ..Default::default()
        });
        for ok in [
            "qa-lead",
            "@octocat",
            "@acme/security-team",
            "jane@example.com",
        ] {
            assert!(approver_problem(ok, &org).is_none(), "{ok}");
        }
        for bad in [
            "qa-lead\n* @mallory",
            "qa-lead * @mallory",
            "@acme/team\n* @x",
            "@-x",
            "@a/b c",
            "nobody",
            "a@b",
            "@",
            "#comment",
        ] {
            assert!(approver_problem(bad, &org).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn ambiguous_paths_and_unsafe_links() {
        for ok in ["/", "/payments", "/a/b/", "/.well-known/x", "/v1/items-~x"] {
            assert_eq!(http_path_problem(ok), None, "{ok}");
        }
        for bad in [
            "//x", "/a//b", "/a/../b", "/a/./b", "/a;b", "/a?b", "/a b", "/..",
        ] {
            assert!(http_path_problem(bad).is_some(), "{bad}");
        }
        assert!(link_problem("https://wiki.example.com/x", false).is_none());
        assert!(link_problem("mailto:oncall@example.com", true).is_none());
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,x",
            "mailto:x@example.com",
            "https://user:pw@example.com/",
            "ftp://example.com",
        ] {
            assert!(link_problem(bad, false).is_some(), "{bad}");
        }
    }
}
