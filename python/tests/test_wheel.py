"""Packaging: a wheel built offline with the interpreter's own setuptools (no PyPI), installed into
a fresh `venv --system-site-packages`, imports and scores outside the source tree."""
import json
import os
import pathlib
import subprocess
import sys
import zipfile

from conftest import BUILD, DATE, REPO


def run(cmd, **kw):
    proc = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def test_wheel_builds_offline_and_installs_into_a_venv(qwen_model, tmp_path):
    env = dict(os.environ, SYNPREF_CMAKE_BUILD_DIR=str(BUILD), PIP_NO_INDEX="1", PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPATH", None)
    dist = tmp_path / "dist"
    # No network and no `build` package: pip's own wheel command with the installed setuptools.
    run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "--no-index", "-w", dist,
         REPO], env=env, cwd=tmp_path)
    wheels = list(dist.glob("synpref-0.1.0-*.whl"))
    assert len(wheels) == 1, list(dist.iterdir())
    names = zipfile.ZipFile(wheels[0]).namelist()
    for want in ("synpref/__init__.py", "synpref/__init__.pyi", "synpref/py.typed"):
        assert want in names
    assert any(n.startswith("synpref/_synpref") and n.endswith(".so") for n in names)

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--system-site-packages", venv], env=env)
    python = venv / "bin" / "python"
    run([python, "-m", "pip", "install", "--no-index", "--no-deps", wheels[0]], env=env, cwd=tmp_path)
    probe = (
        "import json, sys, synpref\n"
        f"rm = synpref.RewardModel({str(qwen_model)!r}, date={DATE!r})\n"
        "s = rm.score([[{'role': 'user', 'content': 'hi'}, {'role': 'assistant', 'content': 'hello'}]])\n"
        "print(json.dumps({'file': synpref.__file__, 'score': float(s[0])}))\n"
    )
    out = json.loads(run([python, "-c", probe], env=env, cwd=tmp_path).stdout)
    assert out["file"].startswith(str(venv)), out
    assert str(REPO) not in out["file"]

    # `pip install .` from the checkout, offline, replaces it (same build, so the same score).
    run([python, "-m", "pip", "install", "--no-build-isolation", "--no-index", "--no-deps", "--force-reinstall",
         REPO], env=env, cwd=tmp_path)
    again = json.loads(run([python, "-c", probe], env=env, cwd=tmp_path).stdout)
    assert again == out

    import synpref  # the build tree's module: the same engine, the same score

    want = synpref.RewardModel(qwen_model, date=DATE).score(
        [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]])
    assert out["score"] == float(want[0])
