//! Where webhooks may go. A URL is checked when a hook is saved, and every connection is checked again
//! when it is made: the HTTP client resolves names through [`GuardedResolver`], so a name that later
//! resolves to a private address (DNS rebinding) is refused too. Redirects are not followed and proxies
//! from the environment are not used, so neither can lead a request somewhere unchecked.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use url::{Host, Url};

use crate::config::PrivateTargets;
use crate::net::special_range;

/// Longest accepted webhook URL.
pub const MAX_URL_LEN: usize = 2048;

/// Which addresses webhooks may reach.
#[derive(Debug, Clone)]
pub struct TargetPolicy {
    allow: PrivateTargets,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error(
        "must be an absolute http or https URL of at most {MAX_URL_LEN} characters, such as https://hooks.example.com/firesight"
    )]
    Malformed,
    #[error(
        "must not carry credentials; put them in the receiver's configuration, the signature authenticates firesight"
    )]
    Credentials,
    #[error("{host} could not be resolved")]
    Unresolvable { host: String },
    #[error(
        "{host} resolves to {addr}, a private, loopback or link-local address; allow it with \
         FIRESIGHT_ALERTS__ALLOW_PRIVATE_TARGETS (true, or a list of CIDRs)"
    )]
    Private { host: String, addr: IpAddr },
}

impl TargetPolicy {
    pub fn new(allow: PrivateTargets) -> Self {
        Self { allow }
    }

    /// Whether a connection to `addr` is allowed.
    pub fn permits(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        match &self.allow {
            PrivateTargets::All => true,
            _ if !is_private(addr) => true,
            PrivateTargets::Networks(nets) => nets.iter().any(|n| n.contains(&addr)),
            PrivateTargets::None => false,
        }
    }

    /// Parses a webhook URL and checks its form; the host is not resolved.
    pub fn parse(&self, raw: &str) -> Result<Url, TargetError> {
        if raw.len() > MAX_URL_LEN {
            return Err(TargetError::Malformed);
        }
        if raw.contains('@') && Url::parse(raw).is_ok_and(|u| !u.username().is_empty() || u.password().is_some()) {
            return Err(TargetError::Credentials);
        }
        if !crate::forms::WEBHOOK_URL.matches(raw) {
            return Err(TargetError::Malformed);
        }
        let url = Url::parse(raw).map_err(|_| TargetError::Malformed)?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(TargetError::Malformed);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(TargetError::Credentials);
        }
        Ok(url)
    }

    /// Checks a URL and every address its host resolves to now. A name that does not resolve yet is
    /// accepted: the receiver may not exist yet, and every delivery resolves and checks again.
    pub async fn check(&self, raw: &str) -> Result<Url, TargetError> {
        let url = self.parse(raw)?;
        let host_name = url.host_str().unwrap_or_default().to_owned();
        let addrs: Vec<IpAddr> = match url.host() {
            Some(Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
            Some(Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
            Some(Host::Domain(name)) => {
                let port = url.port_or_known_default().unwrap_or(443);
                let lookup = tokio::time::timeout(Duration::from_secs(5), tokio::net::lookup_host((name, port))).await;
                match lookup {
                    Ok(Ok(found)) => found.map(|a| a.ip()).collect(),
                    _ => Vec::new(),
                }
            }
            None => return Err(TargetError::Malformed),
        };
        if let Some(addr) = addrs.into_iter().find(|a| !self.permits(*a)) {
            return Err(TargetError::Private { host: host_name, addr });
        }
        Ok(url)
    }

    /// The resolver for the webhook HTTP client.
    pub fn resolver(&self) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver { policy: self.clone() })
    }
}

/// An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) is judged as the IPv4 address it is.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
        v4 => v4,
    }
}

/// Whether `addr` is in any special-purpose range ([`crate::net`]): private, loopback, link-local,
/// unspecified, shared (CGNAT), multicast, documentation, benchmarking, reserved and the others, with
/// NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`) addresses judged by the IPv4 address they embed:
/// nothing a public webhook receiver lives on.
pub fn is_private(addr: IpAddr) -> bool {
    special_range(addr).is_some()
}

/// Resolves names with the system resolver and keeps only the addresses the policy permits.
#[derive(Debug)]
pub struct GuardedResolver {
    policy: TargetPolicy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found.iter().copied().filter(|a| policy.permits(a.ip())).collect();
            if allowed.is_empty() {
                let reason = match found.first() {
                    Some(a) => TargetError::Private { host, addr: a.ip() },
                    None => TargetError::Unresolvable { host },
                };
                return Err(Box::new(reason) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether a parsed URL's literal address (if it has one) is permitted; names are checked by the
/// resolver at connection time.
pub fn literal_permitted(policy: &TargetPolicy, url: &Url) -> Result<(), TargetError> {
    let addr = match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return Ok(()),
    };
    if policy.permits(addr) {
        Ok(())
    } else {
        Err(TargetError::Private { host: url.host_str().unwrap_or_default().to_owned(), addr })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipnet::IpNet;

    fn networks(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_ranges_are_recognised() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
        ] {
            assert!(is_private(ip(private)), "{private}");
        }
        for public in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "100.128.0.1"] {
            assert!(!is_private(ip(public)), "{public}");
        }
    }

    #[test]
    fn the_policy_allows_what_config_lists() {
        let none = TargetPolicy::new(PrivateTargets::None);
        assert!(!none.permits(ip("127.0.0.1")));
        assert!(none.permits(ip("8.8.8.8")));
        let all = TargetPolicy::new(PrivateTargets::All);
        assert!(all.permits(ip("10.0.0.1")));
        let loopback = TargetPolicy::new(PrivateTargets::Networks(networks(&["127.0.0.0/8"])));
        assert!(loopback.permits(ip("127.0.0.1")));
        assert!(loopback.permits(ip("::ffff:127.0.0.1")));
        assert!(!loopback.permits(ip("10.0.0.1")));
        assert!(!loopback.permits(ip("::1")));
    }

    #[tokio::test]
    async fn urls_are_checked_with_their_addresses() {
        let none = TargetPolicy::new(PrivateTargets::None);
        assert_eq!(none.parse("ftp://example.com/").unwrap_err(), TargetError::Malformed);
        assert_eq!(none.parse("not a url").unwrap_err(), TargetError::Malformed);
        assert_eq!(none.parse("https://user:pw@example.com/").unwrap_err(), TargetError::Credentials);
        assert!(matches!(none.check("http://127.0.0.1:9/").await, Err(TargetError::Private { .. })));
        assert!(matches!(none.check("http://[::1]/").await, Err(TargetError::Private { .. })));
        assert!(matches!(none.check("http://localhost:8080/hook").await, Err(TargetError::Private { .. })));
        assert!(matches!(none.check("http://169.254.169.254/latest/").await, Err(TargetError::Private { .. })));
        // Not resolvable yet: accepted, and checked again on every delivery.
        assert!(none.check("http://no-such-host.invalid/").await.is_ok());
        assert!(matches!(none.check("http://user:pw@hooks.example.com/").await, Err(TargetError::Credentials)));
        assert!(matches!(none.check(" https://hooks.example.com/").await, Err(TargetError::Malformed)));
        // Special-purpose IPv6 ranges the guard once let through: discard-only, IETF protocol
        // assignments, local-use NAT64, and 6to4 / NAT64 wrapping a private IPv4 address.
        for url in [
            "http://[100::1]/",
            "http://[2001:2::1]/",
            "http://[2001::1]/",
            "http://[64:ff9b:1::a00:1]/",
            "http://[64:ff9b::a00:1]/",
            "http://[2002:a00:1::]/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert!(matches!(none.check(url).await, Err(TargetError::Private { .. })), "{url}");
        }
        assert!(none.parse("http://[2606:4700:4700::1111]/").is_ok());
        let loopback = TargetPolicy::new(PrivateTargets::Networks(networks(&["127.0.0.0/8"])));
        assert!(loopback.check("http://127.0.0.1:9/").await.is_ok());
    }
}
