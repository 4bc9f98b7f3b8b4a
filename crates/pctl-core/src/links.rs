//! Links a service's context gains from what its intent declares, for the catalog and
//! Backstage's plugins: the repository's web address and the PagerDuty service of `oncall`.
//! Resolve adds them to `service` ([`extend_service`]); the catalog reads them back.

use serde_json::{Value, json};

/// The web address of a repository (what Backstage links and `source-location` need):
/// `https://` and `http://` URLs as they are (without `.git`), `git@host:path` and
/// `ssh://host/path` as `https://host/path`; None for anything else (`unknown`, a path).
pub fn repository_url(repo: &str) -> Option<String> {
    let repo = repo.trim();
    let web = if repo.starts_with("https://") || repo.starts_with("http://") {
        repo.to_string()
    } else if let Some(rest) = repo.strip_prefix("git@") {
        let (host, path) = rest.split_once(':')?;
        format!("https://{host}/{path}")
    } else if let Some(rest) = repo.strip_prefix("ssh://") {
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        let (host, path) = rest.split_once('/')?;
        let host = host.split(':').next()?;
        format!("https://{host}/{path}")
    } else {
        return None;
    };
    let web = web.trim_end_matches('/');
    let web = web.strip_suffix(".git").unwrap_or(web);
    let host_and_path = web.split_once("://")?.1;
    let ok = !host_and_path.is_empty()
        && !host_and_path.starts_with('/')
        && !web.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then(|| web.to_string())
}

/// The PagerDuty service of an on-call URL
/// (`https://<account>.pagerduty.com/service-directory/<ID>` or `.../services/<ID>`), for
/// Backstage's PagerDuty plugin.
pub fn pagerduty_service_id(oncall: &str) -> Option<String> {
    let rest = oncall.strip_prefix("https://")?;
    let (host, path) = rest.split_once('/')?;
    if !host.ends_with(".pagerduty.com") {
        return None;
    }
    let mut segs = path.split(['?', '#']).next()?.split('/');
    match (segs.next(), segs.next(), segs.next()) {
        (Some("service-directory" | "services"), Some(id), None | Some(""))
            if !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            Some(id.to_string())
        }
        _ => None,
    }
}

/// What `service` gains for the catalog: `repository_url` (a web address, or none) and
/// `pagerduty_service_id` (from `oncall`, or none).
pub fn extend_service(ctx: &mut Value) {
    ctx["repository_url"] = json!(ctx["repository"].as_str().and_then(repository_url));
    ctx["pagerduty_service_id"] = json!(ctx["oncall"].as_str().and_then(pagerduty_service_id));
}
