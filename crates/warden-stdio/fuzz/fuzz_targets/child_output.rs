//! Arbitrary bytes as a local MCP server's stdout, split into arbitrary chunks: the splitter
//! must never hold more than its cap, every line it yields must be within the cap and free
//! of `\n`, and classifying a line must not panic; an answer's id is the one it carries.

#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_stdio::frame::{ChildMessage, Line, LineSplitter, classify};

const CAP: usize = 64;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(split).max(1);
    let mut splitter = LineSplitter::new(CAP);
    for piece in rest.chunks(chunk) {
        for line in splitter.feed(piece) {
            match line {
                Line::Complete(line) => {
                    assert!(line.len() <= CAP);
                    assert!(!line.contains(&b'\n'));
                    if let ChildMessage::Answer { id, message } = classify(&line) {
                        assert_eq!(message.get("id").and_then(serde_json::Value::as_u64), Some(id));
                    }
                }
                Line::Overlong { dropped } => assert!(dropped > CAP),
            }
        }
    }
    let _ = classify(rest);
});
