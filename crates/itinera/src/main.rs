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
            } => Box::pin(up(&source, !no_demo_users, !no_seed)).await,
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

async fn up(source: &ConfigSource, demo_users: bool, demo_schedule: bool) -> anyhow::Result<()> {
    let mut identity_config = identity::Config::load(source, RunMode::AllInOne)?;
    let catalog_config = catalog::Config::load(source, RunMode::AllInOne)?;
    let booking_config = booking::Config::load(source, RunMode::AllInOne)?;
    let notification_config = notification::Config::load(source, RunMode::AllInOne)?;
    let payment_config = payment::Config::load(source, RunMode::AllInOne)?;
    let gateway_config = gateway::Config::load(source, RunMode::AllInOne)?;
    let demo = demo_users && identity_config.bootstrap.is_empty();
    if demo {
        for ((username, password), role) in [
            (DEMO_ADMIN, Role::Admin),
            (DEMO_OPS, Role::Ops),
            (DEMO_CUSTOMER, Role::Customer),
        ] {
            identity_config.bootstrap.push(identity::BootstrapUser {
                username: username.into(),
                email: format!("{username}@itinera.local"),
                password: password.into(),
                role,
            });
        }
    }

    let shutdown = platform::shutdown::on_signal();
    // Kafka when KAFKA_BROKERS is set; otherwise one in-process bus that every service subscribes
    // to while it is built, before any of them publishes.
    let memory: Arc<dyn EventBus> = Arc::new(MemoryBus::default());
    let catalog_bus =
        platform::events::kafka_transport(&catalog_config.settings, &TOPICS, shutdown.clone())
            .await?
            .unwrap_or_else(|| memory.clone());
    let booking_bus =
        platform::events::kafka_transport(&booking_config.settings, &TOPICS, shutdown.clone())
            .await?
            .unwrap_or_else(|| memory.clone());
    let notification_bus =
        platform::events::kafka_transport(&notification_config.settings, &TOPICS, shutdown.clone())
            .await?
            .unwrap_or_else(|| memory.clone());
    let payment_bus =
        platform::events::kafka_transport(&payment_config.settings, &TOPICS, shutdown.clone())
            .await?
            .unwrap_or_else(|| memory.clone());
    let identity_bus =
        platform::events::kafka_transport(&identity_config.settings, &TOPICS, shutdown.clone())
            .await?
            .unwrap_or_else(|| memory.clone());
    let identity = identity::Application::build(identity_config, identity_bus)
        .await
        .context("starting identity")?;
    let catalog = catalog::Application::build(catalog_config, catalog_bus)
        .await
        .context("starting catalog")?;
    let booking = booking::Application::build(booking_config, booking_bus)
        .await
        .context("starting booking")?;
    let notification = notification::Application::build(notification_config, notification_bus)
        .await
        .context("starting notification")?;
    let payment = payment::Application::build(payment_config, payment_bus)
        .await
        .context("starting payment")?;
    let gateway = gateway::Application::build(gateway_config)
        .await
        .context("starting gateway")?;
    let seeded = if demo_schedule {
        catalog.seed_demo().await?
    } else {
        false
    };
    let gateway_port = gateway.port();

    say("Itinera is up. Point a browser or curl at the gateway:");
    say(&format!("  gateway    http://127.0.0.1:{gateway_port}"));
    say(&format!(
        "  identity   http://127.0.0.1:{}   (gRPC UserDirectory on 127.0.0.1:{})",
        identity.port(),
        identity.grpc_port()
    ));
    say(&format!("  booking    http://127.0.0.1:{}", booking.port()));
    say(&format!(
        "  notification http://127.0.0.1:{} (email: set SMTP_URL)",
        notification.port()
    ));
    say(&format!("  catalog    http://127.0.0.1:{}", catalog.port()));
    say(&format!(
        "  payment    http://127.0.0.1:{}   (simulated card processor: 4242 4242 4242 4242 approves, 4000 0000 0000 0002 declines)",
        payment.port()
    ));
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

    let (identity, catalog, booking, notification, payment, gateway) = tokio::join!(
        run(
            "identity",
            identity.run_until_stopped(shutdown.clone()),
            &shutdown
        ),
        run(
            "catalog",
            catalog.run_until_stopped(shutdown.clone()),
            &shutdown
        ),
        run(
            "booking",
            booking.run_until_stopped(shutdown.clone()),
            &shutdown
        ),
        run(
            "notification",
            notification.run_until_stopped(shutdown.clone()),
            &shutdown
        ),
        run(
            "payment",
            payment.run_until_stopped(shutdown.clone()),
            &shutdown
        ),
        run(
            "gateway",
            gateway.run_until_stopped(shutdown.clone()),
            &shutdown
        ),
    );
    identity
        .and(catalog)
        .and(booking)
        .and(notification)
        .and(payment)
        .and(gateway)
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
