//! The attack corpus: `fixtures/attacks/<attack>/attack.yaml`, one folder per attack on the
//! trust boundaries (docs/security-model.md). Each attack is run for real: a deploy
//! repository and an output folder are set up as the legitimate owners would leave them,
//! tampered with as the attacker would, then the attacker's pctl command runs. The attack must
//! be refused (the expected exit code and diagnostic codes), or harmless; in both cases nothing
//! outside the attacked service's namespace may change.
//!
//! attack.yaml:
//!   description: what the attacker tries
//!   deploy:                  # a bare deploy repository ({deploy})
//!     seed: [[publish args...], ...]   # published first, by the legitimate owners
//!     tamper: [op, ...]      # then committed by "Mallory" straight to main
//!   out:                     # an output folder ({out}) rendered first, then tampered with
//!     seed: [render args...]
//!     tamper: [op, ...]
//!   run: [pctl args...]      # the attack; {deploy}, {out}, {here} (this folder) are replaced
//!   env: {NAME: value}
//!   expect:
//!     exit: 1
//!     codes: [publish/owned-elsewhere]   # diagnostic codes that must be reported
//!     unchanged: [deploy, out, victim]   # byte-for-byte as before the attack
//!     may_change: [service]  # the deploy repository changed only inside these namespaces
//!     absent: ["@mallory"]   # never in the deploy repository or the output folder
//!     absent_output: ["\u001b["]   # never printed as it is (stdout, stderr)
//!     no_runner_commands: true   # no line a CI runner would execute, but pctl's annotations
//!     says: ["text"]         # in stdout or stderr
//! Tamper ops: {write: PATH, text: STR} | {write: PATH, json: VALUE} |
//!   {claim: {record: PATH, path: P, hash: content|empty|zeros}} |
//!   {set: {file: PATH, pointer: /json/pointer, value: VALUE (null removes)}} |
//!   {symlink: {link: PATH, target: PATH}} | {remove: PATH}

use crate::support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use support::*;

struct Ctx {
    root: PathBuf,
    here: String,
    deploy: Option<PathBuf>,
    out: PathBuf,
    victim: PathBuf,
}

impl Ctx {
    fn expand(&self, arg: &str) -> String {
        arg.replace("{here}", &self.here)
            .replace(
                "{deploy}",
                &self
                    .deploy
                    .as_ref()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default(),
            )
            .replace("{out}", &self.out.display().to_string())
    }

    fn args(&self, v: &Value) -> Vec<String> {
        v.as_array()
            .expect("a list of arguments")
            .iter()
            .map(|a| self.expand(a.as_str().expect("arguments are strings")))
            .collect()
    }
}

/// pctl with the attack's arguments; render/diff/publish get a pinned source commit and tag.
fn command(ctx: &Ctx, args: &[String], env: &BTreeMap<String, String>) -> std::process::Command {
    let mut cmd = pctl();
    cmd.args(args);
    let compiles = matches!(
        args.first().map(String::as_str),
        Some("render" | "diff" | "publish")
    );
    if compiles && !args.iter().any(|a| a == "--source-sha") {
        cmd.args(["--source-sha", SHA]);
    }
    if compiles && !args.iter().any(|a| a == "--image-tag") {
        cmd.args(["--image-tag", TAG]);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let _ = &ctx.root;
    cmd
}

fn set_pointer(doc: &mut Value, pointer: &str, value: Value) {
    let (parent, last) = pointer.rsplit_once('/').expect("a JSON pointer");
    let last = last.replace("~1", "/").replace("~0", "~");
    let target = doc
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no {parent} in the document"));
    let map = target.as_object_mut().expect("pointer to an object member");
    if value.is_null() {
        map.shift_remove(&last);
    } else {
        map.insert(last, value);
    }
}

/// Applies tamper ops below `dir`.
fn tamper(dir: &Path, ops: &[Value], ctx: &Ctx) {
    for op in ops {
        let op = op.as_object().expect("a tamper op is a mapping");
        let (name, arg) = op.iter().next().expect("one op per entry");
        match name.as_str() {
            "write" => {
                let path = dir.join(ctx.expand(arg.as_str().expect("write: PATH")));
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                let text = match (op.get("text"), op.get("json")) {
                    (Some(t), _) => ctx.expand(t.as_str().unwrap()),
                    (_, Some(j)) => serde_json::to_string_pretty(j).unwrap() + "\n",
                    _ => panic!("write needs text or json"),
                };
                fs::write(path, text).unwrap();
            }
            "claim" => {
                let record = dir.join(arg["record"].as_str().unwrap());
                let path = ctx.expand(arg["path"].as_str().unwrap());
                let hash = match arg["hash"].as_str().unwrap_or("content") {
                    "content" => sha256_hex(&fs::read(dir.join(&path)).unwrap_or_default()),
                    "empty" => String::new(),
                    "zeros" => "0".repeat(64),
                    other => other.to_string(),
                };
                let mut doc: Value = serde_json::from_slice(&fs::read(&record).unwrap()).unwrap();
                doc["files"][path.as_str()] = Value::String(hash);
                fs::write(&record, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
            }
            "set" => {
                let file = dir.join(arg["file"].as_str().unwrap());
                let mut doc: Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
                set_pointer(
                    &mut doc,
                    arg["pointer"].as_str().unwrap(),
                    arg["value"].clone(),
                );
                fs::write(&file, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
            }
            "symlink" => {
                let link = dir.join(arg["link"].as_str().unwrap());
                if link.is_dir() {
                    fs::remove_dir_all(&link).unwrap();
                } else if link.exists() {
                    fs::remove_file(&link).unwrap();
                }
                std::os::unix::fs::symlink(ctx.expand(arg["target"].as_str().unwrap()), link)
                    .unwrap();
            }
            "remove" => {
                let p = dir.join(arg.as_str().unwrap());
                if p.is_dir() {
                    fs::remove_dir_all(p).unwrap();
                } else {
                    fs::remove_file(p).unwrap();
                }
            }
            other => panic!("unknown tamper op `{other}`"),
        }
    }
}

/// A folder's files (no links followed), for before/after comparisons.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    if !dir.exists() {
        return files;
    }
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.unwrap();
        let rel = e
            .path()
            .strip_prefix(dir)
            .unwrap()
            .to_string_lossy()
            .to_string();
        if e.file_type().is_symlink() {
            files.insert(
                rel,
                fs::read_link(e.path())
                    .unwrap()
                    .to_string_lossy()
                    .as_bytes()
                    .to_vec(),
            );
        } else if e.file_type().is_file() {
            files.insert(rel, fs::read(e.path()).unwrap());
        }
    }
    files
}

/// Whether a line is one of pctl's own annotations (`::error file=…,title=pctl …::…`).
fn pctl_annotation(line: &str) -> bool {
    ["::error ", "::warning ", "::notice "]
        .iter()
        .any(|p| line.starts_with(p))
        && line
            .split("::")
            .nth(1)
            .is_some_and(|props| props.contains("title=pctl"))
}

fn run_attack(dir: &Path) -> Result<(), String> {
    let root = Path::new(ROOT);
    let spec: Value = serde_yaml::from_str(&fs::read_to_string(dir.join("attack.yaml")).unwrap())
        .map_err(|e| format!("attack.yaml: {e}"))?;
    let tmp = tempfile::tempdir().unwrap();
    let mut ctx = Ctx {
        root: root.to_path_buf(),
        here: dir
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .to_string(),
        deploy: None,
        out: tmp.path().join("out"),
        victim: tmp.path().join("victim"),
    };
    fs::create_dir_all(&ctx.victim).unwrap();
    fs::write(ctx.victim.join("keep.txt"), "the victim's file\n").unwrap();
    let env: BTreeMap<String, String> = spec["env"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();

    if let Some(deploy) = spec.get("deploy") {
        let bare = bare_repo(tmp.path(), "deploy.git");
        ctx.deploy = Some(bare.clone());
        for seed in deploy["seed"].as_array().into_iter().flatten() {
            let mut args = vec!["publish".to_string()];
            args.extend(ctx.args(seed));
            args.extend(["--deploy-repo".into(), bare.display().to_string()]);
            let r = run(command(&ctx, &args, &BTreeMap::new()));
            if r.code != 0 {
                return Err(format!("seeding failed: {}", r.describe()));
            }
        }
        if let Some(ops) = deploy["tamper"].as_array() {
            let work = tmp.path().join("mallory");
            clone(&bare.display().to_string(), &work);
            tamper(&work, ops, &ctx);
            git(&work, &["add", "-A"]);
            let out = std::process::Command::new("git")
                .current_dir(&work)
                .args([
                    "-c",
                    "user.name=Mallory",
                    "-c",
                    "user.email=mallory@evil.example",
                ])
                .args(["commit", "-q", "-m", "tidy up records"])
                .env("GIT_AUTHOR_NAME", "Mallory")
                .env("GIT_AUTHOR_EMAIL", "mallory@evil.example")
                .env("GIT_COMMITTER_NAME", "Mallory")
                .env("GIT_COMMITTER_EMAIL", "mallory@evil.example")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            git(&work, &["push", "-q", "origin", "HEAD:main"]);
        }
    }
    if let Some(out) = spec.get("out") {
        if let Some(seed) = out.get("seed") {
            let mut args = vec!["render".to_string()];
            args.extend(ctx.args(seed));
            args.extend(["--out".into(), ctx.out.display().to_string()]);
            let r = run(command(&ctx, &args, &BTreeMap::new()));
            if r.code != 0 {
                return Err(format!("rendering the folder failed: {}", r.describe()));
            }
        } else {
            fs::create_dir_all(&ctx.out).unwrap();
        }
        if let Some(ops) = out["tamper"].as_array() {
            let out_dir = ctx.out.clone();
            tamper(&out_dir, ops, &ctx);
        }
    }

    let before_deploy = ctx.deploy.as_ref().map(|d| tree_at(d, "main"));
    let before_tip = ctx.deploy.as_ref().and_then(|d| tip(d, "main"));
    let before_out = snapshot(&ctx.out);
    let before_victim = snapshot(&ctx.victim);

    let mut args = ctx.args(&spec["run"]);
    let expect = &spec["expect"];
    let wants_codes = expect.get("codes").is_some();
    if wants_codes && !args.iter().any(|a| a == "--format") {
        args.extend(["--format".into(), "json".into()]);
    }
    let r = run(command(&ctx, &args, &env));
    let mut problems = Vec::new();

    if let Some(code) = expect["exit"].as_i64() {
        if i64::from(r.code) != code {
            problems.push(format!("exit code {} (expected {code})", r.code));
        }
    }
    for code in expect["codes"].as_array().into_iter().flatten() {
        let code = code.as_str().unwrap();
        let found = if args
            .windows(2)
            .any(|w| w[0] == "--format" && w[1] == "json")
        {
            serde_json::from_str::<Value>(&r.stdout)
                .ok()
                .and_then(|v| v["diagnostics"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .any(|d| d["code"] == code)
        } else {
            r.stdout.contains(&format!("title=pctl {code}"))
                || r.stderr.contains(&format!("[{code}]"))
        };
        if !found {
            problems.push(format!("no `{code}` diagnostic"));
        }
    }
    for text in expect["says"].as_array().into_iter().flatten() {
        let text = text.as_str().unwrap();
        if !r.stdout.contains(text) && !r.stderr.contains(text) {
            problems.push(format!("output does not say {text:?}"));
        }
    }
    for what in expect["unchanged"].as_array().into_iter().flatten() {
        match what.as_str().unwrap() {
            "deploy" => {
                let d = ctx
                    .deploy
                    .as_ref()
                    .expect("unchanged: deploy needs a deploy repository");
                if tip(d, "main") != before_tip {
                    problems.push("the deploy branch moved".into());
                }
                if Some(tree_at(d, "main")) != before_deploy {
                    problems.push("the deploy tree changed".into());
                }
            }
            "out" => {
                if snapshot(&ctx.out) != before_out {
                    problems.push("the output folder changed".into());
                }
            }
            "victim" => {
                if snapshot(&ctx.victim) != before_victim {
                    problems.push("a folder outside the output folder changed".into());
                }
            }
            other => panic!("unknown `unchanged` target {other}"),
        }
    }
    if let Some(may) = expect["may_change"].as_array() {
        let may: Vec<&str> = may.iter().filter_map(Value::as_str).collect();
        let d = ctx
            .deploy
            .as_ref()
            .expect("may_change needs a deploy repository");
        let after = tree_at(d, "main");
        let before = before_deploy.clone().unwrap_or_default();
        let paths: std::collections::BTreeSet<&String> =
            before.keys().chain(after.keys()).collect();
        for p in paths {
            if before.get(p) != after.get(p) {
                let owner = pctl_core::layout::place(p).and_then(|pl| pl.service);
                if !owner.is_some_and(|o| may.contains(&o)) {
                    problems.push(format!("{p} changed, outside {may:?}"));
                }
            }
        }
    }
    for text in expect["absent"].as_array().into_iter().flatten() {
        let text = text.as_str().unwrap();
        let mut places = Vec::new();
        if let Some(d) = &ctx.deploy {
            for (p, b) in tree_at(d, "main") {
                places.push((
                    "deploy repository",
                    format!("{p}: {}", String::from_utf8_lossy(&b)),
                ));
            }
        }
        for (p, b) in snapshot(&ctx.out) {
            places.push((
                "output folder",
                format!("{p}: {}", String::from_utf8_lossy(&b)),
            ));
        }
        for (where_, s) in places {
            if s.contains(text) {
                problems.push(format!("{text:?} appears in the {where_}"));
                break;
            }
        }
    }
    for text in expect["absent_output"].as_array().into_iter().flatten() {
        let text = text.as_str().unwrap();
        if r.stdout.contains(text) || r.stderr.contains(text) {
            problems.push(format!("{text:?} is printed as it is"));
        }
    }
    if expect["no_runner_commands"].as_bool() == Some(true) {
        for line in r.stdout.lines().chain(r.stderr.lines()) {
            let t = line.trim_start();
            if t.starts_with("::") && !pctl_annotation(t) {
                problems.push(format!("a line a CI runner would execute: {line:?}"));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\n{}", problems.join("\n"), r.describe()))
    }
}

#[test]
fn every_attack_is_refused_or_harmless() {
    let dir = Path::new(ROOT).join("fixtures/attacks");
    let mut attacks: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("attack.yaml").is_file())
        .collect();
    attacks.sort();
    assert!(
        attacks.len() >= 15,
        "the corpus has {} attacks",
        attacks.len()
    );
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = attacks
            .iter()
            .map(|a| s.spawn(move || (a, run_attack(a))))
            .collect();
        handles
            .into_iter()
            .filter_map(|h| {
                let (a, r) = h.join().unwrap();
                r.err()
                    .map(|e| format!("== {}:\n{e}", a.file_name().unwrap().to_string_lossy()))
            })
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
