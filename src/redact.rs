//! Secrets out of everything pctl shows: the credentials of a URL (the deploy repository's, an
//! application repository's `origin`) and the token of PCTL_GIT_TOKEN. One place decides what a
//! URL may show; publish, diff, metrics, render (records, headers, catalog links) and `new` use it.
//!
//! A URL is read by the WHATWG parser (the `url` crate, which git2 links already): its userinfo
//! is dropped, for every scheme. The standard ends the authority at the first `/`, `?` or `#`, so
//! a careless password holding one of them (`https://user:s3/cr3t@host/x.git`) leaves its tail
//! in the path, or fails to parse. Secrecy wins over the standard there: whenever the parsed
//! remainder still holds an `@`, everything before the last `@` is taken for userinfo. (An `@`
//! in a deploy repository's path is rarer than a careless password, and the cost of misreading
//! one is a wrong host in a message, not a leaked password.)

use percent_encoding::percent_decode_str;
use url::Url;

/// What shows in place of a secret.
pub const MASK: &str = "***";

/// `scheme://rest` when `raw` starts with a syntactically valid scheme (RFC 3986: a letter, then
/// letters, digits, `+`, `-` or `.`).
fn scheme_of(raw: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = raw.split_once("://")?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some((scheme, rest))
}

/// `[user@]host:path`, git's scp-like syntax: no scheme, and a `:` before any `/` (but not a
/// drive letter, `C:\x` or `C:/x`).
fn is_scp_like(raw: &str) -> bool {
    match raw.find(':') {
        Some(colon) => {
            let before_slash = raw.find('/').is_none_or(|s| colon < s);
            before_slash && colon > 1 && scheme_of(raw).is_none()
        }
        None => false,
    }
}

/// The parts of a URL with userinfo: (userinfo as written, what follows it). For a scheme URL,
/// the text after `://`; for an scp-like one, the whole.
fn split_userinfo(raw: &str) -> Option<(&str, &str)> {
    if let Some((_, rest)) = scheme_of(raw) {
        let standard = Url::parse(raw)
            .ok()
            .filter(|u| !u[url::Position::AfterPort..].contains('@'));
        return match standard {
            // The parser's reading: userinfo ends at the authority's last `@`.
            Some(u) if u.username().is_empty() && u.password().is_none() => None,
            Some(_) => {
                let authority = rest
                    .find(['/', '?', '#', '\\'])
                    .map_or(rest, |end| &rest[..end]);
                match authority.rfind('@') {
                    Some(at) => Some((&rest[..at], &rest[at + 1..])),
                    None => rest.rsplit_once('@'),
                }
            }
            // Unparseable, or an `@` beyond the authority: the last `@` ends the userinfo.
            None => rest.rsplit_once('@'),
        };
    }
    if is_scp_like(raw) {
        // The last `@` followed by `host:`: `git@host:org/x@2.git` keeps its path.
        let mut end = raw.len();
        while let Some(at) = raw[..end].rfind('@') {
            if raw[at + 1..].contains(':') {
                return Some((&raw[..at], &raw[at + 1..]));
            }
            end = at;
        }
    }
    None
}

/// `raw` as it may be shown: without userinfo (`https://user:token@host/x` -> `https://host/x`).
/// A scheme URL comes out as the parser writes it (a bare host gains its `/`); an scp-like one
/// keeps a plain login name (`git@github.com:org/x.git`; a `user:password@` is dropped); a
/// local path is left alone.
pub fn url(raw: &str) -> String {
    if let Some((scheme, rest)) = scheme_of(raw) {
        let tail = split_userinfo(raw).map_or(rest, |(_, tail)| tail);
        let cut = format!("{scheme}://{tail}");
        return match Url::parse(&cut) {
            Ok(mut u) => {
                let _ = u.set_password(None);
                let _ = u.set_username("");
                u.into()
            }
            Err(_) => cut,
        };
    }
    match split_userinfo(raw) {
        // A login name (`git@`) is not a secret; a `user:password@` is.
        Some((user, tail)) if user.contains(':') => tail.to_string(),
        Some(_) | None => raw.to_string(),
    }
}

/// The user name and password written in a URL, percent-decoded: (user, password).
pub fn credentials(raw: &str) -> Option<(String, Option<String>)> {
    scheme_of(raw)?;
    let (userinfo, _) = split_userinfo(raw)?;
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    Some(match userinfo.split_once(':') {
        Some((user, password)) => (decode(user), Some(decode(password))),
        None => (decode(userinfo), None),
    })
}

/// Everything secret a message about one remote could contain, and how to take it out.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// (the URL as given, as shown)
    url: Option<(String, String)>,
    /// Longest first, so that a secret containing another is replaced whole.
    words: Vec<String>,
}

/// Secrets shorter than this are not looked for inside messages (a one-letter password would
/// mask every word); the URL that holds them is still replaced whole.
const MIN_SECRET: usize = 4;

impl Secrets {
    /// The secrets of `url` (its userinfo: a password, or a user name that is the token) and of
    /// `token` (PCTL_GIT_TOKEN).
    pub fn new(url: &str, token: Option<&str>) -> Secrets {
        let mut words = Vec::new();
        if let (Some((userinfo, _)), Some((user, password))) =
            (split_userinfo(url), credentials(url))
        {
            words.push(userinfo.to_string());
            let secret = password.unwrap_or(user);
            let raw_secret = userinfo.split_once(':').map_or(userinfo, |(_, p)| p);
            for s in [secret.as_str(), raw_secret] {
                words.push(s.to_string());
                // A password that holds `/`, `:` or `@` reaches messages in pieces when a
                // parser cut it there.
                words.extend(s.split(['/', '?', '#', '\\', '@', ':']).map(str::to_string));
            }
        }
        words.extend(token.map(str::to_string));
        words.retain(|w| w.chars().count() >= MIN_SECRET);
        words.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        words.dedup();
        Secrets {
            url: Some((url.to_string(), self::url(url))),
            words,
        }
    }

    /// `msg` with the URL shown redacted and every secret replaced by `***`.
    pub fn scrub(&self, msg: &str) -> String {
        let mut m = match &self.url {
            Some((raw, shown)) if !raw.is_empty() => msg.replace(raw, shown),
            _ => msg.to_string(),
        };
        for w in &self.words {
            m = m.replace(w, MASK);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn shows(raw: &str, shown: &str) {
        assert_eq!(url(raw), shown, "{raw}");
    }

    #[test]
    fn userinfo_leaves_every_scheme() {
        shows(
            "https://x-access-token:ghp_secret@github.com/acme/a.git",
            "https://github.com/acme/a.git",
        );
        shows(
            "https://ghp_token@github.com/acme/a",
            "https://github.com/acme/a",
        );
        shows("https://github.com/acme/a", "https://github.com/acme/a");
        shows(
            "ssh://git@github.com/acme/a.git",
            "ssh://github.com/acme/a.git",
        );
        shows(
            "git://user:pw@127.0.0.1:9418/deploy.git",
            "git://127.0.0.1:9418/deploy.git",
        );
        shows("http://u:p@host:8080/x?y=1#z", "http://host:8080/x?y=1#z");
        shows("file:///srv/git/deploy.git", "file:///srv/git/deploy.git");
        shows("https://host", "https://host/");
    }

    #[test]
    fn tricky_passwords() {
        // `/` in the password: the standard reads host `user`, port `s3` (invalid).
        shows(
            "https://user:s3/cr3t@example.com/acme/app.git",
            "https://example.com/acme/app.git",
        );
        // `/` in a password-less token: the standard reads host `tok`, path `/en@host/x`.
        shows("https://tok/en@host/x", "https://host/x");
        shows("https://u:p@ss@host/x", "https://host/x");
        shows("https://u:p:a:ss@host/x", "https://host/x");
        shows("https://u:p%40ss%2Fw@host/x", "https://host/x");
        shows("https://u:p?q#r@host/x.git", "https://host/x.git");
        shows("https://u:p\\w@host/x", "https://host/x");
        shows("https://u:pw@[::1]:8443/x.git", "https://[::1]:8443/x.git");
        shows("https://[2001:db8::1]/x.git", "https://[2001:db8::1]/x.git");
        shows("https://u:pw@host:443/x", "https://host/x");
        // An `@` the parser put in the path is taken for the end of a userinfo.
        shows("https://host/x@y/z", "https://y/z");
        for raw in [
            "https://user:s3/cr3t@example.com/acme/app.git",
            "https://u:s3cr3t@[::1]:1/x",
            "https://u:a%2Fs3cr3t@h/x",
            "https://s3cr3t@h/x",
        ] {
            let shown = url(raw);
            assert!(
                !shown.contains("cr3t") && !shown.contains('@'),
                "{raw} -> {shown}"
            );
        }
    }

    #[test]
    fn scp_like_and_paths() {
        shows("git@github.com:acme/a.git", "git@github.com:acme/a.git");
        shows("git@github.com:acme/a@2.git", "git@github.com:acme/a@2.git");
        shows(
            "deploy:s3cr3t@github.com:acme/a.git",
            "github.com:acme/a.git",
        );
        shows("github.com:acme/a.git", "github.com:acme/a.git");
        shows("/srv/git/deploy@2.git", "/srv/git/deploy@2.git");
        shows("./deploy.git", "./deploy.git");
        shows("C:/repos/deploy.git", "C:/repos/deploy.git");
        shows("", "");
    }

    #[test]
    fn credentials_are_decoded() {
        assert_eq!(
            credentials("https://us%20er:p%40ss%2Fw@host/x"),
            Some(("us er".into(), Some("p@ss/w".into())))
        );
        assert_eq!(
            credentials("https://tok@host/x"),
            Some(("tok".into(), None))
        );
        assert_eq!(credentials("https://host/x"), None);
        assert_eq!(credentials("git@github.com:a/b"), None);
    }

    #[test]
    fn messages_lose_every_secret() {
        let raw = "https://user:s3/cr3t@example.com/acme/app.git";
        let s = Secrets::new(raw, Some("TOKEN123"));
        let msg = format!(
            "cannot fetch {raw}: failed to resolve 'cr3t@example.com' (user:s3) using TOKEN123"
        );
        let m = s.scrub(&msg);
        assert!(!m.contains("cr3t") && !m.contains("TOKEN123"), "{m}");
        assert!(m.contains("https://example.com/acme/app.git"), "{m}");

        let s = Secrets::new("https://u:p%40ss%2Fword@h/x", None);
        let m = s.scrub("auth as u with p@ss/word and p%40ss%2Fword failed");
        assert!(!m.contains("p@ss") && !m.contains("ss%2Fword"), "{m}");
        // A user name next to a password is not a secret; a lone one may be the token.
        assert!(m.contains(" u "), "{m}");
        let s = Secrets::new("https://ghp_abcdef@github.com/x", None);
        assert_eq!(s.scrub("denied for ghp_abcdef"), "denied for ***");
        // Short secrets mask no words; the URL itself is still replaced.
        let s = Secrets::new("https://u:pw@h/x", None);
        assert_eq!(s.scrub("pw at https://u:pw@h/x"), "pw at https://h/x");
    }
}
