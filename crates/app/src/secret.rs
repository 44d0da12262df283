//! Random secrets (session and API tokens, invitation links, recovery codes) and the hashes
//! under which they are stored: the database never holds a usable token.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::Engine;
use sha2::{Digest, Sha256};

/// A new random token: 32 bytes, URL-safe base64 without padding.
pub fn new_token() -> String {
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Random bytes.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    OsRng.fill_bytes(&mut b);
    b
}

/// A recovery code a person can type: ten characters from an alphabet without look-alikes,
/// shown as `xxxxx-xxxxx`.
pub fn new_recovery_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let bytes = random_bytes::<10>();
    let s: String = bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect();
    format!("{}-{}", &s[..5], &s[5..])
}

/// The canonical form of a typed recovery code (case, spaces and hyphens ignored).
pub fn normalise_recovery_code(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token();
        assert_ne!(a, new_token());
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }

    #[test]
    fn recovery_codes_are_typed_forgivingly() {
        let c = new_recovery_code();
        assert_eq!(c.len(), 11);
        assert_eq!(normalise_recovery_code(&c.to_uppercase().replace('-', " ")), c.replace('-', ""));
    }
}
