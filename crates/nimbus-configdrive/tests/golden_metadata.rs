//! The metadata tree against nova's expectations in `nova/tests/unit/test_metadata.py`
//! (class and test names cited per test).

use base64::Engine as _;
use nimbus_configdrive::metadata::{EC2_VERSIONS, OPENSTACK_VERSIONS};
use nimbus_configdrive::{InstanceMetadata, Lookup, MetadataConfig, Purpose};
use serde_json::{Value, json};

use crate::fixtures::{nova_fake_instance, seed};

const KEY_DATA: &str = "ssh-rsa AAAAB3Nzai....N3NtHw== someuser@somehost";

fn config_drive_md() -> InstanceMetadata {
    InstanceMetadata::new(
        nova_fake_instance(),
        MetadataConfig::default(),
        Purpose::ConfigDrive,
    )
    .with_random_seed(seed())
}

fn service_md(address: Option<&str>) -> InstanceMetadata {
    let purpose = Purpose::Service {
        address: address.map(str::to_string),
        password: None,
    };
    InstanceMetadata::new(nova_fake_instance(), MetadataConfig::default(), purpose)
        .with_random_seed(seed())
}

fn body(md: &InstanceMetadata, path: &str) -> Vec<u8> {
    match md.lookup(path) {
        Ok(Lookup::Data { body, .. }) => body,
        other => panic!("{path}: {other:?}"),
    }
}

fn text(md: &InstanceMetadata, path: &str) -> String {
    String::from_utf8(body(md, path)).unwrap()
}

fn json_at(md: &InstanceMetadata, path: &str) -> Value {
    serde_json::from_slice(&body(md, path)).unwrap()
}

/// `fake_metadata_dicts(include_vlan, include_vf_trusted, include_shares)`.
fn fake_metadata_dicts(vlan: bool, trusted: bool, shares: bool) -> Value {
    let mut nic = json!({"type": "nic", "bus": "pci", "address": "0000:00:01.0", "mac": "00:00:00:00:00:00", "tags": ["foo"]});
    let mut vlan_nic = json!({"type": "nic", "bus": "pci", "address": "0000:80:01.0", "mac": "e3:a0:d0:12:c5:10", "vlan": 1000});
    let mut vf_nic = json!({"type": "nic", "bus": "pci", "address": "0000:00:02.0", "mac": "00:11:22:33:44:55", "tags": ["trusted"]});
    let ide = json!({"type": "disk", "bus": "ide", "address": "0:0", "serial": "disk-vol-2352423", "path": "/dev/sda", "tags": ["baz"]});
    let mut scsi = ide.clone();
    scsi["bus"] = json!("scsi");
    scsi["address"] = json!("05c8:021e:04a7:011b");
    let mut usb = ide.clone();
    usb["bus"] = json!("usb");
    usb["address"] = json!("05c8:021e");
    if trusted {
        nic["vf_trusted"] = json!(false);
        vlan_nic["vf_trusted"] = json!(false);
        vf_nic["vf_trusted"] = json!(true);
    }
    let mut dicts = vec![nic, ide, scsi, usb];
    if vlan {
        dicts.push(vlan_nic);
    }
    dicts.push(vf_nic);
    if shares {
        dicts.push(json!({"type": "share", "bus": "none", "address": "none",
                          "share_id": "ca3c176e-fd5a-438b-b595-e18a358f6909", "tag": "my_share_tag"}));
    }
    Value::Array(dicts)
}

/// MetadataTestCase.test_as_json / `_test_as_json_with_options`: the exact key set per version.
#[test]
fn test_as_json() {
    let md = config_drive_md();
    let seed_b64 = base64::engine::general_purpose::STANDARD.encode(seed());
    for (i, version) in OPENSTACK_VERSIONS.iter().enumerate() {
        let at_least = |v: &str| i >= OPENSTACK_VERSIONS.iter().position(|x| *x == v).unwrap();
        let mut expected = json!({
            "uuid": "b65cee2f-8c69-4aeb-be2f-f79742548fc2",
            "hostname": "test",
            "name": "my_displayname",
            "launch_index": 1,
            "availability_zone": "fake-az",
            "public_keys": {"key": KEY_DATA},
            "keys": [{"type": "fake_type", "data": KEY_DATA, "name": "key"}]
        });
        if at_least("2013-04-04") {
            expected["random_seed"] = json!(seed_b64);
        }
        if at_least("2015-10-15") {
            expected["project_id"] = json!("test");
        }
        if at_least("2016-06-30") {
            expected["devices"] = fake_metadata_dicts(at_least("2017-02-22"), false, false);
        }
        if at_least("2017-02-22") {
            expected["devices"] = fake_metadata_dicts(true, at_least("2018-08-27"), false);
        }
        if at_least("2020-10-14") {
            expected["dedicated_cpus"] = json!([]);
        }
        if at_least("2025-04-04") {
            expected["devices"] = fake_metadata_dicts(true, true, true);
        }
        let got = json_at(&md, &format!("/openstack/{version}/meta_data.json"));
        assert_eq!(got, expected, "version {version}");
    }
}

/// OpenStackMetadataTestCase.test_device_metadata: latest shows every device kind.
#[test]
fn test_device_metadata() {
    let md = config_drive_md();
    assert_eq!(
        json_at(&md, "/openstack/latest/meta_data.json")["devices"],
        fake_metadata_dicts(true, true, true)
    );
}

/// MetadataTestCase.test_InstanceMetadata_invoke_metadata_for_config_drive: the exact file list.
#[test]
fn test_instance_metadata_invoke_metadata_for_config_drive() {
    let mut expected = vec![
        "ec2/2009-04-04/user-data".to_string(),
        "ec2/2009-04-04/meta-data.json".into(),
        "ec2/latest/user-data".into(),
        "ec2/latest/meta-data.json".into(),
    ];
    let all: Vec<&str> = OPENSTACK_VERSIONS
        .iter()
        .copied()
        .chain(["latest"])
        .collect();
    for (i, v) in all.iter().enumerate() {
        expected.push(format!("openstack/{v}/meta_data.json"));
        expected.push(format!("openstack/{v}/user_data"));
        if i >= 2 {
            expected.push(format!("openstack/{v}/vendor_data.json"));
        }
        if i >= 3 {
            expected.push(format!("openstack/{v}/network_data.json"));
        }
        if i >= 5 {
            expected.push(format!("openstack/{v}/vendor_data2.json"));
        }
    }
    let got: Vec<String> = config_drive_md()
        .config_drive_files()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(got, expected);
    // Spot check against nova's literal list.
    assert_eq!(got[10], "openstack/2013-10-17/vendor_data.json");
    assert_eq!(got[13], "openstack/2015-10-15/vendor_data.json");
    assert_eq!(got.last().unwrap(), "openstack/latest/vendor_data2.json");
    assert_eq!(got.len(), 49);
}

/// OpenStackMetadataTestCase.test_metadata_json: injected files appear in `files` and their
/// content_path serves the content (config drive only: nova does not keep them for the service).
#[test]
fn test_metadata_json_files() {
    let mut inst = nova_fake_instance();
    inst.files = serde_json::from_value(json!([
        {"path": "/etc/my.conf", "contents": "Y29udGVudCBvZiBteS5jb25m"},
        {"path": "/root/hello", "contents": "Y29udGVudCBvZiAvcm9vdC9oZWxsbw=="}
    ]))
    .unwrap();
    inst.admin_pass = Some("s3cret".into());
    let md = InstanceMetadata::new(
        inst.clone(),
        MetadataConfig::default(),
        Purpose::ConfigDrive,
    );
    let meta = json_at(&md, "/openstack/latest/meta_data.json");
    assert_eq!(
        meta["files"],
        json!([{"path": "/etc/my.conf", "content_path": "/content/0000"},
               {"path": "/root/hello", "content_path": "/content/0001"}])
    );
    assert_eq!(body(&md, "/openstack/content/0000"), b"content of my.conf");
    assert_eq!(
        body(&md, "/openstack/content/0001"),
        b"content of /root/hello"
    );
    // libvirt driver's extra_md: admin_pass only on the config drive.
    assert_eq!(meta["admin_pass"], json!("s3cret"));
    let files = md.config_drive_files();
    assert!(
        files
            .iter()
            .any(|(p, d)| p == "openstack/content/0001" && d == b"content of /root/hello")
    );

    let service = InstanceMetadata::new(
        inst,
        MetadataConfig::default(),
        Purpose::Service {
            address: None,
            password: None,
        },
    );
    let meta = json_at(&service, "/openstack/latest/meta_data.json");
    assert!(meta.get("files").is_none() && meta.get("admin_pass").is_none());
}

/// test_returns_apis_supported_in_{folsom,grizzly,havana,liberty}_version.
#[test]
fn test_returns_apis_supported_per_version() {
    let md = service_md(None);
    assert_eq!(
        text(&md, "/openstack/2012-08-10"),
        "meta_data.json\nuser_data"
    );
    assert_eq!(
        text(&md, "/openstack/2013-04-04"),
        "meta_data.json\nuser_data\npassword"
    );
    assert_eq!(
        text(&md, "/openstack/2013-10-17"),
        "meta_data.json\nuser_data\npassword\nvendor_data.json"
    );
    assert_eq!(
        text(&md, "/openstack/2015-10-15"),
        "meta_data.json\nuser_data\npassword\nvendor_data.json\nnetwork_data.json"
    );
    // test_vendor_data_presence
    assert!(text(&md, "/openstack/2016-10-06").contains("vendor_data2.json"));
}

/// test_top_level_listing: trailing slash ignored, `content` not listed, versions and latest.
#[test]
fn test_top_level_listing() {
    let md = service_md(None);
    let listing = text(&md, "/openstack");
    assert_eq!(listing, text(&md, "/openstack/"));
    assert!(!listing.contains("content"));
    assert!(listing.starts_with("2012-08-10\n") && listing.ends_with("\nlatest"));
    // Future versions are hidden from the listing but can be requested.
    let md_future = md.lookup_on("/openstack", "2016-01-01").unwrap();
    let Lookup::Data { body, .. } = md_future else {
        panic!()
    };
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "2012-08-10\n2013-04-04\n2013-10-17\n2015-10-15\nlatest"
    );
}

/// test_userdata: served, listed, and absent (404) without user data.
#[test]
fn test_userdata() {
    let md = service_md(None);
    assert_eq!(
        body(&md, "/openstack/2012-08-10/user_data"),
        b"This is an encoded string"
    );
    let mut inst = nova_fake_instance();
    inst.user_data = None;
    let md = InstanceMetadata::new(inst, MetadataConfig::default(), Purpose::ConfigDrive);
    assert!(!text(&md, "/openstack/2012-08-10").contains("user_data"));
    assert!(md.lookup("/openstack/2012-08-10/user_data").is_err());
    assert!(
        !md.config_drive_files()
            .iter()
            .any(|(p, _)| p.ends_with("user_data") || p.ends_with("user-data"))
    );
}

/// test_random_seed: 512 random bytes from 2013-04-04 on, fresh per document.
#[test]
fn test_random_seed() {
    let md = InstanceMetadata::new(
        nova_fake_instance(),
        MetadataConfig::default(),
        Purpose::ConfigDrive,
    );
    let a = json_at(&md, "/openstack/2013-04-04/meta_data.json")["random_seed"]
        .as_str()
        .unwrap()
        .to_string();
    let b = json_at(&md, "/openstack/2013-04-04/meta_data.json")["random_seed"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(&a)
            .unwrap()
            .len(),
        512
    );
    assert_ne!(a, b);
    assert!(
        json_at(&md, "/openstack/2012-08-10/meta_data.json")
            .get("random_seed")
            .is_none()
    );
}

/// test_project_id and test_no_dashes_in_metadata.
#[test]
fn test_project_id_and_no_dashes() {
    let md = service_md(None);
    assert_eq!(
        json_at(&md, "/openstack/2015-10-15/meta_data.json")["project_id"],
        json!("test")
    );
    assert!(
        json_at(&md, "/openstack/2013-10-17/meta_data.json")
            .get("project_id")
            .is_none()
    );
    let latest = json_at(&md, "/openstack/latest/meta_data.json");
    assert!(latest.as_object().unwrap().keys().all(|k| !k.contains('-')));
}

/// test_x509_keypair.
#[test]
fn test_x509_keypair() {
    let mut inst = nova_fake_instance();
    inst.keypairs[0].key_type = "x509".into();
    inst.keypairs[0].public_key = "public_key".into();
    let md = InstanceMetadata::new(inst, MetadataConfig::default(), Purpose::ConfigDrive);
    assert_eq!(
        json_at(&md, "/openstack/2012-08-10/meta_data.json")["keys"],
        json!([{"name": "key", "type": "x509", "data": "public_key"}])
    );
}

/// Vendor data: `{}` without a StaticJSON file; vendor_data2 is `{"static": ..., <target>: ...}`
/// (test_vendor_data_response_vendordata2_ok).
#[test]
fn test_vendor_data() {
    let md = service_md(None);
    assert_eq!(body(&md, "/openstack/latest/vendor_data.json"), b"{}");
    assert_eq!(
        body(&md, "/openstack/latest/vendor_data2.json"),
        b"{\"static\": {}}"
    );
    assert!(md.lookup("/openstack/2013-04-04/vendor_data.json").is_err());
    let mut inst = nova_fake_instance();
    inst.vendor_data = serde_json::from_value(json!({
        "static": {"ldap": "10.0.0.1", "ad": "10.0.0.2"},
        "dynamic": {"web": {"color": "blue"}}
    }))
    .unwrap();
    let md = InstanceMetadata::new(inst, MetadataConfig::default(), Purpose::ConfigDrive);
    let vd = json_at(&md, "/openstack/2013-10-17/vendor_data.json");
    assert_eq!(vd["ldap"], json!("10.0.0.1"));
    let vd2 = json_at(&md, "/openstack/2016-10-06/vendor_data2.json");
    assert_eq!(vd2["static"]["ad"], json!("10.0.0.2"));
    assert_eq!(vd2["web"]["color"], json!("blue"));
}

/// test_network_data_presence; and `{}` when the instance has no network info.
#[test]
fn test_network_data() {
    let md = service_md(None);
    assert!(!text(&md, "/openstack/2013-10-17").contains("network_data.json"));
    assert_eq!(body(&md, "/openstack/latest/network_data.json"), b"{}");
}

/// MetadataHandlerTestCase.test_root / test_version_root and test_pubkey, test_local_hostname.
#[test]
fn test_ec2_tree() {
    let md = service_md(Some("fake"));
    let mut versions = EC2_VERSIONS.join("\n");
    versions.push_str("\nlatest");
    assert_eq!(text(&md, "/"), versions);
    assert_eq!(text(&md, "/foo/../"), versions);
    assert_eq!(text(&md, "/2009-04-04"), "meta-data/\nuser-data");
    assert!(md.lookup("/9999-99-99").is_err());
    assert!(md.lookup("/2009-04-04/user-data-invalid").is_err());
    assert_eq!(
        body(&md, "/2009-04-04/user-data"),
        b"This is an encoded string"
    );
    assert_eq!(text(&md, "/2009-04-04/meta-data/public-keys"), "0=key");
    assert_eq!(
        text(&md, "/2009-04-04/meta-data/public-keys/0/openssh-key"),
        KEY_DATA
    );
    assert_eq!(text(&md, "/latest/meta-data/local-hostname"), "test");
    assert_eq!(
        text(&md, "/ec2/latest/meta-data/security-groups"),
        "default"
    );
    // test_local_ipv4_from_address: no fixed IP, so the request address.
    assert_eq!(text(&md, "/2009-04-04/meta-data/local-ipv4"), "fake");
    assert_eq!(
        text(&md, "/latest/meta-data/placement/availability-zone"),
        "fake-az"
    );
}

/// MetadataHandlerTestCase.test_get_metadata: every item listed under meta-data answers.
#[test]
fn test_get_metadata_walks() {
    let md = service_md(None);
    let mut stack = vec!["/2009-04-04/meta-data".to_string()];
    let mut seen = 0;
    while let Some(path) = stack.pop() {
        for item in text(&md, &path).lines() {
            let item = if path.contains("public-keys") {
                item.split('=').next().unwrap()
            } else {
                item
            };
            let child = format!("{path}/{}", item.trim_end_matches('/'));
            if item.ends_with('/') || path.ends_with("public-keys") {
                stack.push(child);
            } else {
                assert!(md.lookup(&child).is_ok(), "{child}");
                seen += 1;
            }
        }
    }
    assert!(seen > 15, "{seen}");
}

/// test_format_instance_mapping: root, ephemeral, swap and volume devices.
#[test]
fn test_format_instance_mapping() {
    let md = service_md(None);
    let bdm = &json_at_ec2(&md)["block-device-mapping"];
    assert_eq!(*bdm, json!({"ami": "sda1", "root": "/dev/sda1"}));
    let mut inst = nova_fake_instance();
    inst.ec2.ephemeral_device = Some("/dev/sdb".into());
    inst.ec2.swap_device = Some("/dev/sdc".into());
    inst.ec2.volume_devices = vec!["/dev/sdh".into()];
    let md = InstanceMetadata::new(inst, MetadataConfig::default(), Purpose::ConfigDrive);
    assert_eq!(
        json_at_ec2(&md)["block-device-mapping"],
        json!({"ami": "sda1", "root": "/dev/sda1", "ephemeral0": "/dev/sdb", "swap": "/dev/sdc", "ebs0": "/dev/sdh"})
    );
    let mut inst = nova_fake_instance();
    inst.ec2.root_device_name = None;
    let md = InstanceMetadata::new(inst, MetadataConfig::default(), Purpose::ConfigDrive);
    // block_device._DEFAULT_MAPPINGS
    assert_eq!(
        json_at_ec2(&md)["block-device-mapping"],
        json!({"ami": "sda1", "ephemeral0": "sda2", "root": "/dev/sda1", "swap": "sda3"})
    );
}

fn json_at_ec2(md: &InstanceMetadata) -> Value {
    let files = md.config_drive_files();
    let (_, data) = files
        .iter()
        .find(|(p, _)| p == "ec2/latest/meta-data.json")
        .unwrap();
    serde_json::from_slice(data).unwrap()
}

/// The config drive's EC2 meta-data.json: `_name` removed (metadata_for_config_drive).
#[test]
fn config_drive_ec2_meta_data() {
    let meta = json_at_ec2(&config_drive_md());
    assert_eq!(meta["public-keys"], json!({"0": {"openssh-key": KEY_DATA}}));
    assert_eq!(meta["ami-launch-index"], json!(1));
    assert_eq!(meta["instance-action"], json!("none"));
    assert_eq!(meta["local-ipv4"], Value::Null);
}

/// test_local_hostname_fqdn: dhcp_domain is appended.
#[test]
fn test_local_hostname_fqdn() {
    let config = MetadataConfig {
        dhcp_domain: Some("fakedomain".into()),
        ..MetadataConfig::default()
    };
    let md = InstanceMetadata::new(nova_fake_instance(), config, Purpose::ConfigDrive);
    assert_eq!(
        text(&md, "/2009-04-04/meta-data/local-hostname"),
        "test.fakedomain"
    );
    assert_eq!(
        json_at(&md, "/openstack/latest/meta_data.json")["hostname"],
        json!("test.fakedomain")
    );
}

/// Byte layout: Python's json.dumps separators and nova's key order.
#[test]
fn meta_data_bytes_follow_nova_order() {
    let md = config_drive_md();
    let raw = String::from_utf8(body(&md, "/openstack/2012-08-10/meta_data.json")).unwrap();
    assert_eq!(
        raw,
        format!(
            "{{\"uuid\": \"b65cee2f-8c69-4aeb-be2f-f79742548fc2\", \"public_keys\": {{\"key\": \"{KEY_DATA}\"}}, \
             \"keys\": [{{\"name\": \"key\", \"type\": \"fake_type\", \"data\": \"{KEY_DATA}\"}}], \
             \"hostname\": \"test\", \"name\": \"my_displayname\", \"launch_index\": 1, \"availability_zone\": \"fake-az\"}}"
        )
    );
}

/// Password path: a callable in nova (test_password), only from GRIZZLY on.
#[test]
fn test_password() {
    let md = service_md(None);
    assert_eq!(
        md.lookup("/openstack/latest/password").unwrap(),
        Lookup::Password
    );
    assert!(md.lookup("/openstack/2012-08-10/password").is_err());
}

/// Hostile or odd paths get an answer or NotFound, never a panic.
#[test]
fn odd_paths_are_not_found_or_answered() {
    let md = service_md(Some("10.0.0.5"));
    for path in [
        "",
        "//",
        "/openstack/latest/../../..",
        "/openstack/content",
        "/openstack/content/",
        "/openstack/content/0000/extra",
        "/openstack/content/../latest/meta_data.json",
        "/openstack/latest/meta_data.json/extra",
        "/openstack/latest/content",
        "/openstack/latest/version",
        "/openstack/latest/password/x",
        "/openstack/9999-99-99/meta_data.json",
        "/ec2/latest/meta-data/public-keys/0/openssh-key/extra",
        "/latest/meta-data/security-groups/default",
        "/latest/meta-data/ami-launch-index/x",
        "/latest/user-data/x",
        "/latest/meta-data/%00",
        &"/a".repeat(10_000),
    ] {
        let _ = md.lookup(path);
    }
    assert_eq!(
        text(&md, "/openstack/content/../latest"),
        text(&md, "/openstack/latest")
    );
    assert!(md.lookup("/openstack/latest/meta_data.json/extra").is_err());
}
