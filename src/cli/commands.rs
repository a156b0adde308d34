//! What each command does, once `run` has read the settings.

use std::path::Path;

use super::*;

/// `brygga migrate`: applies pending migrations and says how many are applied.
pub(super) async fn migrate(settings: &Settings, dry_run: bool) -> anyhow::Result<()> {
    telemetry::init(&settings.log);
    let store = Store::connect(&settings.database.url, 1).await?;
    if dry_run {
        let pending = store.pending_migrations().await?;
        if pending.is_empty() {
            println!("{}: nothing to apply", store.backend().as_str());
        }
        for (version, description) in pending {
            println!("would apply {version} {description}");
        }
        let readiness = store.readiness().await?;
        if !readiness.newer_migrations.is_empty() {
            println!(
                "the database carries migrations newer than this build: {:?}",
                readiness.newer_migrations
            );
        }
        if let Some(problem) = readiness.too_old() {
            println!("{problem}");
        }
        store.close().await;
        return Ok(());
    }
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

/// `brygga translate`: a file (or stdin, `-`) from one format to another, warnings on stderr.
pub(super) fn translate_file(
    settings: &Settings,
    from: &str,
    to: &str,
    file: &Path,
) -> anyhow::Result<()> {
    let from: Format = from.parse().map_err(anyhow::Error::msg)?;
    let to: Format = to.parse().map_err(anyhow::Error::msg)?;
    let input = if file.as_os_str() == "-" {
        let mut buffer = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buffer)?;
        buffer
    } else {
        std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?
    };
    let mappings = settings.load_mappings()?;
    let translation = translate(&from, &to, &input, &mappings, Clock::System.today())
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    for warning in &translation.warnings {
        eprintln!("warning: {warning}");
    }
    // As it is sent: a municipal dialect's documents in the encoding it writes.
    let (bytes, _) = crate::formats::translate::sent(&to, translation.output, &mappings)?;
    std::io::Write::write_all(&mut std::io::stdout().lock(), &bytes)?;
    Ok(())
}

/// `brygga stats`: the follow-up statistics of a period as CSV, for the county or one
/// organisation.
pub(super) async fn stats(
    settings: &Settings,
    from: Option<jiff::civil::Date>,
    to: Option<jiff::civil::Date>,
    organisation: Option<String>,
) -> anyhow::Result<()> {
    use crate::pipeline::stats::{Scope, release};
    use crate::process::stats;
    let (first, next) = stats::this_month(Clock::System.today());
    let (from, to) = (from.unwrap_or(first), to.unwrap_or(next));
    let store = ready_store(settings).await?;
    let directory = &settings.directory;
    let organisation = match organisation {
        None => None,
        Some(code) => {
            let organisation = crate::domain::party::Organisation::parse(&code)
                .map_err(|e| anyhow::anyhow!("--organisation {code:?}: {e}"))?;
            if !directory.has_organisation(&organisation) {
                anyhow::bail!(
                    "--organisation {code:?}: not a region or municipality of the organisation directory"
                );
            }
            Some(organisation)
        }
    };
    let scope = match &organisation {
        None => Scope::County {
            suppress_below: settings.statistics.suppress_below,
        },
        Some(organisation) => Scope::Organisation(organisation),
    };
    let projection = crate::pipeline::projection::StatsProjection::new();
    let release = release(&projection, &store, directory, scope, from, to).await?;
    print!("{}", release.to_csv());
    store.close().await;
    Ok(())
}

/// `brygga deviations export --deidentified`: the deviations of a period for the county
/// forums, as CSV or JSON on standard output.
pub(super) async fn deviations_export(
    settings: &Settings,
    deidentified: bool,
    from: Option<jiff::civil::Date>,
    to: Option<jiff::civil::Date>,
    format: &str,
) -> anyhow::Result<()> {
    if !deidentified {
        anyhow::bail!(
            "only a de-identified export is offered (the forums see no personal data): add --deidentified"
        );
    }
    if format != "csv" && format != "json" {
        anyhow::bail!("--format {format:?}: csv or json");
    }
    let key = settings.pseudonym_key()?;
    let (first, next) = crate::process::stats::this_month(Clock::System.today());
    let (from, to) = (from.unwrap_or(first), to.unwrap_or(next));
    let store = ready_store(settings).await?;
    let rows = crate::pipeline::stats::forum_for_period(&store, from, to, &key).await?;
    if format == "json" {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", crate::process::stats::forum::forum_csv(&rows));
    }
    store.close().await;
    Ok(())
}

/// `brygga conformance`: the conformance report, as Markdown or HTML; fails when it has
/// failures.
pub(super) async fn conformance(
    settings: &Settings,
    scenarios: &Path,
    root: &Path,
    out: Option<&Path>,
    html: bool,
) -> anyhow::Result<()> {
    let report = crate::conformance::build(settings, root, scenarios).await?;
    let text = if html {
        crate::conformance::html(&report)
    } else {
        crate::conformance::markdown(&report)
    };
    match out {
        Some(file) => std::fs::write(file, text)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?,
        None => print!("{text}"),
    }
    if !report.passed() {
        anyhow::bail!("the conformance report has failures");
    }
    Ok(())
}

/// `brygga check-config`: reads and checks every configuration file and mapping, and
/// prints what it found.
pub(super) fn check_config(settings: &Settings) -> anyhow::Result<()> {
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
                crate::http::server_config(tls, settings.riv.trust_anchors_file.as_deref(), |p| {
                    settings.resolve(p)
                })
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
    // Paths in the settings are relative to the settings file's folder (environment
    // variables such as BRYGGA_MAPPINGS_DIR too): shown resolved.
    let resolved = |path: std::path::PathBuf| {
        std::fs::canonicalize(&path)
            .unwrap_or(path)
            .display()
            .to_string()
    };
    println!(
        "  organisations:  {}",
        resolved(settings.resolve(&settings.organisations_file))
    );
    println!("  mappings:       {}", resolved(settings.mappings_path()));
    println!(
        "  public URL:     {}{}",
        settings
            .server
            .public_base_url
            .clone()
            .unwrap_or_else(|| format!(
                "{}://{} (server.listen; set server.public_base_url for clients elsewhere)",
                if settings.server.tls.is_some() {
                    "https"
                } else {
                    "http"
                },
                settings.server.listen
            )),
        if settings.server.trusted_proxies.is_empty() {
            String::new()
        } else {
            format!(
                ", or as proxies at {} say",
                settings.server.trusted_proxies.join(", ")
            )
        }
    );
    println!("  token endpoint: {}", settings.token_url());
    println!(
        "  console:        /console, {} account(s){}",
        settings.accounts.len(),
        if settings.accounts.is_empty() {
            " (add one with `brygga user add`)"
        } else {
            ""
        }
    );
    println!(
        "  GetCarePlans 2: {}",
        match settings.riv.producer() {
            None => "not served (riv.hsa_id unset)".to_owned(),
            Some(producer) => format!(
                "served at {} as {producer} to {} registered consumer(s){}",
                crate::http::RIV_PATH,
                settings
                    .clients
                    .iter()
                    .filter(|c| c.hsa_id.is_some())
                    .count(),
                if settings.server.tls.is_none() {
                    "; none can call until [server.tls] is configured (mutual TLS)"
                } else {
                    ""
                }
            ),
        }
    );
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
    check_dialects(&mappings)
}

pub(super) async fn ready_store(settings: &Settings) -> anyhow::Result<Store> {
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

/// `brygga backup --to FILE`.
pub(super) async fn backup(settings: &Settings, to: &std::path::Path) -> anyhow::Result<()> {
    if to.exists() {
        anyhow::bail!(
            "{} exists already; a backup is written to a new file",
            to.display()
        );
    }
    if let Some(folder) = to
        .parent()
        .filter(|f| !f.as_os_str().is_empty() && !f.is_dir())
    {
        anyhow::bail!(
            "the folder {} does not exist; create it, or write the backup elsewhere",
            folder.display()
        );
    }
    let store = ready_store(settings).await?;
    store.backup_to(to).await?;
    let bytes = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    println!("backed up to {} ({bytes} bytes)", to.display());
    Ok(())
}

/// The file of an embedded database URL (`sqlite://path`, `sqlite:path`).
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

/// `brygga restore --from FILE`: the backup checked (it opens, its migrations are this
/// version's, its audit chain holds), then copied in place of a database that does not exist.
pub(super) async fn restore(settings: &Settings, from: &std::path::Path) -> anyhow::Result<()> {
    let Some(target) = sqlite_file(&settings.database.url) else {
        anyhow::bail!(
            "brygga restore puts an SQLite backup in place; database.url is not an SQLite file (PostgreSQL: pg_restore, deploy/README.md)"
        );
    };
    if target.exists() {
        anyhow::bail!(
            "{} exists: stop the gateway and move the current database away before restoring over it",
            target.display()
        );
    }
    if !from.is_file() {
        anyhow::bail!("{} is not a backup file", from.display());
    }
    // Every SQLite database starts so; anything else is no backup of this gateway.
    let mut header = [0u8; 16];
    let is_sqlite = std::fs::File::open(from)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header))
        .is_ok()
        && header == *b"SQLite format 3\0";
    if !is_sqlite {
        anyhow::bail!(
            "{} is not an SQLite database (a backup made by `brygga backup`)",
            from.display()
        );
    }
    // Checked in a copy beside the target, so that nothing is put in place half-checked.
    let staging = target.with_extension("restoring");
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::copy(from, &staging)?;
    let checked = async {
        let store = Store::connect(&format!("sqlite://{}", staging.display()), 1).await?;
        let readiness = store.readiness().await?;
        if !readiness.is_ready() {
            anyhow::bail!(
                "the backup has {} of this version's {} migrations; restore it with the version that made it, then migrate",
                readiness.applied_migrations,
                readiness.known_migrations
            );
        }
        let chain = store.verify_audit_chain().await?;
        if !chain.is_intact() {
            anyhow::bail!("the backup's audit chain does not hold: {chain:?}");
        }
        let counts = store.table_counts().await?;
        store.close().await;
        anyhow::Ok(counts)
    }
    .await;
    let counts = match checked {
        Ok(counts) => counts,
        Err(error) => {
            let _ = std::fs::remove_file(&staging);
            return Err(error);
        }
    };
    std::fs::rename(&staging, &target)?;
    let cases = counts
        .iter()
        .find(|(t, _)| *t == "cases")
        .map_or(0, |(_, n)| *n);
    let events = counts
        .iter()
        .find(|(t, _)| *t == "events")
        .map_or(0, |(_, n)| *n);
    println!(
        "restored {} from {}: {cases} cases, {events} events, the audit chain intact",
        target.display(),
        from.display()
    );
    Ok(())
}

pub(super) async fn redeliver(
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

pub(super) async fn protection(
    settings: &Settings,
    command: ProtectionCommand,
) -> anyhow::Result<()> {
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

pub(super) async fn audit(settings: &Settings, command: AuditCommand) -> anyhow::Result<()> {
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
pub(super) async fn replay(
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
pub(super) fn finish(
    reports: &[crate::replay::ScenarioReport],
    junit: Option<&Path>,
) -> anyhow::Result<()> {
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

/// Lists the municipal dialects with the examples each read when it was loaded (loading
/// refuses a dialect whose examples do not read cleanly or do not survive being written back
/// and read again, for `serve` as here).
pub(super) fn check_dialects(mappings: &crate::formats::Mappings) -> anyhow::Result<()> {
    if mappings.municipal.is_empty() {
        println!("  municipal:      no dialects");
    }
    for dialect in mappings.municipal.iter() {
        let (all, inbound) = kind_counts(dialect);
        println!(
            "  municipal:      {} ({all} message kinds, {inbound} accepted from the municipality; {} examples read{}{})",
            dialect.name,
            dialect.examples_read,
            numbering(dialect),
            written_in(dialect)
        );
    }
    Ok(())
}

/// How many message kinds a dialect has, and how many of them the municipality may send.
fn kind_counts(dialect: &crate::formats::municipal::Dialect) -> (usize, usize) {
    let inbound = dialect
        .kinds
        .iter()
        .filter(|k| k.direction.inbound())
        .count();
    (dialect.kinds.len(), inbound)
}

/// What `check-config` and `dialect check` say of a dialect without case numbering.
fn numbering(dialect: &crate::formats::municipal::Dialect) -> &'static str {
    match dialect.numbers_cases {
        true => "",
        false => "; messages without a case number are placed among the person's cases",
    }
}

/// What `check-config` and `dialect check` say of a dialect written in another encoding than
/// UTF-8.
fn written_in(dialect: &crate::formats::municipal::Dialect) -> String {
    if dialect.encoding.is_utf8() {
        String::new()
    } else {
        format!("; written in {}", dialect.encoding.label())
    }
}

/// Every leaf of `value` as `path = value`, in path order (list items by their index).
fn leaves(value: &serde_json::Value, at: &str, out: &mut Vec<String>) {
    let join = |key: &str| match at {
        "" => key.to_owned(),
        _ => format!("{at}.{key}"),
    };
    match value {
        serde_json::Value::Object(map) => map.iter().for_each(|(k, v)| leaves(v, &join(k), out)),
        serde_json::Value::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| leaves(v, &join(&i.to_string()), out)),
        _ => out.push(format!("{at} = {value}")),
    }
}

/// `brygga dialect check FOLDER`: the folder compiled, each example read, written back and
/// read again; one line per example, and what to look at where one fails; `fields`: every
/// canonical field each example was read into.
pub(super) fn dialect_check(folder: &std::path::Path, fields: bool) -> anyhow::Result<()> {
    let dialect = crate::formats::municipal::load_folder(folder)?;
    let checks = crate::formats::municipal::check_examples(&dialect, folder, Clock::System.today());
    let (all, inbound) = kind_counts(&dialect);
    println!(
        "{}: {all} message kinds ({inbound} accepted from the municipality), {} examples{}{}",
        dialect.name,
        checks.len(),
        numbering(&dialect),
        written_in(&dialect)
    );
    for check in &checks {
        let read_as = check
            .kind
            .as_ref()
            .map(|(kind, file)| format!(" {kind} ({file})"))
            .unwrap_or_default();
        println!(
            "  {:<5} {}:{read_as}",
            if check.passed() { "ok" } else { "FAIL" },
            check.file
        );
        if let Some(error) = &check.error {
            println!("          {error}");
        }
        if fields && let Some(read) = &check.read {
            let mut lines = Vec::new();
            leaves(read, "", &mut lines);
            for line in lines {
                println!("          read: {line}");
            }
        }
        for not_read in &check.not_read {
            println!("          not read: {not_read}");
        }
        if let Some(differs) = &check.differs {
            println!("          written back and read again, it differs at {differs}");
        }
    }
    let failed = checks.iter().filter(|c| !c.passed()).count();
    if checks.is_empty() {
        anyhow::bail!(
            "{}: no examples/*.xml to check the dialect against; add the vendor's documents",
            folder.display()
        );
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} examples failed", checks.len());
    }
    println!(
        "all {} examples read cleanly and read the same when written back",
        checks.len()
    );
    Ok(())
}

/// Hides the password of a database URL.
pub(super) fn redact_password(url: &str) -> String {
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

/// `brygga user add`: the password from standard input, the account written to the accounts
/// file.
pub(super) fn user_add(
    settings: &Settings,
    username: &str,
    name: &str,
    organisation: &str,
    role: &str,
    county_statistics: bool,
) -> anyhow::Result<()> {
    let role = crate::auth::Role::parse(role).map_err(|e| anyhow::anyhow!("--role: {e}"))?;
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .map_err(|e| anyhow::anyhow!("the password cannot be read from standard input: {e}"))?;
    let password = password.trim_end_matches(['\r', '\n']);
    let file = settings.resolve(
        settings
            .auth
            .accounts_file
            .as_deref()
            .unwrap_or(std::path::Path::new("accounts.toml")),
    );
    let replaced = crate::auth::add_account(
        &file,
        &settings.directory,
        crate::auth::NewAccount {
            username,
            name,
            organisation,
            role,
            county_statistics,
            password,
        },
    )
    .map_err(anyhow::Error::msg)?;
    println!(
        "{} account {username} ({}, {organisation}) in {}; the gateway reads it at its next start",
        if replaced { "replaced" } else { "added" },
        role.as_str(),
        file.display()
    );
    Ok(())
}
