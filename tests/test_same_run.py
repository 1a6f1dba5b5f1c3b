"""The same seed and settings give the same run in the CLI and in the app (core.training.new_run
and make_splits(..., rng=seed) are the one path both take)."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.modelio import load_model

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(120)
SETTINGS = {"hidden": "32", "batch_size": 64, "dropout": 0.2, "seed": 7, "validation_size": 500,
            "learning_rate": 0.002, "iterations": 40}


def cli_model(tmp_path):
    out = tmp_path / "cli.npz"
    subprocess.run(
        [sys.executable, "-m", "core", "train", "--offline", "--preset", "recommended",
         "--hidden", SETTINGS["hidden"], "--batch-size", str(SETTINGS["batch_size"]),
         "--dropout", str(SETTINGS["dropout"]), "--seed", str(SETTINGS["seed"]),
         "--validation-size", str(SETTINGS["validation_size"]),
         "-lr", str(SETTINGS["learning_rate"]), "-i", str(SETTINGS["iterations"]),
         "--out", str(out)],
        cwd=ROOT, check=True, capture_output=True, text=True, timeout=100)
    return load_model(out)


def app_model(app_models):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=30)
    at.run()
    at.switch_page("pages/train.py").run()
    at.radio(key="train.length_unit").set_value("iterations").run()
    at.text_input(key="train.hidden").set_value(SETTINGS["hidden"])
    at.select_slider(key="train.batch_size").set_value(SETTINGS["batch_size"])
    at.slider(key="train.dropout").set_value(SETTINGS["dropout"])
    at.number_input(key="train.seed").set_value(SETTINGS["seed"])
    at.number_input(key="train.validation_size").set_value(SETTINGS["validation_size"])
    at.select_slider(key="train.learning_rate").set_value(SETTINGS["learning_rate"])
    at.number_input(key="train.iterations").set_value(SETTINGS["iterations"])
    at.run()
    assert at.selectbox(key="train.preset").value == "recommended"
    at.button(key="train.start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    trainer = at.session_state["trainer"]
    assert trainer.join(60), "the app's run did not finish"
    at.run()
    snap = trainer.snapshot(poll=False)
    assert snap.status == "done", snap.message
    return snap.saved


def test_the_cli_and_the_app_train_the_same_network(tmp_path, app_models):
    cli, app = cli_model(tmp_path), app_model(app_models)
    assert cli.model.config == app.model.config
    for name, value in cli.model.params.items():
        np.testing.assert_allclose(app.model.params[name], value, rtol=1e-5, atol=1e-6,
                                   err_msg=f"{name}: the app's weights differ from the CLI's")
    assert cli.metrics["test_accuracy"] == pytest.approx(app.metrics["test_accuracy"], abs=1e-9)
