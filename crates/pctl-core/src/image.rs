//! Image references: `repository[:tag][@sha256:digest]` (the schema checks the syntax).

/// An image reference split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image<'a> {
    pub repository: &'a str,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

impl<'a> Image<'a> {
    pub fn parse(s: &'a str) -> Image<'a> {
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(d)),
            None => (s, None),
        };
        // A `:` after the last `/` starts the tag (before it, it is a registry port).
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match rest[slash..].find(':') {
            Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
            None => (rest, None),
        };
        Image {
            repository,
            tag,
            digest,
        }
    }
    /// Whether the reference names its version itself (then `--image-tag` does not apply).
    pub fn pinned(&self) -> bool {
        self.tag.is_some() || self.digest.is_some()
    }
    /// The version as a tag-like text: the tag, else `sha256-<first 12 hex>` of the digest.
    pub fn version(&self) -> Option<String> {
        self.tag.map(str::to_string).or_else(|| {
            self.digest.map(|d| {
                let hex = d.strip_prefix("sha256:").unwrap_or(d);
                format!("sha256-{}", &hex[..hex.len().min(12)])
            })
        })
    }
}

/// Whether an image (any form) comes from `registry` (a prefix of repositories).
pub fn in_registry(image: &str, registry: &str) -> bool {
    let repo = Image::parse(image).repository;
    let r = registry.trim_end_matches('/');
    repo == r || repo.starts_with(&format!("{r}/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_of_a_reference() {
        let i = Image::parse("registry:5000/team/app");
        assert_eq!(
            (i.repository, i.tag, i.digest),
            ("registry:5000/team/app", None, None)
        );
        assert!(!i.pinned());
        let i = Image::parse("docker.io/library/redis:alpine@sha256:abcdef0123456789");
        assert_eq!(i.repository, "docker.io/library/redis");
        assert_eq!(i.tag, Some("alpine"));
        assert_eq!(i.version().unwrap(), "alpine");
        let i = Image::parse("ghcr.io/a/b@sha256:0123456789abcdef0123");
        assert_eq!(i.version().unwrap(), "sha256-0123456789ab");
        assert!(in_registry(
            "docker.io/library/redis:alpine",
            "docker.io/library/redis"
        ));
        assert!(in_registry("ghcr.io/acme/x:v1", "ghcr.io/acme"));
        assert!(!in_registry("ghcr.io/acmex/x", "ghcr.io/acme"));
    }
}
