//! pctl's records in a deploy tree (`.pctl/services/<service>.json`, `.pctl/organisation.json`,
//! `.pctl/catalog.json`): what each owner generated (path -> content hash), where it came from
//! and who owns it. One type for the writer and every reader.
//!
//! A record read back from a deploy tree is a *claim*: anyone who can push to the deploy
//! repository can edit it. [`verify`] checks it against the layout contract: its file name and
//! its owner agree, every path it lists is in that owner's namespace, every path has a
//! well-formed hash. A record that fails is never used to delete or overwrite anything.

use crate::layout::Owner;
use crate::layout::{self, Area, OwnerKind, STATE_DIR};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a service's files came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRef {
    pub repository: String,
    pub sha: String,
}

/// The version of a service one environment runs: the application commit it was rendered from
/// and the image it deploys. `pctl promote` copies a release from one environment to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// The application commit (40 or 64 hex digits): the key of its intent in [`Record::intents`].
    pub sha: String,
    /// The image tag deployed (`--image-tag`, else the commit).
    pub tag: String,
    /// The image digest (`sha256:<64 hex>`), when the pipeline passed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// What a review needs to know about a generated file that its path cannot tell: declared by
/// the blueprint that rendered it, remembered in the record so a deletion is classified too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// A data store (database, cache, queue): creating, resizing or deleting it is a risk.
    Stateful,
    /// A public entry point (Ingress, HTTPRoute, LoadBalancer Service).
    Exposure,
}

/// One record, as written. Field order is the file's key order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The service this record is of (service records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// `organisation` or `organisation/catalog` (the organisation's records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The repository and commit the service was rendered from: its identity with `team`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environments: Option<Vec<String>>,
    /// The owning team (service records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd_month: Option<f64>,
    pub pctl_version: String,
    /// Every file generated: path -> SHA-256 of its content.
    pub files: BTreeMap<String, String>,
    /// Files whose class matters to reviews (see [`Class`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub classes: BTreeMap<String, Class>,
    /// What the service provides to callers (its Service, namespace and ports): a single
    /// application's run reads its dependencies' contracts from here (crate::contract).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provides: Option<crate::contract::Provides>,
    /// The guardrails the service is exempted from, with their reasons (shown in reviews).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exemptions: Vec<crate::model::Exemption>,
    /// Which version each environment runs (environment -> release): environments whose
    /// promotion is manual keep theirs until `pctl promote` moves another one in.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub releases: BTreeMap<String, Release>,
    /// The intent (platform.yaml as data) of every version a release names, by commit: what
    /// `pctl promote` renders the target environment from. Validated again when used.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub intents: BTreeMap<String, serde_json::Value>,
}

impl Record {
    /// The owner this record speaks for, from its own fields.
    pub fn claimed_owner(&self) -> Option<Owner> {
        match (&self.service, self.owner.as_deref()) {
            (Some(s), None) => Some(Owner::Service(s.clone())),
            (None, Some("organisation")) => Some(Owner::Org),
            (None, Some(o)) if o == crate::layout::CATALOG_OWNER => Some(Owner::Catalog),
            _ => None,
        }
    }

    /// The record as pctl writes it: pretty JSON and a final newline.
    pub fn to_text(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("records serialise");
        s.push('\n');
        s
    }
}

/// Why a record cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forgery {
    /// The record's path in the deploy tree.
    pub record: String,
    pub reason: String,
}

/// The owner whose record lives at `path` (by the layout), if any.
pub fn owner_of_record_path(path: &str) -> Option<Owner> {
    let place = layout::place(path)?;
    if place.area != Area::Record {
        return None;
    }
    Some(match place.owner {
        OwnerKind::Service => Owner::Service(place.service?.to_string()),
        OwnerKind::Organisation => Owner::Org,
        OwnerKind::Catalog => Owner::Catalog,
    })
}

fn is_hash(h: &str) -> bool {
    h.len() == 64
        && h.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Reads and checks the record at `path` (see the module documentation): the record and the
/// owner it speaks for, or why it is refused.
pub fn verify(path: &str, bytes: &[u8]) -> Result<(Owner, Record), Forgery> {
    let forged = |reason: String| Forgery {
        record: path.to_string(),
        reason,
    };
    let Some(owner) = owner_of_record_path(path) else {
        return Err(forged(format!(
            "`{path}` is not where pctl keeps records ({STATE_DIR}/services/<service>.json, {STATE_DIR}/organisation.json, {STATE_DIR}/catalog.json)"
        )));
    };
    let record: Record = serde_json::from_slice(bytes)
        .map_err(|e| forged(format!("it is not a pctl record: {e}")))?;
    match record.claimed_owner() {
        Some(o) if o == owner => {}
        Some(o) => {
            return Err(forged(format!(
                "it says it belongs to {}, but it is the record of {}",
                describe(&o),
                describe(&owner)
            )));
        }
        None => {
            return Err(forged(
                "it names no owner (`service`, or `owner` for the organisation's records)".into(),
            ));
        }
    }
    for (file, hash) in &record.files {
        // Where the file sits decides both checks: the layout is matched once per file.
        let place = layout::place(file);
        if !place.is_some_and(|p| p.belongs_to(&owner)) {
            return Err(forged(format!(
                "it claims `{}`, which is outside the files {} may have",
                crate::diag::escape_control(file),
                describe(&owner)
            )));
        }
        if place.is_some_and(|p| p.area == Area::Record) {
            return Err(forged(format!("it claims the record `{file}`")));
        }
        if !is_hash(hash) {
            return Err(forged(format!(
                "its entry for `{file}` has no content hash (a SHA-256 in hex)"
            )));
        }
    }
    if let (Some(p), Owner::Service(name)) = (&record.provides, &owner) {
        crate::contract::check_provides(name, p).map_err(forged)?;
    }
    check_releases(&record).map_err(forged)?;
    if let Some(file) = record
        .classes
        .keys()
        .find(|f| !record.files.contains_key(*f))
    {
        return Err(forged(format!(
            "it classifies `{}`, which it does not list",
            crate::diag::escape_control(file)
        )));
    }
    Ok((owner, record))
}

/// A commit id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
pub fn is_sha(s: &str) -> bool {
    matches!(s.len(), 40 | 64)
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// An image digest: `sha256:` and 64 lowercase hex digits.
pub fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(is_hash)
}

/// An image tag as OCI allows it: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn is_tag(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && !s.starts_with(['.', '-'])
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

/// Releases name environments, commits, tags and digests that could be written into
/// manifests: each must be well-formed, and every release's intent must be there (and no other).
fn check_releases(record: &Record) -> Result<(), String> {
    for (env, r) in &record.releases {
        let shown = crate::diag::escape_control(env);
        if !layout::is_name(env) {
            return Err(format!(
                "its release of `{shown}` is not of an environment name"
            ));
        }
        if !is_sha(&r.sha) || !is_tag(&r.tag) || r.digest.as_deref().is_some_and(|d| !is_digest(d))
        {
            return Err(format!(
                "its release of `{shown}` is malformed (commit: 40 or 64 hex digits, tag: an image tag, digest: sha256:<64 hex>)"
            ));
        }
        if !record.intents.contains_key(&r.sha) {
            return Err(format!(
                "its release of `{shown}` names commit {} but it holds no intent of it",
                r.sha
            ));
        }
    }
    if let Some(sha) = record
        .intents
        .keys()
        .find(|k| !record.releases.values().any(|r| &&r.sha == k))
    {
        return Err(format!(
            "it holds the intent of {}, which no environment runs",
            crate::diag::escape_control(sha)
        ));
    }
    Ok(())
}

fn describe(o: &Owner) -> String {
    match o {
        Owner::Service(s) => format!("service `{s}`"),
        Owner::Org => "the organisation".into(),
        Owner::Catalog => "the organisation's catalog".into(),
    }
}

/// What every verified record of a deploy tree claims, by path.
#[derive(Debug, Default, Clone)]
pub struct Claims {
    /// path -> (owner, content hash, class).
    pub files: BTreeMap<String, (Owner, String, Option<Class>)>,
    /// The records themselves (path -> owner and record).
    pub records: BTreeMap<String, (Owner, Record)>,
    /// Records that were refused.
    pub forged: Vec<Forgery>,
}

impl Claims {
    /// Verifies every record (path, bytes) of a deploy tree.
    pub fn verify(records: Vec<(String, Vec<u8>)>) -> Claims {
        use rayon::prelude::*;
        // Parsed and checked in parallel (10,000 services: 10,000 records), merged in the
        // order given: the same claims whatever the threads did.
        let checked: Vec<_> = records
            .into_par_iter()
            .map(|(path, bytes)| {
                let r = verify(&path, &bytes);
                (path, r)
            })
            .collect();
        let mut claims = Claims::default();
        for (path, checked) in checked {
            match checked {
                Ok((owner, record)) => {
                    for (file, hash) in &record.files {
                        let class = record.classes.get(file).copied();
                        claims
                            .files
                            .insert(file.clone(), (owner.clone(), hash.clone(), class));
                    }
                    claims.records.insert(path, (owner, record));
                }
                Err(f) => claims.forged.push(f),
            }
        }
        claims
    }

    /// The record of a service, if it has a verified one.
    pub fn service(&self, name: &str) -> Option<&Record> {
        self.records
            .get(&layout::record_path(&Owner::Service(name.to_string())))
            .map(|(_, r)| r)
    }

    /// The contracts the verified service records carry (crate::contract). A record without
    /// `provides` (a Worker, or written before pctl recorded contracts) says nothing a caller
    /// could use: its service stays unknown, never assumed.
    pub fn contracts(&self) -> crate::contract::Directory {
        self.records
            .values()
            .filter_map(|(owner, r)| match (owner, &r.provides) {
                (Owner::Service(name), Some(p)) => Some((
                    name.clone(),
                    crate::contract::Contract {
                        provides: Some(p.clone()),
                        environments: r.environments.clone().unwrap_or_default(),
                    },
                )),
                _ => None,
            })
            .collect()
    }

    /// Every owner with a verified record.
    pub fn owners(&self) -> impl Iterator<Item = &Owner> {
        self.records.values().map(|(o, _)| o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    fn service_record(name: &str, files: &[&str]) -> Vec<u8> {
        Record {
            service: Some(name.into()),
            owner: None,
            source: Some(SourceRef {
                repository: "r".into(),
                sha: "s".into(),
            }),
            environments: Some(vec!["dev".into()]),
            team: Some("t".into()),
            usd_month: Some(1.0),
            pctl_version: "0".into(),
            files: files
                .iter()
                .map(|f| (f.to_string(), H.to_string()))
                .collect(),
            classes: BTreeMap::new(),
            provides: None,
            exemptions: Vec::new(),
            releases: BTreeMap::new(),
            intents: BTreeMap::new(),
        }
        .to_text()
        .into_bytes()
    }

    #[test]
    fn a_record_claims_only_its_own_namespace() {
        let ok = service_record("api", &["apps/dev/api/deployment.yaml", "docs/api.md"]);
        assert!(verify(".pctl/services/api.json", &ok).is_ok());
        for bad in [
            "apps/dev/other/deployment.yaml",
            ".github/CODEOWNERS",
            "clusters/dev/appproject.yaml",
            "../x",
            "/etc/passwd",
            "apps/dev/api/../../../x",
            "README.md",
            ".pctl/services/other.json",
        ] {
            let r = service_record("api", &[bad]);
            let err = verify(".pctl/services/api.json", &r).unwrap_err();
            assert!(
                err.reason.contains("outside") || err.reason.contains("record"),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn names_hashes_and_owners_must_agree() {
        // Filed under another service's name.
        let r = service_record("api", &["apps/dev/api/x.yaml"]);
        assert!(verify(".pctl/services/web.json", &r).is_err());
        // No owner at all: never the organisation's by default.
        let anon = br#"{"pctl_version":"0","files":{"clusters/dev/x.yaml":""}}"#;
        assert!(verify(".pctl/organisation.json", anon).is_err());
        // An empty hash would skip the hand-edit check.
        let empty = br#"{"service":"api","pctl_version":"0","files":{"apps/dev/api/x.yaml":""}}"#;
        assert!(verify(".pctl/services/api.json", empty).is_err());
        // The organisation's record claims only organisation files.
        let org = format!(
            r#"{{"owner":"organisation","pctl_version":"0","files":{{"clusters/dev/appproject.yaml":"{H}"}}}}"#
        );
        assert!(verify(".pctl/organisation.json", org.as_bytes()).is_ok());
        let grab = format!(
            r#"{{"owner":"organisation","pctl_version":"0","files":{{"apps/dev/api/x.yaml":"{H}"}}}}"#
        );
        assert!(verify(".pctl/organisation.json", grab.as_bytes()).is_err());
        // Not JSON, or a record in the wrong place.
        assert!(verify(".pctl/services/api.json", b"garbage").is_err());
        assert!(verify(".pctl/services/x/../api.json", &r).is_err());
    }

    #[test]
    fn a_record_cannot_send_callers_to_another_namespace() {
        let text = String::from_utf8(service_record("api", &["apps/dev/api/x.yaml"])).unwrap();
        let with = |ns: &str| {
            text.replacen(
                "\"pctl_version\"",
                &format!(
                    "\"provides\": {{\"service\": \"api\", \"namespace\": \"{ns}\", \"ports\": [{{\"name\": \"http\", \"port\": 8080, \"service_port\": 80, \"protocol\": \"http\"}}]}},\n  \"pctl_version\""
                ),
                1,
            )
        };
        let (_, ok) = verify(".pctl/services/api.json", with("api").as_bytes()).unwrap();
        assert_eq!(ok.provides.unwrap().ports[0].service_port, 80);
        let err = verify(".pctl/services/api.json", with("evil").as_bytes()).unwrap_err();
        assert!(err.reason.contains("namespace `evil`"), "{err:?}");
    }

    #[test]
    fn records_round_trip_byte_for_byte() {
        let text = service_record("api", &["apps/dev/api/x.yaml"]);
        let (_, r) = verify(".pctl/services/api.json", &text).unwrap();
        assert_eq!(r.to_text().into_bytes(), text);
    }
}
