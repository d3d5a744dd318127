"""Via-node alternatives from two shortest-path trees, checked against a plain Dijkstra."""

from __future__ import annotations

import heapq
import itertools
import random

import pytest

from shared.traffic.alternatives import (
    MAX_SHARING,
    MAX_STRETCH,
    MIN_PLATEAU,
    Path,
    Tree,
    tree_route,
    via_alternatives,
)

# edge id -> (source, target, cost s)
Graph = dict[int, tuple[int, int, float]]


def _tree(graph: Graph, root: int, *, backward: bool) -> Tree:
    """Reference Dijkstra: the forward tree from ``root`` or the backward tree into it."""
    out: dict[int, list[tuple[int, int, float]]] = {}
    for e, (a, b, c) in graph.items():
        if backward:
            a, b = b, a
        out.setdefault(a, []).append((e, b, c))
    cost = {root: 0.0}
    edge: dict[int, int] = {}
    hop: dict[int, int] = {}
    heap = [(0.0, root)]
    done: set[int] = set()
    while heap:
        d, u = heapq.heappop(heap)
        if u in done:
            continue
        done.add(u)
        for e, v, c in out.get(u, []):
            if d + c < cost.get(v, float("inf")):
                cost[v] = d + c
                edge[v] = e
                hop[v] = u
                heapq.heappush(heap, (d + c, v))
    return Tree(cost=cost, edge=edge, hop=hop)


def _grid(n: int, seed: int) -> Graph:
    """An n x n street grid, two-way, with random block times (30-90 s)."""
    rng = random.Random(seed)
    graph: Graph = {}
    ids = itertools.count(1)
    for r, c in itertools.product(range(n), range(n)):
        node = r * n + c
        for nb in ([node + 1] if c + 1 < n else []) + ([node + n] if r + 1 < n else []):
            t = rng.uniform(30.0, 90.0)
            graph[next(ids)] = (node, nb, t)
            graph[next(ids)] = (nb, node, t * rng.uniform(0.9, 1.1))
    return graph


def _check_route(graph: Graph, p: Path, source: int, target: int) -> None:
    assert p.nodes[0] == source and p.nodes[-1] == target
    assert len(set(p.nodes)) == len(p.nodes), "a route never visits a node twice"
    for n, e in enumerate(p.edges):
        a, b, c = graph[e]
        assert (a, b) == (p.nodes[n], p.nodes[n + 1])
        assert p.arrival_s[n + 1] - p.arrival_s[n] == pytest.approx(c)


def _shared(a: Path, b: Path) -> float:
    theirs = set(b.edges)
    return sum(c for e, c in a.edge_costs().items() if e in theirs)


@pytest.mark.parametrize("seed", range(6))
def test_alternatives_on_a_grid_are_admissible(seed: int) -> None:
    graph = _grid(7, seed)
    source, target = 0, 48  # opposite corners
    fwd = _tree(graph, source, backward=False)
    bwd = _tree(graph, target, backward=True)
    best = tree_route(fwd, bwd, target)
    _check_route(graph, best, source, target)
    assert best.cost_s == pytest.approx(fwd.cost[target])
    alts = via_alternatives(fwd, bwd, best, k=3)
    assert alts, "a grid offers other ways across"
    assert len(alts) <= 3
    every = {b: _tree(graph, b, backward=False) for b in {n for a in alts for n in a.nodes}}
    for i, alt in enumerate(alts):
        _check_route(graph, alt, source, target)
        assert alt.edges != best.edges
        # Bounded stretch, limited sharing with the best route and with every other choice.
        assert best.cost_s <= alt.cost_s <= MAX_STRETCH * best.cost_s + 1e-6
        assert _shared(alt, best) <= MAX_SHARING * best.cost_s + 1e-6
        for other in alts[:i]:
            assert _shared(alt, other) <= MAX_SHARING * min(alt.cost_s, other.cost_s) + 1e-6
        # Locally optimal: every stretch of it no longer than MIN_PLATEAU x best is a fastest
        # route between its ends.
        window = MIN_PLATEAU * best.cost_s
        for a, b in itertools.combinations(range(len(alt.nodes)), 2):
            span = alt.arrival_s[b] - alt.arrival_s[a]
            if span <= window:
                assert span == pytest.approx(every[alt.nodes[a]].cost[alt.nodes[b]])


def _ladder(rung_detour_s: float) -> Graph:
    """Two parallel one-way corridors from 0 to 9: the fast one 0-1-2-3-9 (4 x 60 s) and the
    other 0-4-5-6-9 whose blocks are ``rung_detour_s`` / 4 each."""
    slow = rung_detour_s / 4
    return {
        1: (0, 1, 60.0),
        2: (1, 2, 60.0),
        3: (2, 3, 60.0),
        4: (3, 9, 60.0),
        5: (0, 4, slow),
        6: (4, 5, slow),
        7: (5, 6, slow),
        8: (6, 9, slow),
    }


def test_the_parallel_corridor_is_the_alternative_within_the_stretch_bound() -> None:
    graph = _ladder(300.0)  # 25 % slower than the best route's 240 s
    fwd, bwd = _tree(graph, 0, backward=False), _tree(graph, 9, backward=True)
    best = tree_route(fwd, bwd, 9)
    assert best.nodes == (0, 1, 2, 3, 9) and best.cost_s == pytest.approx(240.0)
    (alt,) = via_alternatives(fwd, bwd, best, k=3)
    assert alt.nodes == (0, 4, 5, 6, 9)
    assert alt.arrival_s == pytest.approx((0.0, 75.0, 150.0, 225.0, 300.0))
    assert via_alternatives(fwd, bwd, best, k=0) == []
    # 50 % slower than the best route: beyond the 1.4 stretch bound, so no alternative.
    graph = _ladder(360.0)
    fwd, bwd = _tree(graph, 0, backward=False), _tree(graph, 9, backward=True)
    assert via_alternatives(fwd, bwd, tree_route(fwd, bwd, 9), k=3) == []
    assert via_alternatives(fwd, bwd, tree_route(fwd, bwd, 9), k=3, max_stretch=1.6)


def test_a_detour_that_shares_most_of_the_best_route_is_not_offered() -> None:
    # Best 0-1-2-3 (3 x 100 s); the other way swaps the last block for 2-4-5-3 (20 + 60 + 40 s):
    # 320 s, within the stretch, sharing 200 s (67 %) with the best route.
    graph: Graph = {
        1: (0, 1, 100.0),
        2: (1, 2, 100.0),
        3: (2, 3, 100.0),
        4: (2, 4, 20.0),
        5: (4, 5, 60.0),
        6: (5, 3, 40.0),
    }
    fwd, bwd = _tree(graph, 0, backward=False), _tree(graph, 3, backward=True)
    best = tree_route(fwd, bwd, 3)
    assert [a.nodes for a in via_alternatives(fwd, bwd, best)] == [(0, 1, 2, 4, 5, 3)]
    assert via_alternatives(fwd, bwd, best, max_sharing=0.6) == []


def test_a_pointless_local_detour_is_not_offered() -> None:
    # Best 0-1-2-3 (400 s). The via route 0-1-5-6-2-3 (420 s) leaves it for a spur whose only
    # stretch that both trees agree on (its plateau, 5-6) lasts 15 s, under 10 % of 400 s: a
    # local detour. 0-7-8-3 (450 s) is a real alternative: its plateau 7-8 lasts 100 s.
    graph: Graph = {
        1: (0, 1, 100.0),
        2: (1, 2, 100.0),
        3: (2, 3, 200.0),
        4: (1, 5, 10.0),
        5: (5, 6, 15.0),
        6: (6, 2, 95.0),
        7: (0, 7, 150.0),
        8: (7, 8, 100.0),
        9: (8, 3, 200.0),
    }
    fwd, bwd = _tree(graph, 0, backward=False), _tree(graph, 3, backward=True)
    best = tree_route(fwd, bwd, 3)
    assert best.nodes == (0, 1, 2, 3)
    assert [a.nodes for a in via_alternatives(fwd, bwd, best)] == [(0, 7, 8, 3)]
    looser = via_alternatives(fwd, bwd, best, min_plateau=0.03)
    assert sorted(a.nodes for a in looser) == [(0, 1, 5, 6, 2, 3), (0, 7, 8, 3)]


def test_a_via_route_that_loops_back_is_not_offered() -> None:
    # Through 6 the forward tree goes 0-1-5-6 and the backward tree 6-1-2-3: the route would
    # pass node 1 twice (a 45 s loop), although its plateau 5-6 and its stretch are admissible.
    graph: Graph = {
        1: (0, 1, 10.0),
        2: (1, 2, 100.0),
        3: (2, 3, 10.0),
        4: (1, 5, 10.0),
        5: (5, 6, 25.0),
        6: (6, 1, 10.0),
    }
    fwd, bwd = _tree(graph, 0, backward=False), _tree(graph, 3, backward=True)
    best = tree_route(fwd, bwd, 3)
    assert best.nodes == (0, 1, 2, 3)
    assert tree_route(fwd, bwd, 6).nodes == (0, 1, 5, 6, 1, 2, 3)
    assert via_alternatives(fwd, bwd, best, max_sharing=1.0) == []
