//! img-build beyond what one build shows beside Docker's: reproducible
//! builds (`--source-date-epoch`, `SOURCE_DATE_EPOCH`), an image holding
//! the same layer twice built and run, the IDs the progress shows, and
//! MAINTAINER (a build instruction, never a commit change).

use img_tests::{need, Env};

const PEERS: &[&str] = &["runc", "skopeo"];

/// A new store with the busybox fixture as `base`, and the context `ctx`.
fn ready(dockerfile: &str, files: &[(&str, &str)]) -> Option<Env> {
    if !need(PEERS) {
        return None;
    }
    let env = Env::new();
    env.seed("base", "base");
    for (path, content) in [("Dockerfile", dockerfile)].iter().chain(files) {
        let full = env.path(&format!("ctx/{path}"));
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }
    Some(env)
}

const REPRODUCIBLE: &str = "FROM base AS build\n\
    COPY . /src/\n\
    RUN mkdir -p /out/dir && echo built > /out/built-at && cp -r /src /out/ && touch /out/dir/new\n\
    FROM base\n\
    WORKDIR /app\n\
    COPY --from=build /out ./\n\
    RUN echo made > made.txt\n\
    ENV MODE=release\n";

/// The record's digest (the manifest) and the image ID of `img-build`.
fn built(env: &Env, flags: &str) -> (String, String) {
    let record = env.sh(&format!("img-build {flags} -t r ctx")).ok();
    let digest = record.records()[0]["digest"].as_str().unwrap().to_string();
    (digest, env.id("r"))
}

#[test]
fn the_same_context_gives_the_same_image_anywhere_with_a_source_date_epoch() {
    let files = [("a.txt", "a\n"), ("dir/b.txt", "b\n")];
    let (Some(first), Some(second)) = (ready(REPRODUCIBLE, &files), ready(REPRODUCIBLE, &files))
    else {
        return;
    };
    // Another checkout on another day: other file times everywhere.
    first.sh("touch -d 2024-01-01 ctx/* ctx/dir/*").ok();
    second.sh("touch -d 2025-06-30 ctx/* ctx/dir/*").ok();
    let epoch = 1_700_000_000;
    let one = built(&first, &format!("--source-date-epoch {epoch}"));
    let two = built(&second, &format!("--source-date-epoch={epoch}"));
    assert_eq!(one, two, "two stores, other file times: another image");
    // The variable does what the flag does.
    let third = ready(REPRODUCIBLE, &files).unwrap();
    third.sh("touch -d 2023-03-03 ctx/* ctx/dir/*").ok();
    let env_var = third
        .sh(&format!("SOURCE_DATE_EPOCH={epoch} img-build -q -t r ctx"))
        .ok();
    assert_eq!(third.id("r"), one.1, "{}", env_var.stderr);
    // Every time written is the epoch: files, history, creation.
    let listing = first
        .sh("img-export r | tar -tv --full-time | awk '{print $4 \"T\" $5}' | sort -u")
        .ok();
    let base_time = "2026-11-01T10:00:00";
    for time in listing.stdout.lines() {
        assert!(
            time == "2023-11-14T22:13:20" || time == base_time,
            "a file time other than the epoch's or the base's: {time}\n{}",
            listing.stdout
        );
    }
    let times = first
        .sh("img-inspect -f '{{.Created}}' r; img-history -H=false --format '{{.CreatedAt}}' r")
        .ok();
    assert!(
        times
            .stdout
            .lines()
            .all(|t| t.starts_with("2023-11-14T22:13:20") || t.starts_with("2026-11-01T10:00:00")),
        "{}",
        times.stdout
    );
    // Without an epoch, times are the build's own: another image.
    let plain = built(&second, "--no-cache");
    assert_ne!(plain.1, one.1);
    first.check_store();
    second.check_store();
}

#[test]
fn an_epoch_that_is_not_a_number_is_refused() {
    let Some(env) = ready("FROM base\n", &[]) else {
        return;
    };
    let run = env
        .sh("img-build --source-date-epoch yesterday ctx")
        .code(2);
    assert!(run.stderr.contains("yesterday"), "{}", run.stderr);
}

#[test]
fn an_image_with_the_same_layer_twice_builds_and_runs() {
    let Some(env) = ready(
        "FROM base\nCOPY f /f\nRUN rm /f\nCOPY f /f\nRUN true\nRUN true\nRUN cat /f > /seen\n",
        &[("f", "twice\n")],
    ) else {
        return;
    };
    env.sh("img-build -q -t twice ctx").ok();
    let layers = env
        .sh("img-inspect -f '{{range .RootFS.Layers}}{{println .}}{{end}}' twice")
        .ok();
    let ids: Vec<&str> = layers.stdout.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(ids.len(), 7, "{}", layers.stdout);
    assert_eq!(ids[1], ids[3], "both COPY layers are one layer");
    assert_eq!(ids[4], ids[5], "both empty RUN layers are one layer");
    let run = env.sh("img-run --rm twice sh -c 'cat /f /seen'").ok();
    assert_eq!(run.stdout, "twice\ntwice\n");
    env.check_store();
}

#[test]
fn the_progress_shows_the_base_images_own_id() {
    let Some(env) = ready("FROM base\nRUN true\n", &[]) else {
        return;
    };
    let run = env.sh("img-build -t p ctx").ok();
    let base = env.id("base");
    let short = &base["sha256:".len().."sha256:".len() + 12];
    assert!(
        run.stderr
            .contains(&format!("Step 1/2 : FROM base\n ---> {short}\n")),
        "the base's ID {short} is not shown:\n{}",
        run.stderr
    );
    let shown = env
        .sh(&format!("img-inspect -f '{{{{.Id}}}}' {short}"))
        .ok();
    assert_eq!(shown.stdout.trim(), base);
}

#[test]
fn maintainer_is_a_build_instruction_not_a_change() {
    let Some(env) = ready("FROM base\nMAINTAINER Fisher \"fisher@sudops.com\"\n", &[]) else {
        return;
    };
    env.sh("img-build -q -t m ctx").ok();
    let author = env.sh("img-inspect -f '{{.Author}}' m").ok();
    assert_eq!(author.stdout.trim(), "Fisher \"fisher@sudops.com\"");
    let refused = env
        .sh("img-commit --no-layer -c 'MAINTAINER someone' base m2")
        .code(2);
    assert!(
        refused
            .stderr
            .contains("MAINTAINER is not a valid change instruction"),
        "{}",
        refused.stderr
    );
}
