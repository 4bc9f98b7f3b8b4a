//! Quantities as Kubernetes and the intent write them: durations (`200ms`, `1h30m`), percentages
//! (`1%`), CPU (`250m`, `0.5`) and memory (`256Mi`, `1G`). One parser per kind, used by
//! validation, resolve, cost and guardrails alike.

/// Milliseconds of a Go-style duration: `200ms`, `30s`, `10m`, `1h30m`.
pub fn parse_duration_ms(s: &str) -> Option<u64> {
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
        let (mult, unit_len) = if rest.starts_with("ms") {
            (1, 2)
        } else if rest.starts_with('s') {
            (1000, 1)
        } else if rest.starts_with('m') {
            (60_000, 1)
        } else if rest.starts_with('h') {
            (3_600_000, 1)
        } else {
            return None;
        };
        total = total.checked_add(n.checked_mul(mult)?)?;
        rest = &rest[unit_len..];
    }
    (total > 0).then_some(total)
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
