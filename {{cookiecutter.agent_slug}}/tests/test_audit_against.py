"""`audit verify --against FILE`: the log's history up to an anchor kept off the box is the same,
even after a forger recomputed the whole chain and its checkpoint."""

import json
from datetime import UTC, datetime

import pytest

from {{ cookiecutter.package_name }}.contract import anchor
from {{ cookiecutter.package_name }}.contract.anchor import AnchorError
from {{ cookiecutter.package_name }}.observability import audit

SLUG = "{{ cookiecutter.agent_slug }}"
TAKEN = datetime(2026, 11, 30, 3, 15, 7, tzinfo=UTC)
OTHER_HASH = "ab" * 32


@pytest.fixture
def worked(home):
    """An agent that processed the samples: its audit log holds their entries."""
    home.drop_samples()
    assert home.cli("once").returncode == 0
    return home


def log_of(home):
    return home.state / "audit.jsonl"


def write_anchor(home, heads: dict, name: str = "audit-anchor.json"):
    path = home.root / name
    path.write_text(json.dumps(anchor.anchor_document(heads, TAKEN)), encoding="utf-8")
    return path


def entries(home) -> list[dict]:
    return [json.loads(line) for line in log_of(home).read_text(encoding="utf-8").splitlines()]


def rewrite(home, changed: list[dict]) -> None:
    """Write these entries as the log, every hash recomputed and the checkpoint moved with them."""
    previous = audit.GENESIS_HASH
    for entry in changed:
        entry["prev"] = previous
        entry["hash"] = previous = audit.entry_hash(entry)
    log_of(home).write_text(
        "".join(json.dumps(entry, sort_keys=True) + "\n" for entry in changed), encoding="utf-8"
    )
    head = {"seq": changed[-1]["seq"], "hash": changed[-1]["hash"]}
    audit.head_path_for(log_of(home)).write_text(json.dumps(head), encoding="utf-8")


def test_the_head_and_the_anchor_file_are_what_the_backups_keep(worked):
    head = anchor.head_entry(log_of(worked))
    last = entries(worked)[-1]

    assert head == {"sequence": last["seq"], "hash": last["hash"]}
    assert anchor.anchor_document({SLUG: head}, TAKEN) == {
        "format": "pillars-audit-anchor/1",
        "taken_at": "2026-11-30T03:15:07Z",
        "agents": {SLUG: head},
    }
    assert anchor.head_entry(worked.root / "no-log.jsonl") is None


def test_a_rewritten_and_rechained_log_passes_verify_and_fails_against_the_anchor(worked):
    path = write_anchor(worked, {SLUG: anchor.head_entry(log_of(worked))})
    assert worked.cli("audit", "verify", "--against", str(path)).returncode == 0

    forged = entries(worked)
    forged[1]["detail"]["forged"] = "someone else's document"
    rewrite(worked, forged)

    plain = worked.cli("audit", "verify")
    against = worked.cli("audit", "verify", "--against", str(path))

    assert plain.returncode == 0 and "audit log intact" in plain.stdout
    assert against.returncode == 1
    assert (
        f"entry {forged[-1]['seq']} differs from the anchor taken at 2026-11-30T03:15:07Z: "
        "the history was rewritten"
    ) in against.stdout
    assert "audit log NOT intact: 1 problem(s)" in against.stdout


def test_entries_written_after_the_anchor_keep_it_valid(worked):
    path = write_anchor(worked, {SLUG: anchor.head_entry(log_of(worked))})
    anchored = anchor.head_entry(log_of(worked))["sequence"]
    worked.drop_samples()
    assert worked.cli("once").returncode == 0
    assert entries(worked)[-1]["seq"] > anchored

    result = worked.cli("audit", "verify", "--against", str(path))

    assert result.returncode == 0, result.stdout
    assert f"entry {anchored} matches the anchor taken at 2026-11-30T03:15:07Z" in result.stdout


def test_entries_removed_and_rechained_are_a_log_shorter_than_the_anchor(worked):
    path = write_anchor(worked, {SLUG: anchor.head_entry(log_of(worked))})
    kept = entries(worked)[:-2]
    rewrite(worked, kept)

    assert worked.cli("audit", "verify").returncode == 0
    result = worked.cli("audit", "verify", "--against", str(path))

    assert result.returncode == 1
    assert "the log is shorter than the anchor: entries were removed" in result.stdout
    assert f"it ends at entry {kept[-1]['seq']}" in result.stdout


def test_a_digests_text_anchors_as_well(worked):
    head = anchor.head_entry(log_of(worked))
    digest = worked.root / "digest.txt"
    lines = anchor.digest_lines(
        {SLUG: head, "other-agent": {"sequence": 9, "hash": OTHER_HASH}}, TAKEN
    )
    digest.write_text("📊 host: digest for 2026-11-29 (UTC)\n" + "\n".join(lines) + "\n")
    assert worked.cli("audit", "verify", "--against", str(digest)).returncode == 0

    forged = entries(worked)
    forged[0]["detail"]["forged"] = True
    rewrite(worked, forged)
    result = worked.cli("audit", "verify", "--against", str(digest))

    assert result.returncode == 1
    assert f"entry {head['sequence']} differs from the anchor taken at 2026-11-30T03:15:07Z" in (
        result.stdout
    )


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "no such file"),
        ("hello\n", "is not an audit anchor"),
        ('{"format": "something/2", "agents": {}}', "is not an audit anchor"),
        (
            '{"format": "pillars-audit-anchor/1", "taken_at": "2026-11-30 03:15", "agents": {}}',
            "is not a valid pillars-audit-anchor/1 anchor",
        ),
        (
            '{"format": "pillars-audit-anchor/1", "taken_at": "2026-11-30T03:15:07Z", '
            '"agents": {"a": {"sequence": 0, "hash": "00"}}}',
            "the entry of a is not a sequence",
        ),
        (
            "audit first-agent #3 " + OTHER_HASH + "\naudit second-agent #4 " + OTHER_HASH,
            "has no entry for " + SLUG + " (it anchors first-agent, second-agent)",
        ),
    ],
    ids=["missing", "text", "other-format", "bad-time", "bad-entry", "other-agents"],
)
def test_an_unusable_anchor_is_one_clear_line(worked, content, says):
    path = worked.root / "anchor"
    if content is not None:
        path.write_text(content, encoding="utf-8")

    result = worked.cli("audit", "verify", "--against", str(path))

    assert result.returncode == 2
    assert says in result.stderr
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr


def test_the_only_entry_of_an_anchor_is_taken_whatever_its_slug(tmp_path):
    text = json.dumps(
        anchor.anchor_document({"renamed": {"sequence": 7, "hash": OTHER_HASH}}, TAKEN)
    )

    found = anchor.parse_anchor(text, SLUG)

    assert (found.slug, found.sequence, found.hash, found.taken_at) == (
        "renamed",
        7,
        OTHER_HASH,
        "2026-11-30T03:15:07Z",
    )
    with pytest.raises(AnchorError, match="no entry for"):
        anchor.parse_anchor(
            text.replace('"renamed"', '"a": {"sequence": 1, "hash": "' + OTHER_HASH + '"}, "b"'),
            SLUG,
        )


def test_a_digest_without_its_time_names_the_anchor_alone(tmp_path):
    log = tmp_path / "audit.jsonl"
    log.write_text("")

    found = anchor.parse_anchor(f"<code>x</code>\naudit {SLUG} #2 {OTHER_HASH}\n", SLUG)

    assert found.taken_at is None
    assert anchor.check_against(log, found) == (
        "the log is shorter than the anchor: entries were removed (it ends at entry 0, "
        "the anchor is at entry 2)"
    )
