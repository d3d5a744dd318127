"""Signal states the twin shows while the platform moves between stages."""

from __future__ import annotations

from shared.traffic.adaptive import StepKind
from shared.twin.controllers import transition_state


def test_yellow_only_on_links_that_lose_their_green() -> None:
    assert transition_state("GGgrr", "GrrGG", StepKind.yellow) == "Gyyrr"


def test_all_red_keeps_shared_greens_and_holds_new_ones() -> None:
    assert transition_state("GGgrr", "GrrGG", StepKind.all_red) == "Grrrr"


def test_green_is_the_target_phase() -> None:
    assert transition_state("GGgrr", "GrrGG", StepKind.green) == "GrrGG"
