//! Pattern-checked values in the user's words: instead of "expected a value matching `^[a-z0-9]+…`",
//! what is wrong with *this* value and the value to write instead (an image with a tag or digest,
//! a quantity in MB, a duration in minutes, a name with capitals or `_`).

/// What to say about a value a pattern rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    pub message: String,
    pub expected: String,
    pub help: String,
}

/// What kind of value a pattern checks, from the schema's named format (`title`) or the field.
fn kind(pointer: &str, title: Option<&str>, pattern: &str) -> Option<&'static str> {
    let last = pointer.rsplit('/').next().unwrap_or("");
    Some(match title {
        Some("Duration") => "duration",
        Some("Percentage") => "percentage",
        Some("CPU quantity") => "cpu",
        Some("Memory quantity") => "memory",
        Some("DNS-1123 label") => "name",
        Some("Web address") => "web",
        _ if last == "image" => "image",
        _ if pattern == "^[A-Z_][A-Z0-9_]*$" => "secret",
        _ if pattern.starts_with("^[a-z]") || pattern.starts_with("^[a-z0-9]") => "name",
        _ => return None,
    })
}

/// The fix for a value of a pattern-checked field, or `None` to keep the generic message.
pub fn pattern(pointer: &str, title: Option<&str>, pattern: &str, value: &str) -> Option<Fix> {
    let shown = crate::diag::pointer_to_path(pointer);
    match kind(pointer, title, pattern)? {
        "image" => image(&shown, value, pointer.contains("/resources/")),
        "memory" => quantity(&shown, value, true),
        "cpu" => quantity(&shown, value, false),
        "duration" => duration(&shown, value),
        "percentage" => percentage(&shown, value),
        "name" => name(&shown, value),
        "secret" => env_name(&shown, value, "secret"),
        "web" => web(&shown, value),
        _ => None,
    }
}

/// The fix for a key of a mapping whose keys are pattern-checked (`env` variable names,
/// resource and environment names).
pub fn key(pointer: &str, pattern: &str, key: &str) -> Option<Fix> {
    let shown = crate::diag::pointer_to_path(pointer);
    if pattern == "^[A-Za-z_][A-Za-z0-9_]*$" {
        return env_name(&shown, key, "variable");
    }
    if pattern.starts_with("^[a-z]") {
        return name(&shown, key);
    }
    None
}

fn fix(message: String, expected: &str, help: String) -> Option<Fix> {
    Some(Fix {
        message,
        expected: expected.to_string(),
        help,
    })
}

fn image(field: &str, value: &str, pinned_only: bool) -> Option<Fix> {
    let expected = if pinned_only {
        "an image pinned with a tag (not `latest`) and/or a digest, e.g. `docker.io/library/redis:7.2-alpine`"
    } else {
        "an image repository (pctl adds the tag), or one pinned with a tag (not `latest`) or a digest, e.g. `ghcr.io/acme/orders-api`"
    };
    let (name, digest) = value
        .split_once('@')
        .map_or((value, None), |(n, d)| (n, Some(d)));
    // A tag is a `:` in the last path segment (a `:` before the first `/` is a registry port).
    let (path_start, last) = name
        .rsplit_once('/')
        .map_or((0, name), |(a, b)| (a.len() + 1, b));
    let (repo, tag) = match last.split_once(':') {
        Some((n, t)) => (format!("{}{n}", &name[..path_start]), Some(t)),
        None => (name.to_string(), None),
    };
    if repo.chars().any(|c| c.is_ascii_uppercase()) {
        let lower = value.replacen(&repo, &repo.to_ascii_lowercase(), 1);
        return fix(
            format!("`{field}` has capital letters: image repositories are lower case"),
            expected,
            format!("write `image: {lower}`"),
        );
    }
    if let Some((_, rest)) = value.split_once("://") {
        return fix(
            format!("`{field}` has a URL scheme: an image reference has none"),
            expected,
            format!("write `image: {rest}`"),
        );
    }
    let unpinned = if pinned_only {
        "pin a version (`image: {repo}:1.2.3`) or a digest (`@sha256:` and 64 hex digits)"
    } else {
        "pin a version (`image: {repo}:1.2.3`) or a digest, or remove the tag: `image: {repo}` and pctl tags the image with the source commit (or --image-tag)"
    };
    let unpinned = unpinned.replace("{repo}", &repo);
    if let Some(d) = digest {
        let hex = d.strip_prefix("sha256:").unwrap_or("");
        if hex.len() != 64 || !hex.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
            return fix(
                format!(
                    "`{field}` has a malformed digest (`@{d}`): a digest is `@sha256:` and 64 lower-case hex digits"
                ),
                expected,
                format!("copy the whole digest from the registry, or {unpinned}"),
            );
        }
    }
    match tag {
        Some("latest") => fix(
            format!("`{field}` has the tag `latest`, which moves: it names no fixed version"),
            expected,
            unpinned,
        ),
        Some(t) => fix(
            format!(
                "`{field}` has an invalid tag (`:{t}`): a tag is up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`"
            ),
            expected,
            unpinned,
        ),
        None if pinned_only && digest.is_none() => fix(
            format!(
                "`{field}` is not pinned: an in-cluster companion's image needs a tag or a digest"
            ),
            expected,
            unpinned,
        ),
        None => None,
    }
}

/// Units people write for quantities, and what Kubernetes calls them.
const MEMORY_UNITS: &[(&str, &str)] = &[
    ("kib", "Ki"),
    ("mib", "Mi"),
    ("gib", "Gi"),
    ("tib", "Ti"),
    ("kb", "Ki"),
    ("mb", "Mi"),
    ("gb", "Gi"),
    ("tb", "Ti"),
    ("ki", "Ki"),
    ("mi", "Mi"),
    ("gi", "Gi"),
    ("ti", "Ti"),
    ("k", "Ki"),
    ("m", "Mi"),
    ("g", "Gi"),
    ("t", "Ti"),
];

/// The number at the start of `s` and the rest, without spaces around the unit.
fn number_and_unit(s: &str) -> Option<(&str, String)> {
    let s = s.trim();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (n, unit) = s.split_at(end);
    (!n.is_empty() && n.parse::<f64>().is_ok()).then(|| (n, unit.trim().to_string()))
}

fn quantity(field: &str, value: &str, memory: bool) -> Option<Fix> {
    let (n, unit) = number_and_unit(value)?;
    let lower = unit.to_ascii_lowercase();
    let suggestion = if memory {
        MEMORY_UNITS
            .iter()
            .find(|(u, _)| *u == lower)
            .map(|(_, k)| format!("{n}{k}"))
    } else {
        match lower.as_str() {
            "m" | "mc" | "millicores" | "millicore" | "millicpu" => Some(format!("{n}m")),
            "" | "core" | "cores" | "cpu" | "cpus" | "vcpu" | "vcpus" => Some(n.to_string()),
            _ => None,
        }
    }?;
    let (what, example) = if memory {
        (
            "a Kubernetes memory quantity: a number with Ki, Mi, Gi or Ti (powers of 1024), e.g. `256Mi`",
            "Kubernetes writes mebibytes as `Mi`",
        )
    } else {
        (
            "a Kubernetes CPU quantity: cores (`1`, `0.5`) or millicores (`250m`)",
            "Kubernetes writes millicores as `m` and cores as a plain number",
        )
    };
    fix(
        format!("`{field}` is not a Kubernetes quantity: `{value}`"),
        what,
        format!("did you mean `{suggestion}`? ({example}, without spaces)"),
    )
}

fn duration(field: &str, value: &str) -> Option<Fix> {
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let lower = compact.to_ascii_lowercase();
    let (n, unit) = number_and_unit(&lower)?;
    let suggestion = match unit.as_str() {
        "h" | "hr" | "hrs" | "hour" | "hours" => format!("{n}h"),
        "m" | "min" | "mins" | "minute" | "minutes" => format!("{n}m"),
        "s" | "sec" | "secs" | "second" | "seconds" => format!("{n}s"),
        "ms" | "msec" | "millisecond" | "milliseconds" => format!("{n}ms"),
        "d" | "day" | "days" => format!("{}h", n.parse::<u64>().ok()? * 24),
        "" => format!("{n}s"),
        _ => {
            // `1h30` -> `1h30m`
            if lower.ends_with(|c: char| c.is_ascii_digit()) && lower.contains('h') {
                format!("{lower}m")
            } else {
                return None;
            }
        }
    };
    fix(
        format!("`{field}` is not a duration pctl reads: `{value}`"),
        "a duration: numbers with h, m, s or ms, in that order, e.g. `10m`, `1h30m`, `200ms`",
        format!("did you mean `{suggestion}`?"),
    )
}

fn percentage(field: &str, value: &str) -> Option<Fix> {
    let (n, unit) = number_and_unit(value)?;
    if !(unit.is_empty() || unit == "%" || unit.eq_ignore_ascii_case("percent")) {
        return None;
    }
    fix(
        format!("`{field}` is not a percentage: `{value}`"),
        "a percentage written with `%`, e.g. `1%` or `0.5%` (quoted or not)",
        format!("did you mean `{n}%`?"),
    )
}

/// The nearest DNS label (`Orders_API` -> `orders-api`).
pub fn dns_label(s: &str) -> Option<String> {
    let mut out = String::new();
    for c in s.trim().chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_start_matches(|c: char| c.is_ascii_digit() || c == '-');
    let out = out.trim_end_matches('-').to_string();
    (!out.is_empty() && out != s).then_some(out)
}

/// A web address pctl copies into links, alerts and every workload's environment: only
/// `http(s)://host[:port][/path]`, never a script or file scheme, never credentials.
fn web(field: &str, value: &str) -> Option<Fix> {
    const EXPECTED: &str = "an `http://` or `https://` address with a host and no credentials";
    let lower = value.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
    else {
        let scheme = value.split_once(':').map_or("", |(s, _)| s);
        return fix(
            format!("`{field}` is not a web address (scheme `{scheme}:`)"),
            EXPECTED,
            "pctl puts this address in links, alerts and workload environments: write the service's http:// or https:// address".to_string(),
        );
    };
    // ASCII lower-casing keeps byte offsets: slice the value as written.
    let (scheme, rest) = value.split_at(value.len() - rest.len());
    let authority = rest.split('/').next().unwrap_or("");
    if let Some((_, host)) = authority.rsplit_once('@') {
        let path = &rest[authority.len()..];
        return fix(
            format!("`{field}` carries credentials"),
            EXPECTED,
            format!(
                "every rendered file that links to it would carry them: write `{scheme}{host}{path}` and give the credentials to the tool that calls it"
            ),
        );
    }
    None
}

fn name(field: &str, value: &str) -> Option<Fix> {
    let suggestion = dns_label(value)?;
    fix(
        format!("`{field}` is not a valid name: `{value}`"),
        "a DNS label: lower-case letters, digits and `-`, starting with a letter and not ending with `-`",
        format!("did you mean `{suggestion}`?"),
    )
}

fn env_name(field: &str, value: &str, what: &str) -> Option<Fix> {
    let mut out: String = value
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if out.is_empty() || out == value {
        return None;
    }
    let expected = if what == "secret" {
        "an upper-case name: letters, digits and `_`, not starting with a digit, e.g. `STRIPE_API_KEY`"
    } else {
        "a variable name: letters, digits and `_`, not starting with a digit, e.g. `LOG_LEVEL`"
    };
    fix(
        format!("`{field}` is not a valid {what} name: `{value}`"),
        expected,
        format!(
            "did you mean `{out}`? (the application reads it as an environment variable, where `-` and `.` cannot appear)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn help(pointer: &str, title: Option<&str>, pat: &str, v: &str) -> String {
        pattern(pointer, title, pat, v)
            .map(|f| f.help)
            .unwrap_or_default()
    }

    #[test]
    fn images_are_pinned_or_left_to_pctl() {
        let p = "^x$";
        let msg = |ptr: &str, v: &str| pattern(ptr, None, p, v).map(|f| (f.message, f.help));
        let (m, h) = msg("/spec/image", "ghcr.io/acme/orders-api:latest").unwrap();
        assert!(m.contains("`latest`"), "{m}");
        assert!(h.contains("`image: ghcr.io/acme/orders-api:1.2.3`"), "{h}");
        assert!(
            h.contains("remove the tag: `image: ghcr.io/acme/orders-api`"),
            "{h}"
        );
        let (m, _) = msg("/spec/image", "registry:5000/a/b@sha256:abc").unwrap();
        assert!(m.contains("malformed digest"), "{m}");
        // A registry port is not a tag.
        let (_, h) = msg("/spec/image", "registry:5000/a/B").unwrap();
        assert!(h.contains("`image: registry:5000/a/b`"), "{h}");
        // A companion's image must be pinned; an application's need not be.
        let (m, h) = msg("/spec/resources/cache/image", "docker.io/library/redis").unwrap();
        assert!(m.contains("not pinned"), "{m}");
        assert!(!h.contains("remove the tag"), "{h}");
        assert_eq!(msg("/spec/image", "ghcr.io/acme/orders-api"), None);
    }

    #[test]
    fn quantities_durations_percentages_and_names() {
        let q = "^q$";
        assert!(
            help("/spec/compute/memory", Some("Memory quantity"), q, "256MB").contains("`256Mi`")
        );
        assert!(help("/spec/compute/memory", Some("Memory quantity"), q, "1 GB").contains("`1Gi`"));
        assert!(help("/spec/compute/cpu", Some("CPU quantity"), q, "250 m").contains("`250m`"));
        assert!(help("/spec/compute/cpu", Some("CPU quantity"), q, "2 cores").contains("`2`"));
        assert!(help("/d", Some("Duration"), q, "10 min").contains("`10m`"));
        assert!(help("/d", Some("Duration"), q, "1d").contains("`24h`"));
        assert!(help("/d", Some("Duration"), q, "1h30").contains("`1h30m`"));
        assert!(help("/p", Some("Percentage"), q, "1").contains("`1%`"));
        assert!(
            help("/metadata/name", Some("DNS-1123 label"), q, "Orders_API")
                .contains("`orders-api`")
        );
        assert!(
            help("/spec/secrets/0", None, "^[A-Z_][A-Z0-9_]*$", "stripe-key")
                .contains("`STRIPE_KEY`")
        );
        assert_eq!(
            pattern("/spec/compute/memory", Some("Memory quantity"), q, "lots"),
            None
        );
    }

    #[test]
    fn web_addresses_keep_their_case_and_lose_their_credentials() {
        let w = |v| {
            pattern(
                "/spec/observability/grafana_url",
                Some("Web address"),
                "^x$",
                v,
            )
        };
        assert!(
            w("https://u:p@Grafana.Acme.example/D/x")
                .unwrap()
                .help
                .contains("`https://Grafana.Acme.example/D/x`")
        );
        assert!(
            w("JavaScript:alert(1)")
                .unwrap()
                .message
                .contains("scheme `JavaScript:`")
        );
        assert_eq!(w("https://grafana.acme.example"), None);
    }
}
