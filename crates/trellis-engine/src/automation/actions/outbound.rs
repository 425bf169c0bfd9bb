//! Where actions may connect. A webhook URL, an SMS provider's URL or an SMTP host is written by
//! a tenant, so by default it may reach only public addresses: not this machine (loopback), the
//! private and
//! shared networks of the deployment, link-local addresses (cloud metadata services live at
//! 169.254.169.254) or reserved ranges. A node started with `--allow-private-outbound` lifts
//! that (a single-tenant install calling its own intranet; the test suite's loopback peers).
//!
//! Names are checked twice: once before the request, so that a blocked target is a fatal error
//! naming it (retrying cannot help), and again in the client's resolver, which connects only
//! to the public addresses it resolved (a name that answers differently the second time, DNS
//! rebinding, reaches no private address either).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::automation::ActionError;

/// Whether an address is one the Internet routes to somebody else: not loopback, private,
/// shared (CGNAT), link-local, unspecified, broadcast, multicast, documentation, benchmarking
/// or reserved. IPv4 inside IPv6 (mapped, NAT64) is judged as the IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                   // "this network"
        || a == 10                             // private
        || a == 127                            // loopback
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254)              // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0)      // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)      // documentation
        || (a == 192 && b == 168)              // private
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100)   // documentation
        || (a == 203 && b == 0 && c == 113)    // documentation
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || (s[0] & 0xfe00) == 0xfc00             // unique local
        || (s[0] & 0xffc0) == 0xfe80             // link-local
        || (s[0] & 0xff00) == 0xff00             // multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8)    // documentation
        || s[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated), ::/96
}

/// Refuses a URL whose host is, or resolves only to, addresses that are not public (unless
/// private targets are allowed). `what` names the target in the message.
pub(crate) async fn check_target(url: &Url, allow_private: bool, what: &str) -> Result<(), ActionError> {
    if allow_private {
        return Ok(());
    }
    let Some(host) = url.host_str() else {
        return Err(ActionError::fatal(format!("{what} URL has no host")));
    };
    public_address(host, what).await.map(|_| ())
}

/// The address to connect to for a host a tenant named (a mail server): with private targets
/// allowed, the host itself; otherwise one of its public addresses, refusing a host that is, or
/// resolves only to, other addresses. The connection goes to the address checked here, so a
/// name that resolves differently a second time (DNS rebinding) reaches no private address.
pub(crate) async fn connect_address(host: &str, allow_private: bool, what: &str) -> Result<String, ActionError> {
    let host = host.trim();
    if allow_private {
        return Ok(host.trim_start_matches('[').trim_end_matches(']').to_string());
    }
    Ok(public_address(host, what).await?.to_string())
}

/// A public address of `host` (an IP literal, IPv6 in brackets or not, or a name).
async fn public_address(host: &str, what: &str) -> Result<IpAddr, ActionError> {
    let blocked = |detail: String| {
        ActionError::fatal(format!(
            "{what} {detail}: only public addresses may be called (a node started with --allow-private-outbound may call others)"
        ))
    };
    if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return if is_public(ip) {
            Ok(ip)
        } else {
            Err(blocked(format!("address {ip} is not public")))
        };
    }
    let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host, 0)).await {
        Ok(a) => a.collect(),
        Err(e) => {
            tracing::warn!(target: "trellis::outbound", error = %e, host, "{what} host does not resolve");
            return Err(ActionError::retry(format!("{what} host '{host}' does not resolve")));
        }
    };
    match addrs.iter().map(SocketAddr::ip).find(|ip| is_public(*ip)) {
        Some(ip) => Ok(ip),
        None => Err(blocked(format!("host '{host}' has no public address"))),
    }
}

/// The resolver of the client that may reach only public addresses: the system's answers
/// without the others.
pub(crate) struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("'{host}' has no public address").into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(s: &str) -> bool {
        is_public(s.parse().unwrap())
    }

    #[test]
    fn local_private_and_reserved_addresses_are_not_public() {
        for ip in [
            "0.0.0.0",
            "10.1.2.3",
            "127.0.0.1",
            "127.255.0.9",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
        ] {
            assert!(!public(ip), "{ip} is not public");
        }
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.169.0.1",
            "198.20.0.1",
            "223.255.255.255",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
        ] {
            assert!(public(ip), "{ip} is public");
        }
    }

    #[tokio::test]
    async fn targets_on_this_machine_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:9/hook",
            "http://[::1]/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://localhost:8080/hook",
        ] {
            let u = Url::parse(url).unwrap();
            let e = check_target(&u, false, "webhook").await.expect_err(url);
            assert!(!e.retry, "{url}: a blocked target is not worth retrying");
            assert!(e.message.contains("only public addresses"), "{}", e.message);
            check_target(&u, true, "webhook").await.expect("allowed");
        }
        check_target(&Url::parse("https://93.184.215.14/hook").unwrap(), false, "webhook")
            .await
            .expect("a public address");
    }

    #[tokio::test]
    async fn the_public_client_connects_to_no_private_address() {
        let client = super::super::http_client(false).unwrap();
        let e = client.get("http://localhost:9/").send().await.expect_err("refused");
        let chain = super::super::error_chain(&e);
        assert!(chain.contains("'localhost' has no public address"), "{chain}");
    }
}
