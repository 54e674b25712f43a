//! The service dependency graph.
//!
//! Services are nodes; an [`Edge`] `from -> to` means `from` needs `to`
//! (`depends_on`, or an implicit dependency through `network_mode:
//! service:x`, `volumes_from`, `links`, `ipc` or `pid`). Everything that
//! has a choice to make (start order, cycle report, ready sets) breaks ties
//! by service name so runs are reproducible, as Compose does for cycles.
//!
//! [`Walker`] hands out services whose prerequisites have completed, one
//! completion at a time, so an executor can start each service as soon as
//! it may instead of waiting for a whole level to finish.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;

/// `depends_on.<svc>.condition`: the model's own type, one home for it.
pub use crate::compose::types::DependencyCondition as Condition;

/// Why one service needs another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EdgeKind {
    DependsOn {
        condition: Condition,
        /// `required: false`: a missing or failed dependency only warns.
        required: bool,
        /// `restart: true`: restarting the dependency restarts this service.
        restart: bool,
    },
    /// `network_mode: service:<to>`.
    NetworkMode,
    /// `volumes_from: [<to>]`.
    VolumesFrom,
    Links,
    /// `ipc: service:<to>`.
    Ipc,
    /// `pid: service:<to>`.
    Pid,
}

impl EdgeKind {
    /// Whether a failure of the dependency must stop the dependent.
    pub fn is_required(&self) -> bool {
        match self {
            EdgeKind::DependsOn { required, .. } => *required,
            _ => true,
        }
    }

    /// Short label used by the graph renderings.
    pub fn label(&self) -> String {
        match self {
            EdgeKind::DependsOn {
                condition,
                required,
                restart,
            } => {
                let mut label = condition.as_str().to_owned();
                if !required {
                    label.push_str(", optional");
                }
                if *restart {
                    label.push_str(", restart");
                }
                label
            }
            EdgeKind::NetworkMode => "network_mode".to_owned(),
            EdgeKind::VolumesFrom => "volumes_from".to_owned(),
            EdgeKind::Links => "links".to_owned(),
            EdgeKind::Ipc => "ipc".to_owned(),
            EdgeKind::Pid => "pid".to_owned(),
        }
    }
}

/// `from` needs `to`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub kind: EdgeKind,
}

impl Edge {
    pub fn new(from: impl Into<String>, to: impl Into<String>, kind: EdgeKind) -> Self {
        Edge {
            from: from.into(),
            to: to.into(),
            kind,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// Same wording as Compose.
    #[error("service {service:?} depends on undefined service {dependency:?}")]
    UnknownDependency { service: String, dependency: String },
    /// The cycle, closed: `[a, b, a]`.
    #[error("dependency cycle detected: {}", .cycle.join(" -> "))]
    Cycle { cycle: Vec<String> },
    #[error("no such service: {0}")]
    NoSuchService(String),
    #[error("service {0:?} is declared twice")]
    DuplicateService(String),
}

/// Services and what they need, checked to be acyclic and complete.
#[derive(Clone, Debug)]
pub struct ServiceGraph {
    /// Node indexes follow the sorted service names, so ordering indexes
    /// orders names.
    graph: DiGraph<String, EdgeKind>,
    index: BTreeMap<String, NodeIndex>,
}

impl ServiceGraph {
    /// Builds the graph. An edge to an unknown service is an error unless it
    /// is an optional `depends_on` (`required: false`), which is dropped as
    /// Compose does.
    pub fn new(
        services: impl IntoIterator<Item = String>,
        edges: Vec<Edge>,
    ) -> Result<Self, GraphError> {
        let mut names: Vec<String> = services.into_iter().collect();
        names.sort();
        if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(GraphError::DuplicateService(pair[0].clone()));
        }
        let mut graph = DiGraph::with_capacity(names.len(), edges.len());
        let mut index = BTreeMap::new();
        for name in names {
            let ix = graph.add_node(name.clone());
            index.insert(name, ix);
        }
        for edge in edges {
            let Some(&from) = index.get(&edge.from) else {
                return Err(GraphError::NoSuchService(edge.from));
            };
            match index.get(&edge.to) {
                Some(&to) => {
                    graph.add_edge(from, to, edge.kind);
                }
                None if !edge.kind.is_required() => {}
                None => {
                    return Err(GraphError::UnknownDependency {
                        service: edge.from,
                        dependency: edge.to,
                    })
                }
            }
        }
        let built = ServiceGraph { graph, index };
        built.check_acyclic()?;
        Ok(built)
    }

    /// All services, sorted by name.
    pub fn services(&self) -> impl Iterator<Item = &str> + '_ {
        self.index.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Every edge, sorted by (from, to, insertion).
    pub fn edges(&self) -> Vec<Edge> {
        let mut edges: Vec<(NodeIndex, NodeIndex, usize, EdgeKind)> = self
            .graph
            .edge_indices()
            .filter_map(|e| {
                let (a, b) = self.graph.edge_endpoints(e)?;
                Some((a, b, e.index(), *self.graph.edge_weight(e)?))
            })
            .collect();
        edges.sort_by_key(|&(a, b, i, _)| (a, b, i));
        edges
            .into_iter()
            .map(|(a, b, _, kind)| Edge::new(self.name(a), self.name(b), kind))
            .collect()
    }

    /// Edges leaving `name` (what it needs), with their kinds.
    pub fn edges_from(&self, name: &str) -> Result<Vec<Edge>, GraphError> {
        self.ix(name)?;
        Ok(self
            .edges()
            .into_iter()
            .filter(|e| e.from == name)
            .collect())
    }

    /// Services `name` needs directly, sorted.
    pub fn dependencies_of(&self, name: &str) -> Result<Vec<String>, GraphError> {
        let ix = self.ix(name)?;
        Ok(self.names(self.adjacent(ix, Direction::Outgoing)))
    }

    /// Services that need `name` directly, sorted.
    pub fn dependents_of(&self, name: &str) -> Result<Vec<String>, GraphError> {
        let ix = self.ix(name)?;
        Ok(self.names(self.adjacent(ix, Direction::Incoming)))
    }

    /// Everything that needs `name`, directly or not, sorted (what must be
    /// stopped before it, or restarted after it).
    pub fn all_dependents_of(&self, name: &str) -> Result<Vec<String>, GraphError> {
        let ix = self.ix(name)?;
        let mut found = self.closure([ix], Direction::Incoming);
        found.remove(&ix);
        Ok(self.names(found))
    }

    /// The services named plus, with `with_deps`, everything they need,
    /// in start order. No names means every service (Compose's default).
    pub fn select(&self, names: &[String], with_deps: bool) -> Result<Vec<String>, GraphError> {
        if names.is_empty() {
            return Ok(self.start_order());
        }
        let roots = names
            .iter()
            .map(|n| self.ix(n))
            .collect::<Result<Vec<_>, _>>()?;
        let chosen: BTreeSet<NodeIndex> = if with_deps {
            self.closure(roots, Direction::Outgoing)
        } else {
            roots.into_iter().collect()
        };
        Ok(self
            .start_order()
            .into_iter()
            .filter(|n| self.index.get(n).is_some_and(|ix| chosen.contains(ix)))
            .collect())
    }

    /// The graph restricted to `names` (edges to other services dropped).
    pub fn subgraph(&self, names: &[String]) -> Result<ServiceGraph, GraphError> {
        for n in names {
            self.ix(n)?;
        }
        let keep: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        let edges = self
            .edges()
            .into_iter()
            .filter(|e| keep.contains(e.from.as_str()) && keep.contains(e.to.as_str()))
            .collect();
        ServiceGraph::new(keep.into_iter().map(str::to_owned), edges)
    }

    /// Dependencies first; among services that could go next, by name.
    pub fn start_order(&self) -> Vec<String> {
        self.order(Direction::Outgoing)
    }

    /// The reverse of [`start_order`](Self::start_order): dependents first.
    pub fn stop_order(&self) -> Vec<String> {
        let mut order = self.start_order();
        order.reverse();
        order
    }

    /// Groups that may start together: level 0 needs nothing, level n needs
    /// something from level n-1. Each group is sorted.
    pub fn levels(&self) -> Vec<Vec<String>> {
        let mut level = vec![0usize; self.graph.node_count()];
        for name in self.start_order() {
            let Some(&ix) = self.index.get(&name) else {
                continue;
            };
            level[ix.index()] = self
                .adjacent(ix, Direction::Outgoing)
                .into_iter()
                .map(|d| level[d.index()] + 1)
                .max()
                .unwrap_or(0);
        }
        let mut groups: Vec<Vec<String>> = Vec::new();
        for (name, ix) in &self.index {
            let l = level[ix.index()];
            if groups.len() <= l {
                groups.resize_with(l + 1, Vec::new);
            }
            groups[l].push(name.clone());
        }
        groups
    }

    /// Graphviz rendering; edges point from a service to what it needs.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph services {\n  rankdir=LR;\n");
        for name in self.services() {
            out.push_str(&format!("  {};\n", dot_id(name)));
        }
        for e in self.edges() {
            let style = if e.kind.is_required() {
                ""
            } else {
                ", style=dashed"
            };
            out.push_str(&format!(
                "  {} -> {} [label={}{style}];\n",
                dot_id(&e.from),
                dot_id(&e.to),
                dot_id(&e.kind.label())
            ));
        }
        out.push_str("}\n");
        out
    }

    /// Mermaid flowchart; node ids are synthetic so any service name is safe.
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        for (name, ix) in &self.index {
            out.push_str(&format!("  s{}[\"{}\"]\n", ix.index(), mermaid_text(name)));
        }
        for e in self.edges() {
            let (Some(a), Some(b)) = (self.index.get(&e.from), self.index.get(&e.to)) else {
                continue;
            };
            let arrow = if e.kind.is_required() { "-->" } else { "-.->" };
            out.push_str(&format!(
                "  s{} {arrow}|\"{}\"| s{}\n",
                a.index(),
                mermaid_text(&e.kind.label()),
                b.index()
            ));
        }
        out
    }

    /// A ready-queue over the whole graph. Forward: a service is ready once
    /// everything it needs has completed. `reverse`: once everything that
    /// needs it has completed (stopping).
    pub fn walker(&self, reverse: bool) -> Walker {
        let n = self.graph.node_count();
        let (prereq_dir, next_dir) = if reverse {
            (Direction::Incoming, Direction::Outgoing)
        } else {
            (Direction::Outgoing, Direction::Incoming)
        };
        let mut waiting_on = vec![0usize; n];
        let mut unlocks = vec![Vec::new(); n];
        for ix in self.graph.node_indices() {
            waiting_on[ix.index()] = self.adjacent(ix, prereq_dir).len();
            unlocks[ix.index()] = self
                .graph
                .edges_directed(ix, next_dir)
                .map(|e| {
                    let other = if reverse { e.target() } else { e.source() };
                    (other.index(), e.weight().is_required())
                })
                .fold(BTreeMap::<usize, bool>::new(), |mut acc, (o, hard)| {
                    *acc.entry(o).or_insert(false) |= hard;
                    acc
                })
                .into_iter()
                .collect();
        }
        Walker {
            names: self.graph.node_weights().cloned().collect(),
            index: self
                .index
                .iter()
                .map(|(k, v)| (k.clone(), v.index()))
                .collect(),
            state: vec![NodeState::Waiting; n],
            waiting_on,
            unlocks,
            ready: BTreeSet::new(),
            running: 0,
        }
        .init()
    }

    /// Visits every service on up to `max_parallel` threads (0: no limit),
    /// each as soon as its prerequisites completed. A failed visit skips
    /// everything that hard-depends on it. A panic in `visit` is re-raised
    /// once the running visits have finished.
    pub fn walk<E, F>(&self, reverse: bool, max_parallel: usize, visit: F) -> WalkOutcome<E>
    where
        F: Fn(&str) -> Result<(), E> + Sync,
        E: Send,
    {
        let limit = if max_parallel == 0 {
            usize::MAX
        } else {
            max_parallel
        };
        let mut walker = self.walker(reverse);
        let mut outcome = WalkOutcome {
            completed: Vec::new(),
            failed: Vec::new(),
            skipped: Vec::new(),
        };
        let visit = &visit;
        let mut panic_payload = None;
        std::thread::scope(|scope| {
            type Report<E> = (String, std::thread::Result<Result<(), E>>);
            let (tx, rx) = mpsc::channel::<Report<E>>();
            loop {
                let room = limit.saturating_sub(walker.in_flight());
                for name in walker.take_ready(room) {
                    let tx = tx.clone();
                    scope.spawn(move || {
                        // A panicking visitor must still report back, or the
                        // loop below would wait for it forever.
                        let result = panic::catch_unwind(AssertUnwindSafe(|| visit(&name)));
                        // The receiver outlives every worker in this scope.
                        let _ = tx.send((name, result));
                    });
                }
                if walker.in_flight() == 0 {
                    break;
                }
                let Ok((name, result)) = rx.recv() else {
                    break;
                };
                match result {
                    Ok(Ok(())) => {
                        // Names come from the walker itself, so this holds.
                        let _ = walker.complete(&name);
                        outcome.completed.push(name);
                    }
                    Ok(Err(e)) => {
                        if let Ok(skipped) = walker.fail(&name) {
                            outcome.skipped.extend(skipped);
                        }
                        outcome.failed.push((name, e));
                    }
                    Err(payload) => {
                        if let Ok(skipped) = walker.fail(&name) {
                            outcome.skipped.extend(skipped);
                        }
                        panic_payload.get_or_insert(payload);
                    }
                }
            }
        });
        if let Some(payload) = panic_payload {
            panic::resume_unwind(payload);
        }
        outcome
    }

    fn ix(&self, name: &str) -> Result<NodeIndex, GraphError> {
        self.index
            .get(name)
            .copied()
            .ok_or_else(|| GraphError::NoSuchService(name.to_owned()))
    }

    fn name(&self, ix: NodeIndex) -> &str {
        self.graph.node_weight(ix).map(String::as_str).unwrap_or("")
    }

    fn names(&self, set: impl IntoIterator<Item = NodeIndex>) -> Vec<String> {
        set.into_iter().map(|ix| self.name(ix).to_owned()).collect()
    }

    /// Distinct neighbours, in name order.
    fn adjacent(&self, ix: NodeIndex, dir: Direction) -> BTreeSet<NodeIndex> {
        self.graph.neighbors_directed(ix, dir).collect()
    }

    fn closure(
        &self,
        start: impl IntoIterator<Item = NodeIndex>,
        dir: Direction,
    ) -> BTreeSet<NodeIndex> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<NodeIndex> = start.into_iter().collect();
        while let Some(ix) = stack.pop() {
            if seen.insert(ix) {
                stack.extend(self.graph.neighbors_directed(ix, dir));
            }
        }
        seen
    }

    /// Kahn's algorithm, smallest name first among the ready ones.
    fn order(&self, prereq: Direction) -> Vec<String> {
        let mut pending: Vec<usize> = self
            .graph
            .node_indices()
            .map(|ix| self.adjacent(ix, prereq).len())
            .collect();
        let mut ready: BTreeSet<NodeIndex> = self
            .graph
            .node_indices()
            .filter(|ix| pending[ix.index()] == 0)
            .collect();
        let mut out = Vec::with_capacity(pending.len());
        while let Some(ix) = ready.pop_first() {
            out.push(self.name(ix).to_owned());
            for next in self.adjacent(ix, prereq.opposite()) {
                let count = &mut pending[next.index()];
                *count -= 1;
                if *count == 0 {
                    ready.insert(next);
                }
            }
        }
        out
    }

    /// Depth-first from each service in name order, children in name order,
    /// reporting the first back edge found; this gives the same cycle text
    /// as Compose. Finished nodes are not re-entered: nothing reachable from
    /// them closes a cycle.
    fn check_acyclic(&self) -> Result<(), GraphError> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            OnPath,
            Done,
        }
        let mut mark = vec![Mark::New; self.graph.node_count()];
        for root in self.graph.node_indices() {
            if mark[root.index()] != Mark::New {
                continue;
            }
            // Explicit stack of (node, its children, next child position).
            let mut path: Vec<NodeIndex> = vec![root];
            let mut stack: Vec<(Vec<NodeIndex>, usize)> = vec![(
                self.adjacent(root, Direction::Outgoing)
                    .into_iter()
                    .collect(),
                0,
            )];
            mark[root.index()] = Mark::OnPath;
            while let Some((children, pos)) = stack.last_mut() {
                let Some(&child) = children.get(*pos) else {
                    if let Some(done) = path.pop() {
                        mark[done.index()] = Mark::Done;
                    }
                    stack.pop();
                    continue;
                };
                *pos += 1;
                match mark[child.index()] {
                    Mark::Done => {}
                    Mark::OnPath => {
                        let start = path.iter().position(|&p| p == child).unwrap_or(0);
                        let mut cycle = self.names(path[start..].iter().copied());
                        cycle.push(self.name(child).to_owned());
                        return Err(GraphError::Cycle { cycle });
                    }
                    Mark::New => {
                        mark[child.index()] = Mark::OnPath;
                        path.push(child);
                        stack.push((
                            self.adjacent(child, Direction::Outgoing)
                                .into_iter()
                                .collect(),
                            0,
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

fn dot_id(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn mermaid_text(s: &str) -> String {
    s.replace('"', "#quot;")
}

/// Where a service stands in a walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Prerequisites not all completed yet.
    Waiting,
    /// Prerequisites done, not handed out yet.
    Ready,
    /// Handed out by [`Walker::take_ready`], not reported back yet.
    Running,
    Completed,
    Failed,
    /// A hard prerequisite failed (or was skipped); it will not be handed out.
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalkError {
    #[error("no such service: {0}")]
    NoSuchService(String),
    #[error("service {name:?} was reported done while {state:?}")]
    NotRunning { name: String, state: NodeState },
}

/// Dependency-order ready queue. Call [`take_ready`](Self::take_ready) (or
/// [`next_ready`](Self::next_ready)) to get services that may run now, then
/// report each with [`complete`](Self::complete) or [`fail`](Self::fail);
/// repeat until [`is_finished`](Self::is_finished).
#[derive(Clone, Debug)]
pub struct Walker {
    names: Vec<String>,
    index: BTreeMap<String, usize>,
    state: Vec<NodeState>,
    /// Prerequisites not completed yet.
    waiting_on: Vec<usize>,
    /// Who waits on this node, and whether that wait is hard (a failure
    /// here skips them) or soft (`required: false`: they go ahead).
    unlocks: Vec<Vec<(usize, bool)>>,
    ready: BTreeSet<usize>,
    running: usize,
}

impl Walker {
    fn init(mut self) -> Self {
        self.ready = (0..self.names.len())
            .filter(|&i| self.waiting_on[i] == 0)
            .collect();
        for &i in &self.ready {
            self.state[i] = NodeState::Ready;
        }
        self
    }

    /// Every service that may run now, sorted by name, marked running.
    pub fn next_ready(&mut self) -> Vec<String> {
        self.take_ready(usize::MAX)
    }

    /// Up to `max` ready services (by name), marked running.
    pub fn take_ready(&mut self, max: usize) -> Vec<String> {
        let mut out = Vec::new();
        while out.len() < max {
            let Some(i) = self.ready.pop_first() else {
                break;
            };
            self.state[i] = NodeState::Running;
            self.running += 1;
            out.push(self.names[i].clone());
        }
        out
    }

    /// Marks a running service done; services waiting only on it become ready.
    pub fn complete(&mut self, name: &str) -> Result<(), WalkError> {
        let i = self.running_index(name)?;
        self.state[i] = NodeState::Completed;
        self.release(i);
        Ok(())
    }

    /// Marks a running service failed. Everything that hard-depends on it,
    /// transitively, is skipped and returned (sorted); soft dependents
    /// (`required: false`) proceed as if it had completed.
    pub fn fail(&mut self, name: &str) -> Result<Vec<String>, WalkError> {
        let i = self.running_index(name)?;
        self.state[i] = NodeState::Failed;
        self.running -= 1;
        let mut skipped = BTreeSet::new();
        let mut stack = vec![i];
        while let Some(cur) = stack.pop() {
            let unlocks = std::mem::take(&mut self.unlocks[cur]);
            for &(next, hard) in &unlocks {
                if hard {
                    if matches!(self.state[next], NodeState::Waiting | NodeState::Ready) {
                        self.ready.remove(&next);
                        self.state[next] = NodeState::Skipped;
                        skipped.insert(next);
                        stack.push(next);
                    }
                } else {
                    self.unlock_one(next);
                }
            }
            self.unlocks[cur] = unlocks;
        }
        Ok(skipped.into_iter().map(|i| self.names[i].clone()).collect())
    }

    /// Services handed out and not reported back yet.
    pub fn in_flight(&self) -> usize {
        self.running
    }

    /// Nothing runs and nothing more can be handed out.
    pub fn is_finished(&self) -> bool {
        self.running == 0 && self.ready.is_empty()
    }

    pub fn state(&self, name: &str) -> Option<NodeState> {
        self.index.get(name).map(|&i| self.state[i])
    }

    /// Services in a given state, sorted.
    pub fn in_state(&self, wanted: NodeState) -> Vec<String> {
        self.index
            .iter()
            .filter(|(_, &i)| self.state[i] == wanted)
            .map(|(n, _)| n.clone())
            .collect()
    }

    fn running_index(&self, name: &str) -> Result<usize, WalkError> {
        let &i = self
            .index
            .get(name)
            .ok_or_else(|| WalkError::NoSuchService(name.to_owned()))?;
        match self.state[i] {
            NodeState::Running => Ok(i),
            state => Err(WalkError::NotRunning {
                name: name.to_owned(),
                state,
            }),
        }
    }

    fn release(&mut self, i: usize) {
        self.running -= 1;
        let unlocks = std::mem::take(&mut self.unlocks[i]);
        for &(next, _) in &unlocks {
            self.unlock_one(next);
        }
        self.unlocks[i] = unlocks;
    }

    fn unlock_one(&mut self, next: usize) {
        if self.state[next] != NodeState::Waiting {
            return;
        }
        self.waiting_on[next] = self.waiting_on[next].saturating_sub(1);
        if self.waiting_on[next] == 0 {
            self.state[next] = NodeState::Ready;
            self.ready.insert(next);
        }
    }
}

/// What [`ServiceGraph::walk`] did.
#[derive(Debug)]
pub struct WalkOutcome<E> {
    /// In completion order.
    pub completed: Vec<String>,
    pub failed: Vec<(String, E)>,
    pub skipped: Vec<String>,
}

impl<E> WalkOutcome<E> {
    /// The walk as one result: its first failure, if any.
    pub fn first_error(self) -> Result<(), E> {
        match self.failed.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
    use std::sync::Mutex;

    fn dep(from: &str, to: &str) -> Edge {
        Edge::new(
            from,
            to,
            EdgeKind::DependsOn {
                condition: Condition::ServiceStarted,
                required: true,
                restart: false,
            },
        )
    }

    fn optional(from: &str, to: &str) -> Edge {
        Edge::new(
            from,
            to,
            EdgeKind::DependsOn {
                condition: Condition::ServiceStarted,
                required: false,
                restart: false,
            },
        )
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn graph(services: &[&str], edges: Vec<Edge>) -> Result<ServiceGraph, GraphError> {
        ServiceGraph::new(names(services), edges)
    }

    /// web -> (api, worker) -> db: the classic diamond.
    fn diamond() -> ServiceGraph {
        graph(
            &["web", "api", "worker", "db"],
            vec![
                dep("web", "api"),
                dep("web", "worker"),
                dep("api", "db"),
                dep("worker", "db"),
            ],
        )
        .expect("diamond is valid")
    }

    fn position(order: &[String], name: &str) -> usize {
        order
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("{name} missing from {order:?}"))
    }

    fn assert_respects_edges(g: &ServiceGraph, order: &[String]) {
        for e in g.edges() {
            assert!(
                position(order, &e.to) < position(order, &e.from),
                "{} must come before {} in {order:?}",
                e.to,
                e.from
            );
        }
    }

    #[test]
    fn diamond_orders() {
        let g = diamond();
        let start = g.start_order();
        assert_eq!(start, names(&["db", "api", "worker", "web"]));
        assert_respects_edges(&g, &start);
        assert_eq!(g.stop_order(), names(&["web", "worker", "api", "db"]));
        assert_eq!(
            g.levels(),
            vec![names(&["db"]), names(&["api", "worker"]), names(&["web"])]
        );
    }

    #[test]
    fn order_is_independent_of_input_order() {
        let a = graph(
            &["c", "b", "a", "d"],
            vec![dep("d", "a"), dep("c", "a"), dep("b", "c")],
        )
        .expect("valid");
        let b = graph(
            &["a", "d", "b", "c"],
            vec![dep("b", "c"), dep("c", "a"), dep("d", "a")],
        )
        .expect("valid");
        assert_eq!(a.start_order(), b.start_order());
        assert_eq!(a.start_order(), names(&["a", "c", "b", "d"]));
        assert_eq!(a.levels(), b.levels());
        assert_eq!(a.to_dot(), b.to_dot());
    }

    #[test]
    fn levels_use_longest_path() {
        // d needs a directly and through b -> c -> a: it waits for c.
        let g = graph(
            &["a", "b", "c", "d"],
            vec![dep("b", "a"), dep("c", "b"), dep("d", "c"), dep("d", "a")],
        )
        .expect("valid");
        assert_eq!(
            g.levels(),
            vec![names(&["a"]), names(&["b"]), names(&["c"]), names(&["d"])]
        );
    }

    #[test]
    fn independent_services_share_level_zero() {
        let g = graph(&["b", "a", "c"], vec![]).expect("valid");
        assert_eq!(g.levels(), vec![names(&["a", "b", "c"])]);
        assert_eq!(g.start_order(), names(&["a", "b", "c"]));
    }

    #[test]
    fn empty_graph() {
        let g = graph(&[], vec![]).expect("valid");
        assert!(g.is_empty());
        assert!(g.start_order().is_empty());
        assert!(g.levels().is_empty());
        assert!(g.walker(false).is_finished());
    }

    #[test]
    fn self_dependency_is_a_cycle() {
        let err = graph(&["a"], vec![dep("a", "a")]).expect_err("cycle");
        assert_eq!(err.to_string(), "dependency cycle detected: a -> a");
    }

    #[test]
    fn two_cycle() {
        let err = graph(&["b", "a"], vec![dep("b", "a"), dep("a", "b")]).expect_err("cycle");
        assert_eq!(err.to_string(), "dependency cycle detected: a -> b -> a");
    }

    #[test]
    fn three_cycle_reported_from_smallest_name() {
        // Same input as the reference check: c->a, b->c, a->b.
        let err = graph(
            &["c", "b", "a"],
            vec![dep("c", "a"), dep("b", "c"), dep("a", "b")],
        )
        .expect_err("cycle");
        assert_eq!(
            err,
            GraphError::Cycle {
                cycle: names(&["a", "b", "c", "a"])
            }
        );
        assert_eq!(
            err.to_string(),
            "dependency cycle detected: a -> b -> c -> a"
        );
    }

    #[test]
    fn cycle_behind_acyclic_prefix() {
        // Compose: "x -> a, a -> b, a -> x, b -> a" reports a -> b -> a.
        let err = graph(
            &["x", "a", "b"],
            vec![dep("x", "a"), dep("a", "b"), dep("a", "x"), dep("b", "a")],
        )
        .expect_err("cycle");
        assert_eq!(err.to_string(), "dependency cycle detected: a -> b -> a");

        // Cycle not reachable from the first names still found.
        let err = graph(
            &["a", "b", "y", "z"],
            vec![dep("a", "b"), dep("y", "z"), dep("z", "y")],
        )
        .expect_err("cycle");
        assert_eq!(err.to_string(), "dependency cycle detected: y -> z -> y");
    }

    #[test]
    fn cycle_through_implicit_edges() {
        let err = graph(
            &["a", "b"],
            vec![Edge::new("a", "b", EdgeKind::NetworkMode), dep("b", "a")],
        )
        .expect_err("cycle");
        assert_eq!(err.to_string(), "dependency cycle detected: a -> b -> a");
    }

    #[test]
    fn unknown_dependency_names_both_services() {
        let err = graph(&["a"], vec![dep("a", "zz")]).expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "service \"a\" depends on undefined service \"zz\""
        );
        let err =
            graph(&["a"], vec![Edge::new("a", "zz", EdgeKind::VolumesFrom)]).expect_err("unknown");
        assert_eq!(
            err,
            GraphError::UnknownDependency {
                service: "a".into(),
                dependency: "zz".into()
            }
        );
    }

    #[test]
    fn optional_unknown_dependency_is_dropped() {
        let g = graph(&["a"], vec![optional("a", "zz")]).expect("dropped");
        assert!(g.dependencies_of("a").expect("known").is_empty());
        assert!(g.edges().is_empty());
    }

    #[test]
    fn edge_from_unknown_service_and_duplicates_are_rejected() {
        assert_eq!(
            graph(&["a"], vec![dep("q", "a")]).expect_err("unknown"),
            GraphError::NoSuchService("q".into())
        );
        assert_eq!(
            graph(&["a", "a"], vec![]).expect_err("duplicate"),
            GraphError::DuplicateService("a".into())
        );
    }

    #[test]
    fn direct_neighbours() {
        let g = diamond();
        assert_eq!(
            g.dependencies_of("web").expect("known"),
            names(&["api", "worker"])
        );
        assert_eq!(
            g.dependents_of("db").expect("known"),
            names(&["api", "worker"])
        );
        assert!(g.dependencies_of("db").expect("known").is_empty());
        assert_eq!(
            g.all_dependents_of("db").expect("known"),
            names(&["api", "web", "worker"])
        );
        assert_eq!(
            g.dependencies_of("nope").expect_err("unknown"),
            GraphError::NoSuchService("nope".into())
        );
    }

    #[test]
    fn parallel_edges_count_once() {
        let g = graph(
            &["a", "b"],
            vec![dep("a", "b"), Edge::new("a", "b", EdgeKind::NetworkMode)],
        )
        .expect("valid");
        assert_eq!(g.dependencies_of("a").expect("known"), names(&["b"]));
        assert_eq!(g.edges().len(), 2);
        assert_eq!(g.edges_from("a").expect("known").len(), 2);
        assert_eq!(g.levels(), vec![names(&["b"]), names(&["a"])]);
        let mut w = g.walker(false);
        assert_eq!(w.next_ready(), names(&["b"]));
        w.complete("b").expect("running");
        assert_eq!(w.next_ready(), names(&["a"]));
    }

    #[test]
    fn selection_with_and_without_dependencies() {
        let g = graph(
            &["web", "api", "worker", "db", "cache", "other"],
            vec![
                dep("web", "api"),
                dep("api", "db"),
                dep("worker", "cache"),
                optional("api", "cache"),
            ],
        )
        .expect("valid");
        assert_eq!(
            g.select(&names(&["web"]), true).expect("known"),
            names(&["cache", "db", "api", "web"])
        );
        assert_eq!(
            g.select(&names(&["web"]), false).expect("known"),
            names(&["web"])
        );
        assert_eq!(
            g.select(&names(&["web", "db"]), false).expect("known"),
            names(&["db", "web"]),
            "returned in start order"
        );
        assert_eq!(g.select(&[], true).expect("all"), g.start_order());
        assert_eq!(
            g.select(&names(&["nope"]), true).expect_err("unknown"),
            GraphError::NoSuchService("nope".into())
        );
    }

    #[test]
    fn subgraph_keeps_inner_edges_only() {
        let g = diamond();
        let sub = g.subgraph(&names(&["web", "api"])).expect("known");
        assert_eq!(sub.services().collect::<Vec<_>>(), vec!["api", "web"]);
        assert_eq!(sub.edges(), vec![dep("web", "api")]);
    }

    #[test]
    fn renderings_label_edges() {
        let g = graph(
            &["web", "db", "vpn"],
            vec![
                Edge::new(
                    "web",
                    "db",
                    EdgeKind::DependsOn {
                        condition: Condition::ServiceHealthy,
                        required: true,
                        restart: true,
                    },
                ),
                Edge::new("web", "vpn", EdgeKind::NetworkMode),
                optional("db", "vpn"),
            ],
        )
        .expect("valid");
        let dot = g.to_dot();
        assert!(dot.starts_with("digraph services {"));
        assert!(dot.contains("\"web\" -> \"db\" [label=\"service_healthy, restart\"];"));
        assert!(dot.contains("\"web\" -> \"vpn\" [label=\"network_mode\"];"));
        assert!(
            dot.contains("\"db\" -> \"vpn\" [label=\"service_started, optional\", style=dashed];")
        );
        assert!(dot.trim_end().ends_with('}'));

        let mermaid = g.to_mermaid();
        assert!(mermaid.starts_with("flowchart LR\n"));
        // Nodes are numbered in name order: db=s0, vpn=s1, web=s2.
        assert!(mermaid.contains("s0[\"db\"]"));
        assert!(mermaid.contains("s2 -->|\"service_healthy, restart\"| s0"));
        assert!(mermaid.contains("s2 -->|\"network_mode\"| s1"));
        assert!(mermaid.contains("s0 -.->|\"service_started, optional\"| s1"));
    }

    #[test]
    fn condition_round_trips() {
        for c in [
            Condition::ServiceStarted,
            Condition::ServiceHealthy,
            Condition::ServiceCompletedSuccessfully,
        ] {
            assert_eq!(Condition::parse(c.as_str()), Some(c));
        }
        assert_eq!(Condition::parse("service_ready"), None);
    }

    #[test]
    fn walker_hands_out_nodes_only_after_their_dependencies() {
        let g = diamond();
        let mut w = g.walker(false);
        assert_eq!(w.next_ready(), names(&["db"]));
        assert!(w.next_ready().is_empty(), "nothing else until db completes");
        w.complete("db").expect("running");
        assert_eq!(w.next_ready(), names(&["api", "worker"]));
        w.complete("api").expect("running");
        assert!(w.next_ready().is_empty(), "web still waits on worker");
        w.complete("worker").expect("running");
        assert_eq!(w.next_ready(), names(&["web"]));
        assert!(!w.is_finished());
        w.complete("web").expect("running");
        assert!(w.is_finished());
        assert_eq!(w.in_state(NodeState::Completed).len(), 4);
    }

    #[test]
    fn walker_does_not_wait_for_a_whole_level() {
        // a1 -> b1 is independent of the slow b2: a1 starts as soon as b1 is done.
        let g = graph(
            &["a1", "a2", "b1", "b2"],
            vec![dep("a1", "b1"), dep("a2", "b2")],
        )
        .expect("valid");
        let mut w = g.walker(false);
        assert_eq!(w.next_ready(), names(&["b1", "b2"]));
        w.complete("b1").expect("running");
        assert_eq!(w.next_ready(), names(&["a1"]));
        assert_eq!(w.state("b2"), Some(NodeState::Running));
    }

    #[test]
    fn reverse_walker_stops_dependents_first() {
        let g = diamond();
        let mut w = g.walker(true);
        assert_eq!(w.next_ready(), names(&["web"]));
        w.complete("web").expect("running");
        assert_eq!(w.next_ready(), names(&["api", "worker"]));
        w.complete("worker").expect("running");
        assert!(w.next_ready().is_empty(), "db waits for api to stop");
        w.complete("api").expect("running");
        assert_eq!(w.next_ready(), names(&["db"]));
    }

    #[test]
    fn failure_skips_transitive_dependents_only() {
        let g = graph(
            &["db", "api", "web", "cache", "worker"],
            vec![dep("api", "db"), dep("web", "api"), dep("worker", "cache")],
        )
        .expect("valid");
        let mut w = g.walker(false);
        assert_eq!(w.next_ready(), names(&["cache", "db"]));
        assert_eq!(w.fail("db").expect("running"), names(&["api", "web"]));
        assert_eq!(w.state("web"), Some(NodeState::Skipped));
        w.complete("cache").expect("running");
        assert_eq!(w.next_ready(), names(&["worker"]));
        w.complete("worker").expect("running");
        assert!(w.is_finished());
        assert_eq!(w.in_state(NodeState::Failed), names(&["db"]));
        assert_eq!(w.in_state(NodeState::Skipped), names(&["api", "web"]));
    }

    #[test]
    fn failure_of_optional_dependency_lets_dependent_run() {
        let g = graph(&["app", "metrics"], vec![optional("app", "metrics")]).expect("valid");
        let mut w = g.walker(false);
        assert_eq!(w.next_ready(), names(&["metrics"]));
        assert!(w.fail("metrics").expect("running").is_empty());
        assert_eq!(w.next_ready(), names(&["app"]));
    }

    #[test]
    fn skip_reaches_through_mixed_paths() {
        // c needs b (optional) and a (required); a fails: c is skipped even
        // though its optional path is fine.
        let g = graph(&["a", "b", "c"], vec![dep("c", "a"), optional("c", "b")]).expect("valid");
        let mut w = g.walker(false);
        assert_eq!(w.next_ready(), names(&["a", "b"]));
        w.complete("b").expect("running");
        assert_eq!(w.fail("a").expect("running"), names(&["c"]));
        assert!(w.next_ready().is_empty());
        assert!(w.is_finished());
    }

    #[test]
    fn walker_rejects_bad_reports() {
        let g = diamond();
        let mut w = g.walker(false);
        assert_eq!(
            w.complete("web").expect_err("not handed out"),
            WalkError::NotRunning {
                name: "web".into(),
                state: NodeState::Waiting
            }
        );
        assert_eq!(
            w.complete("nope").expect_err("unknown"),
            WalkError::NoSuchService("nope".into())
        );
        let ready = w.next_ready();
        w.complete(&ready[0]).expect("running");
        assert!(w.complete(&ready[0]).is_err(), "reported twice");
    }

    #[test]
    fn take_ready_respects_limit() {
        let g = graph(&["a", "b", "c"], vec![]).expect("valid");
        let mut w = g.walker(false);
        assert_eq!(w.take_ready(2), names(&["a", "b"]));
        assert_eq!(w.in_flight(), 2);
        assert!(w.take_ready(0).is_empty());
        w.complete("a").expect("running");
        assert_eq!(w.take_ready(5), names(&["c"]));
    }

    /// Small deterministic pseudo-random generator (no extra dependency).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self, bound: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 33) as usize) % bound.max(1)
        }
    }

    fn random_edges(rng: &mut Lcg, n: usize, count: usize, acyclic: bool) -> Vec<Edge> {
        (0..count)
            .filter_map(|_| {
                let a = rng.next(n);
                let b = rng.next(n);
                if acyclic && a <= b {
                    return None;
                }
                Some(dep(&format!("s{a:02}"), &format!("s{b:02}")))
            })
            .collect()
    }

    /// Compose's own search, path by path without memory: the reference
    /// for which cycle gets reported.
    fn naive_cycle(services: &[String], edges: &[Edge]) -> Option<Vec<String>> {
        fn search(
            path: &mut Vec<String>,
            children: &BTreeMap<String, BTreeSet<String>>,
        ) -> Option<Vec<String>> {
            let last = path.last().cloned().unwrap_or_default();
            for child in children.get(&last).into_iter().flatten() {
                if let Some(i) = path.iter().position(|p| p == child) {
                    let mut cycle = path[i..].to_vec();
                    cycle.push(child.clone());
                    return Some(cycle);
                }
                path.push(child.clone());
                if let Some(c) = search(path, children) {
                    return Some(c);
                }
                path.pop();
            }
            None
        }
        let mut children: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for e in edges {
            children
                .entry(e.from.clone())
                .or_default()
                .insert(e.to.clone());
        }
        let mut sorted = services.to_vec();
        sorted.sort();
        sorted
            .iter()
            .find_map(|s| search(&mut vec![s.clone()], &children))
    }

    #[test]
    fn reported_cycle_matches_composes_search_on_random_graphs() {
        let mut rng = Lcg(7);
        let mut cycles_seen = 0;
        for _ in 0..300 {
            let n = 2 + rng.next(7);
            let services: Vec<String> = (0..n).map(|i| format!("s{i:02}")).collect();
            let count = rng.next(2 * n);
            let edges = random_edges(&mut rng, n, count, false);
            let expected = naive_cycle(&services, &edges);
            match (ServiceGraph::new(services.clone(), edges.clone()), expected) {
                (Ok(_), None) => {}
                (Err(GraphError::Cycle { cycle }), Some(want)) => {
                    cycles_seen += 1;
                    assert_eq!(cycle, want, "edges {edges:?}");
                }
                (got, want) => panic!("edges {edges:?}: got {got:?}, want cycle {want:?}"),
            }
        }
        assert!(cycles_seen > 50, "the generator must produce cycles");
    }

    #[test]
    fn walker_invariant_on_random_dags_and_completion_orders() {
        let mut rng = Lcg(42);
        for _ in 0..200 {
            let n = 1 + rng.next(12);
            let services: Vec<String> = (0..n).map(|i| format!("s{i:02}")).collect();
            let count = rng.next(3 * n);
            let edges = random_edges(&mut rng, n, count, true);
            let g = ServiceGraph::new(services, edges).expect("acyclic by construction");
            for reverse in [false, true] {
                let mut w = g.walker(reverse);
                let mut done: BTreeSet<String> = BTreeSet::new();
                let mut running: Vec<String> = Vec::new();
                while !w.is_finished() {
                    for name in w.next_ready() {
                        let needs = if reverse {
                            g.dependents_of(&name)
                        } else {
                            g.dependencies_of(&name)
                        }
                        .expect("known");
                        for need in needs {
                            assert!(done.contains(&need), "{name} handed out before {need}");
                        }
                        running.push(name);
                    }
                    let pick = rng.next(running.len());
                    let name = running.swap_remove(pick);
                    w.complete(&name).expect("running");
                    done.insert(name);
                }
                assert_eq!(done.len(), g.len(), "every service visited once");
            }
        }
    }

    #[test]
    fn threaded_walk_reraises_visitor_panic_without_hanging() {
        let g = diamond();
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            g.walk(false, 2, |name| -> Result<(), ()> {
                if name == "api" {
                    panic!("boom in {name}");
                }
                Ok(())
            })
        }));
        assert!(result.is_err(), "the visitor's panic reaches the caller");
    }

    /// A bigger layered graph for the threaded walk.
    fn layered(width: usize, depth: usize) -> ServiceGraph {
        let mut services = Vec::new();
        let mut edges = Vec::new();
        for d in 0..depth {
            for i in 0..width {
                services.push(format!("s{d}_{i}"));
                if d > 0 {
                    edges.push(dep(&format!("s{d}_{i}"), &format!("s{}_{i}", d - 1)));
                    edges.push(dep(
                        &format!("s{d}_{i}"),
                        &format!("s{}_{}", d - 1, (i + 1) % width),
                    ));
                }
            }
        }
        ServiceGraph::new(services, edges).expect("layered graph is acyclic")
    }

    #[test]
    fn threaded_walk_respects_order_and_parallel_limit() {
        let g = layered(6, 4);
        let finished = Mutex::new(Vec::<String>::new());
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let outcome = g.walk(false, 3, |name| -> Result<(), String> {
            let now = running.fetch_add(1, AtomicOrdering::SeqCst) + 1;
            peak.fetch_max(now, AtomicOrdering::SeqCst);
            {
                let done = finished.lock().expect("lock");
                for need in g.dependencies_of(name).expect("known") {
                    assert!(done.contains(&need), "{name} started before {need}");
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
            running.fetch_sub(1, AtomicOrdering::SeqCst);
            finished.lock().expect("lock").push(name.to_owned());
            Ok(())
        });
        assert_eq!(outcome.completed.len(), 24);
        assert!(outcome.failed.is_empty() && outcome.skipped.is_empty());
        assert!(peak.load(AtomicOrdering::SeqCst) <= 3);
        assert!(peak.load(AtomicOrdering::SeqCst) >= 2, "ran in parallel");
    }

    #[test]
    fn threaded_reverse_walk_with_failure() {
        let g = diamond();
        let outcome = g.walk(true, 0, |name| {
            if name == "worker" {
                Err(format!("cannot stop {name}"))
            } else {
                Ok(())
            }
        });
        assert_eq!(outcome.failed.len(), 1);
        assert_eq!(outcome.failed[0].0, "worker");
        assert_eq!(outcome.skipped, names(&["db"]));
        let mut completed = outcome.completed.clone();
        completed.sort();
        assert_eq!(completed, names(&["api", "web"]));
        assert_eq!(outcome.completed[0], "web");
    }
}
