//! Who the client is: the peer of the connection, or, when the peer is a proxy the operator
//! trusts (`GATEWAY_TRUSTED_PROXIES`, a load balancer), the address that proxy says it received
//! the request from in `X-Forwarded-For`. A direct client's `X-Forwarded-For` is never believed:
//! anyone can write one, and believing it would let a client pick the address it is limited by.

use std::net::{IpAddr, Ipv6Addr};

use axum::http::HeaderMap;
use platform::config::{ConfigError, ConfigSource};

/// One address or network (`10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address = canonical(address.trim().parse().ok()?);
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix.trim().parse::<u8>().ok().filter(|p| *p <= bits)?,
            None => bits,
        };
        Some(Self { address, prefix })
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.address, canonical(address)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// An IPv4 address written as IPv6 (`::ffff:192.0.2.1`, what a dual-stack socket reports) is the
/// IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<Network>);

impl TrustedProxies {
    pub const KEY: &'static str = "GATEWAY_TRUSTED_PROXIES";

    /// `GATEWAY_TRUSTED_PROXIES`: comma-separated addresses and networks; unset: none.
    pub fn load(source: &ConfigSource) -> Result<Self, ConfigError> {
        let Some(list) = source.get(Self::KEY) else {
            return Ok(Self::default());
        };
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                Network::parse(entry).ok_or_else(|| {
                    ConfigError::invalid(
                        Self::KEY,
                        entry,
                        "expected addresses or networks like 10.0.0.0/8, 192.0.2.7 or 2001:db8::/32",
                    )
                })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn new(networks: Vec<Network>) -> Self {
        Self(networks)
    }

    pub fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(address))
    }

    /// The client of a request that came from `peer`. From a trusted proxy the client is the
    /// rightmost `X-Forwarded-For` entry that is not itself a trusted proxy (each proxy appends the
    /// address it received the request from, so entries further left were written by someone not
    /// trusted); if every entry is trusted, the leftmost; if an entry is not an address, the last
    /// trusted hop before it.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> Client {
        let peer = canonical(peer);
        let entries: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .flat_map(|value| match value.to_str() {
                Ok(text) => text.split(',').map(str::trim).collect::<Vec<_>>(),
                Err(_) => vec!["unknown"],
            })
            .filter(|entry| !entry.is_empty())
            .collect();
        let mut address = peer;
        let mut keep = entries.len();
        let mut with_peer = true;
        if self.trusts(peer) {
            for (i, entry) in entries.iter().enumerate().rev() {
                let Ok(hop) = entry.parse::<IpAddr>() else {
                    break;
                };
                address = canonical(hop);
                keep = i + 1;
                with_peer = false;
                if !self.trusts(address) {
                    break;
                }
            }
        }
        // Passed on, the chain ends with the client, so that a service behind the gateway that
        // trusts it reads the client from its rightmost entry.
        let mut chain = entries[..keep].join(", ");
        if with_peer {
            if !chain.is_empty() {
                chain.push_str(", ");
            }
            chain.push_str(&peer.to_string());
        }
        Client {
            address,
            key: address_key(address),
            forwarded_for: chain,
        }
    }
}

/// The client of one request, as far as the gateway can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub address: IpAddr,
    /// What its limits and caps are counted by ([`address_key`]).
    pub key: String,
    /// The `X-Forwarded-For` to send on: what came from trusted proxies, ending with the client.
    pub forwarded_for: String,
}

/// The rate-limit and connection-cap key of a client address. An IPv6 client usually holds a
/// whole /64 (and can pick any address in it), so IPv6 addresses count by their /64.
pub fn address_key(address: IpAddr) -> String {
    match canonical(address) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let network = Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64));
            format!("{network}/64")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(list: &str) -> TrustedProxies {
        TrustedProxies::load(&ConfigSource::from_pairs([(TrustedProxies::KEY, list)])).unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_parse_and_match() {
        let net = Network::parse("10.1.0.0/16").unwrap();
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped IPv6");
        let six = Network::parse("2001:db8::/32").unwrap();
        assert!(six.contains(ip("2001:db8:ffff::1")));
        assert!(!six.contains(ip("2001:db9::1")));
        assert!(!six.contains(ip("10.1.0.1")));
        assert!(
            Network::parse("0.0.0.0/0")
                .unwrap()
                .contains(ip("203.0.113.1"))
        );
        assert!(
            Network::parse("192.0.2.7")
                .unwrap()
                .contains(ip("192.0.2.7"))
        );
        assert!(
            !Network::parse("192.0.2.7")
                .unwrap()
                .contains(ip("192.0.2.8"))
        );
        for bad in ["10.0.0.0/33", "::/129", "example.com", "10.0.0.0/x", ""] {
            assert_eq!(Network::parse(bad), None, "{bad}");
        }
        let error = TrustedProxies::load(&ConfigSource::from_pairs([(
            TrustedProxies::KEY,
            "10.0.0.0/8, lb.internal",
        )]))
        .unwrap_err()
        .to_string();
        assert!(error.contains("GATEWAY_TRUSTED_PROXIES"), "{error}");
        assert!(error.contains("lb.internal"), "{error}");
    }

    #[test]
    fn a_direct_clients_forwarded_for_is_ignored() {
        let none = TrustedProxies::default();
        let headers = forwarded(&["198.51.100.1"]);
        let client = none.client(ip("203.0.113.5"), &headers);
        assert_eq!(client.address, ip("203.0.113.5"));
        assert_eq!(client.forwarded_for, "198.51.100.1, 203.0.113.5");
        let lb = trusted("10.0.0.0/8");
        assert_eq!(
            lb.client(ip("203.0.113.5"), &headers).address,
            ip("203.0.113.5")
        );
        assert_eq!(
            none.client(ip("203.0.113.5"), &HeaderMap::new())
                .forwarded_for,
            "203.0.113.5"
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_entry_is_the_client() {
        let lbs = trusted("10.0.0.0/8, 192.0.2.7");
        let peer = ip("10.0.0.2");
        // The client wrote its own entry (a lie) before the load balancers added theirs.
        let headers = forwarded(&["1.1.1.1, 203.0.113.9, 192.0.2.7"]);
        let client = lbs.client(peer, &headers);
        assert_eq!(client.address, ip("203.0.113.9"));
        assert_eq!(client.key, "203.0.113.9");
        assert_eq!(client.forwarded_for, "1.1.1.1, 203.0.113.9");
        // The same across several header lines.
        let split = forwarded(&["1.1.1.1", "203.0.113.9", "192.0.2.7"]);
        assert_eq!(lbs.client(peer, &split), client);
        // No header: the proxy itself.
        let alone = lbs.client(peer, &HeaderMap::new());
        assert_eq!(
            (alone.address, alone.forwarded_for.as_str()),
            (peer, "10.0.0.2")
        );
        // Every entry trusted: the leftmost.
        assert_eq!(
            lbs.client(peer, &forwarded(&["10.9.9.9"])).address,
            ip("10.9.9.9")
        );
        // Garbage stops the walk at the last trusted hop.
        let garbled = lbs.client(peer, &forwarded(&["203.0.113.9, junk, 192.0.2.7"]));
        assert_eq!(garbled.address, ip("192.0.2.7"));
        assert_eq!(garbled.forwarded_for, "203.0.113.9, junk, 192.0.2.7");
        let garbled = lbs.client(peer, &forwarded(&["junk"]));
        assert_eq!(garbled.address, peer);
        assert_eq!(garbled.forwarded_for, "junk, 10.0.0.2");
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        assert_eq!(
            address_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            address_key(ip("2001:db8:1:2::1")),
            address_key(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            address_key(ip("2001:db8:1:2::1")),
            address_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(address_key(ip("192.0.2.1")), "192.0.2.1");
        assert_eq!(address_key(ip("::ffff:192.0.2.1")), "192.0.2.1");
    }
}
