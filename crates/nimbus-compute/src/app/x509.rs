//! Generated x509 key pairs (2.2+), as nova's `crypto.generate_winrm_x509_cert`:
//! a self-signed client certificate for `CN=<user id>` with the WinRM UPN
//! `<user id>@localhost`, valid ten years; the private key comes back as a
//! base64 PKCS#12 bundle without a password, the fingerprint is the
//! certificate's SHA-1. nova runs the `openssl` command for this; so does
//! Nimbus, with the key (made by the `rsa` crate) and every output passed
//! through pipes, never a file.

use std::process::Stdio;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokio::io::AsyncWriteExt;

use super::sshkey;

/// What a generated x509 pair returns.
#[derive(Debug, Clone)]
pub struct GeneratedCert {
    /// The certificate, PEM.
    pub certificate: String,
    /// Base64 of the PKCS#12 bundle (key and certificate, empty password).
    pub private_key: String,
    /// SHA-1 of the certificate's DER, colon hex.
    pub fingerprint: String,
}

/// Generates a pair for `user_id`.
pub async fn generate(user_id: &str) -> Result<GeneratedCert, String> {
    // The subject and the UPN are built from the id: keep to characters
    // openssl's -subj and config syntax take literally.
    let user: String = user_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(64)
        .collect();
    if user.is_empty() {
        return Err("the user id has no usable characters".into());
    }
    let key = tokio::task::spawn_blocking(rsa_key_pem)
        .await
        .map_err(|e| format!("key task: {e}"))??;
    let certificate = openssl(
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "/dev/stdin",
            "-days",
            "3650",
            "-subj",
            &format!("/CN={user}"),
            "-addext",
            "extendedKeyUsage=clientAuth",
            "-addext",
            &format!("subjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;UTF8:{user}@localhost"),
            "-outform",
            "PEM",
        ],
        key.as_bytes(),
    )
    .await?;
    let certificate =
        String::from_utf8(certificate).map_err(|_| "openssl wrote a non-UTF-8 certificate")?;
    let bundle = openssl(
        &["pkcs12", "-export", "-password", "pass:"],
        format!("{key}{certificate}").as_bytes(),
    )
    .await?;
    let fingerprint = sshkey::x509_fingerprint(&certificate).map_err(|e| e.to_string())?;
    Ok(GeneratedCert {
        certificate,
        private_key: STANDARD.encode(bundle),
        fingerprint,
    })
}

fn rsa_key_pem() -> Result<String, String> {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
        .map_err(|e| format!("generating an RSA key: {e}"))?;
    Ok(key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| format!("encoding an RSA key: {e}"))?
        .to_string())
}

/// Runs `openssl args` with `input` on stdin: its stdout, or its stderr as
/// the error.
async fn openssl(args: &[&str], input: &[u8]) -> Result<Vec<u8>, String> {
    let mut child = tokio::process::Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("running openssl: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("openssl has no stdin")?;
    let input = input.to_vec();
    let writer = tokio::spawn(async move {
        let result = stdin.write_all(&input).await;
        drop(stdin);
        result
    });
    let output = child
        .wait_with_output()
        .await
        .map_err(|e| format!("waiting for openssl: {e}"))?;
    writer
        .await
        .map_err(|e| format!("openssl input task: {e}"))?
        .map_err(|e| format!("writing to openssl: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "openssl {} failed: {}",
            args.first().copied().unwrap_or(""),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(output.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], input: &[u8]) -> String {
        use std::io::Write;
        let mut child = std::process::Command::new("openssl")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "openssl {args:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[tokio::test]
    async fn a_generated_pair_is_a_client_cert_and_a_matching_pkcs12_bundle() {
        let pair = generate("0123abcd/../x").await.unwrap();
        let text = run(&["x509", "-noout", "-text"], pair.certificate.as_bytes());
        assert!(text.contains("Subject: CN = 0123abcd..x"), "{text}");
        assert!(text.contains("TLS Web Client Authentication"), "{text}");
        assert!(text.contains("0123abcd..x@localhost"), "{text}");
        let sha1 = run(
            &["x509", "-noout", "-fingerprint", "-sha1"],
            pair.certificate.as_bytes(),
        );
        assert_eq!(
            sha1.trim().rsplit('=').next().unwrap().to_lowercase(),
            pair.fingerprint
        );
        // The bundle opens with the empty password and holds the same cert.
        let der = STANDARD.decode(&pair.private_key).unwrap();
        let pem = run(&["pkcs12", "-nokeys", "-password", "pass:"], &der);
        let again = sshkey::x509_fingerprint(&pem).unwrap();
        assert_eq!(again, pair.fingerprint);
        let keys = run(
            &["pkcs12", "-nocerts", "-nodes", "-password", "pass:"],
            &der,
        );
        assert!(keys.contains("PRIVATE KEY"), "{keys}");
    }
}
