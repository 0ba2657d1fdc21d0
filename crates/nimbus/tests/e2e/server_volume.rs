//! Volumes on servers (seed 002) through the real `openstack` CLI, with the
//! local and the iSCSI (tgtd) backends: attach to a running test guest,
//! which sees the disk and writes its marker; detach; attach to a second
//! guest, which reads the marker back; bad input and a race; attach to a
//! stopped server; delete_on_termination; boot from volume.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Backend, Cloud, User, failed, ok};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds the test guest and uploads it (public) as kernel, ramdisk and
/// root images; returns the root image's id.
fn upload_guest(cloud: &Cloud, name: &str) -> String {
    let guest = repo().join("target/test-guest");
    let status = Command::new("bash")
        .arg(repo().join("scripts/guest/build.sh"))
        .arg(&guest)
        .status()
        .expect("bash");
    assert!(status.success(), "building the test guest failed");
    let file = |f: &str| guest.join(f).to_string_lossy().into_owned();
    let create = |args: &[&str]| {
        let mut all = vec!["image", "create", "--public"];
        all.extend_from_slice(args);
        cloud.openstack_json(&all)["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let kernel = create(&[
        "--disk-format",
        "aki",
        "--container-format",
        "aki",
        "--file",
        &file("vmlinuz"),
        &format!("{name}-kernel"),
    ]);
    let ramdisk = create(&[
        "--disk-format",
        "ari",
        "--container-format",
        "ari",
        "--file",
        &file("initrd.img"),
        &format!("{name}-ramdisk"),
    ]);
    create(&[
        "--disk-format",
        "qcow2",
        "--container-format",
        "bare",
        "--file",
        &file("root.qcow2"),
        "--property",
        &format!("kernel_id={kernel}"),
        "--property",
        &format!("ramdisk_id={ramdisk}"),
        "--property",
        "os_command_line=console=ttyS0 nimbus.mode=run",
        name,
    ])
}

/// A member user in a new project.
fn member(cloud: &Cloud, user: &str, project: &str) -> User {
    let password = format!("pw-{user}-secret");
    cloud.openstack_ok(&["project", "create", project]);
    cloud.openstack_ok(&[
        "user",
        "create",
        "--project",
        project,
        "--password",
        &password,
        user,
    ]);
    cloud.openstack_ok(&[
        "role",
        "add",
        "--project",
        project,
        "--user",
        user,
        "member",
    ]);
    User::new(user, &password, project)
}

struct As<'a> {
    cloud: &'a Cloud,
    user: User,
}

impl As<'_> {
    fn run(&self, args: &[&str]) -> std::process::Output {
        self.cloud.openstack_as(&self.user, args)
    }
    fn ok(&self, args: &[&str]) -> String {
        ok(self.run(args), args)
    }
    fn json(&self, args: &[&str]) -> Value {
        self.cloud.openstack_json_as(&self.user, args)
    }
    fn fails(&self, args: &[&str]) -> String {
        failed(self.run(args), args)
    }
    fn volume_status(&self, name: &str) -> String {
        self.json(&["volume", "show", name])["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    fn wait_volume(&self, name: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let now = self.volume_status(name);
            if now == want {
                return;
            }
            assert!(
                now != "error" && Instant::now() < deadline,
                "volume {name} is {now}, wanted {want}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    fn wait_server(&self, name: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let s = self.json(&["server", "show", name]);
            let now = s["status"].as_str().unwrap_or_default();
            if now == want {
                return;
            }
            assert!(now != "ERROR", "{name} went to ERROR: {s}");
            assert!(
                Instant::now() < deadline,
                "{name} stayed {now}, wanted {want}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    fn console(&self, server: &str) -> String {
        self.ok(&["console", "log", "show", server])
    }
    /// Waits for `needle` on the console after the first `skip` bytes.
    fn wait_console(&self, server: &str, needle: &str, skip: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let text = self.console(server);
            if text.get(skip..).is_some_and(|t| t.contains(needle)) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{needle:?} never appeared on {server}'s console:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    fn token(&self) -> String {
        self.cloud.token(&self.user)
    }
    fn post_attach(&self, server: &str, volume: &str) -> (u16, Value) {
        let r = self
            .cloud
            .http()
            .post(self.cloud.url(&format!(
                "/compute/v2.1/servers/{server}/os-volume_attachments"
            )))
            .header("X-Auth-Token", self.token())
            .json(&json!({"volumeAttachment": {"volumeId": volume}}))
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }
    fn delete_attach(&self, server: &str, volume: &str) -> u16 {
        self.cloud
            .http()
            .delete(self.cloud.url(&format!(
                "/compute/v2.1/servers/{server}/os-volume_attachments/{volume}"
            )))
            .header("X-Auth-Token", self.token())
            .send()
            .unwrap()
            .status()
            .as_u16()
    }
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

fn attach_flow(cloud: &Cloud) {
    upload_guest(cloud, "guest");
    cloud.openstack_ok(&[
        "flavor", "create", "--ram", "192", "--disk", "1", "--vcpus", "1", "m1.vol",
    ]);
    let u1 = As {
        cloud,
        user: member(cloud, "u1", "p1"),
    };
    let u2 = As {
        cloud,
        user: member(cloud, "u2", "p2"),
    };
    for s in ["sa", "sb"] {
        u1.ok(&[
            "server", "create", "--image", "guest", "--flavor", "m1.vol", s,
        ]);
    }
    u1.ok(&["volume", "create", "--size", "1", "v1"]);
    u1.wait_volume("v1", "available");
    let v1 = id_of(&u1.json(&["volume", "show", "v1"]));
    for s in ["sa", "sb"] {
        u1.wait_server(s, "ACTIVE");
        u1.wait_console(s, "NIMBUS-GUEST ready", 0);
    }

    // Attach to the running guest: in-use, /dev/vdb, the guest sees it and
    // writes its marker.
    let before = u1.console("sa").len();
    let started = Instant::now();
    u1.ok(&["server", "add", "volume", "sa", "v1"]);
    eprintln!("attach took {:?}", started.elapsed());
    assert_eq!(u1.volume_status("v1"), "in-use");
    let list = u1.json(&["server", "volume", "list", "sa"]);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["Device"], "/dev/vdb", "{list}");
    assert_eq!(list[0]["Volume ID"], v1.as_str(), "{list}");
    u1.wait_console("sa", "NIMBUS-GUEST disk-added vdb", before);
    let text = u1.wait_console("sa", "disk-marked vdb NIMBUS-MARKER:", before);
    let written = text[before..]
        .split("disk-marked vdb ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_string();
    let shown = u1.json(&["server", "show", "sa"]);
    assert!(
        shown["volumes_attached"].to_string().contains(&v1),
        "{shown}"
    );
    let vol = u1.json(&["volume", "show", "v1"]);
    assert_eq!(vol["attachments"][0]["server_id"], id_of(&shown).as_str());

    // Bad input: twice (400), another project's volume (404), deleting an
    // in-use volume (400), detaching what is not attached (404).
    let err = u1.fails(&["server", "add", "volume", "sa", "v1"]);
    assert!(
        err.contains("already attached") && err.contains("400"),
        "{err}"
    );
    u2.ok(&["volume", "create", "--size", "1", "foreign"]);
    let foreign = id_of(&u2.json(&["volume", "show", "foreign"]));
    let sa = id_of(&shown);
    let (status, body) = u1.post_attach(&sa, &foreign);
    assert_eq!(status, 404, "{body}");
    let err = u1.fails(&["volume", "delete", "v1"]);
    assert!(
        err.contains("400") || err.contains("Invalid volume"),
        "{err}"
    );
    u1.ok(&["volume", "create", "--size", "1", "v2"]);
    u1.wait_volume("v2", "available");
    let err = u1.fails(&["server", "remove", "volume", "sa", "v2"]);
    assert!(
        err.contains("is not attached") && err.contains("404"),
        "{err}"
    );

    // Detach: the guest lets go, the volume is available again.
    let before = u1.console("sa").len();
    let started = Instant::now();
    u1.ok(&["server", "remove", "volume", "sa", "v1"]);
    // As nova, the detach finishes after the 202: the volume is `detaching`
    // until the guest has let go.
    u1.wait_volume("v1", "available");
    eprintln!("detach took {:?}", started.elapsed());
    assert!(
        u1.json(&["server", "volume", "list", "sa"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    u1.wait_console("sa", "NIMBUS-GUEST disk-removed vdb", before);

    // The second guest reads what the first wrote.
    let before = u1.console("sb").len();
    u1.ok(&["server", "add", "volume", "sb", "v1"]);
    u1.wait_console("sb", &format!("disk-marker vdb {written}"), before);

    // Two attaches of one volume racing for two servers: one wins.
    let sb = id_of(&u1.json(&["server", "show", "sb"]));
    let v2 = id_of(&u1.json(&["volume", "show", "v2"]));
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| u1.post_attach(&sa, &v2));
        let b = scope.spawn(|| u1.post_attach(&sb, &v2));
        (a.join().unwrap(), b.join().unwrap())
    });
    let mut codes = [a.0, b.0];
    codes.sort();
    assert_eq!(codes, [200, 400], "{a:?} {b:?}");
    assert_eq!(u1.volume_status("v2"), "in-use");
    let winner = if a.0 == 200 { "sa" } else { "sb" };
    u1.ok(&["server", "remove", "volume", winner, "v2"]);
    u1.wait_volume("v2", "available");

    // A stopped server: the attach is recorded and the disk is there at the
    // next start, with the volume it already had.
    u1.ok(&["server", "stop", "sb"]);
    u1.wait_server("sb", "SHUTOFF");
    u1.ok(&["server", "add", "volume", "sb", "v2"]);
    assert_eq!(u1.volume_status("v2"), "in-use");
    let list = u1.json(&["server", "volume", "list", "sb"]);
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let before = u1.console("sb").len();
    u1.ok(&["server", "start", "sb"]);
    u1.wait_server("sb", "ACTIVE");
    let text = u1.wait_console("sb", "NIMBUS-GUEST ready", before);
    let boot = text.get(before..).unwrap_or(&text);
    assert!(
        boot.contains(" vdb") && boot.contains(" vdc"),
        "the restarted guest lacks its volumes:\n{boot}"
    );

    // Attach and detach while the guest is still booting, as Tempest does
    // right after ACTIVE. Depending on how far the boot got, QEMU drops the
    // device at once, or the unplug request reaches a guest whose ACPI is
    // not up yet and is lost, so the detach must ask again (nova retries
    // too; without that the volume stayed attached for good). Either way
    // the volume must end available and off the server.
    u1.ok(&["volume", "create", "--size", "1", "v3"]);
    u1.wait_volume("v3", "available");
    let v3 = id_of(&u1.json(&["volume", "show", "v3"]));
    u1.ok(&["server", "reboot", "--hard", "--wait", "sa"]);
    let (status, body) = u1.post_attach(&sa, &v3);
    assert_eq!(status, 200, "{body}");
    assert_eq!(u1.delete_attach(&sa, &v3), 202);
    u1.wait_volume("v3", "available");
    assert!(
        u1.json(&["server", "volume", "list", "sa"])
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Deleting a server detaches its volumes; delete_on_termination ones go.
    u1.ok(&[
        "--os-compute-api-version",
        "2.79",
        "server",
        "add",
        "volume",
        "--enable-delete-on-termination",
        "sa",
        "v3",
    ]);
    let shown = u1.json(&["--os-compute-api-version", "2.79", "server", "show", "sa"]);
    assert!(
        shown["volumes_attached"]
            .to_string()
            .contains("delete_on_termination"),
        "{shown}"
    );
    u1.ok(&["server", "delete", "--wait", "sa", "sb"]);
    assert_eq!(u1.volume_status("v1"), "available");
    assert_eq!(u1.volume_status("v2"), "available");
    let deadline = Instant::now() + Duration::from_secs(60);
    while u1.run(&["volume", "show", "v3"]).status.success() {
        assert!(Instant::now() < deadline, "v3 outlived its server");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn server_volumes_local_backend() {
    let Some(cloud) = Cloud::start(Backend::Sqlite) else {
        return;
    };
    attach_flow(&cloud);
}

#[test]
fn server_volumes_iscsi_backend() {
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("nimbus.toml");
    let prefix = format!("iqn.2010-10.org.nimbus.e2e-sv-{}:", std::process::id());
    std::fs::write(
        &conf,
        format!("[backend_defaults]\nvolume_driver = \"iscsi\"\ntarget_prefix = \"{prefix}\"\n"),
    )
    .unwrap();
    let Some(cloud) = Cloud::start_with(Backend::Sqlite, &["--config", conf.to_str().unwrap()])
    else {
        return;
    };
    attach_flow(&cloud);
}

/// Boot from volume: an existing bootable volume made from the test guest
/// (`server create --volume`), and one the build makes from the image
/// (`--boot-from-volume` with `--delete-on-termination`). Both guests find
/// their root file system on the volume.
#[test]
fn server_boots_from_volume() {
    let Some(cloud) = Cloud::start(Backend::Sqlite) else {
        return;
    };
    upload_guest(&cloud, "guest");
    cloud.openstack_ok(&[
        "flavor", "create", "--ram", "192", "--disk", "1", "--vcpus", "1", "m1.vol",
    ]);
    let u = As {
        cloud: &cloud,
        user: member(&cloud, "u1", "p1"),
    };
    u.ok(&[
        "volume",
        "create",
        "--image",
        "guest",
        "--size",
        "2",
        "--bootable",
        "bv",
    ]);
    u.wait_volume("bv", "available");
    let bv = id_of(&u.json(&["volume", "show", "bv"]));
    u.ok(&[
        "server", "create", "--volume", "bv", "--flavor", "m1.vol", "vs",
    ]);
    u.ok(&[
        "server",
        "create",
        "--image",
        "guest",
        "--boot-from-volume",
        "2",
        "--delete-on-termination",
        "--flavor",
        "m1.vol",
        "vs2",
    ]);
    for s in ["vs", "vs2"] {
        u.wait_server(s, "ACTIVE");
        u.wait_console(s, "NIMBUS-GUEST root-disk /dev/vda", 0);
    }
    let shown = u.json(&["server", "show", "vs"]);
    assert_eq!(shown["image"], "N/A (booted from volume)", "{shown}");
    assert!(
        shown["volumes_attached"].to_string().contains(&bv),
        "{shown}"
    );
    assert_eq!(u.volume_status("bv"), "in-use");
    let list = u.json(&["server", "volume", "list", "vs"]);
    assert_eq!(list[0]["Device"], "/dev/vda", "{list}");
    let err = u.fails(&["server", "remove", "volume", "vs", "bv"]);
    assert!(err.contains("Cannot detach a root device volume"), "{err}");
    // A snapshot of a volume-backed server: a volume snapshot and a
    // zero-size image that maps the root to it; booting the image boots
    // from a new volume made from that snapshot.
    u.ok(&[
        "server", "image", "create", "--name", "vsnap", "--wait", "vs",
    ]);
    let image = u.json(&["image", "show", "vsnap"]);
    assert_eq!(image["size"], 0, "{image}");
    let props = image["properties"].to_string();
    assert!(props.contains("\"bdm_v2\":\"True\""), "{props}");
    assert!(props.contains("snapshot_id"), "{props}");
    let snaps = u.json(&["volume", "snapshot", "list"]);
    assert_eq!(snaps[0]["Name"], "snapshot for vsnap", "{snaps}");
    u.ok(&[
        "server", "create", "--image", "vsnap", "--flavor", "m1.vol", "vs3",
    ]);
    u.wait_server("vs3", "ACTIVE");
    u.wait_console("vs3", "NIMBUS-GUEST root-disk /dev/vda", 0);
    let from_snap = u.json(&["server", "volume", "list", "vs3"]);
    let made3 = from_snap[0]["Volume ID"].as_str().unwrap().to_string();
    assert_ne!(made3, bv, "{from_snap}");
    let vol = u.json(&["volume", "show", &made3]);
    assert_eq!(vol["snapshot_id"], snaps[0]["ID"], "{vol}");
    u.ok(&["server", "delete", "--wait", "vs3"]);
    // The volume the build made for vs2 goes with it; bv stays.
    let made = u.json(&["server", "volume", "list", "vs2"])[0]["Volume ID"]
        .as_str()
        .unwrap()
        .to_string();
    u.ok(&["server", "delete", "--wait", "vs", "vs2"]);
    assert_eq!(u.volume_status("bv"), "available");
    let deadline = Instant::now() + Duration::from_secs(60);
    while u.run(&["volume", "show", &made]).status.success() {
        assert!(Instant::now() < deadline, "vs2's volume outlived it");
        std::thread::sleep(Duration::from_millis(200));
    }
}
