//! The compute service end to end: the real `openstack` CLI (and raw HTTP
//! where the CLI cannot, such as personality files at 2.56) against real
//! QEMU guests under TCG, built from the test guest (scripts/guest).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Backend, Cloud, failed};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn test_guest() -> PathBuf {
    let out = repo().join("target/test-guest");
    let status = Command::new("bash")
        .arg(repo().join("scripts/guest/build.sh"))
        .arg(&out)
        .status()
        .expect("bash");
    assert!(status.success(), "building the test guest failed");
    out
}

/// Uploads the test guest as kernel, ramdisk and root images; returns the
/// root image's id.
pub(crate) fn upload_guest(cloud: &Cloud, name: &str) -> String {
    let guest = test_guest();
    let file = |f: &str| guest.join(f).to_string_lossy().into_owned();
    let kernel = cloud.openstack_json(&[
        "image",
        "create",
        "--disk-format",
        "aki",
        "--container-format",
        "aki",
        "--file",
        &file("vmlinuz"),
        &format!("{name}-kernel"),
    ]);
    let ramdisk = cloud.openstack_json(&[
        "image",
        "create",
        "--disk-format",
        "ari",
        "--container-format",
        "ari",
        "--file",
        &file("initrd.img"),
        &format!("{name}-ramdisk"),
    ]);
    let root = cloud.openstack_json(&[
        "image",
        "create",
        "--disk-format",
        "qcow2",
        "--container-format",
        "bare",
        "--file",
        &file("root.qcow2"),
        "--property",
        &format!("kernel_id={}", kernel["id"].as_str().unwrap()),
        "--property",
        &format!("ramdisk_id={}", ramdisk["id"].as_str().unwrap()),
        "--property",
        "os_command_line=console=ttyS0 nimbus.mode=run",
        name,
    ]);
    root["id"].as_str().unwrap().to_string()
}

pub(crate) fn setup(cloud: &Cloud, image: &str) -> String {
    let image_id = upload_guest(cloud, image);
    cloud.openstack_ok(&[
        "flavor", "create", "--ram", "192", "--disk", "1", "--vcpus", "1", "m1.test",
    ]);
    let key = cloud.data_dir().join("k.pub");
    std::fs::write(&key, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEm8bRxGGj0YQ5ziQe2XnJ9mM1Yf3qv1Qd0sx6Q0yE8c e2e@nimbus\n").unwrap();
    cloud.openstack_ok(&[
        "keypair",
        "create",
        "--public-key",
        key.to_str().unwrap(),
        "k",
    ]);
    image_id
}

pub(crate) fn console(cloud: &Cloud, server: &str) -> String {
    cloud.openstack_ok(&["console", "log", "show", server])
}

pub(crate) fn wait_console(cloud: &Cloud, server: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let text = console(cloud, server);
        if text.contains(needle) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{needle:?} never appeared on {server}'s console:\n{text}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

pub(crate) fn status(cloud: &Cloud, server: &str) -> String {
    let s = cloud.openstack_json(&["server", "show", server]);
    s["status"].as_str().unwrap_or_default().to_string()
}

pub(crate) fn wait_status(cloud: &Cloud, server: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let now = status(cloud, server);
        if now == want {
            return;
        }
        assert!(
            now != "ERROR" || want == "ERROR",
            "{server} went to ERROR: {}",
            cloud.openstack_json(&["server", "show", server])
        );
        assert!(
            Instant::now() < deadline,
            "{server} stayed {now}, wanted {want}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn qemu_pids_under(dir: &Path) -> Vec<String> {
    let mut pids = Vec::new();
    let needle = dir.to_string_lossy().into_owned();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd);
        if cmd.starts_with("qemu-system") && cmd.contains(&needle) {
            pids.push(name);
        }
    }
    pids
}

fn nimbus_pid(cloud: &Cloud) -> Option<String> {
    let needle = cloud.data_dir().to_string_lossy().into_owned();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd);
        if cmd.contains("nimbus")
            && cmd.contains("serve")
            && cmd.contains(&needle)
            && !cmd.starts_with("qemu")
        {
            return Some(name);
        }
    }
    None
}

fn instance_dirs(cloud: &Cloud) -> Vec<String> {
    std::fs::read_dir(cloud.data_dir().join("instances"))
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "_base" && !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_server_boots_injected_runs_its_lifecycle_and_survives_a_restart() {
    let mut cloud = Cloud::start(Backend::Sqlite).expect("sqlite cloud");
    let image = setup(&cloud, "guest");

    let server = cloud.openstack_json(&[
        "server",
        "create",
        "--image",
        "guest",
        "--flavor",
        "m1.test",
        "--key-name",
        "k",
        "--property",
        "role=db",
        "--nic",
        "none",
        "--wait",
        "vm1",
    ]);
    assert_eq!(server["status"], "ACTIVE", "{server}");
    let text = wait_console(&cloud, "vm1", "NIMBUS-GUEST ready");
    assert!(
        text.contains("e2e@nimbus"),
        "the key is in authorized_keys:\n{text}"
    );
    assert!(
        text.contains("\"role\": \"db\"") || text.contains("\"role\":\"db\""),
        "meta.js:\n{text}"
    );

    // Config drive with user data.
    let ud = cloud.data_dir().join("ud.txt");
    std::fs::write(&ud, "#!/bin/sh\necho hello-from-user-data\n").unwrap();
    cloud.openstack_json(&[
        "server",
        "create",
        "--image",
        "guest",
        "--flavor",
        "m1.test",
        "--config-drive",
        "true",
        "--user-data",
        ud.to_str().unwrap(),
        "--nic",
        "none",
        "--wait",
        "vm-cd",
    ]);
    let text = wait_console(&cloud, "vm-cd", "NIMBUS-GUEST ready");
    assert!(text.contains("NIMBUS-GUEST config-drive /dev/"), "{text}");
    assert!(text.contains("hello-from-user-data"), "{text}");
    cloud.openstack_ok(&["server", "delete", "--wait", "vm-cd"]);

    // Personality and adminPass at 2.56, through raw HTTP.
    let token = cloud.token(&cloud.admin());
    let flavor = cloud.openstack_json(&["flavor", "show", "m1.test"]);
    let r = cloud
        .http()
        .post(cloud.url("/compute/v2.1/servers"))
        .header("x-auth-token", &token)
        .header("openstack-api-version", "compute 2.56")
        .json(&json!({"server": {
            "name": "vm-file", "imageRef": image, "flavorRef": flavor["id"],
            "networks": "none", "adminPass": "s3cret-Pass",
            "personality": [{"path": "/etc/hello.txt", "contents": "aGVsbG8tZmlsZQ=="}],
        }}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let body: Value = r.json().unwrap();
    assert_eq!(body["server"]["adminPass"], "s3cret-Pass");
    wait_status(&cloud, "vm-file", "ACTIVE");
    let text = wait_console(&cloud, "vm-file", "NIMBUS-GUEST ready");
    assert!(text.contains("hello-file"), "{text}");
    let hash = text
        .lines()
        .find(|l| l.starts_with("root:$"))
        .unwrap_or_else(|| panic!("no root hash:\n{text}"))
        .split(':')
        .nth(1)
        .unwrap()
        .to_string();
    let check = Command::new("python3")
        .args([
            "-c",
            "import crypt,sys; print(crypt.crypt(sys.argv[1], sys.argv[2]) == sys.argv[2])",
            "s3cret-Pass",
            &hash,
        ])
        .output();
    if let Ok(out) = check
        && out.status.success()
    {
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "True",
            "hash {hash}"
        );
    } else {
        let out = Command::new("openssl")
            .args([
                "passwd",
                "-6",
                "-salt",
                hash.split('$').nth(2).unwrap(),
                "s3cret-Pass",
            ])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), hash);
    }
    cloud.openstack_ok(&["server", "delete", "--wait", "vm-file"]);

    // Power actions.
    cloud.openstack_ok(&["server", "stop", "vm1"]);
    wait_status(&cloud, "vm1", "SHUTOFF");
    assert!(console(&cloud, "vm1").contains("NIMBUS-GUEST acpi-powerdown"));
    cloud.openstack_ok(&["server", "start", "vm1"]);
    wait_status(&cloud, "vm1", "ACTIVE");
    cloud.openstack_ok(&["server", "reboot", "--hard", "--wait", "vm1"]);
    wait_status(&cloud, "vm1", "ACTIVE");
    cloud.openstack_ok(&["server", "pause", "vm1"]);
    wait_status(&cloud, "vm1", "PAUSED");
    cloud.openstack_ok(&["server", "unpause", "vm1"]);
    wait_status(&cloud, "vm1", "ACTIVE");
    // A snapshot boots as a new server; a rebuild gives a fresh root disk.
    cloud.openstack_ok(&[
        "server", "image", "create", "--name", "snap", "--wait", "vm1",
    ]);
    let snap = cloud.openstack_json(&["image", "show", "snap"]);
    assert_eq!(snap["status"], "active", "{snap}");
    cloud.openstack_json(&[
        "server", "create", "--image", "snap", "--flavor", "m1.test", "--nic", "none", "--wait",
        "vm-snap",
    ]);
    wait_console(&cloud, "vm-snap", "NIMBUS-GUEST ready");
    cloud.openstack_ok(&["server", "delete", "--wait", "vm-snap"]);
    // The rebuild swaps the key pair (2.54): the new key is injected.
    let key2 = cloud.data_dir().join("k2.pub");
    std::fs::write(&key2, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHJ8EaMLpcmdio0Gqg34Cq3snOURhxWMPB3t41gfqgcX rebuilt@nimbus\n").unwrap();
    cloud.openstack_ok(&[
        "keypair",
        "create",
        "--public-key",
        key2.to_str().unwrap(),
        "k2",
    ]);
    cloud.openstack_ok(&[
        "--os-compute-api-version",
        "2.57",
        "server",
        "rebuild",
        "--image",
        "guest",
        "--key-name",
        "k2",
        "--wait",
        "vm1",
    ]);
    wait_status(&cloud, "vm1", "ACTIVE");
    wait_console(&cloud, "vm1", "rebuilt@nimbus");
    let shown = cloud.openstack_json(&["server", "show", "vm1"]);
    assert_eq!(shown["key_name"], "k2", "{shown}");

    let actions = cloud.openstack_ok(&["server", "event", "list", "vm1"]);
    for a in [
        "create",
        "stop",
        "start",
        "reboot",
        "pause",
        "unpause",
        "createImage",
        "rebuild",
    ] {
        assert!(actions.contains(a), "{a} missing from\n{actions}");
    }

    // A restart finds the running guest again.
    let dir = cloud.data_dir().join("instances");
    let before = qemu_pids_under(&dir);
    assert_eq!(before.len(), 1, "one guest runs");
    cloud.restart();
    assert_eq!(status(&cloud, "vm1"), "ACTIVE");
    assert_eq!(qemu_pids_under(&dir), before, "the same QEMU, re-attached");
    cloud.openstack_ok(&["server", "pause", "vm1"]);
    wait_status(&cloud, "vm1", "PAUSED");

    // kill -9 during a build: no server stuck in BUILD, nothing orphaned.
    cloud.openstack_json(&[
        "server",
        "create",
        "--image",
        "guest",
        "--flavor",
        "m1.test",
        "--nic",
        "none",
        "vm-killed",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let pid = nimbus_pid(&cloud).expect("nimbus runs");
    Command::new("kill").args(["-9", &pid]).status().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    cloud.restart();
    let killed = cloud.openstack_json(&["server", "show", "vm-killed"]);
    assert!(
        killed["status"] == "ERROR" || killed["status"] == "ACTIVE",
        "not stuck in BUILD: {killed}"
    );
    if killed["status"] == "ERROR" {
        assert!(
            killed["fault"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("restart"),
            "{killed}"
        );
        let id = killed["id"].as_str().unwrap();
        assert!(
            !instance_dirs(&cloud).iter().any(|d| d == id),
            "no orphaned dir"
        );
    }
    assert_eq!(
        qemu_pids_under(&dir).len(),
        if killed["status"] == "ACTIVE" { 2 } else { 1 }
    );

    // Delete stops QEMU, removes the dir, frees the quota.
    cloud.openstack_ok(&["server", "delete", "--wait", "vm1", "vm-killed"]);
    assert!(qemu_pids_under(&dir).is_empty());
    assert!(
        instance_dirs(&cloud).is_empty(),
        "{:?}",
        instance_dirs(&cloud)
    );
    let list = cloud.openstack_json(&["server", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 0);
}

#[test]
fn bad_server_requests_are_refused_as_nova_refuses_them() {
    let cloud = Cloud::start(Backend::Sqlite).expect("sqlite cloud");
    let image = setup(&cloud, "guest");
    let token = cloud.token(&cloud.admin());
    let flavor = cloud.openstack_json(&["flavor", "show", "m1.test"]);
    let post = |version: &str, server: Value| {
        let r = cloud
            .http()
            .post(cloud.url("/compute/v2.1/servers"))
            .header("x-auth-token", &token)
            .header("openstack-api-version", format!("compute {version}"))
            .json(&json!({"server": server}))
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.text().unwrap_or_default())
    };
    let base = |extra: Value| {
        let mut s = json!({"name": "bad", "imageRef": image, "flavorRef": flavor["id"], "networks": "none"});
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        s
    };
    assert_eq!(
        post(
            "2.96",
            base(json!({"imageRef": "00000000-0000-0000-0000-00000000dead"}))
        )
        .0,
        400
    );
    assert_eq!(post("2.96", base(json!({"flavorRef": "nope"}))).0, 400);
    assert_eq!(
        post("2.96", base(json!({"user_data": "not*base64"}))).0,
        400
    );
    let file = json!({"path": "/a", "contents": "aGk="});
    assert_eq!(post("2.57", base(json!({"personality": [file]}))).0, 400);
    let six: Vec<Value> = (0..6)
        .map(|i| json!({"path": format!("/f{i}"), "contents": "aGk="}))
        .collect();
    assert_eq!(post("2.56", base(json!({"personality": six}))).0, 403);
    let big = base64_of(&vec![b'x'; 10241]);
    assert_eq!(
        post(
            "2.56",
            base(json!({"personality": [{"path": "/big", "contents": big}]}))
        )
        .0,
        403
    );
    // The flavor's disk is smaller than the image's virtual size.
    cloud.openstack_ok(&[
        "flavor", "create", "--ram", "192", "--disk", "0", "--vcpus", "1", "m1.zero",
    ]);
    let big_image = cloud.data_dir().join("big.qcow2");
    assert!(
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&big_image)
            .arg("3G")
            .status()
            .unwrap()
            .success()
    );
    let big_id = cloud.openstack_json(&[
        "image",
        "create",
        "--disk-format",
        "qcow2",
        "--file",
        big_image.to_str().unwrap(),
        "big",
    ])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, text) = post("2.96", base(json!({"imageRef": big_id})));
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("too small"), "{text}");
    // Quota: instances.
    cloud.openstack_ok(&["quota", "set", "--instances", "0", "admin"]);
    let (code, text) = post("2.96", base(json!({})));
    assert_eq!(code, 403, "{text}");
    assert!(text.contains("Quota exceeded"), "{text}");
    let out = cloud.openstack(&[
        "server", "create", "--image", "guest", "--flavor", "m1.test", "--nic", "none", "q",
    ]);
    failed(out, &["server", "create"]);
}

fn base64_of(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn twenty_servers_at_once_share_one_base_and_all_become_active() {
    let cloud = Cloud::start(Backend::Sqlite).expect("sqlite cloud");
    setup(&cloud, "guest");
    // Through the default quota class (os-quota-class-sets): nova's default
    // of 10 instances would refuse 20, so the builds below prove it applies.
    cloud.openstack_ok(&[
        "quota",
        "set",
        "--default",
        "--instances",
        "25",
        "--cores",
        "25",
        "--ram",
        "8000",
    ]);
    cloud.openstack_ok(&[
        "flavor",
        "create",
        "--ram",
        "96",
        "--disk",
        "1",
        "--vcpus",
        "1",
        "m1.small20",
    ]);
    cloud.openstack_ok(&[
        "server",
        "create",
        "--image",
        "guest",
        "--flavor",
        "m1.small20",
        "--nic",
        "none",
        "--min",
        "20",
        "--max",
        "20",
        "many",
    ]);
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let list = cloud.openstack_json(&["server", "list", "--name", "^many-"]);
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 20);
        assert!(list.iter().all(|s| s["Status"] != "ERROR"), "{list:?}");
        if list.iter().all(|s| s["Status"] == "ACTIVE") {
            break;
        }
        assert!(Instant::now() < deadline, "not all ACTIVE: {list:?}");
        std::thread::sleep(Duration::from_secs(2));
    }
    // One download per image (root, kernel, ramdisk) into _base.
    let base = cloud.data_dir().join("instances/_base");
    let bases: Vec<_> = std::fs::read_dir(&base)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            !n.starts_with('.')
                && !n.ends_with(".format")
                && !n.starts_with("ephemeral")
                && !n.starts_with("swap")
        })
        .collect();
    assert!(bases.len() <= 3, "{bases:?}");
    let names: Vec<String> = (1..=20).map(|i| format!("many-{i}")).collect();
    let mut args = vec!["server", "delete", "--wait"];
    args.extend(names.iter().map(String::as_str));
    cloud.openstack_ok(&args);
}
