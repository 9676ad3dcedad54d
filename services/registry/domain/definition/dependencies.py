"""Dependencies between steps: unknown, self and later-phase dependencies, cycles, and what runs before what.

Phases run in order, so a dependency on a step of an earlier phase is always satisfied and adds no edge; only
dependencies inside a phase order its steps, and only they can form cycles. A cycle is reported once per group of
steps that depend on each other (a strongly connected component), as the shortest cycle through the group's first
step in document order (`a -> b -> c -> a`, each step depending on the next), so that a definition with one
wrong edge gets one violation rather than one per step caught in the loop.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from services.registry.domain.definition.reader import Reader
from services.registry.domain.definition.structure import StepSite


class Ordering:
    """The dependency graph of a definition, once its dependencies are checked."""

    def __init__(self, sites: Sequence[StepSite]) -> None:
        # The first step with each id; later duplicates are reported elsewhere and are no graph nodes.
        self.by_id: dict[str, StepSite] = {}
        for site in sites:
            if site.id_is_unique:
                self.by_id[site.step.id] = site
        # Same-phase edges, in depends_on order, with the path of each depends_on entry.
        self.edges: dict[str, list[tuple[str, str]]] = {}
        self._ancestors: dict[str, frozenset[str]] = {}

    def check(self, reader: Reader, sites: Sequence[StepSite]) -> None:
        """Report bad dependencies and cycles, and build the same-phase edges."""
        for site in sites:
            edges: list[tuple[str, str]] = []
            for dependency, path in zip(site.step.depends_on, site.dependency_paths, strict=True):
                problem = self._dependency_problem(site, dependency)
                if problem is not None:
                    reader.add(path, problem)
                elif self.by_id[dependency].phase_index == site.phase_index:
                    edges.append((dependency, path))
            if site.id_is_unique:
                self.edges[site.step.id] = edges
        for cycle, path, others in self._cycles():
            description = f"dependency cycle: {' -> '.join(cycle)} (each step depends on the next)"
            if others:
                description += f"; also caught in cycles with these steps: {', '.join(others)}"
            reader.add(path, description)

    def runs_before(self, step_id: str, site: StepSite) -> bool:
        """Whether step `step_id` has finished whenever `site` starts."""
        other = self.by_id.get(step_id)
        if other is None or other is site:
            return False
        if other.phase_index != site.phase_index:
            return other.phase_index < site.phase_index
        return step_id in self._same_phase_ancestors(site)

    def _dependency_problem(self, site: StepSite, dependency: str) -> str | None:
        if dependency == site.step.id:
            return "a step cannot depend on itself"
        other = self.by_id.get(dependency)
        if other is None:
            return f"unknown step {dependency!r}"
        if other.phase_index > site.phase_index:
            return (
                f"step {dependency!r} is in a later phase ({other.step.phase_id!r}); "
                "a step can depend only on steps of its own or an earlier phase"
            )
        return None

    def _same_phase_ancestors(self, site: StepSite) -> frozenset[str]:
        key = site.path
        if key not in self._ancestors:
            seen: set[str] = set()
            pending = [d for d, _ in self._site_edges(site)]
            while pending:
                current = pending.pop()
                if current not in seen:
                    seen.add(current)
                    pending.extend(d for d, _ in self.edges.get(current, ()))
            self._ancestors[key] = frozenset(seen)
        return self._ancestors[key]

    def _site_edges(self, site: StepSite) -> list[tuple[str, str]]:
        """A site's own edges; a duplicate-id site has none stored, so recompute them from its depends_on."""
        if site.id_is_unique:
            return self.edges.get(site.step.id, [])
        return [
            (dependency, path)
            for dependency, path in zip(site.step.depends_on, site.dependency_paths, strict=True)
            if dependency in self.by_id and self.by_id[dependency].phase_index == site.phase_index
        ]

    def _cycles(self) -> list[tuple[list[str], str, list[str]]]:
        """(cycle, path of its first edge, other steps of the same component) for each cyclic component."""
        order = {step_id: position for position, step_id in enumerate(self.edges)}
        found = []
        for component in _components(self.edges):
            if len(component) < 2:
                continue
            members = sorted(component, key=order.__getitem__)
            cycle, path = self._shortest_cycle(members[0], component)
            found.append((cycle, path, [m for m in members if m not in cycle]))
        found.sort(key=lambda item: order[item[0][0]])
        return found

    def _shortest_cycle(self, start: str, component: set[str]) -> tuple[list[str], str]:
        """Breadth-first from `start` along dependencies inside the component until an edge leads back."""
        parents: dict[str, tuple[str, str] | None] = {start: None}
        queue = deque([start])
        while queue:
            current = queue.popleft()
            for dependency, path in self.edges[current]:
                if dependency not in component:
                    continue
                if dependency == start:
                    return _walk_back(parents, current, start, path)
                if dependency not in parents:
                    parents[dependency] = (current, path)
                    queue.append(dependency)
        raise AssertionError("a strongly connected component of two or more steps has a cycle through each")


def _walk_back(
    parents: dict[str, tuple[str, str] | None], last: str, start: str, closing: str
) -> tuple[list[str], str]:
    chain = [last]
    first_edge = closing
    current = last
    while (parent := parents[current]) is not None:
        current, first_edge = parent
        chain.append(current)
    chain.reverse()
    return [*chain, start], first_edge


def _components(edges: dict[str, list[tuple[str, str]]]) -> list[set[str]]:
    """Strongly connected components (Tarjan's algorithm, iterative: a phase may hold hundreds of steps)."""
    counter = 0
    indices: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    for root in edges:
        if root in indices:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                indices[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            targets = [d for d, _ in edges.get(node, ()) if d in edges]
            if position < len(targets):
                work.append((node, position + 1))
                target = targets[position]
                if target not in indices:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], indices[target])
                continue
            if low[node] == indices[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components
