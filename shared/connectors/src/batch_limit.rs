//! Batch limits discovered, not assumed: the most records one bulk request may carry.
//!
//! A client starts from a configured size. When the system refuses a multi-record request as a
//! whole (a 4xx other than 401/403/429 with no per-record results, or 413), the request is split
//! in halves and each half is sent again, down to one record; only the refusal of a one-record
//! request refuses that record. When both halves of a refused request are accepted, the half's
//! size becomes the client's limit for the rest of its life (shared by its clones) and is
//! reported through `ContactWriter::bulk_limit` so the pipeline can remember it. A limit only
//! goes down: a refusal caused by a bad record rather than the size (one half refused, the other
//! accepted) teaches nothing.

use contact_sync_engine::Side;
use contact_sync_pipeline::system::SystemError;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The records-per-request limit of one client, shared by its clones.
#[derive(Debug)]
pub(crate) struct BatchLimit {
    side: Side,
    start: usize,
    current: AtomicUsize,
}

impl BatchLimit {
    /// A limit starting at `start` (at least 1).
    pub(crate) fn new(side: Side, start: usize) -> BatchLimit {
        let start = start.max(1);
        BatchLimit {
            side,
            start,
            current: AtomicUsize::new(start),
        }
    }

    /// The most records one request carries now.
    pub(crate) fn current(&self) -> usize {
        self.current.load(Ordering::SeqCst)
    }

    /// The learned limit, when it is below the start.
    pub(crate) fn learned(&self) -> Option<usize> {
        Some(self.current()).filter(|&c| c < self.start)
    }

    /// Starts from `size` (learned by an earlier run) when it is lower than the current limit.
    pub(crate) fn adopt(&self, size: usize) {
        let size = size.max(1);
        let old = self.current.fetch_min(size, Ordering::SeqCst);
        if size < old {
            tracing::info!(side = %self.side, old, new = size, "bulk requests start at a size learned earlier");
        }
    }

    /// Lowers the limit to `size` (never raises it); warns once per step.
    fn learn(&self, size: usize, what: &str) {
        let size = size.max(1);
        let old = self.current.fetch_min(size, Ordering::SeqCst);
        if size < old {
            tracing::warn!(side = %self.side, what, old, new = size, "a bulk request was refused as a whole; requests carry at most `new` records from now on");
        }
    }
}

/// Whether a call failure is the refusal of the whole request (4xx other than 401/403/429, or
/// 413): nothing of it was processed, and a smaller request may pass.
pub(crate) fn is_whole_refusal(error: &SystemError) -> bool {
    matches!(error, SystemError::Rejected { status, .. }
        if *status == 413 || ((400..500).contains(status) && !matches!(status, 401 | 403 | 429)))
}

/// A boxed, sendable future.
pub(crate) type Sending<'a, R> = Pin<Box<dyn Future<Output = Result<R, SystemError>> + Send + 'a>>;

/// What one part of a batch gave: its results, and whether it went in one accepted request.
struct Sent<R> {
    results: Vec<R>,
    whole: bool,
}

/// Sends one request of items.
pub(crate) type SendRequest<'a, T, R> =
    Box<dyn Fn(&'a [T]) -> Sending<'a, Vec<R>> + Send + Sync + 'a>;
/// The outcome of an item refused alone (or the error).
pub(crate) type RefusedAlone<'a, T, R> =
    Box<dyn Fn(&'a T, SystemError) -> Result<R, SystemError> + Send + Sync + 'a>;
/// The outcomes of items whose request failed after earlier requests were sent (or the error).
pub(crate) type FailedAfter<'a, T, R> =
    Box<dyn Fn(&'a [T], SystemError) -> Result<Vec<R>, SystemError> + Send + Sync + 'a>;

/// Sends items in requests of at most the limit, splitting refused requests (see the module).
pub(crate) struct Splitter<'a, T, R> {
    pub limit: &'a BatchLimit,
    pub what: &'static str,
    /// Sends one request.
    pub send: SendRequest<'a, T, R>,
    /// The outcome of an item whose one-record request was refused as a whole (or the error,
    /// when that cannot be an outcome).
    pub refused_alone: RefusedAlone<'a, T, R>,
    /// The outcomes of items whose request failed (not refused) after earlier requests of the
    /// same batch were sent (or the error).
    pub failed_after: FailedAfter<'a, T, R>,
}

impl<'a, T: Sync + 'a, R: Send + 'a> Splitter<'a, T, R> {
    /// Sends every item: one result per item (as `send` and the callbacks give them). A failure
    /// of the first request is returned as the error.
    pub(crate) async fn send_all<'s>(&'s self, items: &'a [T]) -> Result<Vec<R>, SystemError>
    where
        'a: 's,
    {
        Ok(self.send_part(items).await?.results)
    }

    fn send_part<'s>(&'s self, items: &'a [T]) -> Sending<'s, Sent<R>>
    where
        'a: 's,
    {
        Box::pin(async move {
            if items.is_empty() {
                return Ok(Sent {
                    results: Vec::new(),
                    whole: true,
                });
            }
            let limit = self.limit.current();
            if items.len() <= limit {
                return self.send_request(items).await;
            }
            let mut results = Vec::with_capacity(items.len());
            let mut offset = 0;
            while offset < items.len() {
                // The limit may have been lowered by the previous part.
                let end = (offset + self.limit.current()).min(items.len());
                match self.send_part(&items[offset..end]).await {
                    Ok(sent) => results.extend(sent.results),
                    Err(e) if offset == 0 => return Err(e),
                    Err(e) => {
                        results.extend((self.failed_after)(&items[offset..], e)?);
                        break;
                    }
                }
                offset = end;
            }
            Ok(Sent {
                results,
                whole: false,
            })
        })
    }

    async fn send_request<'s>(&'s self, items: &'a [T]) -> Result<Sent<R>, SystemError>
    where
        'a: 's,
    {
        match (self.send)(items).await {
            Ok(results) => Ok(Sent {
                results,
                whole: true,
            }),
            Err(e) if is_whole_refusal(&e) => {
                if let [single] = items {
                    return Ok(Sent {
                        results: vec![(self.refused_alone)(single, e)?],
                        whole: false,
                    });
                }
                let (left, right) = items.split_at(items.len().div_ceil(2));
                tracing::debug!(
                    what = self.what,
                    records = items.len(),
                    "request refused as a whole: sending it in halves"
                );
                let first = self.send_part(left).await?;
                let second = match self.send_part(right).await {
                    Ok(sent) => sent,
                    Err(e) => Sent {
                        results: (self.failed_after)(right, e)?,
                        whole: false,
                    },
                };
                if first.whole && second.whole {
                    self.limit.learn(left.len(), self.what);
                }
                let mut results = first.results;
                results.extend(second.results);
                Ok(Sent {
                    results,
                    whole: false,
                })
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn refused(status: u16) -> SystemError {
        SystemError::Rejected {
            side: Side::Genesys,
            status,
            message: "bulk add: bad.request".into(),
        }
    }

    /// A fake server: refuses requests above `cap` and any request holding `bad`; records
    /// each request's size.
    async fn run(
        start: usize,
        cap: usize,
        bad: Option<u32>,
        items: &[u32],
    ) -> (Vec<Result<u32, String>>, Vec<usize>, Option<usize>) {
        let limit = BatchLimit::new(Side::Genesys, start);
        let calls = Mutex::new(Vec::new());
        let calls_ref = &calls;
        let splitter = Splitter {
            limit: &limit,
            what: "test",
            send: Box::new(move |part: &[u32]| {
                calls_ref.lock().expect("lock").push(part.len());
                let refuse = part.len() > cap || bad.is_some_and(|b| part.contains(&b));
                let out: Vec<Result<u32, String>> = part.iter().map(|&i| Ok(i)).collect();
                Box::pin(async move { if refuse { Err(refused(400)) } else { Ok(out) } })
            }),
            refused_alone: Box::new(|&i, _| Ok(Err(format!("refused {i}")))),
            failed_after: Box::new(|_, e| Err(e)),
        };
        let out = splitter.send_all(items).await.expect("sent");
        drop(splitter);
        let learned = limit.learned();
        (out, calls.into_inner().expect("calls"), learned)
    }

    #[tokio::test]
    async fn a_size_cap_is_learned_with_one_refused_request_per_step() {
        // GIVEN 400 items, a client starting at 200 and a server that takes at most 50
        let items: Vec<u32> = (0..400).collect();
        // WHEN they are sent in requests of the current limit
        let (out, calls, learned) = run(200, 50, None, &items).await;
        // THEN every item is accepted, in order
        assert_eq!(out, items.iter().map(|&i| Ok(i)).collect::<Vec<_>>());
        // AND only the 200 and the first 100 were refused (two steps: 200 → 100 → 50)
        let refused = calls.iter().filter(|&&n| n > 50).count();
        assert_eq!(refused, 2, "{calls:?}");
        assert_eq!(calls.iter().filter(|&&n| n == 50).count(), 8);
        assert_eq!(learned, Some(50));
    }

    #[tokio::test]
    async fn a_bad_record_is_refused_alone_and_teaches_no_limit() {
        // GIVEN 100 items of which one makes any request holding it refused
        let items: Vec<u32> = (0..100).collect();
        // WHEN sent with a start the server allows
        let (out, _calls, learned) = run(100, 200, Some(37), &items).await;
        // THEN only that item is refused, the others accepted
        for (i, r) in out.iter().enumerate() {
            if i == 37 {
                assert_eq!(r, &Err("refused 37".to_owned()));
            } else {
                assert_eq!(r, &Ok(i as u32));
            }
        }
        // AND the limit stays where it started
        assert_eq!(learned, None);
    }

    #[test]
    fn only_whole_request_refusals_split() {
        // GIVEN call failures of several classes THEN only 4xx refusals (not 401/403/429) and
        // 413 are whole-request refusals
        assert!(is_whole_refusal(&refused(400)));
        assert!(is_whole_refusal(&refused(413)));
        assert!(is_whole_refusal(&refused(422)));
        assert!(!is_whole_refusal(&refused(403)));
        assert!(!is_whole_refusal(&refused(401)));
        assert!(!is_whole_refusal(&SystemError::Transient {
            side: Side::Genesys,
            message: "503".into()
        }));
    }

    proptest::proptest! {
        #[test]
        fn every_item_gets_one_result_whatever_the_cap(start in 1usize..300, cap in 1usize..300, n in 0usize..700) {
            // GIVEN any start, server cap and batch size
            let items: Vec<u32> = (0..n as u32).collect();
            let rt = tokio::runtime::Builder::new_current_thread().build().expect("rt");
            // WHEN sent
            let (out, calls, learned) = rt.block_on(run(start, cap, None, &items));
            // THEN every item is accepted once, in order, and no request is ever above the
            // start
            proptest::prop_assert_eq!(out, items.iter().map(|&i| Ok(i)).collect::<Vec<_>>());
            proptest::prop_assert!(calls.iter().all(|&c| c <= start.max(1)));
            // AND a learned limit never exceeds the cap
            if let Some(l) = learned {
                proptest::prop_assert!(l <= cap);
            }
        }
    }
}
