"""Alternative routes from two shortest-path trees (pure; no database).

Given the forward tree of the source (fastest route from the source to every node) and the
backward tree of the target (fastest route from every node to the target), every node ``v``
defines a *via route*: the forward tree's path to ``v``, then the backward tree's path on to the
target, of cost ``d_f(v) + d_b(v)``. This is the via-node method of Abraham, Delling, Goldberg
and Werneck, "Alternative routes in road networks" (ACM JEA 18, 2013), with the plateaus of
Cambridge Vehicle Information Technology's *choice routing*: a plateau is a maximal chain of
edges that both trees use in the same direction, and every node of a plateau gives the same via
route. A via route is an admissible alternative when

- it is *simple* (the two tree paths meet only at the via node);
- its **stretch** is bounded: cost <= ``max_stretch`` x the best route's cost (1.4 by default,
  the paper's ε = 0.4);
- its **sharing** is limited: the travel time it shares with the best route, and with every
  alternative already chosen, is at most ``max_sharing`` of the shorter of the two (0.8, the
  paper's γ);
- it is **locally optimal**: its plateau lasts at least ``min_plateau`` x the best route's cost.
  Every stretch of it shorter than its plateau is then a fastest route (a stretch either ends
  before the plateau's end, inside the forward tree's path, or starts after the plateau's start,
  inside the backward tree's path), so it makes no pointless local detour (the paper's T-test
  with T = ``min_plateau`` x best; 0.1 here, as the demo city's trips are short).

Candidates are taken in the order of the paper's objective ``2 * cost + sharing - plateau``
(short, distinct and locally optimal first) until ``k`` are accepted.

Costs are seconds of travel; node and edge ids are any ints (road_segment and intersection ids).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Path", "Tree", "tree_route", "via_alternatives"]

MAX_STRETCH = 1.4
MAX_SHARING = 0.8
MIN_PLATEAU = 0.1
# Relative tolerance on float sums of the same edge costs taken in different orders.
_EPS = 1e-9


@dataclass(frozen=True)
class Tree:
    """A shortest-path tree: each reached node's cost and its tree edge with the edge's other end.

    In a forward tree (rooted at the source) ``edge[v]`` enters ``v`` from ``hop[v]`` and
    ``cost[v]`` is the travel time from the root; in a backward tree (rooted at the target)
    ``edge[v]`` leaves ``v`` towards ``hop[v]`` and ``cost[v]`` is the travel time to the root.
    The root has a cost (0) but no edge.
    """

    cost: Mapping[int, float]
    edge: Mapping[int, int]
    hop: Mapping[int, int]


@dataclass(frozen=True)
class Path:
    """A route: its nodes, its edges, and the cumulative travel time at each node (s)."""

    nodes: tuple[int, ...]
    edges: tuple[int, ...]
    arrival_s: tuple[float, ...]  # one per node; arrival_s[0] == 0

    @property
    def cost_s(self) -> float:
        return self.arrival_s[-1]

    def edge_costs(self) -> dict[int, float]:
        """Return each edge's travel time on this path."""
        a = self.arrival_s
        return {e: a[n + 1] - a[n] for n, e in enumerate(self.edges)}


def tree_route(forward: Tree, backward: Tree, via: int) -> Path:
    """Return the via route through ``via``: forward tree path to it, backward tree path on.

    ``via`` = the backward tree's root (the target) gives the best route itself.
    """
    head = [via]
    while head[-1] in forward.edge:
        head.append(forward.hop[head[-1]])
    head.reverse()
    nodes = list(head)
    edges = [forward.edge[n] for n in head[1:]]
    arrival = [forward.cost[n] for n in head]
    at = forward.cost[via]
    total = at + backward.cost[via]
    node = via
    while node in backward.edge:
        edges.append(backward.edge[node])
        node = backward.hop[node]
        nodes.append(node)
        arrival.append(total - backward.cost[node])
    return Path(nodes=tuple(nodes), edges=tuple(edges), arrival_s=tuple(arrival))


def _shared_along(
    tree: Tree, node: int, best: Mapping[int, float], memo: dict[int, float]
) -> float:
    """Travel time that the tree's path between the root and ``node`` shares with ``best``."""
    chain = []
    while node not in memo:
        if node not in tree.edge:
            memo[node] = 0.0
            break
        chain.append(node)
        node = tree.hop[node]
    acc = memo[node]
    for n in reversed(chain):
        e = tree.edge[n]
        if e in best:
            acc += abs(tree.cost[n] - tree.cost[tree.hop[n]])
        memo[n] = acc
    return acc


def _shared(a: Path, b: Mapping[int, float]) -> float:
    return sum(c for e, c in a.edge_costs().items() if e in b)


def via_alternatives(
    forward: Tree,
    backward: Tree,
    best: Path,
    *,
    k: int = 3,
    max_stretch: float = MAX_STRETCH,
    max_sharing: float = MAX_SHARING,
    min_plateau: float = MIN_PLATEAU,
) -> list[Path]:
    """Return up to ``k`` admissible alternatives to ``best``, best objective first (see module).

    ``forward`` is rooted at ``best``'s first node, ``backward`` at its last.
    """
    if k <= 0 or len(best.nodes) < 2:
        return []
    d = best.cost_s
    limit = max_stretch * d * (1.0 + _EPS)
    f_edge, f_hop, f_cost = forward.edge, forward.hop, forward.cost
    b_edge, b_hop, b_cost = backward.edge, backward.hop, backward.cost

    def plateau_out(u: int) -> bool:
        e = b_edge.get(u)
        return e is not None and f_edge.get(b_hop[u]) == e

    best_costs = best.edge_costs()
    f_memo: dict[int, float] = {}
    b_memo: dict[int, float] = {}
    candidates: list[tuple[float, float, int]] = []
    for start in b_edge:
        if not plateau_out(start):
            continue
        if start in f_edge and b_edge.get(f_hop[start]) == f_edge[start]:
            continue  # not the plateau's first node
        if start not in f_cost:
            continue
        end = start
        while plateau_out(end):
            end = b_hop[end]
        cost = f_cost[end] + b_cost[end]
        plateau = f_cost[end] - f_cost[start]
        if cost > limit or plateau < min_plateau * d:
            continue
        sharing = _shared_along(forward, end, best_costs, f_memo) + _shared_along(
            backward, end, best_costs, b_memo
        )
        if sharing > max_sharing * d * (1.0 + _EPS):
            continue
        candidates.append((2.0 * cost + sharing - plateau, cost, end))
    chosen: list[Path] = []
    chosen_costs: list[dict[int, float]] = []
    for _objective, cost, via in sorted(candidates):
        path = tree_route(forward, backward, via)
        if path.edges == best.edges:
            continue  # the best route's own plateau
        if len(set(path.nodes)) != len(path.nodes):
            continue  # the two tree paths cross: a loop, not a route
        costs = path.edge_costs()
        if any(
            _shared(path, other) > max_sharing * min(cost, sum(other.values())) * (1.0 + _EPS)
            for other in chosen_costs
        ):
            continue
        chosen.append(path)
        chosen_costs.append(costs)
        if len(chosen) == k:
            break
    return chosen
