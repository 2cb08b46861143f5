//! Room in the instance pool, and instances made ahead of the calls.
//!
//! **Room.** wasmtime's pooling allocator reserves a fixed number of component
//! instances, core instances, memories and tables when the host starts. A component
//! needs as many of each as it has: a Rust guest three or four core instances, a
//! componentize-py guest 14. Before a call instantiates, it takes room for exactly what
//! its component needs ([`Room::take`], counted when the component loads), waiting for
//! a call in flight to give some back if there is none, until its own deadline at the
//! latest. A call that found no room in time fails as `busy`, which is the host's
//! doing and does not count against the plugin; without this, the pool's own
//! refusal would be a trap, counted by the circuit breaker.
//!
//! **Warm instances.** A long-running host (the server, an agent) can keep a few
//! instances of each component made ahead ([`Warm`]): instantiated by the host's warmer
//! thread, never called, so a call still gets an instance nothing has run on, but does
//! not wait for its instantiation (1.3 ms for a Python component, most of it the
//! guest's own start functions). Used instances are dropped on that thread too. The
//! CPU time per call is the same; what a caller waits for is shorter.

use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::time::Instant;

use wasmtime::component::Instance;
use wasmtime::Store;

/// What one instance of a component takes from the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Needs {
    /// Core (module) instances, which also bounds its tables in the pool.
    pub(crate) cores: u32,
    /// Linear memories.
    pub(crate) memories: u32,
}

/// What the pool has left.
#[derive(Debug, Clone, Copy)]
struct Free {
    components: u32,
    cores: u32,
    memories: u32,
}

impl Free {
    fn fits(&self, needs: Needs) -> bool {
        self.components >= 1 && self.cores >= needs.cores && self.memories >= needs.memories
    }
}

/// The room left in a host's instance pool.
#[derive(Debug)]
pub(crate) struct Room {
    free: Mutex<Free>,
    freed: Condvar,
    total: Free,
}

impl Room {
    pub(crate) fn new(components: u32, cores: u32, memories: u32) -> Arc<Room> {
        let total = Free {
            components,
            cores,
            memories,
        };
        Arc::new(Room {
            free: Mutex::new(total),
            freed: Condvar::new(),
            total,
        })
    }

    /// Whether an instance needing `needs` can ever fit.
    pub(crate) fn can_hold(&self, needs: Needs) -> Result<(), String> {
        if self.total.fits(needs) {
            Ok(())
        } else {
            Err(format!(
                "an instance of it needs {} core instances and {} memories; this host's \
                 pool holds {} and {} in all",
                needs.cores, needs.memories, self.total.cores, self.total.memories
            ))
        }
    }

    /// Room for one instance needing `needs`, waiting for some to be given back until
    /// `deadline` at the latest; `None` when there was none by then.
    pub(crate) fn take(self: &Arc<Self>, needs: Needs, deadline: Instant) -> Option<Lease> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while !free.fits(needs) {
            let left = deadline.checked_duration_since(Instant::now())?;
            free = self
                .freed
                .wait_timeout(free, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        free.components -= 1;
        free.cores -= needs.cores;
        free.memories -= needs.memories;
        Some(Lease {
            room: Arc::clone(self),
            needs,
        })
    }
}

/// Room taken for one instance; given back when dropped.
#[derive(Debug)]
pub(crate) struct Lease {
    room: Arc<Room>,
    needs: Needs,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut free = self
            .room
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        free.components += 1;
        free.cores += self.needs.cores;
        free.memories += self.needs.memories;
        drop(free);
        self.room.freed.notify_all();
    }
}

/// A store with its room: the store (and its instances' slots) goes first, then the
/// room is given back.
pub(crate) struct Held<T: 'static> {
    pub(crate) store: Store<T>,
    _lease: Lease,
}

impl<T> Held<T> {
    pub(crate) fn new(store: Store<T>, lease: Lease) -> Held<T> {
        Held {
            store,
            _lease: lease,
        }
    }
}

/// An instance made ahead, in its store.
pub(crate) struct Ready<T: 'static> {
    pub(crate) held: Held<T>,
    pub(crate) instance: Instance,
}

/// How a component's instances are made: what the warmer needs of its plugin.
pub(crate) trait Maker<T: 'static>: Send + Sync {
    /// A fresh store with room taken, and its instance; `None` when it cannot be made
    /// now (no room, or it failed: the call will then make one and report why).
    fn make(&self) -> Option<Ready<T>>;
}

/// The instances of one component made ahead (as many as the host's warmer keeps).
pub(crate) struct Warm<T: 'static> {
    state: Mutex<WarmState<T>>,
}

struct WarmState<T: 'static> {
    ready: Vec<Ready<T>>,
    /// Asked of the warmer and not yet made.
    pending: usize,
}

impl<T> Warm<T> {
    /// How many are ready.
    pub(crate) fn ready(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .ready
            .len()
    }
}

/// The host's warmer thread: it makes instances ahead and drops used stores.
pub(crate) struct Warmer<T: 'static> {
    jobs: Mutex<Sender<Job<T>>>,
    /// How many instances of each component it keeps ready.
    depth: usize,
}

enum Job<T: 'static> {
    /// Make one instance of this component.
    Make(Weak<dyn Maker<T>>, Weak<Warm<T>>),
    /// Drop a used store.
    Drop(Held<T>),
}

impl<T: Send + 'static> Warmer<T> {
    /// Starts the thread, which keeps `depth` instances of each component ready. It
    /// ends when the warmer is dropped.
    pub(crate) fn start(depth: usize) -> std::io::Result<Warmer<T>> {
        let (jobs, queue) = mpsc::channel::<Job<T>>();
        std::thread::Builder::new()
            .name("portcullis-wasm-warmer".to_owned())
            .spawn(move || {
                while let Ok(job) = queue.recv() {
                    match job {
                        Job::Make(maker, warm) => {
                            let (Some(maker), Some(warm)) = (maker.upgrade(), warm.upgrade())
                            else {
                                continue;
                            };
                            let made = maker.make();
                            let mut state =
                                warm.state.lock().unwrap_or_else(PoisonError::into_inner);
                            state.pending = state.pending.saturating_sub(1);
                            if let Some(ready) = made {
                                state.ready.push(ready);
                            }
                        }
                        Job::Drop(held) => drop(held),
                    }
                }
            })?;
        Ok(Warmer {
            jobs: Mutex::new(jobs),
            depth,
        })
    }

    fn send(&self, job: Job<T>) -> Result<(), Job<T>> {
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(job)
            .map_err(|e| e.0)
    }

    /// Drops a used store on the warmer thread.
    pub(crate) fn discard(&self, held: Held<T>) {
        // If the thread is gone, the store is dropped here.
        let _ = self.send(Job::Drop(held));
    }

    /// An empty set of instances made ahead, for one component.
    pub(crate) fn warm(&self) -> Arc<Warm<T>> {
        Arc::new(Warm {
            state: Mutex::new(WarmState {
                ready: Vec::new(),
                pending: 0,
            }),
        })
    }

    /// Asks for instances until `warm` has the depth (ready and pending).
    pub(crate) fn top_up(&self, maker: &Arc<dyn Maker<T>>, warm: &Arc<Warm<T>>) {
        let mut state = warm.state.lock().unwrap_or_else(PoisonError::into_inner);
        while state.ready.len() + state.pending < self.depth {
            if self
                .send(Job::Make(Arc::downgrade(maker), Arc::downgrade(warm)))
                .is_err()
            {
                return;
            }
            state.pending += 1;
        }
    }

    /// An instance made ahead, if one is ready; another is asked for in its place.
    pub(crate) fn take(&self, maker: &Arc<dyn Maker<T>>, warm: &Arc<Warm<T>>) -> Option<Ready<T>> {
        let ready = warm
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .ready
            .pop();
        self.top_up(maker, warm);
        ready
    }
}
