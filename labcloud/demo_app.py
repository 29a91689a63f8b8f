"""The `demo` application: a small analysis that needs nothing but Python.

It reads every data file under `<files>/data`, the first config file under
`<files>/config`, and writes real results: per-file statistics and a summary to
`output/`, a log to `log/`, and a "model" (the fitted statistics) to `model/`,
which the catalogue uploads as the job's artifact. Numbers in CSV/TSV/text data
are summed and averaged, so a scientist sees their own data reflected back.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def read_config(config_dir: Path) -> dict[str, str]:
    """`key: value` or `key=value` lines, or a JSON object, from the first config file."""
    files = sorted(p for p in config_dir.rglob("*") if p.is_file()) if config_dir.is_dir() else []
    if not files:
        return {}
    text = files[0].read_text(errors="replace")
    try:
        loaded = json.loads(text)
        if isinstance(loaded, dict):
            return {str(k): str(v) for k, v in loaded.items()}
    except ValueError:
        pass
    config = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        key, sep, value = line.partition(":") if ":" in line else line.partition("=")
        if sep and key.strip():
            config[key.strip()] = value.strip()
    return config


def describe(path: Path) -> dict[str, object]:
    data = path.read_bytes()
    numbers = [float(m) for m in NUMBER.findall(data.decode(errors="replace"))]
    return {
        "bytes": len(data),
        "lines": data.count(b"\n"),
        "sha256": hashlib.sha256(data).hexdigest(),
        "numbers": len(numbers),
        "sum": sum(numbers),
        "mean": statistics.fmean(numbers) if numbers else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", default=os.environ.get("FILES_DIR", "/files"))
    args = parser.parse_args(argv)
    root = Path(args.files)
    out, log_dir, model = root / "output", root / "log", root / "model"
    for folder in (out, log_dir, model):
        folder.mkdir(parents=True, exist_ok=True)

    config = read_config(root / "config")
    greeting = os.environ.get("DEMO_GREETING") or config.get("greeting", "hello")
    delay = float(os.environ.get("DEMO_SLEEP") or config.get("sleep", 0) or 0)
    fail = (os.environ.get("DEMO_FAIL") or config.get("fail", "")).lower() in ("1", "true", "yes")

    with (log_dir / "demo.log").open("w") as log:

        def say(message: str) -> None:
            print(message, flush=True)
            log.write(message + "\n")
            log.flush()

        say(f"{greeting}! demo analysis starting in {root}")
        say(f"config: {json.dumps(config, sort_keys=True)}")
        data_files = sorted(p for p in (root / "data").rglob("*") if p.is_file())
        results = {}
        for i, path in enumerate(data_files, 1):
            rel = path.relative_to(root / "data").as_posix()
            results[rel] = describe(path)
            say(
                f"[{i}/{len(data_files)}] {rel}: {results[rel]['bytes']} bytes, "
                f"{results[rel]['numbers']} numbers"
            )
        steps = int(delay) if delay >= 1 else 0
        for step in range(steps):
            say(f"working… {step + 1}/{steps}")
            time.sleep(delay / steps)
        if 0 < delay < 1:
            time.sleep(delay)
        if fail:
            say("failing on purpose (fail: true in the config)")
            return 3

        all_numbers_sum = sum(float(r["sum"]) for r in results.values())  # type: ignore[arg-type]
        summary = {
            "job": os.environ.get("LABCLOUD_JOB_ID"),
            "attempt": os.environ.get("LABCLOUD_ATTEMPT"),
            "greeting": greeting,
            "files": len(results),
            "total_sum": all_numbers_sum,
            "config": config,
        }
        (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        (out / "per_file.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
        (out / "report.txt").write_text(
            "\n".join(
                [
                    f"{greeting}!",
                    f"{len(results)} data file(s) analysed.",
                    f"sum of all numbers: {all_numbers_sum}",
                ]
            )
            + "\n"
        )
        (model / "model.json").write_text(
            json.dumps(
                {"kind": "demo-model", "means": {k: v["mean"] for k, v in results.items()}},
                indent=2,
                sort_keys=True,
            )
            + "\n"
        )
        say(f"done: {len(results)} file(s), results in output/, model in model/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
