//! Applying any bytes as a layer (plain, gzip or zstd), as `img-layer
//! apply` and the snapshots do (the first byte picks the overlay form):
//! an error or a tree, never a panic, and never a change outside the
//! destination — a victim directory beside it, and the directory above it,
//! stay exactly as they were. Listing the layer (`img-layer ls --files`)
//! never panics either.

#![no_main]

use img_layers::{compression, extract, list};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&mode, bytes)) = input.split_first() else {
        return;
    };
    let _ = list::list_files(bytes, &mut std::io::sink());
    let dir = img_fuzz::scratch();
    let victim = dir.path().join("victim");
    std::fs::create_dir_all(victim.join("sub")).expect("the victim");
    std::fs::write(victim.join("file"), b"keep").expect("the victim");
    std::fs::write(victim.join("sub/file"), b"keep").expect("the victim");
    let root = dir.path().join("root");
    std::fs::create_dir(&root).expect("the root");
    let outside = |all: std::collections::BTreeMap<std::path::PathBuf, String>| {
        all.into_iter()
            .filter(|(p, _)| !p.starts_with(&root))
            .collect::<Vec<_>>()
    };
    let before = outside(img_fuzz::tree(dir.path()));
    let options = extract::Options {
        preserve_owners: false,
        overlay: mode & 1 == 1,
    };
    if let Ok((_, tar)) = compression::decompress(bytes) {
        let _ = extract::apply(tar, &root, &options);
    }
    let after = outside(img_fuzz::tree(dir.path()));
    assert_eq!(
        after, before,
        "the layer changed something outside its root"
    );
});
