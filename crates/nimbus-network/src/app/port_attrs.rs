//! Port request attributes: `fixed_ips`, `allowed_address_pairs` and MAC
//! addresses, parsed and checked as neutron's attribute validators do.

use std::net::IpAddr;

use nimbus_common::ApiError;
use serde_json::{Map, Value};

use crate::error::{bad_request, invalid_attr};
use crate::ipam::{self, Cidr};

/// One entry of a request's `fixed_ips`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpRequest {
    /// This address (on this subnet, or whichever subnet holds it).
    Address {
        /// The subnet, if named.
        subnet_id: Option<String>,
        /// The address.
        ip: IpAddr,
    },
    /// Any free address of this subnet.
    Subnet(String),
}

/// Parses `fixed_ips` entries.
pub(crate) fn parse_fixed_ips(items: Vec<Map<String, Value>>) -> Result<Vec<IpRequest>, ApiError> {
    items
        .into_iter()
        .map(|mut m| {
            let subnet_id = match m.remove("subnet_id") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.len() <= 255 => Some(s),
                Some(other) => {
                    return Err(invalid_attr(
                        "fixed_ips",
                        format!("'{other}' is not a valid UUID"),
                    ));
                }
            };
            let ip = match m.remove("ip_address") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(ipam::parse_ip(&s).ok_or_else(|| {
                    invalid_attr("fixed_ips", format!("'{s}' is not a valid IP address"))
                })?),
                Some(other) => {
                    return Err(invalid_attr(
                        "fixed_ips",
                        format!("'{other}' is not a valid IP address"),
                    ));
                }
            };
            m.remove("subnet");
            if let Some(k) = m.keys().next() {
                return Err(invalid_attr("fixed_ips", format!("Unrecognized key '{k}'")));
            }
            match (subnet_id, ip) {
                (s, Some(ip)) => Ok(IpRequest::Address { subnet_id: s, ip }),
                (Some(s), None) => Ok(IpRequest::Subnet(s)),
                (None, None) => Err(invalid_attr(
                    "fixed_ips",
                    "Exactly one of subnet_id or ip_address is required",
                )),
            }
        })
        .collect()
}

pub(crate) fn parse_pairs(
    items: Vec<Map<String, Value>>,
    max: usize,
) -> Result<Vec<(String, Option<String>)>, ApiError> {
    if items.len() > max {
        return Err(bad_request(format!(
            "Exceeded maximum amount of allowed address pairs {max}"
        )));
    }
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for mut m in items {
        let ip = match m.remove("ip_address") {
            Some(Value::String(s)) => {
                if ipam::parse_ip(&s).is_none() && Cidr::parse(&s).is_err() {
                    return Err(invalid_attr(
                        "allowed_address_pairs",
                        format!("'{s}' is not a valid IP address"),
                    ));
                }
                s
            }
            _ => {
                return Err(bad_request("AllowedAddressPair must contain ip_address"));
            }
        };
        let mac = match m.remove("mac_address") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if ipam::parse_mac(&s).is_some() => Some(s.to_ascii_lowercase()),
            Some(other) => {
                return Err(invalid_attr(
                    "allowed_address_pairs",
                    format!("'{other}' is not a valid MAC address"),
                ));
            }
        };
        if let Some(k) = m.keys().next() {
            return Err(invalid_attr(
                "allowed_address_pairs",
                format!("Unrecognized attribute(s) '{k}'"),
            ));
        }
        if out.contains(&(ip.clone(), mac.clone())) {
            return Err(bad_request(format!(
                "Request contains duplicate address pair: mac_address {} ip_address {ip}.",
                mac.as_deref().unwrap_or("None")
            )));
        }
        out.push((ip, mac));
    }
    Ok(out)
}

pub(crate) fn valid_mac(text: &str) -> Result<String, ApiError> {
    let bytes = ipam::parse_mac(text).ok_or_else(|| {
        invalid_attr(
            "mac_address",
            format!("'{text}' is not a valid MAC address"),
        )
    })?;
    if bytes[0] & 1 == 1 || bytes == [0; 6] {
        return Err(invalid_attr(
            "mac_address",
            format!("'{text}' is not a valid unicast MAC address"),
        ));
    }
    Ok(text.to_ascii_lowercase())
}
#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn objs(v: Value) -> Vec<Map<String, Value>> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_object().unwrap().clone())
            .collect()
    }

    #[test]
    fn fixed_ips_parse() {
        let r = parse_fixed_ips(objs(
            json!([{"subnet_id": "s"}, {"ip_address": "10.0.0.5"}]),
        ))
        .unwrap();
        assert_eq!(r[0], IpRequest::Subnet("s".into()));
        assert!(matches!(
            r[1],
            IpRequest::Address {
                subnet_id: None,
                ..
            }
        ));
        assert!(parse_fixed_ips(objs(json!([{}]))).is_err());
        assert!(parse_fixed_ips(objs(json!([{"ip_address": "10.0.0.500"}]))).is_err());
        assert!(parse_fixed_ips(objs(json!([{"subnet_id": "s", "bogus": 1}]))).is_err());
    }

    #[test]
    fn address_pairs_and_macs_validate() {
        let p = parse_pairs(objs(json!([{"ip_address": "10.0.0.0/24"}])), 10).unwrap();
        assert_eq!(p[0].1, None);
        assert!(parse_pairs(objs(json!([{"ip_address": "x"}])), 10).is_err());
        assert!(
            parse_pairs(
                objs(json!([{"ip_address": "10.0.0.1"}, {"ip_address": "10.0.0.1"}])),
                10
            )
            .is_err()
        );
        assert!(
            parse_pairs(
                objs(json!([{"ip_address": "10.0.0.1"}, {"ip_address": "10.0.0.2"}])),
                1
            )
            .is_err()
        );
        assert_eq!(valid_mac("FA:16:3E:00:00:01").unwrap(), "fa:16:3e:00:00:01");
        assert!(valid_mac("01:00:5e:00:00:01").is_err());
        assert!(valid_mac("00:00:00:00:00:00").is_err());
    }
}
