"""The decision spool: a decision another program writes into decisions/ (the operator's Telegram
bot) is applied by the agent with the code of `review resolve`, its decider recorded, or refused."""

import json

import pytest

from {{ cookiecutter.package_name }}.runtime.review import DECISIONS_FOLDER, decider

AMBIGUOUS = "Patient: Marie Martin\nReference: spool\n"  # two people of the samples fit
DOCTOR = {"telegram_user_id": 4242, "username": "dr_house"}


def entries(home) -> list[dict]:
    lines = (home.state / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def spool(home, name: str, request: dict):
    path = home.state / DECISIONS_FOLDER / name
    path.write_text(json.dumps(request), encoding="utf-8")
    return path


@pytest.fixture
def parked(home):
    home.drop("ambiguous.txt", AMBIGUOUS)
    agent = home.agent()
    agent.run_once()
    (review,) = agent.db.reviews()
    return agent, review


def test_a_telegram_decision_continues_the_item_with_that_person_and_names_the_decider(
    home, parked
):
    agent, review = parked
    item_id = review["item_id"]
    chosen = review["choices"][1]
    spool(
        home,
        f"{item_id}.telegram-tok1.json",
        {
            "item_id": item_id,
            "choose": 2,
            "note": "decided in Telegram",
            "by": "telegram:4242 (@dr_house)",
            "decided_by": DOCTOR,
            "token": "tok1",
        },
    )
    agent.run_once()

    assert home.files("done") == ["ambiguous.txt"]
    result = json.loads((home.state / "outbox" / f"{item_id}.json").read_text(encoding="utf-8"))
    assert result["person"]["id"] == chosen["id"]
    assert result["matched_by"] == "human"
    assert result["decided_by"] == DOCTOR
    (decision,) = [e for e in entries(home) if e["action"] == "human.decision"]
    assert decision["item"] == item_id
    assert decision["detail"]["by"] == "telegram:4242 (@dr_house)"
    assert decision["detail"]["decided_by"] == DOCTOR
    assert list((home.state / DECISIONS_FOLDER).iterdir()) == []


def test_a_second_decision_for_a_decided_review_is_refused_and_changes_nothing(home, parked):
    agent, review = parked
    item_id = review["item_id"]
    for token, choose in (("a", 1), ("b", 2)):
        spool(
            home,
            f"{item_id}.telegram-{token}.json",
            {"item_id": item_id, "choose": choose, "by": "telegram:1", "decided_by": DOCTOR},
        )
    agent.run_once()

    decisions = [e for e in entries(home) if e["action"] == "human.decision"]
    assert len(decisions) == 1
    refused = list((home.state / DECISIONS_FOLDER).glob("*.refused.json"))
    assert len(refused) == 1
    assert "no pending review" in json.loads(refused[0].read_text(encoding="utf-8"))["error"]
    assert len(list((home.state / "outbox").iterdir())) == 1


def test_a_forged_decider_is_refused(home, parked):
    agent, review = parked
    item_id = review["item_id"]
    spool(
        home,
        f"{item_id}.telegram-x.json",
        {"item_id": item_id, "choose": 1, "decided_by": {"telegram_user_id": "1; rm -rf"}},
    )
    agent.run_once()

    assert home.files("review") == ["ambiguous.txt"]
    (refused,) = (home.state / DECISIONS_FOLDER).glob("*.refused.json")
    assert "decided_by" in json.loads(refused.read_text(encoding="utf-8"))["error"]


@pytest.mark.parametrize(
    "value",
    [
        {"telegram_user_id": True, "username": ""},
        {"telegram_user_id": 1, "username": "a b"},
        {"telegram_user_id": 1, "username": "x" * 33},
        {"telegram_user_id": 1, "username": "", "admin": True},
        "4242",
    ],
)
def test_the_decider_is_checked(value):
    with pytest.raises(ValueError, match="decided_by"):
        decider(value)
    assert decider({"telegram_user_id": 7, "username": ""}) == {
        "telegram_user_id": 7,
        "username": "",
    }
