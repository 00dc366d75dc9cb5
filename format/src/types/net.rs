//! `inet` and `cidr` as their text forms (`192.168.0.1/24`, `::1`, `10.0.0.0/8`).

use std::net::IpAddr;

fn check_address(text: &str, cidr: bool) -> Result<(), String> {
    let t = super::trim_pg_space(text);
    let (addr, prefix) = match t.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (t, None),
    };
    let v4 = match addr.parse::<IpAddr>() {
        Ok(ip) => ip.is_ipv4(),
        // cidr input may abbreviate IPv4 networks: `10/8`, `192.168/16`.
        Err(_) if cidr && is_short_ipv4(addr) => true,
        Err(_) => return Err("not an IPv4 or IPv6 address".into()),
    };
    let max = if v4 { 32 } else { 128 };
    if let Some(p) = prefix {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err("the prefix length is not a number".into());
        }
        let n: u32 = p
            .parse()
            .map_err(|_| "the prefix length is not a number".to_owned())?;
        if n > max {
            return Err(format!("the prefix length is over {max}"));
        }
    }
    Ok(())
}

fn is_short_ipv4(addr: &str) -> bool {
    let parts: Vec<&str> = addr.split('.').collect();
    parts.len() <= 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.parse::<u8>().is_ok())
}

super::text_newtype!(
    /// An `inet` value's text form: an address with an optional prefix length.
    Inet,
    "inet",
    |t| check_address(t, false)
);

super::text_newtype!(
    /// A `cidr` value's text form: a network, `address/prefix`.
    Cidr,
    "cidr",
    |t| check_address(t, true)
);
