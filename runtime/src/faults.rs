//! Named crash points for tests: when `REPLGEN_CRASH_AT` names a point, the process aborts
//! there, exactly as a kill -9 would stop it (no unwinding, no cleanup). Crash tests use it to
//! reach the narrow windows a random kill rarely hits; unset, it costs one lookup per process.
//! Also the one memory bound tests lower to reach the path past it.

use std::sync::OnceLock;

pub fn crash_point(name: &str) {
    static POINTS: OnceLock<Vec<String>> = OnceLock::new();
    let points = POINTS.get_or_init(|| {
        std::env::var("REPLGEN_CRASH_AT")
            .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
            .unwrap_or_default()
    });
    if points.iter().any(|p| p == name) {
        eprintln!("crash point {name}: aborting");
        std::process::abort();
    }
}

/// The memory the keys of a batch staged newest first may take (bytes); past it the batch is
/// staged again in packet order, every line (`replica/newest.rs`). `REPLGEN_BATCH_KEY_BYTES`
/// lowers it for tests.
pub fn batch_key_budget() -> usize {
    static BUDGET: OnceLock<usize> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        std::env::var("REPLGEN_BATCH_KEY_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(32 << 20)
    })
}

/// Whether a batch is staged newest packet first even when its first and last packets open
/// with new rows only (`replica/apply.rs`): `REPLGEN_BATCH_NEWEST_FIRST=1`, for tests of that
/// order on such packets.
pub fn batch_newest_first_forced() -> bool {
    static FORCED: OnceLock<bool> = OnceLock::new();
    *FORCED.get_or_init(|| std::env::var("REPLGEN_BATCH_NEWEST_FIRST").is_ok_and(|v| v == "1"))
}
