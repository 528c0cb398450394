//! What a program reading images finds on stdin (`cli::read_images`) on any
//! bytes: bad input (exit 2) or images, never a panic or another kind of
//! error; and the records it read are written and read back unchanged.

#![no_main]

use img_cli::read_images;
use img_store::ImageArg;
use img_core::error::Kind;
use img_core::record;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    match read_images(bytes) {
        Ok(images) => {
            let records: Vec<_> = images
                .iter()
                .filter_map(|i| match i {
                    ImageArg::Record(r) => Some((**r).clone()),
                    ImageArg::Query(_) => None,
                })
                .collect();
            let mut out = Vec::new();
            for r in &records {
                record::write(&mut out, r).expect("writing a record");
            }
            let again: Vec<_> = read_images(&out[..])
                .expect("records img wrote read back")
                .into_iter()
                .map(|i| match i {
                    ImageArg::Record(r) => *r,
                    ImageArg::Query(q) => panic!("a record read back as a name: {q}"),
                })
                .collect();
            assert_eq!(again, records);
        }
        Err(e) => assert_eq!(e.kind(), Kind::InvalidInput, "{e}"),
    }
});
