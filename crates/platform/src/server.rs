//! The HTTP server behind every listener: HTTP/1 and HTTP/2 on one port, with the limits that keep
//! slow or idle clients from holding the service.
//!
//! - **Header-read timeout**: a connection gets [`ServerLimits::header_read_timeout`] to send the
//!   whole head of a request, counted from when it was accepted (first request) or from its first
//!   byte after the previous response (later requests). Past it, the connection is closed.
//! - **Idle timeout**: a keep-alive connection with no request in flight and no byte received is
//!   closed after [`ServerLimits::idle_timeout`]. A request in flight, including a response still
//!   streaming (server-sent events, Socket.IO long polling), keeps its connection out of both
//!   timeouts however long it lasts. An upgraded connection (WebSocket) leaves HTTP, and with it
//!   both timeouts, the moment it switches protocols.
//! - **Connection cap**: at most [`ServerLimits::max_connections`] connections at once, upgraded
//!   ones included until they close. Past the cap the server stops accepting: new connections
//!   wait in the kernel's listen backlog (1,024) until one closes, and beyond the backlog the
//!   kernel drops their SYNs, which clients retry.
//!
//! Shutdown: the listener closes, idle connections close at once, busy ones finish their request
//! (HTTP/2: their streams) and close, and whatever is left after [`DRAIN_TIMEOUT`] is cut.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Once};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, Version};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::Service as _;

use crate::http::DRAIN_TIMEOUT;

/// The limits of one listener (`HTTP_HEADER_READ_TIMEOUT_SECS`, `HTTP_IDLE_TIMEOUT_SECS`,
/// `HTTP_MAX_CONNECTIONS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// How long a client may take to send the head of a request.
    pub header_read_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Connections open at once, upgraded ones included.
    pub max_connections: usize,
}

impl ServerLimits {
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// Longer than the idle timeouts of the clients that keep connections to services (the
    /// gateway's pool keeps them 60 s, reqwest's 90 s, cloud load balancers 60 s): the client
    /// closes an idle connection first, so it never sends a request on one the server is closing.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
    pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Self::DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` is cancelled, then stops
/// accepting and gives in-flight requests [`DRAIN_TIMEOUT`] to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    raise_open_file_limit(limits.max_connections);
    // Turns every route into a service once, as `into_make_service` does. Called as it is, a
    // router would do it on every request, applying its layers anew each time: a layer with
    // state of its own (Socket.IO's sessions) would forget it between requests.
    let router = router.with_state(());
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // WebSockets over HTTP/2 (RFC 8441) need the extended CONNECT method.
    builder.http2().enable_connect_protocol();
    let builder = Arc::new(builder);
    let mut gate = Gate::new(limits.max_connections);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            // Reaps finished connections, so the set holds only open ones.
            Some(_) = connections.join_next() => {}
            (stream, remote, permit) = gate.accept(&listener) => {
                connections.spawn(serve_connection(
                    builder.clone(),
                    Accepted { stream, remote, permit },
                    router.clone(),
                    limits,
                    shutdown.clone(),
                ));
            }
        }
    }
    // New connections are refused from here on; the open ones drain.
    drop(listener);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_TIMEOUT, drained).await.is_err() {
        tracing::warn!(
            open = connections.len(),
            "in-flight requests did not finish within {DRAIN_TIMEOUT:?}; closing them"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Lets connections in while fewer than the cap are open.
struct Gate {
    permits: Arc<Semaphore>,
    max: usize,
    /// Whether the cap was reached and not yet left, so that it is logged once per episode.
    full: bool,
}

impl Gate {
    fn new(max: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max.max(1))),
            max,
            full: false,
        }
    }

    /// The next connection, once there is room for it. Cancel-safe: dropped before it accepts,
    /// it takes nothing.
    async fn accept(
        &mut self,
        listener: &TcpListener,
    ) -> (TcpStream, SocketAddr, OwnedSemaphorePermit) {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => {
                if self.full {
                    tracing::info!(max = self.max, "below the connection cap again; accepting");
                    self.full = false;
                }
                permit
            }
            Err(_) => {
                if !self.full {
                    tracing::warn!(
                        max = self.max,
                        "{} connections open (HTTP_MAX_CONNECTIONS); new ones wait in the listen backlog",
                        self.max
                    );
                    self.full = true;
                }
                self.permits
                    .clone()
                    .acquire_owned()
                    .await
                    .unwrap_or_else(|_| unreachable!("the semaphore is never closed"))
            }
        };
        loop {
            match listener.accept().await {
                Ok((stream, remote)) => return (stream, remote, permit),
                // Out of file descriptors, or a connection reset before it was accepted: the
                // listener itself is fine. A short pause keeps an exhausted process from spinning.
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

struct Accepted {
    stream: TcpStream,
    remote: SocketAddr,
    permit: OwnedSemaphorePermit,
}

/// Serves one connection until it ends, a limit closes it, or shutdown drains it.
async fn serve_connection(
    builder: Arc<auto::Builder<TokioExecutor>>,
    accepted: Accepted,
    router: Router,
    limits: ServerLimits,
    shutdown: CancellationToken,
) {
    let Accepted {
        stream,
        remote,
        permit,
    } = accepted;
    let activity = Arc::new(Activity::new());
    // The permit lives in the socket, so an upgraded connection counts until it closes.
    let io = TokioIo::new(Watched {
        stream,
        activity: activity.clone(),
        _permit: permit,
    });
    let service = ConnectionService {
        router,
        remote,
        activity: activity.clone(),
    };
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    let mut draining = false;
    loop {
        let due = activity.due(&limits);
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%remote, error = %e, "connection ended with an error");
                }
                return;
            }
            () = activity.changed.notified() => {}
            () = sleep_until(due.map(|(at, _)| at)), if !draining => {
                // The state may have changed since the deadline was set; only a deadline still
                // due counts.
                match activity.due(&limits) {
                    Some((at, Phase::Head)) if at <= Instant::now() => {
                        tracing::debug!(
                            %remote,
                            "closing a connection that did not send a request head within {:?}",
                            limits.header_read_timeout
                        );
                        return;
                    }
                    Some((at, Phase::Idle)) if at <= Instant::now() => {
                        // An HTTP/2 connection may carry upgraded streams: ask it to close
                        // (GOAWAY) rather than cut them.
                        if activity.is_http2() {
                            draining = true;
                            connection.as_mut().graceful_shutdown();
                        } else {
                            return;
                        }
                    }
                    _ => {}
                }
            }
            () = shutdown.cancelled(), if !draining => {
                if activity.is_quiet() && !activity.is_http2() {
                    return;
                }
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Which limit applies to a connection with no request in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Part of a request head has arrived (or the connection is new): the header-read timeout.
    Head,
    /// Nothing since the last response: the idle timeout.
    Idle,
}

/// What a connection is doing, as its socket and its requests report it.
struct Activity {
    state: Mutex<ActivityState>,
    /// Woken when a deadline moves earlier (a head begins) or appears (the last response ends).
    changed: Notify,
}

struct ActivityState {
    /// Requests whose response has not been sent in full yet.
    in_flight: usize,
    idle_since: Instant,
    /// When the head of the next request began to arrive.
    head_started: Option<Instant>,
    http2: bool,
}

impl Activity {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                idle_since: now,
                // A new connection owes its first request head from the start.
                head_started: Some(now),
                http2: false,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The deadline that applies now, if any.
    fn due(&self, limits: &ServerLimits) -> Option<(Instant, Phase)> {
        let state = self.lock();
        if state.in_flight > 0 {
            return None;
        }
        match state.head_started {
            // HTTP/2 frames between requests (pings, window updates) are not request heads.
            Some(started) if !state.http2 => {
                Some((started + limits.header_read_timeout, Phase::Head))
            }
            _ => Some((state.idle_since + limits.idle_timeout, Phase::Idle)),
        }
    }

    fn is_quiet(&self) -> bool {
        self.lock().in_flight == 0
    }

    fn is_http2(&self) -> bool {
        self.lock().http2
    }

    fn received(&self) {
        let mut state = self.lock();
        if state.in_flight == 0 && state.head_started.is_none() {
            state.head_started = Some(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    fn begin(self: &Arc<Self>, version: Version) -> InFlight {
        let mut state = self.lock();
        state.in_flight += 1;
        state.head_started = None;
        state.http2 |= version == Version::HTTP_2;
        InFlight(self.clone())
    }
}

/// One request in flight: from its head until its response is sent in full, or abandoned.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight == 0 {
            state.idle_since = Instant::now();
            state.head_started = None;
            drop(state);
            self.0.changed.notify_one();
        }
    }
}

/// The accepted socket, reporting what it receives.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.received();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The router, as one connection calls it: each request carries the peer's address
/// ([`ConnectInfo`]) and counts as in flight until its response body is done.
#[derive(Clone)]
struct ConnectionService {
    router: Router,
    remote: SocketAddr,
    activity: Arc<Activity>,
}

type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<Response<TrackedBody>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for ConnectionService {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let in_flight = self.activity.begin(request.version());
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(self.remote));
        let mut router = self.router.clone();
        Box::pin(async move {
            let response = router.call(request).await?;
            Ok(response.map(|body| TrackedBody {
                body,
                _in_flight: in_flight,
            }))
        })
    }
}

/// A response body that keeps its request in flight until it is sent in full or dropped.
struct TrackedBody {
    body: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Raises this process's soft limit on open files to its hard limit (once), as Go's runtime
/// does: the soft limit is often 1,024, far below the connection cap. Warns when even the hard
/// limit is below the cap, since the process would then run out of descriptors first.
fn raise_open_file_limit(max_connections: usize) {
    static RAISED: Once = Once::new();
    RAISED.call_once(|| {
        #[cfg(unix)]
        {
            use rustix::process::{Resource, getrlimit, setrlimit};
            let limit = getrlimit(Resource::Nofile);
            if limit.current != limit.maximum {
                let raised = rustix::process::Rlimit {
                    current: limit.maximum,
                    maximum: limit.maximum,
                };
                if let Err(e) = setrlimit(Resource::Nofile, raised) {
                    tracing::debug!(error = %e, "could not raise the open-file limit");
                }
            }
        }
    });
    #[cfg(unix)]
    {
        let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        if let Some(soft) = soft
            && usize::try_from(soft).unwrap_or(usize::MAX) <= max_connections
        {
            tracing::warn!(
                open_file_limit = soft,
                max_connections,
                "the open-file limit is not above HTTP_MAX_CONNECTIONS: the process would run out \
                 of descriptors before the cap holds; lower HTTP_MAX_CONNECTIONS or raise ulimit -n"
            );
        }
    }
}
