use super::*;
use crate::record::Class;

fn change(path: &str, action: Action, old: &str, new: &str) -> Change {
    Change {
        path: path.into(),
        action,
        owner: path.split('/').nth(2).unwrap_or("organisation").into(),
        old: (action != Action::Add).then(|| old.as_bytes().to_vec()),
        new: (action != Action::Delete).then(|| new.to_string()),
        class: if path.starts_with("terraform/") && !path.ends_with("/main.tf") {
            Some(Class::Stateful)
        } else if path.ends_with("/ingress.yaml") {
            Some(Class::Exposure)
        } else {
            None
        },
    }
}

fn ctx() -> Context {
    Context {
        title: "pctl: test".into(),
        protected_envs: ["prod".to_string()].into(),
        destination: "acme/deploy `main`".into(),
        approvals: [(
            "/terraform/prod/a/".to_string(),
            vec!["@acme/team-a".to_string()],
        )]
        .into(),
    }
}

fn within_comment_limits(md: &str) -> bool {
    md.chars().count() <= 65_536 && md.len() <= 262_144
}

#[test]
fn risky_items_come_first_and_are_named() {
    let changes = vec![
        change(
            "apps/dev/a/configmap.yaml",
            Action::Change,
            "x: 1\n",
            "x: 2\n",
        ),
        change(
            "terraform/prod/a/db.tf",
            Action::Change,
            "  instance_class = \"db.m6g.large\"\n",
            "  instance_class = \"db.m6g.2xlarge\"\n",
        ),
        change(
            "apps/dev/a/ingress.yaml",
            Action::Add,
            "",
            "kind: Ingress\n",
        ),
        change(
            "apps/staging/a/hpa.yaml",
            Action::Delete,
            "kind: HorizontalPodAutoscaler\n",
            "",
        ),
        change(
            "apps/dev/a/secret.yaml",
            Action::Change,
            "kind: Secret\ndata:\n  k: b2xk\n",
            "kind: Secret\ndata:\n  k: bmV3\n",
        ),
    ];
    let ctx = ctx();
    let md = Review::new(&changes, &[], &ctx).markdown();
    let attention = md.split("### Needs attention").nth(1).unwrap();
    let pos = |s: &str| {
        attention
            .find(s)
            .unwrap_or_else(|| panic!("{s} missing:\n{md}"))
    };
    assert!(pos("hpa.yaml` is deleted") < pos("protected environment"));
    assert!(pos("protected environment") < pos("stateful resource"));
    assert!(
        md.contains("settings changed**: `terraform/prod/a/db.tf`: instance\\_class \"db.m6g.large\" → \"db.m6g.2xlarge\""),
        "{md}"
    );
    assert!(md.contains("public endpoint"));
    assert!(
        md.contains("- `/terraform/prod/a/`: @acme/team-a (stateful resources)"),
        "{md}"
    );
    assert!(md.contains("_A Secret: its content is not shown._"));
    assert!(
        !md.contains("bmV3") && !md.contains("b2xk"),
        "secret data leaked:\n{md}"
    );
    // Diffs follow the same order: the deletion's diff comes before the configmap's.
    assert!(
        md.find("hpa.yaml</code> (deleted)").unwrap() < md.find("configmap.yaml</code>").unwrap()
    );
}

#[test]
fn thousands_of_files_stay_under_github_limits_with_the_summary_whole() {
    let mut changes = Vec::new();
    for svc in 0..300 {
        for env in ["dev", "staging", "prod"] {
            for f in 0..4 {
                let old: String = (0..60)
                    .map(|i| format!("line {i} of ümlaut-heavy file {f}\n"))
                    .collect();
                let new = old
                    .replace("line 3 ", "line three ")
                    .replace("line 40", "line forty");
                changes.push(change(
                    &format!("apps/{env}/svc-{svc:03}/file-{f}.yaml"),
                    Action::Change,
                    &old,
                    &new,
                ));
            }
        }
    }
    assert_eq!(changes.len(), 3600);
    let ctx = ctx();
    let review = Review::new(&changes, &[], &ctx);
    let md = review.markdown();
    assert!(
        within_comment_limits(&md),
        "{} chars, {} bytes",
        md.chars().count(),
        md.len()
    );
    assert!(md.contains("more files not shown"), "the cut is said");
    assert!(md.contains("3600 changed"), "totals");
    let parts = review.split_parts();
    assert!(parts.len() > 1);
    let n = parts.len();
    for (i, p) in parts.iter().enumerate() {
        assert!(within_comment_limits(p), "part {i}");
        assert!(p.contains(&format!("part {}/{n}", i + 1)));
    }
    // Every file appears in exactly one part.
    let total: usize = parts.iter().map(|p| p.matches("<details>").count()).sum();
    assert_eq!(total, 3600);
    assert!(review.step_summary().len() <= STEP_SUMMARY_MAX_BYTES);
}

#[test]
fn one_huge_file_is_cut_not_dropped() {
    let old: String = (0..100_000).map(|i| format!("a{i}\n")).collect();
    let new: String = (0..100_000).map(|i| format!("b{i}\n")).collect();
    let changes = vec![change("apps/dev/a/big.yaml", Action::Change, &old, &new)];
    let ctx = ctx();
    let review = Review::new(&changes, &[], &ctx);
    let md = review.markdown();
    assert!(md.contains("more lines not shown"));
    assert!(md.len() <= COMMENT_MAX_BYTES);
    let parts = review.split_parts();
    assert_eq!(parts.len(), 1);
    assert!(parts[0].chars().count() <= 65_536);
}

#[test]
fn titles_stay_short() {
    let names: Vec<String> = (0..300).map(|i| format!("svc-{i:03}")).collect();
    assert_eq!(title(&names[..1]), "pctl: svc-000");
    assert_eq!(title(&names[..3]), "pctl: svc-000, svc-001, svc-002");
    assert_eq!(
        title(&names),
        "pctl: 300 services (svc-000, svc-001, svc-002 and 297 more)"
    );
    assert_eq!(title(&[]), "pctl: organisation");
}

// ---------------------------------------------------------------------------------------------
// An organisation-wide change at 1, 300 and 3,000 services: every kind of risk, costs,
// approvals, removals and a move, as a blueprint change over the whole organisation makes.

const TEAMS: [&str; 3] = ["team-payments", "team-ledger", "team-platform"];

fn record(svc: &str, team: &str, usd: f64) -> String {
    format!(
        "{{\n  \"service\": \"{svc}\",\n  \"team\": \"{team}\",\n  \"usd_month\": {usd},\n  \"pctl_version\": \"0\",\n  \"files\": {{}}\n}}\n"
    )
}

struct Org {
    changes: Vec<Change>,
    removals: Vec<String>,
    moves: Vec<String>,
    ctx: Context,
}

fn organisation_change(n: usize) -> Org {
    let mut changes = Vec::new();
    let mut removals = Vec::new();
    let mut approvals = BTreeMap::new();
    for i in 0..n {
        let svc = format!("svc-{i:05}");
        let team = TEAMS[i % 3];
        for env in ["dev", "staging", "prod"] {
            let old = format!(
                "kind: Deployment\nmetadata:\n  name: {svc}\nspec:\n  replicas: 2\n  image: a:1\n"
            );
            changes.push(change(
                &format!("apps/{env}/{svc}/deployment.yaml"),
                Action::Change,
                &old,
                &old.replace("a:1", "a:2"),
            ));
            let es = format!(
                "kind: ExternalSecret\nmetadata:\n  name: {svc}\nspec:\n  refreshInterval: 1h\n"
            );
            changes.push(change(
                &format!("apps/{env}/{svc}/externalsecret.yaml"),
                Action::Change,
                &es,
                &es.replace("1h", "30m"),
            ));
            if i % 3 == 0 {
                changes.push(change(
                    &format!("terraform/{env}/{svc}/db.tf"),
                    Action::Change,
                    "resource \"aws_db_instance\" \"db\" {\n  instance_class = \"db.t4g.small\"\n}\n",
                    "resource \"aws_db_instance\" \"db\" {\n  instance_class = \"db.t4g.medium\"\n}\n",
                ));
                approvals.insert(
                    format!("/terraform/{env}/{svc}/"),
                    vec![format!("@acme/{team}")],
                );
            }
            if i % 4 == 0 {
                changes.push(change(
                    &format!("apps/{env}/{svc}/ingress.yaml"),
                    Action::Add,
                    "",
                    "kind: Ingress\nspec:\n  rules: []\n",
                ));
            }
        }
        approvals.insert(
            format!("/apps/prod/{svc}/"),
            vec![format!("@acme/{team}"), "@acme/security-team".to_string()],
        );
        if i % 7 == 0 {
            // Dropped from staging: a removal line and its deleted files.
            changes.push(change(
                &format!("apps/staging/{svc}/hpa.yaml"),
                Action::Delete,
                "kind: HorizontalPodAutoscaler\n",
                "",
            ));
            removals.push(format!("{svc}: removed from staging (1 file)"));
        }
        let wf = format!(".github/workflows/terraform-{svc}.yml");
        let mut c = change(
            &wf,
            Action::Change,
            "jobs:\n  prod:\n    environment: prod\n",
            "jobs:\n  prod:\n    environment: prod-x\n",
        );
        c.owner = svc.clone();
        changes.push(c);
        let mut rec = change(
            &format!(".pctl/services/{svc}.json"),
            Action::Change,
            &record(&svc, team, 100.0),
            &record(&svc, team, 101.0 + (i % 50) as f64),
        );
        rec.owner = svc.clone();
        changes.push(rec);
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    Org {
        changes,
        removals,
        moves: vec!["svc-00000: moved from https://github.com/acme/old (team `team-ledger`) to https://github.com/acme/svc-00000 (team `team-payments`)".into()],
        ctx: Context {
            title: title(&(0..n).map(|i| format!("svc-{i:05}")).collect::<Vec<_>>()),
            protected_envs: ["prod".to_string()].into(),
            destination: "acme/deploy `main`".into(),
            approvals,
        },
    }
}

/// The number a "… and N more" line under `headline` (within the attention section) gives, and
/// how many items are listed there.
fn listed_and_more(md: &str, headline: &str) -> (usize, usize) {
    let start = md
        .find(headline)
        .unwrap_or_else(|| panic!("`{headline}` missing:\n{md}"));
    let after = &md[start..];
    if after.lines().next().unwrap().contains("**: ") {
        return (1, 0); // one item, on the headline's line
    }
    let mut lines = after.lines().skip(1);
    let (mut listed, mut more) = (0, 0);
    for l in lines.by_ref() {
        if let Some(rest) = l.strip_prefix("  - … and ") {
            more = rest.split(' ').next().unwrap().parse().unwrap();
            break;
        }
        if !l.starts_with("  - ") {
            break;
        }
        listed += 1;
    }
    (listed, more)
}

fn check_organisation_change(n: usize) -> String {
    let org = organisation_change(n);
    let review = Review::new(&org.changes, &org.removals, &org.ctx).with_moves(&org.moves);
    let md = review.markdown();
    assert!(
        within_comment_limits(&md),
        "{n} services: {} chars, {} bytes",
        md.chars().count(),
        md.len()
    );
    let summary = md.split("### Diffs").next().unwrap();
    // The heading: counts and the first names, never every name.
    let heading = summary.lines().nth(1).unwrap();
    assert!(heading.len() < 120, "{heading}");
    let reviewed: Vec<&Change> = org
        .changes
        .iter()
        .filter(|c| !c.path.starts_with(".pctl/"))
        .collect();
    let count = |a: Action| reviewed.iter().filter(|c| c.action == a).count();
    assert!(
        summary.contains(&format!(
            "**{} · 3 environments · {} added · {} changed · {} deleted**",
            if n == 1 {
                "1 service".to_string()
            } else {
                format!("{n} services")
            },
            count(Action::Add),
            count(Action::Change),
            count(Action::Delete)
        )),
        "{summary}"
    );
    // Every group of risks is there, counted; what is not listed is counted and pointed to.
    let protected = reviewed
        .iter()
        .filter(|c| env_of(&c.path) == Some("prod"))
        .count();
    let headline = format!(
        "**{protected} files in a protected environment ({} in prod)**",
        if n == 1 {
            "1 service".to_string()
        } else {
            format!("{n} services")
        }
    );
    let (listed, more) = listed_and_more(summary, &headline);
    assert_eq!(listed + more, n, "{headline}: one line per service");
    let secrets = reviewed
        .iter()
        .filter(|c| c.path.ends_with("externalsecret.yaml"))
        .count();
    let headline = format!("**{secrets} files: secret references changed");
    let (listed, more) = listed_and_more(summary, &headline);
    assert_eq!(listed + more, secrets, "{headline}");
    for h in [
        "ownership moved",
        "stateful resource",
        "settings changed",
        "public endpoint",
        "approvals or environments changed",
    ] {
        assert!(summary.contains(h), "{h} missing:\n{summary}");
    }
    let deleted = count(Action::Delete);
    let (listed, more) = listed_and_more(summary, &format!("**{deleted} file"));
    assert_eq!(listed + more, org.removals.len(), "removal lines");
    if n > 1 {
        assert!(summary.contains("plan.json"), "what is cut is pointed to");
    }
    // Cost: the total, grouped by team, the largest movers.
    let total: f64 = (0..n).map(|i| (i % 50) as f64 + 1.0).sum();
    assert!(
        summary.contains(&format!("Monthly cost: **+{}**", crate::cost::usd(total))),
        "{summary}"
    );
    if n > 3 {
        assert!(summary.contains("- by team: team-"), "{summary}");
        assert!(summary.contains("- largest: svc-"), "{summary}");
    }
    // Approvals: each group of approvers once, with the number of rules it covers.
    let approvals = summary.split("### Approvals required").nth(1).unwrap();
    let approvals = approvals.split("\n\n").nth(1).unwrap();
    for team in TEAMS.iter().take(n.min(3)) {
        let who = format!("@acme/{team} @acme/security-team (protected");
        assert_eq!(
            approvals.matches(&who).count(),
            1,
            "{who} once:\n{approvals}"
        );
    }
    assert!(approvals.lines().count() <= 20, "{approvals}");
    // plan.json holds everything the summary cut short.
    let plan = review.plan_json();
    assert_eq!(plan["files"].as_array().unwrap().len(), org.changes.len());
    assert_eq!(plan["costs"].as_array().unwrap().len(), n);
    assert_eq!(
        plan["removals"].as_array().unwrap().len(),
        org.removals.len()
    );
    assert_eq!(plan["moves"].as_array().unwrap().len(), 1);
    let rules = org.ctx.approvals.len();
    assert_eq!(plan["approvals"].as_array().unwrap().len(), rules);
    if std::env::var_os("PCTL_SHOW_SUMMARY").is_some() {
        eprintln!("{summary}");
    }
    // The other reports stay within theirs.
    assert!(review.step_summary().len() <= STEP_SUMMARY_MAX_BYTES);
    md
}

#[test]
fn one_service_is_named_in_full() {
    let md = check_organisation_change(1);
    assert!(
        !md.contains("… and"),
        "nothing is cut for one service:\n{md}"
    );
    assert!(
        md.contains("| svc-00000 | prod |"),
        "the per-service table:\n{md}"
    );
    assert!(md.contains("**svc-00000: removed from staging (1 file)**"));
}

#[test]
fn three_hundred_services_are_grouped_and_counted() {
    let md = check_organisation_change(300);
    assert!(md.contains("| team | services |"), "{md}");
    assert!(md.contains("| environment | services |"), "{md}");
    assert!(!md.contains("| svc-00000 | prod |"));
}

#[test]
fn three_thousand_services_are_grouped_and_counted() {
    check_organisation_change(3000);
}

#[test]
fn hostile_text_cannot_add_markup() {
    let org = organisation_change(1);
    let moves = vec!["x: moved from <img src=x> [a](http://evil) `y`".to_string()];
    let review = Review::new(&org.changes, &org.removals, &org.ctx).with_moves(&moves);
    let md = review.markdown();
    assert!(md.contains("\\<img"), "{md}");
    assert!(
        !md.replace("\\<", "").contains("<img") && !md.contains("[a](http"),
        "{md}"
    );
}
