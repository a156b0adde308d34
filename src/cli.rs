//! The command line: `serve`, `migrate`, `check-config`, `translate`, `stats`, `replay`,
//! `conformance`, `redeliver`, `audit`, `token` and `receive`.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::clock::Clock;
use crate::config::{DEFAULT_CONFIG_PATH, Settings};
use crate::formats::translate::{Format, translate};
use crate::startup::Application;
use crate::store::Store;
use crate::telemetry;

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
    Migrate,
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
    let settings = Settings::load(&cli.config)?;
    match cli.command {
        Command::Serve => {
            telemetry::init(&settings.log);
            let app = Application::build(settings).await?;
            app.run_until(crate::http::shutdown_signal()).await
        }
        Command::Migrate => {
            telemetry::init(&settings.log);
            let store = Store::connect(&settings.database.url, 1).await?;
            store.migrate().await?;
            let readiness = store.readiness().await?;
            println!(
                "{}: {} of {} migrations applied",
                store.backend().as_str(),
                readiness.applied_migrations,
                readiness.known_migrations
            );
            store.close().await;
            Ok(())
        }
        Command::Translate { from, to, file } => {
            let from: Format = from.parse().map_err(anyhow::Error::msg)?;
            let to: Format = to.parse().map_err(anyhow::Error::msg)?;
            let input = if file.as_os_str() == "-" {
                let mut buffer = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut buffer)?;
                buffer
            } else {
                std::fs::read(&file)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?
            };
            let mappings = settings.load_mappings()?;
            let translation = translate(&from, &to, &input, &mappings, Clock::System.today())
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            for warning in &translation.warnings {
                eprintln!("warning: {warning}");
            }
            print!("{}", translation.output);
            Ok(())
        }
        Command::Stats {
            from,
            to,
            organisation,
        } => {
            use crate::pipeline::stats::{for_period, for_period_of};
            use crate::process::stats::{self, Release};
            let (first, next) = stats::this_month(Clock::System.today());
            let (from, to) = (from.unwrap_or(first), to.unwrap_or(next));
            let store = ready_store(&settings).await?;
            let directory = &settings.directory;
            let release = match organisation {
                None => Release::county(
                    for_period(&store, from, to).await?,
                    settings.statistics.suppress_below,
                ),
                Some(code) => {
                    let organisation = crate::domain::party::Organisation::parse(&code)
                        .map_err(|e| anyhow::anyhow!("--organisation {code:?}: {e}"))?;
                    if !directory.has_organisation(&organisation) {
                        anyhow::bail!(
                            "--organisation {code:?}: not a region or municipality of the organisation directory"
                        );
                    }
                    let computed = for_period_of(&store, from, to, |case| {
                        crate::decide::parties::participates(case, &organisation, directory)
                    })
                    .await?;
                    Release::organisation(computed, |unit| {
                        stats::belongs_to(unit, &organisation, directory)
                    })
                }
            };
            print!("{}", release.to_csv());
            store.close().await;
            Ok(())
        }
        Command::Audit { command } => audit(&settings, command).await,
        Command::Protection { command } => protection(&settings, command).await,
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
        } => {
            let report = crate::conformance::build(&settings, &root, &scenarios).await?;
            let text = if html {
                crate::conformance::html(&report)
            } else {
                crate::conformance::markdown(&report)
            };
            match out {
                Some(file) => std::fs::write(&file, text)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?,
                None => print!("{text}"),
            }
            if !report.passed() {
                anyhow::bail!("the conformance report has failures");
            }
            Ok(())
        }
        Command::Redeliver {
            id,
            dead,
            subscription,
        } => redeliver(&settings, id, dead, subscription).await,
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
        Command::Receive { .. } => unreachable!("`receive` runs before the settings are read"),
        Command::CheckConfig => {
            let mappings = settings.load_mappings()?;
            settings
                .subscriptions
                .check_formats(&mappings)
                .map_err(anyhow::Error::msg)?;
            let d = &settings.directory;
            let region_units: usize = d.regions.iter().map(|r| r.units.len()).sum();
            let municipal_units: usize = d.municipalities.iter().map(|m| m.units.len()).sum();
            println!("{}: configuration is valid", settings.source.display());
            println!(
                "  listen:         {}{}",
                settings.server.listen,
                match &settings.server.tls {
                    None => String::new(),
                    Some(tls) => {
                        crate::http::server_config(tls, |p| settings.resolve(p))
                            .map_err(anyhow::Error::msg)?;
                        if tls.client_ca_file.is_some() {
                            " (HTTPS, client certificates accepted)".to_owned()
                        } else {
                            " (HTTPS)".to_owned()
                        }
                    }
                }
            );
            println!(
                "  database:       {}",
                redact_password(&settings.database.url)
            );
            println!(
                "  regions:        {} ({} units)",
                d.regions.len(),
                region_units
            );
            println!(
                "  municipalities: {} ({} units)",
                d.municipalities.len(),
                municipal_units
            );
            println!("  mappings:       {}", settings.mappings_path().display());
            let policies = &mappings.policies;
            println!(
                "  policies:       {} (default), {}",
                policies.default.id,
                if policies.agreements.is_empty() {
                    "no agreements".to_owned()
                } else {
                    policies
                        .agreements
                        .iter()
                        .map(|p| {
                            format!(
                                "{} ({} municipalities, {} agreement clocks)",
                                p.id,
                                p.municipalities.len(),
                                p.clocks.len()
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
            println!(
                "  clients:        {}",
                if settings.clients.is_empty() {
                    "none (every protected endpoint answers 401)".to_owned()
                } else {
                    settings
                        .clients
                        .iter()
                        .map(|c| format!("{} ({})", c.client_id, c.organisation))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
            println!(
                "  subscriptions:  {}",
                if settings.subscriptions.0.is_empty() {
                    "none (nothing is delivered)".to_owned()
                } else {
                    settings
                        .subscriptions
                        .0
                        .iter()
                        .map(|s| format!("{} ({}, {})", s.id, s.organisation, s.format))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
            check_dialects(&mappings, &settings.mappings_path().join("municipal"))
        }
    }
}

async fn ready_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::connect(&settings.database.url, 2).await?;
    let readiness = store.readiness().await?;
    if !readiness.is_ready() {
        anyhow::bail!(
            "the database has {} of {} migrations applied; run brygga migrate first",
            readiness.applied_migrations,
            readiness.known_migrations
        );
    }
    Ok(store)
}

async fn redeliver(
    settings: &Settings,
    mut ids: Vec<i64>,
    dead: bool,
    subscription: Option<String>,
) -> anyhow::Result<()> {
    if ids.is_empty() && !dead {
        anyhow::bail!("name deliveries with --id, or give --dead for every dead-lettered one");
    }
    let store = ready_store(settings).await?;
    if dead {
        let mut after = 0;
        loop {
            let page = store
                .deliveries(&crate::store::DeliveryQuery {
                    status: Some("dead".to_owned()),
                    subscriptions: subscription.iter().cloned().collect(),
                    case_id: None,
                    after,
                    limit: 1000,
                })
                .await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            ids.extend(page.iter().map(|r| r.id));
        }
    }
    let now = Clock::System.now();
    let (mut done, mut skipped) = (0, 0);
    for id in ids {
        let entry = crate::changes::AuditEntry {
            actor: "operator".to_owned(),
            organisation: None,
            action: "redeliver".to_owned(),
            person: None,
            purpose: "leverans".to_owned(),
            legal_basis: None,
            details: serde_json::json!({ "delivery": id }),
        };
        if store.redeliver(id, now, &entry).await? {
            done += 1;
        } else {
            eprintln!("delivery {id} is not dead-lettered (or does not exist); left as it is");
            skipped += 1;
        }
    }
    println!("{done} deliveries back in the queue, {skipped} left as they were");
    store.close().await;
    Ok(())
}

async fn protection(settings: &Settings, command: ProtectionCommand) -> anyhow::Result<()> {
    let store = ready_store(settings).await?;
    let today = Clock::System.today();
    let parse = |text: &str| {
        crate::domain::identifiers::PersonId::parse_any(text, today).ok_or_else(|| {
            anyhow::anyhow!("--person: not a personnummer, samordningsnummer or reserve number")
        })
    };
    let result = match command {
        ProtectionCommand::Show { person } => {
            let person = parse(&person)?;
            if store.person_protected(&person).await? {
                println!("protected: no address or other locating data is disclosed");
            } else {
                println!("not protected");
            }
            Ok(())
        }
        ProtectionCommand::Lift { person, reason } => {
            let person = parse(&person)?;
            if reason.trim().is_empty() {
                anyhow::bail!("--reason: say why the protection no longer applies");
            }
            let entry = crate::changes::AuditEntry {
                actor: "brygga protection lift".to_owned(),
                organisation: None,
                action: "lift protected identity".to_owned(),
                person: Some(person.clone()),
                purpose: "skyddad identitet".to_owned(),
                legal_basis: None,
                details: serde_json::json!({ "reason": reason }),
            };
            if store
                .lift_protection(&person, "operator", Clock::System.now(), &entry)
                .await?
            {
                println!("lifted: the person's identity is no longer protected");
            } else {
                println!("the person's identity was not protected; nothing changed");
            }
            Ok(())
        }
    };
    store.close().await;
    result
}

async fn audit(settings: &Settings, command: AuditCommand) -> anyhow::Result<()> {
    let store = ready_store(settings).await?;
    let result = match command {
        AuditCommand::Verify {
            checkpoints,
            public_key,
        } => {
            let trusted = match &public_key {
                Some(path) => {
                    Some(crate::anchor::TrustedKey::load(path).map_err(anyhow::Error::msg)?)
                }
                None => settings.anchor_key()?.map(|key| key.trusted()),
            };
            let mut read = Vec::new();
            for path in &checkpoints {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                let checkpoint: crate::anchor::Checkpoint = serde_json::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("{}: not a checkpoint: {e}", path.display()))?;
                read.push((path.display().to_string(), checkpoint));
            }
            let verification = crate::audit::verify(
                &store,
                &read,
                trusted.as_ref(),
                settings.retention.audit_days > 0,
            )
            .await?;
            let report = &verification.chain;
            if verification.problems.is_empty() {
                println!(
                    "the audit log is intact: {} records, head {}",
                    report.records, report.head_hash
                );
                if report.anchor > 0 {
                    println!(
                        "  records 1 to {} were deleted after their retention; the chain verifies from the last one's hash",
                        report.anchor
                    );
                }
                if !read.is_empty() {
                    println!(
                        "  {} signed checkpoint(s) verified: the log holds what each saw",
                        read.len()
                    );
                }
                Ok(())
            } else {
                for problem in &verification.problems {
                    eprintln!("audit log: {problem}");
                }
                Err(anyhow::anyhow!(
                    "the audit log does not verify: {} problem(s) ({} records read)",
                    verification.problems.len(),
                    report.records
                ))
            }
        }
        AuditCommand::Anchor { out } => {
            let key = settings.anchor_key()?.ok_or_else(|| {
                anyhow::anyhow!("audit.anchor_key_file is not set: there is no key to sign with")
            })?;
            let ((head_seq, head_hash), (anchor_seq, anchor_hash)) =
                store.audit_head_and_anchor().await?;
            let checkpoint = key.sign(
                (head_seq, &head_hash),
                (anchor_seq, &anchor_hash),
                Clock::System.now(),
            );
            store.record_checkpoint(&checkpoint).await?;
            let text = serde_json::to_string_pretty(&checkpoint)? + "\n";
            match out {
                Some(path) => {
                    std::fs::write(&path, text)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                    eprintln!(
                        "checkpoint of record {head_seq} written to {}",
                        path.display()
                    );
                }
                None => print!("{text}"),
            }
            Ok(())
        }
        AuditCommand::Export { after, limit } => {
            let records = store
                .audit_records(&crate::store::AuditQuery {
                    after,
                    limit,
                    ..Default::default()
                })
                .await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&crate::audit::audit_bundle(&records))?
            );
            Ok(())
        }
        AuditCommand::Extract { person, json } => {
            let person = crate::domain::identifiers::PersonId::parse_any(
                &person,
                Clock::System.today(),
            )
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "--person is not a valid personnummer, samordningsnummer or reserve number"
                )
            })?;
            let records = store.audit_for_person(&person).await?;
            let lines = crate::audit::extract(&records, &settings.directory);
            if json {
                println!("{}", serde_json::to_string_pretty(&lines)?);
            } else {
                println!("at,organisation,organisation_name,actor,what,why,legal_basis");
                for l in lines {
                    let field = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
                    println!(
                        "{},{},{},{},{},{},{}",
                        l.at,
                        l.organisation.as_deref().unwrap_or(""),
                        field(l.organisation_name.as_deref().unwrap_or("")),
                        field(&l.actor),
                        field(&l.what),
                        field(&l.why),
                        field(l.legal_basis.as_deref().unwrap_or(""))
                    );
                }
            }
            Ok(())
        }
    };
    store.close().await;
    result
}

/// `brygga replay`: every scenario, one after the other, and the reports.
async fn replay(
    settings: &Settings,
    paths: &[PathBuf],
    junit: Option<&Path>,
    target: Option<&crate::replay::Target>,
) -> anyhow::Result<()> {
    let mut files = Vec::new();
    for path in paths {
        files.extend(crate::replay::scenario_files(path).map_err(anyhow::Error::msg)?);
    }
    // Every scenario is read before any runs: a mistake in the last is found at once.
    let scenarios = files
        .iter()
        .map(|file| crate::replay::load(file))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let mut reports = Vec::new();
    if let Some(target) = target {
        let mappings = settings.load_mappings()?;
        for scenario in &scenarios {
            eprintln!(
                "{} against {}: deliveries are captured at http://{}/<organisation>",
                scenario.path.display(),
                target.base,
                target.receivers
            );
            reports.push(crate::replay::run_remote(scenario, target, &mappings).await);
        }
        return finish(&reports, junit);
    }
    // On a terminal, one line that follows the steps; otherwise a line per scenario.
    let live = std::io::IsTerminal::is_terminal(&std::io::stderr());
    for (n, scenario) in scenarios.iter().enumerate() {
        let head = format!(
            "[{}/{}] {}",
            n + 1,
            scenarios.len(),
            scenario.path.display()
        );
        let steps = scenario.steps.len();
        let progress = |index: usize, title: &str| {
            if live {
                let filled = (index * 20) / steps.max(1);
                eprint!(
                    "\r\x1b[2K{head} [{}{}] {title}",
                    "#".repeat(filled),
                    ".".repeat(20 - filled)
                );
            }
        };
        if !live {
            eprintln!("{head} …");
        }
        let report = crate::replay::run_with_progress(scenario, settings, &progress).await;
        if live {
            eprintln!(
                "\r\x1b[2K{head} {}",
                if report.passed() { "passed" } else { "FAILED" }
            );
        }
        reports.push(report);
    }
    finish(&reports, junit)
}

/// Prints the replay's report, writes the JUnit file, and fails if any scenario did.
fn finish(reports: &[crate::replay::ScenarioReport], junit: Option<&Path>) -> anyhow::Result<()> {
    print!("{}", crate::replay::text(reports));
    if let Some(file) = junit {
        std::fs::write(file, crate::replay::junit(reports))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
    }
    let failed = reports.iter().filter(|r| !r.passed()).count();
    if failed > 0 {
        anyhow::bail!("{failed} of {} scenarios failed", reports.len());
    }
    Ok(())
}

/// Lists the municipal dialects and reads each one's examples with it, so that a changed
/// mapping is checked against the documents it must read; an example that fails is an error.
fn check_dialects(
    mappings: &crate::formats::Mappings,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    let today = Clock::System.today();
    let mut problems = Vec::new();
    if mappings.municipal.is_empty() {
        println!("  municipal:      no dialects");
    }
    for dialect in mappings.municipal.iter() {
        let inbound = dialect
            .kinds
            .iter()
            .filter(|k| k.direction.inbound())
            .count();
        let mut examples: Vec<_> = std::fs::read_dir(dir.join(&dialect.name).join("examples"))
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "xml"))
                    .collect()
            })
            .unwrap_or_default();
        examples.sort();
        for example in &examples {
            let bytes = std::fs::read(example)?;
            match crate::formats::municipal::decode(dialect, &bytes, today) {
                Ok(decoded) => problems.extend(
                    decoded
                        .warnings
                        .iter()
                        .map(|w| format!("{}: {w}", example.display())),
                ),
                Err(e) => problems.push(format!("{}: {e}", example.display())),
            }
        }
        println!(
            "  municipal:      {} ({} message kinds, {inbound} accepted from the municipality; {} examples read)",
            dialect.name,
            dialect.kinds.len(),
            examples.len()
        );
    }
    if problems.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} dialect example(s) do not read cleanly:\n{}",
            problems.len(),
            problems.join("\n")
        )
    }
}

/// Hides the password of a database URL.
fn redact_password(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}://{user}:***{}", &url[..scheme], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
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
