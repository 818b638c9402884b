//! Who a request comes from. Behind a load balancer every peer is the
//! balancer, so limits and the audit log need the address it reports; but
//! anyone can send `Forwarded` or `X-Forwarded-For`, so they are believed
//! only from the proxies the operator names (`KEYPORT_TRUSTED_PROXIES`),
//! and only the one of the two those proxies write
//! (`KEYPORT_PROXY_HEADERS`): a proxy that appends to one passes the other
//! on from the client as it came.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use app::api::ClientAddress;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

use crate::config::ProxyHeader;

/// The proxies whose forwarding header is believed, and which header that
/// is.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ProxyHeader,
}

/// Hops of a forwarding chain looked at, at most: a chain longer than any
/// real deployment's is no reason to do more work.
const MAX_HOPS: usize = 32;

impl TrustedProxies {
    /// Reads a list of CIDRs (or single addresses), separated by commas or
    /// spaces, whose proxies write `header`.
    pub fn parse(list: &str, header: ProxyHeader) -> Result<Self, String> {
        list.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!(
                            "KEYPORT_TRUSTED_PROXIES: {item:?} is not a CIDR such as 10.0.0.0/8 or an address"
                        )
                    })
            })
            .collect::<Result<_, _>>()
            .map(|nets| Self { nets, header })
    }

    fn trusts(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.nets.iter().any(|net| net.contains(&address))
    }

    /// The client behind `peer`: walking the forwarding chain from the
    /// nearest hop back, the first address that is not a trusted proxy. A
    /// hop that cannot be read ends the walk at the last trusted one.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        for hop in forwarded_chain(headers, self.header)
            .into_iter()
            .rev()
            .take(MAX_HOPS)
        {
            let Some(hop) = hop else { break };
            client = hop;
            if !self.trusts(hop) {
                break;
            }
        }
        client
    }
}

/// An IPv4 address mapped into IPv6 is the IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// The chain of client addresses `header` reports, farthest first: RFC
/// 7239 `Forwarded` `for=` parameters, or `X-Forwarded-For`'s addresses.
/// A hop that is not an address (`unknown`, an obfuscated name) is `None`.
fn forwarded_chain(headers: &HeaderMap, header: ProxyHeader) -> Vec<Option<IpAddr>> {
    let (name, hop): (_, fn(&str) -> Option<IpAddr>) = match header {
        ProxyHeader::Forwarded => (header::FORWARDED, for_parameter),
        ProxyHeader::XForwarded => (header::HeaderName::from_static("x-forwarded-for"), |hop| {
            node(hop.trim())
        }),
    };
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| match v.to_str() {
            Ok(v) => v.split(',').map(hop).collect(),
            Err(_) => vec![None],
        })
        .collect()
}

/// The `for=` of one `Forwarded` element.
fn for_parameter(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| node(value.trim().trim_matches('"')))
            .flatten()
    })
}

/// An address, with or without a port: `192.0.2.1`, `192.0.2.1:443`,
/// `2001:db8::1`, `[2001:db8::1]:443`.
fn node(value: &str) -> Option<IpAddr> {
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok().map(canonical);
    }
    value
        .parse()
        .ok()
        .or_else(|| value.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(canonical)
}

/// Puts the client's address (`ClientAddress`) on every request.
pub async fn client_address(
    State(trusted): State<Arc<TrustedProxies>>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let client = trusted.client(canonical(peer.ip()), request.headers());
        request.extensions_mut().insert(ClientAddress(client));
    }
    next.run(request).await
}

/// The client's address of a request that went through `client_address`,
/// for the audit log and limits.
pub fn address_text(request: &axum::http::request::Parts) -> String {
    request
        .extensions
        .get::<ClientAddress>()
        .map_or_else(|| "unknown".into(), |a| a.0.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let none = TrustedProxies::default();
        let lb = TrustedProxies::parse("10.0.0.0/8, 192.168.1.7", ProxyHeader::XForwarded).unwrap();
        let spoofed = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(none.client(ip("10.0.0.2"), &spoofed), ip("10.0.0.2"));
        assert_eq!(lb.client(ip("198.51.100.1"), &spoofed), ip("198.51.100.1"));
        assert_eq!(lb.client(ip("10.0.0.2"), &spoofed), ip("203.0.113.9"));
        assert_eq!(
            lb.client(ip("192.168.1.7"), &spoofed),
            ip("203.0.113.9"),
            "a single address is a /32"
        );
    }

    #[test]
    fn the_client_is_the_nearest_untrusted_hop() {
        let lb = TrustedProxies::parse("10.0.0.0/8", ProxyHeader::XForwarded).unwrap();
        // The client sent a made-up address first; the proxies appended
        // what they saw.
        let chain = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.1.1.1")]);
        assert_eq!(lb.client(ip("10.0.0.2"), &chain), ip("203.0.113.9"));
        let lines = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "203.0.113.9:5555"),
        ]);
        assert_eq!(lb.client(ip("10.0.0.2"), &lines), ip("203.0.113.9"));
        let garbage = headers(&[("x-forwarded-for", "1.2.3.4, not-an-ip")]);
        assert_eq!(lb.client(ip("10.0.0.2"), &garbage), ip("10.0.0.2"));
        let all_trusted = headers(&[("x-forwarded-for", "10.9.9.9")]);
        assert_eq!(lb.client(ip("10.0.0.2"), &all_trusted), ip("10.9.9.9"));
    }

    #[test]
    fn only_the_header_the_proxies_write_is_believed() {
        let both = headers(&[
            (
                "forwarded",
                "for=1.2.3.4, for=\"[2001:db8:cafe::17]:4711\";proto=https",
            ),
            ("x-forwarded-for", "198.51.100.7"),
        ]);
        // An X-Forwarded-For proxy passes the client's Forwarded through.
        let xff = TrustedProxies::parse("10.0.0.0/8", ProxyHeader::XForwarded).unwrap();
        assert_eq!(xff.client(ip("10.0.0.2"), &both), ip("198.51.100.7"));
        let only_forwarded = headers(&[("forwarded", "for=1.2.3.4")]);
        assert_eq!(xff.client(ip("10.0.0.2"), &only_forwarded), ip("10.0.0.2"));

        let rfc = TrustedProxies::parse("10.0.0.0/8", ProxyHeader::Forwarded).unwrap();
        assert_eq!(rfc.client(ip("10.0.0.2"), &both), ip("2001:db8:cafe::17"));
        let only_xff = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(rfc.client(ip("10.0.0.2"), &only_xff), ip("10.0.0.2"));
        let hidden = headers(&[("forwarded", "for=_hidden;by=10.0.0.2")]);
        assert_eq!(rfc.client(ip("10.0.0.2"), &hidden), ip("10.0.0.2"));
        let mapped = headers(&[("forwarded", "for=\"[::ffff:203.0.113.5]\"")]);
        assert_eq!(rfc.client(ip("10.0.0.2"), &mapped), ip("203.0.113.5"));
    }

    #[test]
    fn lists_of_proxies_are_checked() {
        let parse = |list| TrustedProxies::parse(list, ProxyHeader::XForwarded);
        assert!(parse("").unwrap().nets.is_empty());
        assert_eq!(
            parse("10.0.0.0/8 fd00::/8,127.0.0.1").unwrap().nets.len(),
            3
        );
        assert!(parse("10.0.0.0/33").is_err());
        assert!(parse("proxy.example").is_err());
    }
}
