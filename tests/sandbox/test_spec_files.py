"""The repository's copies of Keap's API descriptions are the ones they came from."""

from __future__ import annotations

import pytest

from tests.conftest import KEAP_FACTS, ROOT

SPEC_FILES = ("keap-v2-openapi.yml", "keap-resthooks-asyncapi.yml")
ORIGIN = ROOT.parent / "shared" / "keap"  # where the copies came from, when it is there


@pytest.mark.parametrize("name", SPEC_FILES)
def test_the_spec_files_live_in_the_repository(name: str) -> None:
    assert (KEAP_FACTS / name).is_file()
    assert KEAP_FACTS.is_relative_to(ROOT)


@pytest.mark.parametrize("name", SPEC_FILES)
def test_the_copies_are_byte_identical_to_their_origin(name: str) -> None:
    origin = ORIGIN / name
    if not origin.exists():
        pytest.skip(f"{ORIGIN} is not beside this checkout; nothing to compare with")
    assert (KEAP_FACTS / name).read_bytes() == origin.read_bytes(), (
        f"{name} differs from {origin}; copy it again, unchanged"
    )
