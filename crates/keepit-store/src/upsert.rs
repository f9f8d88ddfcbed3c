//! What a batched upsert did.

/// Rows an upsert inserted and changed. Rows that were already stored exactly as given
/// are neither, and were not written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpsertCounts {
    /// Rows that did not exist before.
    pub inserted: u64,
    /// Existing rows whose content changed.
    pub changed: u64,
}

impl UpsertCounts {
    /// Inserted plus changed.
    pub fn written(&self) -> u64 {
        self.inserted + self.changed
    }
}

impl std::ops::AddAssign for UpsertCounts {
    fn add_assign(&mut self, other: UpsertCounts) {
        self.inserted += other.inserted;
        self.changed += other.changed;
    }
}

/// Keeps the last occurrence of each key, in first-occurrence order: Postgres refuses
/// an `ON CONFLICT DO UPDATE` statement that touches the same row twice.
pub(crate) fn dedup_last<T, K: std::hash::Hash + Eq>(
    items: &[T],
    key: impl Fn(&T) -> K,
) -> Vec<&T> {
    let mut index = std::collections::HashMap::with_capacity(items.len());
    let mut out: Vec<&T> = Vec::with_capacity(items.len());
    for item in items {
        match index.entry(key(item)) {
            std::collections::hash_map::Entry::Occupied(slot) => out[*slot.get()] = item,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(out.len());
                out.push(item);
            }
        }
    }
    out
}
