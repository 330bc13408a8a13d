//! Everything a Shared Signals receiver or a webhook caller can send, on arbitrary bytes:
//! stream bodies (as a create and as a patch of a stream), subject changes, verification
//! and status requests, RFC 8936 poll requests, webhook URLs, event lists and signature
//! headers. None may panic, and whatever parses must stay within the documented bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_signals::ssf::{self, Delivery, StreamSettings};
use warden_signals::webhook;

fuzz_target!(|data: &[u8]| {
    let current = StreamSettings {
        delivery: Delivery::Poll,
        events_requested: vec!["e".into()],
        description: None,
    };
    for existing in [None, Some(&current)] {
        if let Ok((_, Some(checked))) = ssf::parse_stream(data, existing) {
            assert!(checked.settings.events_requested.len() <= ssf::MAX_EVENTS_REQUESTED);
        }
    }
    let _ = ssf::parse_subject_request(data);
    let _ = ssf::parse_verification(data);
    let _ = ssf::parse_status(data);
    if let Ok(poll) = ssf::parse_poll(data) {
        assert!(poll.limit() <= ssf::MAX_POLL_EVENTS);
        assert!(poll.ack.len() <= ssf::MAX_ACKS);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = webhook::check_url(text);
        let _ = webhook::parse_events([text]);
        let _ = webhook::verify(b"key", text, data, 0, 300);
    }
});
