//! Garbage collection, tested on stores made blob by blob: what no name
//! reaches goes, everything a name reaches stays, and nothing a running
//! writer or pull may still need is touched.

use std::fs;
use std::time::{Duration, SystemTime};

use oci_spec::image::{Descriptor, MediaType};

use super::*;
use img_core::reference::Reference;

/// The layers containers use, when there are none.
fn no_containers() -> Result<HashSet<Digest>> {
    Ok(HashSet::new())
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    (dir, store)
}

fn blob(store: &Store, media_type: MediaType, bytes: &[u8]) -> Descriptor {
    let (digest, size) = store.write_blob(bytes).unwrap();
    Descriptor::new(media_type, size, digest)
}

/// An image of one layer: its manifest's descriptor, and its blobs' digests.
fn image(store: &Store, seed: &str) -> (Descriptor, Vec<Digest>) {
    let layer = blob(
        store,
        MediaType::ImageLayerGzip,
        format!("layer {seed}").as_bytes(),
    );
    let config = blob(
        store,
        MediaType::ImageConfig,
        format!(r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}},"comment":"{seed}"}}"#, layer.digest()).as_bytes(),
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": [layer],
    });
    let manifest = blob(
        store,
        MediaType::ImageManifest,
        &serde_json::to_vec(&manifest).unwrap(),
    );
    let digests = vec![
        manifest.digest().clone(),
        config.digest().clone(),
        layer.digest().clone(),
    ];
    (manifest, digests)
}

fn name(store: &Store, name: &str, descriptor: &Descriptor) {
    let reference = Reference::parse(name).unwrap();
    store
        .update_index(|index| Ok(index.set_name(&reference, descriptor)))
        .unwrap();
}

fn sorted(mut digests: Vec<Digest>) -> Vec<Digest> {
    digests.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
    digests
}

#[test]
fn what_no_name_reaches_goes_and_the_rest_stays() {
    let (dir, store) = store();
    let (kept, kept_blobs) = image(&store, "kept");
    let (dangling, dangling_blobs) = image(&store, "dangling");
    let (_, orphan_blobs) = image(&store, "orphan");
    // An index of `kept` and of a platform the store does not hold.
    let absent = Descriptor::new(MediaType::ImageManifest, 7, digest::of_bytes(b"absent"));
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [kept, absent],
    });
    let index = blob(
        &store,
        MediaType::ImageIndex,
        &serde_json::to_vec(&index).unwrap(),
    );
    name(&store, "kept:1", &kept);
    name(&store, "multi:1", &index);
    store
        .update_index(|i| {
            i.add_unnamed(&dangling);
            Ok(())
        })
        .unwrap();
    drop(store);

    let store = Store::open(dir.path().join("store")).unwrap();
    let orphan_bytes: u64 = orphan_blobs
        .iter()
        .map(|d| store.blob_size(d).unwrap())
        .sum();
    let report = store
        .sweep(false, &no_containers)
        .unwrap()
        .expect("no writer holds the store");
    assert_eq!(report.removed, sorted(orphan_blobs.clone()));
    assert_eq!(report.freed, orphan_bytes);
    for d in kept_blobs
        .iter()
        .chain(&dangling_blobs)
        .chain([index.digest()])
    {
        assert!(store.has_blob(d), "{d} is reached and stays");
    }
    for d in &orphan_blobs {
        assert!(!store.has_blob(d), "{d} is reached by nothing");
    }
    assert_eq!(store.reachable().unwrap().len(), 3 + 3 + 2);
    // Nothing left to do: a second sweep removes nothing.
    let again = store.sweep(false, &no_containers).unwrap().unwrap();
    assert!(again.removed.is_empty() && again.freed == 0);
}

#[test]
fn a_writer_in_the_store_keeps_the_sweep_away_from_what_it_wrote() {
    let (dir, writer) = store();
    let (_, unnamed) = image(&writer, "in flight");
    // Another program (another open store, another lock file handle).
    let collector = Store::open(dir.path().join("store")).unwrap();
    assert!(
        collector.sweep(false, &no_containers).unwrap().is_none(),
        "the writer holds the gc lock"
    );
    for d in &unnamed {
        assert!(collector.has_blob(d));
    }
    drop(writer);
    let report = collector.sweep(false, &no_containers).unwrap().unwrap();
    assert_eq!(report.removed, sorted(unnamed));
}

#[test]
fn temporary_files_and_build_directories_go_when_no_writer_holds_them() {
    let (_dir, store) = store();
    let ingest = store.state_dir().join("ingest");
    fs::write(ingest.join("blob-abandoned"), b"12345").unwrap();
    fs::write(store.root().join(".tmp-index"), b"{}").unwrap();
    let build = store.state_dir().join("build/tmp-1/step");
    fs::create_dir_all(&build).unwrap();
    let cache = store.state_dir().join("build-cache");
    fs::create_dir_all(&cache).unwrap();
    let (kept, blobs) = image(&store, "cached");
    name(&store, "cached:1", &kept);
    let layer = blobs[2].clone();
    let entry = |missing: &Digest| {
        serde_json::json!({"layers": [{"digest": missing.to_string()}]}).to_string()
    };
    fs::write(cache.join("whole.json"), entry(&layer)).unwrap();
    fs::write(cache.join("broken.json"), entry(&digest::of_bytes(b"gone"))).unwrap();
    let report = store.sweep(false, &no_containers).unwrap().unwrap();
    assert_eq!(report.ingest_freed, 5 + 2);
    assert!(!store.root().join(".tmp-index").exists());
    assert_eq!(fs::read_dir(&ingest).unwrap().count(), 0);
    assert!(!store.state_dir().join("build/tmp-1").exists());
    assert!(cache.join("whole.json").exists(), "its layers are stored");
    assert!(!cache.join("broken.json").exists(), "its layer is gone");
    // With the build cache asked for, every entry goes.
    let report = store
        .sweep_all(
            false,
            &SweepOptions {
                build_cache: BuildCache::All,
                every_partial: false,
            },
            &no_containers,
        )
        .unwrap()
        .unwrap();
    assert_eq!(report.build_cache, ["whole"]);
}

/// A partial download of `size` bytes, last written `age` ago.
fn partial(store: &Store, hex: &str, size: usize, age: Duration) -> std::path::PathBuf {
    let path = store
        .state_dir()
        .join("ingest")
        .join(format!("partial-{hex}"));
    fs::write(&path, vec![1u8; size]).unwrap();
    let when = SystemTime::now() - age;
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(when)
        .unwrap();
    path
}

#[test]
fn partial_downloads_by_age_whatever_their_age_and_never_one_a_pull_holds() {
    let (_dir, store) = store();
    let day = Duration::from_secs(24 * 3600);
    let old = partial(&store, &"a".repeat(64), 3000, day + Duration::from_secs(60));
    let young = partial(&store, &"b".repeat(64), 2000, day - Duration::from_secs(60));
    let held = partial(&store, &"c".repeat(64), 1000, day * 3);
    let lock = fs::File::open(&held).unwrap();
    lock.lock().unwrap();
    let report = store.sweep(false, &no_containers).unwrap().unwrap();
    assert_eq!((report.partials, report.ingest_freed), (1, 3000));
    assert!(!old.exists() && young.exists() && held.exists());
    let every = SweepOptions {
        build_cache: BuildCache::Keep,
        every_partial: true,
    };
    let report = store
        .sweep_all(false, &every, &no_containers)
        .unwrap()
        .unwrap();
    assert_eq!((report.partials, report.ingest_freed), (1, 2000));
    assert!(!young.exists() && held.exists(), "a held download stays");
    drop(lock);
    let report = store
        .sweep_all(false, &every, &no_containers)
        .unwrap()
        .unwrap();
    assert_eq!(report.partials, 1);
    assert!(!held.exists());
}
