"""The min-pins file that make test installs must be pyproject's declared floors, so they cannot drift apart."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_min_pins_are_the_declared_floors():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    floors = dict(re.fullmatch(r"([a-z0-9_-]+)>=([0-9.]+)", d).groups() for d in deps)
    pins = dict(line.split("==") for line in (ROOT / "tests" / "min-pins.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    assert set(pins) == set(floors)
    for name, floor in floors.items():   # 2.0 == 2.0.2's floor: the pin is the floor's oldest release tested
        assert pins[name].startswith(floor), (name, pins[name], floor)
