//! Running a sans-I/O session on tokio's blocking pool.
//!
//! Protocol sessions are state machines without I/O of their own, but they call the
//! synchronous store, and the store reads and writes files and fsyncs. Run on an async
//! worker, one slow fsync would stall every other connection that worker serves (on the
//! current-thread runtime: all of them). A driver therefore keeps its session in an
//! [`Offloaded`] and lends it to [`tokio::task::spawn_blocking`] for every call that can
//! reach the store; the async side only frames, waits and writes.
//!
//! The session moves into the blocking closure together with its owned input and comes
//! back with the output, so no lock or `Arc` is needed around it and the session type only
//! has to be `Send + 'static`. `spawn_blocking` works on the current-thread runtime too,
//! unlike `block_in_place`, so drivers need no special case for the runtime's flavour.

/// A session that lives on the async side between calls and runs on the blocking pool
/// during them.
///
/// If a call panics, the session is gone: that call and every later one return
/// [`SessionLost`], and the driver ends the connection with its protocol's generic error.
/// The panic stays inside the blocking task, so the server and the other sessions go on.
#[derive(Debug)]
pub struct Offloaded<S: Send + 'static> {
    /// `None` while a call runs and after a call panicked.
    session: Option<S>,
}

/// The session panicked (or the runtime shut down) during a call, and was lost with it.
#[derive(Debug, thiserror::Error)]
#[error("the session was lost: {0}")]
pub struct SessionLost(String);

impl<S: Send + 'static> Offloaded<S> {
    /// Takes charge of `session`.
    pub fn new(session: S) -> Self {
        Offloaded {
            session: Some(session),
        }
    }

    /// Runs `f` on the session on tokio's blocking pool and returns what it returned.
    ///
    /// Give `f` its input by value (`move`): it runs on another thread. If the returned
    /// future is dropped before it completes, the session is lost as after a panic, so
    /// drivers await it to the end instead of racing it against anything.
    pub async fn run<T, F>(&mut self, f: F) -> Result<T, SessionLost>
    where
        F: FnOnce(&mut S) -> T + Send + 'static,
        T: Send + 'static,
    {
        let Some(mut session) = self.session.take() else {
            return Err(SessionLost("an earlier call failed".to_owned()));
        };
        let task = tokio::task::spawn_blocking(move || {
            let out = f(&mut session);
            (session, out)
        });
        match task.await {
            Ok((session, out)) => {
                self.session = Some(session);
                Ok(out)
            }
            Err(e) => {
                // The panic message itself has already gone to the panic hook (stderr).
                tracing::error!(error = %e, "session failed; closing the connection");
                Err(SessionLost(e.to_string()))
            }
        }
    }

    /// The session, for the calls that never reach the store (told that TLS started,
    /// asked for a fixed line); `None` once it is lost.
    pub fn get_mut(&mut self) -> Option<&mut S> {
        self.session.as_mut()
    }

    /// Ends the session: it is dropped on the blocking pool, because dropping it releases
    /// what it holds in the store (the POP3 maildrop lock is an open, locked file; a
    /// database backend would return a connection). Awaited, so that everything is
    /// released once the connection's task ends.
    pub async fn close(&mut self) {
        if let Some(session) = self.session.take() {
            let _ = tokio::task::spawn_blocking(move || drop(session)).await;
        }
    }
}

impl<S: Send + 'static> Drop for Offloaded<S> {
    /// The fallback when a driver returned early (an I/O error) or was itself dropped
    /// without [`Offloaded::close`]: still keep the drop off the async worker.
    fn drop(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn_blocking(move || drop(session));
            }
            Err(_) => drop(session),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_runs_off_the_worker_and_gives_the_session_back() {
        let worker = std::thread::current().id();
        let mut s = Offloaded::new(0u32);
        let ran_on = s
            .run(|n| {
                *n += 1;
                std::thread::current().id()
            })
            .await
            .unwrap();
        assert_ne!(ran_on, worker);
        assert_eq!(s.get_mut(), Some(&mut 1));
        s.close().await;
        assert_eq!(s.get_mut(), None);
    }

    #[tokio::test]
    async fn a_panic_loses_the_session_not_the_runtime() {
        let mut s = Offloaded::new(String::from("state"));
        let lost = s.run(|_| -> () { panic!("boom") }).await;
        assert!(lost.is_err());
        assert!(s.get_mut().is_none());
        assert!(s.run(|s| s.len()).await.is_err(), "later calls fail too");
    }
}
