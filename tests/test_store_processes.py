"""The model store shared by several server processes (replicas on one volume): saves at once.

Three writer processes (multiprocessing, spawn: fresh interpreters, as separate containers
would be) save into one folder at the same moment, many times: all of them to one name, and each
to a name of its own. Meanwhile this process keeps loading the shared name. Every load, during
and after, must give one complete version that a writer wrote (its weights are those of the
version its metadata names: never a mix, never half a file), and no temporary file may remain.
"""
import multiprocessing

import numpy as np

from core.model import MLP, ModelConfig
from core.modelio import SavedModel, load_model, save_model

WRITERS = 3
ROUNDS = 20
SHARED = "shared"


def version(writer, round_):
    """The model that ``writer`` saves in ``round_``: its weights follow from the pair, which its
    metrics record, so any file can be checked against the version it claims to be."""
    model = MLP(ModelConfig(hidden_sizes=(4,)), np.random.default_rng([writer, round_]))
    return SavedModel(model=model, dataset="mnist", metrics={"writer": writer, "round": round_})


def check_complete(path):
    """Load ``path`` and return its (writer, round) after checking its weights are that version's."""
    loaded = load_model(path, expected_dataset="mnist")
    writer, round_ = loaded.metrics["writer"], loaded.metrics["round"]
    expected = version(writer, round_).model.params
    assert loaded.model.params.keys() == expected.keys()
    for key, value in expected.items():
        assert np.array_equal(loaded.model.params[key], value), \
            f"{path.name}: {key} is not that of writer {writer}'s round {round_}: a mixed file"
    return writer, round_


def save_many(folder, writer, start):
    """A writer process: wait for the others, then save ROUNDS versions to SHARED and to its own name."""
    start.wait(timeout=60)
    for round_ in range(ROUNDS):
        saved = version(writer, round_)
        save_model(folder / f"{SHARED}.npz", saved)
        save_model(folder / f"own-{writer}.npz", saved)


def test_processes_saving_at_once_leave_only_complete_files(tmp_path):
    folder = tmp_path / "mnist"
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Barrier(WRITERS + 1)
    writers = [spawn.Process(target=save_many, args=(folder, writer, start), daemon=True)
               for writer in range(WRITERS)]
    for process in writers:
        process.start()
    shared = folder / f"{SHARED}.npz"
    seen = set()                             # versions the reader loaded while the writers ran
    try:
        start.wait(timeout=60)               # every writer has started: go
        while any(process.is_alive() for process in writers):
            if shared.exists():              # a rename replaces it: once there, always there
                seen.add(check_complete(shared))
            elif seen:
                raise AssertionError("the shared model file vanished while it was being replaced")
    finally:
        for process in writers:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
    assert [process.exitcode for process in writers] == [0] * WRITERS, \
        "a writer process failed (its traceback is in the captured stderr)"

    names = sorted(path.name for path in folder.iterdir())
    assert names == sorted([f"{SHARED}.npz", *(f"own-{w}.npz" for w in range(WRITERS))]), \
        f"left in the folder besides the models (temporary files?): {names}"
    writer, round_ = check_complete(shared)
    assert 0 <= writer < WRITERS and 0 <= round_ < ROUNDS
    for writer in range(WRITERS):              # a name only one process writes ends at its last save
        assert check_complete(folder / f"own-{writer}.npz") == (writer, ROUNDS - 1)
