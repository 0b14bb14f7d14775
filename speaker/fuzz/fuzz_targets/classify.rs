//! Fuzz the speaker's frame classifier: `classify` must never panic on any bytes, and when it
//! recognises a query, building the reply (and decoding that reply back) must not panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ferrolb_speaker::packets;

const OUR_MAC: packets::Mac = [0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc];

fuzz_target!(|frame: &[u8]| {
    let _ = packets::decode_arp(frame);
    let _ = packets::decode_neighbor_advertisement(frame);
    if let Some(query) = packets::classify(frame) {
        let reply = query.reply(OUR_MAC);
        match query {
            packets::Query::ArpRequest(_) => {
                assert!(packets::decode_arp(&reply).is_some(), "our ARP reply must decode");
            }
            packets::Query::NeighborSolicitation(_) => {
                let na = packets::decode_neighbor_advertisement(&reply);
                assert!(na.is_some(), "our neighbor advertisement must decode");
            }
        }
        // Our own replies are never queries: answering them would loop.
        assert!(packets::classify(&reply).is_none(), "reply classified as a query");
    }
});
