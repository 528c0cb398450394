//! The shapes instruction arguments come in, as Docker's parser splits
//! them before any expansion: a JSON array of strings (exec form), words
//! separated by blanks (quotes not considered: `COPY a b /dst`), words that
//! respect quotes but keep them (`ENV A="x y"`), and `name=value` pairs
//! with the legacy `ENV name value` form.

use serde_json::Value;

/// The blanks Docker separates an instruction's words with: space and tab,
/// and the other ASCII blanks except newline.
pub(crate) fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{b}' | '\u{c}' | '\r')
}

/// `text` split on runs of blanks, quotes not considered.
pub(crate) fn split_blank(text: &str) -> Vec<String> {
    text.split(is_blank)
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

/// `text` split at its first run of blanks.
pub(crate) fn split_first(text: &str) -> (&str, &str) {
    match text.find(is_blank) {
        Some(at) => (&text[..at], text[at..].trim_start_matches(is_blank)),
        None => (text, ""),
    }
}

/// The exec form: `Some` when `text` is a JSON array, an error when that
/// array holds anything but strings, `None` for anything else (shell form).
pub(crate) fn json_array(text: &str) -> Result<Option<Vec<String>>, String> {
    let text = text.trim_start();
    if !text.starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<Value>>(text) else {
        return Ok(None);
    };
    values
        .into_iter()
        .map(|v| match v {
            Value::String(s) => Ok(s),
            _ => {
                Err("when using JSON array syntax, arrays must be comprised of strings only".into())
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Words separated by whitespace outside quotes; quotes and escapes are
/// kept for expansion to remove. An escape at the very end is dropped.
pub(crate) fn quoted_words(text: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    // Quotes make even an empty word a word (`ARG a=""`).
    let mut quoted = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if quoted || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                quoted = false;
            }
            Some(q) if c == q => {
                quote = None;
                word.push(c);
            }
            // Nothing escapes inside single quotes.
            _ if c == escape && quote != Some('\'') => {
                if let Some(escaped) = chars.next() {
                    word.push(c);
                    word.push(escaped);
                } else if quote.is_some() {
                    // Docker ends the quote with the text.
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                quoted = true;
                word.push(c);
            }
            _ => word.push(c),
        }
    }
    if quoted || !word.is_empty() {
        words.push(word);
    }
    words
}

/// `name=value` pairs of ENV and LABEL (`command` names the instruction in
/// errors), or the legacy `name value…` form when the first word has no
/// `=`. Names and values are as written, for expansion; none for no text.
pub(crate) fn name_values(
    text: &str,
    escape: char,
    command: &str,
) -> Result<Vec<(String, String)>, String> {
    let words = quoted_words(text, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let (name, value) = split_first(text);
        if value.is_empty() {
            return Err(format!("{command} must have two arguments"));
        }
        return Ok(vec![(name.to_string(), value.to_string())]);
    }
    words
        .iter()
        .map(|word| match word.split_once('=') {
            Some((name, value)) => Ok((name.to_string(), value.to_string())),
            None => Err(format!(
                "Syntax error - can't find = in {word:?}. Must be of the form: name=value"
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_words_keep_quotes_and_escapes() {
        for (text, want) in [
            ("foo", &["foo"][..]),
            ("foo bar", &["foo", "bar"]),
            (r"foo\ bar", &[r"foo\ bar"]),
            ("foo=bar", &["foo=bar"]),
            ("foo bar 'abc xyz'", &["foo", "bar", "'abc xyz'"]),
            (r#"foo bar "abc xyz""#, &["foo", "bar", r#""abc xyz""#]),
            ("àöû", &["àöû"]),
            (r#"föo bàr "âbc xÿz""#, &["föo", "bàr", r#""âbc xÿz""#]),
            (r#"a="x \" y" b='c\'"#, &[r#"a="x \" y""#, r"b='c\'"]),
            ("a=\"\" b", &["a=\"\"", "b"]),
            (r"end\", &["end"]),
            (r#""open\"#, &[r#""open"#]),
            ("  spaced   out  ", &["spaced", "out"]),
        ] {
            assert_eq!(quoted_words(text, '\\'), want, "{text}");
        }
        assert_eq!(quoted_words("a` b", '`'), ["a` b"]);
        assert_eq!(quoted_words(r"a\ b", '`'), [r"a\", "b"]);
    }

    #[test]
    fn name_values_new_and_legacy_forms() {
        assert_eq!(
            name_values(r#"A=1 B="two words" C=x\ y D="#, '\\', "ENV").unwrap(),
            [
                ("A".into(), "1".into()),
                ("B".into(), r#""two words""#.into()),
                ("C".into(), r"x\ y".into()),
                ("D".into(), String::new()),
            ]
        );
        assert_eq!(
            name_values("LEGACY some  value = here", '\\', "ENV").unwrap(),
            [("LEGACY".into(), "some  value = here".into())]
        );
        assert!(name_values("", '\\', "ENV").unwrap().is_empty());
        assert_eq!(
            name_values("novalue", '\\', "LABEL").unwrap_err(),
            "LABEL must have two arguments"
        );
        assert_eq!(
            name_values("a=1 b", '\\', "ENV").unwrap_err(),
            r#"Syntax error - can't find = in "b". Must be of the form: name=value"#
        );
    }

    #[test]
    fn json_arrays_of_strings_only() {
        assert_eq!(
            json_array(r#" ["a", "b c"]"#).unwrap(),
            Some(vec!["a".into(), "b c".into()])
        );
        assert_eq!(json_array("[]").unwrap(), Some(vec![]));
        for shell in [
            "echo [x]",
            "[not json",
            "['single']",
            r#"["a"] trailing"#,
            "",
        ] {
            assert_eq!(json_array(shell).unwrap(), None, "{shell}");
        }
        assert!(json_array(r#"["a", 1]"#).is_err());
        assert!(json_array("[null]").is_err());
    }

    #[test]
    fn blank_splitting() {
        assert_eq!(split_blank("a \t b\u{b}c"), ["a", "b", "c"]);
        assert_eq!(split_first("FROM  x y"), ("FROM", "x y"));
        assert_eq!(split_first("CMD"), ("CMD", ""));
    }
}
