"""The wallboard's live board as JSON: the hand-written conversion gives
what `dataclasses.asdict` gives, and copies what a caller could change."""

from __future__ import annotations

from dataclasses import asdict

from queues.board import CallNow, HotlinerNow, LiveBoard, QueueNow, WaitingNow


def _board() -> LiveBoard:
    return LiveBoard(
        queues=[QueueNow("email", "messagerie", 2, 1_000, 1, "closed")],
        hotliners=[
            HotlinerNow(
                "nina",
                "Nina",
                "busy",
                2_000,
                "",
                "CA1",
                "+336•••01",
                "email",
                {"email": 3, "printer": 1},
                True,
            )
        ],
        calls=[CallNow("CA1", "+336•••01", "email", "nina", "talking", 3_000)],
        in_ivr=4,
        states={"busy": 1},
        waiting=[WaitingNow("CA2", "+336•••02", "email", 5, 4_000, False)],
    )


def test_as_json_is_asdict() -> None:
    board = _board()
    assert board.as_json() == asdict(board)


def test_as_json_copies_the_dicts_it_holds() -> None:
    board = _board()
    shown = board.as_json()
    shown["hotliners"][0]["skills"]["email"] = 5
    shown["states"]["busy"] = 9
    assert board.hotliners[0].skills == {"email": 3, "printer": 1}
    assert board.states == {"busy": 1}
