//! The deploy-tree contract: where every generated file lives and who owns it, declared once.
//!
//! Every path pctl writes matches exactly one [`PLACES`] pattern. The pattern says whose the
//! path is (a service, by name; the organisation; the organisation-wide catalog), which
//! environment it belongs to and what area of the tree it is in (Kubernetes manifests,
//! Terraform, GitOps entry points, ...). Blueprints choose file names; they cannot choose
//! another owner or environment: expand refuses an output outside its service's namespace, and
//! plan, publish, review, guardrails, metrics and CODEOWNERS all read ownership and environments
//! from here, never from path prefixes of their own. A `.pctl/` record is a claim checked
//! against this contract (see `record`), never an authority on its own.

/// Who a place belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerKind {
    /// One service: the `{service}` of the pattern.
    Service,
    /// The organisation's shared entry points (rendered from the organisation config alone).
    Organisation,
    /// The organisation-wide catalog, approvals and team projects (need every service: `--all`
    /// runs only).
    Catalog,
}

/// What part of the deploy tree a place is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Area {
    /// Kubernetes objects of one service in one environment, one object per file; the folder is
    /// a kustomization the GitOps controller applies.
    Manifests,
    /// A Terraform root module of one service in one environment.
    Terraform,
    /// GitOps controller entry points (Argo CD AppProject/ApplicationSet, Flux objects).
    Gitops,
    /// A CI pipeline in the deploy repository (it acts on every environment of its service).
    Pipeline,
    /// Documentation pages.
    Docs,
    /// Backstage catalog entities and the catalog index.
    Catalog,
    /// The deploy repository's CODEOWNERS (approval gates).
    Approvals,
    /// pctl's own `.pctl/` records.
    Record,
}

/// One pattern of the layout: `{env}` and `{service}` stand for a name (a DNS label), `{file}`
/// for one path segment.
#[derive(Debug, Clone, Copy)]
pub struct Pattern {
    pub pattern: &'static str,
    pub owner: OwnerKind,
    pub area: Area,
}

/// The folder of pctl's records in a deploy tree.
pub const STATE_DIR: &str = ".pctl";

/// Every place of the deploy tree. Patterns never overlap: a path matches at most one.
pub const PLACES: &[Pattern] = &[
    p(
        "apps/{env}/{service}/{file}",
        OwnerKind::Service,
        Area::Manifests,
    ),
    p(
        "terraform/{env}/{service}/{file}",
        OwnerKind::Service,
        Area::Terraform,
    ),
    p(
        "clusters/{env}/apps/{service}.yaml",
        OwnerKind::Service,
        Area::Gitops,
    ),
    p(
        "clusters/{env}/{file}",
        OwnerKind::Organisation,
        Area::Gitops,
    ),
    // Argo CD AppProjects, one per team: they list the team's namespaces.
    p(
        "clusters/{env}/projects/{file}",
        OwnerKind::Catalog,
        Area::Gitops,
    ),
    p(
        ".github/workflows/terraform-{service}.yml",
        OwnerKind::Service,
        Area::Pipeline,
    ),
    p("docs/{service}.md", OwnerKind::Service, Area::Docs),
    p(
        "catalog/{service}/{file}",
        OwnerKind::Service,
        Area::Catalog,
    ),
    p("catalog/{file}", OwnerKind::Catalog, Area::Catalog),
    // Backstage's entry point: Location, Groups and declared Systems, from the config alone.
    p("catalog-info.yaml", OwnerKind::Organisation, Area::Catalog),
    p(".github/CODEOWNERS", OwnerKind::Catalog, Area::Approvals),
    p(
        ".pctl/services/{service}.json",
        OwnerKind::Service,
        Area::Record,
    ),
    p(
        ".pctl/organisation.json",
        OwnerKind::Organisation,
        Area::Record,
    ),
    p(".pctl/catalog.json", OwnerKind::Catalog, Area::Record),
];

const fn p(pattern: &'static str, owner: OwnerKind, area: Area) -> Pattern {
    Pattern {
        pattern,
        owner,
        area,
    }
}

/// Where a path sits in the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place<'a> {
    pub owner: OwnerKind,
    /// The service, for [`OwnerKind::Service`] places.
    pub service: Option<&'a str>,
    pub env: Option<&'a str>,
    pub area: Area,
}

impl Place<'_> {
    /// Whether a path at this place may belong to `owner` (its namespace).
    pub fn belongs_to(&self, owner: &Owner) -> bool {
        match owner {
            Owner::Service(s) => self.service == Some(s.as_str()),
            Owner::Org => self.owner == OwnerKind::Organisation,
            Owner::Catalog => self.owner == OwnerKind::Catalog,
        }
    }
}

/// A name a placeholder may stand for: a DNS label (what service and environment names are).
pub fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A file name a `{file}` may stand for: one segment, no hidden files, no control characters.
fn is_file(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && !s.starts_with('.')
        && s.chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && c != '\\' && c != ':')
}

fn matches<'a>(pattern: &Pattern, path: &'a str) -> Option<Place<'a>> {
    let pat: Vec<&str> = pattern.pattern.split('/').collect();
    let segs: Vec<&str> = path.split('/').collect();
    if pat.len() != segs.len() {
        return None;
    }
    let mut place = Place {
        owner: pattern.owner,
        service: None,
        env: None,
        area: pattern.area,
    };
    for (ps, s) in pat.iter().zip(&segs) {
        match ps.find('{') {
            None if ps == s => {}
            None => return None,
            Some(open) => {
                let close = ps.find('}')?;
                let (prefix, name, suffix) = (&ps[..open], &ps[open + 1..close], &ps[close + 1..]);
                let value = s.strip_prefix(prefix)?.strip_suffix(suffix)?;
                match name {
                    "env" if is_name(value) => place.env = Some(value),
                    "service" if is_name(value) => place.service = Some(value),
                    "file" if is_file(value) => {}
                    _ => return None,
                }
            }
        }
    }
    Some(place)
}

/// The place of a deploy-tree path, or None when the path is nowhere pctl writes (a hand-made
/// file, `..`, an absolute path...).
pub fn place(path: &str) -> Option<Place<'_>> {
    PLACES.iter().find_map(|p| matches(p, path))
}

/// The environment a deploy-tree path belongs to.
pub fn env_of(path: &str) -> Option<&str> {
    place(path).and_then(|p| p.env)
}

/// Whether `path` is in `service`'s namespace.
pub fn owned_by_service(path: &str, service: &str) -> bool {
    place(path).is_some_and(|p| p.service == Some(service))
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

/// The record of a service, the organisation or the catalog.
pub fn record_path(owner: &Owner) -> String {
    match owner {
        Owner::Service(s) => format!("{STATE_DIR}/services/{s}.json"),
        Owner::Org => format!("{STATE_DIR}/organisation.json"),
        Owner::Catalog => format!("{STATE_DIR}/catalog.json"),
    }
}

/// Whether `path` may belong to `owner` (its namespace).
pub fn belongs_to(path: &str, owner: &Owner) -> bool {
    place(path).is_some_and(|p| p.belongs_to(owner))
}

/// The kustomization folder of a service in an environment (`apps/<env>/<service>`).
pub fn manifests_dir(env: &str, service: &str) -> String {
    format!("apps/{env}/{service}")
}

/// The folders of a service in an environment that need its team's approval in CODEOWNERS
/// syntax: its manifests and, when it has any, its Terraform.
pub fn approval_dirs(env: &str, service: &str) -> (String, String) {
    (
        format!("/apps/{env}/{service}/"),
        format!("/terraform/{env}/{service}/"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_place_and_its_owner() {
        fn svc(p: &str) -> Option<&str> {
            place(p).and_then(|p| p.service)
        }
        assert_eq!(
            svc("apps/prod/payment-api/deployment.yaml"),
            Some("payment-api")
        );
        assert_eq!(
            env_of("apps/prod/payment-api/deployment.yaml"),
            Some("prod")
        );
        assert_eq!(env_of("terraform/dev/api/db.tf"), Some("dev"));
        assert_eq!(svc("clusters/dev/apps/api.yaml"), Some("api"));
        assert_eq!(
            place("clusters/dev/appproject.yaml").map(|p| p.owner),
            Some(OwnerKind::Organisation)
        );
        assert_eq!(svc(".github/workflows/terraform-api.yml"), Some("api"));
        assert_eq!(svc("docs/api.md"), Some("api"));
        assert_eq!(svc("catalog/api/catalog-info.yaml"), Some("api"));
        assert_eq!(
            place("catalog/index.json").map(|p| p.owner),
            Some(OwnerKind::Catalog)
        );
        assert_eq!(
            place(".github/CODEOWNERS").map(|p| p.owner),
            Some(OwnerKind::Catalog)
        );
        let project = place("clusters/prod/projects/team-payments.yaml").unwrap();
        assert_eq!(
            (project.owner, project.env, project.area),
            (OwnerKind::Catalog, Some("prod"), Area::Gitops)
        );
        let root = place("catalog-info.yaml").unwrap();
        assert_eq!(
            (root.owner, root.area),
            (OwnerKind::Organisation, Area::Catalog)
        );
        assert_eq!(svc(".pctl/services/api.json"), Some("api"));
    }

    #[test]
    fn nothing_outside_the_layout_has_a_place() {
        for p in [
            "../x",
            "/etc/passwd",
            "apps/prod/api/../../x.yaml",
            "apps/prod/api/sub/x.yaml",
            "apps/Prod/api/x.yaml",
            "apps/prod/api/.hidden",
            "apps/prod/api/",
            "apps//api/x.yaml",
            "k8s/prod/api/x.yaml",
            ".github/workflows/deploy.yml",
            ".pctl/services/../organisation.json",
            ".pctl/render-cache",
            "README.md",
            "docs/a/b.md",
            "clusters/prod/projects/a/b.yaml",
            "catalog/catalog-info.yaml/x",
        ] {
            assert_eq!(place(p), None, "{p}");
        }
    }

    #[test]
    fn patterns_never_overlap() {
        // Each sample path matches exactly one pattern.
        for path in [
            "apps/e/s/f",
            "terraform/e/s/f",
            "clusters/e/apps/s.yaml",
            "clusters/e/f",
            "clusters/e/projects/f",
            "catalog-info.yaml",
            ".github/workflows/terraform-s.yml",
            "docs/s.md",
            "catalog/s/f",
            "catalog/f",
            ".github/CODEOWNERS",
            ".pctl/services/s.json",
            ".pctl/organisation.json",
            ".pctl/catalog.json",
        ] {
            let n = PLACES.iter().filter(|p| matches(p, path).is_some()).count();
            assert_eq!(n, 1, "{path} matches {n} patterns");
        }
    }
}
