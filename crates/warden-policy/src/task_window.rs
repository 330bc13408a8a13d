//! The task window: what an agent has already been allowed to do in one task, so a policy
//! can decide on the path and not only on the step (`context.task.labels`,
//! `context.task.actions`, `context.task.tools`).
//!
//! The window is kept in memory on each node, per agent and task id, and fed twice: by the
//! node's own allowed gateway decisions as they are recorded, and by the audit trail, which
//! carries every node's decisions (see the server's task-window sync). Both feed the same
//! step with the same audit time, so a step seen twice is merged, never counted twice.
//!
//! Memory is bounded three ways: steps older than the window are dropped; a task keeps at
//! most `max_steps_per_task` distinct steps (the oldest go first); a node keeps at most
//! `max_tasks` tasks (the least recently active go first). A lookup costs one short lock
//! and a pointer copy: the sets a policy sees are built when the task changes, not per
//! request.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// How much the window keeps, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowLimits {
    /// How long a step stays visible, in milliseconds; 0 turns the window off.
    pub window_ms: i64,
    /// The most distinct steps one task keeps.
    pub max_steps_per_task: usize,
    /// The most tasks the node keeps.
    pub max_tasks: usize,
}

impl Default for WindowLimits {
    fn default() -> Self {
        Self {
            window_ms: 3_600_000,
            max_steps_per_task: 256,
            max_tasks: 100_000,
        }
    }
}

/// One allowed thing done in a task: an action, the tool it called (MCP), and the labels
/// of what it touched (the upstream's, the route's or the tool's).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(deny_unknown_fields)]
pub struct TaskStep {
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

/// What a task has done within the window, as sorted sets, as policies see it.
#[derive(Debug, Clone, Default)]
pub struct TaskSeen {
    pub actions: Vec<String>,
    pub labels: Vec<String>,
    /// Tools called, as `UPSTREAM/TOOL`.
    pub tools: Vec<String>,
    /// The Cedar entity policies read as `context.task`, built on first use: a window's
    /// entry is read by every request of its task, and building the sets again for each
    /// would cost more than the decision.
    cedar: OnceLock<(String, cedar_policy::Entity)>,
}

impl PartialEq for TaskSeen {
    fn eq(&self, other: &Self) -> bool {
        (&self.actions, &self.labels, &self.tools) == (&other.actions, &other.labels, &other.tools)
    }
}

impl Eq for TaskSeen {}

impl TaskSeen {
    /// What a task has done: its actions, labels and tools (`UPSTREAM/TOOL`), each sorted.
    pub const fn new(actions: Vec<String>, labels: Vec<String>, tools: Vec<String>) -> Self {
        Self {
            actions,
            labels,
            tools,
            cedar: OnceLock::new(),
        }
    }

    fn of<'a>(steps: impl Iterator<Item = &'a TaskStep>) -> Self {
        let mut actions = BTreeSet::new();
        let mut labels = BTreeSet::new();
        let mut tools = BTreeSet::new();
        for step in steps {
            actions.insert(step.action.clone());
            labels.extend(step.labels.iter().cloned());
            tools.extend(step.tool.iter().cloned());
        }
        Self::new(
            actions.into_iter().collect(),
            labels.into_iter().collect(),
            tools.into_iter().collect(),
        )
    }

    /// The `TaskHistory` entity of task `id`: the one kept for the first task it was asked
    /// for (a window entry belongs to one task), built afresh for any other (the shared
    /// empty history).
    pub(crate) fn entity(&self, id: &str) -> Result<cedar_policy::Entity, String> {
        if let Some((cached_id, entity)) = self.cedar.get()
            && cached_id == id
        {
            return Ok(entity.clone());
        }
        let entity = self.build_entity(id)?;
        let _ = self.cedar.set((id.to_owned(), entity.clone()));
        Ok(entity)
    }

    fn build_entity(&self, id: &str) -> Result<cedar_policy::Entity, String> {
        use cedar_policy::{EntityId, EntityTypeName, EntityUid, RestrictedExpression};
        let set = |items: &[String]| {
            RestrictedExpression::new_set(
                items
                    .iter()
                    .map(|item| RestrictedExpression::new_string(item.clone())),
            )
        };
        let ty = <EntityTypeName as std::str::FromStr>::from_str(crate::schema::TASK_TYPE)
            .map_err(|e| e.to_string())?;
        let uid = EntityUid::from_type_name_and_id(ty, EntityId::new(id));
        cedar_policy::Entity::new(
            uid,
            [
                (
                    "id".to_owned(),
                    RestrictedExpression::new_string(id.to_owned()),
                ),
                ("actions".to_owned(), set(&self.actions)),
                ("labels".to_owned(), set(&self.labels)),
                ("tools".to_owned(), set(&self.tools)),
            ]
            .into(),
            Default::default(),
        )
        .map_err(|e| e.to_string())
    }
}

#[derive(Debug)]
struct TaskEntry {
    /// Distinct steps with the latest time each was seen.
    steps: HashMap<TaskStep, i64>,
    /// The earliest step time, so a lookup knows without a scan whether one expired.
    oldest_at: i64,
    /// The latest step time, for eviction.
    last_at: i64,
    seen: Arc<TaskSeen>,
}

impl TaskEntry {
    fn rebuild(&mut self) {
        self.oldest_at = self.steps.values().copied().min().unwrap_or(i64::MAX);
        self.seen = Arc::new(TaskSeen::of(self.steps.keys()));
    }

    /// Drops the steps at or before `horizon`; whether any went.
    fn expire(&mut self, horizon: i64) -> bool {
        if self.oldest_at > horizon {
            return false;
        }
        self.steps.retain(|_, at| *at > horizon);
        self.rebuild();
        true
    }
}

#[derive(Debug, Default)]
struct State {
    /// By `agent \n task` (neither contains a newline: agent ids are uuids, task ids are
    /// checked where tokens are issued; a key of one string looks up without a copy of two).
    tasks: HashMap<String, TaskEntry>,
    /// (last activity, key) of every task, for evicting the least recently active.
    by_activity: BTreeSet<(i64, String)>,
}

/// The per-node window. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct TaskWindow {
    limits: WindowLimits,
    state: Mutex<State>,
    empty: Arc<TaskSeen>,
}

fn key(agent: &str, task: &str) -> String {
    let mut key = String::with_capacity(agent.len() + task.len() + 1);
    key.push_str(agent);
    key.push('\n');
    key.push_str(task);
    key
}

impl TaskWindow {
    pub fn new(limits: WindowLimits) -> Self {
        Self {
            limits,
            state: Mutex::new(State::default()),
            empty: Arc::new(TaskSeen::default()),
        }
    }

    pub fn limits(&self) -> WindowLimits {
        self.limits
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent between statements, so a panic elsewhere leaves it usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What `agent` has done in `task` within the window ending at `now_ms`.
    pub fn seen(&self, agent: &str, task: &str, now_ms: i64) -> Arc<TaskSeen> {
        if self.limits.window_ms <= 0 {
            return Arc::clone(&self.empty);
        }
        let horizon = now_ms.saturating_sub(self.limits.window_ms);
        let key = key(agent, task);
        let mut state = self.lock();
        let Some(entry) = state.tasks.get_mut(&key) else {
            return Arc::clone(&self.empty);
        };
        entry.expire(horizon);
        Arc::clone(&entry.seen)
    }

    /// Adds steps `agent` was allowed in `task` at `at_ms` (the audit record's time).
    /// Steps already outside the window at `now_ms` are not kept.
    pub fn record(&self, agent: &str, task: &str, at_ms: i64, now_ms: i64, steps: &[TaskStep]) {
        let limits = self.limits;
        let horizon = now_ms.saturating_sub(limits.window_ms);
        if limits.window_ms <= 0 || steps.is_empty() || at_ms <= horizon {
            return;
        }
        let key = key(agent, task);
        let mut state = self.lock();
        let state = &mut *state;
        if !state.tasks.contains_key(&key) {
            while state.tasks.len() >= limits.max_tasks.max(1) {
                let Some((_, oldest)) = state.by_activity.pop_first() else {
                    break;
                };
                state.tasks.remove(&oldest);
            }
            state.tasks.insert(
                key.clone(),
                TaskEntry {
                    steps: HashMap::new(),
                    oldest_at: i64::MAX,
                    last_at: i64::MIN,
                    seen: Arc::clone(&self.empty),
                },
            );
        }
        let Some(entry) = state.tasks.get_mut(&key) else {
            return;
        };
        let mut changed = entry.expire(horizon);
        for step in steps {
            match entry.steps.get_mut(step) {
                Some(at) => *at = (*at).max(at_ms),
                None => {
                    entry.steps.insert(step.clone(), at_ms);
                    changed = true;
                }
            }
        }
        while entry.steps.len() > limits.max_steps_per_task.max(1) {
            let oldest = entry
                .steps
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(step, _)| step.clone());
            match oldest {
                Some(step) => entry.steps.remove(&step),
                None => break,
            };
            changed = true;
        }
        if changed {
            entry.rebuild();
        } else {
            entry.oldest_at = entry.steps.values().copied().min().unwrap_or(i64::MAX);
        }
        if at_ms > entry.last_at {
            let before = entry.last_at;
            entry.last_at = at_ms;
            state.by_activity.remove(&(before, key.clone()));
            state.by_activity.insert((at_ms, key));
        }
    }

    /// Drops every task with nothing left in the window ending at `now_ms`; how many went.
    pub fn sweep(&self, now_ms: i64) -> usize {
        let horizon = now_ms.saturating_sub(self.limits.window_ms);
        let mut state = self.lock();
        let mut gone = 0;
        while let Some((last_at, _)) = state.by_activity.first() {
            if *last_at > horizon {
                break;
            }
            if let Some((_, key)) = state.by_activity.pop_first() {
                state.tasks.remove(&key);
                gone += 1;
            }
        }
        gone
    }

    /// How many tasks the node keeps now.
    pub fn len(&self) -> usize {
        self.lock().tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(action: &str, labels: &[&str]) -> TaskStep {
        TaskStep {
            action: action.into(),
            tool: None,
            labels: labels.iter().map(|l| (*l).to_string()).collect(),
        }
    }

    fn window(window_ms: i64, steps: usize, tasks: usize) -> TaskWindow {
        TaskWindow::new(WindowLimits {
            window_ms,
            max_steps_per_task: steps,
            max_tasks: tasks,
        })
    }

    #[test]
    fn the_kept_entity_is_only_ever_the_task_it_was_built_for() {
        // The window hands one empty history to every task it has no steps for: the entity
        // kept for the first must not be given to the next.
        let empty = TaskSeen::default();
        let id_of = |task: &str| {
            empty
                .entity(task)
                .map(|entity| entity.uid().id().unescaped().to_string())
                .unwrap_or_else(|e| panic!("{e}"))
        };
        assert_eq!(id_of("task-1"), "task-1");
        assert_eq!(id_of("task-2"), "task-2");
        assert_eq!(id_of("task-1"), "task-1");
    }

    #[test]
    fn a_task_sees_its_own_steps_and_no_other_tasks() {
        let w = window(1_000, 8, 8);
        w.record(
            "a1",
            "t1",
            100,
            100,
            &[step("customers.read", &["customer_records"])],
        );
        let seen = w.seen("a1", "t1", 200);
        assert_eq!(seen.actions, ["customers.read"]);
        assert_eq!(seen.labels, ["customer_records"]);
        assert!(w.seen("a1", "t2", 200).actions.is_empty());
        assert!(
            w.seen("a2", "t1", 200).actions.is_empty(),
            "another agent, same task id"
        );
    }

    #[test]
    fn steps_expire_with_the_window_and_a_step_seen_twice_is_merged() {
        let w = window(1_000, 8, 8);
        w.record("a", "t", 100, 100, &[step("x.read", &["pii"])]);
        w.record("a", "t", 100, 150, &[step("x.read", &["pii"])]);
        w.record("a", "t", 600, 600, &[step("y.write", &[])]);
        assert_eq!(w.seen("a", "t", 1_000).actions, ["x.read", "y.write"]);
        let later = w.seen("a", "t", 1_200);
        assert_eq!(later.actions, ["y.write"]);
        assert!(later.labels.is_empty());
        // Already outside the window when it arrives: not kept.
        w.record("a", "t", 100, 1_200, &[step("z.old", &[])]);
        assert_eq!(w.seen("a", "t", 1_200).actions, ["y.write"]);
        assert_eq!(w.sweep(1_700), 1);
        assert!(w.is_empty());
    }

    #[test]
    fn tasks_and_steps_are_bounded() {
        let w = window(10_000, 2, 2);
        w.record(
            "a",
            "t",
            1,
            1,
            &[step("s1", &[]), step("s2", &[]), step("s3", &[])],
        );
        assert_eq!(w.seen("a", "t", 2).actions.len(), 2);
        w.record("a", "t", 5, 5, &[step("s4", &[])]);
        assert!(w.seen("a", "t", 6).actions.contains(&"s4".to_string()));
        w.record("a", "u", 6, 6, &[step("s", &[])]);
        w.record("a", "v", 7, 7, &[step("s", &[])]);
        assert_eq!(w.len(), 2);
        assert!(
            w.seen("a", "t", 8).actions.is_empty(),
            "the least recently active went"
        );
        assert_eq!(w.seen("a", "v", 8).actions, ["s"]);
    }

    #[test]
    fn a_window_of_zero_keeps_nothing() {
        let w = window(0, 8, 8);
        w.record("a", "t", 1, 1, &[step("s", &[])]);
        assert!(w.seen("a", "t", 1).actions.is_empty());
        assert!(w.is_empty());
    }
}
