//! The command line: `serve`, `migrate`, `check-config`, `translate`, `stats`, `replay`,
//! `conformance`, `redeliver`, `audit`, `token` and `receive`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::clock::Clock;
use crate::config::{DEFAULT_CONFIG_PATH, Settings};
use crate::formats::translate::{Format, translate};
use crate::startup::Application;
use crate::store::Store;
use crate::telemetry;

mod commands;
use commands::*;

/// brygga: the gateway between region and municipality for discharge planning, SIP and the
/// notifications both principals must receive on time.
#[derive(Debug, Parser)]
#[command(name = "brygga", version, about, long_about = None)]
pub struct Cli {
    /// The settings file. Its `organisations_file` is read relative to it. Every setting can be
    /// overridden by an environment variable BRYGGA_SECTION__KEY, e.g. BRYGGA_SERVER__LISTEN.
    #[arg(long, global = true, env = "BRYGGA_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway: open the database (SQLite by default, created in ./data/), apply
    /// migrations, and serve HTTP until SIGTERM or SIGINT, finishing in-flight requests.
    Serve,
    /// Apply pending database migrations and exit. Safe to run while other instances serve.
    Migrate {
        /// Only list the migrations that would be applied, in order; apply none.
        #[arg(long)]
        dry_run: bool,
    },
    /// Read and validate the settings file and the organisation directory, print a summary,
    /// and exit non-zero with one line per problem (naming file and key) if anything is wrong.
    CheckConfig,
    /// Convert a message between formats and print it; nothing is stored. Formats:
    /// cosmic-link (the Cosmic Link contract, XML), canonical (the canonical event, JSON), fhir
    /// (FHIR R4 JSON) and municipal:<dialect> (a municipal case-system dialect of
    /// mappings/municipal/, XML). Input elements that are not mapped are reported on stderr.
    Translate {
        /// The input's format.
        #[arg(long)]
        from: String,
        /// The output's format.
        #[arg(long)]
        to: String,
        /// The input file, or - for standard input.
        file: PathBuf,
    },
    /// Print follow-up statistics as CSV: per principal and unit, for a period of local dates
    /// (admission notices on time, days from ready-for-discharge to discharge, SIP invitations,
    /// answers and plans, missed deadlines, payment-responsibility days, readmissions).
    Stats {
        /// The first day (YYYY-MM-DD); the first of the current month by default.
        #[arg(long)]
        from: Option<jiff::civil::Date>,
        /// The day after the last (YYYY-MM-DD); the first of the next month by default.
        #[arg(long)]
        to: Option<jiff::civil::Date>,
        /// Only this organisation's units (a region's HSA-id or a kommunkod), over the cases
        /// it takes part in, in full. Without it, every unit, small figures suppressed
        /// (`statistics.suppress_below`) as in the county's view.
        #[arg(long)]
        organisation: Option<String>,
    },
    /// Replay scenarios (fixtures/scenarios/README.md): each in-process on a virtual clock
    /// against a fresh embedded store, its messages recorded as the operator, its receivers'
    /// deliveries captured over loopback. Prints per step what was expected and what
    /// happened; exits non-zero if any step differs.
    Replay {
        /// Scenario files, or folders of them (every *.toml).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Also write the results as JUnit XML to this file.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Replay against this running gateway (its base URL) instead of in-process: messages
        /// posted as --client, deliveries captured by local receivers on --receivers.
        #[arg(long)]
        target: Option<String>,
        /// With --target: the client the messages are sent as (a relay client for Cosmic
        /// Link).
        #[arg(long, requires = "target")]
        client: Option<String>,
        /// With --target: the client's private key (PEM).
        #[arg(long, requires = "target")]
        key: Option<PathBuf>,
        /// With --target: the key's id in the client's JWKS.
        #[arg(long, requires = "target")]
        kid: Option<String>,
        /// With --target: where the local receivers listen; the gateway's subscriptions post
        /// to http://<this>/<organisation>.
        #[arg(long, requires = "target", default_value = "127.0.0.1:9800")]
        receivers: std::net::SocketAddr,
        /// With --target and no test clock on it: wait for each step in real time.
        #[arg(long, requires = "target")]
        real_time: bool,
    },
    /// Write the conformance report: the message kinds each format carries per direction, the
    /// golden and refused fixtures of each contract, mapping coverage of the contracts'
    /// examples, and every scenario, passed or failed. Markdown, or HTML with --html. Exits
    /// non-zero if anything failed (the report is written all the same).
    Conformance {
        /// The scenarios to run.
        #[arg(long, default_value = "fixtures/scenarios")]
        scenarios: PathBuf,
        /// The repository's root (its fixtures/ and mappings/).
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// Write the report here rather than to standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// HTML instead of Markdown.
        #[arg(long)]
        html: bool,
    },
    /// Copy the embedded SQLite database to a file while the gateway serves: a consistent
    /// snapshot of every commit before it began. PostgreSQL: use pg_dump or pg_basebackup
    /// (deploy/README.md).
    Backup {
        /// The backup file to write; it must not exist.
        #[arg(long)]
        to: PathBuf,
    },
    /// Put a backup made by `brygga backup` in place as the gateway's database (database.url),
    /// which must not exist yet: stop the gateway and move the current database away first.
    /// The backup is checked before (integrity, migrations, the audit chain).
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
    },
    /// Put dead-lettered deliveries back in the queue (due now, attempts reset): the ones named
    /// by --id, or every dead one (of one subscription, with --subscription).
    Redeliver {
        /// A delivery's id (repeatable).
        #[arg(long)]
        id: Vec<i64>,
        /// Every dead-lettered delivery.
        #[arg(long)]
        dead: bool,
        /// With --dead: only this subscription's.
        #[arg(long)]
        subscription: Option<String>,
    },
    /// Work on a municipal dialect (mappings/municipal/README.md): `check FOLDER` compiles the
    /// folder, reads each of its examples, lists what no rule reads, and writes each message
    /// back and reads it again, which must give the same message. Exits non-zero on any
    /// problem. Needs no settings.
    Dialect {
        #[command(subcommand)]
        command: DialectCommand,
    },
    /// Deviations for the county forums: `export --deidentified` prints those raised in a
    /// period as CSV (or JSON), with keyed pseudonyms for cases and deviations and no personal
    /// data (statistics.pseudonym_key_file).
    Deviations {
        #[command(subcommand)]
        command: DeviationsCommand,
    },
    /// The audit log: verify its hash chain, export it as FHIR AuditEvents, or print a
    /// person's log extract.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Get an access token from a gateway's token endpoint as a registered client: sign a
    /// client assertion with the client's private key (PEM; RS384 for RSA, ES384 for EC) and
    /// print the access token, for use as `Authorization: Bearer <token>`.
    Token {
        /// The client id, as registered in the clients file.
        #[arg(long)]
        client: String,
        /// The client's private key (PEM).
        #[arg(long)]
        key: PathBuf,
        /// The key's id in the client's JWKS; its first key's by default.
        #[arg(long)]
        kid: Option<String>,
        /// The token endpoint; this configuration's by default.
        #[arg(long)]
        url: Option<String>,
        /// Space-separated scopes to ask for; all the client holds by default.
        #[arg(long)]
        scope: Option<String>,
    },
    /// A person's protected identity: show whether it holds, or lift it (audited, with the
    /// reason). Any message may protect a person; only this, or a client registered with
    /// may_lift_protection, lifts it.
    Protection {
        #[command(subcommand)]
        command: ProtectionCommand,
    },
    /// People's local accounts for the web console (`/console`).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Run the reference receiver for the gateway's deliveries (a subscription's endpoint, for
    /// trying the gateway out and for integration tests): it drops repeats by idempotency key,
    /// applies each case's steps in sequence, answers 200 only after storing (with --store),
    /// and prints one line per delivery (case, sequence, event, key, attempt, whether it may
    /// be a repeat).
    Receive {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:9100")]
        listen: std::net::SocketAddr,
        /// Also print each delivery's body (it holds personal data).
        #[arg(long)]
        bodies: bool,
        /// Keep each delivery in this folder, synced to disk before it is answered 200 (and
        /// the keys and sequences taken read back at start).
        #[arg(long)]
        store: Option<PathBuf>,
    },
}

impl Command {
    /// Whether the command only prints for a reader (and serves nothing): it may end when its
    /// standard output is closed.
    pub fn prints_for_a_pipe(&self) -> bool {
        !matches!(
            self,
            Command::Serve | Command::Receive { .. } | Command::Replay { .. }
        )
    }
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add an account (or replace the one of the same username) in the accounts file
    /// (`auth.accounts_file`, else `accounts.toml` beside the settings), its password read
    /// from standard input (one line, at least 12 characters) and kept as an argon2id hash.
    Add {
        #[arg(long)]
        username: String,
        /// The person's name, as the console greets them.
        #[arg(long)]
        name: String,
        /// A region's HSA-id or a municipality's kommunkod, of the organisation directory.
        #[arg(long)]
        organisation: String,
        /// operator (deliveries, subscriptions), coordinator (deviations, cases of their
        /// organisation), auditor (the audit log) or follow-up (statistics, de-identified).
        #[arg(long)]
        role: String,
        /// For a follow-up account: the county's statistics, every unit with small figures
        /// suppressed (otherwise its own organisation's units).
        #[arg(long)]
        county_statistics: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProtectionCommand {
    /// Whether the person's identity is protected.
    Show {
        /// Personnummer, samordningsnummer or reserve number.
        #[arg(long)]
        person: String,
    },
    /// Lift the person's protection: addresses may be disclosed again, as each disclosure's
    /// decision allows.
    Lift {
        #[arg(long)]
        person: String,
        /// Why the protection no longer applies (kept in the audit log).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DialectCommand {
    /// Check a dialect folder and its examples, one line per example.
    Check {
        /// The dialect's folder (with dialect.toml, messages/, codes.toml, examples/).
        folder: PathBuf,
        /// Also print, under each example, every canonical field it was read into, with its
        /// value (the examples' own values: test identities, never a real person's).
        #[arg(long)]
        fields: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeviationsCommand {
    /// Print the deviations raised in a period, de-identified: a pseudonym per case and per
    /// deviation, the cause, the unit addressed, the dates raised and answered, the reminders
    /// and the highest escalation level reached.
    Export {
        /// Required: the export is only ever de-identified; the flag says so on the command
        /// line that makes it.
        #[arg(long)]
        deidentified: bool,
        /// The first day (YYYY-MM-DD); the first of the current month by default.
        #[arg(long)]
        from: Option<jiff::civil::Date>,
        /// The day after the last (YYYY-MM-DD); the first of the next month by default.
        #[arg(long)]
        to: Option<jiff::civil::Date>,
        /// `csv` (the default) or `json`.
        #[arg(long, default_value = "csv")]
        format: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every record's hash and link; with signed checkpoints (`audit anchor`, or
    /// the files the gateway writes to audit.checkpoint_dir), also find a log truncated,
    /// rewound, cut at its start or recomputed since. Exits non-zero naming each problem.
    Verify {
        /// A signed checkpoint file (repeatable), e.g. one kept in write-once storage.
        #[arg(long = "checkpoint")]
        checkpoints: Vec<PathBuf>,
        /// The anchor's public key (PEM) to verify them with; audit.anchor_key_file's by
        /// default.
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
    /// Sign a checkpoint of the audit log's head now with audit.anchor_key_file, keep it, and
    /// write it to FILE (or standard output), for export to write-once storage.
    Anchor {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the records (after a sequence number) as a FHIR Bundle of AuditEvent.
    Export {
        #[arg(long, default_value_t = 0)]
        after: u64,
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// Print a person's log extract: which organisations saw or received what about them, when,
    /// and on what basis (CSV, or JSON with --json).
    Extract {
        /// Personnummer, samordningsnummer or reserve number.
        #[arg(long)]
        person: String,
        #[arg(long)]
        json: bool,
    },
}

/// Runs the command; the error, if any, is for the user's eyes.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    // The receiver needs no settings: it stands in for another organisation's system.
    if let Command::Receive {
        listen,
        bodies,
        store,
    } = cli.command
    {
        return Ok(crate::http::receive(listen, bodies, store).await?);
    }
    if let Command::Dialect {
        command: DialectCommand::Check { folder, fields },
    } = &cli.command
    {
        return dialect_check(folder, *fields);
    }
    let settings = Settings::load(&cli.config)?;
    match cli.command {
        Command::Serve => {
            let instance = settings
                .delivery
                .instance_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let _traces = telemetry::init_serving(&settings.log, &settings.traces, &instance)?;
            let app = Application::build(settings).await?;
            app.run_until(crate::http::shutdown_signal()).await
        }
        Command::Migrate { dry_run } => migrate(&settings, dry_run).await,
        Command::Translate { from, to, file } => translate_file(&settings, &from, &to, &file),
        Command::Stats {
            from,
            to,
            organisation,
        } => stats(&settings, from, to, organisation).await,
        Command::Audit { command } => audit(&settings, command).await,
        Command::Deviations {
            command:
                DeviationsCommand::Export {
                    deidentified,
                    from,
                    to,
                    format,
                },
        } => deviations_export(&settings, deidentified, from, to, &format).await,
        Command::Protection { command } => protection(&settings, command).await,
        Command::User {
            command:
                UserCommand::Add {
                    username,
                    name,
                    organisation,
                    role,
                    county_statistics,
                },
        } => user_add(
            &settings,
            &username,
            &name,
            &organisation,
            &role,
            county_statistics,
        ),
        Command::Replay {
            paths,
            junit,
            target,
            client,
            key,
            kid,
            receivers,
            real_time,
        } => {
            let target = match target {
                None => None,
                Some(base) => {
                    let base = base.trim_end_matches('/').to_owned();
                    let (Some(client), Some(key)) = (client, key) else {
                        anyhow::bail!(
                            "--target needs --client and --key: the client the messages are sent as"
                        );
                    };
                    let token = crate::auth::request_token(
                        &format!("{base}/auth/token"),
                        &client,
                        &key,
                        kid.as_deref(),
                        None,
                    )
                    .await?;
                    Some(crate::replay::Target {
                        base,
                        token,
                        receivers,
                        real_time,
                    })
                }
            };
            replay(&settings, &paths, junit.as_deref(), target.as_ref()).await
        }
        Command::Conformance {
            scenarios,
            root,
            out,
            html,
        } => conformance(&settings, &scenarios, &root, out.as_deref(), html).await,
        Command::Redeliver {
            id,
            dead,
            subscription,
        } => redeliver(&settings, id, dead, subscription).await,
        Command::Backup { to } => backup(&settings, &to).await,
        Command::Restore { from } => restore(&settings, &from).await,
        Command::Token {
            client,
            key,
            kid,
            url,
            scope,
        } => {
            let url = url.unwrap_or_else(|| settings.token_url());
            let token =
                crate::auth::request_token(&url, &client, &key, kid.as_deref(), scope.as_deref())
                    .await?;
            println!("{token}");
            Ok(())
        }
        Command::Receive { .. } | Command::Dialect { .. } => {
            unreachable!("`receive` and `dialect` run before the settings are read")
        }
        Command::CheckConfig => check_config(&settings),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn passwords_in_database_urls_are_hidden() {
        assert_eq!(
            redact_password("postgres://brygga:s3cret@db:5432/brygga"),
            "postgres://brygga:***@db:5432/brygga"
        );
        assert_eq!(
            redact_password("postgres://brygga@db/brygga"),
            "postgres://brygga@db/brygga"
        );
        assert_eq!(
            redact_password("sqlite://data/brygga.db"),
            "sqlite://data/brygga.db"
        );
    }
}
