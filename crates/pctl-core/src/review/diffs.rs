//! The diffs of a review: one collapsible section per file, riskiest first, cut to a length;
//! as many as fit after the summary, and every one of them in comment-sized parts.

use super::{Limit, Review, Risk, action_word, plural, redacted, summary};
use crate::plan::Change;
use std::fmt::Write;

/// One file's diff as a collapsible section, cut to `max_lines`.
fn file_section(c: &Change, risks: &[Risk], max_lines: usize) -> String {
    let old = c
        .old
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let new = c.new.as_deref().unwrap_or_default();
    let icons: String = risks.iter().map(Risk::icon).collect::<Vec<_>>().join("");
    let mut s = format!(
        "<details><summary>{icons}{}<code>{}</code> ({})</summary>\n\n",
        if icons.is_empty() { "" } else { " " },
        html(&c.path),
        action_word(c.action)
    );
    if redacted(c) {
        s.push_str("_A Secret: its content is not shown._\n\n</details>\n");
        return s;
    }
    let diff = similar::TextDiff::from_lines(old.as_ref(), new);
    let text = diff.unified_diff().context_radius(3).to_string();
    let lines: Vec<&str> = text.lines().collect();
    s.push_str("```diff\n");
    for l in lines.iter().take(max_lines) {
        // A fence inside the diff would end the code block early; a file in the deploy
        // repository may hold escape sequences, shown as text.
        let l = crate::diag::escape_control(l).replace("\\t", "\t");
        s.push_str(&l.replace("```", "`\u{200b}``"));
        s.push('\n');
    }
    s.push_str("```\n");
    if lines.len() > max_lines {
        let _ = writeln!(s, "_… {} more lines not shown._", lines.len() - max_lines);
    }
    s.push_str("\n</details>\n");
    s
}

/// Text inside HTML: no tag can start in it.
/// Text inside an HTML element of the comment: no tag, and no control character (a path read
/// from a deploy repository may hold a newline, which would end the `<summary>`).
fn html(s: &str) -> String {
    crate::diag::escape_control(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The reviewed changes, riskiest first (an empty risk list sorts last), then by path.
fn ordered<'a>(r: &'a Review) -> Vec<(&'a Change, &'a [Risk])> {
    let mut v: Vec<(&Change, &[Risk])> = r.reviewed().collect();
    v.sort_by(|a, b| match (a.1.first(), b.1.first()) {
        (Some(x), Some(y)) => x.cmp(y).then(a.0.path.cmp(&b.0.path)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.0.path.cmp(&b.0.path),
    });
    v
}

/// The summary (at the first of `details` that fits, so it is always whole), then as many
/// diffs as fit in `limit`, and a note counting the rest.
pub(super) fn fit(r: &Review, limit: &Limit, details: &[usize], max_lines: usize) -> String {
    // Room for the diffs' heading and the closing note.
    let reserve = 400;
    let mut s = String::new();
    for &detail in details {
        s = summary::summary(r, detail);
        if limit.less(reserve).fits(&s) {
            break;
        }
    }
    debug_assert!(limit.less(reserve).fits(&s), "the shortest summary fits");
    let files = ordered(r);
    if files.is_empty() {
        return s;
    }
    s.push_str("\n### Diffs\n\n");
    let room = limit.less(reserve);
    let (mut bytes, mut chars) = (s.len(), s.chars().count());
    let mut shown = 0;
    for (c, risks) in &files {
        let section = file_section(c, risks, max_lines);
        let (b, ch) = (section.len(), section.chars().count());
        if bytes + b > room.bytes || chars + ch > room.chars {
            break;
        }
        s.push_str(&section);
        (bytes, chars) = (bytes + b, chars + ch);
        shown += 1;
    }
    if shown < files.len() {
        let rest = files.len() - shown;
        let _ = writeln!(
            s,
            "\n_{} not shown here: see the split parts (`--split`, `part-N.md` of `--report-dir`), the job summary or plan.json._",
            plural(rest, "more file", "more files")
        );
    }
    debug_assert!(limit.fits(&s));
    s
}

/// Every diff, split into comment-sized parts ("part 1/3"), for posting as several comments.
pub(super) fn split_parts(r: &Review) -> Vec<String> {
    let limit = Limit {
        chars: super::COMMENT_MAX_CHARS - 500,
        bytes: super::COMMENT_MAX_BYTES - 2000,
    };
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    let (mut bytes, mut chars) = (0, 0);
    for (c, risks) in ordered(r) {
        // A single file never needs more than one part: cut it to what fits.
        let mut section = file_section(c, risks, 2000);
        let mut lines = 2000;
        while !limit.fits(&section) && lines > 10 {
            lines /= 2;
            section = file_section(c, risks, lines);
        }
        let (b, ch) = (section.len(), section.chars().count());
        if !current.is_empty() && (bytes + b > limit.bytes || chars + ch > limit.chars) {
            parts.push(std::mem::take(&mut current));
            (bytes, chars) = (0, 0);
        }
        current.push_str(&section);
        (bytes, chars) = (bytes + b, chars + ch);
    }
    if !current.is_empty() {
        parts.push(current);
    }
    let n = parts.len();
    let title = super::text(&r.ctx.title);
    parts
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            format!(
                "<!-- pctl:part {}/{n} -->\n### {title} — diffs, part {}/{n}\n\n{body}",
                i + 1,
                i + 1
            )
        })
        .collect()
}
