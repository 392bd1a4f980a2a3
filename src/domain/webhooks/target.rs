//! Which addresses a webhook may call: the SSRF guard, applied to the URL
//! when a webhook is saved and again to every address DNS gives at delivery.
//!
//! Private, loopback, link-local, unspecified, multicast, CGNAT and other
//! special ranges are refused unless `CONFAB_WEBHOOKS_ALLOW_PRIVATE=true`.
//! At delivery the HTTP client resolves names through `GuardedResolver`,
//! which drops refused addresses, so the address checked is the address
//! connected to (no window for DNS rebinding between check and use).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use url::{Host, Url};

/// How long resolving a webhook's host may take when it is saved.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether webhooks may target private addresses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    /// `CONFAB_WEBHOOKS_ALLOW_PRIVATE`: allow private, loopback and
    /// link-local targets (for tests and closed networks).
    pub allow_private: bool,
}

/// Why a target was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not an absolute http(s) URL with a host.
    InvalidUrl(String),
    /// The address (given, or resolved from the host) is not public.
    PrivateAddress(String),
    /// The host does not resolve.
    Unresolvable(String),
}

impl TargetPolicy {
    /// Whether the policy lets a webhook connect to `ip`.
    pub fn allows(self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }

    /// Checks a URL as a webhook target: http(s), a host, and (unless
    /// private targets are allowed) only public addresses, the host's
    /// resolved ones included. Returns the normalised URL.
    pub async fn check(self, raw: &str) -> Result<String, Refusal> {
        let url = parse(raw)?;
        match url.host() {
            Some(Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip))?,
            Some(Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip))?,
            Some(Host::Domain(name)) if !self.allow_private => {
                let port = url.port_or_known_default().unwrap_or(443);
                let lookup = tokio::net::lookup_host((name, port));
                let addresses = match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
                    Ok(Ok(addresses)) => addresses.collect::<Vec<_>>(),
                    Ok(Err(_)) | Err(_) => {
                        return Err(Refusal::Unresolvable(format!(
                            "the host {name:?} does not resolve"
                        )));
                    }
                };
                if addresses.is_empty() {
                    return Err(Refusal::Unresolvable(format!(
                        "the host {name:?} does not resolve"
                    )));
                }
                for address in addresses {
                    if !self.allows(address.ip()) {
                        return Err(Refusal::PrivateAddress(format!(
                            "the host {name:?} resolves to {}, a private, loopback or link-local address",
                            address.ip()
                        )));
                    }
                }
            }
            Some(Host::Domain(_)) => {}
            None => return Err(Refusal::InvalidUrl(format!("{raw:?} has no host"))),
        }
        Ok(url.to_string())
    }

    /// The literal address of a URL's host, checked (a name is checked by
    /// `GuardedResolver` when the client resolves it).
    pub fn check_literal(self, url: &Url) -> Result<(), Refusal> {
        match url.host() {
            Some(Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            Some(Host::Domain(_)) => Ok(()),
            None => Err(Refusal::InvalidUrl(format!("{url} has no host"))),
        }
    }

    fn check_ip(self, ip: IpAddr) -> Result<(), Refusal> {
        if self.allows(ip) {
            Ok(())
        } else {
            Err(Refusal::PrivateAddress(format!(
                "{ip} is a private, loopback or link-local address"
            )))
        }
    }

    /// The resolver the delivery client uses: the system's, minus refused addresses.
    pub fn resolver(self) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver { policy: self })
    }
}

/// An absolute http(s) URL with a host, without credentials.
pub fn parse(raw: &str) -> Result<Url, Refusal> {
    let invalid = || Refusal::InvalidUrl(format!("{raw:?} is not an absolute http(s) URL"));
    let url = Url::parse(raw.trim()).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refusal::InvalidUrl(
            "a webhook URL may not carry credentials".to_string(),
        ));
    }
    Ok(url)
}

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => {
            if let Some(v4) = ip.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            is_public_v6(ip)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // Shared address space (CGNAT), 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments, 192.0.0.0/24.
        || (a == 192 && b == 0 && c == 0)
        // Benchmarking, 198.18.0.0/15.
        || (a == 198 && (b == 18 || b == 19))
        // Reserved, 240.0.0.0/4.
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // Unique local, fc00::/7.
        || (first & 0xfe00) == 0xfc00
        // Link-local, fe80::/10.
        || (first & 0xffc0) == 0xfe80
        // Site-local (deprecated), fec0::/10.
        || (first & 0xffc0) == 0xfec0
        // Documentation, 2001:db8::/32.
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        // IPv4-compatible and NAT64 forms hide an IPv4 address.
        || ip.to_ipv4().is_some_and(|v4| !is_public_v4(v4))
        || (first == 0x0064 && ip.segments()[1] == 0xff9b))
}

/// A DNS resolver for the delivery client that resolves with the system
/// resolver and keeps only the addresses the policy allows; a name with
/// none left fails to resolve, so the request is never sent.
#[derive(Debug)]
pub struct GuardedResolver {
    policy: TargetPolicy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(resolve_allowed(self.policy, name.as_str().to_string()))
    }
}

/// The addresses of `host` that `policy` allows; an error when none are.
async fn resolve_allowed(
    policy: TargetPolicy,
    host: String,
) -> Result<reqwest::dns::Addrs, Box<dyn std::error::Error + Send + Sync>> {
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
    let allowed: Vec<SocketAddr> = resolved
        .iter()
        .copied()
        .filter(|address| policy.allows(address.ip()))
        .collect();
    if allowed.is_empty() {
        let refused = Refusal::PrivateAddress(format!(
            "{host} resolves only to refused addresses ({resolved:?})"
        ));
        return Err(Box::new(RefusedTarget(refused)));
    }
    Ok(Box::new(allowed.into_iter()))
}

/// The error a refused resolution gives the client.
#[derive(Debug)]
pub struct RefusedTarget(pub Refusal);

impl std::fmt::Display for RefusedTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Refusal::InvalidUrl(why)
            | Refusal::PrivateAddress(why)
            | Refusal::Unresolvable(why) => {
                write!(f, "refused target: {why}")
            }
        }
    }
}

impl std::error::Error for RefusedTarget {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_ranges_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().expect("an address");
            assert!(!is_public(ip), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"] {
            let ip: IpAddr = ip.parse().expect("an address");
            assert!(is_public(ip), "{ip}");
        }
    }

    #[test]
    fn urls_need_http_and_a_host() {
        assert!(parse("ftp://example.com/").is_err());
        assert!(parse("not a url").is_err());
        assert!(parse("https://user:pw@example.com/").is_err());
        assert!(parse("https://example.com/hook").is_ok());
    }
}
