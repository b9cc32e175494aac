//! Who is calling: the client's address, as throttling counts it.
//!
//! The TCP peer is the client unless it is one of `SAASKIT_TRUSTED_PROXIES`; then
//! `X-Forwarded-For` is walked from the right (each proxy appends the address it saw), skipping
//! trusted proxies, and the first untrusted hop is the client. Entries left of that hop were
//! written by the client itself and are never read.
//!
//! Every address is stored and compared in one normalised form ([`ClientAddr`]).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use actix_web::HttpRequest;
use actix_web::http::header::HeaderName;
use ipnet::IpNet;

/// The bucket of every address that cannot be parsed.
const UNKNOWN: &str = "unknown";

/// A normalised client address: an IPv4 address in dotted form, an IPv6 network reduced to its
/// /64 (one subscriber usually holds a whole /64), or `unknown`. At most 43 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientAddr(String);

impl ClientAddr {
    /// The normalised form of `ip`; an IPv4-mapped IPv6 address is its IPv4 address.
    pub fn from_ip(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => ClientAddr(v4.to_string()),
            IpAddr::V6(v6) => {
                let network = u128::from(v6) & (u128::MAX << 64);
                ClientAddr(format!("{}/64", Ipv6Addr::from(network)))
            }
        }
    }

    /// The one bucket for addresses that cannot be parsed.
    pub fn unknown() -> Self {
        ClientAddr(UNKNOWN.to_owned())
    }

    /// Parses an address as proxies write it: bare, or with a port (`1.2.3.4:80`, `[::1]:80`).
    /// Anything else is [`ClientAddr::unknown`].
    pub fn parse(raw: &str) -> Self {
        parse_ip(raw).map_or_else(Self::unknown, Self::from_ip)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for ClientAddr {
    fn from(raw: &str) -> Self {
        Self::parse(raw)
    }
}

impl std::fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn parse_ip(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    IpAddr::from_str(raw)
        .ok()
        .or_else(|| SocketAddr::from_str(raw).ok().map(|addr| addr.ip()))
}

/// The proxies whose `X-Forwarded-For` is believed (`SAASKIT_TRUSTED_PROXIES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list of IP addresses and CIDR networks; empty trusts nobody.
    ///
    /// # Errors
    /// The entry that is neither.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                IpNet::from_str(entry)
                    .or_else(|_| IpAddr::from_str(entry).map(IpNet::from))
                    .map_err(|_| format!("{entry:?} is not an IP address or CIDR network"))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of a connection from `peer` that carried these `X-Forwarded-For` values.
    pub fn client(&self, peer: Option<IpAddr>, forwarded_for: &[&str]) -> ClientAddr {
        let Some(mut client) = peer else {
            return ClientAddr::unknown();
        };
        let hops = forwarded_for.iter().flat_map(|value| value.split(','));
        // Right to left: each hop was written by the (trusted) hop to its right.
        for hop in hops.collect::<Vec<_>>().into_iter().rev() {
            if !self.contains(client) {
                break;
            }
            match parse_ip(hop) {
                Some(ip) => client = ip,
                None => return ClientAddr::unknown(),
            }
        }
        ClientAddr::from_ip(client)
    }
}

/// The client's address of `http` (see the module's documentation).
pub fn of_request(trusted: &TrustedProxies, http: &HttpRequest) -> ClientAddr {
    let header = HeaderName::from_static("x-forwarded-for");
    let values: Vec<&str> = http
        .headers()
        .get_all(header)
        .map(|value| value.to_str().unwrap_or(UNKNOWN))
        .collect();
    trusted.client(http.peer_addr().map(|addr| addr.ip()), &values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(raw: &str) -> Option<IpAddr> {
        parse_ip(raw)
    }

    #[test]
    fn addresses_have_one_normal_form() {
        assert_eq!(ClientAddr::parse(" 203.0.113.7 ").as_str(), "203.0.113.7");
        assert_eq!(
            ClientAddr::parse("203.0.113.7:4711").as_str(),
            "203.0.113.7"
        );
        assert_eq!(
            ClientAddr::parse("::ffff:203.0.113.7").as_str(),
            "203.0.113.7"
        );
        let a = ClientAddr::parse("2001:DB8:0:1:aaaa::1");
        let b = ClientAddr::parse("[2001:db8::1:ffff:0:0:2]:443");
        assert_eq!(a.as_str(), "2001:db8:0:1::/64");
        assert_eq!(a, b, "one /64 is one client");
        assert_eq!(ClientAddr::parse("not an address"), ClientAddr::unknown());
        assert_eq!(ClientAddr::parse(&"9".repeat(500)), ClientAddr::unknown());
    }

    #[test]
    fn forwarding_counts_only_from_a_trusted_peer_and_stops_at_the_first_untrusted_hop() {
        let none = TrustedProxies::default();
        let lb = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").expect("parses");
        let spoofed = ["1.1.1.1, 198.51.100.9"];
        assert_eq!(none.client(ip("127.0.0.1"), &spoofed).as_str(), "127.0.0.1");
        assert_eq!(
            lb.client(ip("127.0.0.1"), &spoofed).as_str(),
            "198.51.100.9"
        );
        let chain = ["1.1.1.1", "198.51.100.9, 10.0.0.2"];
        assert_eq!(lb.client(ip("10.0.0.1"), &chain).as_str(), "198.51.100.9");
        assert_eq!(lb.client(ip("192.0.2.1"), &chain).as_str(), "192.0.2.1");
        assert_eq!(lb.client(ip("10.0.0.1"), &[]).as_str(), "10.0.0.1");
        assert_eq!(
            lb.client(ip("10.0.0.1"), &["10.0.0.3"]).as_str(),
            "10.0.0.3"
        );
        assert_eq!(
            lb.client(ip("10.0.0.1"), &["x, 10.0.0.3"]),
            ClientAddr::unknown()
        );
        assert_eq!(lb.client(None, &chain), ClientAddr::unknown());
    }

    #[test]
    fn a_bad_proxy_entry_is_refused() {
        assert!(TrustedProxies::parse("10.0.0.0/8, proxy.local").is_err());
        assert_eq!(TrustedProxies::parse(" "), Ok(TrustedProxies::default()));
    }
}
