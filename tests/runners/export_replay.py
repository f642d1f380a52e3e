"""Run exported policy files in a fresh process that never imports stride (used by test_export.py).

``python export_replay.py CASES.pt OUT.pt``: ``CASES.pt`` holds a list of cases, each a dict with ``name``,
``format`` ("jit" | "onnx"), ``file`` and either

- ``inputs``: the file's inputs for one call (``obs``, and ``images``: one batch per image group, with their ONNX
  input names in ``image_names``), or
- ``obs`` (T, N, D) and ``dones`` (T, N): a recurrent sequence. ONNX starts from zero states and zeroes a done
  env's state after its step; TorchScript (N = 1) calls ``reset()`` after a done step.

``OUT.pt`` receives ``{name: actions}`` (the sequence cases' actions stacked to (T, N, A)) and ``"__modules__"``, the
names of the stride modules that were imported (none, for self-contained files).
"""

from __future__ import annotations

import sys

import numpy as np
import onnxruntime as ort
import torch


def _run_jit(case: dict) -> torch.Tensor:
    module = torch.jit.load(case["file"])
    with torch.no_grad():
        if "inputs" in case:
            inputs = case["inputs"]
            if "images" in inputs:
                return module(inputs["obs"], inputs["images"])
            return module(inputs["obs"])
        actions = []
        for obs, dones in zip(case["obs"], case["dones"], strict=True):
            actions.append(module(obs))
            if bool(dones[0]):
                module.reset()
        return torch.stack(actions)


def _run_onnx(case: dict) -> torch.Tensor:
    session = ort.InferenceSession(case["file"], providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    if "inputs" in case:
        inputs = case["inputs"]
        feed = {"obs": inputs["obs"].numpy()}
        feed.update(
            {n: image.numpy() for n, image in zip(inputs.get("image_names", []), inputs.get("images", []), strict=True)}
        )
        return torch.from_numpy(session.run(["actions"], {n: feed[n] for n in names})[0])
    num_envs = case["obs"].shape[1]
    # state inputs are (num_layers, batch, hidden_dim); the batch axis is dynamic
    states = {i.name: np.zeros((i.shape[0], num_envs, i.shape[2]), dtype=np.float32) for i in session.get_inputs()[1:]}
    outputs = [o.name for o in session.get_outputs()]
    actions = []
    for obs, dones in zip(case["obs"], case["dones"], strict=True):
        result = dict(zip(outputs, session.run(outputs, {"obs": obs.numpy(), **states}), strict=True))
        actions.append(torch.from_numpy(result["actions"]))
        keep = (~dones.bool()).numpy().astype(np.float32).reshape(1, -1, 1)
        states = {name: result[name.replace("_in", "_out")] * keep for name in states}
    return torch.stack(actions)


def main(cases_path: str, out_path: str) -> None:
    """Replay every case and save the actions."""
    cases = torch.load(cases_path, weights_only=False)
    out = {case["name"]: (_run_jit if case["format"] == "jit" else _run_onnx)(case) for case in cases}
    out["__modules__"] = sorted(m for m in sys.modules if m == "stride" or m.startswith("stride."))
    torch.save(out, out_path)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
