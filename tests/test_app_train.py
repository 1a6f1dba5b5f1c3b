"""The Train page in AppTest: tiny runs end to end, errors shown as st.error, models saved safely."""
import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import APP, open_app, run_until_finished, texts, tiny_run, wait_for

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(autouse=True)
def app_env(app_models):
    """Offline, st.navigation mode, models in an empty temporary folder (tests/conftest.py)."""
    return app_models


def train_page():
    return open_app("pages/train.py")


def test_tiny_training_shows_progress_metrics_and_charts_then_becomes_the_model(tmp_path):
    at = tiny_run(train_page())
    assert "Plan:" in texts(at.caption)
    at.button(key="train.start").click().run()
    assert not at.exception and not at.error, texts(at.error)
    assert at.session_state["trainer"].snapshot(poll=False).run_id == 1, "a run has started"
    at = run_until_finished(at)
    assert not at.exception, at.exception
    labels = [m.label for m in at.metric]
    assert {"Train loss", "Train accuracy", "Val. accuracy"} <= set(labels)
    assert len(at.get("vega_lite_chart")) >= 2, "loss and accuracy charts"
    assert "Test accuracy" in texts(at.success)
    saved, label = at.session_state["user_models"]["mnist"]
    assert saved.metrics["test_accuracy"] > 0.5 and "run 1" in label
    assert "run 1" in texts(at.sidebar.caption), "the sidebar shows the current model"
    assert len(at.session_state["runs"]) == 1

    # Save: path tricks and the shipped name are refused; a good name is written.
    for bad in ("../x", "pretrained", "a/b", ""):
        at.text_input(key="train.save_name").set_value(bad)
        at.button(key="train.save").click().run()
        assert at.error, f"{bad!r} should be refused"
        assert not at.exception
    assert not (tmp_path / "x.npz").exists() and not (tmp_path / "model" / "mnist" / "pretrained.npz").exists()
    at.text_input(key="train.save_name").set_value("my first net")
    at.button(key="train.save").click().run()
    assert "Saved" in texts(at.success), texts(at.error)
    assert (tmp_path / "model" / "mnist" / "my first net.npz").is_file()

    # Load and delete it again.
    at.selectbox(key="train.load_name").set_value("my first net")
    at.button(key="train.load").click().run()
    assert "Loaded" in texts(at.success)
    assert "my first net" in at.session_state["user_models"]["mnist"][1]
    at.button(key="train.delete").click().run()
    assert not (tmp_path / "model" / "mnist" / "my first net.npz").exists()
    assert not at.exception


def test_bad_hidden_sizes_show_an_error_and_disable_start():
    at = train_page()
    at.text_input(key="train.hidden").set_value("abc").run()
    assert "abc" in texts(at.error)
    assert at.button(key="train.start").disabled
    at.text_input(key="train.hidden").set_value("10, 99999").run()
    assert "units" in texts(at.error)
    assert not at.exception


def test_a_huge_learning_rate_diverges_with_advice():
    at = tiny_run(train_page())
    at.select_slider(key="train.learning_rate").set_value(10.0)
    at.selectbox(key="train.optimizer").set_value("sgd")
    at.run()
    at.button(key="train.start").click().run()
    at = run_until_finished(at)
    assert "learning rate" in texts(at.error).lower()
    assert not at.exception
    assert at.session_state["user_models"]["mnist"] is None, "a diverged run is not adopted"
    history = at.session_state["trainer"].snapshot(poll=False).history
    assert len(history) >= 2, "the curve up to the explosion"
    loss = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert any(layer["mark"].get("shape") == "cross" for layer in loss["layer"]), "its marker"


@pytest.mark.parametrize("param", [{"lesson": "diverge"}, {"experiment": "diverge"}])
def test_a_lesson_link_fills_the_controls_and_shows_only_its_own(param):
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.query_params.update(param)                      # a Home lesson, or a link of old
    at.switch_page("pages/train.py").run()
    assert at.select_slider(key="train.learning_rate").value == 5.0
    assert at.session_state["train.optimizer"] == "sgd", "set by the lesson, not on screen"
    assert not [s for s in at.selectbox if s.key == "train.optimizer"]
    assert "learning rate of 5" in texts(at.markdown) and "Question" in texts(at.markdown)
    at.button(key="train.show_all").click().run()
    assert at.selectbox(key="train.optimizer").value == "sgd"
    assert not at.exception


def test_a_shared_link_restores_every_setting_and_names_what_it_refused():
    from app.inputs.links import SETTINGS, link_query
    at = open_app("pages/train.py")
    at.text_input(key="train.hidden").set_value("32, 16")
    at.selectbox(key="train.activation").set_value("tanh")
    at.number_input(key="train.seed").set_value(42).run()
    settings = {name: at.session_state["train." + name] for name in SETTINGS}
    query = link_query(settings, "fashion-mnist", show=frozenset({"learning_rate"}))
    assert "visitor" not in str(query) and at.session_state["visitor"] not in str(query)

    other = AppTest.from_file(APP, default_timeout=30)
    other.run()
    other.query_params.update({**query, "epochs": "many", "hidden": "2²"})
    other.switch_page("pages/train.py").run()
    assert other.session_state["dataset"] == "fashion-mnist"
    for name in SETTINGS:
        if name not in ("epochs", "hidden"):
            assert other.session_state["train." + name] == settings[name], name
    warning = texts(other.warning)
    assert "epochs=many" in warning and "hidden=2²" in warning
    assert [w.key for w in other.select_slider] == ["train.learning_rate"]
    assert not other.exception


def test_settings_and_a_running_training_survive_a_page_switch():
    at = tiny_run(train_page(), hidden="24", epochs=30)
    at.button(key="train.start").click().run()
    trainer = at.session_state["trainer"]
    at.switch_page("pages/home.py").run()
    assert not at.exception
    assert trainer.snapshot(poll=False).active, "visiting another page must not stop the run"
    at.switch_page("pages/train.py").run()
    assert at.text_input(key="train.hidden").value == "24"
    assert at.session_state["trainer"] is trainer
    at.button(key="train.stop").click().run()
    assert trainer.join(15)
    at = run_until_finished(at)
    assert trainer.snapshot(poll=False).status == "stopped"
    assert "Stopped" in texts(at.success)


def test_start_when_the_server_is_full_waits_in_line(monkeypatch):
    monkeypatch.setenv("NN_MAX_TRAININGS", "1")
    at1 = tiny_run(train_page(), epochs=30)
    at1.button(key="train.start").click().run()
    at2 = tiny_run(train_page())
    at2.button(key="train.start").click().run()
    assert "You are number 1 in line" in texts(at2.info) and "1 network at a time" in texts(at2.info)
    assert not at2.exception
    second = at2.session_state["trainer"]
    at1.button(key="train.stop").click().run()
    assert wait_for(lambda: second.snapshot(poll=False).status != "waiting"), \
        "the run in line starts by itself when the place is free"
    at2.button(key="train.stop").click().run()
    assert second.join(15)


@pytest.mark.parametrize("dataset, hidden, activation", [
    ("mnist", "", "relu"),                    # no hidden layer: output units, output scores
    ("mnist", "8, 8, 8", "sigmoid"),
    ("fashion-mnist", "12", "tanh"),
    ("mnist", "10", "leaky_relu"),
])
def test_the_inside_of_the_network_shows_for_every_architecture(dataset, hidden, activation):
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.session_state["dataset"] = dataset
    at.switch_page("pages/train.py").run()
    at.selectbox(key="train.activation").set_value(activation)
    at = tiny_run(at, hidden=hidden)
    at.button(key="train.start").click().run()
    at = run_until_finished(at)
    assert not at.exception and not at.error, texts(at.error)
    views = texts(at.markdown)
    for view in ("What the units look for", "Its guesses", "The hidden space", "Layer health"):
        assert view in views, view
    assert len(at.get("image")) >= 2, "the unit pictures and the guesses panel"
    charts = at.get("vega_lite_chart")
    assert len(charts) >= 4, "loss, accuracy, the hidden space and the health chart"
    assert ("output scores" in views) == (hidden == ""), views
    last = at.session_state["trainer"].snapshot(poll=False).history[-1]
    assert metric(at, "Step") == f"{last['step']:,}"
    at.toggle(key="train.replay").set_value(True).run()
    assert "Showing the network at step" in texts(at.markdown)
    at.slider(key="train.replay_at").set_value(0).run()
    assert "Showing the network at step 0 " in texts(at.markdown)
    # the replay moves the headline too: the random start's figures, not the last ones
    assert metric(at, "Step") == "0" and metric(at, "Epoch") == "0.00"
    first = at.session_state["trainer"].snapshot(poll=False).history[0]
    assert metric(at, "Train accuracy") == f"{first['train_accuracy']:.1%}"
    at.segmented_control(key="train.health_view").set_value("Dead units").run()
    assert not at.exception


def metric(at, label):
    """The value a headline figure shows."""
    return next(m.value for m in at.metric if m.label == label)


def test_draw_can_ask_the_network_as_it_was_during_training():
    at = tiny_run(train_page())
    at.button(key="train.start").click().run()
    at = run_until_finished(at)
    at.switch_page("pages/draw.py").run()
    next(b for b in at.button if b.label == "Test image").click().run()
    assert not at.exception
    moment = at.select_slider(key="draw_moment")
    assert moment.value == "now"
    moment.set_value(0).run()
    assert "after 0.0 s of training (step 0)" in texts(at.caption), texts(at.caption)
    assert not at.exception and not at.error


@pytest.mark.parametrize("unit, key, value, message", [
    ("iterations", "train.iterations", 99_999_999, "1,000,000"),
    ("epochs", "train.epochs", 0, "0 epochs"),
    ("epochs", "train.seed", -1, "Seed -1"),
    ("epochs", "train.validation_size", 10_000_000, "leaves none"),
])
def test_out_of_range_numbers_are_refused_with_a_message(unit, key, value, message):
    at = train_page()
    at.radio(key="train.length_unit").set_value(unit).run()
    at.number_input(key=key).set_value(value).run()
    assert message in texts(at.error), texts(at.error)
    assert at.button(key="train.start").disabled
    assert "Plan:" not in texts(at.caption), "no plan is made of a refused value"
    assert not at.exception


def test_a_new_model_is_compared_with_the_one_it_replaces_and_can_be_undone(shipped_models):
    at = tiny_run(train_page(), hidden="4")                  # far worse than the pretrained model
    at.button(key="train.start").click().run()
    at = run_until_finished(at)
    verdict = texts(at.warning)
    assert "the pretrained model had" in verdict and "same images" in verdict, verdict
    assert "Draw and Inspect now use this run's model" in texts(at.caption)   # by its buttons
    at.button(key="train.go_back").click().run()
    assert at.session_state["user_models"]["mnist"] is None, "back to the pretrained model"
    assert "Draw and Inspect use the pretrained model" in texts(at.caption)
    at.button(key="train.use_run").click().run()
    assert "run 1" in at.session_state["user_models"]["mnist"][1]
    assert not at.exception


def test_the_page_says_the_training_limits_and_warns_before_an_unsavable_network(monkeypatch):
    monkeypatch.setenv("NN_MAX_TRAININGS", "2")
    at = train_page()
    assert "at most 2 networks at a time (more wait in line), 1 per visitor" in texts(at.caption)
    at.text_input(key="train.hidden").set_value("4096, 4096").run()
    assert "could not be saved" in texts(at.warning)
    assert not at.exception


def test_a_teachers_link_locks_the_other_settings_and_the_dataset():
    from app.inputs.links import SETTINGS, link_query
    at = open_app("pages/train.py")
    settings = {name: at.session_state["train." + name] for name in SETTINGS}
    query = link_query(settings, "fashion-mnist", show=frozenset({"learning_rate"}))

    student = AppTest.from_file(APP, default_timeout=30)
    student.run()
    student.query_params.update(query)
    student.switch_page("pages/train.py").run()
    assert student.session_state["dataset"] == "fashion-mnist"
    assert [w.key for w in student.select_slider] == ["train.learning_rate"]
    assert not [b for b in student.button if b.key == "train.show_all"], \
        "a teacher's 'students may change only' link cannot be undone from the page"
    assert "are fixed" in texts(student.caption)
    dataset = next(s for s in student.sidebar.selectbox if s.key == "dataset")
    assert dataset.disabled, "the dataset the link names is fixed too"
    # it stays locked on the next visit to the page
    student.switch_page("pages/home.py").run()
    student.switch_page("pages/train.py").run()
    assert not [s for s in student.selectbox if s.key == "train.optimizer"]
    assert not student.exception


def test_the_share_popover_names_options_as_the_form_does_and_records_the_settings():
    from urllib.parse import parse_qs, urlsplit
    at = open_app("pages/train.py")
    share = next(m for m in at.multiselect if m.key == "train.share_show")
    shown = set(share.options)                     # as the popover shows them
    assert {"Hidden layers", "Initial weights", "Optimiser"} <= shown
    assert not {"hidden", "init", "optimizer"} & shown, "no internal keys"

    def link():
        return parse_qs(urlsplit(at.code[-1].value).query)
    assert link()["preset"] == ["recommended"], "untouched settings are still the preset's"
    at.text_input(key="train.hidden").set_value("32").run()
    query = link()
    assert "preset" not in query, "a link must not call changed settings 'recommended'"
    assert query["hidden"] == ["32"]


@pytest.mark.parametrize("dropout, augment, expected", [
    (0.1, False, "Dropout (10% of units off at random) acts only in training"),
    (0.0, True, "Augmentation (images shifted and turned) acts only in training"),
    (0.2, True, "and augmentation"),
    (0.0, False, "average over the last steps"),
])
def test_validation_above_training_is_explained(dropout, augment, expected):
    from app.views.train_live import validation_note
    from core.model import ModelConfig
    from core.training import TrainConfig
    model = ModelConfig(hidden_sizes=(16,), dropout=dropout)
    train = TrainConfig(augment=augment)
    note = validation_note({"train_accuracy": 0.90, "val_accuracy": 0.93}, model, train)
    assert expected in note
    assert validation_note({"train_accuracy": 0.95, "val_accuracy": 0.93}, model, train) is None
    assert validation_note({"train_accuracy": 0.9, "val_accuracy": float("nan")}, model,
                           train) is None
