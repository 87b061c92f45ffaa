"""two hosts whose YAML keys differ only in type (`1:` and `"1":`) have one name: refused, not one of
the two devices silently dropped."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.collect.inventory import InventoryError, load_inventory


def test_two_keys_with_one_name_are_refused_not_dropped(tmp_path: Path) -> None:
    (tmp_path / "hosts.yaml").write_text('1:\n  hostname: 10.0.0.1\n  platform: ios\n'
                                         '"1":\n  hostname: 10.0.0.2\n  platform: ios\n')
    with pytest.raises(InventoryError, match="'1' is defined twice"):
        load_inventory(tmp_path)
