//! The `itinera` command: run the whole platform in one process, run one service, migrate, seed.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use platform::auth::Role;
use platform::config::{ConfigSource, LogSettings, RunMode};
use platform::events::bus::Disconnected;
use platform::events::{EventBus, MemoryBus};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "itinera", version, about = "Itinera travel booking platform")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every service in this process, each on its own port with its own database, with the
    /// demo schedule and demo users.
    Up {
        /// Do not create the demo administrator and customer.
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
    /// Run one service.
    Serve { service: Service },
    /// Create each service's database if needed and apply its migrations, then exit.
    Migrate {
        /// Only these services (default: all that have a database).
        services: Vec<Service>,
    },
    /// Load the demo flight schedule into the catalog if it has no flights; booking receives it
    /// the next time the platform runs.
    Seed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Service {
    Identity,
    Catalog,
    Booking,
    Notification,
    Payment,
    Gateway,
}

const DEMO_ADMIN: (&str, &str) = ("admin", "itinera-admin-1");
const DEMO_OPS: (&str, &str) = ("ops", "itinera-ops-1");
const DEMO_CUSTOMER: (&str, &str) = ("demo", "itinera-demo-1");

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
            Command::Serve { service } => serve(&source, service).await,
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

/// The configuration of instance `i` of a service: its port (and identity's gRPC port) moved by
/// 10·i.
fn instance_source(
    source: &ConfigSource,
    service: &str,
    default_port: u16,
    i: u16,
) -> anyhow::Result<ConfigSource> {
    if i == 0 {
        return Ok(source.clone());
    }
    // Port 0 (any free port) stays 0 for every instance.
    let shift = |port: u16| if port == 0 { 0 } else { port + 10 * i };
    let key = format!("{}_PORT", service.to_ascii_uppercase());
    let base = source.parse::<u16>(&key)?.unwrap_or(default_port);
    let mut moved = source.clone().with(key, shift(base).to_string());
    if service == "identity" {
        let grpc = source
            .parse::<u16>("IDENTITY_GRPC_PORT")?
            .unwrap_or(identity::DEFAULT_GRPC_PORT);
        moved = moved.with("IDENTITY_GRPC_PORT", shift(grpc).to_string());
    }
    Ok(moved)
}

/// A service's running instances, ready to run.
type Running = Vec<(
    String,
    std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>,
)>;

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
    let shutdown = platform::shutdown::on_signal();
    // Kafka when KAFKA_BROKERS is set; otherwise one in-process bus that every service subscribes
    // to while it is built, before any of them publishes.
    let memory: Arc<dyn EventBus> = Arc::new(MemoryBus::default());
    let bus = async |settings: &platform::config::Settings| -> anyhow::Result<Arc<dyn EventBus>> {
        Ok(
            platform::events::kafka_transport(settings, &TOPICS, shutdown.clone())
                .await?
                .unwrap_or_else(|| memory.clone()),
        )
    };
    let mut source = source.clone();
    let source = &mut source;
    let mut running: Running = Vec::new();
    let mut urls: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    let mut demo = false;
    let mut seeded = false;
    let mut grpc_port = 0;
    for i in 0..instances {
        let name = |service: &str| {
            if instances == 1 {
                service.to_owned()
            } else {
                format!("{service} {}", i + 1)
            }
        };

        let mut config = identity::Config::load(
            &instance_source(source, "identity", identity::SERVICE.default_port, i)?,
            RunMode::AllInOne,
        )?;
        if i == 0 {
            demo = demo_users && config.bootstrap.is_empty();
        }
        if demo {
            for ((username, password), role) in [
                (DEMO_ADMIN, Role::Admin),
                (DEMO_OPS, Role::Ops),
                (DEMO_CUSTOMER, Role::Customer),
            ] {
                config.bootstrap.push(identity::BootstrapUser {
                    username: username.into(),
                    email: format!("{username}@itinera.local"),
                    password: password.into(),
                    role,
                });
            }
        }
        let app = identity::Application::build(config.clone(), bus(&config.settings).await?)
            .await
            .context("starting identity")?;
        if i == 0 {
            grpc_port = app.grpc_port();
            // Everyone else fetches the signing keys from the first identity instance (whose
            // port is only known now when it was 0).
            if source.get("JWT_JWKS_URL").is_none() {
                *source = source.clone().with(
                    "JWT_JWKS_URL",
                    format!("http://127.0.0.1:{}/.well-known/jwks.json", app.port()),
                );
            }
        }
        urls.entry("identity")
            .or_default()
            .push(format!("http://127.0.0.1:{}", app.port()));
        running.push((
            name("identity"),
            Box::pin(app.run_until_stopped(shutdown.clone())),
        ));

        let config = catalog::Config::load(
            &instance_source(source, "catalog", catalog::SERVICE.default_port, i)?,
            RunMode::AllInOne,
        )?;
        let app = catalog::Application::build(config.clone(), bus(&config.settings).await?)
            .await
            .context("starting catalog")?;
        if i == 0 && demo_schedule {
            seeded = app.seed_demo().await?;
        }
        urls.entry("catalog")
            .or_default()
            .push(format!("http://127.0.0.1:{}", app.port()));
        running.push((
            name("catalog"),
            Box::pin(app.run_until_stopped(shutdown.clone())),
        ));

        let config = booking::Config::load(
            &instance_source(source, "booking", booking::SERVICE.default_port, i)?,
            RunMode::AllInOne,
        )?;
        let app = booking::Application::build(config.clone(), bus(&config.settings).await?)
            .await
            .context("starting booking")?;
        urls.entry("booking")
            .or_default()
            .push(format!("http://127.0.0.1:{}", app.port()));
        running.push((
            name("booking"),
            Box::pin(app.run_until_stopped(shutdown.clone())),
        ));

        let config = notification::Config::load(
            &instance_source(
                source,
                "notification",
                notification::SERVICE.default_port,
                i,
            )?,
            RunMode::AllInOne,
        )?;
        let app = notification::Application::build(config.clone(), bus(&config.settings).await?)
            .await
            .context("starting notification")?;
        urls.entry("notification")
            .or_default()
            .push(format!("http://127.0.0.1:{}", app.port()));
        running.push((
            name("notification"),
            Box::pin(app.run_until_stopped(shutdown.clone())),
        ));

        let config = payment::Config::load(
            &instance_source(source, "payment", payment::SERVICE.default_port, i)?,
            RunMode::AllInOne,
        )?;
        let app = payment::Application::build(config.clone(), bus(&config.settings).await?)
            .await
            .context("starting payment")?;
        urls.entry("payment")
            .or_default()
            .push(format!("http://127.0.0.1:{}", app.port()));
        running.push((
            name("payment"),
            Box::pin(app.run_until_stopped(shutdown.clone())),
        ));
    }
    // The gateway balances every instance (a service's own `<SERVICE>_UPSTREAMS` still wins).
    let mut gateway_source = source.clone();
    for (service, list) in &urls {
        let key = format!("{}_UPSTREAMS", service.to_ascii_uppercase());
        if source.get(&key).is_none() {
            gateway_source = gateway_source.with(key, list.join(","));
        }
    }
    let gateway =
        gateway::Application::build(gateway::Config::load(&gateway_source, RunMode::AllInOne)?)
            .await
            .context("starting gateway")?;
    let gateway_port = gateway.port();
    running.push((
        "gateway".into(),
        Box::pin(gateway.run_until_stopped(shutdown.clone())),
    ));

    say("Itinera is up. Point a browser or curl at the gateway:");
    say(&format!("  gateway      http://127.0.0.1:{gateway_port}"));
    for (service, list) in &urls {
        let note = match *service {
            "identity" => format!("   (gRPC UserDirectory on 127.0.0.1:{grpc_port})"),
            "notification" => format!(
                "   (email: set SMTP_URL; live flight updates: Socket.IO at ws://127.0.0.1:{gateway_port}/socket.io/, SSE at /api/live/updates{})",
                if source.get("REDIS_URL").is_some() {
                    ", fanned out through Redis"
                } else {
                    ""
                }
            ),
            "payment" => "   (simulated card processor: 4242 4242 4242 4242 approves, 4000 0000 0000 0002 declines)".to_owned(),
            _ => String::new(),
        };
        say(&format!("  {service:<12} {}{note}", list.join(", ")));
    }
    if seeded {
        say(
            "Demo schedule loaded: 60 airports, flights for the next 30 days (booking receives them within seconds).",
        );
    }
    if demo {
        say(&format!(
            "Demo users (created on first start): {} / {} (admin), {} / {} (ops), {} / {} (customer)",
            DEMO_ADMIN.0, DEMO_ADMIN.1, DEMO_OPS.0, DEMO_OPS.1, DEMO_CUSTOMER.0, DEMO_CUSTOMER.1
        ));
    }
    say("Try:");
    say(&format!(
        "  curl -s 'http://127.0.0.1:{gateway_port}/api/flight/search-flights?from=Paris&to=London'"
    ));
    say(&format!(
        "  curl -s -X POST http://127.0.0.1:{gateway_port}/api/auth/login -H 'content-type: application/json' \
         -d '{{\"username\":\"{}\",\"password\":\"{}\"}}'",
        DEMO_CUSTOMER.0, DEMO_CUSTOMER.1
    ));
    say("Stop with Ctrl-C.");

    let mut tasks = tokio::task::JoinSet::new();
    for (name, service) in running {
        let shutdown = shutdown.clone();
        tasks.spawn(async move { run(&name, service, &shutdown).await });
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

/// Runs one service; if it stops with an error, the whole process shuts down.
async fn run(
    name: &str,
    service: impl Future<Output = anyhow::Result<()>>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let result = service.await.with_context(|| format!("{name} stopped"));
    if result.is_err() {
        shutdown.cancel();
    }
    result
}

/// Every topic the platform uses, created on the broker at start if missing.
const TOPICS: [&str; 4] = contracts::events::topics::ALL;

/// The event transport of a service running alone: Kafka when `KAFKA_BROKERS` is set.
async fn standalone_bus(
    settings: &platform::config::Settings,
    shutdown: &CancellationToken,
) -> anyhow::Result<Arc<dyn EventBus>> {
    if let Some(bus) =
        platform::events::kafka_transport(settings, &TOPICS, shutdown.clone()).await?
    {
        return Ok(bus);
    }
    tracing::warn!(
        "running alone without KAFKA_BROKERS: events this service publishes wait in its outbox, \
         and it receives none; set KAFKA_BROKERS, or run `itinera up` for the whole platform"
    );
    Ok(Arc::new(Disconnected))
}

async fn serve(source: &ConfigSource, service: Service) -> anyhow::Result<()> {
    let shutdown = platform::shutdown::on_signal();
    match service {
        Service::Identity => {
            let config = identity::Config::load(source, RunMode::Single)?;
            let bus = standalone_bus(&config.settings, &shutdown).await?;
            let app = identity::Application::build(config, bus).await?;
            tracing::info!(
                port = app.port(),
                grpc_port = app.grpc_port(),
                "identity listening"
            );
            app.run_until_stopped(shutdown).await
        }
        Service::Catalog => {
            let config = catalog::Config::load(source, RunMode::Single)?;
            let bus = standalone_bus(&config.settings, &shutdown).await?;
            let app = catalog::Application::build(config, bus).await?;
            tracing::info!(port = app.port(), "catalog listening");
            app.run_until_stopped(shutdown).await
        }
        Service::Booking => {
            let config = booking::Config::load(source, RunMode::Single)?;
            let bus = standalone_bus(&config.settings, &shutdown).await?;
            let app = booking::Application::build(config, bus).await?;
            tracing::info!(port = app.port(), "booking listening");
            app.run_until_stopped(shutdown).await
        }
        Service::Notification => {
            let config = notification::Config::load(source, RunMode::Single)?;
            let bus = standalone_bus(&config.settings, &shutdown).await?;
            let app = notification::Application::build(config, bus).await?;
            tracing::info!(port = app.port(), "notification listening");
            app.run_until_stopped(shutdown).await
        }
        Service::Payment => {
            let config = payment::Config::load(source, RunMode::Single)?;
            let bus = standalone_bus(&config.settings, &shutdown).await?;
            let app = payment::Application::build(config, bus).await?;
            tracing::info!(port = app.port(), "payment listening");
            app.run_until_stopped(shutdown).await
        }
        Service::Gateway => {
            let app = gateway::Application::build(gateway::Config::load(source, RunMode::Single)?)
                .await?;
            tracing::info!(port = app.port(), "gateway listening");
            app.run_until_stopped(shutdown).await
        }
    }
}

async fn migrate(source: &ConfigSource, services: &[Service]) -> anyhow::Result<()> {
    let all = services.is_empty();
    let mode = if all {
        RunMode::AllInOne
    } else {
        RunMode::Single
    };
    let wanted = |service| all || services.contains(&service);
    if wanted(Service::Identity) {
        identity::migrate(&identity::Config::load(source, mode)?).await?;
        say("identity: migrated");
    }
    if wanted(Service::Catalog) {
        catalog::migrate(&catalog::Config::load(source, mode)?).await?;
        say("catalog: migrated");
    }
    if wanted(Service::Booking) {
        booking::migrate(&booking::Config::load(source, mode)?).await?;
        say("booking: migrated");
    }
    if wanted(Service::Notification) {
        notification::migrate(&notification::Config::load(source, mode)?).await?;
        say("notification: migrated");
    }
    if wanted(Service::Payment) {
        payment::migrate(&payment::Config::load(source, mode)?).await?;
        say("payment: migrated");
    }
    if services.contains(&Service::Gateway) {
        say("gateway: has no database");
    }
    Ok(())
}

async fn seed(source: &ConfigSource) -> anyhow::Result<()> {
    let mut config = catalog::Config::load(source, RunMode::AllInOne)?;
    // Only the database is needed; do not take the catalog's port.
    config.settings.port = 0;
    let app = catalog::Application::build(config, Arc::new(Disconnected)).await?;
    if app.seed_demo().await? {
        say("catalog: demo schedule loaded");
    } else {
        say("catalog: flights already exist; nothing loaded");
    }
    Ok(())
}
