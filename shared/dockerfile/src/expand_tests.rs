//! Expansion as BuildKit's shell lexer does it: its word and words test
//! tables, as behaviour.

use std::collections::HashMap;

use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn word_with(word: &str, vars: &HashMap<String, String>, escape: char) -> Result<String> {
    expand_word(word, &|name| vars.get(name).cloned(), escape)
}

/// BuildKit's `envVarTest` table: PWD, SHELL, KOREAN set and NULL empty.
#[test]
fn expands_words_like_buildkit() {
    let vars = env(&[
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
    ]);
    for (input, want) in [
        ("hello", "hello"),
        ("he'll'o", "hello"),
        (r"he\'llo", "he'llo"),
        (r"abc\tdef", "abctdef"),
        (r#""abc\tdef""#, r"abc\tdef"),
        (r#""abc\\tdef""#, r"abc\tdef"),
        (r"'abc\tdef'", r"abc\tdef"),
        (r"hello\", "hello"),
        (r"hello\\", r"hello\"),
        (r#""hel'lo""#, "hel'lo"),
        (r"'hello\'", r"hello\"),
        (r"'hello\there'", r"hello\there"),
        (r"'hello\\there'", r"hello\\there"),
        (r#""''""#, "''"),
        ("$.", "$."),
        ("he$1x", "hex"),
        ("he$.x", "he$.x"),
        ("he$pwd.", "he."),
        ("he$PWD", "he/home"),
        (r"he\$PWD", "he$PWD"),
        (r"he\\$PWD", r"he\/home"),
        (r#""he\$PWD""#, "he$PWD"),
        (r#""he\\$PWD""#, r"he\/home"),
        (r"\${}", "${}"),
        (r"\${}aaa", "${}aaa"),
        (r"he\${}", "he${}"),
        (r"he\${}xx", "he${}xx"),
        ("he${hi}", "he"),
        ("he${hi}xx", "hexx"),
        ("he${PWD}", "he/home"),
        ("he${XXX:-000}xx", "he000xx"),
        ("he${PWD:-000}xx", "he/homexx"),
        ("he${XXX:-$PWD}xx", "he/homexx"),
        ("he${XXX:-${PWD:-yyy}}xx", "he/homexx"),
        ("he${XXX:-${YYY:-yyy}}xx", "heyyyxx"),
        ("he${PWD?}", "he/home"),
        ("he${PWD:?}", "he/home"),
        ("he${NULL?}", "he"),
        ("he${XXX:+${PWD}}xx", "hexx"),
        ("he${PWD:+${XXX}}xx", "hexx"),
        ("he${PWD:+${SHELL}}xx", "hebashxx"),
        ("he${XXX:+000}xx", "hexx"),
        ("he${PWD:+000}xx", "he000xx"),
        ("'he${XX}'", "he${XX}"),
        (r#""he${PWD}""#, "he/home"),
        (r#""he'$PWD'""#, "he'/home'"),
        (r#""$PWD""#, "/home"),
        ("'$PWD'", "$PWD"),
        (r"'\$PWD'", r"\$PWD"),
        (r#"'"hello"'"#, r#""hello""#),
        (r"'he\$PWD'", r"he\$PWD"),
        ("he${PWD+${PWD}:}xx", "he/home:xx"),
        ("he${PWD+${SHELL}:}xx", "hebash:xx"),
        ("he${XXX+000}xx", "hexx"),
        ("he${PWD+000}xx", "he000xx"),
        (r"${XXX:-\$PWD:}xx", "$PWD:xx"),
        (r"${XXX:-\${PWD}z}xx", "${PWDz}xx"),
        ("$KOREAN", "한국어"),
        ("안녕$KOREAN", "안녕한국어"),
        ("${aaa}}", "}"),
        ("${aaa}}}", "}}"),
    ] {
        assert_eq!(word_with(input, &vars, '\\').unwrap(), want, "{input}");
    }
    for bad in [
        "he'llo",
        r"he\\'llo",
        r#""hello"#,
        r#""hello\""#,
        "'hello",
        "${}",
        "${}aaa",
        "he${}",
        "he${}xx",
        "he${.}",
        "he${XXX:YYY}",
        "he${XXX?}",
        "he${XXX:?}",
        "he${NULL:?}",
        "he${PWD",
        "he${PWD=000}xx",
        "${{aaa}",
        "${aaa",
        "${{aaa",
        "${{aaa}}",
        "${:}",
    ] {
        let err = word_with(bad, &vars, '\\').unwrap_err();
        assert_eq!(err.kind(), img_core::Kind::InvalidInput, "{bad}");
        assert!(err.to_string().starts_with("expanding "), "{err}");
    }
}

/// BuildKit's `wordsTest` table: words are split after expansion, quoted
/// blanks kept.
#[test]
fn splits_words_like_buildkit() {
    let vars = env(&[
        ("hi", "hi"),
        ("space", "abc  def"),
        ("leading", "  ab c"),
        ("trailing", "ab c   "),
    ]);
    let words = |w: &str| expand_words(w, &|n| vars.get(n).cloned(), '\\');
    for (input, want) in [
        ("hello", vec!["hello"]),
        ("hello${hi}bye", vec!["hellohibye"]),
        ("hello${nope}bye", vec!["hellobye"]),
        ("hello${space}bye", vec!["helloabc", "defbye"]),
        (r#"hello"${space}"bye"#, vec!["helloabc  defbye"]),
        (r#"hello "${space}"bye"#, vec!["hello", "abc  defbye"]),
        ("hello${leading}def", vec!["hello", "ab", "cdef"]),
        (r#"hello"${leading}" def"#, vec!["hello  ab c", "def"]),
        (r#"hello"${leading}""#, vec!["hello  ab c"]),
        ("hello${leading}", vec!["hello", "ab", "c"]),
        ("hello${trailing}", vec!["helloab", "c"]),
        ("hello${trailing}d", vec!["helloab", "c", "d"]),
        (r#"hello"${trailing}"d"#, vec!["helloab c   d"]),
        (r#"hel"lo${trailing}""#, vec!["helloab c   "]),
        (r#"hello" there  ""#, vec!["hello there  "]),
        ("hello there     ", vec!["hello", "there"]),
        (r"hello\ there", vec!["hello there"]),
        (r#"hello\" there"#, vec![r#"hello""#, "there"]),
        (r#"hello"\\there""#, vec![r"hello\there"]),
        (r#"hello"\there""#, vec![r"hello\there"]),
        (r"hello'\\there'", vec![r"hello\\there"]),
        (r"hello'\there'", vec![r"hello\there"]),
        ("hello'$there'", vec!["hello$there"]),
        // Quoted empty strings make no word.
        (r#"a "" b"#, vec!["a", "b"]),
        ("80 443/udp", vec!["80", "443/udp"]),
    ] {
        assert_eq!(words(input).unwrap(), want, "{input}");
    }
    assert!(words(r#"hello" there"#).is_err());
}

/// BuildKit's process-with-matches table: the operators on set, empty and
/// unset variables.
#[test]
fn applies_each_operator() {
    let vars = env(&[("FOO", "xxx"), ("BAR", "")]);
    for (input, want) in [
        ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", "xxx  ccc"),
        ("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", "xxx bbb ccc"),
        ("${FOO:-}", "xxx"),
        ("${BAZ:-}", ""),
        ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", "aaa bbb "),
        ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", "aaa  "),
        ("${FOO?aaa}", "xxx"),
        ("${BAR?bbb}", ""),
        ("${FOO:?aaa}", "xxx"),
        ("x ${UNUSED}", "x "),
    ] {
        assert_eq!(word_with(input, &vars, '\\').unwrap(), want, "{input}");
    }
    for (input, why) in [
        ("${BAZ?ccc}", "BAZ: ccc"),
        ("${BAR:?bbb}", "BAR: bbb"),
        ("${BAZ:?ccc}", "BAZ: ccc"),
        ("${BAZ:?}", "BAZ: is not allowed to be unset"),
        ("${BAR:?}", "BAR: is not allowed to be empty"),
        ("${BAZ?}", "BAZ: is not allowed to be unset"),
        ("${FOO=aaa}", "unsupported modifier (=) in substitution"),
        ("${FOO=:aaa}", "unsupported modifier (=) in substitution"),
        ("${FOO}${", "syntax error: missing '}'"),
    ] {
        let err = word_with(input, &vars, '\\').unwrap_err().to_string();
        assert_eq!(err, format!("expanding {input:?}: {why}"));
    }
    // The message of `?` is itself expanded.
    let err = word_with("${VAR:?message here$ARG}", &env(&[("ARG", "x")]), '\\').unwrap_err();
    assert!(err.to_string().ends_with("VAR: message herex"), "{err}");
}

#[test]
fn trims_and_replaces_with_patterns() {
    for (input, value, want) in [
        (r"${FOO#()[]{\}^$.\*\?|\\}", r"()[]{}^$.*?|\x", "x"),
        (r"${FOO%%\**}", "xx**", "xx"),
        ("${FOO#*x*y}", "xxyy", "y"),
        ("${FOO#*}", "xxyy", "xxyy"),
        ("${FOO#}", "xxyy", "xxyy"),
        ("${FOO##*x}", "xxyy", "yy"),
        ("${FOO##}", "xxyy", "xxyy"),
        (r"${FOO#?\?}", "???y", "?y"),
        ("${ABC:-.}${FOO%x}${ABC:-.}", "xxyy", ".xxyy."),
        (r"${FOO%%\**\*}", "a***yy*", "a"),
        ("${FOO%}", "xxyy", "xxyy"),
        ("${FOO%y}", "xxyy", "xxy"),
        ("${FOO%%y*}", "xyxy", "x"),
        ("${FOO%y*}", "xyxy", "xyx"),
        (r"${FOO//\//\/}", "/tmp/foo.txt", r"\/tmp\/foo.txt"),
        ("${FOO///}", "xxyy", "xxyy"),
        ("${FOO/x/z}", "xxyy", "zxyy"),
        ("${FOO//x/z}", "xxyy", "zzyy"),
        ("${FOO/?y/-}", "xxyy", "x-y"),
        ("${FOO/*/-}", "xxyy", "-"),
    ] {
        let vars = env(&[("FOO", value)]);
        assert_eq!(word_with(input, &vars, '\\').unwrap(), want, "{input}");
    }
    let vars = env(&[("FOO", "/foo*/*/*.txt"), ("NEEDLE", r"\*/")]);
    assert_eq!(
        word_with("${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}", &vars, '\\').unwrap(),
        "/foo.*/*.txt - /foo..*.txt"
    );
    let vars = env(&[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")]);
    assert_eq!(
        word_with("${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}", &vars, '\\').unwrap(),
        "/tmp/bar.txt - /bar.txt"
    );
    let vars = env(&[("FOO", "/a/foo/b/c.txt"), ("NEEDLE", "/?/"), ("R", "/")]);
    assert_eq!(
        word_with("${FOO/$NEEDLE/$R} - ${FOO//$NEEDLE/$R}", &vars, '\\').unwrap(),
        "/foo/b/c.txt - /foo/c.txt"
    );
    // A `$` in the replacement is text, not a capture group.
    let vars = env(&[("FOO", "ab"), ("D", "$1")]);
    assert_eq!(word_with("${FOO/a/$D}", &vars, '\\').unwrap(), "$1b");
    for bad in ["${FOO//ww}", "${FOO//}", r"${FOO#\x}", "${FOO/a"] {
        assert!(
            word_with(bad, &env(&[("FOO", "xxyy")]), '\\').is_err(),
            "{bad}"
        );
    }
    // An unset variable is trimmed or replaced as the empty string.
    assert_eq!(
        word_with("${NOPE/$E/ww}", &env(&[("E", "")]), '\\').unwrap(),
        "ww"
    );
    assert_eq!(word_with("${NOPE#x}", &env(&[]), '\\').unwrap(), "");
}

#[test]
fn release_file_name_from_platform_args() {
    let vars = env(&[
        ("VERSION", "v1.2.3"),
        ("TARGETOS", "linux"),
        ("TARGETARCH", "arm"),
        ("TARGETVARIANT", "v7"),
    ]);
    let word =
        "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz";
    assert_eq!(
        word_with(word, &vars, '\\').unwrap(),
        "something-v1.2.3.linux-arm-v7.tar.gz"
    );
    let mut vars = vars;
    vars.remove("TARGETVARIANT");
    assert_eq!(
        word_with(word, &vars, '\\').unwrap(),
        "something-v1.2.3.linux-arm.tar.gz"
    );
}

#[test]
fn backtick_escape() {
    let vars = env(&[("A", "1")]);
    for (input, want) in [
        (r"C:\path\$A", r"C:\path\1"),
        ("`$A", "$A"),
        ("a` b", "a b"),
        ("``", "`"),
        (r#""x`"y""#, r#"x"y"#),
        (r#""`a""#, "`a"),
    ] {
        assert_eq!(word_with(input, &vars, '`').unwrap(), want, "{input}");
    }
}

#[test]
fn special_parameters_and_digits_are_names() {
    let vars = env(&[("1", "one"), ("@", "at"), ("12", "twelve")]);
    for (input, want) in [
        ("$1", "one"),
        ("$12x", "twelvex"),
        ("$@", "at"),
        ("${@}", "at"),
        ("$#x", "x"),
        ("a$", "a$"),
        ("$ b", "$ b"),
    ] {
        assert_eq!(word_with(input, &vars, '\\').unwrap(), want, "{input}");
    }
}

#[test]
fn raw_lexer_keeps_what_it_does_not_know() {
    let raw = Lexer {
        raw_quotes: true,
        raw_escapes: true,
        skip_unset: true,
        ..Lexer::new('\\')
    };
    let none = |_: &str| None;
    assert_eq!(
        raw.words(
            r#"RUN cat <<'EOF' "$X" \$Y ${Z:-q} ${W/a/b} | tee x"#,
            &none
        )
        .unwrap(),
        ["RUN", "cat", "<<'EOF'", r#""$X""#, r"\$Y", "${Z:-q}", "${W/a/b}", "|", "tee", "x"]
    );
}

#[test]
fn heredoc_bodies_keep_quotes_and_lose_escapes() {
    let vars = env(&[("NAME", "me")]);
    let lookup = |n: &str| vars.get(n).cloned();
    assert_eq!(
        expand_heredoc("say \"hi $NAME\" 'and $NAME'\n\\$NAME \\\\ \\\n", &lookup).unwrap(),
        "say \"hi me\" 'and me'\n$NAME \\ \n"
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let vars = env(&[]);
    let nested = |depth: usize| format!("{}x{}", "${A:-".repeat(depth), "}".repeat(depth));
    assert_eq!(word_with(&nested(MAX_DEPTH), &vars, '\\').unwrap(), "x");
    let err = word_with(&nested(MAX_DEPTH + 1), &vars, '\\').unwrap_err();
    assert!(
        err.to_string()
            .ends_with("substitutions nested more than 256 deep"),
        "{err}"
    );
}
