//! Public keys as nova checks them (`nova/crypto.py`): an OpenSSH public key
//! line whose blob parses for its algorithm, fingerprinted as the MD5 of the
//! blob in colon hex; an X.509 certificate fingerprinted as the SHA-1 of its
//! DER; and the RSA-2048 pair nova generates (PKCS#1 PEM private key,
//! `ssh-rsa ... Generated-by-Nova` public key).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest, Md5};
use sha1::Sha1;

/// Why a key was refused (nova's `InvalidKeypair` reasons).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidKey(pub &'static str);

/// Bytes of key text we parse at most (an RSA-16384 line is ~2.8 KiB).
pub const MAX_KEY_LEN: usize = 16 * 1024;

fn colon_hex(digest: &[u8]) -> String {
    digest
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A reader of the SSH wire format (RFC 4251 strings and mpints).
struct Wire<'a>(&'a [u8]);

impl<'a> Wire<'a> {
    fn string(&mut self) -> Option<&'a [u8]> {
        let len_bytes: [u8; 4] = self.0.get(..4)?.try_into().ok()?;
        let len = usize::try_from(u32::from_be_bytes(len_bytes)).ok()?;
        let rest = self.0.get(4..)?;
        let value = rest.get(..len)?;
        self.0 = rest.get(len..)?;
        Some(value)
    }

    /// A positive mpint (no leading zero byte unless the high bit needs it).
    fn positive_mpint(&mut self) -> Option<&'a [u8]> {
        let value = self.string()?;
        match value {
            [] => None,
            [first, ..] if first & 0x80 != 0 => None,
            [0, second, ..] if second & 0x80 == 0 => None,
            [0] => None,
            _ => Some(value),
        }
    }
}

/// Checks that `blob` is a well-formed public key of `algorithm`.
fn parse_blob(algorithm: &str, blob: &[u8]) -> Result<(), InvalidKey> {
    let bad = InvalidKey("failed to generate fingerprint");
    let mut wire = Wire(blob);
    if wire.string().ok_or(bad.clone())? != algorithm.as_bytes() {
        return Err(bad);
    }
    let ok = match algorithm {
        "ssh-rsa" => {
            let e = wire.positive_mpint();
            let n = wire.positive_mpint();
            // 1024 bits at least, as cryptography's RSA loader insists on a
            // usable modulus.
            e.is_some() && n.is_some_and(|n| n.len() >= 128)
        }
        "ssh-dss" => (0..4).all(|_| wire.positive_mpint().is_some()),
        "ssh-ed25519" => wire.string().is_some_and(|k| k.len() == 32),
        "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384" | "ecdsa-sha2-nistp521" => {
            let curve = &algorithm["ecdsa-sha2-".len()..];
            let point_len = match curve {
                "nistp256" => 65,
                "nistp384" => 97,
                _ => 133,
            };
            wire.string() == Some(curve.as_bytes())
                && wire
                    .string()
                    .is_some_and(|p| p.len() == point_len && p[0] == 4)
        }
        _ => false,
    };
    if ok && wire.0.is_empty() {
        Ok(())
    } else {
        Err(bad)
    }
}

/// The fingerprint of an OpenSSH public key line, or why it is invalid.
pub fn ssh_fingerprint(public_key: &str) -> Result<String, InvalidKey> {
    let bad = InvalidKey("failed to generate fingerprint");
    if public_key.len() > MAX_KEY_LEN {
        return Err(bad);
    }
    let mut parts = public_key.trim().split_ascii_whitespace();
    let algorithm = parts.next().ok_or(bad.clone())?;
    let encoded = parts.next().ok_or(bad.clone())?;
    let blob = STANDARD.decode(encoded).map_err(|_| bad.clone())?;
    parse_blob(algorithm, &blob)?;
    Ok(colon_hex(&Md5::digest(&blob)))
}

/// The fingerprint of a PEM X.509 certificate (SHA-1 of the DER), or why
/// it is invalid.
pub fn x509_fingerprint(pem: &str) -> Result<String, InvalidKey> {
    let bad = InvalidKey("failed to generate X509 fingerprint.");
    if pem.len() > MAX_KEY_LEN * 4 {
        return Err(bad);
    }
    let begin = "-----BEGIN CERTIFICATE-----";
    let end = "-----END CERTIFICATE-----";
    let start = pem.find(begin).ok_or(bad.clone())? + begin.len();
    let stop = pem[start..].find(end).ok_or(bad.clone())? + start;
    let body: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = STANDARD.decode(body).map_err(|_| bad.clone())?;
    if !is_der_certificate(&der) {
        return Err(bad);
    }
    Ok(colon_hex(&Sha1::digest(&der)))
}

/// A DER SEQUENCE whose length covers the whole input and whose first
/// element (tbsCertificate) is itself a SEQUENCE.
fn is_der_certificate(der: &[u8]) -> bool {
    fn header(der: &[u8]) -> Option<(u8, usize, usize)> {
        let tag = *der.first()?;
        let first = *der.get(1)?;
        if first < 0x80 {
            return Some((tag, 2, usize::from(first)));
        }
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for b in der.get(2..2 + n)? {
            len = (len << 8) | usize::from(*b);
        }
        Some((tag, 2 + n, len))
    }
    let Some((tag, hdr, len)) = header(der) else {
        return false;
    };
    if tag != 0x30 || hdr.checked_add(len) != Some(der.len()) {
        return false;
    }
    matches!(header(&der[hdr..]), Some((0x30, h, l)) if h + l <= len)
}

/// A generated key pair.
#[derive(Debug, Clone)]
pub struct GeneratedKey {
    /// PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`), as paramiko writes.
    pub private_key: String,
    /// `ssh-rsa <base64> Generated-by-Nova`.
    pub public_key: String,
    /// MD5 colon hex of the public blob.
    pub fingerprint: String,
}

/// Generates an RSA-2048 pair as nova's `generate_key_pair` does. CPU-bound:
/// call it off the async runtime.
pub fn generate_rsa() -> Result<GeneratedKey, String> {
    use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
    use rsa::traits::PublicKeyParts;

    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
        .map_err(|e| format!("generating an RSA key: {e}"))?;
    let private_key = key
        .to_pkcs1_pem(LineEnding::LF)
        .map_err(|e| format!("encoding an RSA key: {e}"))?
        .to_string();
    let mut blob = Vec::new();
    push_string(&mut blob, b"ssh-rsa");
    push_mpint(&mut blob, &key.e().to_bytes_be());
    push_mpint(&mut blob, &key.n().to_bytes_be());
    let public_key = format!("ssh-rsa {} Generated-by-Nova", STANDARD.encode(&blob));
    Ok(GeneratedKey {
        private_key,
        fingerprint: colon_hex(&Md5::digest(&blob)),
        public_key,
    })
}

fn push_string(out: &mut Vec<u8>, value: &[u8]) {
    // Keys are a few hundred bytes: the length always fits.
    out.extend_from_slice(&(value.len() as u32).to_be_bytes());
    out.extend_from_slice(value);
}

fn push_mpint(out: &mut Vec<u8>, magnitude: &[u8]) {
    let trimmed: &[u8] = match magnitude.iter().position(|b| *b != 0) {
        Some(i) => &magnitude[i..],
        None => &[],
    };
    if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
        let mut padded = Vec::with_capacity(trimmed.len() + 1);
        padded.push(0);
        padded.extend_from_slice(trimmed);
        push_string(out, &padded);
    } else {
        push_string(out, trimmed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Throwaway keys from ssh-keygen; fingerprints from `ssh-keygen -l -E md5`.
    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEWEZJvMmFUAwI34kTAsNkC04SmBOzcVkKm9DtbIMsRV t@x";
    const RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCkBs2hzAOwT9zkmNcvjScPpkrwyW/6A0gAUh0x94Cre+rYkVlp5/HQP1QBqzBI+ME/7PSoockTMNrmq4FaDbmHv+0CdItBUmpdOJ4vQ/MCdT6DuSvHNsSbfPNXeqegoYA6CtHXLcg1IRAVeUFUIGhkS1sR8bDErldVtEQRIg0LRg/YJN72KCkg2LFfPjP/Ddt34rqwSXl+Nu3p6FKL+soONd5qGAyPYbrVxMfGu+KrCf3vZoo7eA82DCBNzxYVIyUNbhdqYf/UNpOp3OyJRkJh2ZVfN2QrjFmMGB02hNCSgg3MUA+qrM63b9AeAevKREAFmdAUWfVL6xvY94lnJCJV r@x";
    const ECDSA: &str = "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBHtYXLz2PUgGox4323pHkuSLXFIMzEOZtRzgf9dP/n3gpK0R92vW2WWzD+FFOLC1nWCPXuwZrovICgHfpoIgg3yW+ZFuj42OEYKwJjsKBsbwah3fDhlawXy3tFqR9FyUlg== e@x";

    #[test]
    fn fingerprints_match_ssh_keygen() {
        assert_eq!(
            ssh_fingerprint(ED25519).unwrap(),
            "9a:62:91:79:ab:c4:da:d6:85:ee:ba:0c:1f:28:6f:63"
        );
        assert_eq!(
            ssh_fingerprint(RSA).unwrap(),
            "e9:8c:bd:11:9f:62:51:36:55:9f:58:b4:86:b2:5b:51"
        );
        assert_eq!(
            ssh_fingerprint(ECDSA).unwrap(),
            "02:b0:f7:fe:ed:8b:ba:28:3f:3c:9d:1c:70:f3:c4:12"
        );
    }

    #[test]
    fn malformed_keys_are_refused() {
        for key in [
            "",
            "ssh-ed25519",
            "ssh-ed25519 !!!",
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIGaSl6BpiTpAXT3WPaB8xsyNoMPdhhFAzBIdXyMNf9Qb",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGaSl6BpiTpAXT3WPaB8xsyNoMPdhhFAzBId",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5/////w==",
            "foo-bar AAAAB2Zvby1iYXI=",
        ] {
            assert!(ssh_fingerprint(key).is_err(), "{key:?}");
        }
    }

    #[test]
    fn generated_keys_parse_and_fingerprint_alike() {
        let key = generate_rsa().unwrap();
        assert!(
            key.private_key
                .starts_with("-----BEGIN RSA PRIVATE KEY-----\n")
        );
        assert!(key.public_key.ends_with(" Generated-by-Nova"));
        assert_eq!(ssh_fingerprint(&key.public_key).unwrap(), key.fingerprint);
    }

    #[test]
    fn certificates_need_a_der_sequence() {
        assert!(x509_fingerprint("not a cert").is_err());
        assert!(
            x509_fingerprint("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----")
                .is_err()
        );
        // SEQUENCE { SEQUENCE {} }
        let der = [0x30, 0x02, 0x30, 0x00];
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            STANDARD.encode(der)
        );
        assert_eq!(
            x509_fingerprint(&pem).unwrap(),
            colon_hex(&Sha1::digest(der))
        );
    }
}
