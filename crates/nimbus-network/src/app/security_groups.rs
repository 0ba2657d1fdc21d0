//! Security groups and rules; every project gets a `default` group with
//! neutron's default rules the first time it needs one.

use nimbus_common::{ApiError, RequestContext};
use nimbus_db::now_micros;

use super::input::Attrs;
use super::model::{SecurityGroup, SecurityGroupRule};
use super::{NetworkService, new_id, require_read, require_write, scope};
use crate::error::{
    bad_request, conflict, invalid_attr, not_found, policy, security_group_not_found,
};
use crate::ipam::Cidr;
use crate::store;

/// Protocol names neutron accepts and their IP protocol numbers.
const PROTOCOLS: [(&str, u8); 20] = [
    ("ah", 51),
    ("dccp", 33),
    ("egp", 8),
    ("esp", 50),
    ("gre", 47),
    ("hopopt", 0),
    ("icmp", 1),
    ("igmp", 2),
    ("ipip", 4),
    ("ipv6-encap", 41),
    ("ipv6-frag", 44),
    ("ipv6-icmp", 58),
    ("icmpv6", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("ipv6-route", 43),
    ("ospf", 89),
    ("pgm", 113),
    ("rsvp", 46),
    ("sctp", 132),
];

fn rule_not_found(id: &str) -> ApiError {
    not_found(
        "SecurityGroupRuleNotFound",
        format!("Security group rule {id} does not exist"),
    )
}

fn rule(
    group: &SecurityGroup,
    direction: &str,
    ethertype: &str,
    remote_group: bool,
) -> SecurityGroupRule {
    SecurityGroupRule {
        id: new_id(),
        security_group_id: group.id.clone(),
        project_id: group.project_id.clone(),
        direction: direction.into(),
        ethertype: ethertype.into(),
        protocol: None,
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        remote_group_id: remote_group.then(|| group.id.clone()),
        description: String::new(),
        revision_number: 0,
        created_at: group.created_at,
        updated_at: group.created_at,
    }
}

/// Neutron's default rules: all egress, ingress from members of the group.
fn with_default_rules(mut g: SecurityGroup) -> SecurityGroup {
    g.rules = vec![
        rule(&g, "egress", "IPv4", false),
        rule(&g, "egress", "IPv6", false),
        rule(&g, "ingress", "IPv4", true),
        rule(&g, "ingress", "IPv6", true),
    ];
    g
}

fn is_tcp_like(protocol: Option<&str>) -> bool {
    matches!(
        protocol,
        Some("tcp" | "udp" | "dccp" | "sctp" | "udplite" | "6" | "17" | "33" | "132" | "136")
    )
}

fn is_icmp(protocol: Option<&str>) -> bool {
    matches!(protocol, Some("icmp" | "icmpv6" | "ipv6-icmp" | "1" | "58"))
}

impl NetworkService {
    /// The id of `project`'s default group, made on first use.
    pub async fn default_security_group(&self, project: &str) -> Result<String, ApiError> {
        if let Some(id) = store::security_groups::default_group_id(self.pool(), project).await? {
            return Ok(id);
        }
        let now = now_micros();
        let group = with_default_rules(SecurityGroup {
            id: new_id(),
            project_id: project.to_string(),
            name: "default".into(),
            description: "Default security group".into(),
            stateful: true,
            rules: Vec::new(),
            revision_number: 1,
            created_at: now,
            updated_at: now,
        });
        Ok(store::security_groups::default_group_ensure(self.pool(), &group).await?)
    }

    /// Validates the groups requested for a port of `project`: each must
    /// exist and belong to the port's project.
    pub(crate) async fn security_groups_for_port(
        &self,
        ctx: &RequestContext,
        project: &str,
        ids: Vec<String>,
    ) -> Result<Vec<String>, ApiError> {
        let mut out: Vec<String> = Vec::new();
        for id in ids {
            let found = store::security_groups::group_get(self.pool(), &id).await?;
            match found {
                Some(g) if g.project_id == project || ctx.is_admin() => {
                    if !out.contains(&g.id) {
                        out.push(g.id);
                    }
                }
                _ => return Err(security_group_not_found(&id)),
            }
        }
        Ok(out)
    }

    /// The group `id` if the caller may see it.
    pub async fn security_group_visible(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<SecurityGroup, ApiError> {
        require_read(ctx, "get_security_group")?;
        match store::security_groups::group_get(self.pool(), id).await? {
            Some(g) if ctx.may_see_project(&g.project_id) => Ok(g),
            _ => Err(security_group_not_found(id)),
        }
    }

    /// Groups the caller may see; lists make the caller's default group.
    pub async fn security_group_list(
        &self,
        ctx: &RequestContext,
    ) -> Result<Vec<SecurityGroup>, ApiError> {
        require_read(ctx, "get_security_group")?;
        if let Some(p) = &ctx.project_id {
            self.default_security_group(p).await?;
        }
        Ok(store::security_groups::group_list(self.pool(), scope(ctx)).await?)
    }

    /// `POST /v2.0/security-groups`: a new group with neutron's egress rules.
    pub async fn security_group_create(
        &self,
        ctx: &RequestContext,
        mut a: Attrs,
    ) -> Result<SecurityGroup, ApiError> {
        require_write(ctx, "create_security_group")?;
        let project_id = a.owner(ctx)?;
        let name = a.string("name", 255)?.unwrap_or_default();
        let description = a.string("description", 255)?.unwrap_or_default();
        let stateful = a.boolean("stateful")?.unwrap_or(true);
        a.finish("POST")?;
        if name == "default" {
            return Err(default_exists());
        }
        self.default_security_group(&project_id).await?;
        self.quota_check(&project_id, "security_group", 1).await?;
        let now = now_micros();
        let mut g = SecurityGroup {
            id: new_id(),
            project_id,
            name,
            description,
            stateful,
            rules: Vec::new(),
            revision_number: 1,
            created_at: now,
            updated_at: now,
        };
        g.rules = vec![
            rule(&g, "egress", "IPv4", false),
            rule(&g, "egress", "IPv6", false),
        ];
        store::security_groups::group_insert(self.pool(), &g).await?;
        Ok(g)
    }

    /// `PUT /v2.0/security-groups/{id}`.
    pub async fn security_group_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        mut a: Attrs,
    ) -> Result<SecurityGroup, ApiError> {
        require_write(ctx, "update_security_group")?;
        let mut g = self.security_group_visible(ctx, id).await?;
        if let Some(name) = a.string("name", 255)? {
            if g.name == "default" && name != "default" {
                return Err(conflict(
                    "SecurityGroupCannotUpdateDefault",
                    "Updating default security group not allowed.",
                ));
            }
            // Only the project's own default group may be called default.
            if g.name != "default" && name == "default" {
                return Err(default_exists());
            }
            g.name = name;
        }
        if let Some(d) = a.string("description", 255)? {
            g.description = d;
        }
        if let Some(s) = a.boolean("stateful")? {
            g.stateful = s;
        }
        a.finish("PUT")?;
        g.revision_number += 1;
        g.updated_at = now_micros();
        store::security_groups::group_update(self.pool(), &g).await?;
        Ok(g)
    }

    /// `DELETE /v2.0/security-groups/{id}`.
    pub async fn security_group_delete(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<(), ApiError> {
        require_write(ctx, "delete_security_group")?;
        let g = self.security_group_visible(ctx, id).await?;
        let default = store::security_groups::default_group_id(self.pool(), &g.project_id).await?;
        if default.as_deref() == Some(id) && !ctx.is_admin() {
            return Err(conflict(
                "SecurityGroupCannotRemoveDefault",
                "Insufficient rights for removing default security group.",
            ));
        }
        if store::security_groups::group_in_use(self.pool(), id).await? {
            return Err(conflict(
                "SecurityGroupInUse",
                format!("Security Group {id} in use."),
            ));
        }
        store::security_groups::group_delete(self.pool(), id).await?;
        Ok(())
    }

    /// Rules the caller may see.
    pub async fn security_group_rule_list(
        &self,
        ctx: &RequestContext,
    ) -> Result<Vec<SecurityGroupRule>, ApiError> {
        require_read(ctx, "get_security_group_rule")?;
        if let Some(p) = &ctx.project_id {
            self.default_security_group(p).await?;
        }
        Ok(store::security_groups::rule_list(self.pool(), scope(ctx)).await?)
    }

    /// One rule.
    pub async fn security_group_rule_visible(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<SecurityGroupRule, ApiError> {
        require_read(ctx, "get_security_group_rule")?;
        match store::security_groups::rule_get(self.pool(), id).await? {
            Some(r) if ctx.may_see_project(&r.project_id) => Ok(r),
            _ => Err(rule_not_found(id)),
        }
    }

    /// `POST /v2.0/security-group-rules`, validated as neutron's
    /// `securitygroups_db` does.
    pub async fn security_group_rule_create(
        &self,
        ctx: &RequestContext,
        mut a: Attrs,
    ) -> Result<SecurityGroupRule, ApiError> {
        require_write(ctx, "create_security_group_rule")?;
        a.owner(ctx)?;
        let group_id = a.string("security_group_id", 255)?.ok_or_else(|| {
            bad_request(
                "Failed to parse request. Required attribute 'security_group_id' not specified",
            )
        })?;
        let direction = a.string("direction", 16)?.ok_or_else(|| {
            bad_request("Failed to parse request. Required attribute 'direction' not specified")
        })?;
        if direction != "ingress" && direction != "egress" {
            return Err(invalid_attr(
                "direction",
                format!("{direction} is not in ['ingress', 'egress']"),
            ));
        }
        let ethertype = a.string("ethertype", 8)?.unwrap_or_else(|| "IPv4".into());
        let ethertype = match ethertype.to_ascii_lowercase().as_str() {
            "ipv4" => "IPv4".to_string(),
            "ipv6" => "IPv6".to_string(),
            _ => {
                return Err(bad_request_typed(
                    "SecurityGroupRuleInvalidEtherType",
                    &format!(
                        "Security group rule for ethertype '{ethertype}' not supported. Allowed values are ['IPv4', 'IPv6']."
                    ),
                ));
            }
        };
        let protocol = match a.take("protocol") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(p)) if p.eq_ignore_ascii_case("any") || p.is_empty() => {
                None
            }
            Some(serde_json::Value::String(p)) => Some(p.to_ascii_lowercase()),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            Some(other) => {
                return Err(invalid_attr(
                    "protocol",
                    format!("'{other}' is not a valid protocol"),
                ));
            }
        };
        if let Some(p) = &protocol {
            let known = ["tcp", "udp", "udplite"].contains(&p.as_str())
                || PROTOCOLS.iter().any(|(n, _)| n == p);
            let number = p.parse::<u16>().is_ok_and(|n| n <= 255);
            if !known && !number {
                return Err(bad_request_typed(
                    "SecurityGroupRuleInvalidProtocol",
                    &format!(
                        "Security group rule protocol {p} not supported. Only protocol values [None, 'tcp', 'udp', 'icmp', 'icmpv6', ...] and integer representations [0 to 255] are supported."
                    ),
                ));
            }
        }
        let min = a.int("port_range_min")?.flatten();
        let max = a.int("port_range_max")?.flatten();
        let remote_ip_prefix = a.nullable_string("remote_ip_prefix", 64)?.flatten();
        let remote_group_id = a.nullable_string("remote_group_id", 255)?.flatten();
        let description = a.string("description", 255)?.unwrap_or_default();
        a.take("remote_address_group_id");
        a.finish("POST")?;
        let group = self.security_group_visible(ctx, &group_id).await?;
        if (min.is_some() || max.is_some()) && protocol.is_none() {
            return Err(bad_request_typed(
                "SecurityGroupProtocolRequiredWithPorts",
                "Must also specify protocol if port range is given.",
            ));
        }
        if is_tcp_like(protocol.as_deref()) && (min.is_some() || max.is_some()) {
            // neutron: values first (the API layer), then port 0, then a
            // range that needs both ends.
            for v in [min, max].into_iter().flatten() {
                if !(1..=65535).contains(&v) {
                    return Err(bad_request_typed(
                        "SecurityGroupInvalidPortValue",
                        &format!("Invalid value for port {v}"),
                    ));
                }
            }
            if !matches!((min, max), (Some(lo), Some(hi)) if lo <= hi) {
                return Err(bad_request_typed(
                    "SecurityGroupInvalidPortRange",
                    "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                ));
            }
        } else if is_icmp(protocol.as_deref()) {
            for (name, v) in [("type", min), ("code", max)] {
                if let Some(v) = v
                    && !(0..=255).contains(&v)
                {
                    return Err(bad_request_typed(
                        "SecurityGroupInvalidIcmpValue",
                        &format!(
                            "Invalid value for ICMP {name} (port-range-min) {v}. It must be 0 to 255."
                        ),
                    ));
                }
            }
            if min.is_none() && max.is_some() {
                return Err(bad_request_typed(
                    "SecurityGroupMissingIcmpType",
                    &format!(
                        "ICMP code (port-range-max) {} is provided but ICMP type (port-range-min) is missing.",
                        max.unwrap_or(0)
                    ),
                ));
            }
        } else if min.is_some() || max.is_some() {
            return Err(bad_request_typed(
                "SecurityGroupInvalidProtocolForPort",
                "Invalid protocol for port range, only supported for TCP, UDP, UDPLITE, SCTP, DCCP and ICMP protocols",
            ));
        }
        if remote_ip_prefix.is_some() && remote_group_id.is_some() {
            return Err(bad_request_typed(
                "SecurityGroupRemoteGroupAndRemoteIpPrefix",
                "Only remote_ip_prefix or remote_group_id may be provided.",
            ));
        }
        let remote_ip_prefix = match remote_ip_prefix {
            None => None,
            Some(p) => {
                let text = if p.contains('/') {
                    p.clone()
                } else {
                    format!("{p}/{}", if p.contains(':') { 128 } else { 32 })
                };
                let cidr =
                    Cidr::parse_masked(&text).map_err(|r| invalid_attr("remote_ip_prefix", r))?;
                // Stored as given (host bits kept), as neutron; the
                // network shows as `normalized_cidr`.
                let given =
                    Cidr::host_form(&text).map_err(|r| invalid_attr("remote_ip_prefix", r))?;
                let want = if ethertype == "IPv4" { 4 } else { 6 };
                if cidr.version() != want {
                    return Err(bad_request_typed(
                        "SecurityGroupRuleParameterConflict",
                        &format!("Conflicting value ethertype {ethertype} for CIDR {p}"),
                    ));
                }
                Some(given)
            }
        };
        if let Some(rg) = &remote_group_id {
            self.security_group_visible(ctx, rg).await?;
        }
        let now = now_micros();
        let rule = SecurityGroupRule {
            id: new_id(),
            security_group_id: group.id.clone(),
            project_id: group.project_id.clone(),
            direction,
            ethertype,
            protocol,
            port_range_min: min,
            port_range_max: max,
            remote_ip_prefix,
            remote_group_id,
            description,
            revision_number: 0,
            created_at: now,
            updated_at: now,
        };
        if let Some(dup) = group.rules.iter().find(|r| {
            r.direction == rule.direction
                && r.ethertype == rule.ethertype
                && r.protocol == rule.protocol
                && r.port_range_min == rule.port_range_min
                && r.port_range_max == rule.port_range_max
                && normalized_cidr(r.remote_ip_prefix.as_deref())
                    == normalized_cidr(rule.remote_ip_prefix.as_deref())
                && r.remote_group_id == rule.remote_group_id
        }) {
            return Err(conflict(
                "SecurityGroupRuleExists",
                format!("Security group rule already exists. Rule id is {}.", dup.id),
            ));
        }
        self.quota_check(&group.project_id, "security_group_rule", 1)
            .await?;
        store::security_groups::rule_insert(self.pool(), &rule).await?;
        Ok(rule)
    }

    /// `DELETE /v2.0/security-group-rules/{id}`.
    pub async fn security_group_rule_delete(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<(), ApiError> {
        require_write(ctx, "delete_security_group_rule")?;
        let r = self.security_group_rule_visible(ctx, id).await?;
        if !ctx.may_see_project(&r.project_id) {
            return Err(policy("delete_security_group_rule"));
        }
        store::security_groups::rule_delete(self.pool(), id).await?;
        Ok(())
    }
}

fn bad_request_typed(ty: &str, message: &str) -> ApiError {
    crate::error::neutron(nimbus_common::error::ErrorKind::BadRequest, ty, message)
}

/// neutron's `SecurityGroupDefaultAlreadyExists` (an `InUse`: 409).
fn default_exists() -> ApiError {
    conflict(
        "SecurityGroupDefaultAlreadyExists",
        "Default security group already exists.",
    )
}

/// A rule prefix's network (`10.2.3.124/24` -> `10.2.3.0/24`): neutron's
/// `normalized_cidr`, also what makes two rules the same.
pub fn normalized_cidr(prefix: Option<&str>) -> Option<String> {
    prefix.map(|p| {
        Cidr::parse_masked(p)
            .map(|c| c.to_string())
            .unwrap_or_else(|_| p.to_string())
    })
}
