//! nova's `_set_passwd`: root's hash in `/etc/shadow`, SHA-512 crypt.

use rand::RngCore;

use crate::{Error, ErrorKind, Result};

/// crypt(3)'s base-64 alphabet.
const CRYPT_ALPHABET: &[u8; 64] =
    b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A `$6$` hash of `password` with a fresh random salt.
///
/// The salt is exactly 16 characters (12 random bytes): glibc reads at most
/// 16, so a longer one (as some libraries write) yields a hash the guest
/// computes differently and the password is then rejected.
pub fn sha512_crypt(password: &str) -> Result<String> {
    let mut random = [0u8; 12];
    rand::rng().fill_bytes(&mut random);
    let salt: String = random
        .chunks(3)
        .flat_map(|c| {
            let n = (c[0] as u32) << 16 | (c[1] as u32) << 8 | c[2] as u32;
            (0..4).map(move |i| CRYPT_ALPHABET[((n >> (6 * i)) & 63) as usize] as char)
        })
        .collect();
    sha512_crypt_with_salt(password, &salt)
}

fn sha512_crypt_with_salt(password: &str, salt: &str) -> Result<String> {
    let params = sha_crypt::Sha512Params::new(sha_crypt::ROUNDS_DEFAULT).map_err(|_| {
        Error::new(
            ErrorKind::InvalidInput,
            "admin_password",
            "bad crypt parameters",
        )
    })?;
    let hash = sha_crypt::sha512_crypt_b64(password.as_bytes(), salt.as_bytes(), &params).map_err(
        |_| {
            Error::new(
                ErrorKind::InvalidInput,
                "admin_password",
                "cannot hash the password",
            )
        },
    )?;
    Ok(format!("$6${salt}${hash}"))
}

/// The new `/etc/shadow` with `user`'s hash replaced, every other byte kept.
///
/// As nova's `_set_passwd`: `user` must be in `/etc/passwd` and in
/// `/etc/shadow`, or it is an error and nothing changes.
pub fn set_passwd(user: &str, hash: &str, passwd: &[u8], shadow: &[u8]) -> Result<Vec<u8>> {
    let passwd = std::str::from_utf8(passwd).map_err(|_| {
        Error::new(
            ErrorKind::Corrupt,
            "admin_password",
            "/etc/passwd is not UTF-8",
        )
    })?;
    if !passwd
        .split('\n')
        .any(|line| line.split(':').next() == Some(user))
    {
        return Err(Error::new(
            ErrorKind::NotFound,
            "admin_password",
            format!("user {user} not found in password file"),
        ));
    }
    let shadow = std::str::from_utf8(shadow).map_err(|_| {
        Error::new(
            ErrorKind::Corrupt,
            "admin_password",
            "/etc/shadow is not UTF-8",
        )
    })?;
    let mut found = false;
    let lines: Vec<String> = shadow
        .split('\n')
        .map(|line| {
            let mut fields: Vec<&str> = line.split(':').collect();
            if fields[0] == user && fields.len() > 1 {
                fields[1] = hash;
                found = true;
            }
            fields.join(":")
        })
        .collect();
    if !found {
        return Err(Error::new(
            ErrorKind::NotFound,
            "admin_password",
            format!("user {user} not found in shadow file"),
        ));
    }
    Ok(lines.join("\n").into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector_from_the_sha_crypt_spec() {
        // Drepper's SHA-crypt test vector: salt "saltstring", truncated to 16.
        let got = sha512_crypt_with_salt("Hello world!", "saltstring").unwrap();
        assert_eq!(
            got,
            "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
        );
    }

    #[test]
    fn salt_is_sixteen_characters() {
        let hash = sha512_crypt("pw").unwrap();
        let parts: Vec<&str> = hash.split('$').collect();
        assert_eq!(parts[1], "6");
        assert_eq!(parts[2].len(), 16);
    }

    #[test]
    fn only_roots_field_changes() {
        let shadow = b"root:*:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n";
        let out = set_passwd("root", "$6$x$y", b"root:x:0:0::/root:/bin/sh\n", shadow).unwrap();
        assert_eq!(
            out,
            b"root:$6$x$y:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n"
        );
        let err = set_passwd("root", "h", b"bin:x:1:1::/:/bin/false\n", shadow).unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound);
        let err = set_passwd(
            "root",
            "h",
            b"root:x:0:0::/root:/bin/sh\n",
            b"bin:*:1::::::\n",
        )
        .unwrap_err();
        assert!(err.message.contains("shadow"));
    }
}
