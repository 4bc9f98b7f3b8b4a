//! Questions on a terminal (stderr), answers from standard input.

use pctl_core::diag::did_you_mean;
use std::io::{BufRead, Write};

/// Questions on a terminal: prompts go to `out` (stderr), answers come from `input`.
pub struct Prompter<R, W> {
    pub input: R,
    pub out: W,
}

impl<R: BufRead, W: Write> Prompter<R, W> {
    fn line(&mut self, prompt: &str) -> std::io::Result<String> {
        write!(self.out, "{prompt}")?;
        self.out.flush()?;
        let mut s = String::new();
        if self.input.read_line(&mut s)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the input ended",
            ));
        }
        Ok(s.trim().to_string())
    }

    /// Asks until `problem` finds nothing wrong; an empty answer takes the default.
    pub(super) fn ask_valid(
        &mut self,
        question: &str,
        default: Option<&str>,
        problem: impl Fn(&str) -> Option<String>,
    ) -> std::io::Result<String> {
        let prompt = match default {
            Some(d) => format!("{question} [{d}]: "),
            None => format!("{question}: "),
        };
        loop {
            let s = self.line(&prompt)?;
            let s = if s.is_empty() {
                match default {
                    Some(d) => d.to_string(),
                    None => continue,
                }
            } else {
                s
            };
            match problem(&s) {
                None => return Ok(s),
                Some(why) => writeln!(self.out, "  {why}")?,
            }
        }
    }

    /// A numbered list; the answer is a number or an item's first word. Returns the index.
    pub(super) fn choose(
        &mut self,
        title: &str,
        items: &[String],
        default: Option<usize>,
    ) -> std::io::Result<usize> {
        writeln!(self.out, "{title}:")?;
        for (i, item) in items.iter().enumerate() {
            writeln!(self.out, "  {}) {item}", i + 1)?;
        }
        let prompt = match default {
            Some(d) => format!("Choose 1-{} [{}]: ", items.len(), d + 1),
            None => format!("Choose 1-{}: ", items.len()),
        };
        loop {
            let s = self.line(&prompt)?;
            if s.is_empty() {
                if let Some(d) = default {
                    return Ok(d);
                }
                continue;
            }
            if let Ok(n) = s.parse::<usize>()
                && (1..=items.len()).contains(&n)
            {
                return Ok(n - 1);
            }
            let words: Vec<&str> = items
                .iter()
                .map(|i| i.split_whitespace().next().unwrap_or(""))
                .collect();
            if let Some(i) = words.iter().position(|w| w.eq_ignore_ascii_case(&s)) {
                return Ok(i);
            }
            match did_you_mean(&s, words.iter().copied()) {
                Some(x) => writeln!(self.out, "  `{s}` is not on the list; did you mean `{x}`?")?,
                None => writeln!(self.out, "  answer with a number from 1 to {}", items.len())?,
            }
        }
    }

    pub(super) fn confirm(&mut self, question: &str, default: bool) -> std::io::Result<bool> {
        let prompt = format!("{question} {} ", if default { "[Y/n]" } else { "[y/N]" });
        loop {
            let s = self.line(&prompt)?.to_ascii_lowercase();
            match s.as_str() {
                "" => return Ok(default),
                "y" | "yes" => return Ok(true),
                "n" | "no" => return Ok(false),
                _ => writeln!(self.out, "  answer y or n")?,
            }
        }
    }
}
