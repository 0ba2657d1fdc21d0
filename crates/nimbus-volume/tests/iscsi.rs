//! The iSCSI backend against the real tgtd: Cinder's target file, CHAP
//! credentials that work, wrong ones refused, and the target withdrawn on
//! detach.

use std::process::Command;

use serde_json::json;

use crate::support::{ctx, harness_with};
use nimbus_volume::VolumeDriverKind;

const INSTANCE: &str = "0c3f1d52-8a1e-4d0b-9a57-3b9f4f8e2a11";

fn qemu_img_info(info: &serde_json::Value, password: &str) -> std::process::Output {
    let d = &info["data"];
    Command::new("qemu-img")
        .args(["info", "--object"])
        .arg(format!("secret,id=chap,data={password}"))
        .arg("--image-opts")
        .arg(format!(
            "driver=iscsi,transport=tcp,portal={},target={},lun={},user={},password-secret=chap",
            d["target_portal"].as_str().unwrap(),
            d["target_iqn"].as_str().unwrap(),
            d["target_lun"],
            d["auth_username"].as_str().unwrap()
        ))
        .output()
        .expect("qemu-img is required")
}

fn tgt_targets() -> String {
    let out = Command::new("tgtadm")
        .args(["--lld", "iscsi", "--op", "show", "--mode", "target"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn export_with_chap_and_withdraw() {
    // A prefix of our own: other tests may use the same tgtd.
    let prefix = format!(
        "iqn.2010-10.org.nimbus.test-{}:",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let h = harness_with(VolumeDriverKind::Iscsi, |c| {
        c.target_prefix = prefix.clone()
    })
    .await;
    let v = h.volume("p1", json!({"size": 1})).await;
    let id = v["id"].as_str().unwrap().to_string();
    let c = ctx("p1", "member,reader");
    let a = h
        .svc
        .attachment_create(
            &c,
            &id,
            Some(INSTANCE),
            Some(json!({"host": "h", "initiator": "iqn.x:y"})),
            None,
        )
        .await
        .unwrap();
    let info = a.connection_info.clone().unwrap();
    assert_eq!(info["driver_volume_type"], "iscsi");
    let iqn = format!("{prefix}volume-{id}");
    assert_eq!(info["data"]["target_iqn"], iqn.as_str());
    assert_eq!(info["data"]["target_portal"], "127.0.0.1:3260");
    assert_eq!(info["data"]["target_lun"], 1);
    assert_eq!(info["data"]["auth_method"], "CHAP");
    let user = info["data"]["auth_username"].as_str().unwrap().to_string();
    let password = info["data"]["auth_password"].as_str().unwrap().to_string();
    assert_eq!(user.len(), 20);
    assert_eq!(password.len(), 16);

    // The target file is Cinder's template.
    let conf = std::fs::read_to_string(
        h.dir
            .path()
            .join("volumes-tgt")
            .join(format!("volume-{id}")),
    )
    .unwrap();
    assert!(conf.contains(&format!("<target {iqn}>")), "{conf}");
    assert!(
        conf.contains(&format!("backing-store {}", h.volume_file(&id).display())),
        "{conf}"
    );
    assert!(
        conf.contains(&format!("incominguser {user} {password}")),
        "{conf}"
    );
    assert!(conf.contains("write-cache on"), "{conf}");
    let shown = tgt_targets();
    assert!(shown.contains(&iqn), "{shown}");

    // Right credentials open the LUN; wrong ones are refused by tgtd.
    let ok = qemu_img_info(&info, &password);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("1 GiB"),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let bad = qemu_img_info(&info, "not-the-password");
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("Authentication failure"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    // Re-export keeps the credentials; detach withdraws the target.
    let again = h
        .svc
        .attachment_update(&c, &a.id, json!({"host": "h2"}))
        .await
        .unwrap();
    assert_eq!(
        again.connection_info.unwrap()["data"]["auth_password"],
        password.as_str()
    );
    h.svc.attachment_delete(&c, &a.id).await.unwrap();
    assert!(!tgt_targets().contains(&iqn));
    assert!(
        !h.dir
            .path()
            .join("volumes-tgt")
            .join(format!("volume-{id}"))
            .exists()
    );
    assert_eq!(
        h.svc.volume_get(&c, &id).await.unwrap().status.as_str(),
        "available"
    );
}
