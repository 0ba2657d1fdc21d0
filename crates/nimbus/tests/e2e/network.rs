//! The network service through the real `openstack` CLI (seed 003's
//! topology, refusals, tenancy) and raw HTTP (200+ concurrent port
//! creations), on SQLite and PostgreSQL.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, Cloud, User, failed};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// Seed 003 translated to the CLI: tenant network with provider attributes
/// (as admin, for project `openstack`), subnet with gateway and DNS, router
/// with an interface, external network with a pool and no DHCP, router
/// gateway, then a floating IP. Show and list agree with what was asked.
fn seed_003(backend: Backend) {
    let Some(cloud) = Cloud::start(backend) else {
        return;
    };
    let project = cloud.openstack_json(&["project", "create", "openstack"]);
    let net = cloud.openstack_json(&[
        "network",
        "create",
        "--project",
        "openstack",
        "--provider-network-type",
        "gre",
        "--provider-segment",
        "1",
        "openstack-net",
    ]);
    assert_eq!(net["provider:network_type"], "gre", "{net}");
    assert_eq!(net["provider:segmentation_id"], 1);
    assert_eq!(net["project_id"], project["id"]);
    let subnet = cloud.openstack_json(&[
        "subnet",
        "create",
        "--project",
        "openstack",
        "--ip-version",
        "4",
        "--network",
        "openstack-net",
        "--subnet-range",
        "192.168.0.0/24",
        "--gateway",
        "192.168.0.1",
        "--dns-nameserver",
        "8.8.8.8",
        "openstack-net-subnet",
    ]);
    assert_eq!(subnet["cidr"], "192.168.0.0/24");
    assert_eq!(subnet["gateway_ip"], "192.168.0.1");
    assert_eq!(subnet["dns_nameservers"], json!(["8.8.8.8"]));
    assert_eq!(
        subnet["allocation_pools"],
        json!([{"start": "192.168.0.2", "end": "192.168.0.254"}])
    );
    let router = cloud.openstack_json(&[
        "router",
        "create",
        "--project",
        "openstack",
        "openstack-router",
    ]);
    cloud.openstack_ok(&[
        "router",
        "add",
        "subnet",
        "openstack-router",
        "openstack-net-subnet",
    ]);
    let public = cloud.openstack_json(&["network", "create", "--external", "public"]);
    assert_eq!(public["router:external"], true, "{public}");
    let public_subnet = cloud.openstack_json(&[
        "subnet",
        "create",
        "--ip-version",
        "4",
        "--gateway",
        "172.24.1.1",
        "--network",
        "public",
        "--subnet-range",
        "172.24.1.0/24",
        "--allocation-pool",
        "start=172.24.1.100,end=172.24.1.200",
        "--no-dhcp",
        "public-subnet",
    ]);
    assert_eq!(public_subnet["enable_dhcp"], false);
    assert_eq!(
        public_subnet["allocation_pools"],
        json!([{"start": "172.24.1.100", "end": "172.24.1.200"}])
    );
    cloud.openstack_ok(&[
        "router",
        "set",
        "--external-gateway",
        "public",
        "openstack-router",
    ]);

    // show and list agree with what was asked.
    let shown = cloud.openstack_json(&["network", "show", "openstack-net"]);
    assert_eq!(shown["id"], net["id"]);
    assert_eq!(shown["subnets"], json!([subnet["id"]]));
    let listed = cloud.openstack_json(&["network", "list", "--external"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["ID"], public["id"]);
    let subnets = cloud.openstack_json(&["subnet", "list", "--network", "openstack-net"]);
    assert_eq!(subnets[0]["Subnet"], "192.168.0.0/24");
    let r = cloud.openstack_json(&["router", "show", "openstack-router"]);
    assert_eq!(r["id"], router["id"]);
    let gw = &r["external_gateway_info"];
    assert_eq!(gw["network_id"], public["id"], "{r}");
    assert_eq!(gw["enable_snat"], true);
    let gw_ip = gw["external_fixed_ips"][0]["ip_address"].as_str().unwrap();
    assert!(in_public_pool(gw_ip), "{gw_ip}");
    let ports = cloud.openstack_json(&["port", "list", "--router", "openstack-router", "--long"]);
    let addresses = ports.to_string();
    assert!(addresses.contains("192.168.0.1"), "{addresses}");

    let fip = cloud.openstack_json(&["floating", "ip", "create", "public"]);
    let address = fip["floating_ip_address"].as_str().unwrap();
    assert!(in_public_pool(address) && address != gw_ip, "{address}");
    let fips = cloud.openstack_json(&["floating", "ip", "list"]);
    assert_eq!(fips[0]["Floating IP Address"], address);
    // Associate with a port behind the router, then disassociate.
    let port = cloud.openstack_json(&[
        "port",
        "create",
        "--network",
        "openstack-net",
        "--project",
        "openstack",
        "vm-port",
    ]);
    cloud.openstack_ok(&["floating", "ip", "set", "--port", "vm-port", address]);
    let fip = cloud.openstack_json(&["floating", "ip", "show", address]);
    assert_eq!(fip["port_id"], port["id"]);
    assert_eq!(fip["fixed_ip_address"], port["fixed_ips"][0]["ip_address"]);
    assert_eq!(fip["router_id"], router["id"]);
    cloud.openstack_ok(&["floating", "ip", "unset", "--port", address]);
    let fip = cloud.openstack_json(&["floating", "ip", "show", address]);
    assert_eq!(fip["port_id"], Value::Null);
    cloud.openstack_ok(&["floating", "ip", "delete", address]);
    assert_eq!(cloud.openstack_json(&["floating", "ip", "list"]), json!([]));
}
on_both_backends!(seed_003);

fn in_public_pool(ip: &str) -> bool {
    ip.strip_prefix("172.24.1.")
        .and_then(|l| l.parse::<u8>().ok())
        .is_some_and(|l| (100..=200).contains(&l))
}

/// 260 port creations at once (16 at a time) on a /24 whose pool holds
/// 253 addresses: distinct addresses in the pool, 409 for the overflow,
/// and a deleted port's address goes to the next creation.
fn concurrent_ports(backend: Backend) {
    let Some(cloud) = Cloud::start(backend) else {
        return;
    };
    let net = cloud.openstack_json(&["network", "create", "busy"]);
    cloud.openstack_ok(&[
        "subnet",
        "create",
        "--network",
        "busy",
        "--subnet-range",
        "10.20.0.0/24",
        "busy-sub",
    ]);
    let token = cloud.token(&cloud.admin());
    let url = cloud.url("/network/v2.0/ports");
    let total = 260;
    let next = Arc::new(Mutex::new(0));
    let results = Arc::new(Mutex::new(Vec::new()));
    let cloud = &cloud;
    std::thread::scope(|s| {
        for _ in 0..16 {
            let (next, results, token, url, net) =
                (next.clone(), results.clone(), &token, &url, &net);
            s.spawn(move || {
                let client = cloud.http();
                loop {
                    let i = {
                        let mut n = next.lock().unwrap();
                        if *n == total {
                            return;
                        }
                        *n += 1;
                        *n
                    };
                    let r = client
                        .post(url.as_str())
                        .header("x-auth-token", token.as_str())
                        .json(&json!({"port": {"network_id": net["id"], "name": format!("p{i}")}}))
                        .send()
                        .unwrap();
                    let status = r.status().as_u16();
                    let body: Value = r.json().unwrap();
                    results.lock().unwrap().push((status, body));
                }
            });
        }
    });
    let results = results.lock().unwrap();
    let mut seen = HashSet::new();
    let mut created = Vec::new();
    let mut conflicts = 0;
    for (status, body) in results.iter() {
        match *status {
            201 => {
                let ip = body["port"]["fixed_ips"][0]["ip_address"]
                    .as_str()
                    .unwrap()
                    .to_string();
                let last: u8 = ip.strip_prefix("10.20.0.").unwrap().parse().unwrap();
                assert!((2..=254).contains(&last), "{ip} outside the pool");
                assert!(seen.insert(ip.clone()), "{ip} given twice");
                created.push((body["port"]["id"].as_str().unwrap().to_string(), ip));
            }
            409 => {
                assert_eq!(
                    body["NeutronError"]["type"], "IpAddressGenerationFailure",
                    "{body}"
                );
                conflicts += 1;
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(created.len(), 253);
    assert_eq!(conflicts, total - 253);
    let (freed, freed_ip) = &created[100];
    cloud.openstack_ok(&["port", "delete", freed.as_str()]);
    let again = cloud.openstack_json(&["port", "create", "--network", "busy", "again"]);
    assert_eq!(again["fixed_ips"][0]["ip_address"], freed_ip.as_str());
}
on_both_backends!(concurrent_ports);

/// Refusals the issue lists, as the CLI shows them, and another project's
/// resources looking missing.
fn bad_input(backend: Backend) {
    let Some(cloud) = Cloud::start(backend) else {
        return;
    };
    cloud.openstack_ok(&["network", "create", "net1"]);
    let create_subnet = |extra: &[&str]| {
        let mut args = vec!["subnet", "create", "--network", "net1"];
        args.extend_from_slice(extra);
        args.push("bad");
        failed(cloud.openstack(&args), &args)
    };
    let err = create_subnet(&[
        "--subnet-range",
        "10.0.0.0/24",
        "--allocation-pool",
        "start=10.0.0.10,end=10.0.0.20",
        "--allocation-pool",
        "start=10.0.0.15,end=10.0.0.30",
    ]);
    assert!(err.contains("overlapping allocation pools"), "{err}");
    let err = create_subnet(&["--subnet-range", "10.0.0.0/24", "--gateway", "10.9.9.1"]);
    assert!(err.contains("Gateway is not valid on subnet"), "{err}");
    let err = create_subnet(&["--subnet-range", "10.0.0.0/33"]);
    assert!(err.contains("not a valid IP subnet"), "{err}");
    let err = create_subnet(&["--subnet-range", "10.0.0.7/24"]);
    assert!(err.contains("10.0.0.0/24"), "{err}");
    let subnet = cloud.openstack_json(&[
        "subnet",
        "create",
        "--network",
        "net1",
        "--subnet-range",
        "10.0.0.0/24",
        "sub1",
    ]);
    cloud.openstack_ok(&[
        "port",
        "create",
        "--network",
        "net1",
        "--fixed-ip",
        "subnet=sub1,ip-address=10.0.0.50",
        "p1",
    ]);
    let args = [
        "port",
        "create",
        "--network",
        "net1",
        "--fixed-ip",
        "subnet=sub1,ip-address=10.0.0.50",
        "p2",
    ];
    let err = failed(cloud.openstack(&args), &args);
    assert!(err.contains("10.0.0.50 already allocated"), "{err}");
    let args = ["network", "delete", "net1"];
    let err = failed(cloud.openstack(&args), &args);
    assert!(
        err.contains("still in use") || err.contains("in use"),
        "{err}"
    );
    // Another project: the resources are not there.
    cloud.openstack_ok(&["project", "create", "p2"]);
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
    let u2 = User::new("u2", "pw-u2-secret", "p2");
    let args = ["subnet", "show", subnet["id"].as_str().unwrap()];
    let err = failed(cloud.openstack_as(&u2, &args), &args);
    assert!(err.contains("No Subnet found"), "{err}");
    let token = cloud.token(&u2);
    let r = cloud
        .http()
        .get(cloud.url(&format!("/network/v2.0/subnets/{}", id(&subnet))))
        .header("x-auth-token", token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().unwrap();
    assert_eq!(body["NeutronError"]["type"], "SubnetNotFound");
    let own = cloud.openstack_json_as(&u2, &["network", "list"]);
    assert_eq!(own, json!([]));
}
on_both_backends!(bad_input);
