//! What the programs that make or name images print: records into pipes and
//! files, what the Docker CLI prints when stdout is a terminal, and with
//! `-q` the image ID alone (`ID=$(img-build -q .)`).

use img_tests::{need, on_terminal_output, Env};

const PEERS: &[&str] = &["skopeo", "umoci", "busybox", "python3"];

/// What `command` shows on a terminal (stdout and stderr both on it), with
/// the terminal's line ends made plain.
fn shown(env: &Env, command: &str) -> String {
    env.sh(&on_terminal_output(command))
        .ok()
        .stdout
        .replace("\r\n", "\n")
}

/// A root filesystem tar and the busybox fixture as `busybox`.
fn env_with_busybox() -> Env {
    let env = Env::new();
    env.seed("base", "busybox");
    env.sh("mkdir r && echo hi > r/hello.txt && tar -C r -cf rootfs.tar .")
        .ok();
    env
}

#[test]
fn on_a_terminal_programs_print_what_docker_prints() {
    if !need(PEERS) {
        return;
    }
    let env = env_with_busybox();
    let id = env.id("busybox");
    env.sh("img-save busybox -o busybox.tar").ok();
    // docker tag prints nothing
    assert_eq!(shown(&env, "img-tag busybox mine:1"), "");
    // docker load prints its lines on stdout, once (not on stderr too)
    assert_eq!(
        shown(&env, "img-load -i busybox.tar"),
        "Loaded image: busybox:latest\n"
    );
    assert_eq!(
        shown(&env, "img-load -q -i busybox.tar"),
        "Loaded image: busybox:latest\n"
    );
    // docker import and docker commit print the new image's ID, once
    let imported = shown(&env, "img-import rootfs.tar imported:1");
    assert_eq!(imported, format!("{}\n", env.id("imported:1")));
    let committed = shown(
        &env,
        "img-commit --no-layer -c 'ENV A=1' busybox committed:1",
    );
    assert_eq!(committed, format!("{}\n", env.id("committed:1")));
    // into a pipe: records, and people's lines on stderr
    let run = env.sh("img-load -i busybox.tar | cat").ok();
    assert_eq!(run.records().len(), 1);
    assert_eq!(run.stderr, "Loaded image: busybox:latest\n");
    let run = env.sh("img-tag busybox mine:2 > tagged.json").ok();
    assert_eq!(run.stdout, "");
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("tagged.json")).unwrap()).unwrap();
    assert_eq!(
        record["annotations"]["org.opencontainers.image.ref.name"],
        "docker.io/library/mine:2"
    );
    assert_eq!(env.id("mine:2"), id);
    env.check_store();
}

#[test]
fn quiet_prints_the_image_id_alone() {
    if !need(PEERS) {
        return;
    }
    let env = env_with_busybox();
    let run = env
        .sh("ID=$(img-import -q rootfs.tar imported:1) && img-inspect -f '{{.Id}}' $ID")
        .ok();
    assert_eq!(run.stdout, format!("{}\n", env.id("imported:1")));
    assert_eq!(run.stderr, "");
    let run = env
        .sh("ID=$(img-commit -q --no-layer -c 'CMD [\"true\"]' busybox committed:1) && echo $ID")
        .ok();
    assert_eq!(run.stdout, format!("{}\n", env.id("committed:1")));
    assert_eq!(run.stderr, "");
    // the same on a terminal: -q is the ID alone there too
    let on_screen = shown(&env, "img-commit -q --no-layer busybox");
    assert!(
        on_screen.starts_with("sha256:") && on_screen.lines().count() == 1,
        "{on_screen}"
    );
    env.check_store();
}

#[test]
fn build_quiet_prints_the_image_id_alone() {
    if !need(&["skopeo", "umoci", "busybox", "python3", "runc"]) {
        return;
    }
    let env = env_with_busybox();
    env.sh("mkdir ctx && printf 'FROM busybox\\nCOPY hello.txt /\\n' > ctx/Dockerfile && echo hi > ctx/hello.txt")
        .ok();
    let run = env
        .sh("ID=$(img-build -q -t built:1 ctx) && echo $ID && echo $ID | img-tag again:1 >/dev/null")
        .ok();
    let id = run.stdout.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    assert_eq!(env.id("again:1"), id);
    // into a pipe, the record; on a terminal, no record (the progress said it)
    let run = env.sh("img-build -t built:2 ctx 2>/dev/null").ok();
    assert_eq!(run.records().len(), 1);
    let on_screen = shown(&env, "img-build -t built:3 ctx");
    assert!(!on_screen.contains('{'), "{on_screen}");
    assert!(
        on_screen.contains("Successfully tagged built:3"),
        "{on_screen}"
    );
    env.check_store();
}

/// On a terminal, img-pull and img-push print Docker's lines in Docker's
/// order: the layers first, `Digest:`/`Status:` (or the push's digest line)
/// after them; img-pull ends with the full name, as docker pull does.
#[test]
fn pull_and_push_on_a_terminal_end_as_docker_does() {
    if !need(&[
        "docker-registry",
        "skopeo",
        "umoci",
        "busybox",
        "openssl",
        "python3",
    ]) {
        return;
    }
    let env = Env::new();
    let registry = img_tests::registry::Registry::open();
    let host = &registry.host;
    registry.skopeo_push(&img_tests::fixtures(), "derived", "test/derived:1");
    let screen = shown(&env, &format!("img-pull {host}/test/derived:1"));
    let lines = screen_lines(&screen);
    let at = |prefix: &str| {
        lines
            .iter()
            .rposition(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {lines:#?}"))
    };
    let last_layer = at_last(&lines, ": Pull complete");
    assert!(last_layer < at("Digest: sha256:"), "{lines:#?}");
    assert!(
        at("Digest: ") < at("Status: Downloaded newer image for"),
        "{lines:#?}"
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some(format!("{host}/test/derived:1").as_str()),
        "{lines:#?}"
    );
    let screen = shown(
        &env,
        &format!("img-push {host}/test/derived:1 --to {host}/copy/derived:2"),
    );
    let lines = screen_lines(&screen);
    let last_layer = at_last(&lines, ": Mounted from test/derived");
    let digest = lines
        .iter()
        .position(|l| l.starts_with("2: digest: sha256:"))
        .unwrap_or_else(|| panic!("no digest line in {lines:#?}"));
    assert!(last_layer < digest, "{lines:#?}");
    // docker push prints nothing after its digest line
    assert!(lines.last().unwrap().ends_with(" size: 503"), "{lines:#?}");
}

/// What an 80-column terminal shows at the end of `sent` (line ends as
/// `\n`): rows as last drawn, with its cursor moves, line clearing and
/// automatic wrapping, as indicatif draws its live lines.
fn screen_lines(sent: &str) -> Vec<String> {
    const WIDTH: usize = 80;
    let mut rows: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let mut chars = sent.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                row += 1;
                col = 0;
            }
            '\r' => col = 0,
            '\u{1b}' if chars.peek() == Some(&'[') => {
                chars.next();
                let mut params = String::new();
                let mut letter = ' ';
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        letter = c;
                        break;
                    }
                    params.push(c);
                }
                let n: usize = params.parse().unwrap_or(1);
                while rows.len() <= row {
                    rows.push(Vec::new());
                }
                match letter {
                    'A' => row = row.saturating_sub(n),
                    'B' => row += n,
                    'G' => col = n.saturating_sub(1),
                    // erase in line: 2 the whole line, else from the cursor
                    'K' if params == "2" => rows[row].clear(),
                    'K' => rows[row].truncate(col),
                    'J' => {
                        rows[row].truncate(col);
                        rows.truncate(row + 1);
                    }
                    _ => {}
                }
            }
            c => {
                if col >= WIDTH {
                    row += 1;
                    col = 0;
                }
                while rows.len() <= row {
                    rows.push(Vec::new());
                }
                let line = &mut rows[row];
                while line.len() <= col {
                    line.push(' ');
                }
                line[col] = c;
                col += 1;
            }
        }
        while rows.len() <= row {
            rows.push(Vec::new());
        }
    }
    rows.into_iter()
        .map(|r| r.into_iter().collect::<String>().trim_end().to_string())
        .filter(|r| !r.is_empty())
        .collect()
}

/// The last line holding `text`.
fn at_last(lines: &[String], text: &str) -> usize {
    lines
        .iter()
        .rposition(|l| l.contains(text))
        .unwrap_or_else(|| panic!("no {text:?} in {lines:#?}"))
}
