use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;

use super::super::tests::{case, Env};
use super::{is_tar_header, BLOCK};
use img_core::error::Kind;

/// A tar with a directory and a file owned by 42:43.
fn tar_bytes() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o750);
    dir.set_size(0);
    builder.append_data(&mut dir, "pkg/", &[][..]).unwrap();
    let mut file = tar::Header::new_gnu();
    file.set_mode(0o644);
    file.set_uid(42);
    file.set_gid(43);
    file.set_size(5);
    builder
        .append_data(&mut file, "pkg/hello", &b"hello"[..])
        .unwrap();
    builder.into_inner().unwrap()
}

fn compressed(kind: &str, bytes: &[u8]) -> Vec<u8> {
    match kind {
        "tar" => bytes.to_vec(),
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(bytes).unwrap();
            e.finish().unwrap()
        }
        "bzip2" => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(bytes).unwrap();
            e.finish().unwrap()
        }
        "xz" => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(bytes).unwrap();
            e.finish().unwrap()
        }
        _ => zstd::encode_all(bytes, 1).unwrap(),
    }
}

#[test]
fn add_unpacks_archives_told_by_their_bytes() {
    for kind in ["tar", "gzip", "bzip2", "xz", "zstd"] {
        let env = Env::new();
        // No archive-like name: the bytes decide.
        env.file("payload.bin", &compressed(kind, &tar_bytes()));
        let mut c = case(&["payload.bin"], "/opt");
        c.add = true;
        let report = env.run(&c).unwrap();
        let hello = env.out("opt/pkg/hello");
        assert_eq!(fs::read(&hello).unwrap(), b"hello", "{kind}");
        let meta = fs::metadata(&hello).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid()),
            (42, 43),
            "{kind}: the archive's owners"
        );
        assert_eq!(
            fs::metadata(env.out("opt/pkg")).unwrap().mode() & 0o7777,
            0o750
        );
        assert_eq!(report.extracted, 2, "{kind}");
        assert!(!env.out("opt/payload.bin").exists(), "{kind}");
        // COPY never unpacks.
        env.run(&case(&["payload.bin"], "/copied")).unwrap();
        assert_eq!(
            fs::read(env.out("copied")).unwrap(),
            compressed(kind, &tar_bytes())
        );
    }
}

#[test]
fn add_copies_what_is_not_an_archive() {
    let env = Env::new();
    let text = compressed("gzip", b"just some text, not a tar\n");
    env.file("notes.txt.gz", &text);
    env.file("plain.tar", b"not a tar at all, whatever the name says");
    let mut c = case(&["notes.txt.gz", "plain.tar"], "/d/");
    c.add = true;
    let report = env.run(&c).unwrap();
    assert_eq!(fs::read(env.out("d/notes.txt.gz")).unwrap(), text);
    assert!(env.out("d/plain.tar").is_file());
    assert_eq!((report.files, report.extracted), (2, 0));
}

#[test]
fn add_refuses_an_archive_that_escapes() {
    let env = Env::new();
    let mut header = tar::Header::new_old();
    let name = b"../../escaped";
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.set_mode(0o644);
    header.set_size(1);
    header.set_cksum();
    let mut bytes = header.as_bytes().to_vec();
    bytes.extend_from_slice(&[b'x'; 512]);
    bytes.extend_from_slice(&[0; 1024]);
    env.file("evil.tar", &bytes);
    let mut c = case(&["evil.tar"], "/in/");
    c.add = true;
    let err = env.run(&c).unwrap_err();
    assert_eq!(err.kind(), Kind::InvalidInput, "{err}");
    assert!(!env.rootfs.path().parent().unwrap().join("escaped").exists());
}

/// Serve `body` once on 127.0.0.1 with `Last-Modified`; returns the URL
/// base and the thread.
fn serve_once(body: Vec<u8>) -> (String, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let thread = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request = String::new();
        reader.read_line(&mut request).unwrap();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                break;
            }
        }
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\
             Last-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        stream.write_all(&body).unwrap();
        request
    });
    (base, thread)
}

#[test]
fn add_downloads_a_url_without_unpacking_it() {
    let env = Env::new();
    let body = compressed("gzip", &tar_bytes());
    let (base, server) = serve_once(body.clone());
    let url = format!("{base}/files/data.tar.gz?token=1");
    let mut c = case(&[url.as_str()], "/dl/");
    c.add = true;
    c.checksum = Some(img_core::digest::of_bytes(&body));
    let report = env.run(&c).unwrap();
    assert!(server
        .join()
        .unwrap()
        .starts_with("GET /files/data.tar.gz?token=1 "));
    let out = env.out("dl/data.tar.gz");
    assert_eq!(fs::read(&out).unwrap(), body);
    let meta = fs::metadata(&out).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o600);
    assert_eq!(meta.mtime(), 1_445_412_480, "Last-Modified");
    assert_eq!(
        (report.files, report.bytes, report.extracted),
        (1, body.len() as u64, 0)
    );
    assert_eq!(
        env.listing(),
        ["dl", "dl/data.tar.gz"],
        "no temporary file is left"
    );
}

#[test]
fn add_refuses_a_download_with_another_digest() {
    let env = Env::new();
    let (base, server) = serve_once(b"tampered".to_vec());
    let url = format!("{base}/f");
    let mut c = case(&[url.as_str()], "/f");
    c.add = true;
    c.checksum = Some(img_core::digest::of_bytes(b"expected"));
    let err = env.run(&c).unwrap_err();
    server.join().unwrap();
    assert_eq!(err.kind(), Kind::DigestMismatch, "{err}");
    assert!(env.listing().is_empty(), "nothing is left behind");
}

#[test]
fn urls_count_by_their_text_and_only_add_takes_them() {
    let env = Env::new();
    // Nothing listens there: a checksum must not connect.
    let mut c = case(&["http://127.0.0.1:9/a.tgz"], "/");
    c.add = true;
    let one = env.sum(&c);
    c.sources = vec!["http://127.0.0.1:9/b.tgz".into()];
    assert_ne!(env.sum(&c), one);
    c.add = false;
    let err = env.run(&c).unwrap_err();
    assert!(
        err.to_string().contains("source can't be a URL for COPY"),
        "{err}"
    );
}

#[test]
fn tar_headers_are_told_by_their_checksum() {
    let mut header = tar::Header::new_ustar();
    header.set_path("a.txt").unwrap();
    header.set_size(0);
    header.set_cksum();
    assert!(is_tar_header(header.as_bytes()));
    let mut broken = header.as_bytes().to_vec();
    broken[0] = b'b';
    assert!(!is_tar_header(&broken));
    assert!(!is_tar_header(&[0u8; BLOCK]));
    assert!(!is_tar_header(&[b'x'; BLOCK]));
}
