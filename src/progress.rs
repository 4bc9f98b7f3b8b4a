//! A progress bar on stderr for long runs.
//!
//! The bar is drawn only when it is useful and harmless: stderr is a terminal, the run is long
//! enough ([`MIN_ITEMS`] items or more), `PCTL_NO_PROGRESS` is unset and `TERM` is not `dumb`.
//! Everywhere else (pipes, CI logs, small runs, tests) a [`Progress`] is a no-op, so output stays
//! deterministic: the bar never writes to stdout and never reaches a non-terminal stderr.
//!
//! The bar is cleared when the run ends ([`Progress::finish`], or on drop, e.g. when an error
//! ends the run early), so the one-line summary printed afterwards is the only thing left.
//!
//! ```ignore
//! let progress = Progress::new(services.len() as u64, "expanding");
//! services.par_iter().for_each(|s| {
//!     expand(s);
//!     progress.inc(1);
//! });
//! progress.finish();
//! ```

use std::borrow::Cow;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};

/// Runs with fewer items than this stay quiet: they finish before a bar would be worth reading.
pub const MIN_ITEMS: u64 = 50;

/// Environment variable that turns the bar off whatever its value (even empty).
pub const NO_PROGRESS_ENV: &str = "PCTL_NO_PROGRESS";

/// The most redraws per second; the terminal draw target rate-limits to this.
const REFRESH_HZ: u8 = 10;

/// `-q`: no bar, whatever the terminal (set once by `cli::run`).
pub static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// How often the spinner advances (and the bar redraws) when no item completes.
const TICK: Duration = Duration::from_millis(100);

/// Layout of the bar: spinner, message, bar, count, throughput and time left. For `per_sec`,
/// indicatif reads the width as the number of decimals: `{per_sec:0}` shows `385/s`, not
/// `384.7544/s`.
const TEMPLATE: &str = "{spinner} {msg:12} [{bar:30}] {pos}/{len} {per_sec:0} eta {eta}";

/// Plain ASCII fill, readable on any terminal font: `[=====>    ]`.
const BAR_CHARS: &str = "=> ";

/// A progress reporter for one stage of a run: a bar on stderr, or nothing.
///
/// Cheap to share between threads: all methods take `&self` and a `&Progress` can be used from
/// rayon workers directly (`Progress` is `Send + Sync`); `Clone` gives another handle to the
/// same bar. When hidden, every method returns at once without touching the terminal.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// `None` when hidden; otherwise a bar drawing to stderr.
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A reporter for `total` items of work described by `what` (e.g. `"expanding"`).
    ///
    /// The bar is visible only when stderr is a terminal, `total >= MIN_ITEMS`,
    /// `PCTL_NO_PROGRESS` is unset and `TERM` is not `dumb` (see [`visible`]); otherwise this is
    /// the same as [`Progress::hidden`].
    pub fn new(total: u64, what: &str) -> Progress {
        let term = std::env::var("TERM").ok();
        let show = visible(
            std::io::stderr().is_terminal(),
            total,
            std::env::var_os(NO_PROGRESS_ENV).is_some()
                || QUIET.load(std::sync::atomic::Ordering::Relaxed),
            term.as_deref(),
        );
        if !show {
            return Progress::hidden();
        }
        // The template is a constant, covered by a test; the fallback only guards against a
        // future indicatif rejecting it.
        let style = ProgressStyle::with_template(TEMPLATE)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars(BAR_CHARS);
        let bar = ProgressBar::with_draw_target(
            Some(total),
            // stderr only, at most REFRESH_HZ draws a second. indicatif also hides this target
            // by itself when stderr is not a terminal.
            ProgressDrawTarget::stderr_with_hz(REFRESH_HZ),
        )
        .with_style(style)
        .with_message(what.to_owned())
        // Dropping the bar without `finish` (an error ends the run early) clears it as well.
        .with_finish(ProgressFinish::AndClear);
        bar.enable_steady_tick(TICK);
        Progress { bar: Some(bar) }
    }

    /// A reporter that never draws anything.
    pub fn hidden() -> Progress {
        Progress { bar: None }
    }

    /// Whether a bar is being drawn.
    pub fn is_visible(&self) -> bool {
        self.bar.is_some()
    }

    /// Counts `n` more items done. Cheap and thread-safe: an atomic add, redrawing at most
    /// [`REFRESH_HZ`] times a second.
    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Replaces the short text shown before the bar (e.g. the current stage).
    pub fn set_message(&self, msg: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(Cow::Owned(msg.to_owned()));
        }
    }

    /// Runs `f` with the bar hidden, then redraws it: for writing other lines to stderr (a
    /// warning, a diagnostic) without tearing the bar. Without a bar, just runs `f`.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Ends the bar and erases it, so the summary line printed next is all that remains.
    /// Calling it again, or on a hidden reporter, does nothing.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            if !bar.is_finished() {
                bar.finish_and_clear();
            }
        }
    }
}

/// The decision behind [`Progress::new`], kept pure so it can be tested without a terminal:
/// show a bar only if stderr `is_tty`, the run has at least [`MIN_ITEMS`] items, the user did
/// not set `PCTL_NO_PROGRESS` (`env_no_progress`), and `TERM` (`term`, `None` when unset) is
/// not `dumb`.
pub fn visible(is_tty: bool, total: u64, env_no_progress: bool, term: Option<&str>) -> bool {
    is_tty && total >= MIN_ITEMS && !env_no_progress && term != Some("dumb")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_on_a_terminal_for_a_long_run() {
        assert!(visible(true, MIN_ITEMS, false, Some("xterm-256color")));
        assert!(visible(true, 10_000, false, Some("xterm")));
        // TERM unset (e.g. Windows consoles) is not a reason to hide.
        assert!(visible(true, 10_000, false, None));
    }

    #[test]
    fn hidden_when_stderr_is_not_a_terminal() {
        assert!(!visible(false, 10_000, false, Some("xterm")));
        assert!(!visible(false, 10_000, false, None));
    }

    #[test]
    fn hidden_for_small_runs() {
        assert!(!visible(true, 0, false, Some("xterm")));
        assert!(!visible(true, MIN_ITEMS - 1, false, Some("xterm")));
    }

    #[test]
    fn hidden_when_the_user_opts_out() {
        assert!(!visible(true, 10_000, true, Some("xterm")));
    }

    #[test]
    fn hidden_on_a_dumb_terminal() {
        assert!(!visible(true, 10_000, false, Some("dumb")));
    }

    #[test]
    fn template_parses() {
        assert!(ProgressStyle::with_template(TEMPLATE).is_ok());
    }

    #[test]
    fn hidden_progress_is_a_no_op() {
        // Below MIN_ITEMS, so hidden whatever fd 2 is (under `cargo test` in a terminal, stderr
        // can still be a tty: output capture does not change the file descriptor).
        for p in [
            Progress::hidden(),
            Progress::new(MIN_ITEMS - 1, "small"),
            Progress::default(),
        ] {
            assert!(!p.is_visible());
            p.set_message("step");
            p.inc(1);
            p.inc(1_000);
            assert_eq!(p.suspend(|| 7), 7);
            p.finish();
            p.finish();
        }
    }

    #[test]
    fn hidden_progress_is_shared_across_threads() {
        let p = Progress::hidden();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| (0..100).for_each(|_| p.inc(1)));
            }
        });
        p.finish();
    }
}
