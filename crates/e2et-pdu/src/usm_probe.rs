//! Diagnosis of a failed SNMPv3 exchange. The agent's reason for refusing a
//! request travels in an unauthenticated Report PDU whose varbind names a USM
//! counter; the client library folds those into one error. This probe sends
//! its own noAuthNoPriv, reportable GET for the user (RFC 3412/3414 framing,
//! hand-encoded BER) and reads which counter the agent reports:
//! usmStatsUnknownUserNames means the user does not exist; usmStatsUnsupported-
//! SecLevels means it exists (so a failure with its credentials is a digest or
//! decryption problem).
use std::time::Duration;
use tokio::net::UdpSocket;

pub const UNSUPPORTED_SEC_LEVELS: &str = "1.3.6.1.6.3.15.1.1.1.0";
pub const NOT_IN_TIME_WINDOWS: &str = "1.3.6.1.6.3.15.1.1.2.0";
pub const UNKNOWN_USER_NAMES: &str = "1.3.6.1.6.3.15.1.1.3.0";
pub const UNKNOWN_ENGINE_IDS: &str = "1.3.6.1.6.3.15.1.1.4.0";
pub const WRONG_DIGESTS: &str = "1.3.6.1.6.3.15.1.1.5.0";
pub const DECRYPTION_ERRORS: &str = "1.3.6.1.6.3.15.1.1.6.0";
/// Not an OID: the agent answered with a response PDU, not a report.
pub const ANSWERED: &str = "response";

pub fn counter_name(oid: &str) -> &'static str {
    match oid {
        UNSUPPORTED_SEC_LEVELS => "usmStatsUnsupportedSecLevels",
        NOT_IN_TIME_WINDOWS => "usmStatsNotInTimeWindows",
        UNKNOWN_USER_NAMES => "usmStatsUnknownUserNames",
        UNKNOWN_ENGINE_IDS => "usmStatsUnknownEngineIDs",
        WRONG_DIGESTS => "usmStatsWrongDigests",
        DECRYPTION_ERRORS => "usmStatsDecryptionErrors",
        _ => "an unknown report",
    }
}

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = body.len();
    if n < 0x80 {
        v.push(n as u8);
    } else if n < 0x100 {
        v.extend([0x81, n as u8]);
    } else {
        v.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    v.extend_from_slice(body);
    v
}

fn int(n: i64) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let mut i = 0;
    while i < 7
        && ((bytes[i] == 0 && bytes[i + 1] & 0x80 == 0)
            || (bytes[i] == 0xff && bytes[i + 1] & 0x80 != 0))
    {
        i += 1;
    }
    tlv(0x02, &bytes[i..])
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// A noAuthNoPriv, reportable SNMPv3 GET with no varbinds.
pub fn request(msg_id: i64, engine_id: &[u8], user: &[u8]) -> Vec<u8> {
    let usm = seq(&[
        tlv(0x04, engine_id),
        int(0),
        int(0),
        tlv(0x04, user),
        tlv(0x04, b""),
        tlv(0x04, b""),
    ]);
    let pdu = tlv(0xa0, &[int(msg_id), int(0), int(0), seq(&[])].concat());
    seq(&[
        int(3),
        seq(&[int(msg_id), int(65507), tlv(0x04, &[0x04]), int(3)]),
        tlv(0x04, &usm),
        seq(&[tlv(0x04, engine_id), tlv(0x04, b""), pdu]),
    ])
}

/// Reads one TLV: (tag, body, rest).
fn read(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let l0 = *b.get(1)? as usize;
    let (len, hdr) = if l0 < 0x80 {
        (l0, 2)
    } else {
        let k = l0 & 0x7f;
        if k == 0 || k > 3 {
            return None;
        }
        let mut n = 0usize;
        for i in 0..k {
            n = (n << 8) | *b.get(2 + i)? as usize;
        }
        (n, 2 + k)
    };
    let body = b.get(hdr..hdr + len)?;
    Some((tag, body, &b[hdr + len..]))
}

fn oid_string(b: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    if let Some(&first) = b.first() {
        parts.push(u64::from(first / 40));
        parts.push(u64::from(first % 40));
    }
    let mut acc = 0u64;
    for &x in b.iter().skip(1) {
        acc = (acc << 7) | u64::from(x & 0x7f);
        if x & 0x80 == 0 {
            parts.push(acc);
            acc = 0;
        }
    }
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// (authoritative engine id, first report varbind OID or [`ANSWERED`]) of a reply.
pub fn parse_report(msg: &[u8]) -> Option<(Vec<u8>, Option<String>)> {
    let (_, top, _) = read(msg)?;
    let (_, _version, rest) = read(top)?;
    let (_, _global, rest) = read(rest)?;
    let (_, sec, rest) = read(rest)?;
    let (_, usm, _) = read(sec)?;
    let (_, engine, _) = read(usm)?;
    let (tag, scoped, _) = read(rest)?;
    if tag != 0x30 {
        return Some((engine.to_vec(), Some(ANSWERED.into()))); // encrypted answer
    }
    let (_, _ctx_engine, r) = read(scoped)?;
    let (_, _ctx_name, r) = read(r)?;
    let (pdu_tag, pdu, _) = read(r)?;
    if pdu_tag != 0xa8 {
        // A response (even a refusal): the request got past USM.
        return Some((engine.to_vec(), Some(ANSWERED.into())));
    }
    let (_, _reqid, r) = read(pdu)?;
    let (_, _es, r) = read(r)?;
    let (_, _ei, r) = read(r)?;
    let (_, vbs, _) = read(r)?;
    let oid = read(vbs)
        .and_then(|(_, vb, _)| read(vb))
        .map(|(_, o, _)| oid_string(o));
    Some((engine.to_vec(), oid))
}

async fn exchange(
    sock: &UdpSocket,
    msg: &[u8],
    timeout: Duration,
) -> std::io::Result<Option<Vec<u8>>> {
    sock.send(msg).await?;
    let mut b = vec![0u8; 65535];
    match tokio::time::timeout(timeout, sock.recv(&mut b)).await {
        Ok(Ok(n)) => {
            b.truncate(n);
            Ok(Some(b))
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Ok(None),
    }
}

/// Asks the agent at `addr` which USM counter it reports for `user` with no
/// authentication. `Ok(None)`: the agent did not say.
pub async fn probe_user(
    addr: &str,
    user: &str,
    timeout: Duration,
) -> std::io::Result<Option<String>> {
    let sock = UdpSocket::bind("0.0.0.0:0").await?;
    sock.connect(addr).await?;
    let Some(first) = exchange(&sock, &request(0x4e32, b"", b""), timeout).await? else {
        return Ok(None);
    };
    let Some((engine, _)) = parse_report(&first) else {
        return Ok(None);
    };
    let Some(second) = exchange(&sock, &request(0x4e33, &engine, user.as_bytes()), timeout).await?
    else {
        return Ok(None);
    };
    Ok(parse_report(&second).and_then(|(_, o)| o))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ber_round_trip_of_our_own_request() {
        let m = request(7, &[0x80, 0, 0x1f, 0x88], b"ops");
        let (_, top, rest) = read(&m).unwrap();
        assert!(rest.is_empty());
        let (t, v, _) = read(top).unwrap();
        assert_eq!((t, v), (0x02, &[3u8][..]));
        assert_eq!(int(128), vec![0x02, 0x02, 0x00, 0x80]);
        assert_eq!(int(-1), vec![0x02, 0x01, 0xff]);
        assert_eq!(int(65507), vec![0x02, 0x03, 0x00, 0xff, 0xe3]);
        assert_eq!(
            oid_string(&[0x2b, 6, 1, 6, 3, 15, 1, 1, 3, 0]),
            UNKNOWN_USER_NAMES
        );
    }
}
