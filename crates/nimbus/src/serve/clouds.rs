//! `DATA_DIR/clouds.yaml`: the `nimbus` cloud, so that
//! `OS_CLIENT_CONFIG_FILE=DATA_DIR/clouds.yaml openstack --os-cloud nimbus ...`
//! works with nothing else set.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::Context;

/// Writes clouds.yaml (mode 0600: it holds the admin password).
pub fn write(path: &Path, auth_url: &str, password: &str) -> anyhow::Result<()> {
    let text = format!(
        "# Written by `nimbus serve` on first start.\n\
         clouds:\n  nimbus:\n    auth:\n      auth_url: {auth_url}\n      username: admin\n      password: {}\n      project_name: admin\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n    interface: public\n    identity_api_version: 3\n",
        yaml_quote(password)
    );
    write_private(path, &text)
}

/// Points an existing clouds.yaml at `auth_url` (the listen address may
/// change between starts); everything else stays.
pub fn update_auth_url(path: &Path, auth_url: &str) -> anyhow::Result<()> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut changed = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            if trimmed.starts_with("auth_url:") {
                let indent = &line[..line.len() - trimmed.len()];
                let new = format!("{indent}auth_url: {auth_url}");
                changed |= new != line;
                new
            } else {
                line.to_string()
            }
        })
        .collect();
    if changed {
        write_private(path, &(lines.join("\n") + "\n"))?;
    }
    Ok(())
}

fn yaml_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("yaml.tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_then_repointed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clouds.yaml");
        write(&path, "http://127.0.0.1:1/identity", "it's").unwrap();
        update_auth_url(&path, "http://127.0.0.1:2/identity").unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("      auth_url: http://127.0.0.1:2/identity\n"));
        assert!(text.contains("password: 'it''s'"));
    }
}
