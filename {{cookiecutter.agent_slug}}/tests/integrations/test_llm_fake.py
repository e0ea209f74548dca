"""The fake provider: deterministic extraction, honest token usage, fault lines; the factory."""

import json
import math

import pytest

import stubs
from {{ cookiecutter.package_name }}.integrations import llm
from {{ cookiecutter.package_name }}.integrations.llm import LLMError, Usage, make_provider
from {{ cookiecutter.package_name }}.integrations.llm.fake import FakeProvider
from {{ cookiecutter.package_name }}.reliability.http import PermanentError, RetryPolicy

SYSTEM = "You extract fields from documents. Answer with one JSON object."
INSTRUCTIONS = "Extract last_name, first_name, birth_date, document_type, summary.\nName: not me"
MODEL = "fake-extractor-1"


def ask(document: str, provider=None):
    provider = provider or FakeProvider()
    prompt = f"{INSTRUCTIONS}\n--- DOCUMENT ---\n{document}"
    return provider.complete(system=SYSTEM, prompt=prompt, model=MODEL, max_tokens=500)


def fields(document: str) -> dict:
    return json.loads(ask(document).text)


def test_factory_builds_the_fake_without_key_or_url():
    provider = make_provider("fake", api_key="", base_url=None, policy=RetryPolicy())

    assert provider.name == "fake"
    assert json.loads(ask("Name: Jane Doe", provider).text)["last_name"] == "Doe"


def test_factory_refuses_an_unknown_provider_with_the_fix():
    with pytest.raises(PermanentError) as caught:
        make_provider("gemini", api_key="k", base_url=None, policy=RetryPolicy())

    message = str(caught.value)
    assert message.startswith("LLM_PROVIDER=gemini is not available in this agent (available: fake")
    assert message.endswith("; set LLM_PROVIDER in .env")
    assert "\n" not in message


def test_factory_treats_a_removed_module_as_unavailable(monkeypatch):
    # What the project generator does to the providers not chosen: the module file is gone.
    monkeypatch.setitem(llm.PROVIDERS, "ghost", "ghost_provider_removed_at_bake_time")

    assert "ghost" not in llm.available()
    with pytest.raises(PermanentError, match=r"LLM_PROVIDER=ghost is not available"):
        make_provider("ghost", api_key="k", base_url=None, policy=RetryPolicy())


def test_answers_are_deterministic_and_billed_by_length():
    document = "Patient: Jane Doe\nDOB: 03/04/1985\nReferral for physiotherapy"

    first, second = ask(document), ask(document)

    assert first == second
    prompt = f"{INSTRUCTIONS}\n--- DOCUMENT ---\n{document}"
    assert first.model == MODEL
    assert first.usage == Usage(
        input_tokens=math.ceil(len(SYSTEM + prompt) / 4),
        output_tokens=math.ceil(len(first.text) / 4),
    )


def test_extracts_a_complete_document():
    document = (
        "Referral letter\n"
        "Patient: Jane Doe\n"
        "Date of birth: 03/04/1985\n"
        "Document type: referral\n"
        "Summary: Knee pain after a fall, physiotherapy requested.\n"
    )

    assert fields(document) == {
        "last_name": "Doe",
        "first_name": "Jane",
        "birth_date": "1985-04-03",
        "document_type": "referral",
        "summary": "Knee pain after a fall, physiotherapy requested.",
    }


@pytest.mark.parametrize("label", ["Name", "Patient", "Full name", "CLIENT", "customer"])
def test_reads_every_full_name_label(label):
    assert fields(f"{label}: Jane Doe")[("first_name")] == "Jane"
    assert fields(f"{label}: Jane Doe")["last_name"] == "Doe"


@pytest.mark.parametrize(
    ("value", "last", "first"),
    [
        ("Jane Doe", "Doe", "Jane"),
        ("DOE, Jane", "Doe", "Jane"),
        ("O'BRIEN, Mary Ann", "O'Brien", "Mary Ann"),
        ("Mary Ann  Smith", "Smith", "Mary Ann"),
        ("Prince", "Prince", None),
    ],
)
def test_splits_full_names(value, last, first):
    result = fields(f"Name: {value}")

    assert (result["last_name"], result["first_name"]) == (last, first)


@pytest.mark.parametrize("label", ["Last name", "surname", "Family Name"])
def test_reads_every_last_name_label(label):
    assert fields(f"{label}: Martin")["last_name"] == "Martin"


@pytest.mark.parametrize("label", ["First name", "given name"])
def test_reads_every_first_name_label(label):
    assert fields(f"{label}: Zoé")["first_name"] == "Zoé"


def test_separate_name_fields_win_over_the_full_name():
    result = fields("Name: Jane Doe\nLast name: Doe-Smith\nFirst name: Janet")

    assert (result["last_name"], result["first_name"]) == ("Doe-Smith", "Janet")


@pytest.mark.parametrize("label", ["Date of birth", "DOB", "D.O.B.", "born", "Birth date"])
def test_reads_every_birth_date_label(label):
    assert fields(f"{label}: 1985-04-03")["birth_date"] == "1985-04-03"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("03/04/1985", "1985-04-03"),
        ("3/4/1985", "1985-04-03"),
        ("1985-04-03", "1985-04-03"),
        ("31/02/1985", "31/02/1985"),
        ("April 3rd", "April 3rd"),
    ],
)
def test_normalizes_birth_dates_and_passes_the_unreadable_on(value, expected):
    assert fields(f"DOB: {value}")["birth_date"] == expected


@pytest.mark.parametrize("label", ["Document type", "Type", "document"])
def test_reads_every_document_type_label(label):
    assert fields(f"{label}: invoice")["document_type"] == "invoice"


@pytest.mark.parametrize("label", ["Summary", "Subject"])
def test_reads_every_summary_label(label):
    assert fields(f"Intro line\n{label}: Annual check-up")["summary"] == "Annual check-up"


def test_summary_defaults_to_the_first_unlabelled_line_cut_to_200_chars():
    long_line = "x" * 250

    assert fields(f"\nName: Jane Doe\n\n  {long_line}\nsecond line")["summary"] == "x" * 200


def test_absent_fields_are_null():
    assert fields("Name: Jane Doe\nDOB: 1985-04-03") == {
        "last_name": "Doe",
        "first_name": "Jane",
        "birth_date": "1985-04-03",
        "document_type": None,
        "summary": None,
    }


def test_only_the_document_part_is_read():
    # INSTRUCTIONS carries "Name: not me" above the marker.
    assert fields("Customer: Ada Lovelace")["last_name"] == "Lovelace"


def test_malformed_fault_returns_billed_non_json():
    reply = ask("Name: Jane Doe\nFAKE-LLM: malformed")

    with pytest.raises(ValueError):
        json.loads(reply.text)
    assert reply.usage.input_tokens > 0
    assert reply.usage.output_tokens > 0


def test_transient_fault_raises_unbilled():
    with pytest.raises(LLMError) as caught:
        ask("Name: Jane Doe\nFAKE-LLM: transient")

    assert caught.value.transient is True
    assert caught.value.usage is None


def test_permanent_fault_raises_unbilled():
    with pytest.raises(LLMError) as caught:
        ask("FAKE-LLM: permanent")

    assert caught.value.transient is False
    assert caught.value.usage is None


def test_sleep_fault_sleeps_first_and_the_line_is_not_a_field():
    sleep = stubs.RecordingSleep()

    reply = ask("fake-llm: sleep 2.5\nName: Jane Doe", FakeProvider(sleep=sleep))

    assert sleep.calls == [2.5]
    assert json.loads(reply.text)["summary"] is None
