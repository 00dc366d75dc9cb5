//! `std::net::IpAddr` for `inet` columns holding host addresses (no netmask).

use crate::codec::{shown, DecodeError, TextForm};
use std::io::Write as _;
use std::net::IpAddr;

impl TextForm for IpAddr {
    const MAY_NEED_ESCAPE: bool = false;

    fn write_text(&self, out: &mut Vec<u8>) {
        write!(out, "{self}").expect("writing to a Vec cannot fail");
    }

    /// An address alone, or with the full-length prefix (`/32`, `/128`) that stands for no
    /// netmask; a network (`10.0.0.0/8`) is an error, not its address alone.
    fn parse_text(text: &str) -> Result<Self, DecodeError> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| DecodeError::new(format!("invalid inet {}", shown(text))))?;
        let full = if ip.is_ipv4() { "32" } else { "128" };
        match prefix {
            None => Ok(ip),
            Some(p) if p == full => Ok(ip),
            Some(_) => Err(DecodeError::new(format!(
                "inet {} has a netmask, which std::net::IpAddr cannot hold (use replgen's Inet for this column)",
                shown(text)
            ))),
        }
    }
}
