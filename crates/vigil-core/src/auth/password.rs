//! Passwords: argon2id hashing with OWASP's parameters, the password policy, constant-time
//! verification, a dummy verification for unknown users, generated passwords.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use super::secret::{Secret, random_bytes};

/// OWASP's first argon2id recommendation (Password Storage Cheat Sheet): 19 MiB, 2 passes,
/// one lane.
pub const OWASP_MEMORY_KIB: u32 = 19 * 1024;
/// Passes.
pub const OWASP_ITERATIONS: u32 = 2;
/// Lanes.
pub const OWASP_LANES: u32 = 1;

/// Longest password accepted (argon2 takes any length; this caps the work an attacker can
/// make one request cost and the size of a form field).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Common passwords refused whatever the length rule says (a short list of the most used ones
/// that reach 8+ characters; the length rule takes care of the rest). Compared lowercased.
const DENY_LIST: &[&str] = &[
    "password",
    "password1",
    "password12",
    "password123",
    "password1234",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "12345678",
    "123456789",
    "1234567890",
    "12345678910",
    "123123123",
    "11111111",
    "111111111",
    "00000000",
    "87654321",
    "qwertyuiop",
    "qwerty123",
    "qwerty1234",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "1qaz2wsx",
    "zaq12wsx",
    "asdfghjkl",
    "iloveyou",
    "iloveyou1",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "superman",
    "starwars",
    "trustno1",
    "letmein1",
    "welcome1",
    "welcome123",
    "changeme",
    "changeme123",
    "administrator",
    "admin123",
    "admin1234",
    "adminadmin",
    "rootroot",
    "abc12345",
    "abcd1234",
    "aa123456",
    "qazwsxedc",
    "q1w2e3r4",
    "monkey123",
    "dragon123",
    "master123",
    "secret123",
    "vigil123",
    "vigilvigil",
    "siem1234",
];

/// Why a password is refused by the policy. The messages never contain the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    /// Shorter than the minimum (counted in characters).
    #[error("the password must have at least {min} characters")]
    TooShort {
        /// The minimum.
        min: usize,
    },
    /// Longer than [`MAX_PASSWORD_LEN`] bytes.
    #[error("the password must have at most {max} bytes")]
    TooLong {
        /// The maximum.
        max: usize,
    },
    /// Equal to the user name (or contains it, or is contained in it, ignoring case).
    #[error("the password must not contain the user name")]
    ContainsUsername,
    /// On the list of common passwords.
    #[error("the password is on the list of common passwords")]
    Common,
    /// Only one distinct character.
    #[error("the password must not repeat one character")]
    Repeated,
}

/// The password policy: a minimum length (NIST SP 800-63B: length over composition rules),
/// not the user name, not a common password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Minimum number of characters (default 12, at least 8).
    pub min_length: usize,
}

impl Default for PasswordPolicy {
    fn default() -> PasswordPolicy {
        PasswordPolicy { min_length: 12 }
    }
}

impl PasswordPolicy {
    /// Checks a new password of `username`.
    pub fn check(&self, username: &str, password: &str) -> Result<(), PolicyViolation> {
        if password.len() > MAX_PASSWORD_LEN {
            return Err(PolicyViolation::TooLong {
                max: MAX_PASSWORD_LEN,
            });
        }
        if password.chars().count() < self.min_length {
            return Err(PolicyViolation::TooShort {
                min: self.min_length,
            });
        }
        let lower = password.to_lowercase();
        let user = username.trim().to_lowercase();
        if !user.is_empty()
            && (lower.contains(&user) || (lower.len() >= 4 && user.contains(&lower)))
        {
            return Err(PolicyViolation::ContainsUsername);
        }
        if DENY_LIST.contains(&lower.as_str()) {
            return Err(PolicyViolation::Common);
        }
        let mut chars = password.chars();
        if let Some(first) = chars.next()
            && chars.all(|c| c == first)
        {
            return Err(PolicyViolation::Repeated);
        }
        Ok(())
    }
}

/// Hashes and verifies passwords with argon2id (cheap to clone).
#[derive(Clone)]
pub struct Passwords {
    argon: Argon2<'static>,
    /// The hash verified for unknown users, so that a login for a missing user costs as much
    /// as one for an existing user.
    dummy: String,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", self.argon.params())
            .finish_non_exhaustive()
    }
}

/// Hashing failed (bad parameters or no OS randomness); never carries the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(pub String);

impl Passwords {
    /// argon2id with OWASP's parameters.
    pub fn owasp() -> Result<Passwords, HashError> {
        Self::with_params(OWASP_MEMORY_KIB, OWASP_ITERATIONS, OWASP_LANES)
    }

    /// argon2id with explicit parameters (memory in KiB). Verification always uses the
    /// parameters recorded in the stored hash; these apply to new hashes.
    pub fn with_params(
        memory_kib: u32,
        iterations: u32,
        lanes: u32,
    ) -> Result<Passwords, HashError> {
        let params = Params::new(memory_kib, iterations, lanes, None)
            .map_err(|e| HashError(e.to_string()))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut me = Passwords {
            argon,
            dummy: String::new(),
        };
        let filler = Secret::new(hex(&random_bytes::<16>().map_err(HashError)?));
        me.dummy = me.hash(&filler)?;
        Ok(me)
    }

    /// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) of a password.
    pub fn hash(&self, password: &Secret) -> Result<String, HashError> {
        self.argon
            .hash_password(password.expose().as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| HashError(e.to_string()))
    }

    /// Whether `password` matches the PHC string (argon2 compares in constant time). A
    /// malformed stored hash never matches.
    pub fn verify(&self, password: &Secret, phc: &str) -> bool {
        if password.expose().len() > MAX_PASSWORD_LEN {
            // Still spend the time, so the length does not show.
            let _ = self.verify_inner(password.expose().as_bytes(), &self.dummy);
            return false;
        }
        self.verify_inner(password.expose().as_bytes(), phc)
    }

    /// Verifies against the dummy hash and returns false: the cost of a failed login for a
    /// user that does not exist (no user enumeration by timing).
    pub fn verify_dummy(&self, password: &Secret) -> bool {
        let bytes = password.expose().as_bytes();
        let bytes = &bytes[..bytes.len().min(MAX_PASSWORD_LEN)];
        let _ = self.verify_inner(bytes, &self.dummy);
        false
    }

    /// Whether a stored hash was made with other parameters than the current ones (rehash
    /// after a successful login).
    pub fn needs_rehash(&self, phc: &str) -> bool {
        match PasswordHash::new(phc) {
            Ok(h) => {
                let p = self.argon.params();
                h.algorithm.as_str() != "argon2id"
                    || Params::try_from(&h).map_or(true, |hp| {
                        hp.m_cost() != p.m_cost()
                            || hp.t_cost() != p.t_cost()
                            || hp.p_cost() != p.p_cost()
                    })
            }
            Err(_) => true,
        }
    }

    fn verify_inner(&self, password: &[u8], phc: &str) -> bool {
        match PasswordHash::new(phc) {
            Ok(h) => self.argon.verify_password(password, &h).is_ok(),
            Err(_) => false,
        }
    }
}

/// A generated password: 20 characters from a 56-character alphabet without look-alikes
/// (about 116 bits), for the first administrator and password resets.
pub fn generate_password() -> Result<Secret, String> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut out = String::with_capacity(20);
    while out.len() < 20 {
        for b in random_bytes::<32>()? {
            // Rejection sampling: no modulo bias (256 - 256 % 56 = 224).
            if (b as usize) < 224 && out.len() < 20 {
                out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    Ok(Secret::new(out))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Passwords {
        // Small parameters keep unit tests fast; the algorithm and the code path are the same.
        Passwords::with_params(64, 1, 1).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let p = cheap();
        let pw = Secret::new("correct horse battery".into());
        let h = p.hash(&pw).unwrap_or_default();
        assert!(h.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{h}");
        assert!(p.verify(&pw, &h));
        assert!(!p.verify(&Secret::new("correct horse batterY".into()), &h));
        assert!(!p.verify(&pw, "not a hash"));
        assert!(!p.verify_dummy(&pw));
        // Salted: the same password hashes differently.
        assert_ne!(h, p.hash(&pw).unwrap_or_default());
    }

    #[test]
    fn owasp_parameters_are_the_default() {
        let p = Passwords::owasp().unwrap_or_else(|e| panic!("{e}"));
        let h = p.hash(&Secret::new("x".repeat(12))).unwrap_or_default();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(!p.needs_rehash(&h));
        assert!(cheap().needs_rehash(&h));
        assert!(p.needs_rehash("garbage"));
    }

    #[test]
    fn policy_rules() {
        let pol = PasswordPolicy::default();
        assert_eq!(
            pol.check("alice", "short"),
            Err(PolicyViolation::TooShort { min: 12 })
        );
        assert_eq!(
            pol.check("alice", "my-Alice-is-long"),
            Err(PolicyViolation::ContainsUsername)
        );
        assert_eq!(
            pol.check("administrator", "administrator"),
            Err(PolicyViolation::ContainsUsername)
        );
        let eight = PasswordPolicy { min_length: 8 };
        assert_eq!(
            eight.check("bob", "Password1"),
            Err(PolicyViolation::Common)
        );
        assert_eq!(
            eight.check("bob", "zzzzzzzzzz"),
            Err(PolicyViolation::Repeated)
        );
        assert_eq!(
            pol.check("bob", &"a".repeat(MAX_PASSWORD_LEN + 1)),
            Err(PolicyViolation::TooLong {
                max: MAX_PASSWORD_LEN
            })
        );
        assert_eq!(pol.check("bob", "tulip-orbit-canyon"), Ok(()));
        // Characters, not bytes.
        assert!(
            pol.check("bob", "éàüöñç").is_err(),
            "6 characters, 12 bytes"
        );
        assert_eq!(pol.check("bob", "éàüöñçøåßþð1"), Ok(()));
        // Messages never contain the password.
        let e = pol.check("bob", "sesame").err().map(|e| e.to_string());
        assert!(!e.unwrap_or_default().contains("sesame"));
    }

    #[test]
    fn generated_passwords_pass_the_policy() {
        for _ in 0..20 {
            let pw = generate_password().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(pw.expose().len(), 20);
            assert_eq!(
                PasswordPolicy::default().check("admin", pw.expose()),
                Ok(())
            );
        }
    }
}
