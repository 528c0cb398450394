//! Raw tar writing for hostile layers: names, link targets, sizes and types
//! go into the bytes exactly as given (a `..`, a NUL, a size that lies), in
//! a ustar header, or in PAX or GNU long-name records when asked or when
//! they do not fit.

const BLOCK: usize = 512;

/// One entry of a hostile tar.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The entry's name, as bytes.
    pub name: Vec<u8>,
    /// The type flag (`b'0'` file, `b'5'` directory, `b'2'` symlink, …).
    pub kind: u8,
    /// The link target (symlinks and hard links).
    pub link: Vec<u8>,
    /// The content written after the header.
    pub data: Vec<u8>,
    /// The size the header declares (`None`: the content's length).
    pub size: Option<u64>,
    /// Permission bits.
    pub mode: u32,
    /// Device numbers (character and block devices).
    pub device: (u32, u32),
    /// How the name and link travel when they do not fit (or always).
    pub long: Long,
    /// A raw size field (12 bytes) instead of the octal size: base-256
    /// numbers, negative ones included.
    pub raw_size: Option<[u8; 12]>,
}

/// How long names and link targets are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Long {
    /// PAX records, only when they do not fit.
    Auto,
    /// Always PAX `path`/`linkpath` records, the header holding `stand-in`.
    Pax,
    /// Always GNU `L`/`K` entries, the header holding `stand-in`.
    Gnu,
}

impl Entry {
    fn new(name: &[u8], kind: u8) -> Entry {
        Entry {
            name: name.to_vec(),
            kind,
            link: Vec::new(),
            data: Vec::new(),
            size: None,
            mode: if kind == b'5' { 0o755 } else { 0o644 },
            device: (0, 0),
            long: Long::Auto,
            raw_size: None,
        }
    }

    /// A regular file holding `data`.
    pub fn file(name: impl AsRef<[u8]>, data: &[u8]) -> Entry {
        Entry {
            data: data.to_vec(),
            ..Entry::new(name.as_ref(), b'0')
        }
    }

    /// A directory.
    pub fn dir(name: impl AsRef<[u8]>) -> Entry {
        Entry::new(name.as_ref(), b'5')
    }

    /// A symbolic link to `target`.
    pub fn symlink(name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Entry {
        Entry {
            link: target.as_ref().to_vec(),
            mode: 0o777,
            ..Entry::new(name.as_ref(), b'2')
        }
    }

    /// A hard link to `target`.
    pub fn hard(name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Entry {
        Entry {
            link: target.as_ref().to_vec(),
            ..Entry::new(name.as_ref(), b'1')
        }
    }

    /// A node of type `kind` (`b'3'` char, `b'4'` block, `b'6'` FIFO).
    pub fn node(name: impl AsRef<[u8]>, kind: u8, device: (u32, u32)) -> Entry {
        Entry {
            device,
            ..Entry::new(name.as_ref(), kind)
        }
    }

    /// With the type flag `kind`.
    pub fn typed(mut self, kind: u8) -> Entry {
        self.kind = kind;
        self
    }

    /// With the mode `mode`.
    pub fn mode(mut self, mode: u32) -> Entry {
        self.mode = mode;
        self
    }

    /// Declaring `size` bytes whatever its content.
    pub fn declared(mut self, size: u64) -> Entry {
        self.size = Some(size);
        self
    }

    /// With a raw 12-byte size field.
    pub fn raw_size(mut self, field: [u8; 12]) -> Entry {
        self.raw_size = Some(field);
        self
    }

    /// Names and link target written as `long` says.
    pub fn long(mut self, long: Long) -> Entry {
        self.long = long;
        self
    }
}

fn octal(field: &mut [u8], value: u64) {
    let text = format!("{value:0width$o}\0", width = field.len() - 1);
    if text.len() == field.len() {
        field.copy_from_slice(text.as_bytes());
    } else {
        // Too large for octal digits: GNU's base-256, the top bit set.
        field.fill(0);
        let bytes = value.to_be_bytes();
        let at = field.len() - bytes.len();
        field[at..].copy_from_slice(&bytes);
        field[0] |= 0x80;
    }
}

fn header(name: &[u8], kind: u8, link: &[u8], size: u64, entry: &Entry) -> [u8; BLOCK] {
    let mut block = [0u8; BLOCK];
    block[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    octal(&mut block[100..108], u64::from(entry.mode));
    octal(&mut block[108..116], 0);
    octal(&mut block[116..124], 0);
    match entry.raw_size.filter(|_| kind == entry.kind) {
        Some(field) => block[124..136].copy_from_slice(&field),
        None => octal(&mut block[124..136], size),
    }
    octal(&mut block[136..148], 1_700_000_000);
    block[156] = kind;
    block[157..157 + link.len().min(100)].copy_from_slice(&link[..link.len().min(100)]);
    block[257..263].copy_from_slice(b"ustar\0");
    block[263..265].copy_from_slice(b"00");
    octal(&mut block[329..337], u64::from(entry.device.0));
    octal(&mut block[337..345], u64::from(entry.device.1));
    block[148..156].fill(b' ');
    let sum: u64 = block.iter().map(|b| u64::from(*b)).sum();
    octal(&mut block[148..155], sum);
    block[155] = b' ';
    block
}

fn padded(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body_len = key.len() + value.len() + 3; // space, '=', newline
    let mut len = body_len + 1;
    while len.to_string().len() + body_len != len {
        len += 1;
    }
    let mut record = format!("{len} {key}=").into_bytes();
    record.extend_from_slice(value);
    record.push(b'\n');
    record
}

/// The bytes of a tar of `entries`, end blocks included.
pub fn build(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        let too_long = entry.name.len() > 100 || entry.link.len() > 100;
        let (mut name, mut link) = (entry.name.clone(), entry.link.clone());
        match entry.long {
            Long::Gnu => {
                for (kind, value) in [(b'L', &entry.name), (b'K', &entry.link)] {
                    if value.is_empty() {
                        continue;
                    }
                    let mut data = value.clone();
                    data.push(0);
                    let h = header(b"././@LongLink", kind, b"", data.len() as u64, entry);
                    out.extend_from_slice(&h);
                    padded(&mut out, &data);
                }
                name = b"stand-in".to_vec();
                link = if entry.link.is_empty() {
                    Vec::new()
                } else {
                    b"stand-in".to_vec()
                };
            }
            Long::Pax | Long::Auto if entry.long == Long::Pax || too_long => {
                let mut records = pax_record("path", &entry.name);
                if !entry.link.is_empty() {
                    records.extend(pax_record("linkpath", &entry.link));
                }
                let h = header(b"PaxHeaders/x", b'x', b"", records.len() as u64, entry);
                out.extend_from_slice(&h);
                padded(&mut out, &records);
                name = b"stand-in".to_vec();
                link = if entry.link.is_empty() {
                    Vec::new()
                } else {
                    b"stand-in".to_vec()
                };
            }
            _ => {}
        }
        let size = entry.size.unwrap_or(entry.data.len() as u64);
        out.extend_from_slice(&header(&name, entry.kind, &link, size, entry));
        padded(&mut out, &entry.data);
    }
    out.extend_from_slice(&[0u8; 2 * BLOCK]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_and_links_read_back_through_pax_and_gnu_records() {
        let long = "d/".repeat(80) + "f";
        for mode in [Long::Auto, Long::Pax, Long::Gnu] {
            let bytes = build(&[
                Entry::file(&long, b"hi").long(mode),
                Entry::symlink("l", &long).long(mode),
            ]);
            let mut archive = tar::Archive::new(&bytes[..]);
            let got: Vec<(Vec<u8>, Option<Vec<u8>>)> = archive
                .entries()
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    (
                        e.path_bytes().into_owned(),
                        e.link_name_bytes().map(|l| l.into_owned()),
                    )
                })
                .collect();
            assert_eq!(got[0].0, long.as_bytes(), "{mode:?}");
            assert_eq!(got[1].1.as_deref(), Some(long.as_bytes()), "{mode:?}");
        }
    }
}
