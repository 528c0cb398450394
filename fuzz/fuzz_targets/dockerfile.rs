//! `dockerfile::parse` on any text: an error or a Dockerfile, never a
//! panic; and expanding every instruction of what parses, with variables
//! set and unset, never panics either.

#![no_main]

use img_dockerfile as dockerfile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let unset = |_: &str| None;
    let set = |name: &str| Some(format!("{name} value"));
    if let Ok(parsed) = dockerfile::parse(text) {
        let escape = parsed.directives.escape;
        for stage in &parsed.stages {
            let _ = stage.from.expand(&unset, escape);
            for instruction in &stage.instructions {
                let _ = instruction.value.expand(&unset, escape);
                let _ = instruction.value.expand(&set, escape);
            }
        }
    }
    let _ = dockerfile::parse_instruction(text);
    let _ = dockerfile::expand_words(text, &set, '`');
});
