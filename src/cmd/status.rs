//! `pctl status SERVICE`: which version of a service runs in each environment, read from the
//! deploy repository alone: the image of its workload (`repo:tag@digest`), the application
//! commit in the file's header, and the deploy commit that last changed it.

use crate::exit::{self, Report};
use crate::git::{self, Remote};
use crate::metrics::WORKLOAD_FILES;
use crate::report::Format;
use git2::{Oid, Repository};
use pctl_core::diag::{Diagnostic, escape_control};
use pctl_core::source::SourceMap;
use serde::Serialize;
use std::path::Path;

/// `pctl status` arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The service (metadata.name of its platform.yaml)
    pub service: String,
    /// The deploy repository: a local path (bare or not), file://, git:// or https:// (token in PCTL_GIT_TOKEN)
    #[arg(long, value_name = "URL|PATH")]
    pub deploy_repo: String,
    /// The deploy branch
    #[arg(long, value_name = "BRANCH", default_value = "main")]
    pub branch: String,
    /// Output format
    #[arg(long, value_enum, default_value = "human")]
    pub format: crate::formats::TextFormat,
}

/// What runs in one environment.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct EnvStatus {
    pub environment: String,
    /// The image reference of the workload, as written (`repo:tag` or `repo:tag@sha256:...`).
    pub image: Option<String>,
    pub tag: Option<String>,
    pub digest: Option<String>,
    /// The application commit the files were rendered from (their header).
    pub source_sha: Option<String>,
    /// The deploy commit that last changed the workload, and its time (RFC 3339).
    pub commit: Option<String>,
    pub time: Option<String>,
}

/// How many commits of the first-parent history are searched for the last change.
const HISTORY_LIMIT: usize = 5000;

pub fn run(args: &Args, format: Format) -> Report {
    let sources = SourceMap::default();
    let fail = |d: Diagnostic| Report::new(vec![d], sources.clone(), exit::USAGE);
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            return fail(Diagnostic::error(
                "status/tmp",
                format!("cannot create a temporary folder: {e}"),
            ));
        }
    };
    let remote = Remote::new(&args.deploy_repo, git::token_from_env(), "status/remote");
    let (repo, tip) = match crate::metrics::open(&remote, &args.branch, dir.path()) {
        Ok(x) => x,
        Err(d) => return fail(d),
    };
    let envs = match environments(&repo, tip, &args.service) {
        Ok(e) => e,
        Err(e) => {
            return fail(Diagnostic::error(
                "status/read",
                format!(
                    "cannot read {}: {}",
                    remote.shown(),
                    remote.scrub(e.message())
                ),
            ));
        }
    };
    if envs.is_empty() {
        return fail(
            Diagnostic::error(
                "status/unknown-service",
                format!(
                    "`{}` runs in no environment of {} (branch `{}`)",
                    args.service,
                    remote.shown(),
                    args.branch
                ),
            )
            .help("check the name (metadata.name of its platform.yaml) and --branch; `pctl publish` deploys it"),
        );
    }
    let text = if format == Format::Json {
        let doc = serde_json::json!({
            "service": args.service,
            "repository": remote.shown(),
            "branch": args.branch,
            "environments": envs,
        });
        serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
    } else {
        table(&args.service, &envs)
    };
    let mut report = Report::new(Vec::new(), sources, exit::OK).stdout(text);
    if format == Format::Json {
        report.diag_format = Some(Format::Human);
    }
    report
}

/// Every environment (`apps/<env>/`) where the service has a workload, in name order.
pub fn environments(
    repo: &Repository,
    tip: Oid,
    service: &str,
) -> Result<Vec<EnvStatus>, git2::Error> {
    let commit = repo.find_commit(tip)?;
    let tree = commit.tree()?;
    let Ok(apps) = tree.get_path(Path::new("apps")) else {
        return Ok(Vec::new());
    };
    let apps = repo.find_tree(apps.id())?;
    let mut out = Vec::new();
    for env in apps.iter() {
        let Ok(env_name) = env.name() else { continue };
        let Some(path) = WORKLOAD_FILES
            .iter()
            .map(|f| format!("apps/{env_name}/{service}/{f}"))
            .find(|p| tree.get_path(Path::new(p)).is_ok())
        else {
            continue;
        };
        let blob = repo.find_blob(tree.get_path(Path::new(&path))?.id())?;
        let mut s = workload(&String::from_utf8_lossy(blob.content()));
        s.environment = env_name.to_string();
        if let Some((id, time)) = last_change(repo, tip, &path) {
            s.commit = Some(id.to_string()[..12].to_string());
            s.time = Some(crate::time::rfc3339(time));
        }
        out.push(s);
    }
    Ok(out)
}

/// The image and source commit of a workload file pctl wrote.
fn workload(text: &str) -> EnvStatus {
    let mut s = EnvStatus::default();
    for line in text.lines() {
        if s.source_sha.is_none() {
            if let Some(rest) = line.strip_prefix("# generated by pctl from ") {
                s.source_sha = rest
                    .split_whitespace()
                    .next()
                    .and_then(|r| r.rsplit_once('@'))
                    .map(|(_, sha)| sha.to_string());
            }
        }
        let l = line.trim_start().trim_start_matches("- ");
        if s.image.is_none() {
            if let Some(v) = l.strip_prefix("image:") {
                let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
                let (named, digest) = match v.split_once('@') {
                    Some((n, d)) => (n.to_string(), Some(d.to_string())),
                    None => (v.clone(), None),
                };
                // The tag follows the last `:` after the last `/` (a registry may have a port).
                let last = named.rsplit('/').next().unwrap_or_default();
                s.tag = last.rsplit_once(':').map(|(_, t)| t.to_string());
                s.digest = digest;
                s.image = Some(v).filter(|v| !v.is_empty());
            }
        }
    }
    s
}

/// The first-parent commit that last changed `path`, and its commit time.
fn last_change(repo: &Repository, tip: Oid, path: &str) -> Option<(Oid, i64)> {
    let blob_at = |c: &git2::Commit| {
        c.tree()
            .ok()?
            .get_path(Path::new(path))
            .ok()
            .map(|e| e.id())
    };
    let mut commit = repo.find_commit(tip).ok()?;
    let here = blob_at(&commit);
    for _ in 0..HISTORY_LIMIT {
        let Ok(parent) = commit.parent(0) else {
            return Some((commit.id(), commit.time().seconds()));
        };
        if blob_at(&parent) != here {
            return Some((commit.id(), commit.time().seconds()));
        }
        commit = parent;
    }
    None
}

fn table(service: &str, envs: &[EnvStatus]) -> String {
    let dash = || "-".to_string();
    let rows: Vec<[String; 5]> = envs
        .iter()
        .map(|e| {
            [
                e.environment.clone(),
                e.tag.clone().unwrap_or_else(dash),
                e.digest
                    .as_deref()
                    .map(|d| d.chars().take(19).collect())
                    .unwrap_or_else(dash),
                e.source_sha
                    .as_deref()
                    .map(|s| s.chars().take(12).collect())
                    .unwrap_or_else(dash),
                match (&e.commit, &e.time) {
                    (Some(c), Some(t)) => format!("{t} ({c})"),
                    _ => dash(),
                },
            ]
        })
        .collect();
    let head = ["ENVIRONMENT", "VERSION", "DIGEST", "SOURCE", "DEPLOYED"];
    let mut width = head.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == 4 {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<w$}  ", w = width[i]));
            }
        }
        l.trim_end().to_string() + "\n"
    };
    let mut out = format!("{}\n", escape_control(service));
    out.push_str(&line(head));
    for r in &rows {
        // Everything comes from the deploy repository: no terminal escapes from it.
        let r = r.clone().map(|c| escape_control(&c));
        out.push_str(&line(
            [&r[0], &r[1], &r[2], &r[3], &r[4]].map(|s| s.as_str()),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_image_tag_digest_and_source_from_a_workload() {
        let s = workload(
            "# generated by pctl from https://github.com/acme/a@0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c — do not edit\n\
             spec:\n  template:\n    spec:\n      containers:\n        - name: a\n          image: \"reg.example:5000/acme/a:1.2.3@sha256:abc\"\n",
        );
        assert_eq!(s.tag.as_deref(), Some("1.2.3"));
        assert_eq!(s.digest.as_deref(), Some("sha256:abc"));
        assert_eq!(
            s.source_sha.as_deref(),
            Some("0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c")
        );
        let s = workload("image: reg.example:5000/acme/a\n");
        assert_eq!((s.tag, s.digest), (None, None));
    }
}
