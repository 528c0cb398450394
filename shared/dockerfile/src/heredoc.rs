//! Heredocs in RUN, COPY and ADD, as BuildKit reads them: a word
//! `[N]<<[-]DELIM` of the instruction's line opens one, and the lines that
//! follow, up to a line that is exactly `DELIM`, are its body. With `<<-`
//! leading tabs are ignored on the delimiter line and removed from the
//! body. A delimiter with any part quoted (`<<'EOF'`, `<<"EOF"`) marks a
//! body that is not expanded. Several heredocs on one line are read in
//! order, one body after the other.

use super::expand::Lexer;

/// A heredoc: an inline file (COPY, ADD) or script (RUN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter, quotes removed (`EOF`); for COPY and ADD the name of
    /// the file it becomes.
    pub name: String,
    /// The file descriptor written before `<<` (`3<<EOF`), 0 when none.
    pub fd: u32,
    /// Whether the body's variables are expanded (the delimiter was not
    /// quoted).
    pub expand: bool,
    /// Whether `<<-` asked for leading tabs to be removed from the body.
    pub chomp: bool,
    /// The body as written: every line with its line ending, the delimiter
    /// line excluded.
    pub content: String,
}

impl Heredoc {
    /// The body with leading tabs removed from each line when `chomp`: what
    /// the file or script contains.
    pub fn body(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content
            .split_inclusive('\n')
            .map(|line| line.trim_start_matches('\t'))
            .collect()
    }
}

/// The heredoc a word opens (`<<EOF`, `2<<-"END"`), if it opens one; an
/// error for a delimiter with an unmatched quote.
pub(crate) fn parse_word(word: &str) -> Result<Option<Heredoc>, String> {
    let digits = word.bytes().take_while(u8::is_ascii_digit).count();
    let Some(rest) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, delimiter) = match rest.strip_prefix('-') {
        Some(after) => (true, after),
        None => (false, rest),
    };
    // `<<<` is a here-string, not a heredoc; `<<` alone names nothing.
    if delimiter.is_empty() || delimiter.contains('<') {
        return Ok(None);
    }
    // Overflowing descriptors read as 0, as Docker's lenient parse does.
    let fd = word[..digits].parse().unwrap_or(0);
    let lexer = Lexer {
        skip_unset: true,
        ..Lexer::new('\\')
    };
    let none = |_: &str| None;
    let words = lexer.words(delimiter, &none)?;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    let raw = Lexer {
        raw_quotes: true,
        ..lexer
    }
    .words(delimiter, &none)?;
    let quotes = |s: &str| s.chars().filter(|c| matches!(c, '\'' | '"')).count();
    // Some part was quoted if removing quotes removed any.
    let expand = raw.len() == 1 && quotes(name) == quotes(&raw[0]);
    Ok(Some(Heredoc {
        name: name.clone(),
        fd,
        expand,
        chomp,
        content: String::new(),
    }))
}

/// The heredocs a logical line opens, in order, bodies still empty. Words
/// are found as a shell would, quotes kept, so `"<<EOF"` opens nothing.
pub(crate) fn in_line(line: &str) -> Result<Vec<Heredoc>, String> {
    let lexer = Lexer {
        raw_quotes: true,
        raw_escapes: true,
        skip_unset: true,
        ..Lexer::new('\\')
    };
    // A line the lexer cannot split (an unmatched quote) opens none, as in
    // Docker; the instruction's own reading reports the quote if it cares.
    let Ok(words) = lexer.words(line, &|_| None) else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for word in &words {
        if let Some(heredoc) = parse_word(word)? {
            found.push(heredoc);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_that_open_heredocs() {
        for (word, name, fd, chomp, expand) in [
            ("<<EOF", "EOF", 0, false, true),
            ("<<'EOF'", "EOF", 0, false, false),
            (r#"<<"EOF""#, "EOF", 0, false, false),
            ("<<-EOF", "EOF", 0, true, true),
            ("<<-'EOF'", "EOF", 0, true, false),
            (r#"<<-"EOF""#, "EOF", 0, true, false),
            (r#"<<E"O"F"#, "EOF", 0, false, false),
            ("3<<EOF", "EOF", 3, false, true),
            ("<<$X", "$X", 0, false, true),
        ] {
            let heredoc = parse_word(word).unwrap().unwrap();
            assert_eq!(
                (
                    heredoc.name.as_str(),
                    heredoc.fd,
                    heredoc.chomp,
                    heredoc.expand
                ),
                (name, fd, chomp, expand),
                "{word}"
            );
        }
        for word in [
            "", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "cat<<EOF", "<<a b",
        ] {
            assert_eq!(parse_word(word).unwrap(), None, "{word:?}");
        }
        for word in ["<<'EOF", "<<\"EOF", "<<EOF'", "<<EOF\""] {
            assert!(parse_word(word).is_err(), "{word}");
        }
    }

    #[test]
    fn heredocs_of_a_line() {
        let names = |line: &str| -> Vec<String> {
            in_line(line).unwrap().into_iter().map(|h| h.name).collect()
        };
        assert_eq!(names("RUN <<EOF"), ["EOF"]);
        assert_eq!(names("RUN <<-EOF"), ["EOF"]);
        assert_eq!(names("RUN <<'EOF'"), ["EOF"]);
        assert_eq!(names("RUN 4<<EOF"), ["EOF"]);
        assert_eq!(names("RUN <<EOF <<EOF2"), ["EOF", "EOF2"]);
        assert_eq!(names("RUN python3 <<EOF > /out"), ["EOF"]);
        assert!(names("RUN '<<EOF'").is_empty());
        assert!(names(r#"RUN "<<EOF""#).is_empty());
        assert!(names(r"RUN \<<EOF").is_empty());
        assert!(names("RUN echo 'unterminated <<EOF").is_empty());
    }

    #[test]
    fn chomp_removes_leading_tabs_of_each_line() {
        let heredoc = Heredoc {
            name: "EOF".into(),
            fd: 0,
            expand: true,
            chomp: true,
            content: "\thello\n\t\tworld\n  spaced\n".into(),
        };
        assert_eq!(heredoc.body(), "hello\nworld\n  spaced\n");
        let kept = Heredoc {
            chomp: false,
            ..heredoc
        };
        assert_eq!(kept.body(), "\thello\n\t\tworld\n  spaced\n");
    }
}
