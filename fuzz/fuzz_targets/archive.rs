//! `img-load` of any bytes: an archive loads, or it is refused as bad input
//! (or a missing part); either way the store is consistent afterwards, with
//! no temporary file left, and a refused archive leaves it empty.

#![no_main]

use img_archive::load;
use img_core::error::Kind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let (_dir, store) = img_fuzz::store();
    match load(&store, bytes) {
        Ok(_) => {}
        Err(e) => {
            assert!(
                matches!(
                    e.kind(),
                    Kind::InvalidInput | Kind::DigestMismatch | Kind::NotFound
                ),
                "{e} ({:?})",
                e.kind()
            );
            assert!(
                store.index().expect("the index").entries().is_empty(),
                "a refused archive named an image"
            );
        }
    }
    img_fuzz::assert_consistent(&store);
});
