//! Delta ancestry: which checkpoints a deleting operation must spare.
//!
//! A checkpoint K whose metadata has a non-empty `counters_since_delta_snapshot`
//! needs, for each channel C named there, every ancestor from K's parent up to and
//! including the nearest one whose `channel_values` holds C (or the root), with
//! their writes: what `delta_history(K)` reads. Spared ancestors survive too, so
//! their own needs are followed in turn. Blobs are decoded only in namespaces
//! where some checkpoint carries such counters. Mirrors `deletable` in the pure
//! engine.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection};

use super::sql;
use crate::error::Result;

/// (thread_id, checkpoint_ns, checkpoint_id)
pub type Key = (String, String, String);

/// Given a checkpoint's type tag and blob, the names in its `channel_values`.
pub type StoredChannels<'a> =
    dyn FnMut(Option<&str>, Option<&[u8]>) -> Result<HashSet<String>> + 'a;

/// The candidates that may be removed: all but the delta ancestry of survivors.
pub fn deletable(
    conn: &Connection,
    candidates: Vec<Key>,
    stored: &mut StoredChannels<'_>,
) -> Result<Vec<Key>> {
    // Namespaces in first-seen order, as the pure engine's dict keeps them.
    let mut order: Vec<(String, String)> = Vec::new();
    let mut by_namespace: HashMap<(String, String), BTreeSet<String>> = HashMap::new();
    for (thread_id, checkpoint_ns, checkpoint_id) in candidates {
        let namespace = (thread_id, checkpoint_ns);
        by_namespace
            .entry(namespace.clone())
            .or_insert_with(|| {
                order.push(namespace);
                BTreeSet::new()
            })
            .insert(checkpoint_id);
    }
    let mut result = Vec::new();
    for (thread_id, checkpoint_ns) in order {
        let doomed = &by_namespace[&(thread_id.clone(), checkpoint_ns.clone())];
        let spared = needed_ancestors(conn, &thread_id, &checkpoint_ns, doomed, stored)?;
        for checkpoint_id in doomed {
            if !spared.contains(checkpoint_id) {
                result.push((
                    thread_id.clone(),
                    checkpoint_ns.clone(),
                    checkpoint_id.clone(),
                ));
            }
        }
    }
    Ok(result)
}

/// The channels named by a `counters_since_delta_snapshot` value (JSON object text).
fn delta_channels_of(counters: ValueRef<'_>) -> Vec<String> {
    let text = match counters {
        ValueRef::Text(text) => text,
        _ => return Vec::new(),
    };
    match serde_json::from_slice::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(named)) => named.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Ids in one namespace that the survivors' delta reconstruction needs.
fn needed_ancestors(
    conn: &Connection,
    thread_id: &str,
    checkpoint_ns: &str,
    doomed: &BTreeSet<String>,
    stored: &mut StoredChannels<'_>,
) -> Result<HashSet<String>> {
    let mut parents: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut delta_channels: HashMap<String, Vec<String>> = HashMap::new();
    {
        let mut stmt = conn.prepare_cached(sql::SELECT_NAMESPACE_LINEAGE)?;
        let mut rows = stmt.query(params![thread_id, checkpoint_ns])?;
        while let Some(row) = rows.next()? {
            let checkpoint_id: String = row.get(0)?;
            let parent_id: Option<String> = row.get(1)?;
            let named = delta_channels_of(row.get_ref(2)?);
            if !named.is_empty() {
                delta_channels.insert(checkpoint_id.clone(), named);
            }
            parents.insert(checkpoint_id, parent_id);
        }
    }
    if delta_channels.is_empty() {
        return Ok(HashSet::new());
    }

    let mut stored_by_id: HashMap<String, HashSet<String>> = HashMap::new();
    let mut needed: HashSet<String> = HashSet::new();
    let mut to_walk: Vec<String> = parents
        .keys()
        .filter(|id| !doomed.contains(*id) && delta_channels.contains_key(*id))
        .cloned()
        .collect();
    let mut queued: HashSet<String> = to_walk.iter().cloned().collect();
    while let Some(start) = to_walk.pop() {
        let mut seeking: HashSet<String> = delta_channels[&start].iter().cloned().collect();
        let mut walked: HashSet<String> = HashSet::from([start.clone()]);
        let mut ancestor = parents[&start].clone();
        while let Some(id) = ancestor {
            if seeking.is_empty() || !parents.contains_key(&id) || walked.contains(&id) {
                break;
            }
            walked.insert(id.clone());
            needed.insert(id.clone());
            if delta_channels.contains_key(&id) && queued.insert(id.clone()) {
                to_walk.push(id.clone());
            }
            if !stored_by_id.contains_key(&id) {
                let channels = channels_stored_in(conn, thread_id, checkpoint_ns, &id, stored)?;
                stored_by_id.insert(id.clone(), channels);
            }
            seeking.retain(|channel| !stored_by_id[&id].contains(channel));
            ancestor = parents[&id].clone();
        }
    }
    Ok(needed)
}

fn channels_stored_in(
    conn: &Connection,
    thread_id: &str,
    checkpoint_ns: &str,
    checkpoint_id: &str,
    stored: &mut StoredChannels<'_>,
) -> Result<HashSet<String>> {
    let mut stmt = conn.prepare_cached(sql::SELECT_CHECKPOINT_BLOB)?;
    let mut rows = stmt.query(params![thread_id, checkpoint_ns, checkpoint_id])?;
    match rows.next()? {
        Some(row) => {
            let type_tag: Option<String> = row.get(0)?;
            let blob = super::store::bytes_of(row.get_ref(1)?);
            stored(type_tag.as_deref(), blob)
        }
        None => Ok(HashSet::new()),
    }
}
