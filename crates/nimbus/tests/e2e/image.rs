//! The image service through the real `openstack` CLI (and curl for what the
//! CLI cannot do, such as dying mid-upload), on SQLite and PostgreSQL, with
//! the file store and with an S3 store (moto started on 127.0.0.1).

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::on_both_backends;
use crate::support::{Backend, Cloud, User, failed, ok};

fn run(cmd: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} is required: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn sha512_of(path: &Path) -> String {
    let out = String::from_utf8(run("sha512sum", &[path.to_str().unwrap()])).unwrap();
    out.split_whitespace().next().unwrap().to_string()
}

fn md5_of(path: &Path) -> String {
    let out = String::from_utf8(run("md5sum", &[path.to_str().unwrap()])).unwrap();
    out.split_whitespace().next().unwrap().to_string()
}

/// A qcow2 with some written data (so the file is not all metadata).
fn make_qcow2(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let p = path.to_str().unwrap();
    run("qemu-img", &["create", "-q", "-f", "qcow2", p, "64M"]);
    run("qemu-io", &["-f", "qcow2", "-c", "write -P 0x5a 1M 2M", p]);
    path
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Where the cloud under test keeps image data: the file store (default) or
/// an S3 store on a moto server of the test's own.
enum Store {
    File,
    S3(Moto),
}

impl Store {
    fn s3() -> Store {
        Store::S3(start_moto())
    }

    /// A cloud using this store; its config file goes into `work`.
    fn cloud(&self, backend: Backend, work: &Path) -> Option<Cloud> {
        match self {
            Store::File => Cloud::start(backend),
            Store::S3(moto) => {
                let config = work.join("nimbus.toml");
                std::fs::write(
                    &config,
                    format!(
                        "[glance_store]\ndefault_store = \"s3\"\ns3_store_host = \"{}\"\n\
                         s3_store_bucket = \"nimbus-images\"\n\
                         s3_store_access_key = \"testing\"\ns3_store_secret_key = \"testing\"\n",
                        moto.url
                    ),
                )
                .unwrap();
                Cloud::start_with(backend, &["--config", config.to_str().unwrap()])
            }
        }
    }

    /// Image data held anywhere: the file store, the staging area and, with
    /// S3, the bucket's object keys.
    fn stored(&self, cloud: &Cloud) -> Vec<String> {
        let mut all: Vec<String> = files_under(&cloud.data_dir().join("images"))
            .into_iter()
            .chain(files_under(&cloud.data_dir().join("images-staging")))
            .map(|p| p.display().to_string())
            .collect();
        if let Store::S3(moto) = self {
            all.extend(moto.keys());
        }
        all
    }
}

fn show(cloud: &Cloud, image: &str) -> Value {
    cloud.openstack_json(&["image", "show", image])
}

fn a_second_project(cloud: &Cloud) -> (User, String) {
    let project = cloud.openstack_json(&["project", "create", "p2"]);
    cloud.openstack_ok(&[
        "user",
        "create",
        "--project",
        "p2",
        "--password",
        "pw-u2-secret",
        "u2",
    ]);
    cloud.openstack_ok(&["role", "add", "--project", "p2", "--user", "u2", "member"]);
    (
        User::new("u2", "pw-u2-secret", "p2"),
        project["id"].as_str().unwrap().to_string(),
    )
}

/// The acceptance flow of the image service through the CLI, file store.
fn image_cli(backend: Backend) {
    cli_flow(backend, Store::File);
}
on_both_backends!(image_cli);

/// The acceptance flow with S3 as the default store.
fn image_cli_s3(backend: Backend) {
    cli_flow(backend, Store::s3());
}
on_both_backends!(image_cli_s3);

fn cli_flow(backend: Backend, store: Store) {
    let work = tempfile::tempdir().unwrap();
    let Some(cloud) = store.cloud(backend, work.path()) else {
        return;
    };
    let src = make_qcow2(work.path(), "cirros.qcow2");
    let src_s = src.to_str().unwrap();
    let created = cloud.openstack_json(&[
        "image",
        "create",
        "--disk-format",
        "qcow2",
        "--container-format",
        "bare",
        "--file",
        src_s,
        "--property",
        "k=v",
        "--min-disk",
        "1",
        "cirros",
    ]);
    assert_eq!(created["status"], "active", "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let doc = show(&cloud, "cirros");
    assert_eq!(doc["id"], id.as_str());
    assert_eq!(doc["min_disk"], 1);
    assert_eq!(doc["properties"]["k"], "v", "{doc}");
    assert_eq!(doc["checksum"], md5_of(&src));
    assert_eq!(doc["size"], std::fs::metadata(&src).unwrap().len());
    assert_eq!(doc["virtual_size"], 64 << 20);
    assert_eq!(doc["disk_format"], "qcow2");

    let list = cloud.openstack_json(&["image", "list", "--long"]);
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ID"] == id.as_str())
        .expect("listed");
    assert_eq!(row["Name"], "cirros");
    assert_eq!(row["Disk Format"], "qcow2");
    assert_eq!(row["Status"], "active");

    // set / unset.
    cloud.openstack_ok(&[
        "image",
        "set",
        "--property",
        "os_distro=cirros",
        "--name",
        "cirros2",
        "--tag",
        "gold",
        "--min-ram",
        "128",
        "cirros",
    ]);
    let doc = show(&cloud, "cirros2");
    assert_eq!(doc["properties"]["os_distro"], "cirros");
    assert_eq!(doc["min_ram"], 128);
    assert_eq!(doc["tags"], serde_json::json!(["gold"]));
    cloud.openstack_ok(&[
        "image",
        "unset",
        "--property",
        "os_distro",
        "--tag",
        "gold",
        "cirros2",
    ]);
    let doc = show(&cloud, "cirros2");
    assert!(doc["properties"].get("os_distro").is_none(), "{doc}");
    assert_eq!(doc["tags"], serde_json::json!([]));

    // save: the same bytes come back.
    let out = work.path().join("saved.img");
    cloud.openstack_ok(&["image", "save", "--file", out.to_str().unwrap(), "cirros2"]);
    assert_eq!(sha512_of(&out), sha512_of(&src));
    // The CLI shows os_hash_value among the properties.
    let doc = show(&cloud, &id);
    let hash = doc["os_hash_value"]
        .as_str()
        .or_else(|| doc["properties"]["os_hash_value"].as_str());
    assert_eq!(hash, Some(sha512_of(&src).as_str()), "{doc}");

    // Sharing with another project.
    let (u2, p2) = a_second_project(&cloud);
    assert!(
        ok(
            cloud.openstack_as(&u2, &["image", "list", "-f", "value", "-c", "ID"]),
            &[]
        )
        .trim()
        .is_empty()
    );
    cloud.openstack_ok(&["image", "set", "--shared", "cirros2"]);
    cloud.openstack_ok(&["image", "add", "project", "cirros2", &p2]);
    ok(
        cloud.openstack_as(&u2, &["image", "set", "--accept", &id]),
        &["image set --accept"],
    );
    let listed = ok(
        cloud.openstack_as(&u2, &["image", "list", "-f", "value", "-c", "ID"]),
        &[],
    );
    assert!(listed.contains(&id), "{listed}");
    let saved2 = work.path().join("saved2.img");
    ok(
        cloud.openstack_as(
            &u2,
            &["image", "save", "--file", saved2.to_str().unwrap(), &id],
        ),
        &["save as u2"],
    );
    assert_eq!(sha512_of(&saved2), sha512_of(&src));
    // The member may not change it.
    failed(
        cloud.openstack_as(&u2, &["image", "set", "--name", "mine", &id]),
        &["set as member"],
    );
    cloud.openstack_ok(&["image", "remove", "project", "cirros2", &p2]);
    failed(
        cloud.openstack_as(&u2, &["image", "show", &id]),
        &["show after removal"],
    );

    // Visibility.
    for (flag, want) in [
        ("--public", "public"),
        ("--community", "community"),
        ("--private", "private"),
    ] {
        cloud.openstack_ok(&["image", "set", flag, "cirros2"]);
        assert_eq!(show(&cloud, "cirros2")["visibility"], want);
        let seen = cloud.openstack_as(&u2, &["image", "show", &id]);
        assert_eq!(seen.status.success(), want != "private", "{want}");
    }

    // Protected images cannot be deleted.
    cloud.openstack_ok(&["image", "set", "--protected", "cirros2"]);
    failed(
        cloud.openstack(&["image", "delete", "cirros2"]),
        &["delete protected"],
    );
    cloud.openstack_ok(&["image", "set", "--unprotected", "cirros2"]);

    // Deactivate / reactivate.
    cloud.openstack_ok(&["image", "set", "--deactivate", "cirros2"]);
    assert_eq!(show(&cloud, "cirros2")["status"], "deactivated");
    cloud.openstack_ok(&["image", "set", "--activate", "cirros2"]);
    assert_eq!(show(&cloud, "cirros2")["status"], "active");

    // Delete removes record and data.
    assert_eq!(store.stored(&cloud).len(), 1, "{:?}", store.stored(&cloud));
    cloud.openstack_ok(&["image", "delete", "cirros2"]);
    failed(cloud.openstack(&["image", "show", &id]), &["show deleted"]);
    assert!(
        store.stored(&cloud).is_empty(),
        "{:?}",
        store.stored(&cloud)
    );
}

/// Hostile data through the CLI: refused, the image stays queued, nothing stored.
fn image_refusals(backend: Backend) {
    refusals(backend, Store::File);
}
on_both_backends!(image_refusals);

/// The same refusals with S3 as the default store: nothing reaches the bucket.
fn image_refusals_s3(backend: Backend) {
    refusals(backend, Store::s3());
}
on_both_backends!(image_refusals_s3);

fn refusals(backend: Backend, store: Store) {
    let work = tempfile::tempdir().unwrap();
    let Some(cloud) = store.cloud(backend, work.path()) else {
        return;
    };
    let backing = work.path().join("backed.qcow2");
    run(
        "qemu-img",
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-u",
            "-b",
            "/etc/shadow",
            "-F",
            "raw",
            backing.to_str().unwrap(),
            "16M",
        ],
    );
    let err = failed(
        cloud.openstack(&[
            "image",
            "create",
            "--disk-format",
            "qcow2",
            "--container-format",
            "bare",
            "--file",
            backing.to_str().unwrap(),
            "backed",
        ]),
        &["create with backing file"],
    );
    assert!(
        err.contains("415") || err.to_lowercase().contains("backing"),
        "{err}"
    );
    assert_refused_left_nothing(&cloud, "backed");
    // A safe qcow2 declared raw.
    let q = make_qcow2(work.path(), "q.qcow2");
    failed(
        cloud.openstack(&[
            "image",
            "create",
            "--disk-format",
            "raw",
            "--container-format",
            "bare",
            "--file",
            q.to_str().unwrap(),
            "mislabelled",
        ]),
        &["qcow2 declared raw"],
    );
    assert_refused_left_nothing(&cloud, "mislabelled");
    assert!(
        store.stored(&cloud).is_empty(),
        "{:?}",
        store.stored(&cloud)
    );
}

/// After a refused `openstack image create --file`, the image is not
/// active: openstacksdk deletes an image whose upload failed, and through the
/// API alone it stays `queued` (nimbus-image's own tests check that).
fn assert_refused_left_nothing(cloud: &Cloud, name: &str) {
    let listed =
        cloud.openstack_ok(&["image", "list", "-f", "value", "-c", "Name", "-c", "Status"]);
    for line in listed.lines() {
        if line.split_whitespace().next() == Some(name) {
            assert!(
                line.ends_with("queued"),
                "refused image {name} is listed as: {line}"
            );
        }
    }
}

/// Starts `PUT .../file` announcing `announced` bytes over a raw socket and
/// sends only `sent` of them: the upload then stalls for as long as the
/// caller keeps the socket, so a kill always lands mid-upload.
fn stalled_upload(cloud: &Cloud, token: &str, id: &str, announced: u64, sent: usize) -> TcpStream {
    let addr = cloud.base_url().trim_start_matches("http://").to_string();
    let mut socket = TcpStream::connect(&addr).unwrap();
    let head = format!(
        "PUT /image/v2/images/{id}/file HTTP/1.1\r\nHost: {addr}\r\nX-Auth-Token: {token}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {announced}\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).unwrap();
    socket.write_all(&vec![0u8; sent]).unwrap();
    socket.flush().unwrap();
    socket
}

/// Image `id` as the API shows it to the admin.
fn api_show(cloud: &Cloud, id: &str) -> Value {
    let r = cloud
        .http()
        .get(cloud.url(&format!("/image/v2/images/{id}")))
        .header("X-Auth-Token", cloud.token(&cloud.admin()))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().unwrap()
}

/// Waits up to 20 s for image `id` to reach `want`; returns its last record.
fn wait_status(cloud: &Cloud, id: &str, want: &str) -> Value {
    let mut image = Value::Null;
    for _ in 0..200 {
        image = api_show(cloud, id);
        if image["status"] == want {
            return image;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("image {id} never became {want}: {image}");
}

/// Waits up to 10 s for the store and staging directories to be empty
/// (an interrupted upload's temporary file goes when its worker ends).
fn assert_nothing_stored(store: &Store, cloud: &Cloud) {
    for _ in 0..100 {
        if store.stored(cloud).is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("data left behind: {:?}", store.stored(cloud));
}

/// The pid of the `nimbus serve` of `cloud`, found by its data dir.
fn server_pid(cloud: &Cloud) -> u32 {
    let needle = cloud.data_dir().to_str().unwrap().as_bytes().to_vec();
    for entry in std::fs::read_dir("/proc").unwrap() {
        let entry = entry.unwrap();
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args.first().is_some_and(|a| a.ends_with(b"nimbus"))
            && args.contains(&b"serve".as_slice())
            && args.contains(&needle.as_slice())
        {
            return pid;
        }
    }
    panic!("no nimbus serve process for {}", cloud.data_dir().display());
}

/// Neither a client that goes away mid-upload nor a server killed with
/// SIGKILL mid-upload leaves an active image or any data (in the store or
/// the staging area); after each, a fresh upload of the same image works.
fn killed_upload(backend: Backend) {
    killed(backend, Store::File);
}
on_both_backends!(killed_upload);

/// The same with S3 as the default store: no object is left in the bucket.
fn killed_upload_s3(backend: Backend) {
    killed(backend, Store::s3());
}
on_both_backends!(killed_upload_s3);

fn killed(backend: Backend, store: Store) {
    let work = tempfile::tempdir().unwrap();
    let Some(mut cloud) = store.cloud(backend, work.path()) else {
        return;
    };
    let token = cloud.token(&cloud.admin());
    // Through the API: `openstack image create` with a non-tty stdin
    // uploads stdin (empty), which would make the image active at once.
    let created: Value = cloud
        .http()
        .post(cloud.url("/image/v2/images"))
        .header("X-Auth-Token", &token)
        .json(&serde_json::json!({"name": "big", "disk_format": "raw", "container_format": "bare"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["status"], "queued");
    let announced: u64 = 64 << 20;

    // The client disconnects after 8 MiB of 64.
    let socket = stalled_upload(&cloud, &token, &id, announced, 8 << 20);
    wait_status(&cloud, &id, "saving");
    drop(socket);
    let image = wait_status(&cloud, &id, "queued");
    assert!(
        image["checksum"].is_null() && image["size"].is_null(),
        "{image}"
    );
    assert_nothing_stored(&store, &cloud);

    // The server is killed (SIGKILL, no cleanup of its own) mid-upload.
    let socket = stalled_upload(&cloud, &token, &id, announced, 8 << 20);
    wait_status(&cloud, &id, "saving");
    assert!(
        !store.stored(&cloud).is_empty(),
        "the upload in flight writes into the staging area"
    );
    let pid = server_pid(&cloud).to_string();
    assert!(
        Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap()
            .success()
    );
    drop(socket);
    cloud.restart();
    let image = wait_status(&cloud, &id, "queued");
    assert!(
        image["checksum"].is_null() && image["os_hash_value"].is_null(),
        "{image}"
    );
    assert_nothing_stored(&store, &cloud);
    let r = cloud
        .http()
        .get(cloud.url(&format!("/image/v2/images/{id}/file")))
        .header("X-Auth-Token", cloud.token(&cloud.admin()))
        .send()
        .unwrap();
    assert_eq!(r.status(), 204, "a queued image serves no data");

    // A fresh upload of the same image works.
    let data = work.path().join("data.raw");
    run(
        "dd",
        &[
            "if=/dev/urandom",
            &format!("of={}", data.display()),
            "bs=1M",
            "count=3",
            "status=none",
        ],
    );
    let token = cloud.token(&cloud.admin());
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "PUT",
            "-T",
        ])
        .arg(&data)
        .args(["-H", &format!("X-Auth-Token: {token}")])
        .args(["-H", "Content-Type: application/octet-stream"])
        .arg(cloud.url(&format!("/image/v2/images/{id}/file")))
        .output()
        .expect("curl is required");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "204");
    let image = api_show(&cloud, &id);
    assert_eq!(image["status"], "active");
    assert_eq!(image["os_hash_value"], sha512_of(&data));
    let saved = work.path().join("saved");
    cloud.openstack_ok(&["image", "save", "--file", saved.to_str().unwrap(), &id]);
    assert_eq!(sha512_of(&saved), sha512_of(&data));
    assert_eq!(store.stored(&cloud).len(), 1, "{:?}", store.stored(&cloud));
}

/// moto on 127.0.0.1, killed on drop.
struct Moto {
    child: Child,
    url: String,
}

impl Moto {
    /// Keys of the objects in the test bucket.
    fn keys(&self) -> Vec<String> {
        let listing = crate::support::http_client()
            .get(format!("{}/nimbus-images", self.url))
            .send()
            .unwrap()
            .text()
            .unwrap();
        listing
            .split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split("</Key>").next())
            .map(|key| format!("s3:{key}"))
            .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_moto() -> Moto {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bin = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/moto_server");
    let child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{bin} is required (scripts/lib/deps.sh installs it): {e}"));
    let moto = Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let client = crate::support::http_client();
    for _ in 0..300 {
        if client.get(&moto.url).send().is_ok() {
            let r = client
                .put(format!("{}/nimbus-images", moto.url))
                .send()
                .unwrap();
            assert!(r.status().is_success(), "create bucket: {}", r.status());
            return moto;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("moto_server did not start");
}

/// Where S3 data lives: `direct_url` names the object, the file store stays
/// empty, and deleting the image deletes the object.
fn image_s3(backend: Backend) {
    let store = Store::s3();
    let work = tempfile::tempdir().unwrap();
    let Some(cloud) = store.cloud(backend, work.path()) else {
        return;
    };
    let Store::S3(moto) = &store else {
        unreachable!()
    };
    let src = make_qcow2(work.path(), "s3.qcow2");
    let created = cloud.openstack_json(&[
        "image",
        "create",
        "--disk-format",
        "qcow2",
        "--container-format",
        "bare",
        "--file",
        src.to_str().unwrap(),
        "on-s3",
    ]);
    assert_eq!(created["status"], "active");
    let doc = show(&cloud, "on-s3");
    let id = doc["id"].as_str().unwrap().to_string();
    let direct = doc["direct_url"]
        .as_str()
        .or_else(|| doc["properties"]["direct_url"].as_str())
        .unwrap_or("");
    assert_eq!(direct, format!("s3://nimbus-images/images/{id}"), "{doc}");
    assert!(
        files_under(&cloud.data_dir().join("images")).is_empty(),
        "data is not in the file store"
    );
    let out = work.path().join("back.img");
    cloud.openstack_ok(&["image", "save", "--file", out.to_str().unwrap(), "on-s3"]);
    assert_eq!(sha512_of(&out), sha512_of(&src));
    assert_eq!(moto.keys(), [format!("s3:images/{id}")]);
    cloud.openstack_ok(&["image", "delete", "on-s3"]);
    assert!(moto.keys().is_empty(), "{:?}", moto.keys());
}
on_both_backends!(image_s3);

/// Serves `body` at any path over HTTP/1.1 on 127.0.0.1 (one thread per
/// connection) until the test ends; returns the port.
fn serve_bytes(body: Vec<u8>) -> u16 {
    use std::io::{BufRead, BufReader};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = std::sync::Arc::new(body);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let body = body.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            });
        }
    });
    port
}

/// `openstack image import --method web-download` with the config file's
/// `[import_filtering_opts]`: a listed loopback host and port are fetched
/// from; a URL outside the lists is refused (400) and the image stays queued.
fn image_web_download(backend: Backend) {
    let work = tempfile::tempdir().unwrap();
    let src = make_qcow2(work.path(), "web.qcow2");
    let port = serve_bytes(std::fs::read(&src).unwrap());
    let config = work.path().join("nimbus.toml");
    std::fs::write(
        &config,
        format!(
            "[import_filtering_opts]\nallowed_hosts = [\"127.0.0.1\"]\nallowed_ports = [{port}]\n"
        ),
    )
    .unwrap();
    let Some(cloud) = Cloud::start_with(backend, &["--config", config.to_str().unwrap()]) else {
        return;
    };
    let token = cloud.token(&cloud.admin());
    // Through the API: the CLI would upload its (empty, non-tty) stdin.
    let new_image = |name: &str| -> String {
        let created: Value = cloud
            .http()
            .post(cloud.url("/image/v2/images"))
            .header("X-Auth-Token", &token)
            .json(&serde_json::json!({"name": name, "disk_format": "qcow2", "container_format": "bare"}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        created["id"].as_str().unwrap().to_string()
    };
    let id = new_image("fetched");
    let uri = format!("http://127.0.0.1:{port}/web.qcow2");
    cloud.openstack_ok(&[
        "image",
        "import",
        "--method",
        "web-download",
        "--uri",
        &uri,
        &id,
    ]);
    let image = wait_status(&cloud, &id, "active");
    assert_eq!(image["os_hash_value"], sha512_of(&src));
    assert_eq!(image["virtual_size"], 64 << 20);
    let saved = work.path().join("saved");
    cloud.openstack_ok(&["image", "save", "--file", saved.to_str().unwrap(), &id]);
    assert_eq!(sha512_of(&saved), sha512_of(&src));

    // Refusals through the API: `openstack image import` exits 0 whatever
    // the answer (openstacksdk's Image.import_image does not raise on an
    // error status), so the CLI cannot show them.
    let id = new_image("refused");
    for uri in [
        // The same server by a name that is not listed.
        format!("http://localhost:{port}/web.qcow2"),
        // A port that is not listed.
        "http://127.0.0.1:1/web.qcow2".to_string(),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "file:///etc/passwd".to_string(),
    ] {
        let r = cloud
            .http()
            .post(cloud.url(&format!("/image/v2/images/{id}/import")))
            .header("X-Auth-Token", &token)
            .json(&serde_json::json!({"method": {"name": "web-download", "uri": uri}}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 400, "{uri}");
        let body = r.text().unwrap();
        assert!(body.contains("does not pass filtering"), "{uri}: {body}");
        assert_eq!(api_show(&cloud, &id)["status"], "queued", "{uri}");
    }
}
on_both_backends!(image_web_download);
