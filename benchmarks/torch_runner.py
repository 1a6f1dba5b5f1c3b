"""The PyTorch side of benchmarks/speed.py, run in a separate interpreter that has torch.

It is started by speed.py with the torch venv's python (torch is never a requirement of the app),
loads the training images from a .npy file, builds the same model, and then serves one command per
line on stdin so speed.py can alternate it epoch by epoch with the other contenders:

    epoch <sizes> <optimizer> <lr> <batch>   -> one training epoch; answers {"seconds": s, "loss": l}
    steps <json>   {"code": "nn.Sequential(...)", "lr": 0.001, "batch": 128, "steps": 50}
                   -> that many Adam steps of the model the code builds (core.safetensors.torch_code,
                   so a conv net is the very same layers), fed images (N, 1, 28, 28); answers
                   {"seconds": s, "cpu_seconds": c, "images": n, "loss": l} (c: the process's
                   CPU time, which a loaded machine inflates far less than the wall time)
    quit

The model is an nn.Module (nn.Sequential of nn.Linear and nn.ReLU) trained with torch.optim.SGD
or Adam on float32, batches drawn from a fresh permutation per epoch, torch.set_num_threads(threads).
Only this file imports torch; it uses only torch and numpy.
"""
import json
import sys
import time

import numpy as np
import torch
from torch import nn


def steps(models, X, y, spec):
    """Adam steps of the nn.Sequential that ``spec["code"]`` (our own generated code) builds."""
    key = (spec["code"], spec["lr"])
    if key not in models:
        model = nn.Sequential(nn.Unflatten(1, (1, 28, 28)), eval(spec["code"], {"nn": nn}))
        models[key] = (model, torch.optim.Adam(model.parameters(), lr=float(spec["lr"])))
    model, opt = models[key]
    loss_fn = nn.CrossEntropyLoss()
    B, N = int(spec["batch"]), X.shape[0]
    order = torch.randperm(N)
    start, cpu_start = time.perf_counter(), time.process_time()
    total, images = 0.0, 0
    for s in range(0, int(spec["steps"]) * B, B):
        idx = order[s % N:s % N + B]
        xb, yb = X.index_select(0, idx), y.index_select(0, idx)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
        images += len(idx)
    return {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu_start,
            "images": images, "loss": total / images}


def main():
    data_path, labels_path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    X = torch.from_numpy(np.load(data_path))                 # (N, 784) float32
    y = torch.from_numpy(np.load(labels_path).astype(np.int64))
    models = {}
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}),
          flush=True)
    for line in sys.stdin:
        parts = line.split()
        if not parts or parts[0] == "quit":
            break
        if parts[0] == "steps":
            print(json.dumps(steps(models, X, y, json.loads(line[len("steps"):]))), flush=True)
            continue
        _, sizes, optimizer, lr, batch = parts
        key = (sizes, optimizer, lr, batch)
        if key not in models:
            dims = [int(s) for s in sizes.split("-")]
            layers = []
            for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
                layers.append(nn.Linear(a, b))
                if i < len(dims) - 2:
                    layers.append(nn.ReLU())
            model = nn.Sequential(*layers)
            opt = (torch.optim.SGD(model.parameters(), lr=float(lr)) if optimizer == "sgd"
                   else torch.optim.Adam(model.parameters(), lr=float(lr)))
            models[key] = (model, opt)
        model, opt = models[key]
        loss_fn = nn.CrossEntropyLoss()
        B, N = int(batch), X.shape[0]
        start = time.perf_counter()
        order = torch.randperm(N)
        total = 0.0
        for s in range(0, N, B):
            idx = order[s:s + B]
            xb, yb = X.index_select(0, idx), y.index_select(0, idx)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        seconds = time.perf_counter() - start
        print(json.dumps({"seconds": seconds, "loss": total / N}), flush=True)


if __name__ == "__main__":
    main()
