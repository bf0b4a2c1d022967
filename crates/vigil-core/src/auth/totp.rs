//! TOTP second factor (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps, ±1 step of clock
//! skew), through `totp-rs`. A code is accepted once: the step it matched is recorded per
//! user ([`crate::MetaStore::claim_totp_step`]) and a step not newer than the last accepted
//! one is refused.

use totp_rs::{Algorithm, Builder, Secret as TotpSecret, Totp};

use super::secret::{Secret, random_bytes};

/// A new TOTP secret: 160 random bits (RFC 4226's recommendation), base32 as authenticator
/// apps expect it.
pub fn generate_totp_secret() -> Result<Secret, String> {
    let bytes = random_bytes::<20>()?;
    Ok(Secret::new(TotpSecret::from(bytes.to_vec()).to_base32()))
}

fn totp(secret_b32: &Secret, account: &str, issuer: &str) -> Result<Totp, String> {
    let bytes = TotpSecret::try_from_base32(secret_b32.expose())
        .map_err(|_| "the TOTP secret is not valid base32".to_owned())?;
    // ':' separates issuer and account in the URI label: not allowed inside either.
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(bytes)
        .with_account_name(account.replace(':', "_"))
        .with_issuer(Some(issuer.replace(':', "_")))
        .build()
        .map_err(|e| format!("TOTP: {e}"))
}

/// The `otpauth://totp/...` URI an authenticator app enrolls from (a QR code of it). It
/// contains the secret: shown once to its owner during enrolment, never logged.
pub fn otpauth_uri(secret_b32: &Secret, account: &str, issuer: &str) -> Result<Secret, String> {
    totp(secret_b32, account, issuer)?
        .to_url()
        .map(Secret::new)
        .map_err(|e| format!("TOTP: {e}"))
}

/// The time step (`unix_seconds / 30`) whose code `code` is, within ±1 step of `now`, or
/// `None`. Codes are compared in constant time by `totp-rs`.
pub fn matching_step(secret_b32: &Secret, code: &str, now_unix: u64) -> Option<u64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    totp(secret_b32, "vigil", "Vigil")
        .ok()?
        .check(code, now_unix)
}

/// The code of a time (for tests and for showing the enrolment works).
pub fn code_at(secret_b32: &Secret, unix_seconds: u64) -> Result<String, String> {
    Ok(totp(secret_b32, "vigil", "Vigil")?
        .generate(unix_seconds)
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 secret "12345678901234567890", last 6 digits.
    #[test]
    fn rfc6238_vectors() {
        let secret = Secret::new(TotpSecret::from(b"12345678901234567890".to_vec()).to_base32());
        for (t, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(code_at(&secret, t).unwrap_or_default(), code, "t={t}");
        }
    }

    #[test]
    fn one_step_of_skew_and_nothing_more() {
        let s = generate_totp_secret().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.expose().len(), 32);
        let now = 1_700_000_000 - 1_700_000_000 % 30 + 10;
        let step = now / 30;
        let code = code_at(&s, now).unwrap_or_default();
        assert_eq!(matching_step(&s, &code, now), Some(step));
        assert_eq!(matching_step(&s, &code, now + 30), Some(step));
        assert_eq!(matching_step(&s, &code, now - 30), Some(step));
        assert_eq!(matching_step(&s, &code, now + 60), None);
        assert_eq!(matching_step(&s, "12345", now), None);
        assert_eq!(matching_step(&s, "abcdef", now), None);
        assert_eq!(
            matching_step(&Secret::from("not base32!"), &code, now),
            None
        );
    }

    #[test]
    fn uri_names_issuer_and_account() {
        let s = generate_totp_secret().unwrap_or_else(|e| panic!("{e}"));
        let uri = otpauth_uri(&s, "alice", "Vigil").unwrap_or_else(|e| panic!("{e}"));
        let u = uri.expose();
        assert!(u.starts_with("otpauth://totp/Vigil:alice?"), "{u}");
        assert!(u.contains(&format!("secret={}", s.expose())), "{u}");
        assert!(u.contains("issuer=Vigil"), "{u}");
        assert_eq!(format!("{uri:?}"), "<redacted>");
    }
}
