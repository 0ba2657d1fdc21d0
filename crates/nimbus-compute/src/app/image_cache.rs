//! nova's `_run_image_cache_manager_pass`: every `manager_interval`
//! seconds, bases in `_base` that no live instance uses (root, kernel or
//! ramdisk image, or backing file of a disk) and older than
//! `remove_unused_original_minimum_age_seconds` are removed.

use std::time::Duration;

use super::ComputeService;
use crate::error::ComputeError;
use crate::store::instances;

/// The pause between passes for `manager_interval`: none when negative
/// (disabled), oslo's default spacing of 60 s for 0, as nova documents.
pub fn pass_interval(manager_interval: i64) -> Option<Duration> {
    match manager_interval {
        i if i < 0 => None,
        0 => Some(Duration::from_secs(60)),
        i => Some(Duration::from_secs(i.unsigned_abs())),
    }
}

/// One pass: the image ids of live instances protect their bases.
pub async fn manager_pass(svc: &ComputeService) -> Result<Vec<std::path::PathBuf>, ComputeError> {
    let live = instances::instances_live(svc.db().pool()).await?;
    let mut in_use = Vec::new();
    for i in live {
        for id in [i.image_ref, i.kernel_id, i.ramdisk_id] {
            if !id.is_empty() {
                in_use.push(id);
            }
        }
    }
    svc.tasks().cache().remove_unused(&in_use).await
}

/// Runs [`manager_pass`] periodically while the service lives.
pub fn spawn_manager(svc: &ComputeService) {
    let Some(interval) = pass_interval(svc.config().image_cache_manager_interval) else {
        return;
    };
    let weak = svc.downgrade();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            let Some(svc) = ComputeService::upgrade(&weak) else {
                return;
            };
            match manager_pass(&svc).await {
                Ok(removed) if !removed.is_empty() => {
                    tracing::info!(count = removed.len(), "image cache manager removed bases");
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err.chain(), "image cache manager pass failed"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_follow_nova() {
        assert_eq!(pass_interval(2400), Some(Duration::from_secs(2400)));
        assert_eq!(pass_interval(0), Some(Duration::from_secs(60)));
        assert_eq!(pass_interval(-1), None);
        assert_eq!(pass_interval(1), Some(Duration::from_secs(1)));
    }
}
