"""core.settings reads every NN_* setting, for the app and the command line, with one parser; the
app's modules import one way."""
import ast
import re
from pathlib import Path

import pytest

from core import settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_in_the_table_and_the_docstring():
    documented = set(re.findall(r"^\s{4}(NN_[A-Z_]+)", settings.__doc__, re.M))
    named = {setting.name for setting in settings.TABLE}
    assert documented == named
    fields = {"NN_" + name.upper() for name in settings.Settings.__dataclass_fields__}
    assert fields == named


def test_only_the_settings_module_reads_the_environment():
    readers = []
    for path in [*ROOT.glob("app/**/*.py"), *ROOT.glob("core/**/*.py"), *ROOT.glob("pages/*.py"),
                 ROOT / "streamlit_app.py"]:
        if re.search(r"os\.environ|getenv\(", path.read_text()):
            readers.append(path.relative_to(ROOT).as_posix())
    assert readers == ["core/settings.py"], readers


def test_every_nn_name_the_app_mentions_is_a_setting():
    named = {setting.name for setting in settings.TABLE}
    for path in [*ROOT.glob("app/**/*.py"), *ROOT.glob("core/**/*.py")]:
        for name in re.findall(r"\bNN_[A-Z_]+\b", path.read_text()):
            assert name in named, f"{path.relative_to(ROOT)} mentions {name}, not a setting"


@pytest.mark.parametrize("text, expected", [
    ("", False), ("0", False), ("false", False), ("No", False), ("off", False),
    ("1", True), ("true", True), ("yes", True), ("on", True), ("anything", True)])
def test_flags_mean_one_thing_everywhere(text, expected):
    assert settings.get({"NN_OFFLINE": text, "NN_HOSTED": text}).offline is expected
    assert settings.get({"NN_HOSTED": text}).hosted is expected


def test_numbers_are_clamped_or_fall_back_to_their_default():
    s = settings.get({"NN_MAX_TRAININGS": "0", "NN_WORKER_NICE": "40",
                      "NN_HOSTED_MAX_MB_TOTAL": "-3", "NN_VISITOR_KEEP_SECONDS": "soon",
                      "NN_MAX_RUN_MB": "0", "NN_MIRRORS": "http://a/, http://b/"})
    assert s.max_trainings == 1                         # below the lowest: the lowest
    assert s.worker_nice == 19                          # above the highest: the highest
    assert s.hosted_max_mb_total == 2048.0              # not a positive number: the default
    assert s.visitor_keep_seconds == 1800               # not a number: the default
    assert s.max_run_bytes is None                      # 0: no limit
    assert s.mirrors == ("http://a/", "http://b/")


def test_defaults_and_derived_values():
    s = settings.get({})
    assert s.max_trainings is None and s.max_run_bytes == 1024 * 2**20
    assert s.nice == 0 and settings.get({"NN_HOSTED": "1"}).nice == 5
    assert settings.get({"NN_HOSTED": "1", "NN_WORKER_NICE": "2"}).nice == 2
    assert s.model_dir == ROOT / "model" and s.data_dir is None


def _app_imports():
    graph = {}
    for path in ROOT.glob("app/**/*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("app"):
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names if alias.name.startswith("app"))
        graph[name] = targets
    return {name: {t for t in targets if t in graph and t != name} for name, targets in graph.items()}


def test_the_app_has_no_import_circle():
    graph = _app_imports()
    done, active = set(), []

    def visit(name):
        if name in active:
            raise AssertionError("import circle: " + " -> ".join(active[active.index(name):] + [name]))
        if name in done:
            return
        active.append(name)
        for target in graph[name]:
            visit(target)
        active.pop()
        done.add(name)

    for name in graph:
        visit(name)


def test_views_are_never_imported_by_the_layers_below_them():
    for name, targets in _app_imports().items():
        if name.startswith("app.views"):
            continue
        assert not any(t.startswith("app.views") for t in targets), (name, targets)
