//! The service model: what a service declares ([`Service`], [`Parts`]) and the [`Host`] that runs
//! any of them.
//!
//! A service says what it is (its [`ServiceSpec`], configuration and migrations) and, from its
//! configuration, what it serves (a router), what it consumes (consumer groups on topics, each with
//! a handler) and what it runs in the background (jobs). The host does the rest the same way for
//! every service: it prepares the database, binds the listener, subscribes the consumers, registers
//! the instance in discovery, relays the outbox, supervises every task, and shuts down in order.
//!
//! Supervision: every relay, consumer and job is a named task. A task that ends (or panics) while
//! the service is not shutting down, or that stops beating its heartbeat for longer than it
//! declared, turns `/ready` to 503 with the task's name, and is logged.
//!
//! Shutdown, once the token given to [`Host::run_until_stopped`] is cancelled: the instance leaves
//! the discovery registry, the listeners stop accepting and in-flight requests drain, the relay
//! publishes what is left in the outbox, then consumers and jobs stop.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::Router;
use sqlx::PgPool;
pub use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tokio::task::{AbortHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, ConfigSource, RunMode, ServiceSpec, Settings};
use crate::events::consumer::{Consumer, EventHandler};
use crate::events::relay::Relay;
use crate::events::{EventBus, Subscription};
use crate::http::ServiceRouter;
use crate::readiness::{CheckFuture, ReadinessCheck};

/// How long the relay may take to publish what is left in the outbox at shutdown, and consumers and
/// jobs to stop after that.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a relay or consumer may go without a heartbeat before `/ready` calls it stalled.
/// Both beat at least every second while they are healthy, idle or busy.
pub const EVENT_TASK_STALL: Duration = Duration::from_secs(60);

/// One kind of service of the platform.
pub trait Service: Send + Sync + 'static {
    /// Its own configuration: the shared [`Settings`] plus whatever it adds.
    type Config: Clone + Send + Sync + 'static;

    /// Its name and default ports (`contracts::services`).
    const SPEC: ServiceSpec;

    /// Types its configuration; a bad value is reported with the setting that holds it.
    fn load(source: &ConfigSource, mode: RunMode) -> Result<Self::Config, ConfigError>;

    /// The shared settings inside its configuration.
    fn settings(config: &Self::Config) -> &Settings;

    /// Its migrations, or `None` for a service without a database of its own.
    fn migrator() -> Option<&'static Migrator>;

    /// Whether its instances register in the discovery registry (with `REDIS_URL`), where the
    /// gateway finds them. The gateway itself is found by clients, not through the registry.
    const DISCOVERABLE: bool = true;

    /// Builds what it serves, consumes and runs.
    fn build(
        config: Self::Config,
        context: &Context,
    ) -> impl Future<Output = anyhow::Result<Parts>> + Send;
}

/// What the host hands a service while it is built.
pub struct Context {
    /// Where its events go and come from.
    pub bus: Arc<dyn EventBus>,
    /// Its migrated database, when it has one.
    db: Option<PgPool>,
    /// The port its HTTP listener is bound to (known even when 0 was asked for).
    pub port: u16,
    settings: Settings,
    tasks: Tasks,
}

impl Context {
    /// The service's database; an error for a service that declared no migrations.
    pub fn db(&self) -> anyhow::Result<PgPool> {
        self.db
            .clone()
            .context("this service declared no migrations, so it has no database")
    }

    /// The standard HTTP edge (`/health`, `/ready`, `/metrics`, `/version`, access log, body
    /// limit) with `/ready` checking the database, the configured dependencies and the host's
    /// supervised tasks.
    pub fn edge(&self, version: &'static str) -> ServiceRouter {
        self.edge_with_metrics(version, |_| {})
    }

    /// [`Context::edge`], with metrics of the service's own registered beside the HTTP ones.
    pub fn edge_with_metrics(
        &self,
        version: &'static str,
        register: impl FnOnce(&mut prometheus_client::registry::Registry),
    ) -> ServiceRouter {
        let router = ServiceRouter::with_metrics(&self.settings, version, register)
            .check(self.tasks.clone());
        match &self.db {
            Some(db) => router
                .check(crate::readiness::PostgresCheck(db.clone()))
                .events(db.clone()),
            None => router,
        }
        .checks_for(&self.settings)
    }
}

/// A future a job runs.
pub type JobFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What a running task is handed: when to stop, and the heartbeat it beats while it makes
/// progress.
pub struct TaskContext {
    pub shutdown: CancellationToken,
    pub heartbeat: Heartbeat,
}

/// A background task of a service.
pub struct Job {
    name: String,
    stall_after: Option<Duration>,
    /// Servers stop with the HTTP listener; other jobs stop with the consumers.
    server: bool,
    run: Box<dyn FnOnce(TaskContext) -> JobFuture + Send>,
}

impl Job {
    /// A job that runs until its context's shutdown token is cancelled.
    pub fn new<F, Fut>(name: impl Into<String>, run: F) -> Self
    where
        F: FnOnce(TaskContext) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self {
            name: name.into(),
            stall_after: None,
            server: false,
            run: Box::new(move |context| Box::pin(run(context))),
        }
    }

    /// A server on a port of its own (stops accepting when the HTTP listener does).
    pub fn server<F, Fut>(name: impl Into<String>, run: F) -> Self
    where
        F: FnOnce(TaskContext) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self {
            server: true,
            ..Self::new(name, run)
        }
    }

    /// `/ready` calls the job stalled when it has not beaten its heartbeat for `after`.
    #[must_use]
    pub fn stalls_after(mut self, after: Duration) -> Self {
        self.stall_after = Some(after);
        self
    }
}

/// One consumer group of a service: the topics it reads and what it does with their events.
pub struct ConsumerSpec {
    pub group: String,
    pub topics: Vec<String>,
    pub handler: Arc<dyn EventHandler>,
}

/// What a service is made of, as its `build` returns it.
pub struct Parts {
    router: Router,
    publishes: bool,
    consumers: Vec<ConsumerSpec>,
    jobs: Vec<Job>,
    grpc_port: Option<u16>,
    exports: Vec<(String, String)>,
    notes: Vec<String>,
    announcements: Vec<String>,
}

impl Parts {
    /// A service that serves `router` (built on [`Context::edge`]).
    pub fn new(router: Router) -> Self {
        Self {
            router,
            publishes: false,
            consumers: Vec::new(),
            jobs: Vec::new(),
            grpc_port: None,
            exports: Vec::new(),
            notes: Vec::new(),
            announcements: Vec::new(),
        }
    }

    /// Publishes the events it writes to its database's outbox (the host runs the relay).
    #[must_use]
    pub fn publishes(mut self) -> Self {
        self.publishes = true;
        self
    }

    /// Consumes `topics` as consumer group `group` (also the inbox name), with `handler`.
    #[must_use]
    pub fn consumes(
        mut self,
        group: &str,
        topics: &[&str],
        handler: impl EventHandler + 'static,
    ) -> Self {
        self.consumers.push(ConsumerSpec {
            group: group.to_owned(),
            topics: topics.iter().map(|&t| t.to_owned()).collect(),
            handler: Arc::new(handler),
        });
        self
    }

    /// Runs `job` beside the HTTP server.
    #[must_use]
    pub fn runs(mut self, job: Job) -> Self {
        self.jobs.push(job);
        self
    }

    /// Serves gRPC on `port` through the `server` job.
    #[must_use]
    pub fn serves_grpc(mut self, port: u16, server: Job) -> Self {
        self.grpc_port = Some(port);
        self.runs(server)
    }

    /// A setting this instance offers the services started after it in the same process, unless
    /// they were given one (identity offers `JWT_JWKS_URL`).
    #[must_use]
    pub fn exports(mut self, key: &str, value: impl Into<String>) -> Self {
        self.exports.push((key.to_owned(), value.into()));
        self
    }

    /// A remark on this instance for the start-up banner of `itinera up`, beside its address.
    #[must_use]
    pub fn note(mut self, remark: impl Into<String>) -> Self {
        self.notes.push(remark.into());
        self
    }

    /// A line of its own for the start-up banner (what was loaded, how to log in).
    #[must_use]
    pub fn announce(mut self, line: impl Into<String>) -> Self {
        self.announcements.push(line.into());
        self
    }
}

/// One service instance, built and bound, ready to run.
pub struct Host<S: Service> {
    settings: Settings,
    db: Option<PgPool>,
    listener: TcpListener,
    parts: Parts,
    subscriptions: Vec<Subscription>,
    bus: Arc<dyn EventBus>,
    tasks: Tasks,
    _service: std::marker::PhantomData<fn() -> S>,
}

impl<S: Service> Host<S> {
    /// Prepares the database, binds the listener, builds the service and subscribes its
    /// consumers on `bus`.
    pub async fn build(config: S::Config, bus: Arc<dyn EventBus>) -> anyhow::Result<Self> {
        let name = S::SPEC.name;
        let settings = S::settings(&config).clone();
        let db = match S::migrator() {
            Some(migrator) => Some(
                crate::events::prepare_database(&settings.database, migrator)
                    .await
                    .with_context(|| format!("preparing the {name} database"))?,
            ),
            None => None,
        };
        let listener = crate::http::bind(settings.host, settings.port).await?;
        let tasks = Tasks::new(name);
        let context = Context {
            bus: bus.clone(),
            db,
            port: listener.local_addr()?.port(),
            settings: settings.clone(),
            tasks: tasks.clone(),
        };
        let parts = S::build(config, &context)
            .await
            .with_context(|| format!("starting {name}"))?;
        if context.db.is_none() && (parts.publishes || !parts.consumers.is_empty()) {
            anyhow::bail!(
                "{name} publishes or consumes events but declared no database for its outbox and inbox"
            );
        }
        let subscriptions = parts
            .consumers
            .iter()
            .map(|consumer| {
                let topics: Vec<&str> = consumer.topics.iter().map(String::as_str).collect();
                bus.subscribe(&consumer.group, &topics)
            })
            .collect();
        Ok(Self {
            settings,
            db: context.db,
            listener,
            parts,
            subscriptions,
            bus,
            tasks,
            _service: std::marker::PhantomData,
        })
    }

    /// The HTTP port (the one the system chose when 0 was asked for).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    /// The gRPC port, for a service that serves gRPC; 0 otherwise.
    pub fn grpc_port(&self) -> u16 {
        self.parts.grpc_port.unwrap_or(0)
    }

    /// The settings this instance offers services started after it (see [`Parts::exports`]).
    pub fn exported(&self) -> &[(String, String)] {
        &self.parts.exports
    }

    /// Its remarks for the start-up banner (see [`Parts::note`]).
    pub fn notes(&self) -> &[String] {
        &self.parts.notes
    }

    /// Its lines for the start-up banner (see [`Parts::announce`]).
    pub fn announcements(&self) -> &[String] {
        &self.parts.announcements
    }

    /// Its supervised tasks (what `/ready` reports on).
    pub fn tasks(&self) -> Tasks {
        self.tasks.clone()
    }

    /// Runs everything until `shutdown` is cancelled, then stops in order (see the module docs).
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let name = S::SPEC.name;
        let Self {
            settings,
            db,
            listener,
            parts,
            subscriptions,
            bus,
            tasks,
            ..
        } = self;
        let registration =
            crate::discovery::Registration::from_settings(&settings, listener.local_addr()?.port())
                .filter(|_| S::DISCOVERABLE)
                .map(|registration| tokio::spawn(registration.run(shutdown.clone())));

        // Servers stop with the HTTP listener, the relay after it, consumers and jobs last.
        let relay_stop = CancellationToken::new();
        let workers_stop = CancellationToken::new();
        let mut servers = Stage::default();
        let mut relay = Stage::default();
        let mut workers = Stage::default();
        if let Some(db) = db.clone().filter(|_| parts.publishes) {
            let relay_task = Relay::new(db, bus.clone());
            tasks.spawn(
                &mut relay,
                "outbox relay".into(),
                Some(EVENT_TASK_STALL),
                relay_stop.clone(),
                move |context| {
                    Box::pin(
                        relay_task
                            .with_heartbeat(context.heartbeat)
                            .run(context.shutdown),
                    )
                },
            );
        }
        for (spec, subscription) in parts.consumers.into_iter().zip(subscriptions) {
            // Checked when built: a service that consumes has a database for its inbox.
            let Some(db) = db.clone() else { break };
            let consumer =
                Consumer::new(spec.group.clone(), db, spec.handler).with_bus(bus.clone());
            tasks.spawn(
                &mut workers,
                format!("consumer {}", spec.group),
                Some(EVENT_TASK_STALL),
                workers_stop.clone(),
                move |context| {
                    Box::pin(
                        consumer
                            .with_heartbeat(context.heartbeat)
                            .run(subscription, context.shutdown),
                    )
                },
            );
        }
        for job in parts.jobs {
            let (set, stop) = if job.server {
                (&mut servers, shutdown.clone())
            } else {
                (&mut workers, workers_stop.clone())
            };
            tasks.spawn(set, job.name, job.stall_after, stop, job.run);
        }
        let watchdog = tokio::spawn(tasks.clone().watch(workers_stop.clone()));

        // From the first moment of shutdown, tasks that end are stopping, not dying.
        let stopping = {
            let (tasks, shutdown) = (tasks.clone(), shutdown.clone());
            tokio::spawn(async move {
                shutdown.cancelled().await;
                tasks.stopping();
            })
        };
        let served = crate::http::serve(
            listener,
            parts.router,
            settings.server_limits,
            shutdown.clone(),
        )
        .await;
        // The server also returns if it fails; the service stops then all the same.
        stopping.abort();
        tasks.stopping();
        servers.stop(&shutdown, name, "servers").await;
        relay.stop(&relay_stop, name, "outbox relay").await;
        workers
            .stop(&workers_stop, name, "consumers and jobs")
            .await;
        let _ = watchdog.await;
        if let Some(registration) = registration {
            let _ = registration.await;
        }
        served.with_context(|| format!("{name} HTTP server"))
    }
}

/// The tasks that stop together, and the watchers that record how each ended.
#[derive(Default)]
struct Stage {
    watchers: JoinSet<()>,
    tasks: Vec<AbortHandle>,
}

impl Stage {
    /// Cancels `stop` and waits for the stage's tasks to end, for at most [`STOP_TIMEOUT`];
    /// then aborts those still running.
    async fn stop(mut self, stop: &CancellationToken, service: &str, stage: &str) {
        stop.cancel();
        let all = async { while self.watchers.join_next().await.is_some() {} };
        if tokio::time::timeout(STOP_TIMEOUT, all).await.is_err() {
            tracing::warn!(
                service,
                stage,
                "did not stop within {STOP_TIMEOUT:?}; aborting them"
            );
            for task in &self.tasks {
                task.abort();
            }
            while self.watchers.join_next().await.is_some() {}
        }
    }
}

/// Measures time for heartbeats: milliseconds since the supervisor started.
#[derive(Clone)]
struct Clock(Instant);

impl Clock {
    fn now(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// A task's proof of life. Beat it whenever the task makes progress, or waits healthily for work.
#[derive(Clone)]
pub struct Heartbeat {
    last: Arc<AtomicU64>,
    clock: Clock,
}

impl Heartbeat {
    /// A heartbeat nobody watches, for a task run outside a host (tests, tools).
    pub fn detached() -> Self {
        Self {
            last: Arc::new(AtomicU64::new(0)),
            clock: Clock(Instant::now()),
        }
    }

    pub fn beat(&self) {
        self.last.store(self.clock.now(), Ordering::Relaxed);
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum TaskState {
    Running,
    /// Ended while the service was not shutting down.
    Died(String),
    /// Ended during shutdown, as it should.
    Stopped,
}

struct TaskEntry {
    name: String,
    state: Mutex<TaskState>,
    last_beat: Arc<AtomicU64>,
    stall_after: Option<Duration>,
    /// Whether a stall has been logged (a stall is logged once, and its recovery once).
    stall_logged: AtomicBool,
    abort: Mutex<Option<AbortHandle>>,
}

/// The supervised tasks of one service instance.
#[derive(Clone)]
pub struct Tasks {
    inner: Arc<TasksInner>,
}

struct TasksInner {
    service: &'static str,
    clock: Clock,
    stopping: AtomicBool,
    entries: Mutex<Vec<Arc<TaskEntry>>>,
}

impl Tasks {
    fn new(service: &'static str) -> Self {
        Self {
            inner: Arc::new(TasksInner {
                service,
                clock: Clock(Instant::now()),
                stopping: AtomicBool::new(false),
                entries: Mutex::new(Vec::new()),
            }),
        }
    }

    fn spawn(
        &self,
        stage: &mut Stage,
        name: String,
        stall_after: Option<Duration>,
        stop: CancellationToken,
        run: impl FnOnce(TaskContext) -> JobFuture,
    ) {
        let last_beat = Arc::new(AtomicU64::new(self.inner.clock.now()));
        let entry = Arc::new(TaskEntry {
            name,
            state: Mutex::new(TaskState::Running),
            last_beat: last_beat.clone(),
            stall_after,
            stall_logged: AtomicBool::new(false),
            abort: Mutex::new(None),
        });
        let future = run(TaskContext {
            shutdown: stop.clone(),
            heartbeat: Heartbeat {
                last: last_beat,
                clock: self.inner.clock.clone(),
            },
        });
        let task = tokio::spawn(future);
        *lock(&entry.abort) = Some(task.abort_handle());
        stage.tasks.push(task.abort_handle());
        lock(&self.inner.entries).push(entry.clone());
        let tasks = self.clone();
        // The watcher lives in the stage, so waiting for the stage waits for the task.
        stage.watchers.spawn(async move {
            let ended = task.await;
            // A task whose stage was told to stop is stopping, whatever the rest is doing.
            tasks.ended(&entry, ended, stop.is_cancelled());
        });
    }

    fn ended(
        &self,
        entry: &TaskEntry,
        outcome: Result<(), tokio::task::JoinError>,
        told_to_stop: bool,
    ) {
        let service = self.inner.service;
        let state = if told_to_stop || self.inner.stopping.load(Ordering::SeqCst) {
            TaskState::Stopped
        } else {
            let reason = match outcome {
                Ok(()) => "stopped".to_owned(),
                Err(e) if e.is_panic() => "panicked".to_owned(),
                Err(_) => "was aborted".to_owned(),
            };
            tracing::error!(
                service,
                task = %entry.name,
                "{} {reason} while the service is running; /ready now reports it",
                entry.name
            );
            TaskState::Died(reason)
        };
        *lock(&entry.state) = state;
    }

    /// From now on, tasks that end are stopping, not dying.
    fn stopping(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
    }

    /// Aborts the named task, as a crash would end it. For tests and operators' drills.
    pub fn abort(&self, name: &str) -> bool {
        let entries = lock(&self.inner.entries);
        let Some(entry) = entries.iter().find(|e| e.name == name) else {
            return false;
        };
        match lock(&entry.abort).as_ref() {
            Some(handle) => {
                handle.abort();
                true
            }
            None => false,
        }
    }

    /// The names of every task.
    pub fn names(&self) -> Vec<String> {
        lock(&self.inner.entries)
            .iter()
            .map(|e| e.name.clone())
            .collect()
    }

    /// What is wrong with the tasks, one phrase per task; empty when all are well.
    pub fn problems(&self) -> Vec<String> {
        let now = self.inner.clock.now();
        let stopping = self.inner.stopping.load(Ordering::SeqCst);
        let mut problems = Vec::new();
        for entry in lock(&self.inner.entries).iter() {
            // A copy: `stalled_for` takes the state's lock again.
            let state = lock(&entry.state).clone();
            match state {
                TaskState::Died(reason) => problems.push(format!("{} {reason}", entry.name)),
                TaskState::Stopped => {}
                TaskState::Running => {
                    if let Some(stalled) = entry.stalled_for(now)
                        && !stopping
                    {
                        problems.push(format!(
                            "{} made no progress for {:.1} s",
                            entry.name,
                            stalled.as_secs_f64()
                        ));
                    }
                }
            }
        }
        problems
    }

    /// Logs stalls as they begin and end, until `stop`.
    async fn watch(self, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            let now = self.inner.clock.now();
            for entry in lock(&self.inner.entries).iter() {
                let stalled = entry.stalled_for(now);
                let logged = entry.stall_logged.load(Ordering::Relaxed);
                match stalled {
                    Some(for_how_long) if !logged => {
                        tracing::error!(
                            service = self.inner.service,
                            task = %entry.name,
                            "{} made no progress for {:.1} s; /ready now reports it",
                            entry.name,
                            for_how_long.as_secs_f64()
                        );
                        entry.stall_logged.store(true, Ordering::Relaxed);
                    }
                    None if logged => {
                        tracing::info!(service = self.inner.service, task = %entry.name, "{} is making progress again", entry.name);
                        entry.stall_logged.store(false, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
        }
    }
}

impl TaskEntry {
    /// How long a running task with a stall limit has gone without a beat, past its limit.
    fn stalled_for(&self, now: u64) -> Option<Duration> {
        let limit = self.stall_after?;
        if *lock(&self.state) != TaskState::Running {
            return None;
        }
        let quiet =
            Duration::from_millis(now.saturating_sub(self.last_beat.load(Ordering::Relaxed)));
        (quiet > limit).then_some(quiet)
    }
}

impl ReadinessCheck for Tasks {
    fn name(&self) -> &'static str {
        "tasks"
    }

    fn check(&self) -> CheckFuture<'_> {
        let problems = self.problems();
        Box::pin(async move {
            if problems.is_empty() {
                Ok(())
            } else {
                Err(problems.join("; "))
            }
        })
    }

    fn explains(&self) -> bool {
        true
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A future that builds an instance of some service.
pub type BuildFuture = Pin<Box<dyn Future<Output = anyhow::Result<Box<dyn Instance>>> + Send>>;
/// A future that runs an instance until it stops.
pub type RunFuture = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;
/// A future that migrates a service's database; `false` for a service without one.
pub type MigrateFuture = Pin<Box<dyn Future<Output = anyhow::Result<bool>> + Send>>;

/// A built instance of any service: what a registry of services runs.
pub trait Instance: Send {
    fn port(&self) -> u16;
    fn grpc_port(&self) -> u16;
    fn exported(&self) -> &[(String, String)];
    fn notes(&self) -> &[String];
    fn announcements(&self) -> &[String];
    fn tasks(&self) -> Tasks;
    fn run_until_stopped(self: Box<Self>, shutdown: CancellationToken) -> RunFuture;
}

impl<S: Service> Instance for Host<S> {
    fn port(&self) -> u16 {
        Host::port(self)
    }
    fn grpc_port(&self) -> u16 {
        Host::grpc_port(self)
    }
    fn exported(&self) -> &[(String, String)] {
        Host::exported(self)
    }
    fn notes(&self) -> &[String] {
        Host::notes(self)
    }
    fn announcements(&self) -> &[String] {
        Host::announcements(self)
    }
    fn tasks(&self) -> Tasks {
        Host::tasks(self)
    }
    fn run_until_stopped(self: Box<Self>, shutdown: CancellationToken) -> RunFuture {
        Box::pin(Host::run_until_stopped(*self, shutdown))
    }
}

/// One line of a registry of services: a service's spec, and how to build and migrate it.
#[derive(Clone, Copy)]
pub struct Entry {
    pub spec: ServiceSpec,
    build: fn(&ConfigSource, RunMode, Arc<dyn EventBus>) -> BuildFuture,
    migrate: fn(&ConfigSource, RunMode) -> MigrateFuture,
    migrator: fn() -> Option<&'static Migrator>,
}

impl Entry {
    /// The entry of service `S`.
    pub const fn of<S: Service>() -> Self {
        Self {
            spec: S::SPEC,
            build: build_instance::<S>,
            migrate: migrate_database::<S>,
            migrator: S::migrator,
        }
    }

    /// Whether it keeps a database of its own (and so may publish and consume events).
    pub fn has_database(&self) -> bool {
        (self.migrator)().is_some()
    }

    /// Loads its configuration from `source` and builds an instance on `bus`.
    pub fn build(
        &self,
        source: &ConfigSource,
        mode: RunMode,
        bus: Arc<dyn EventBus>,
    ) -> BuildFuture {
        (self.build)(source, mode, bus)
    }

    /// Creates its database if needed and applies its migrations; `false` when it has none.
    pub fn migrate(&self, source: &ConfigSource, mode: RunMode) -> MigrateFuture {
        (self.migrate)(source, mode)
    }

    /// The shared settings it would run with (before any change its own configuration makes,
    /// such as the gateway's body limit).
    pub fn settings(&self, source: &ConfigSource, mode: RunMode) -> Result<Settings, ConfigError> {
        Settings::load(source, self.spec, mode)
    }
}

fn build_instance<S: Service>(
    source: &ConfigSource,
    mode: RunMode,
    bus: Arc<dyn EventBus>,
) -> BuildFuture {
    let config = S::load(source, mode);
    Box::pin(async move {
        let host = Host::<S>::build(config?, bus).await?;
        Ok(Box::new(host) as Box<dyn Instance>)
    })
}

fn migrate_database<S: Service>(source: &ConfigSource, mode: RunMode) -> MigrateFuture {
    let config = S::load(source, mode);
    Box::pin(async move {
        let config = config?;
        let Some(migrator) = S::migrator() else {
            return Ok(false);
        };
        crate::events::prepare_database(&S::settings(&config).database, migrator).await?;
        Ok(true)
    })
}
