//! Ticket numbers: gap-free per (organization, kind), taken without holding
//! the counter row through the whole use case.
//!
//! The plain way ([`Mode::Lock`]) increments the counter row just before the
//! ticket is inserted and keeps the row locked to commit, so everything a use case does
//! after numbering (SLA clocks, notifications, automation, rendering, the
//! flush) runs one creation at a time. On Postgres the number is *predicted*
//! instead ([`Mode::Predict`]): the process hands numbers out in order, the
//! use cases run with them side by side, and the flush statement moves the
//! counter only where it still stands just below the prediction
//! (`last_value = n - 1`) — at COMMIT, where a deferred trigger applies
//! what the flush staged (`store::flush`). Each predicted ticket row is
//! inserted under an advisory lock of its number, and the COMMIT of `n`
//! waits on the lock of `n - 1` inside Postgres: numbers commit in order,
//! and only COMMIT is serial. The process only makes sure that `n`'s flush
//! does not reach Postgres before `n - 1`'s lock is taken.
//!
//! A prediction that turns out wrong — a predecessor rolled back, another
//! replica took the number — fails the use case with [`DeskError::Retry`]
//! (or its COMMIT with `SBNUM`) before anything commits, and
//! `Desk::transact` runs it again the plain way.
//! Numbers stay gap-free either way: the counter moves by one, in the
//! transaction that inserts that number's ticket. After a failed prediction
//! the counter is taken the plain way for [`COOL_DOWN`], so replicas that
//! keep meeting each other do not run every creation twice.
//!
//! Across processes a Postgres advisory lock per counter keeps the two ways
//! apart (held shared by predicted creations, exclusively by locked ones;
//! `store::tickets`), so a locked creation never waits on a predicted
//! ticket row while that one waits on the counter row.
//!
//! Either way the number is formatted here, once, by
//! [`TicketNumber::from_counter`], and the store binds that text: no SQL
//! formats a number.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::{watch, OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};
use uuid::Uuid;

use super::{Desk, DeskError, Work};
use crate::{
    domain::{Kind, TicketNumber},
    store::{self, tickets::NewTicket, Tx},
};

/// One ticket counter: (organization, kind).
pub(crate) type Key = (Uuid, &'static str);

/// How long a flush waits for its predecessor's number lock to be taken
/// before it goes ahead anyway. Past it the prediction is most likely wrong
/// (the predecessor is stuck); going ahead makes it a failed COMMIT and a
/// retry rather than a wait.
const TURN_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the plain way waits for this process's predicted creations to
/// finish before it relies on the counter's row lock alone (still correct,
/// see [`Counters::lock`]).
const GATE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a counter is taken the plain way after a prediction failed.
const COOL_DOWN: Duration = Duration::from_secs(1);

/// How a use case takes ticket numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Predicted in process, checked at the flush (Postgres).
    Predict,
    /// Counter row locked from the increment to commit (SQLite, and the
    /// retry of a use case whose prediction failed).
    Lock,
}

/// Whether a failed run of a use case in [`Mode::Predict`] is worth running
/// again the plain way: a prediction that cannot stand
/// ([`DeskError::Retry`], or the COMMIT's `SBNUM` on Postgres), or a
/// deadlock Postgres broke (a predicted creation waits at COMMIT for the
/// number before it, which may wait on the first one's row of a repeated
/// input).
pub(crate) fn retry_locked(error: &DeskError) -> bool {
    match error {
        DeskError::Retry(_) => true,
        DeskError::Store(e) => store::is_deadlock(e) || store::tickets::is_number_taken(e),
        _ => false,
    }
}

impl Desk {
    /// Inserts `new`, a ticket of `kind`, under the next number of its
    /// counter and answers that number. The counter is held until the
    /// transaction ends: predicted on Postgres (the ticket row under its
    /// number's lock, the counter moved at COMMIT), else its row locked
    /// from the increment on (see the module doc). Everything a creation
    /// can read before should be read before: see
    /// [`Work::prefetch_for_open`].
    pub(crate) async fn insert_numbered_ticket(
        &self,
        work: &mut Work,
        new: &NewTicket,
        kind: Kind,
    ) -> Result<String, DeskError> {
        if let Some(seq) = self.number_ticket(work, new.org_id, kind).await? {
            let number = formatted(kind, seq)?;
            match store::tickets::insert_predicted_ticket(&mut work.tx, new, &number, seq).await {
                Err(error) if store::is_unique_violation(&error) => {
                    return Err(DeskError::Retry("another process holds the number"));
                }
                inserted => inserted?,
            }
            work.numbered();
            return Ok(number);
        }
        let seq = store::tickets::next_ticket_seq(&mut work.tx, new.org_id, kind.as_str()).await?;
        let number = formatted(kind, seq)?;
        store::tickets::insert_ticket(&mut work.tx, new, &number).await?;
        Ok(number)
    }

    /// Takes the ticket counter of (organization, kind) for one new ticket
    /// and holds it until the transaction ends. Answers the predicted
    /// number in [`Mode::Predict`]; `None` in [`Mode::Lock`], where the
    /// caller increments the counter row itself as it inserts the ticket.
    ///
    /// A second ticket in a predicted run fails with [`DeskError::Retry`]
    /// and the use case runs again the plain way: one flush checks one
    /// counter, and two predictions of one counter in one transaction need
    /// not be consecutive. A counter whose prediction failed within the last
    /// second is taken the plain way too.
    async fn number_ticket(
        &self,
        work: &mut Work,
        org_id: Uuid,
        kind: Kind,
    ) -> Result<Option<i64>, DeskError> {
        let key = (org_id, kind.as_str());
        let numbers = &mut work.buffers.numbers;
        match work.numbering {
            Mode::Predict if !self.counters.cooling(key) => {
                if !numbers.is_empty() {
                    return Err(DeskError::Retry("a second ticket in one predicted run"));
                }
                let reservation = self.counters.predict(key, &mut work.tx).await?;
                let number = reservation.number;
                numbers.push(Hold::Predicted(reservation));
                Ok(Some(number))
            }
            _ => {
                if !numbers.iter().any(|hold| hold.key() == key) {
                    let hold = self.counters.lock(key).await;
                    numbers.push(hold);
                }
                Ok(None)
            }
        }
    }
}

impl Work {
    /// The predicted number's ticket row and lock are in: the next number
    /// may go on to COMMIT and wait there.
    fn numbered(&mut self) {
        for hold in &self.buffers.numbers {
            if let Hold::Predicted(reservation) = hold {
                reservation.numbered();
            }
        }
    }

    /// The counter move the flush stages for COMMIT, once the number before
    /// it is in (see [`Reservation::wait_turn`]); `None` unless this run
    /// predicted a number.
    pub(super) async fn predicted_counter(&mut self) -> Option<store::flush::CounterMove<'static>> {
        let reservation = self
            .buffers
            .numbers
            .iter_mut()
            .find_map(|hold| match hold {
                Hold::Predicted(r) => Some(r),
                Hold::Locked { .. } => None,
            })?;
        reservation.wait_turn().await;
        Some(store::flush::CounterMove {
            org_id: reservation.key.0,
            kind: reservation.key.1,
            number: reservation.number,
        })
    }
}

/// How ticket `seq` of `kind` is shown and stored (`INC0000042`).
fn formatted(kind: Kind, seq: i64) -> Result<String, DeskError> {
    let number = TicketNumber::from_counter(kind, seq)
        .map_err(|e| anyhow::anyhow!("ticket counter out of range: {e}"))?;
    Ok(number.to_string())
}

/// The per-counter state of this process.
#[derive(Default)]
pub(crate) struct Counters(Mutex<HashMap<Key, Arc<Counter>>>);

#[derive(Default)]
struct Counter {
    /// Predicted creations hold it shared, the plain way exclusively: a
    /// locked creation never runs beside predicted ones of this process, and
    /// the counter is re-read from the database only when none is in flight.
    gate: Arc<RwLock<()>>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The number to hand out next; `None` until read from the database, and
    /// again after anything made it doubtful.
    next: Option<i64>,
    /// Bumped whenever `next` is forgotten, so a stale reservation's end does
    /// not forget a fresh value.
    epoch: u64,
    /// Set once the last reservation handed out has its number's lock (or
    /// has ended).
    last_numbered: Option<watch::Receiver<bool>>,
    /// Until when creations take the counter the plain way.
    cooling_until: Option<Instant>,
}

impl State {
    fn forget(&mut self) {
        self.next = None;
        self.last_numbered = None;
        self.epoch += 1;
    }
}

/// A number held by a transaction until it ends.
pub(crate) enum Hold {
    /// The plain way: the counter row is locked by the transaction itself.
    Locked {
        key: Key,
        _gate: Option<OwnedRwLockWriteGuard<()>>,
    },
    Predicted(Reservation),
}

impl Hold {
    pub(crate) fn key(&self) -> Key {
        match self {
            Hold::Locked { key, .. } => *key,
            Hold::Predicted(r) => r.key,
        }
    }

    /// Marks the number as committed (see [`Reservation`]'s drop).
    pub(crate) fn committed(self) {
        if let Hold::Predicted(mut r) = self {
            r.committed = true;
        }
    }
}

/// A predicted number. Dropped before [`Hold::committed`], it makes the
/// process forget its next number: successors already handed one are off by
/// one and will fail their check.
pub(crate) struct Reservation {
    key: Key,
    pub(crate) number: i64,
    counter: Arc<Counter>,
    epoch: u64,
    previous: Option<watch::Receiver<bool>>,
    numbered: watch::Sender<bool>,
    committed: bool,
    _gate: OwnedRwLockReadGuard<()>,
}

impl Reservation {
    /// Waits until the previous number's ticket row and lock are in (or
    /// that use case has ended), so this COMMIT waits on that lock in
    /// Postgres rather than failing against the counter's old value. Mostly
    /// long done: a use case numbers its ticket early and commits last.
    pub(crate) async fn wait_turn(&mut self) {
        if let Some(mut previous) = self.previous.take() {
            let _ = tokio::time::timeout(TURN_TIMEOUT, previous.wait_for(|done| *done)).await;
        }
    }

    /// This number's ticket row and lock are in.
    pub(crate) fn numbered(&self) {
        self.numbered.send_replace(true);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.numbered.send_replace(true);
        if self.committed {
            return;
        }
        let mut state = lock(&self.counter.state);
        state.cooling_until = Some(Instant::now() + COOL_DOWN);
        if state.epoch == self.epoch {
            state.forget();
        }
    }
}

impl Counters {
    fn counter(&self, key: Key) -> Arc<Counter> {
        lock(&self.0).entry(key).or_default().clone()
    }

    /// Whether a prediction of `key` failed within [`COOL_DOWN`].
    pub(crate) fn cooling(&self, key: Key) -> bool {
        let counter = self.counter(key);
        let state = lock(&counter.state);
        state
            .cooling_until
            .is_some_and(|until| Instant::now() < until)
    }

    /// The plain way's turn: no predicted creation of this process runs
    /// beside it, and predictions restart from the database afterwards. The
    /// counter row lock taken by the caller is what keeps numbers right;
    /// the gate only spares Postgres a pile of waiters on that row, so past
    /// [`GATE_TIMEOUT`] (a predicted creation waiting on this transaction
    /// inside Postgres) it goes ahead without it.
    pub(crate) async fn lock(&self, key: Key) -> Hold {
        let counter = self.counter(key);
        let gate = tokio::time::timeout(GATE_TIMEOUT, counter.gate.clone().write_owned())
            .await
            .ok();
        if gate.is_none() {
            tracing::warn!(org = %key.0, kind = key.1, "ticket counter gate not free in time; relying on the row lock");
        }
        lock(&counter.state).forget();
        Hold::Locked { key, _gate: gate }
    }

    /// Predicts the next number of `key`, reading the committed counter in
    /// `tx` when the process does not know it.
    pub(crate) async fn predict(&self, key: Key, tx: &mut Tx) -> Result<Reservation, DeskError> {
        let counter = self.counter(key);
        loop {
            let gate = tokio::time::timeout(GATE_TIMEOUT, counter.gate.clone().read_owned())
                .await
                .map_err(|_| DeskError::Retry("the counter's gate was not free in time"))?;
            if lock(&counter.state).next.is_some() {
                if let Some(r) = hand_out(&counter, key, gate) {
                    return Ok(r);
                }
                continue;
            }
            drop(gate);
            let gate = tokio::time::timeout(GATE_TIMEOUT, counter.gate.clone().write_owned())
                .await
                .map_err(|_| DeskError::Retry("the counter's gate was not free in time"))?;
            if lock(&counter.state).next.is_none() {
                // Nothing of this process is in flight: the committed value
                // is the whole truth as far as this process knows.
                let last = store::tickets::last_ticket_seq(tx, key.0, key.1).await?;
                let mut state = lock(&counter.state);
                state.forget();
                state.next = Some(last + 1);
            }
            if let Some(r) = hand_out(&counter, key, gate.downgrade()) {
                return Ok(r);
            }
        }
    }
}

fn hand_out(
    counter: &Arc<Counter>,
    key: Key,
    gate: OwnedRwLockReadGuard<()>,
) -> Option<Reservation> {
    let mut state = lock(&counter.state);
    let number = state.next?;
    state.next = Some(number + 1);
    let (numbered, done) = watch::channel(false);
    let previous = state.last_numbered.replace(done);
    Some(Reservation {
        key,
        number,
        counter: counter.clone(),
        epoch: state.epoch,
        previous,
        numbered,
        committed: false,
        _gate: gate,
    })
}

/// The state is plain data; a panic elsewhere cannot leave it half-written.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
