//! EF.SOD: whatever parses has an eContent that is exactly the DER of the LDSSecurityObject we
//! decoded from it, and one SignerInfo.
#![no_main]

use der::Encode;
use ecard_chip::lds::Sod;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(sod) = Sod::parse(data) {
        assert_eq!(
            sod.lds_security_object.to_der().expect("re-encodes"),
            sod.econtent
        );
        assert_eq!(sod.signed_data.signer_infos.0.len(), 1);
        for h in &sod.lds_security_object.data_group_hash_values {
            assert!(sod.hash_for(h.data_group_number).is_some());
        }
    }
});
