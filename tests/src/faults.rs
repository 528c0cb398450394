//! Fault cases as a table: each case runs one img pipeline through a proxy
//! that misbehaves in one way between img and a real registry, checks the
//! exit status, what the case says must hold, and the store with img-fsck.
//! A test lists its cases as data ([`FaultCase`]) and hands them to
//! [`run_fault_cases`] (a fresh store each) or runs them one by one in a
//! store it prepared ([`FaultCase::run_in`]), so that a scenario is written
//! once, not pasted per fault.

use crate::http_proxy::{HttpProxy, Rule};
use crate::proxy::{Fault, Proxy};
use crate::{Env, Run};

/// What the proxy in front of the registry does.
pub enum Inject {
    /// A fault on the TCP stream back to img ([`Proxy`]).
    Tcp(Fault),
    /// Answers to chosen HTTP requests ([`HttpProxy`]).
    Http(Vec<Rule>),
}

/// The running proxy of a case, for its checks to look at.
pub enum Front {
    /// The TCP proxy of [`Inject::Tcp`].
    Tcp(Proxy),
    /// The HTTP proxy of [`Inject::Http`].
    Http(HttpProxy),
}

impl Front {
    fn start(upstream: &str, inject: Inject) -> Front {
        match inject {
            Inject::Tcp(fault) => Front::Tcp(Proxy::start(upstream, fault)),
            Inject::Http(rules) => Front::Http(HttpProxy::start(upstream, rules)),
        }
    }

    /// `127.0.0.1:PORT`, given to img instead of the registry.
    pub fn host(&self) -> &str {
        match self {
            Front::Tcp(proxy) => &proxy.host,
            Front::Http(proxy) => &proxy.host,
        }
    }

    /// The TCP proxy; panics for an HTTP one (a check of the wrong case).
    pub fn tcp(&self) -> &Proxy {
        match self {
            Front::Tcp(proxy) => proxy,
            Front::Http(_) => panic!("the case's proxy is an HTTP proxy"),
        }
    }

    /// The HTTP proxy; panics for a TCP one (a check of the wrong case).
    pub fn http(&self) -> &HttpProxy {
        match self {
            Front::Http(proxy) => proxy,
            Front::Tcp(_) => panic!("the case's proxy is a TCP proxy"),
        }
    }
}

/// What must hold after a case ran, besides its exit status and a sound store.
pub type Check<'a> = Box<dyn Fn(&Env, &Run, &Front) + 'a>;

/// One row of a fault table.
pub struct FaultCase<'a> {
    /// What the case shows, named when it fails.
    pub what: &'a str,
    /// What the proxy does.
    pub inject: Inject,
    /// The pipeline, `{host}` standing for the proxy's address.
    pub script: String,
    /// The exit status the pipeline must end with.
    pub code: i32,
    /// What else must hold.
    pub check: Check<'a>,
}

impl FaultCase<'_> {
    /// Run the case in `env`'s store through a proxy in front of `upstream`
    /// (`host:port`), then check it.
    #[track_caller]
    pub fn run_in(self, env: &Env, upstream: &str) {
        // Shown with a failing test's output: which row failed.
        eprintln!("fault case: {}", self.what);
        let front = Front::start(upstream, self.inject);
        let run = env.sh(&self.script.replace("{host}", front.host()));
        assert_eq!(
            run.code, self.code,
            "{}: wrong exit status: stdout:\n{}\nstderr:\n{}",
            self.what, run.stdout, run.stderr
        );
        (self.check)(env, &run, &front);
        env.check_store();
    }
}

/// Run every case in a fresh store, each through its own proxy in front of
/// `upstream`.
#[track_caller]
pub fn run_fault_cases(upstream: &str, cases: Vec<FaultCase<'_>>) {
    for case in cases {
        case.run_in(&Env::new(), upstream);
    }
}
