//! The typed instructions of a stage, and the expansion Docker applies to
//! each before running it. Every word is kept as written until
//! [`Instruction::expand`]: quotes, escapes and `$` references included.
//!
//! Which words Docker expands, per instruction: ADD and COPY (sources,
//! destination, `--from`, `--chown`, `--chmod`, `--checksum`, and heredoc
//! bodies whose delimiter is not quoted), ENV and LABEL (names and values),
//! ARG (names and defaults), EXPOSE (split into words), USER, WORKDIR,
//! VOLUME, STOPSIGNAL. RUN, CMD, ENTRYPOINT, SHELL and HEALTHCHECK are left
//! to the shell that runs them, ONBUILD to the build that triggers it,
//! MAINTAINER as written. RUN's `--mount` values are expanded field by field
//! by the executor, after it splits them, as BuildKit does.

use super::expand::{expand_heredoc, expand_word, expand_words, Vars};
use super::heredoc::Heredoc;
use super::Located;
use crate::healthcheck::Healthcheck;
use img_core::error::{Error, Result};

/// A command in exec form (a JSON array) or shell form (a string the
/// stage's shell runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `["executable", "arg"]`: run as is.
    Exec(Vec<String>),
    /// `executable arg`: run by the shell (`/bin/sh -c` unless SHELL set
    /// another), continuation lines joined.
    Shell(String),
}

/// One instruction of a stage, its words as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Instruction {
    /// `RUN [--mount=…] [--network=…] [--security=…] command`.
    Run {
        /// What to run; a heredoc's delimiter word stays in it.
        command: Command,
        /// The heredocs the command line opens, in order.
        heredocs: Vec<Heredoc>,
        /// Each `--mount=` value, unsplit (`type=cache,target=/root/.cache`).
        mounts: Vec<String>,
        /// `--network=` (`default`, `none`, `host`).
        network: Option<String>,
        /// `--security=` (`sandbox`, `insecure`).
        security: Option<String>,
    },
    /// `COPY [--from=…] [--chown=…] [--chmod=…] [--link] [--parents]
    /// [--exclude=…] src… dest`.
    Copy {
        /// The source paths (heredoc sources are in `heredocs`).
        sources: Vec<String>,
        /// The destination path.
        dest: String,
        /// Inline files (`COPY <<EOF /etc/motd`), named by their delimiter.
        heredocs: Vec<Heredoc>,
        /// `--from=`: a stage name or index, or an image.
        from: Option<String>,
        /// `--chown=user[:group]`.
        chown: Option<String>,
        /// `--chmod=` (octal, or symbolic like `u+x`).
        chmod: Option<String>,
        /// `--link`: copy into a layer of its own.
        link: bool,
        /// `--parents`: keep the sources' parent directories.
        parents: bool,
        /// `--exclude=` patterns, in order.
        exclude: Vec<String>,
    },
    /// `ADD [--chown=…] [--chmod=…] [--checksum=…] [--keep-git-dir] [--link]
    /// [--unpack=…] [--exclude=…] src… dest`.
    Add {
        /// The sources: paths, URLs or git repositories.
        sources: Vec<String>,
        /// The destination path.
        dest: String,
        /// Inline files, named by their delimiter.
        heredocs: Vec<Heredoc>,
        /// `--chown=user[:group]`.
        chown: Option<String>,
        /// `--chmod=`.
        chmod: Option<String>,
        /// `--checksum=` of a remote source (`sha256:…`).
        checksum: Option<String>,
        /// `--keep-git-dir`: keep `.git` of a git source.
        keep_git_dir: bool,
        /// `--link`.
        link: bool,
        /// `--unpack=`: whether to unpack archives (`None`: Docker's default,
        /// local archives unpacked, remote ones not).
        unpack: Option<bool>,
        /// `--exclude=` patterns.
        exclude: Vec<String>,
    },
    /// `ENV name=value…` (or the legacy `ENV name value`).
    Env(Vec<(String, String)>),
    /// `ARG name[=default]…`.
    Arg(Vec<(String, Option<String>)>),
    /// `WORKDIR path`.
    Workdir(String),
    /// `USER user[:group]`.
    User(String),
    /// `LABEL name=value…`.
    Label(Vec<(String, String)>),
    /// `EXPOSE port[/proto]…`, as written (a word may expand to several).
    Expose(Vec<String>),
    /// `CMD`.
    Cmd(Command),
    /// `ENTRYPOINT`.
    Entrypoint(Command),
    /// `VOLUME path…` or `VOLUME ["path", …]`.
    Volume(Vec<String>),
    /// `STOPSIGNAL signal`.
    StopSignal(String),
    /// `HEALTHCHECK NONE` or `HEALTHCHECK [options] CMD …`.
    Healthcheck(Healthcheck),
    /// `SHELL ["executable", "arg"…]`.
    Shell(Vec<String>),
    /// `ONBUILD instruction`: a trigger for builds that start from the image;
    /// its `original` is the trigger's text (without `ONBUILD`).
    Onbuild(Box<Located<Instruction>>),
    /// `MAINTAINER name` (deprecated: the image config's author).
    Maintainer(String),
}

impl Instruction {
    /// The instruction's keyword, upper case (`RUN`).
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::Run { .. } => "RUN",
            Instruction::Copy { .. } => "COPY",
            Instruction::Add { .. } => "ADD",
            Instruction::Env(_) => "ENV",
            Instruction::Arg(_) => "ARG",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::User(_) => "USER",
            Instruction::Label(_) => "LABEL",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Volume(_) => "VOLUME",
            Instruction::StopSignal(_) => "STOPSIGNAL",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::Shell(_) => "SHELL",
            Instruction::Onbuild(_) => "ONBUILD",
            Instruction::Maintainer(_) => "MAINTAINER",
        }
    }

    /// The instruction with its variables substituted in exactly the words
    /// Docker substitutes (see the module docs), `vars` giving the ARG and
    /// ENV values in effect; the rest is returned unchanged.
    pub fn expand(&self, vars: Vars<'_>, escape: char) -> Result<Instruction> {
        let word = |w: &String| expand_word(w, vars, escape);
        let opt = |w: &Option<String>| w.as_ref().map(word).transpose();
        let all = |ws: &[String]| ws.iter().map(word).collect::<Result<Vec<_>>>();
        let pairs = |ps: &[(String, String)]| {
            ps.iter()
                .map(|(k, v)| Ok((word(k)?, word(v)?)))
                .collect::<Result<Vec<_>>>()
        };
        let bodies = |hs: &[Heredoc]| {
            hs.iter()
                .map(|h| {
                    Ok(match h.expand {
                        // The expanded body is final: its tabs were
                        // removed before expansion, as Docker does.
                        true => Heredoc {
                            content: expand_heredoc(&h.body(), vars)?,
                            chomp: false,
                            ..h.clone()
                        },
                        false => h.clone(),
                    })
                })
                .collect::<Result<Vec<_>>>()
        };
        Ok(match self {
            Instruction::Copy {
                sources,
                dest,
                heredocs,
                from,
                chown,
                chmod,
                link,
                parents,
                exclude,
            } => Instruction::Copy {
                sources: all(sources)?,
                dest: word(dest)?,
                heredocs: bodies(heredocs)?,
                from: opt(from)?,
                chown: opt(chown)?,
                chmod: opt(chmod)?,
                link: *link,
                parents: *parents,
                exclude: all(exclude)?,
            },
            Instruction::Add {
                sources,
                dest,
                heredocs,
                chown,
                chmod,
                checksum,
                keep_git_dir,
                link,
                unpack,
                exclude,
            } => Instruction::Add {
                sources: all(sources)?,
                dest: word(dest)?,
                heredocs: bodies(heredocs)?,
                chown: opt(chown)?,
                chmod: opt(chmod)?,
                checksum: opt(checksum)?,
                keep_git_dir: *keep_git_dir,
                link: *link,
                unpack: *unpack,
                exclude: all(exclude)?,
            },
            Instruction::Env(env) => Instruction::Env(pairs(env)?),
            Instruction::Label(labels) => Instruction::Label(pairs(labels)?),
            Instruction::Arg(args) => Instruction::Arg(
                args.iter()
                    .map(|(k, v)| Ok((word(k)?, opt(v)?)))
                    .collect::<Result<Vec<_>>>()?,
            ),
            Instruction::Expose(ports) => {
                let mut words = Vec::new();
                for port in ports {
                    words.extend(expand_words(port, vars, escape)?);
                }
                Instruction::Expose(words)
            }
            Instruction::User(user) => Instruction::User(word(user)?),
            Instruction::Workdir(dir) => Instruction::Workdir(word(dir)?),
            Instruction::StopSignal(signal) => Instruction::StopSignal(word(signal)?),
            Instruction::Volume(paths) => {
                let paths = all(paths)?;
                if paths.iter().any(|p| p.trim().is_empty()) {
                    return Err(Error::invalid(
                        "VOLUME specified can not be an empty string",
                    ));
                }
                Instruction::Volume(paths)
            }
            other => other.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::parse_instruction;

    fn expanded(text: &str, vars: &[(&str, &str)]) -> Instruction {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse_instruction(text)
            .unwrap()
            .value
            .expand(&|n| vars.get(n).cloned(), '\\')
            .unwrap()
    }

    #[test]
    fn expands_the_words_docker_expands() {
        let vars = [
            ("V", "1.0"),
            ("D", "/srv"),
            ("U", "app"),
            ("P", "80 443/udp"),
            ("E", ""),
        ];
        assert_eq!(
            expanded(r#"ENV A=$V B="x ${V}" ${U}_HOME=$D"#, &vars),
            Instruction::Env(vec![
                ("A".into(), "1.0".into()),
                ("B".into(), "x 1.0".into()),
                ("app_HOME".into(), "/srv".into()),
            ])
        );
        assert_eq!(
            expanded("ENV LEGACY is $V too", &vars),
            Instruction::Env(vec![("LEGACY".into(), "is 1.0 too".into())])
        );
        assert_eq!(
            expanded(r#"LABEL "v"="$V" 'lit'='$V'"#, &vars),
            Instruction::Label(vec![
                ("v".into(), "1.0".into()),
                ("lit".into(), "$V".into())
            ])
        );
        assert_eq!(
            expanded("ARG X=$V Y", &vars),
            Instruction::Arg(vec![("X".into(), Some("1.0".into())), ("Y".into(), None)])
        );
        assert_eq!(
            expanded("EXPOSE $P 8080", &vars),
            Instruction::Expose(vec!["80".into(), "443/udp".into(), "8080".into()])
        );
        assert_eq!(
            expanded("WORKDIR $D/app", &vars),
            Instruction::Workdir("/srv/app".into())
        );
        assert_eq!(
            expanded(r#"WORKDIR "$D/my dir""#, &vars),
            Instruction::Workdir("/srv/my dir".into())
        );
        assert_eq!(
            expanded("USER ${U}:${U}", &vars),
            Instruction::User("app:app".into())
        );
        assert_eq!(
            expanded("STOPSIGNAL SIG$U", &vars),
            Instruction::StopSignal("SIGapp".into())
        );
        assert_eq!(
            expanded("VOLUME $D /data", &vars),
            Instruction::Volume(vec!["/srv".into(), "/data".into()])
        );
        let Instruction::Copy {
            sources,
            dest,
            from,
            chown,
            chmod,
            exclude,
            ..
        } = expanded(
            "COPY --from=$U --chown=$U:$U --chmod=${E:-755} --exclude=*.$V src/$V 'a$V' $D/",
            &vars,
        )
        else {
            panic!("not a COPY")
        };
        assert_eq!(sources, ["src/1.0", "a$V"]);
        assert_eq!(dest, "/srv/");
        assert_eq!(from.as_deref(), Some("app"));
        assert_eq!(chown.as_deref(), Some("app:app"));
        assert_eq!(chmod.as_deref(), Some("755"));
        assert_eq!(exclude, ["*.1.0"]);
    }

    #[test]
    fn leaves_commands_and_triggers_alone() {
        let vars = [("V", "1")];
        for text in [
            "RUN echo $V",
            "CMD echo $V",
            r#"ENTRYPOINT ["echo", "$V"]"#,
            r#"SHELL ["/bin/$V", "-c"]"#,
            "HEALTHCHECK CMD test $V",
            "ONBUILD RUN echo $V",
            "MAINTAINER $V",
        ] {
            let parsed = parse_instruction(text).unwrap().value;
            assert_eq!(expanded(text, &vars), parsed, "{text}");
        }
    }

    #[test]
    fn heredoc_bodies_expand_unless_quoted() {
        let text = "COPY <<-EOF <<'RAW' /dst/\n\t$V \"q\"\n\tEOF\n\t$V\nRAW\n";
        let Instruction::Copy { heredocs, .. } = expanded(text, &[("V", "1")]) else {
            panic!("not a COPY")
        };
        assert_eq!(heredocs[0].content, "1 \"q\"\n");
        assert!(!heredocs[0].chomp);
        assert_eq!(heredocs[1].content, "\t$V\n");
    }

    #[test]
    fn expansion_errors_name_the_word() {
        let vars: HashMap<String, String> = HashMap::new();
        let lookup = |n: &str| vars.get(n).cloned();
        for (text, why) in [
            (
                r#"COPY "b c" /dst"#,
                r#"expanding "\"b": unexpected end of statement while looking for matching double-quote"#,
            ),
            (
                "WORKDIR ${DIR:?set DIR}",
                r#"expanding "${DIR:?set DIR}": DIR: set DIR"#,
            ),
            (
                "VOLUME $NOTHING",
                "VOLUME specified can not be an empty string",
            ),
        ] {
            let instruction = parse_instruction(text).unwrap().value;
            let err = instruction.expand(&lookup, '\\').unwrap_err();
            assert_eq!(err.to_string(), why, "{text}");
        }
    }
}
