//! The `itinera` command: run the whole platform in one process, run one service, or migrate.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use platform::auth::Role;
use platform::config::{ConfigSource, LogSettings, RunMode};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "itinera", version, about = "Itinera travel booking platform")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every service in this process, each on its own port with its own database.
    Up {
        /// Do not create the demo administrator and customer.
        #[arg(long)]
        no_demo_users: bool,
    },
    /// Run one service.
    Serve { service: Service },
    /// Create each service's database if needed and apply its migrations, then exit.
    Migrate {
        /// Only these services (default: all that have a database).
        services: Vec<Service>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Service {
    Identity,
    Gateway,
}

const DEMO_ADMIN: (&str, &str) = ("admin", "itinera-admin-1");
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
            Command::Up { no_demo_users } => up(&source, !no_demo_users).await,
            Command::Serve { service } => serve(&source, service).await,
            Command::Migrate { services } => migrate(&source, &services).await,
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

async fn up(source: &ConfigSource, demo_users: bool) -> anyhow::Result<()> {
    let mut identity_config = identity::Config::load(source, RunMode::AllInOne)?;
    let gateway_config = gateway::Config::load(source, RunMode::AllInOne)?;
    let demo = demo_users && identity_config.bootstrap.is_empty();
    if demo {
        for ((username, password), role) in
            [(DEMO_ADMIN, Role::Admin), (DEMO_CUSTOMER, Role::Customer)]
        {
            identity_config.bootstrap.push(identity::BootstrapUser {
                username: username.into(),
                email: format!("{username}@itinera.local"),
                password: password.into(),
                role,
            });
        }
    }

    let shutdown = platform::shutdown::on_signal();
    let identity = identity::Application::build(identity_config)
        .await
        .context("starting identity")?;
    let gateway = gateway::Application::build(gateway_config)
        .await
        .context("starting gateway")?;
    let (gateway_port, identity_port, grpc_port) =
        (gateway.port(), identity.port(), identity.grpc_port());

    say("Itinera is up. Point a browser or curl at the gateway:");
    say(&format!("  gateway    http://127.0.0.1:{gateway_port}"));
    say(&format!(
        "  identity   http://127.0.0.1:{identity_port}   (gRPC UserDirectory on 127.0.0.1:{grpc_port})"
    ));
    if demo {
        say(&format!(
            "Demo users (created on first start): {} / {} (admin), {} / {} (customer)",
            DEMO_ADMIN.0, DEMO_ADMIN.1, DEMO_CUSTOMER.0, DEMO_CUSTOMER.1
        ));
        say("Try:");
        say(&format!(
            "  curl -s -X POST http://127.0.0.1:{gateway_port}/api/auth/login -H 'content-type: application/json' \
             -d '{{\"username\":\"{}\",\"password\":\"{}\"}}'",
            DEMO_CUSTOMER.0, DEMO_CUSTOMER.1
        ));
    }
    say(&format!(
        "  curl -s http://127.0.0.1:{gateway_port}/api/gateway/status"
    ));
    say("Stop with Ctrl-C.");

    let (identity, gateway) = tokio::join!(
        run(
            "identity",
            identity.run_until_stopped(shutdown.clone()),
            &shutdown
        ),
        run(
            "gateway",
            gateway.run_until_stopped(shutdown.clone()),
            &shutdown
        ),
    );
    identity.and(gateway)
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

async fn serve(source: &ConfigSource, service: Service) -> anyhow::Result<()> {
    let shutdown = platform::shutdown::on_signal();
    match service {
        Service::Identity => {
            let app =
                identity::Application::build(identity::Config::load(source, RunMode::Single)?)
                    .await?;
            tracing::info!(
                port = app.port(),
                grpc_port = app.grpc_port(),
                "identity listening"
            );
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
    if all || services.contains(&Service::Identity) {
        identity::migrate(&identity::Config::load(source, mode)?).await?;
        say("identity: migrated");
    }
    if services.contains(&Service::Gateway) {
        say("gateway: has no database");
    }
    Ok(())
}
