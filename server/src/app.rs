//! What every handler shares: the governance state, the credential store, the sign-in
//! limiter and the server's settings. Governance and the credential store are
//! synchronous (SQLite); calls into them run on tokio's blocking pool, one at a time
//! per store.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use portcullis_engine::Bundle;
use portcullis_governance::{
    Database, Error as GovError, FileRequest, Governance, ReadTx, Store as _,
};
use serde_json::{json, Value};
use tokio::sync::{oneshot, watch, Notify};

use crate::credentials::Credentials;
use crate::signing::ViewKey;
use crate::ServerError;

/// The server's settings that handlers read.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The state directory (uploads are kept in it).
    pub state: std::path::PathBuf,
    /// The address people reach the server at (`https://portcullis.example`), for
    /// links in notifications and invitations.
    pub public_url: String,
    /// Cookies carry `Secure` (the server speaks TLS, or sits behind a proxy that
    /// does).
    pub secure_cookies: bool,
    /// How long a session lasts, in seconds.
    pub session_lifetime: i64,
    /// How long an invitation or password reset link works, in seconds.
    pub invitation_lifetime: i64,
    /// The longest an agent's long-poll for changes is held open (kept below the
    /// call timeout).
    pub long_poll: std::time::Duration,
}

impl Settings {
    /// Where compiled plugin components are kept, beside the state: a restart, or the
    /// provider after an attachment loaded the component, does not compile it again.
    pub fn plugin_cache(&self) -> std::path::PathBuf {
        self.state.join("plugin-cache")
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            state: std::path::PathBuf::new(),
            public_url: String::new(),
            secure_cookies: false,
            session_lifetime: 12 * 3600,
            invitation_lifetime: 7 * 24 * 3600,
            long_poll: std::time::Duration::from_secs(20),
        }
    }
}

/// The shared state of a running server.
#[derive(Clone)]
pub struct App {
    shared: Arc<Shared>,
}

struct Shared {
    governance: Mutex<Governance>,
    /// The state's store alone, for the checks every call makes.
    checks: Mutex<Database>,
    credentials: Mutex<Credentials>,
    limiter: Mutex<Limiter>,
    settings: Settings,
    /// Compiled plugin components in the state (its own store handle).
    artifacts: Arc<dyn portcullis_plugins::ArtifactStore>,
    /// Woken when something may have queued a notification.
    outbox: Notify,
    /// Woken when another node announced a new bundle version.
    announced: Notify,
    /// The current bundle version, for agents waiting for a change.
    revision: watch::Sender<i64>,
    /// What agents' views are signed with.
    view_key: ViewKey,
    /// Recent bundle versions, read back from the store for agents' changes: after a
    /// deploy every agent asks for the change from the same version.
    bundles: Mutex<VecDeque<(i64, Arc<Bundle>)>>,
    /// Filings waiting for the next governance call, which files every one of them in
    /// one transaction (one durable commit).
    filings: Mutex<Vec<Queued>>,
    /// The number of the next filing queued.
    next_filing: std::sync::atomic::AtomicU64,
}

/// A filing waiting in the queue, and where its outcome goes.
struct Queued {
    id: u64,
    actor: Option<String>,
    request: FileRequest,
    outcome: oneshot::Sender<Result<Value, ServerError>>,
}

/// The error of a filing whose answer was lost (the call filing it panicked).
fn dropped() -> ServerError {
    ServerError::Internal("a filing was dropped before it was answered".to_owned())
}

/// Filings written in one transaction, at most.
const FILINGS_PER_COMMIT: usize = 256;

/// Bundle versions kept for agents' changes.
const BUNDLES_KEPT: usize = 4;

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

impl App {
    /// A server over `governance` (and `checks`, its store once more, for the reads
    /// every call makes), authenticating with `credentials`, signing agents' views with
    /// `view_key`.
    pub fn new(
        governance: Governance,
        checks: Database,
        credentials: Credentials,
        settings: Settings,
        view_key: ViewKey,
        artifacts: Arc<dyn portcullis_plugins::ArtifactStore>,
    ) -> App {
        let (revision, _) = watch::channel(governance.version());
        App {
            shared: Arc::new(Shared {
                revision,
                view_key,
                bundles: Mutex::new(VecDeque::new()),
                filings: Mutex::new(Vec::new()),
                next_filing: std::sync::atomic::AtomicU64::new(0),
                governance: Mutex::new(governance),
                checks: Mutex::new(checks),
                credentials: Mutex::new(credentials),
                limiter: Mutex::new(Limiter::default()),
                settings,
                artifacts,
                outbox: Notify::new(),
                announced: Notify::new(),
            }),
        }
    }

    /// The server's settings.
    pub fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    /// Where compiled plugin components are kept in the state, shared with the other
    /// nodes.
    pub fn artifacts(&self) -> Arc<dyn portcullis_plugins::ArtifactStore> {
        Arc::clone(&self.shared.artifacts)
    }

    /// Files a request (as `actor`, an administrator, or else for an agent's own
    /// computer, checked by the caller) and lets the approval plugins attached along its
    /// organization's path review it: `{"request": …, "review": …}`.
    ///
    /// Filings are committed in groups: each one joins a queue and then waits its turn
    /// at the governance state; whichever call gets there first files what is queued
    /// (at most 256) in one transaction, so that concurrent filings share one durable
    /// commit instead of queueing for one each. Nothing is answered before its commit.
    pub async fn file_request(
        &self,
        actor: Option<String>,
        request: FileRequest,
    ) -> Result<Value, ServerError> {
        let (outcome, answer) = oneshot::channel();
        let id = self
            .shared
            .next_filing
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.filings().push(Queued {
            id,
            actor,
            request,
            outcome,
        });
        let shared = Arc::clone(&self.shared);
        let empty = |shared: &Shared| {
            shared
                .filings
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
        };
        // One batch a turn at the state, so that a stream of filings never keeps other
        // calls (an approval) waiting: what is queued after it is filed by the next
        // filing's turn (every filing queued is followed by a turn of its own).
        let call = self.governance_unless(empty, move |g| {
            let batch: Vec<Queued> = {
                let mut queue = shared
                    .filings
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let n = queue.len().min(FILINGS_PER_COMMIT);
                queue.drain(..n).collect()
            };
            if batch.is_empty() {
                return Ok(());
            }
            let (asked, outcomes): (Vec<_>, Vec<_>) = batch
                .into_iter()
                .map(|q| ((q.actor, q.request), q.outcome))
                .unzip();
            let filed = g.file_requests(asked);
            // Their notifications are queued: the sender need not wait for this call to
            // return (its caller may be answered, and gone, first).
            shared.outbox.notify_one();
            for (filed, outcome) in filed.into_iter().zip(outcomes) {
                let answer = filed.map_err(ServerError::from).and_then(|request| {
                    let review = g.review_filed(&request)?;
                    Ok(json!({"request": request, "review": review}))
                });
                // The caller may have gone; what was filed stays filed.
                let _ = outcome.send(answer);
            }
            Ok(())
        });
        let mut answer = std::pin::pin!(answer);
        // The answer may come from another call's batch before this call has had its
        // turn at the state: then it is answered at once (the call, when its turn
        // comes, finds nothing to do, or files what others queued since).
        let ran = tokio::select! {
            answered = &mut answer => return answered.map_err(|_| dropped())?,
            ran = call => ran,
        };
        if let Err(e) = ran {
            // Not filed when it is still queued: say so, and take it out.
            let mut queue = self.filings();
            let queued = queue.len();
            queue.retain(|q| q.id != id);
            if queue.len() < queued {
                return Err(e);
            }
        }
        answer.await.map_err(|_| dropped())?
    }

    fn filings(&self) -> std::sync::MutexGuard<'_, Vec<Queued>> {
        self.shared
            .filings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the state's store on a connection of its own, off the async threads and
    /// without waiting for the state's calls (a read sees the last commit).
    pub async fn read<T, F>(&self, work: F) -> Result<T, ServerError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn ReadTx) -> Result<T, GovError> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || {
            let store = shared.checks.lock().unwrap_or_else(PoisonError::into_inner);
            store.read(work).map_err(ServerError::from)
        })
        .await
        .map_err(|e| ServerError::Internal(format!("a read failed: {e}")))?
    }

    /// Runs `work` on the governance state, off the async threads.
    pub async fn governance<T, F>(&self, work: F) -> Result<T, ServerError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Governance) -> Result<T, ServerError> + Send + 'static,
    {
        self.governance_unless(|_| false, work)
            .await?
            .ok_or_else(|| ServerError::Internal("a governance call was skipped".to_owned()))
    }

    /// As [`App::governance`], but once the state is this call's, `done` may say there
    /// is nothing left for it to do (another call did it): then nothing runs, not even
    /// the check for a newer version, and the answer is `None`.
    async fn governance_unless<T, F>(
        &self,
        done: impl FnOnce(&Shared) -> bool + Send + 'static,
        work: F,
    ) -> Result<Option<T>, ServerError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Governance) -> Result<T, ServerError> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        let result = tokio::task::spawn_blocking(move || {
            let mut governance = shared
                .governance
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if done(&shared) {
                return Ok(None);
            }
            // Another process or server node may have deployed since the last call:
            // every call starts from the current version (one small read when it is).
            let result = governance
                .follow()
                .map_err(ServerError::from)
                .and_then(|_| work(&mut governance))
                .map(Some);
            // Agents long-polling for a change wake as soon as a deploy commits.
            let version = governance.version();
            shared.revision.send_if_modified(|seen| {
                let newer = *seen != version;
                *seen = version;
                newer
            });
            result
        })
        .await
        .map_err(|e| ServerError::Internal(format!("a governance call failed: {e}")))?;
        // Approvals, requests and rejections queue notifications.
        self.shared.outbox.notify_one();
        result
    }

    /// Runs `work` on the credential store, off the async threads.
    pub async fn credentials<T, F>(&self, work: F) -> Result<T, ServerError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Credentials) -> Result<T, ServerError> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || {
            let mut credentials = shared
                .credentials
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            work(&mut credentials)
        })
        .await
        .map_err(|e| ServerError::Internal(format!("a credential call failed: {e}")))?
    }

    /// Says that another node committed a new bundle version.
    pub fn announce(&self) {
        self.shared.announced.notify_one();
    }

    /// Waits until another node announced a new bundle version.
    pub async fn announced(&self) {
        self.shared.announced.notified().await;
    }

    /// The current bundle version, and a receiver that wakes when it changes (and
    /// when the server stops).
    pub fn revision(&self) -> watch::Receiver<i64> {
        self.shared.revision.subscribe()
    }

    /// Wakes every agent waiting for a change: the server is stopping.
    pub fn stopping(&self) {
        self.shared.revision.send_modify(|_| {});
    }

    /// Bundle `version` as it was stored (from a small cache of recent versions);
    /// `None` when the store does not have it.
    pub fn bundle_at(
        &self,
        g: &Governance,
        version: i64,
    ) -> Result<Option<Arc<Bundle>>, ServerError> {
        let cached = |bundles: &VecDeque<(i64, Arc<Bundle>)>| {
            bundles
                .iter()
                .find(|(v, _)| *v == version)
                .map(|(_, b)| Arc::clone(b))
        };
        if let Some(hit) = cached(&self.bundles()) {
            return Ok(Some(hit));
        }
        let Some(bundle) = g.bundle_at(version)? else {
            return Ok(None);
        };
        let bundle = Arc::new(bundle);
        let mut bundles = self.bundles();
        if bundles.len() >= BUNDLES_KEPT {
            bundles.pop_front();
        }
        bundles.push_back((version, Arc::clone(&bundle)));
        Ok(Some(bundle))
    }

    fn bundles(&self) -> std::sync::MutexGuard<'_, VecDeque<(i64, Arc<Bundle>)>> {
        self.shared
            .bundles
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The key agents' views are signed with.
    pub fn view_key(&self) -> &ViewKey {
        &self.shared.view_key
    }

    /// Waits until a call may have queued a notification.
    pub async fn outbox_touched(&self) {
        self.shared.outbox.notified().await;
    }

    /// Refuses a sign-in for `admin` from `peer` while too many recent ones failed,
    /// saying whether this is the first refusal of the window (the one to audit: an
    /// attacker who keeps trying must not fill the audit).
    pub fn check_sign_in(
        &self,
        admin: &str,
        peer: IpAddr,
        now: i64,
    ) -> Result<(), (ServerError, bool)> {
        self.limiter().check(admin, peer, now)
    }

    /// Counts a failed sign-in.
    pub fn failed_sign_in(&self, admin: &str, peer: IpAddr, now: i64) {
        self.limiter().fail(admin, peer, now);
    }

    /// Forgets the failures of `admin` from `peer` after a good sign-in.
    pub fn good_sign_in(&self, admin: &str, peer: IpAddr) {
        self.limiter().succeed(admin, peer);
    }

    fn limiter(&self) -> std::sync::MutexGuard<'_, Limiter> {
        self.shared
            .limiter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Failed sign-ins allowed per administrator and address within [`WINDOW`].
pub const FAILURES_PER_ACCOUNT: usize = 5;
/// Failed sign-ins allowed per address, over all administrators, within [`WINDOW`].
pub const FAILURES_PER_ADDRESS: usize = 20;
/// The window failures count in, in seconds.
pub const WINDOW: i64 = 15 * 60;

/// Recent failed sign-ins, by administrator and address, and by address.
#[derive(Debug, Default)]
struct Limiter {
    by_account: HashMap<(String, IpAddr), Vec<i64>>,
    by_address: HashMap<IpAddr, Vec<i64>>,
    /// When the refusals of an administrator from an address were last reported.
    reported: HashMap<(String, IpAddr), i64>,
}

impl Limiter {
    fn check(&mut self, admin: &str, peer: IpAddr, now: i64) -> Result<(), (ServerError, bool)> {
        self.forget_before(now - WINDOW);
        let account = self
            .by_account
            .get(&(admin.to_owned(), peer))
            .map_or(&[][..], Vec::as_slice);
        let address = self.by_address.get(&peer).map_or(&[][..], Vec::as_slice);
        let over = |times: &[i64], limit: usize| {
            (times.len() >= limit)
                .then(|| times.first().map_or(WINDOW, |first| first + WINDOW - now))
        };
        let Some(wait) =
            over(account, FAILURES_PER_ACCOUNT).or(over(address, FAILURES_PER_ADDRESS))
        else {
            return Ok(());
        };
        let refused = ServerError::TooMany {
            retry_after: u64::try_from(wait.max(1)).unwrap_or(1),
        };
        let first = self
            .reported
            .insert((admin.to_owned(), peer), now)
            .is_none_or(|last| last <= now - WINDOW);
        Err((refused, first))
    }

    fn fail(&mut self, admin: &str, peer: IpAddr, now: i64) {
        self.by_account
            .entry((admin.to_owned(), peer))
            .or_default()
            .push(now);
        self.by_address.entry(peer).or_default().push(now);
    }

    fn succeed(&mut self, admin: &str, peer: IpAddr) {
        self.by_account.remove(&(admin.to_owned(), peer));
    }

    fn forget_before(&mut self, cutoff: i64) {
        self.by_account.retain(|_, times| {
            times.retain(|t| *t > cutoff);
            !times.is_empty()
        });
        self.by_address.retain(|_, times| {
            times.retain(|t| *t > cutoff);
            !times.is_empty()
        });
        self.reported.retain(|_, last| *last > cutoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_stops_an_account_after_five_failures_for_the_window() {
        let mut limiter = Limiter::default();
        let peer: IpAddr = [127, 0, 0, 1].into();
        for i in 0..5 {
            assert!(limiter.check("ana", peer, 1_000 + i).is_ok());
            limiter.fail("ana", peer, 1_000 + i);
        }
        let refused = limiter.check("ana", peer, 1_010);
        assert!(
            matches!(
                refused,
                Err((ServerError::TooMany { retry_after: 890 }, true))
            ),
            "{refused:?}"
        );
        // Refused again in the same window: not the first refusal, not reported again.
        let again = limiter.check("ana", peer, 1_020);
        assert!(matches!(again, Err((_, false))), "{again:?}");
        // Another account from the same address is not stopped yet …
        assert!(limiter.check("bo", peer, 1_010).is_ok());
        // … and the first one is free again once the window has passed.
        assert!(limiter.check("ana", peer, 1_000 + WINDOW + 5).is_ok());
    }
}
