"""The state layout and the one slug rule."""

import os
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from {{ cookiecutter.package_name }}.contract import layout


@pytest.mark.parametrize("slug", ["a", "intake-bot", "doc-intake-2", "a" * layout.SLUG_MAX_LENGTH])
def test_good_slugs(slug):
    assert layout.slug_problem(slug) is None
    assert layout.is_slug(slug)


@pytest.mark.parametrize(
    ("slug", "problem"),
    [
        ("", "is empty"),
        ("../etc", "path separator"),
        ("a/b", "path separator"),
        ("Intake", "must start with a lowercase letter"),
        ("2nd-bot", "must start with a lowercase letter"),
        ("intake_bot", "only a-z, 0-9"),
        ("intake-", 'must not end with "-"'),
        ("intake--bot", 'contain "--"'),
        ("a" * (layout.SLUG_MAX_LENGTH + 1), "the limit is 26"),
    ],
)
def test_bad_slugs_say_why(slug, problem):
    assert problem in layout.slug_problem(slug)


@given(st.text(max_size=40))
def test_every_good_slug_makes_a_linux_user_name_and_a_unit(slug):
    if layout.is_slug(slug):
        assert len(layout.system_user(slug)) <= layout.LINUX_USER_NAME_MAX_LENGTH
        assert layout.unit_name(slug) == f"agent-{slug}.service"
        assert slug.isascii() and "/" not in slug


def test_visible_files_skip_hidden_files_and_sidecars(tmp_path):
    folder = tmp_path / layout.FAILED
    folder.mkdir()
    for name in ("a.pdf", ".a.pdf.tmp123", "a.pdf.why.json", "b.md"):
        (folder / name).write_text("x")
    os.symlink("a.pdf", folder / "link")

    assert sorted(e.name for e in layout.visible_files(folder)) == ["a.pdf", "b.md", "link"]
    assert layout.visible_files(tmp_path / "missing") == []
    assert layout.visible_files(folder / "a.pdf") == []


def test_names_in_the_state_directory(tmp_path):
    assert layout.sidecar_path(tmp_path / "review" / "x.pdf") == tmp_path / "review/x.pdf.why.json"
    assert layout.cost_file(tmp_path, date(2026, 3, 1)) == tmp_path / "costs/2026-03-01.jsonl"
    assert set(layout.END_FOLDERS) <= set(layout.STATE_FOLDERS)
