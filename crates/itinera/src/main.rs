//! The `itinera` command: run the whole platform in one process, run one service, migrate, seed.
//! Every command loops over the registry of services (`itinera::registry`).

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::builder::PossibleValuesParser;
use clap::{Parser, Subcommand};
use itinera::registry;
use platform::config::{ConfigSource, LogSettings, Mode, RunMode, ServiceSpec};
use platform::events::bus::Disconnected;
use platform::events::{EventBus, MemoryBus};
use platform::service::{Entry, Instance};

#[derive(Parser)]
#[command(name = "itinera", version, about = "Itinera travel booking platform")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every service in this process, each on its own port with its own database, with the
    /// demo schedule and (in demo mode, the default here) demo users.
    Up {
        /// Do not create the demo administrator, operator and customer.
        #[arg(long)]
        no_demo_users: bool,
        /// Do not load the demo flight schedule.
        #[arg(long)]
        no_seed: bool,
        /// Instances of each service (the gateway balances them). Instance i of a service
        /// listens on its port plus 10·i (identity 5001, 5011, …).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=9))]
        instances: u16,
    },
    /// Run one service (in production mode unless ITINERA_MODE=demo).
    Serve {
        #[arg(value_parser = PossibleValuesParser::new(registry::names()))]
        service: String,
    },
    /// Create each service's database if needed and apply its migrations, then exit.
    Migrate {
        /// Only these services (default: all that have a database).
        #[arg(value_parser = PossibleValuesParser::new(registry::names()))]
        services: Vec<String>,
    },
    /// Load the demo flight schedule into the catalog if it has no flights; booking receives it
    /// the next time the platform runs.
    Seed,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let source = match ConfigSource::from_environment() {
        Ok(source) => source,
        Err(e) => return fail(&e.into()),
    };
    match LogSettings::load(&source) {
        Ok(log) => platform::telemetry::init(&log),
        Err(e) => return fail(&e.into()),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&e.into()),
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Up {
                no_demo_users,
                no_seed,
                instances,
            } => Box::pin(up(&source, !no_demo_users, !no_seed, instances)).await,
            Command::Serve { service } => serve(&source, &service).await,
            Command::Migrate { services } => migrate(&source, &services).await,
            Command::Seed => seed(&source).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(error: &anyhow::Error) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "itinera: {error:#}");
    ExitCode::from(2)
}

fn say(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// The configuration of instance `i` of a service: its ports moved by 10·i.
fn instance_source(
    source: &ConfigSource,
    spec: ServiceSpec,
    i: u16,
) -> anyhow::Result<ConfigSource> {
    if i == 0 {
        return Ok(source.clone());
    }
    // Port 0 (any free port) stays 0 for every instance.
    let shift = |port: u16| if port == 0 { 0 } else { port + 10 * i };
    let upper = spec.name.to_ascii_uppercase();
    let mut moved = source.clone();
    for (key, default) in [
        (format!("{upper}_PORT"), Some(spec.default_port)),
        (format!("{upper}_GRPC_PORT"), spec.grpc_port),
    ] {
        if let Some(base) = source.parse::<u16>(&key)?.or(default) {
            moved = moved.with(key, shift(base).to_string());
        }
    }
    Ok(moved)
}

/// Every topic the platform uses, created on the broker at start if missing.
const TOPICS: [&str; contracts::events::topics::ALL.len()] = contracts::events::topics::ALL;

/// An instance of a service in the start-up banner.
struct Listed {
    service: &'static str,
    urls: Vec<String>,
    notes: Vec<String>,
}

async fn up(
    source: &ConfigSource,
    demo_users: bool,
    demo_schedule: bool,
    instances: u16,
) -> anyhow::Result<()> {
    if instances > 1 && source.get("REDIS_URL").is_none() {
        anyhow::bail!(
            "--instances {instances} needs REDIS_URL: notification instances fan live updates out \
             to each other through Redis (scripts/up.sh sets it)"
        );
    }
    let mode = source.parse::<Mode>("ITINERA_MODE")?.unwrap_or(Mode::Demo);
    let demo_users = demo_users && mode.is_demo();
    let shutdown = platform::shutdown::on_signal();
    // Kafka when KAFKA_BROKERS is set; otherwise one in-process bus that every service subscribes
    // to while it is built, before any of them publishes.
    let memory: Arc<dyn EventBus> = Arc::new(MemoryBus::default());
    let mut source = source.clone().with("DEMO_USERS", demo_users.to_string());
    let mut running: Vec<(String, Box<dyn Instance>)> = Vec::new();
    let mut listed: Vec<Listed> = Vec::new();
    let mut announcements: Vec<String> = Vec::new();
    for i in 0..instances {
        for entry in registry::BACKENDS {
            let name = entry.spec.name;
            // The demo schedule is loaded once, by the first catalog.
            let own = instance_source(&source, entry.spec, i)?
                .with("DEMO_SCHEDULE", (demo_schedule && i == 0).to_string());
            let bus = transport(&entry, &own, &memory).await?;
            let instance = entry
                .build(&own, RunMode::AllInOne, bus)
                .await
                .with_context(|| format!("starting {name}"))?;
            // What one instance offers the services after it (identity: where its keys are).
            for (key, value) in instance.exported() {
                if source.get(key).is_none() {
                    source = source.with(key.as_str(), value.as_str());
                }
            }
            let url = format!("http://127.0.0.1:{}", instance.port());
            match listed.iter_mut().find(|l| l.service == name) {
                Some(l) => l.urls.push(url),
                None => listed.push(Listed {
                    service: name,
                    urls: vec![url],
                    notes: instance.notes().to_vec(),
                }),
            }
            for line in instance.announcements() {
                if !announcements.contains(line) {
                    announcements.push(line.clone());
                }
            }
            let label = if instances == 1 {
                name.to_owned()
            } else {
                format!("{name} {}", i + 1)
            };
            running.push((label, instance));
        }
    }
    // The gateway balances every instance (a service's own `<SERVICE>_UPSTREAMS` still wins).
    let mut gateway_source = source.clone();
    for l in &listed {
        let key = format!("{}_UPSTREAMS", l.service.to_ascii_uppercase());
        if source.get(&key).is_none() {
            gateway_source = gateway_source.with(key, l.urls.join(","));
        }
    }
    // Pages call the API through the gateway on behalf of browsers: the web service on this
    // machine is trusted to say which browser it calls for, so that rate limits count browsers.
    if source.get("GATEWAY_TRUSTED_PROXIES").is_none() {
        gateway_source = gateway_source.with("GATEWAY_TRUSTED_PROXIES", "127.0.0.1,::1");
    }
    let gateway = registry::GATEWAY
        .build(&gateway_source, RunMode::AllInOne, Arc::new(Disconnected))
        .await
        .context("starting gateway")?;
    let gateway_port = gateway.port();
    running.push(("gateway".into(), gateway));

    say(&format!(
        "Itinera is up in {mode} mode{}.",
        match mode {
            Mode::Demo => " (demo accounts and the sandbox card; loopback only)",
            Mode::Production => "",
        }
    ));
    say(&format!(
        "  Open http://127.0.0.1:{gateway_port}/ in a browser (the admin portal is at /admin)."
    ));
    say("Point curl at the gateway; each service also answers on its own port:");
    say(&format!("  gateway      http://127.0.0.1:{gateway_port}"));
    for l in &listed {
        let notes = if l.notes.is_empty() {
            String::new()
        } else {
            format!("   ({})", l.notes.join("; "))
        };
        say(&format!("  {:<12} {}{notes}", l.service, l.urls.join(", ")));
    }
    for line in &announcements {
        say(line);
    }
    say("Try:");
    say(&format!(
        "  curl -s 'http://127.0.0.1:{gateway_port}/api/flight/search-flights?from=Paris&to=London'"
    ));
    if demo_users {
        say(&format!(
            "  curl -s -X POST http://127.0.0.1:{gateway_port}/api/auth/login -H 'content-type: application/json' \
             -d '{{\"username\":\"demo\",\"password\":\"itinera-demo-1\"}}'"
        ));
    }
    say("Stop with Ctrl-C.");

    let mut tasks = tokio::task::JoinSet::new();
    for (name, instance) in running {
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            let result = instance
                .run_until_stopped(shutdown.clone())
                .await
                .with_context(|| format!("{name} stopped"));
            // One service failing stops the whole process.
            if result.is_err() {
                shutdown.cancel();
            }
            result
        });
    }
    let mut result = Ok(());
    while let Some(done) = tasks.join_next().await {
        let outcome = done.map_err(anyhow::Error::from).and_then(|r| r);
        if result.is_ok() {
            result = outcome;
        }
    }
    result
}

/// The event transport of one service of `itinera up`: Kafka when `KAFKA_BROKERS` is set,
/// otherwise the process's in-process bus.
async fn transport(
    entry: &Entry,
    source: &ConfigSource,
    memory: &Arc<dyn EventBus>,
) -> anyhow::Result<Arc<dyn EventBus>> {
    if !entry.has_database() {
        return Ok(Arc::new(Disconnected));
    }
    let settings = entry.settings(source, RunMode::AllInOne)?;
    Ok(platform::events::kafka_transport(&settings, &TOPICS)
        .await?
        .unwrap_or_else(|| memory.clone()))
}

/// The event transport of a service running alone: Kafka when `KAFKA_BROKERS` is set.
async fn standalone_transport(
    entry: &Entry,
    source: &ConfigSource,
) -> anyhow::Result<Arc<dyn EventBus>> {
    if !entry.has_database() {
        return Ok(Arc::new(Disconnected));
    }
    let settings = entry.settings(source, RunMode::Single)?;
    if let Some(bus) = platform::events::kafka_transport(&settings, &TOPICS).await? {
        return Ok(bus);
    }
    tracing::warn!(
        "running alone without KAFKA_BROKERS: events this service publishes wait in its outbox, \
         and it receives none; set KAFKA_BROKERS, or run `itinera up` for the whole platform"
    );
    Ok(Arc::new(Disconnected))
}

async fn serve(source: &ConfigSource, name: &str) -> anyhow::Result<()> {
    let entry = registry::find(name).with_context(|| format!("no service is called {name}"))?;
    let shutdown = platform::shutdown::on_signal();
    let bus = standalone_transport(&entry, source).await?;
    let instance = entry.build(source, RunMode::Single, bus).await?;
    let mode = entry.settings(source, RunMode::Single)?.mode;
    match instance.grpc_port() {
        0 => tracing::info!(port = instance.port(), %mode, "{name} listening"),
        grpc_port => {
            tracing::info!(port = instance.port(), grpc_port, %mode, "{name} listening");
        }
    }
    instance.run_until_stopped(shutdown).await
}

async fn migrate(source: &ConfigSource, names: &[String]) -> anyhow::Result<()> {
    let all = names.is_empty();
    let mode = if all {
        RunMode::AllInOne
    } else {
        RunMode::Single
    };
    for entry in registry::BACKENDS.into_iter().chain([registry::GATEWAY]) {
        let name = entry.spec.name;
        if !all && !names.iter().any(|n| n == name) {
            continue;
        }
        if entry.migrate(source, mode).await? {
            say(&format!("{name}: migrated"));
        } else if !all {
            say(&format!("{name}: has no database"));
        }
    }
    Ok(())
}

async fn seed(source: &ConfigSource) -> anyhow::Result<()> {
    let config = catalog::Config::load(source, RunMode::AllInOne)?;
    if catalog::load_demo_schedule(&config).await? {
        say("catalog: demo schedule loaded");
    } else {
        say("catalog: flights already exist; nothing loaded");
    }
    Ok(())
}
