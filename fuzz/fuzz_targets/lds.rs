//! Every LDS file parser. The first byte picks the file. Whatever parses rebuilds to bytes that
//! parse and rebuild unchanged; DG1, DG2 and DG7 have one encoding only, so they rebuild to the input.
#![no_main]

use ecard_chip::lds::{Com, Dg1, Dg2, Dg7, Dg11, Dg12, Dg14, Dg15, EfId, LdsError};
use libfuzzer_sys::fuzz_target;

fn rebuild(ef: EfId, b: &[u8]) -> Result<Vec<u8>, LdsError> {
    Ok(match ef {
        EfId::Com => Com::parse(b)?.build(),
        EfId::Dg1 => Dg1::parse(b)?.build(),
        EfId::Dg2 => Dg2::parse(b)?.build(),
        EfId::Dg7 => Dg7::parse(b)?.build(),
        EfId::Dg11 => Dg11::parse(b)?.build(),
        EfId::Dg12 => Dg12::parse(b)?.build(),
        EfId::Dg14 => Dg14::parse(b)?.build(),
        _ => Dg15::parse(b)?.build(),
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((pick, bytes)) = data.split_first() else {
        return;
    };
    let ef = EfId::ALL[usize::from(*pick) % 8];
    if let Ok(once) = rebuild(ef, bytes) {
        let twice = rebuild(ef, &once).expect("our own build parses");
        assert_eq!(twice, once);
        if matches!(ef, EfId::Dg1 | EfId::Dg2 | EfId::Dg7) {
            assert_eq!(once, bytes);
        }
    }
});
