//! Independent model runs side by side on tract's thread pool.
//!
//! The device sets one process-wide pool for tract's matrix products
//! (`pipeline::set_inference_threads`, from the config's `inference_threads`). tract splits only
//! the matrix products over it; the rest of an inference (im2col, the QDQ dequantize ops, the
//! detector's decoding) runs on the calling thread. Runs that do not depend on each other, the
//! two flip-TTA passes of a chip and the photos of one session, go on the same pool here, so
//! those parts overlap too. Rayon's work stealing shares the pool's threads between them and
//! the matrix products inside them: never more threads than configured. With one thread (the
//! default for the batch commands and the tests) everything runs in order on the caller.

use tract_linalg::multithread::{current_tract_executor, Executor};

/// `a()` and `b()`, side by side on tract's pool when it has one, else one after the other.
pub fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    match current_tract_executor() {
        Executor::MultiThread(pool) => pool.join(a, b),
        _ => (a(), b()),
    }
}

/// `f` of every item, in the items' order, side by side on tract's pool when it has one.
pub fn map<T, R, F>(items: &[T], f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    match current_tract_executor() {
        Executor::MultiThread(pool) if items.len() > 1 => {
            let mut out: Vec<Option<R>> = items.iter().map(|_| None).collect();
            pool.scope(|s| {
                for (slot, item) in out.iter_mut().zip(items) {
                    let f = &f;
                    s.spawn(move |_| *slot = Some(f(item)));
                }
            });
            out.into_iter()
                .map(|r| r.expect("every spawned run finished inside the scope"))
                .collect()
        }
        _ => items.iter().map(f).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_linalg::multithread::multithread_tract_scope;

    #[test]
    fn results_keep_their_order_with_and_without_a_pool() {
        let items: Vec<u32> = (0..9).collect();
        let square = |x: &u32| x * x;
        let want: Vec<u32> = items.iter().map(square).collect();
        assert_eq!(map(&items, square), want);
        assert_eq!(join(|| 1, || "b"), (1, "b"));
        // On a 2-thread pool (for this thread only: the process default stays single).
        multithread_tract_scope(Executor::multithread(2), || {
            assert_eq!(map(&items, square), want);
            assert_eq!(join(|| 1, || "b"), (1, "b"));
        });
    }
}
