//! Where a webhook may point. Only `http` and `https` URLs with a host are accepted. Unless
//! `WEBHOOK_ALLOW_PRIVATE` is on, a delivery never reaches a non-public address (loopback,
//! private ranges, link-local and cloud metadata, CGNAT, unique-local, multicast, ...): an
//! admin's URL must not become a way into the desk's own network (SSRF). The check is made
//! on the addresses the name resolves to at each delivery, inside the HTTP client's
//! resolver, so that a name that later resolves elsewhere (DNS rebinding) is caught too;
//! literal addresses are checked before the request. Redirects are never followed (a 3xx is
//! a failed attempt), so a public URL cannot bounce a delivery inward.

use std::net::{IpAddr, SocketAddr};

use crate::error::{AppError, AppResult};

/// The URL of a new or changed endpoint, checked.
pub fn parse(raw: &str, allow_private: bool) -> AppResult<url::Url> {
    let raw = raw.trim();
    if raw.len() > super::types::MAX_URL {
        return Err(AppError::InvalidPayload(format!(
            "url is longer than {} characters",
            super::types::MAX_URL
        )));
    }
    let url = url::Url::parse(raw)
        .map_err(|_| AppError::InvalidPayload("url must be an absolute http(s) URL".into()))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(AppError::InvalidPayload(
            "url must start with http:// or https://".into(),
        ));
    }
    let Some(host) = url.host() else {
        return Err(AppError::InvalidPayload("url must name a host".into()));
    };
    if !allow_private {
        let refused = match host {
            url::Host::Ipv4(ip) => !is_public(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => !is_public(IpAddr::V6(ip)),
            url::Host::Domain(d) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                d == "localhost" || d.ends_with(".localhost")
            }
        };
        if refused {
            return Err(AppError::InvalidPayload(
                "url points to a private or loopback address (WEBHOOK_ALLOW_PRIVATE=true allows it)"
                    .into(),
            ));
        }
    }
    Ok(url)
}

/// Whether a delivery may go to `url`'s literal address (a name is checked when resolved).
pub fn literal_allowed(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => is_public(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_public(IpAddr::V6(ip)),
        _ => true,
    }
}

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // CGNAT
                || (a == 192 && b == 0) // IETF protocol assignments
                || (a == 198 && (18..20).contains(&b)) // benchmarking
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
                || first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
        }
    }
}

/// The HTTP client's resolver when private addresses are refused: resolves with the
/// system, keeps only public addresses, and fails when none is left.
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(Box::new(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    "the host resolves to no public address (WEBHOOK_ALLOW_PRIVATE is off)",
                ))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_to_public_hosts_pass_unless_private_ones_are_allowed() {
        assert!(parse("https://hooks.example.com/x", false).is_ok());
        assert!(parse("ftp://example.com/", false).is_err());
        assert!(parse("javascript:alert(1)", false).is_err());
        assert!(parse("file:///etc/passwd", false).is_err());
        for private in [
            "http://127.0.0.1:8080/",
            "http://10.1.2.3/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://localhost:3000/",
            "http://100.64.0.1/",
        ] {
            assert!(parse(private, false).is_err(), "{private} accepted");
            assert!(
                parse(private, true).is_ok(),
                "{private} refused when allowed"
            );
        }
        assert!(is_public("8.8.8.8".parse().expect("ip")));
        assert!(!is_public("::ffff:127.0.0.1".parse().expect("ip")));
    }
}
