//! The vpcd byte stream, split anywhere: every byte is either in a decoded frame, a frame header,
//! or still pending; nothing is invented or lost.
#![no_main]

use ecard_transport::vpcd::FrameDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((split, stream)) = data.split_first() else {
        return;
    };
    let cut = usize::from(*split).min(stream.len());
    let mut d = FrameDecoder::new();
    let mut consumed = 0;
    for part in [&stream[..cut], &stream[cut..]] {
        d.push(part);
        while let Some(frame) = d.next_frame() {
            consumed += 2 + frame.len();
        }
    }
    assert_eq!(consumed + d.pending(), stream.len());
});
