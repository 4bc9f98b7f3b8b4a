//! Content hashes: the one SHA-256 helper of the workspace (records, cache keys, fingerprints,
//! stable names).

use sha2::{Digest, Sha256};
use std::fmt::Write;

/// Lower-case hex SHA-256 of bytes.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Lower-case hex SHA-256 of a text.
pub fn sha256(text: &str) -> String {
    sha256_bytes(text.as_bytes())
}

/// Cloud resource names have length limits (ElastiCache: 40 characters). Longer names are cut
/// and given a hash suffix, so they stay unique and stable.
pub fn cloud_name(name: &str) -> String {
    const MAX: usize = 40;
    if name.len() <= MAX {
        return name.to_string();
    }
    let hash = sha256(name);
    format!("{}-{}", name[..MAX - 9].trim_end_matches('-'), &hash[..8])
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_vector() {
        assert_eq!(
            super::sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn cloud_names_fit_and_stay_unique() {
        assert_eq!(super::cloud_name("api-dev-db"), "api-dev-db");
        let a = super::cloud_name("a-very-long-service-name-for-payments-prod-primary");
        let b = super::cloud_name("a-very-long-service-name-for-payments-prod-replica");
        assert!(a.len() <= 40 && b.len() <= 40);
        assert_ne!(a, b);
    }
}
