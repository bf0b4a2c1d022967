//! SNMPv3's User-based Security Model: keys from passphrases, message authentication and
//! privacy, over RustCrypto's hashes and ciphers.
//!
//! * Keys: a passphrase is stretched to 1 MiB and hashed (RFC 3414 A.2; the same with the
//!   SHA-2 hashes, RFC 7860), then *localized* to an engine: `H(Ku ‖ engineID ‖ Ku)`. The
//!   privacy key is derived with the authentication protocol's hash.
//! * Authentication: HMAC over the whole message with its MAC field zeroed, truncated to 12
//!   bytes (HMAC-MD5-96, HMAC-SHA-96) or to 16, 24, 32 and 48 bytes (HMAC-SHA-224 ... 512,
//!   RFC 7860). Compared in constant time.
//! * Privacy: CBC-DES (RFC 3414 8.1: the key's first 8 bytes, IV = the key's last 8 bytes
//!   XOR the salt) and AES-128-CFB (RFC 3826: the key's first 16 bytes, IV = engine boots ‖
//!   engine time ‖ salt).

use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit, KeyIvInit};
use hmac::{Mac, SimpleHmac};
use sha2::Digest;
use subtle::ConstantTimeEq;
use vigil_config::{SnmpAuthProtocol, SnmpPrivProtocol};

/// The bytes a passphrase is stretched to before hashing (RFC 3414 A.2).
const STRETCH: usize = 1_048_576;

fn digest<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
    let mut h = D::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().to_vec()
}

fn hash(p: SnmpAuthProtocol, parts: &[&[u8]]) -> Vec<u8> {
    match p {
        SnmpAuthProtocol::Md5 => digest::<md5::Md5>(parts),
        SnmpAuthProtocol::Sha => digest::<sha1::Sha1>(parts),
        SnmpAuthProtocol::Sha224 => digest::<sha2::Sha224>(parts),
        SnmpAuthProtocol::Sha256 => digest::<sha2::Sha256>(parts),
        SnmpAuthProtocol::Sha384 => digest::<sha2::Sha384>(parts),
        SnmpAuthProtocol::Sha512 => digest::<sha2::Sha512>(parts),
    }
}

/// The length of the MAC carried in `msgAuthenticationParameters`.
pub(crate) fn mac_len(p: SnmpAuthProtocol) -> usize {
    match p {
        SnmpAuthProtocol::Md5 | SnmpAuthProtocol::Sha => 12,
        SnmpAuthProtocol::Sha224 => 16,
        SnmpAuthProtocol::Sha256 => 24,
        SnmpAuthProtocol::Sha384 => 32,
        SnmpAuthProtocol::Sha512 => 48,
    }
}

/// `Ku`: the passphrase stretched to 1 MiB and hashed (RFC 3414 A.2.1/A.2.2, RFC 7860 9.3).
pub(crate) fn passphrase_key(p: SnmpAuthProtocol, passphrase: &[u8]) -> Vec<u8> {
    fn stretched<D: Digest>(pass: &[u8]) -> Vec<u8> {
        let mut h = D::new();
        if pass.is_empty() {
            return h.finalize().to_vec();
        }
        let mut chunk = [0u8; 64];
        let mut index = 0usize;
        let mut done = 0usize;
        while done < STRETCH {
            for c in &mut chunk {
                *c = pass[index % pass.len()];
                index += 1;
            }
            h.update(chunk);
            done += chunk.len();
        }
        h.finalize().to_vec()
    }
    match p {
        SnmpAuthProtocol::Md5 => stretched::<md5::Md5>(passphrase),
        SnmpAuthProtocol::Sha => stretched::<sha1::Sha1>(passphrase),
        SnmpAuthProtocol::Sha224 => stretched::<sha2::Sha224>(passphrase),
        SnmpAuthProtocol::Sha256 => stretched::<sha2::Sha256>(passphrase),
        SnmpAuthProtocol::Sha384 => stretched::<sha2::Sha384>(passphrase),
        SnmpAuthProtocol::Sha512 => stretched::<sha2::Sha512>(passphrase),
    }
}

/// `Kul`: `Ku` localized to `engine_id` (RFC 3414 2.6).
pub(crate) fn localize(p: SnmpAuthProtocol, ku: &[u8], engine_id: &[u8]) -> Vec<u8> {
    hash(p, &[ku, engine_id, ku])
}

fn hmac_with<D>(key: &[u8], msg: &[u8]) -> Vec<u8>
where
    D: Digest + hmac::digest::block_api::BlockSizeUser + Clone,
{
    match <SimpleHmac<D> as KeyInit>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        }
        // HMAC takes keys of any length; never reached
        Err(_) => Vec::new(),
    }
}

/// The truncated MAC of `msg` (the whole message, its MAC field zeroed) under `key`.
pub(crate) fn mac(p: SnmpAuthProtocol, key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut full = match p {
        SnmpAuthProtocol::Md5 => hmac_with::<md5::Md5>(key, msg),
        SnmpAuthProtocol::Sha => hmac_with::<sha1::Sha1>(key, msg),
        SnmpAuthProtocol::Sha224 => hmac_with::<sha2::Sha224>(key, msg),
        SnmpAuthProtocol::Sha256 => hmac_with::<sha2::Sha256>(key, msg),
        SnmpAuthProtocol::Sha384 => hmac_with::<sha2::Sha384>(key, msg),
        SnmpAuthProtocol::Sha512 => hmac_with::<sha2::Sha512>(key, msg),
    };
    full.truncate(mac_len(p));
    full
}

/// Whether `given` is the MAC of `msg` (constant time).
pub(crate) fn verify(p: SnmpAuthProtocol, key: &[u8], msg: &[u8], given: &[u8]) -> bool {
    let want = mac(p, key, msg);
    want.len() == given.len() && bool::from(want.ct_eq(given))
}

/// Whether a localized key is long enough for `privacy` (AES-128 needs 16 bytes, DES 16:
/// 8 of key and 8 of pre-IV); every supported hash gives at least 16.
fn priv_key(privacy: SnmpPrivProtocol, key: &[u8]) -> Option<&[u8]> {
    match privacy {
        SnmpPrivProtocol::Des | SnmpPrivProtocol::Aes => key.get(..16),
    }
}

fn aes_iv(boots: u32, time: u32, salt: &[u8]) -> Option<[u8; 16]> {
    let salt: [u8; 8] = salt.try_into().ok()?;
    let mut iv = [0u8; 16];
    iv[..4].copy_from_slice(&boots.to_be_bytes());
    iv[4..8].copy_from_slice(&time.to_be_bytes());
    iv[8..].copy_from_slice(&salt);
    Some(iv)
}

fn des_iv(key: &[u8], salt: &[u8]) -> Option<[u8; 8]> {
    let salt: [u8; 8] = salt.try_into().ok()?;
    let mut iv = [0u8; 8];
    for (i, b) in iv.iter_mut().enumerate() {
        *b = key[8 + i] ^ salt[i];
    }
    Some(iv)
}

/// Decrypts an encrypted scoped PDU; `None` when the salt or the length is wrong. (A wrong
/// key gives garbage, which then fails to parse.)
pub(crate) fn decrypt(
    privacy: SnmpPrivProtocol,
    key: &[u8],
    boots: u32,
    time: u32,
    salt: &[u8],
    data: &[u8],
) -> Option<Vec<u8>> {
    let key = priv_key(privacy, key)?;
    let mut buf = data.to_vec();
    match privacy {
        SnmpPrivProtocol::Aes => {
            let iv = aes_iv(boots, time, salt)?;
            cfb_mode::Decryptor::<aes::Aes128>::new_from_slices(key, &iv)
                .ok()?
                .decrypt(&mut buf);
        }
        SnmpPrivProtocol::Des => {
            if !buf.len().is_multiple_of(8) {
                return None;
            }
            let mut prev = des_iv(key, salt)?;
            let cipher = des::Des::new_from_slice(&key[..8]).ok()?;
            for chunk in buf.chunks_exact_mut(8) {
                let mut block = des::cipher::Block::<des::Des>::default();
                block.copy_from_slice(chunk);
                let next: [u8; 8] = prev;
                prev.copy_from_slice(chunk);
                cipher.decrypt_block(&mut block);
                for (i, b) in chunk.iter_mut().enumerate() {
                    *b = block[i] ^ next[i];
                }
            }
        }
    }
    Some(buf)
}

/// Encrypts a scoped PDU with `salt` (8 bytes; for DES the boots and a counter, for AES a
/// counter). DES pads with zeros to its block.
pub(crate) fn encrypt(
    privacy: SnmpPrivProtocol,
    key: &[u8],
    boots: u32,
    time: u32,
    salt: &[u8; 8],
    data: &[u8],
) -> Option<Vec<u8>> {
    let key = priv_key(privacy, key)?;
    let mut buf = data.to_vec();
    match privacy {
        SnmpPrivProtocol::Aes => {
            let iv = aes_iv(boots, time, salt)?;
            cfb_mode::Encryptor::<aes::Aes128>::new_from_slices(key, &iv)
                .ok()?
                .encrypt(&mut buf);
        }
        SnmpPrivProtocol::Des => {
            buf.resize(buf.len().div_ceil(8) * 8, 0);
            let mut prev = des_iv(key, salt)?;
            let cipher = des::Des::new_from_slice(&key[..8]).ok()?;
            for chunk in buf.chunks_exact_mut(8) {
                let mut block = des::cipher::Block::<des::Des>::default();
                for (i, b) in block.iter_mut().enumerate() {
                    *b = chunk[i] ^ prev[i];
                }
                cipher.encrypt_block(&mut block);
                chunk.copy_from_slice(&block);
                prev.copy_from_slice(chunk);
            }
        }
    }
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// RFC 3414 A.3.1 and A.3.2: "maplesyrup" localized to engine 000000000000000000000002.
    #[test]
    fn rfc3414_key_localization_vectors() {
        let engine = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let ku = passphrase_key(SnmpAuthProtocol::Md5, b"maplesyrup");
        assert_eq!(hex(&ku), "9faf3283884e92834ebc9847d8edd963");
        assert_eq!(
            hex(&localize(SnmpAuthProtocol::Md5, &ku, &engine)),
            "526f5eed9fcce26f8964c2930787d82b"
        );
        let ku = passphrase_key(SnmpAuthProtocol::Sha, b"maplesyrup");
        assert_eq!(hex(&ku), "9fb5cc0381497b3793528939ff788d5d79145211");
        assert_eq!(
            hex(&localize(SnmpAuthProtocol::Sha, &ku, &engine)),
            "6695febc9288e36282235fc7151f128497b38f3f"
        );
    }

    #[test]
    fn macs_have_their_truncated_lengths() {
        for (p, n) in [
            (SnmpAuthProtocol::Md5, 12),
            (SnmpAuthProtocol::Sha, 12),
            (SnmpAuthProtocol::Sha224, 16),
            (SnmpAuthProtocol::Sha256, 24),
            (SnmpAuthProtocol::Sha384, 32),
            (SnmpAuthProtocol::Sha512, 48),
        ] {
            let m = mac(p, b"0123456789abcdef", b"message");
            assert_eq!(m.len(), n);
            assert!(verify(p, b"0123456789abcdef", b"message", &m));
            assert!(!verify(p, b"0123456789abcdeX", b"message", &m));
        }
    }

    #[test]
    fn privacy_round_trips() {
        let key = [7u8; 20];
        let data = b"a scoped PDU of some length, not a multiple of eight".to_vec();
        for p in [SnmpPrivProtocol::Aes, SnmpPrivProtocol::Des] {
            let salt = [1, 2, 3, 4, 5, 6, 7, 8];
            let c = encrypt(p, &key, 3, 99, &salt, &data).unwrap_or_default();
            assert_ne!(c[..data.len()], data[..]);
            let d = decrypt(p, &key, 3, 99, &salt, &c).unwrap_or_default();
            assert_eq!(&d[..data.len()], &data[..], "{p:?}");
        }
        assert!(decrypt(SnmpPrivProtocol::Des, &key, 0, 0, &[0; 8], &[0; 7]).is_none());
        assert!(decrypt(SnmpPrivProtocol::Aes, &key, 0, 0, &[0; 4], &[0; 16]).is_none());
    }
}
