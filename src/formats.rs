//! `--format` per subcommand: each accepts only the formats that mean something for it, so
//! `pctl validate --format mermaid` is a usage error (exit 2) rather than a silent fallback.
//! Every value maps onto the one [`Format`] the renderers know.

use crate::report::Format;

/// Whether pctl runs inside GitHub Actions, where `github` is the default format of the
/// commands that have it.
pub fn in_github_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true")
}

macro_rules! formats {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
        pub enum $name {
            $($(#[$vm])* $v),+
        }
        impl From<$name> for Format {
            fn from(f: $name) -> Format {
                match f {
                    $($name::$v => Format::$v),+
                }
            }
        }
    };
}

formats!(
    /// `validate` and `render`.
    CheckFormat {
        /// Source snippets with carets, for people
        Human,
        /// One JSON document on stdout: `diagnostics` and `summary`
        Json,
        /// GitHub Actions annotations plus the human text (default when GITHUB_ACTIONS=true)
        Github,
    }
);

formats!(
    /// `diff` and `publish`.
    ReviewFormat {
        /// A unified diff (diff) and a summary per service and environment
        Human,
        /// The complete plan: every file with action, owner, environment, hashes, risks
        Json,
        /// Annotations, the review appended to $GITHUB_STEP_SUMMARY, step outputs (default when GITHUB_ACTIONS=true)
        Github,
        /// The pull-request summary, risky items first (--split adds every diff)
        Markdown,
    }
);

formats!(
    /// `cost`.
    CostFormat {
        /// A table
        #[value(alias = "table")]
        Human,
        /// The rows and every cost line
        Json,
        /// A markdown table
        Markdown,
        /// The table plus annotations for warnings (default when GITHUB_ACTIONS=true)
        Github,
    }
);

formats!(
    /// `graph`.
    GraphFormat {
        /// A Mermaid flowchart
        Mermaid,
        /// Graphviz dot
        Dot,
        /// Nodes, edges, unknown dependencies and cycles
        Json,
    }
);

formats!(
    /// `catalog`, `new`.
    TextFormat {
        /// For people
        Human,
        /// One JSON document on stdout
        Json,
    }
);

formats!(
    /// `metrics`.
    MetricsFormat {
        /// A table
        #[value(alias = "table")]
        Human,
        /// A weekly report in markdown
        Markdown,
        /// The `pctl.dev/metrics/v1` document
        Json,
    }
);

/// The format of a run: the one given, else `github` inside GitHub Actions for the commands that
/// have it, else `fallback`.
pub fn choose<F: Into<Format>>(given: Option<F>, has_github: bool, fallback: Format) -> Format {
    match given {
        Some(f) => f.into(),
        None if has_github && in_github_actions() => Format::Github,
        None => fallback,
    }
}
