//! Docker's engine as the reference (see `differential.rs`): CMD,
//! ENTRYPOINT, SHELL, ENV, ARG, LABEL, EXPOSE, VOLUME, USER, WORKDIR,
//! HEALTHCHECK, STOPSIGNAL, ONBUILD and MAINTAINER.

use super::differential::{arg_took, case, history_text};

// CMD, ENTRYPOINT, SHELL

#[test]
fn cmd_shell_form_and_exec_form() {
    case(
        "diff-cmd-shell",
        "FROM busybox\nCMD echo \"hi there\" $HOME\n",
    )
    .classic()
    .same();
}

#[test]
fn cmd_empty_clears_it() {
    case("diff-cmd-empty", "FROM busybox\nCMD []\n").same();
}

#[test]
fn entrypoint_drops_an_inherited_cmd() {
    case(
        "diff-entrypoint",
        "FROM busybox\nENTRYPOINT [\"/bin/echo\", \"a\"]\n",
    )
    .classic()
    .same();
}

#[test]
fn entrypoint_keeps_a_cmd_of_its_own_stage() {
    case(
        "diff-entrypoint-cmd",
        "FROM busybox\nCMD [\"x\"]\nENTRYPOINT echo\nCMD [\"y\"]\nENTRYPOINT [\"/bin/echo\"]\n",
    )
    .same();
}

#[test]
fn shell_changes_run_cmd_and_entrypoint() {
    case(
        "diff-shell",
        "FROM busybox\nSHELL [\"/bin/sh\", \"-xc\"]\nRUN echo $0 > /shell-was\nCMD echo cmd\nENTRYPOINT echo ep\n",
    )
    .same();
}

// ENV, ARG, LABEL

#[test]
fn env_forms_and_expansion() {
    case(
        "diff-env",
        "FROM busybox\nENV A=1\nENV B two words\nENV C=\"$A-${A}\" D=${UNSET:-dflt} E=${A:+set} F='$A' G=\\$A\nENV PATH=/opt/bin:$PATH\nRUN echo \"$A|$B|$C|$D|$E|$F|$G\" > /env\n",
    )
    .classic()
    .same();
}

#[test]
fn env_replaces_a_variable_where_it_stands() {
    case(
        "diff-env-replace",
        "FROM busybox\nENV A=1 B=2 C=3\nENV B=changed\n",
    )
    .same();
}

#[test]
fn arg_scoping_across_stages() {
    case(
        "diff-arg-scope",
        "ARG GLOBAL=g\nFROM busybox AS one\nARG GLOBAL\nARG LOCAL=l1\nRUN echo $GLOBAL $LOCAL > /one\nFROM busybox\nARG LOCAL\nRUN echo \"[$GLOBAL] [$LOCAL]\" > /two\nCOPY --from=one /one /one\n",
    )
    .same();
}

#[test]
fn arg_given_overrides_default_and_env_wins_over_arg() {
    case(
        "diff-arg-env",
        "FROM busybox\nARG V=default\nENV V=from-env\nARG W=default\nRUN echo $V $W > /values\n",
    )
    .flags("--build-arg V=given --build-arg W=given")
    .current(|_, config| {
        arg_took(config, "V=default", "V=given");
        arg_took(config, "W=default", "W=given");
    })
    .same();
}

#[test]
fn arg_default_expands_earlier_args() {
    case(
        "diff-arg-expand",
        "FROM busybox\nARG A=a\nARG B=${A}b C\nRUN echo $A $B \"$C\" > /abc\n",
    )
    .same();
}

#[test]
fn label_forms() {
    case(
        "diff-label",
        "FROM busybox\nLABEL a=1 \"b c\"=\"d e\" multi=\"line\\\n two\"\nLABEL a=overridden\nARG V=9\nLABEL version=$V\n",
    )
    .classic()
    .same();
}

#[test]
fn build_label_flag() {
    case("diff-label-flag", "FROM busybox\nLABEL in=file\n")
        .flags("--label from=flag --label in=flag")
        .same();
}

// EXPOSE, VOLUME, USER, WORKDIR

#[test]
fn expose_ports_and_ranges() {
    case(
        "diff-expose",
        "FROM busybox\nEXPOSE 80 53/udp\nARG P=8080\nEXPOSE $P 9000-9002/tcp 5000/sctp\n",
    )
    // 20.10 writes its port map (`map[53/udp:{} 80/tcp:{}]`); current
    // BuildKit writes the ports as a list, in the order written.
    .current(|_, config| {
        history_text(
            config,
            "EXPOSE map[53/udp:{} 80/tcp:{}]",
            "EXPOSE [53/udp 80/tcp]",
        );
        history_text(
            config,
            "EXPOSE map[5000/sctp:{} 8080/tcp:{} 9000/tcp:{} 9001/tcp:{} 9002/tcp:{}]",
            // The words sorted as written (`$P` first), then expanded.
            "EXPOSE [8080/tcp 5000/sctp 9000/tcp 9001/tcp 9002/tcp]",
        );
    })
    .same();
}

#[test]
fn volume_json_and_plain() {
    case(
        "diff-volume",
        "FROM busybox\nVOLUME /data\nVOLUME [\"/logs\", \"/var/lib/x\"]\nVOLUME /a /b\n",
    )
    .classic()
    .same();
}

#[test]
fn volume_content_written_before_it_is_kept() {
    case(
        "diff-volume-content",
        "FROM busybox\nRUN mkdir /data && echo before > /data/f\nVOLUME /data\n",
    )
    .same();
}

#[test]
fn user_by_name_and_by_ids() {
    case(
        "diff-user",
        "FROM busybox\nRUN echo 'http:x:33:33::/srv:/bin/sh' >> /etc/passwd && echo 'www:x:33:' > /etc/group && mkdir -m 1777 /srv\nUSER http\nRUN id > /srv/id-name\nUSER 1234:5678\nRUN id > /srv/id-numbers\nUSER http:0\n",
    )
    .same();
}

#[test]
fn workdir_is_created_as_buildkit_does() {
    case("diff-workdir", "FROM busybox\nWORKDIR /a/b/c\n").same();
}

#[test]
fn workdir_relative_and_expanded() {
    case(
        "diff-workdir-relative",
        "FROM busybox\nWORKDIR /base\nWORKDIR rel\nENV SUB=deeper\nWORKDIR $SUB/../last\nRUN pwd > /pwd\nWORKDIR /\n",
    )
    .same();
}

#[test]
fn workdir_belongs_to_the_user() {
    case(
        "diff-workdir-user",
        "FROM busybox\nRUN echo 'http:x:33:33::/home/http:/bin/sh' >> /etc/passwd && echo 'http:x:33:' > /etc/group\nUSER http\nWORKDIR /home/http/public\nRUN touch x\n",
    )
    .same();
}

#[test]
fn workdir_then_copy_into_it() {
    case(
        "diff-workdir-copy",
        "FROM busybox\nWORKDIR /subdir\nCOPY f /subdir\nRUN ls -l /subdir > /listing\n",
    )
    .file("f", "the file\n")
    .same();
}

#[test]
fn workdir_that_exists_makes_an_empty_layer() {
    case(
        "diff-workdir-exists",
        "FROM busybox\nWORKDIR /tmp\nWORKDIR /\n",
    )
    .same();
}

// HEALTHCHECK, STOPSIGNAL, ONBUILD, MAINTAINER

#[test]
fn healthcheck_with_options_and_none() {
    case(
        "diff-healthcheck",
        "FROM busybox\nHEALTHCHECK --interval=5s --timeout=3s --start-period=1m30s --retries=4 CMD wget -q localhost || exit 1\n",
    )
    // 20.10 writes Go's %q of its older struct; current BuildKit %+v.
    .current(|_, config| {
        history_text(
            config,
            "HEALTHCHECK &{[\"CMD-SHELL\" \"wget -q localhost || exit 1\"] \"5s\" \"3s\" \"1m30s\" '\\x04'}",
            "HEALTHCHECK {Test:[CMD-SHELL wget -q localhost || exit 1] Interval:5s Timeout:3s StartPeriod:1m30s StartInterval:0s Retries:4}",
        );
    })
    .same();
}

#[test]
fn healthcheck_none_and_exec_form() {
    case(
        "diff-healthcheck-none",
        "FROM busybox\nHEALTHCHECK CMD [\"/bin/true\"]\nHEALTHCHECK NONE\n",
    )
    .current(|_, config| {
        history_text(
            config,
            "HEALTHCHECK &{[\"CMD\" \"/bin/true\"] \"0s\" \"0s\" \"0s\" '\\x00'}",
            "HEALTHCHECK {Test:[CMD /bin/true] Interval:0s Timeout:0s StartPeriod:0s StartInterval:0s Retries:0}",
        );
        history_text(
            config,
            "HEALTHCHECK &{[\"NONE\"] \"0s\" \"0s\" \"0s\" '\\x00'}",
            "HEALTHCHECK {Test:[NONE] Interval:0s Timeout:0s StartPeriod:0s StartInterval:0s Retries:0}",
        );
    })
    .same();
}

#[test]
fn stopsignal_names_and_numbers() {
    case(
        "diff-stopsignal",
        "FROM busybox\nSTOPSIGNAL SIGINT\nARG SIG=9\nSTOPSIGNAL $SIG\n",
    )
    .classic()
    .same();
}

#[test]
fn onbuild_is_recorded_without_history() {
    case(
        "diff-onbuild",
        "FROM busybox\nONBUILD RUN echo triggered > /triggered\nONBUILD COPY f /from-trigger\n",
    )
    .same();
}

#[test]
fn onbuild_triggers_run_in_the_child() {
    case("diff-onbuild-child", "FROM parent\nRUN cat /triggered > /seen\n")
        .parent(
            "parent",
            "FROM busybox\nONBUILD RUN echo triggered > /triggered\nONBUILD COPY f /from-trigger\nONBUILD ENV FROM_TRIGGER=1\n",
        )
        .file("f", "f\n")
        .same();
}

#[test]
fn maintainer_sets_the_author() {
    case(
        "diff-maintainer",
        "FROM busybox\nMAINTAINER Fisher \"fisher@sudops.com\"\n",
    )
    .classic()
    .same();
}
