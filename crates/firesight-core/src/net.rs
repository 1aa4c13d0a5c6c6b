//! Which special-purpose range an IP address belongs to, after the IANA IPv4 and IPv6 Special-Purpose
//! Address Registries. One table for every caller; each states its own policy on top of it:
//!
//! - the webhook SSRF guard (`alerts::target`) refuses every special-purpose range;
//! - GeoIP (`enrich::geoip`) looks up only addresses in none;
//! - the client chooser (`parse::fields`) prefers addresses in none, or in a documentation range.
//!
//! Addresses that embed an IPv4 address are judged as that address: IPv4-mapped (`::ffff:a.b.c.d`),
//! the NAT64 well-known prefix (`64:ff9b::a.b.c.d`) and 6to4 (`2002:AABB:CCDD::/48`). So
//! `64:ff9b::a00:1` is [`SpecialRange::Private`], and `64:ff9b::808:808` is in no range.
//!
//! A registry block is judged whole: the few globally reachable service addresses IANA lists inside
//! 192.0.0.0/24 and 2001::/23 (anycast for PCP, TURN, AMT, AS112, the ORCHIDv2 and DET identifiers)
//! are no client, webhook receiver or place. Blocks that are globally reachable by themselves (AS112
//! 192.31.196.0/24, 192.175.48.0/24 and 2620:4f:8000::/48, AMT 192.52.193.0/24) are in no range. IPv6
//! outside the global unicast space 2000::/3 that no registry entry names is [`SpecialRange::Reserved`],
//! as 240.0.0.0/4 is for IPv4 (IANA IPv6 Address Space: reserved by the IETF); that includes the
//! deprecated IPv4-compatible addresses `::a.b.c.d`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A special-purpose address range. [`SpecialRange::name`] is its name for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpecialRange {
    /// `0.0.0.0/32` ("this host on this network") and `::/128`.
    Unspecified,
    /// `0.0.0.0/8` but `0.0.0.0`: "this network".
    ThisNetwork,
    /// `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16` (RFC 1918).
    Private,
    /// `100.64.0.0/10`, shared address space for carrier-grade NAT (RFC 6598).
    Shared,
    /// `127.0.0.0/8`, `::1/128`.
    Loopback,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// `192.0.0.0/24`, `2001::/23` (but its Teredo and benchmarking parts).
    IetfProtocol,
    /// `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24` (RFC 5737); `2001:db8::/32` (RFC 3849),
    /// `3fff::/20` (RFC 9637).
    Documentation,
    /// `192.88.99.0/24`, the deprecated 6to4 relay anycast (RFC 7526).
    SixToFourRelay,
    /// `198.18.0.0/15` (RFC 2544), `2001:2::/48` (RFC 5180).
    Benchmarking,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `240.0.0.0/4` but the broadcast address; IPv6 outside `2000::/3` that nothing below names.
    Reserved,
    /// `255.255.255.255/32`.
    Broadcast,
    /// `64:ff9b:1::/48`, IPv4/IPv6 translation for local use (RFC 8215).
    LocalTranslation,
    /// `100::/64`, discard-only (RFC 6666).
    Discard,
    /// `2001::/32`, Teredo tunnelling (RFC 4380): the client's IPv4 address is obfuscated inside.
    Teredo,
    /// `5f00::/16`, segment routing (SRv6) SIDs (RFC 9602).
    SegmentRouting,
    /// `fc00::/7` (RFC 4193).
    UniqueLocal,
    /// `fec0::/10`, deprecated site-local (RFC 3879).
    SiteLocal,
}

impl SpecialRange {
    pub fn name(self) -> &'static str {
        match self {
            SpecialRange::Unspecified => "unspecified",
            SpecialRange::ThisNetwork => "this network",
            SpecialRange::Private => "private",
            SpecialRange::Shared => "shared (CGNAT)",
            SpecialRange::Loopback => "loopback",
            SpecialRange::LinkLocal => "link-local",
            SpecialRange::IetfProtocol => "IETF protocol assignments",
            SpecialRange::Documentation => "documentation",
            SpecialRange::SixToFourRelay => "6to4 relay anycast (deprecated)",
            SpecialRange::Benchmarking => "benchmarking",
            SpecialRange::Multicast => "multicast",
            SpecialRange::Reserved => "reserved",
            SpecialRange::Broadcast => "broadcast",
            SpecialRange::LocalTranslation => "local-use IPv4/IPv6 translation",
            SpecialRange::Discard => "discard-only",
            SpecialRange::Teredo => "Teredo",
            SpecialRange::SegmentRouting => "segment routing (SRv6)",
            SpecialRange::UniqueLocal => "unique local",
            SpecialRange::SiteLocal => "site-local (deprecated)",
        }
    }
}

impl fmt::Display for SpecialRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The special-purpose range of `ip`, `None` for a globally routable address. Addresses embedding an
/// IPv4 address (IPv4-mapped, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) get that address's range.
pub fn special_range(ip: IpAddr) -> Option<SpecialRange> {
    match ip {
        IpAddr::V4(v4) => special_range_v4(v4),
        IpAddr::V6(v6) => special_range_v6(v6),
    }
}

fn special_range_v4(ip: Ipv4Addr) -> Option<SpecialRange> {
    let [a, b, c, _] = ip.octets();
    let range = match (a, b, c) {
        _ if ip.is_unspecified() => SpecialRange::Unspecified,
        (0, ..) => SpecialRange::ThisNetwork,
        (10, ..) => SpecialRange::Private,
        (100, 64..=127, _) => SpecialRange::Shared,
        (127, ..) => SpecialRange::Loopback,
        (169, 254, _) => SpecialRange::LinkLocal,
        (172, 16..=31, _) => SpecialRange::Private,
        (192, 0, 0) => SpecialRange::IetfProtocol,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => SpecialRange::Documentation,
        (192, 88, 99) => SpecialRange::SixToFourRelay,
        (192, 168, _) => SpecialRange::Private,
        (198, 18..=19, _) => SpecialRange::Benchmarking,
        (224..=239, ..) => SpecialRange::Multicast,
        _ if ip.is_broadcast() => SpecialRange::Broadcast,
        (240..=255, ..) => SpecialRange::Reserved,
        _ => return None,
    };
    Some(range)
}

fn special_range_v6(ip: Ipv6Addr) -> Option<SpecialRange> {
    if let Some(v4) = embedded_v4(ip) {
        return special_range_v4(v4);
    }
    let s = ip.segments();
    let range = match s {
        _ if ip.is_unspecified() => SpecialRange::Unspecified,
        _ if ip.is_loopback() => SpecialRange::Loopback,
        [0x64, 0xff9b, 1, ..] => SpecialRange::LocalTranslation,
        [0x100, 0, 0, 0, ..] => SpecialRange::Discard,
        [0x2001, 0, ..] => SpecialRange::Teredo,
        [0x2001, 2, 0, ..] => SpecialRange::Benchmarking,
        [0x2001, 0..=0x1ff, ..] => SpecialRange::IetfProtocol,
        [0x2001, 0xdb8, ..] | [0x3fff, 0..=0x0fff, ..] => SpecialRange::Documentation,
        [0x2000..=0x3fff, ..] => return None,
        [0x5f00, ..] => SpecialRange::SegmentRouting,
        [0xfc00..=0xfdff, ..] => SpecialRange::UniqueLocal,
        [0xfe80..=0xfebf, ..] => SpecialRange::LinkLocal,
        [0xfec0..=0xfeff, ..] => SpecialRange::SiteLocal,
        [0xff00..=0xffff, ..] => SpecialRange::Multicast,
        _ => SpecialRange::Reserved,
    };
    Some(range)
}

/// The IPv4 address an IPv4-mapped (`::ffff:0:0/96`), NAT64 well-known prefix (`64:ff9b::/96`) or 6to4
/// (`2002::/16`) address stands for.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = ip.octets();
    match ip.segments() {
        [0, 0, 0, 0, 0, 0xffff, ..] | [0x64, 0xff9b, 0, 0, 0, 0, ..] => Some(Ipv4Addr::new(o[12], o[13], o[14], o[15])),
        [0x2002, ..] => Some(Ipv4Addr::new(o[2], o[3], o[4], o[5])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::SpecialRange::*;
    use super::*;

    /// Every range with the addresses at its edges and just outside them.
    #[test]
    fn addresses_fall_in_their_ranges() {
        let table: &[(&str, Option<SpecialRange>)] = &[
            // IPv4.
            ("0.0.0.0", Some(Unspecified)),
            ("0.0.0.1", Some(ThisNetwork)),
            ("0.255.255.255", Some(ThisNetwork)),
            ("1.0.0.0", None),
            ("8.8.8.8", None),
            ("9.255.255.255", None),
            ("10.0.0.0", Some(Private)),
            ("10.255.255.255", Some(Private)),
            ("11.0.0.0", None),
            ("100.63.255.255", None),
            ("100.64.0.0", Some(Shared)),
            ("100.127.255.255", Some(Shared)),
            ("100.128.0.0", None),
            ("126.255.255.255", None),
            ("127.0.0.0", Some(Loopback)),
            ("127.0.0.1", Some(Loopback)),
            ("127.255.255.255", Some(Loopback)),
            ("128.0.0.0", None),
            ("169.253.255.255", None),
            ("169.254.0.0", Some(LinkLocal)),
            ("169.254.169.254", Some(LinkLocal)),
            ("169.254.255.255", Some(LinkLocal)),
            ("169.255.0.0", None),
            ("172.15.255.255", None),
            ("172.16.0.0", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("172.32.0.0", None),
            ("191.255.255.255", None),
            ("192.0.0.0", Some(IetfProtocol)),
            ("192.0.0.9", Some(IetfProtocol)),
            ("192.0.0.255", Some(IetfProtocol)),
            ("192.0.1.0", None),
            ("192.0.2.0", Some(Documentation)),
            ("192.0.2.255", Some(Documentation)),
            ("192.0.3.0", None),
            ("192.31.196.1", None),
            ("192.52.193.1", None),
            ("192.88.98.255", None),
            ("192.88.99.0", Some(SixToFourRelay)),
            ("192.88.99.255", Some(SixToFourRelay)),
            ("192.88.100.0", None),
            ("192.167.255.255", None),
            ("192.168.0.0", Some(Private)),
            ("192.168.255.255", Some(Private)),
            ("192.169.0.0", None),
            ("192.175.48.1", None),
            ("198.17.255.255", None),
            ("198.18.0.0", Some(Benchmarking)),
            ("198.19.255.255", Some(Benchmarking)),
            ("198.20.0.0", None),
            ("198.51.99.255", None),
            ("198.51.100.0", Some(Documentation)),
            ("198.51.100.255", Some(Documentation)),
            ("198.51.101.0", None),
            ("203.0.112.255", None),
            ("203.0.113.0", Some(Documentation)),
            ("203.0.113.255", Some(Documentation)),
            ("203.0.114.0", None),
            ("223.255.255.255", None),
            ("224.0.0.0", Some(Multicast)),
            ("239.255.255.255", Some(Multicast)),
            ("240.0.0.0", Some(Reserved)),
            ("255.255.255.254", Some(Reserved)),
            ("255.255.255.255", Some(Broadcast)),
            // IPv6.
            ("::", Some(Unspecified)),
            ("::1", Some(Loopback)),
            ("::2", Some(Reserved)),
            ("::a00:1", Some(Reserved)),
            ("::fffe:808:808", Some(Reserved)),
            ("::ffff:0.0.0.0", Some(Unspecified)),
            ("::ffff:10.0.0.1", Some(Private)),
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:8.8.8.8", None),
            ("::1:ffff:808:808", Some(Reserved)),
            ("64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", Some(Reserved)),
            ("64:ff9b::", Some(Unspecified)),
            ("64:ff9b::808:808", None),
            ("64:ff9b::a00:1", Some(Private)),
            ("64:ff9b::c000:201", Some(Documentation)),
            ("64:ff9b::ffff:ffff", Some(Broadcast)),
            ("64:ff9b:0:0:0:1::", Some(Reserved)),
            ("64:ff9b:1::", Some(LocalTranslation)),
            ("64:ff9b:1:ffff:ffff:ffff:ffff:ffff", Some(LocalTranslation)),
            ("64:ff9b:2::", Some(Reserved)),
            ("100::", Some(Discard)),
            ("100::ffff:ffff:ffff:ffff", Some(Discard)),
            ("100:0:0:1::", Some(Reserved)),
            ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(Reserved)),
            ("2000::", None),
            ("2001::", Some(Teredo)),
            ("2001:0:ffff:ffff:ffff:ffff:ffff:ffff", Some(Teredo)),
            ("2001:1::1", Some(IetfProtocol)),
            ("2001:1:ffff:ffff:ffff:ffff:ffff:ffff", Some(IetfProtocol)),
            ("2001:2::", Some(Benchmarking)),
            ("2001:2:0:ffff:ffff:ffff:ffff:ffff", Some(Benchmarking)),
            ("2001:2:1::", Some(IetfProtocol)),
            ("2001:3::1", Some(IetfProtocol)),
            ("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", Some(IetfProtocol)),
            ("2001:200::", None),
            ("2001:218::", None),
            ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", None),
            ("2001:db8::", Some(Documentation)),
            ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", Some(Documentation)),
            ("2001:db9::", None),
            ("2001:4860:4860::8888", None),
            ("2002::", Some(Unspecified)),
            ("2002:808:808::1", None),
            ("2002:a00:1::", Some(Private)),
            ("2002:7f00:1::", Some(Loopback)),
            ("2002:c0a8:101:ffff:ffff:ffff:ffff:ffff", Some(Private)),
            ("2003::", None),
            ("2606:4700:4700::1111", None),
            ("2620:4f:8000::1", None),
            ("2a03:0:10ff:f00f::8000", None),
            ("3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
            ("3fff::", Some(Documentation)),
            ("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", Some(Documentation)),
            ("3fff:1000::", None),
            ("3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
            ("4000::", Some(Reserved)),
            ("5eff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(Reserved)),
            ("5f00::", Some(SegmentRouting)),
            ("5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(SegmentRouting)),
            ("5f01::", Some(Reserved)),
            ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(Reserved)),
            ("fc00::", Some(UniqueLocal)),
            ("fd00::1", Some(UniqueLocal)),
            ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(UniqueLocal)),
            ("fe00::", Some(Reserved)),
            ("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(Reserved)),
            ("fe80::", Some(LinkLocal)),
            ("fe80::1", Some(LinkLocal)),
            ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(LinkLocal)),
            ("fec0::", Some(SiteLocal)),
            ("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(SiteLocal)),
            ("ff00::", Some(Multicast)),
            ("ff02::1", Some(Multicast)),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(Multicast)),
        ];
        let mut wrong = Vec::new();
        for &(address, expected) in table {
            let ip: IpAddr = address.parse().unwrap_or_else(|e| panic!("{address}: {e}"));
            let got = special_range(ip);
            if got != expected {
                wrong.push(format!("{address}: {got:?}, expected {expected:?}"));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    /// An IPv4 address written as IPv6 (mapped, NAT64, 6to4) falls in the range of the IPv4 address,
    /// for every IPv4 range.
    #[test]
    fn embedded_ipv4_is_judged_as_ipv4() {
        for v4 in
            ["0.0.0.0", "0.1.2.3", "8.8.8.8", "10.1.2.3", "100.64.0.1", "127.0.0.1", "169.254.169.254", "172.16.0.1"]
                .into_iter()
                .chain([
                    "192.0.0.9",
                    "192.0.2.1",
                    "192.88.99.1",
                    "192.168.1.1",
                    "198.18.0.1",
                    "203.0.113.9",
                    "224.0.0.1",
                ])
                .chain(["240.0.0.1", "255.255.255.255", "81.2.69.142"])
        {
            let v4: Ipv4Addr = v4.parse().unwrap();
            let expected = special_range(IpAddr::V4(v4));
            let [a, b, c, d] = v4.octets();
            let mapped = v4.to_ipv6_mapped();
            let nat64 = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
            let six_to_four =
                Ipv6Addr::new(0x2002, u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]), 0xabcd, 0, 0, 0, 1);
            for v6 in [mapped, nat64, six_to_four] {
                assert_eq!(special_range(IpAddr::V6(v6)), expected, "{v6} as {v4}");
            }
        }
    }

    #[test]
    fn ranges_have_names() {
        assert_eq!(special_range("100.64.0.1".parse().unwrap()).map(SpecialRange::name), Some("shared (CGNAT)"));
        assert_eq!(Documentation.to_string(), "documentation");
        assert_eq!(Private.name(), "private");
    }
}
