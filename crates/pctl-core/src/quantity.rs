//! Quantities as Kubernetes and the intent write them: durations (`200ms`, `1h30m`), percentages
//! (`1%`), CPU (`250m`, `0.5`) and memory (`256Mi`, `1G`). One parser per kind, used by
//! validation, resolve, cost and guardrails alike.

/// Units of a duration, longest spelling first (`ms` before `m`), in milliseconds.
const GO_UNITS: &[(&str, u64)] = &[("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)];
const SPAN_UNITS: &[(&str, u64)] = &[
    ("ms", 1),
    ("s", 1000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
    ("w", 604_800_000),
];

/// The one duration parser: numbers each followed by a unit of `units` (`1h30m`); may be zero.
fn parse_ms(s: &str, units: &[(&str, u64)]) -> Option<u64> {
    let mut total: u64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, mult) = units.iter().find(|(u, _)| rest.starts_with(u))?;
        total = total.checked_add(n.checked_mul(*mult)?)?;
        rest = &rest[unit.len()..];
    }
    Some(total)
}

/// Milliseconds of a Go-style duration: `200ms`, `30s`, `10m`, `1h30m`; greater than 0. What
/// the intent's durations are (they end up in manifests whose Go parsers know no days).
pub fn parse_duration_ms(s: &str) -> Option<u64> {
    parse_ms(s, GO_UNITS).filter(|ms| *ms > 0)
}

/// Milliseconds of a span that may also count days and weeks: `90d`, `2w`, `1d12h`, `36h`,
/// `30m`; `0` (or `0s`, `0d`...) is none. For command-line windows and thresholds
/// (`pctl metrics --since 90d`), never for manifests.
pub fn parse_span_ms(s: &str) -> Option<u64> {
    if s == "0" {
        return Some(0);
    }
    parse_ms(s, SPAN_UNITS)
}

/// `1%` -> 1.0; must be within (0, 100].
pub fn parse_percent(s: &str) -> Option<f64> {
    let n: f64 = s.strip_suffix('%')?.trim().parse().ok()?;
    (n > 0.0
        && n <= 100.0
        && s.trim_end_matches('%')
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.'))
    .then_some(n)
}

/// Millicores of a CPU quantity: `250m`, `1`, `0.5`.
pub fn parse_cpu(s: &str) -> Option<u64> {
    let ok_num = |t: &str| {
        !t.is_empty()
            && t.chars().all(|c| c.is_ascii_digit() || c == '.')
            && t.matches('.').count() <= 1
    };
    let m = if let Some(n) = s.strip_suffix('m') {
        if !n.chars().all(|c| c.is_ascii_digit()) || n.is_empty() {
            return None;
        }
        n.parse::<u64>().ok()?
    } else {
        if !ok_num(s) {
            return None;
        }
        (s.parse::<f64>().ok()? * 1000.0).round() as u64
    };
    (m > 0).then_some(m)
}

/// Bytes of a memory quantity: `256Mi`, `1Gi`, `512M`, `1000`.
pub fn parse_memory(s: &str) -> Option<u64> {
    const UNITS: &[(&str, u64)] = &[
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1000),
        ("K", 1000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ];
    let (num, mult) = UNITS
        .iter()
        .find_map(|(u, m)| s.strip_suffix(u).map(|n| (n, *m)))
        .unwrap_or((s, 1));
    if num.is_empty()
        || !num.chars().all(|c| c.is_ascii_digit() || c == '.')
        || num.matches('.').count() > 1
    {
        return None;
    }
    let bytes = (num.parse::<f64>().ok()? * mult as f64).round() as u64;
    (bytes > 0).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration_ms("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration_ms("200ms"), Some(200));
        assert_eq!(parse_duration_ms("2m500ms"), Some(120_500));
        for bad in [
            "",
            "0",
            "0s",
            "10",
            "10 m",
            "1d",
            "2w",
            "-1h",
            "1h-",
            "h",
            "99999999999999999999h",
        ] {
            assert_eq!(parse_duration_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn spans_with_days_and_weeks() {
        assert_eq!(parse_span_ms("90d"), Some(90 * 86_400_000));
        assert_eq!(parse_span_ms("2w"), Some(14 * 86_400_000));
        assert_eq!(parse_span_ms("1w2d3h"), Some((9 * 24 + 3) * 3_600_000));
        assert_eq!(parse_span_ms("36h"), Some(36 * 3_600_000));
        assert_eq!(parse_span_ms("30m"), Some(1_800_000));
        assert_eq!(parse_span_ms("45s"), Some(45_000));
        assert_eq!(parse_span_ms("1h30m"), parse_duration_ms("1h30m"));
        assert_eq!(parse_span_ms("0"), Some(0));
        assert_eq!(parse_span_ms("0d"), Some(0));
        for bad in [
            "",
            "2025-01-01",
            "-1h",
            "1y",
            "d",
            "1.5d",
            " 1d",
            "3000000000000w",
        ] {
            assert_eq!(parse_span_ms(bad), None, "{bad}");
        }
    }
}
