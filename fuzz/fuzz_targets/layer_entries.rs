//! Layers built entry by entry from the fuzzer's choices — names made of
//! `.`, `..`, `/`, whiteout prefixes and a few plain names, every entry
//! type, links to such names — applied as `img-layer apply` and the
//! snapshots do: whatever the layer, nothing outside the destination
//! changes (a victim directory beside it, and the directory above it,
//! stay exactly as they were). Raw bytes rarely make a tar whose header
//! checksums hold; this target always does.

#![no_main]

use arbitrary::Arbitrary;
use img_layers::extract;
use libfuzzer_sys::fuzz_target;

/// One part of a path.
#[derive(Arbitrary, Debug)]
enum Part {
    Dot,
    DotDot,
    Empty,
    Name(u8),
    Whiteout(u8),
    WhiteoutDot,
    WhiteoutDotDot,
    Opaque,
    Victim,
}

impl Part {
    fn text(&self) -> String {
        match self {
            Part::Dot => ".".into(),
            Part::DotDot => "..".into(),
            Part::Empty => String::new(),
            Part::Name(n) => ["a", "b", "etc", "bin", "x y"][*n as usize % 5].into(),
            Part::Whiteout(n) => format!(".wh.{}", ["a", "b", "etc"][*n as usize % 3]),
            Part::WhiteoutDot => ".wh..".into(),
            Part::WhiteoutDotDot => ".wh...".into(),
            Part::Opaque => ".wh..wh..opq".into(),
            Part::Victim => "victim".into(),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Path {
    absolute: bool,
    parts: Vec<Part>,
}

impl Path {
    fn text(&self) -> String {
        let joined = self
            .parts
            .iter()
            .map(Part::text)
            .collect::<Vec<_>>()
            .join("/");
        if self.absolute {
            format!("/{joined}")
        } else {
            joined
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(Path),
    HardLink(Path),
    Fifo,
    CharDevice,
}

#[derive(Arbitrary, Debug)]
struct Entry {
    path: Path,
    kind: Kind,
    mode: u16,
}

#[derive(Arbitrary, Debug)]
struct Layer {
    overlay: bool,
    entries: Vec<Entry>,
}

/// A ustar header for `name` (and `link`), written byte by byte: the tar
/// crate's own setters refuse the very names this target is after.
fn header(
    name: &str,
    link: &str,
    kind: tar::EntryType,
    mode: u16,
    size: u64,
) -> Option<tar::Header> {
    let mut h = tar::Header::new_ustar();
    let (name, link) = (name.as_bytes(), link.as_bytes());
    if name.len() > 100 || link.len() > 100 {
        return None;
    }
    let old = h.as_old_mut();
    old.name[..name.len()].copy_from_slice(name);
    old.linkname[..link.len()].copy_from_slice(link);
    h.set_entry_type(kind);
    h.set_mode(u32::from(mode) & 0o7777);
    h.set_size(size);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    Some(h)
}

fn tar_of(layer: &Layer) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in &layer.entries {
        let name = entry.path.text();
        let (kind, link, data): (_, String, &[u8]) = match &entry.kind {
            Kind::File(data) => (tar::EntryType::Regular, String::new(), data),
            Kind::Dir => (tar::EntryType::Directory, String::new(), &[]),
            Kind::Symlink(to) => (tar::EntryType::Symlink, to.text(), &[]),
            Kind::HardLink(to) => (tar::EntryType::Link, to.text(), &[]),
            Kind::Fifo => (tar::EntryType::Fifo, String::new(), &[]),
            Kind::CharDevice => (tar::EntryType::Char, String::new(), &[]),
        };
        let Some(h) = header(&name, &link, kind, entry.mode, data.len() as u64) else {
            continue;
        };
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fuzz_target!(|layer: Layer| {
    let tar = tar_of(&layer);
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
        overlay: layer.overlay,
    };
    let applied = extract::apply(&tar[..], &root, &options);
    let after = outside(img_fuzz::tree(dir.path()));
    assert_eq!(
        after, before,
        "the layer changed something outside its root ({applied:?}): {layer:?}"
    );
});
