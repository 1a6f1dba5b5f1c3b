"""Run records: NaN is read in one place (core.records.known), and the CLI never prints 'nan'."""
import io
import math

from core.cli import ProgressBar
from core.records import TrainRecord, known


def record(step, val=float("nan")):
    return TrainRecord(step=step, total_steps=10, epoch=step / 10, train_loss=2.3,
                       train_accuracy=0.1, val_loss=val, val_accuracy=val, learning_rate=0.1,
                       elapsed=0.5 * step, samples_per_second=0.0, layers=({"layer": 0, "x": 1.0},))


def test_known_turns_missing_figures_into_none():
    assert known(float("nan")) is None and known(None) is None
    assert known(0.25) == 0.25 and known(3) == 3.0


def test_step_zero_has_no_eta_and_the_cli_says_so_without_nan():
    assert math.isnan(record(0).eta) and known(record(0).eta) is None
    out = io.StringIO()
    ProgressBar(stream=out, lines=1000).update(record(0))
    assert "nan" not in out.getvalue() and "eta    --" in out.getvalue()


def test_a_record_survives_its_dict():
    r = record(4, val=0.5)
    assert TrainRecord.from_dict(r.to_dict()) == r and r.has_validation
    assert not record(4).has_validation
