//! `record::read_all` on any bytes (what a program reading images finds on
//! stdin): bad input (exit 2) or records, never a panic or another kind of
//! error; and the records it read are written and read back unchanged.

#![no_main]

use img::error::Kind;
use img::record;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    match record::read_all(bytes) {
        Ok(records) => {
            let mut out = Vec::new();
            for r in &records {
                record::write(&mut out, r).expect("writing a record");
            }
            let again = record::read_all(&out[..]).expect("records img wrote read back");
            assert_eq!(again, records);
        }
        Err(e) => assert_eq!(e.kind(), Kind::InvalidInput, "{e}"),
    }
});
