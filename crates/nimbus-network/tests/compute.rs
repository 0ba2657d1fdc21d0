//! The in-process API compute uses: allocate, describe, deallocate.

use nimbus_network::compute::{RequestedNetworks, RequestedNic};
use serde_json::json;

use crate::support::{ADMIN, context, harness};

#[tokio::test]
async fn servers_get_ports_addresses_and_release_them() {
    let h = harness().await;
    let ctx = context("p1", "member,reader");
    let net = h.network("p1", "net1").await;
    h.subnet(
        "p1",
        &net,
        "192.168.0.0/24",
        json!({"dns_nameservers": ["8.8.8.8"]}),
    )
    .await;
    // A pre-existing port.
    let given = h
        .create("ports", "port", "p1", json!({"network_id": net}))
        .await;
    let given_id = given["id"].as_str().unwrap().to_string();
    let requested = RequestedNetworks::List(vec![
        RequestedNic {
            network_id: Some(net.clone()),
            fixed_ip: Some("192.168.0.77".parse().unwrap()),
            port_id: None,
        },
        RequestedNic {
            port_id: Some(given_id.clone()),
            ..Default::default()
        },
    ]);
    let vifs = h
        .svc
        .allocate_for_instance(&ctx, "vm-1", "host-a", &requested)
        .await
        .unwrap();
    assert_eq!(vifs.len(), 2);
    let made = vifs.iter().find(|v| v.port_id != given_id).unwrap();
    assert!(!made.preserve_on_delete);
    assert_eq!(made.subnets[0].ips[0].address, "192.168.0.77");
    let port = h
        .get(&format!("ports/{}", made.port_id), ADMIN)
        .await
        .json()["port"]
        .clone();
    assert_eq!(port["device_id"], "vm-1");
    assert_eq!(port["device_owner"], "compute:nova");
    assert_eq!(port["binding:host_id"], "host-a");
    assert_eq!(port["status"], "ACTIVE");
    // The requested order is kept (the created port first).
    assert_eq!(vifs[0].port_id, made.port_id);
    assert_eq!(vifs[1].port_id, given_id);
    assert_eq!(made.security_groups, vec!["default".to_string()]);
    let cd = made.to_configdrive(true);
    assert_eq!(cd.address.as_deref(), Some(made.mac_address.as_str()));
    assert_eq!(cd.network.unwrap().subnets[0].dns[0].address, "8.8.8.8");
    let addresses = h.svc.instance_addresses(&ctx, "vm-1").await.unwrap();
    assert_eq!(addresses["net1"].as_array().unwrap().len(), 2);
    // The same port cannot go to a second server.
    let again = RequestedNetworks::List(vec![RequestedNic {
        port_id: Some(given_id.clone()),
        ..Default::default()
    }]);
    let err = h
        .svc
        .allocate_for_instance(&ctx, "vm-2", "host-a", &again)
        .await
        .unwrap_err();
    assert_eq!(err.status(), 409);
    // A failing NIC undoes the ones before it.
    let failing = RequestedNetworks::List(vec![
        RequestedNic {
            network_id: Some(net.clone()),
            ..Default::default()
        },
        RequestedNic {
            network_id: Some(net.clone()),
            fixed_ip: Some("192.168.0.77".parse().unwrap()),
            port_id: None,
        },
    ]);
    let err = h
        .svc
        .allocate_for_instance(&ctx, "vm-3", "host-a", &failing)
        .await
        .unwrap_err();
    assert_eq!(err.status(), 409);
    assert!(h.svc.instance_vifs(&ctx, "vm-3").await.unwrap().is_empty());
    // Deallocate: created port gone (address free), given port unbound.
    h.svc.deallocate_for_instance("vm-1").await.unwrap();
    assert_eq!(
        h.get(&format!("ports/{}", made.port_id), "p1").await.status,
        404
    );
    let kept = h.get(&format!("ports/{given_id}"), "p1").await.json()["port"].clone();
    assert_eq!(kept["device_id"], "");
    let reuse = RequestedNetworks::List(vec![RequestedNic {
        network_id: Some(net.clone()),
        fixed_ip: Some("192.168.0.77".parse().unwrap()),
        port_id: None,
    }]);
    h.svc
        .allocate_for_instance(&ctx, "vm-4", "host-a", &reuse)
        .await
        .unwrap();
}

#[tokio::test]
async fn auto_and_none() {
    let h = harness().await;
    let ctx = context("p1", "member,reader");
    assert!(
        h.svc
            .allocate_for_instance(&ctx, "vm", "h", &RequestedNetworks::None)
            .await
            .unwrap()
            .is_empty()
    );
    // No network: no NIC (compute gives the guest user-mode networking).
    assert!(
        h.svc
            .allocate_for_instance(&ctx, "vm", "h", &RequestedNetworks::Auto)
            .await
            .unwrap()
            .is_empty()
    );
    let net = h.network("p1", "only").await;
    h.subnet("p1", &net, "10.0.0.0/24", json!({})).await;
    let vifs = h
        .svc
        .allocate_for_instance(&ctx, "vm", "h", &RequestedNetworks::Auto)
        .await
        .unwrap();
    assert_eq!(vifs[0].network_id, net);
    h.network("p1", "second").await;
    assert_eq!(
        h.svc
            .allocate_for_instance(&ctx, "vm2", "h", &RequestedNetworks::Auto)
            .await
            .unwrap_err()
            .status(),
        409
    );
}

#[tokio::test]
async fn requested_networks_are_validated_as_nova_does() {
    let h = harness().await;
    let ctx = context("p1", "member,reader");
    let net = h.network("p1", "net1").await;
    h.subnet("p1", &net, "10.0.0.0/24", json!({})).await;
    let nic = |ip: Option<&str>| {
        RequestedNetworks::List(vec![RequestedNic {
            network_id: Some(net.clone()),
            fixed_ip: ip.map(|i| i.parse().unwrap()),
            port_id: None,
        }])
    };
    let status = |r: Result<(), nimbus_common::ApiError>| {
        r.map(|_| 200u16).unwrap_or_else(|e| e.status().as_u16())
    };
    assert_eq!(
        status(h.svc.validate_networks(&ctx, &nic(None), 3).await),
        200
    );
    assert_eq!(
        status(
            h.svc
                .validate_networks(&ctx, &nic(Some("10.0.0.9")), 1)
                .await
        ),
        200
    );
    // Outside every subnet, or with max_count > 1: 400.
    assert_eq!(
        status(
            h.svc
                .validate_networks(&ctx, &nic(Some("10.9.0.9")), 1)
                .await
        ),
        400
    );
    assert_eq!(
        status(
            h.svc
                .validate_networks(&ctx, &nic(Some("10.0.0.9")), 2)
                .await
        ),
        400
    );
    // Unknown or another project's network: 400.
    let other = h.network("p2", "theirs").await;
    let theirs = RequestedNetworks::List(vec![RequestedNic {
        network_id: Some(other),
        ..Default::default()
    }]);
    assert_eq!(status(h.svc.validate_networks(&ctx, &theirs, 1).await), 400);
    // An address in use: 400; a port in use: 409.
    h.svc
        .allocate_for_instance(&ctx, "vm-1", "h", &nic(Some("10.0.0.9")))
        .await
        .unwrap();
    assert_eq!(
        status(
            h.svc
                .validate_networks(&ctx, &nic(Some("10.0.0.9")), 1)
                .await
        ),
        400
    );
    let port = h.svc.instance_vifs(&ctx, "vm-1").await.unwrap()[0]
        .port_id
        .clone();
    let bound = RequestedNetworks::List(vec![RequestedNic {
        port_id: Some(port),
        ..Default::default()
    }]);
    assert_eq!(status(h.svc.validate_networks(&ctx, &bound, 1).await), 409);
    // auto: one network fine, two ambiguous (409).
    assert_eq!(
        status(
            h.svc
                .validate_networks(&ctx, &RequestedNetworks::Auto, 1)
                .await
        ),
        200
    );
    h.network("p1", "net2").await;
    assert_eq!(
        status(
            h.svc
                .validate_networks(&ctx, &RequestedNetworks::Auto, 1)
                .await
        ),
        409
    );
    assert_eq!(
        status(
            h.svc
                .validate_networks(&ctx, &RequestedNetworks::None, 1)
                .await
        ),
        200
    );
}
