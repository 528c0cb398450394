//! img-login: log in to a registry (`docker login`, `docker logout`).

use std::io::{BufRead, IsTerminal, Write};

use clap::{CommandFactory, Parser};

use img_core::error::{Error, IoContext};
use img_registry::credentials::{Credentials, Secret, Stored};
use img_registry::login::{self, server_host, DEFAULT_SERVER};
use img_registry::RegistryArgs;

/// Log in to a registry.
///
/// Checks the user name and password against SERVER (Docker Hub when none
/// is named) and, when the registry accepts them, stores them as `docker
/// login` does: with the credential helper Docker's config names
/// (`credsStore`, `credHelpers`), else base64-encoded in Docker's
/// `config.json` (`$DOCKER_CONFIG`, else `~/.docker`), readable by the user
/// only. img-pull, img-push, img-search, docker and skopeo use them from
/// there. `--logout` forgets them (`docker logout`), whichever was stored.
///
/// What is stored: when the registry sends clients to a token service, the
/// service is asked for an offline token (`offline_token=true`,
/// `client_id=img`, as docker login asks). If it hands out a refresh token,
/// that identity token is stored instead of the password: in config.json as
/// `identitytoken`, with `auth` holding only `USER:` (exactly Docker's
/// entry), or for a credential helper as the user `<token>`. Later pulls and
/// pushes trade it for access tokens by an OAuth2 POST to the token service
/// (`grant_type=refresh_token`); it is never sent as a password. Otherwise
/// (registries with Basic authentication, services without refresh tokens)
/// the user name and password are stored. Identity tokens written by `docker
/// login` or answered by credential helpers (Azure ACR, Harbor with OIDC)
/// are used the same way; one that expired or was revoked is an error: log
/// in again.
///
/// The password comes from `--password-stdin` (the safe way in scripts), `-p`
/// (seen by other users of the machine: a warning says so), or a prompt on
/// the terminal. Messages (`Login Succeeded`) go to stderr; passwords never
/// appear in any output.
#[derive(Debug, Parser)]
#[command(
    name = "img-login",
    version,
    about = "Log in to a registry (docker login)"
)]
#[command(
    after_help = "EXAMPLES:\n  img-login localhost:5000 -u ci --password-stdin < token.txt\n  img-login registry.example.com\n  img-login --logout registry.example.com"
)]
pub struct Cli {
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Accepted as every img program accepts it; this program keeps nothing in the store
    #[command(flatten)]
    pub common: img_cli::Common,
    /// The registry: host[:port] [default: docker.io]
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
    /// User name
    #[arg(short, long, value_name = "USER")]
    pub username: Option<String>,
    /// Password (insecure: other users see it; prefer --password-stdin)
    #[arg(
        short,
        long,
        value_name = "PASSWORD",
        conflicts_with = "password_stdin"
    )]
    pub password: Option<String>,
    /// Read the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
    /// Forget the stored credentials instead (docker logout)
    #[arg(long, conflicts_with_all = ["username", "password", "password_stdin"])]
    pub logout: bool,
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Log in (or out).
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let server = server_host(cli.server.as_deref().unwrap_or(DEFAULT_SERVER));
    let mut err = std::io::stderr();
    if cli.logout {
        if login::logout(&server)? {
            writeln!(err, "Removing login credentials for {server}")?;
        } else {
            writeln!(err, "Not logged in to {server}")?;
        }
        return Ok(());
    }
    let creds = credentials(&cli)?;
    let options = cli.registry.options()?;
    let done = login::login(&server, &creds, &options)?;
    if let Stored::File(path) = &done.stored {
        let what = if done.identity_token {
            "identity token (not your password)"
        } else {
            "password"
        };
        writeln!(
            err,
            "WARNING! Your {what} will be stored unencrypted in {}.\nConfigure a credential helper to remove this warning.",
            path.display()
        )?;
    }
    writeln!(err, "Login Succeeded")?;
    Ok(())
}

fn credentials(cli: &Cli) -> anyhow::Result<Credentials> {
    if let Some(creds) = &cli.registry.creds {
        if cli.username.is_none() && cli.password.is_none() && !cli.password_stdin {
            return Ok(Credentials::from_flag(creds)?);
        }
    }
    let username = match &cli.username {
        Some(u) => u.clone(),
        None if cli.password_stdin => {
            return Err(Error::invalid("--password-stdin needs --username").into())
        }
        None => prompt("Username: ")?,
    };
    if username.is_empty() {
        return Err(Error::invalid("the user name is empty").into());
    }
    let password = if cli.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .io_context(|| "reading the password from stdin".into())?;
        line.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = &cli.password {
        writeln!(
            std::io::stderr(),
            "WARNING! Using --password via the CLI is insecure. Use --password-stdin."
        )?;
        p.clone()
    } else if std::io::stdin().is_terminal() {
        rpassword_prompt()?
    } else {
        return Err(Error::invalid(
            "no password: give --password-stdin (and pipe the password), or run on a terminal",
        )
        .into());
    };
    if password.is_empty() {
        return Err(Error::invalid("the password is empty").into());
    }
    Ok(Credentials::password(username, Secret::new(password)))
}

fn prompt(text: &str) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::invalid("no user name: give --username").into());
    }
    eprint!("{text}");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

fn rpassword_prompt() -> anyhow::Result<String> {
    Ok(img_registry::credentials::prompt("Password: ")?)
}
