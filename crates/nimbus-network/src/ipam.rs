//! Address arithmetic for IPAM: CIDRs, allocation pools, candidate choice
//! and EUI-64. Pure functions; the database makes allocations unique.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A subnet prefix in canonical form (no host bits set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The network address.
    pub network: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

/// An inclusive range of addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First address.
    pub start: u128,
    /// Last address.
    pub end: u128,
}

/// The address as an integer (IPv4 in the low 32 bits).
pub fn to_int(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The integer back as an address of `version` (4 or 6).
pub fn from_int(version: u8, n: u128) -> IpAddr {
    if version == 4 {
        IpAddr::V4(Ipv4Addr::from(u32::try_from(n).unwrap_or(u32::MAX)))
    } else {
        IpAddr::V6(Ipv6Addr::from(n))
    }
}

/// 4 or 6.
pub fn version_of(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 4 } else { 6 }
}

/// Parses an address the way neutron's validator does: plain dotted quad or
/// IPv6 text; the canonical text is what we store.
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>().ok()
}

impl Cidr {
    /// Parses `a.b.c.d/n` or `x::/n`. Host bits must be clear, as neutron's
    /// `validate_subnet` demands (the error names the canonical form).
    pub fn parse(text: &str) -> Result<Cidr, String> {
        Self::parse_with(text, true)
    }

    /// Parses like [`Cidr::parse`] but clears host bits instead of refusing
    /// them (`10.2.3.124/24` is `10.2.3.0/24`), the
    /// `normalized_cidr` of a security group rule prefix.
    pub fn parse_masked(text: &str) -> Result<Cidr, String> {
        Self::parse_with(text, false)
    }

    /// A valid prefix written canonically with its host bits kept
    /// (`10.2.3.124/24`, `2001:db8::1/64`), as neutron stores a security
    /// group rule's `remote_ip_prefix` (netaddr's `str(IPNetwork(...))`).
    pub fn host_form(text: &str) -> Result<String, String> {
        let cidr = Self::parse_masked(text)?;
        let bad = || format!("'{text}' is not a valid IP subnet.");
        let (addr, _) = text.split_once('/').ok_or_else(bad)?;
        let ip: IpAddr = addr.parse().map_err(|_| bad())?;
        Ok(format!("{ip}/{}", cidr.prefix))
    }

    fn parse_with(text: &str, strict: bool) -> Result<Cidr, String> {
        let bad = || format!("'{text}' is not a valid IP subnet.");
        let (addr, prefix) = text.split_once('/').ok_or_else(bad)?;
        let ip: IpAddr = addr.parse().map_err(|_| bad())?;
        if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let bits = if ip.is_ipv4() { 32 } else { 128 };
        if prefix > bits {
            return Err(bad());
        }
        let network = from_int(version_of(ip), to_int(ip) & mask(bits, prefix));
        let cidr = Cidr { network, prefix };
        if strict && network != ip {
            return Err(format!(
                "'{text}' isn't a recognized IP subnet cidr, '{cidr}' is recommended."
            ));
        }
        Ok(cidr)
    }

    /// 4 or 6.
    pub fn version(&self) -> u8 {
        version_of(self.network)
    }

    fn bits(&self) -> u8 {
        if self.version() == 4 { 32 } else { 128 }
    }

    /// The first address (the network address).
    pub fn first(&self) -> u128 {
        to_int(self.network)
    }

    /// The last address (IPv4 broadcast).
    pub fn last(&self) -> u128 {
        self.first() | !mask(self.bits(), self.prefix) & all_ones(self.bits())
    }

    /// Whether `ip` is inside the prefix (and of the same family).
    pub fn contains(&self, ip: IpAddr) -> bool {
        version_of(ip) == self.version() && (self.first()..=self.last()).contains(&to_int(ip))
    }

    /// The lowest and highest address a pool may use: the network address is
    /// never allocatable, nor the IPv4 broadcast (neutron's
    /// `_validate_allocation_pools`).
    pub fn usable(&self) -> Range {
        let start = self.first().saturating_add(1).min(self.last());
        let end = if self.version() == 4 {
            self.last().saturating_sub(1)
        } else {
            self.last()
        };
        Range { start, end }
    }

    /// The pools neutron generates when none are given: the usable range
    /// minus the gateway (`ipam.utils.generate_pools`).
    pub fn default_pools(&self, gateway: Option<IpAddr>) -> Vec<Range> {
        let usable = self.usable();
        if usable.start > usable.end {
            return Vec::new();
        }
        let Some(gw) = gateway.filter(|g| self.contains(*g)).map(to_int) else {
            return vec![usable];
        };
        let mut pools = Vec::new();
        if gw > usable.start {
            pools.push(Range {
                start: usable.start,
                end: (gw - 1).min(usable.end),
            });
        }
        if gw < usable.end {
            pools.push(Range {
                start: (gw + 1).max(usable.start),
                end: usable.end,
            });
        }
        pools.retain(|p| p.start <= p.end);
        pools
    }

    /// The default gateway: the first host address.
    pub fn default_gateway(&self) -> Option<IpAddr> {
        let usable = self.usable();
        (usable.start <= usable.end && usable.start != self.first())
            .then(|| from_int(self.version(), usable.start))
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn all_ones(bits: u8) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

fn mask(bits: u8, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        all_ones(bits) & !(all_ones(bits - prefix.min(bits)))
    }
}

/// Why a set of pools is refused, in neutron's exception terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolError {
    /// `InvalidAllocationPool` (400): start after end, or wrong family.
    Invalid(String),
    /// `OutOfBoundsAllocationPool` (400).
    OutOfBounds(String),
    /// `OverlappingAllocationPools` (409).
    Overlapping(String, String),
    /// `GatewayConflictWithAllocationPools` (409).
    GatewayConflict(String),
}

/// Renders a range as neutron prints an `IPRange`: `start-end`.
pub fn range_text(version: u8, r: &Range) -> String {
    format!(
        "{}-{}",
        from_int(version, r.start),
        from_int(version, r.end)
    )
}

/// Checks user-given pools: ordered, inside the usable part of the cidr,
/// disjoint, and not containing the gateway.
pub fn validate_pools(
    cidr: &Cidr,
    gateway: Option<IpAddr>,
    pools: &[(IpAddr, IpAddr)],
) -> Result<Vec<Range>, PoolError> {
    let v = cidr.version();
    let usable = cidr.usable();
    let mut ranges = Vec::with_capacity(pools.len());
    for (start, end) in pools {
        let text = format!("{start}-{end}");
        if version_of(*start) != v || version_of(*end) != v {
            return Err(PoolError::Invalid(text));
        }
        let r = Range {
            start: to_int(*start),
            end: to_int(*end),
        };
        if r.start > r.end {
            return Err(PoolError::Invalid(text));
        }
        if r.start < usable.start || r.end > usable.end {
            return Err(PoolError::OutOfBounds(text));
        }
        ranges.push(r);
    }
    let mut sorted = ranges.clone();
    sorted.sort_by_key(|r| r.start);
    for pair in sorted.windows(2) {
        if pair[1].start <= pair[0].end {
            return Err(PoolError::Overlapping(
                range_text(v, &pair[0]),
                range_text(v, &pair[1]),
            ));
        }
    }
    if let Some(gw) = gateway.map(to_int)
        && let Some(r) = sorted.iter().find(|r| (r.start..=r.end).contains(&gw))
    {
        return Err(PoolError::GatewayConflict(range_text(v, r)));
    }
    Ok(sorted)
}

/// How many free addresses to choose among: concurrent allocations then
/// rarely pick the same one, while the choice stays near the pool start.
const WINDOW: usize = 64;

/// Picks a free address from `pools`, or `None` if every address is used.
/// Walks at most `used.len() + WINDOW` addresses, so a huge IPv6 pool costs
/// no more than a small one.
pub fn pick_free(pools: &[Range], used: &HashSet<u128>) -> Option<u128> {
    let mut free = Vec::with_capacity(WINDOW);
    'pools: for pool in pools {
        let mut n = pool.start;
        loop {
            if !used.contains(&n) {
                free.push(n);
                if free.len() == WINDOW {
                    break 'pools;
                }
            }
            if n == pool.end {
                break;
            }
            n += 1;
        }
    }
    if free.is_empty() {
        return None;
    }
    let i = rand::random_range(0..free.len());
    Some(free[i])
}

/// Whether `ip` lies in one of `pools`.
pub fn in_pools(pools: &[Range], ip: u128) -> bool {
    pools.iter().any(|p| (p.start..=p.end).contains(&ip))
}

/// The SLAAC address of `mac` on a /64 (modified EUI-64, RFC 4291 2.5.1).
pub fn eui64(cidr: &Cidr, mac: &str) -> Option<IpAddr> {
    if cidr.version() != 6 || cidr.prefix != 64 {
        return None;
    }
    let bytes = parse_mac(mac)?;
    let iid = [
        bytes[0] ^ 0x02,
        bytes[1],
        bytes[2],
        0xff,
        0xfe,
        bytes[3],
        bytes[4],
        bytes[5],
    ];
    let iid = u64::from_be_bytes(iid);
    Some(IpAddr::V6(Ipv6Addr::from(cidr.first() | u128::from(iid))))
}

/// `aa:bb:cc:dd:ee:ff` into bytes.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = text.split(':');
    for b in &mut out {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// A random MAC under a `base_mac` such as `fa:16:3e:00:00:00`: the bytes
/// that are zero in the base are random (neutron's `get_random_mac`).
pub fn random_mac(base: &[u8; 6]) -> String {
    let random: [u8; 6] = rand::random();
    let fixed = if base[3] == 0 { 3 } else { 4 };
    let bytes: Vec<String> = (0..6)
        .map(|i| {
            let b = if i < fixed { base[i] } else { random[i] };
            format!("{b:02x}")
        })
        .collect();
    bytes.join(":")
}

#[cfg(test)]
mod tests {

    #[test]
    fn rule_prefixes_lose_their_host_bits() {
        assert!(Cidr::parse("10.2.3.124/24").is_err());
        assert_eq!(
            Cidr::parse_masked("10.2.3.124/24").unwrap().to_string(),
            "10.2.3.0/24"
        );
        assert_eq!(
            Cidr::parse_masked("2001:db8::1/64").unwrap().to_string(),
            "2001:db8::/64"
        );
        assert_eq!(Cidr::host_form("10.2.3.124/24").unwrap(), "10.2.3.124/24");
        assert_eq!(
            Cidr::host_form("2001:0db8:0::1/64").unwrap(),
            "2001:db8::1/64"
        );
        assert!(Cidr::parse_masked("10.2.3.124/33").is_err());
        assert!(Cidr::parse_masked("10.2.3.124").is_err());
    }

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_parse_strictly() {
        let c = Cidr::parse("192.168.0.0/24").unwrap();
        assert_eq!(c.last(), to_int(ip("192.168.0.255")));
        assert!(
            Cidr::parse("192.168.0.1/24")
                .unwrap_err()
                .contains("192.168.0.0/24")
        );
        assert!(Cidr::parse("192.168.0.0/33").is_err());
        assert!(Cidr::parse("300.0.0.0/8").is_err());
        assert!(Cidr::parse("10.0.0.0").is_err());
        assert!(Cidr::parse("10.0.0.0/+8").is_err());
        let v6 = Cidr::parse("2001:db8::/64").unwrap();
        assert_eq!(v6.version(), 6);
        assert!(v6.contains(ip("2001:db8::ffff")));
        assert!(!v6.contains(ip("10.0.0.1")));
        assert_eq!(
            Cidr::parse("0.0.0.0/0").unwrap().last(),
            u128::from(u32::MAX)
        );
    }

    #[test]
    fn default_pools_skip_network_broadcast_and_gateway() {
        let c = Cidr::parse("10.0.0.0/24").unwrap();
        let gw = c.default_gateway();
        assert_eq!(gw, Some(ip("10.0.0.1")));
        let pools = c.default_pools(gw);
        assert_eq!(pools.len(), 1);
        assert_eq!(range_text(4, &pools[0]), "10.0.0.2-10.0.0.254");
        let mid = c.default_pools(Some(ip("10.0.0.100")));
        assert_eq!(range_text(4, &mid[0]), "10.0.0.1-10.0.0.99");
        assert_eq!(range_text(4, &mid[1]), "10.0.0.101-10.0.0.254");
        let v6 = Cidr::parse("2001:db8::/64").unwrap();
        let p = v6.default_pools(v6.default_gateway());
        assert_eq!(
            range_text(6, &p[0]),
            "2001:db8::2-2001:db8::ffff:ffff:ffff:ffff"
        );
    }

    #[test]
    fn pools_are_validated() {
        let c = Cidr::parse("10.0.0.0/24").unwrap();
        let gw = Some(ip("10.0.0.1"));
        let ok = validate_pools(&c, gw, &[(ip("10.0.0.100"), ip("10.0.0.200"))]).unwrap();
        assert_eq!(ok.len(), 1);
        assert!(matches!(
            validate_pools(&c, gw, &[(ip("10.0.0.200"), ip("10.0.0.100"))]),
            Err(PoolError::Invalid(_))
        ));
        assert!(matches!(
            validate_pools(&c, gw, &[(ip("10.0.0.100"), ip("10.0.1.5"))]),
            Err(PoolError::OutOfBounds(_))
        ));
        assert!(matches!(
            validate_pools(&c, gw, &[(ip("10.0.0.0"), ip("10.0.0.5"))]),
            Err(PoolError::OutOfBounds(_))
        ));
        assert!(matches!(
            validate_pools(
                &c,
                gw,
                &[
                    (ip("10.0.0.10"), ip("10.0.0.20")),
                    (ip("10.0.0.20"), ip("10.0.0.30"))
                ]
            ),
            Err(PoolError::Overlapping(..))
        ));
        assert!(matches!(
            validate_pools(&c, gw, &[(ip("10.0.0.1"), ip("10.0.0.9"))]),
            Err(PoolError::GatewayConflict(_))
        ));
    }

    #[test]
    fn picks_only_free_addresses_and_reports_exhaustion() {
        let pools = [Range { start: 10, end: 12 }];
        let mut used: HashSet<u128> = [10, 12].into_iter().collect();
        assert_eq!(pick_free(&pools, &used), Some(11));
        used.insert(11);
        assert_eq!(pick_free(&pools, &used), None);
        let huge = [Range {
            start: 0,
            end: u128::MAX,
        }];
        assert!(pick_free(&huge, &HashSet::new()).unwrap() < 64);
    }

    #[test]
    fn eui64_matches_rfc_example() {
        let c = Cidr::parse("2001:db8::/64").unwrap();
        assert_eq!(
            eui64(&c, "fa:16:3e:12:34:56"),
            Some(ip("2001:db8::f816:3eff:fe12:3456"))
        );
        assert_eq!(
            eui64(&Cidr::parse("2001:db8::/56").unwrap(), "fa:16:3e:12:34:56"),
            None
        );
    }

    #[test]
    fn macs_keep_the_base_prefix() {
        let mac = random_mac(&parse_mac("fa:16:3e:00:00:00").unwrap());
        assert!(mac.starts_with("fa:16:3e:"), "{mac}");
        assert!(parse_mac(&mac).is_some());
        assert!(parse_mac("fa:16:3e:00:00").is_none());
        assert!(parse_mac("fa:16:3e:00:00:zz").is_none());
    }
}
