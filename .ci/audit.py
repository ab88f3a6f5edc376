"""pip-audit of requirements.lock (every pinned package, runtime and dev, with its hash) in CI.

Fails when a pinned version has a known vulnerability. When the advisory source cannot be reached (no
connection, or PyPI answers nothing for the pinned versions, so every package is skipped), it says so and
passes: a machine without the advisory database must not block the build, and must not report a clean audit
either. ``--report FILE`` judges a pip-audit JSON report already written instead of running pip-audit.

    .venv/bin/python .ci/audit.py [--service pypi|osv] [--report FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

NETWORK_SIGNS = ("ConnectionError", "NameResolutionError", "Max retries", "timed out", "Temporary failure")


def run_pip_audit(service: str) -> tuple[dict[str, Any] | None, str]:
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "audit.json"
        # --require-hashes with --disable-pip: the lock is audited as pinned, nothing is resolved or installed.
        command = [sys.executable, "-m", "pip_audit", "-r", "requirements.lock", "--require-hashes", "--disable-pip"]
        command += ["--vulnerability-service", service, "--progress-spinner", "off", "--desc", "off"]
        command += ["--timeout", "20", "-f", "json", "-o", str(report)]
        done = subprocess.run(  # noqa: S603 (our own interpreter and fixed arguments)
            command,
            capture_output=True,
            text=True,
            check=False,
        )
        if report.exists() and report.stat().st_size:
            return json.loads(report.read_text()), done.stderr
    return None, done.stderr


def verdict(report: dict[str, Any]) -> tuple[int, str]:
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if "skip_reason" in d]
    audited = len(dependencies) - len(skipped)
    if vulnerable:
        lines = [f"pip-audit: known vulnerabilities in {len(vulnerable)} pinned package(s) of requirements.lock:"]
        for d in vulnerable:
            for v in d["vulns"]:
                fixed = ", ".join(v.get("fix_versions") or []) or "no fixed version yet"
                aliases = ", ".join(v.get("aliases") or [])
                lines.append(f"  {d['name']} {d['version']}: {v['id']} ({aliases}) fixed in {fixed}")
        return 1, "\n".join(lines)
    if dependencies and audited == 0:
        return 0, (
            f"pip-audit: NOT AUDITED: the advisory source answered for none of the {len(dependencies)} pinned"
            f" packages (e.g. {skipped[0]['skip_reason']}); it is not reachable from here"
        )
    text = f"pip-audit: no known vulnerability in the {audited} audited packages of requirements.lock"
    if skipped:
        text += f"; {len(skipped)} could not be audited: " + ", ".join(d["name"] for d in skipped)
    return 0, text


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--service", default="pypi", choices=["pypi", "osv"])
    options.add_argument("--report", type=Path)
    args = options.parse_args()
    if args.report:
        report: dict[str, Any] | None = json.loads(args.report.read_text())
        stderr = ""
    else:
        report, stderr = run_pip_audit(args.service)
    if report is None:
        last = stderr.strip().splitlines()[-1] if stderr.strip() else "(no output)"
        if any(sign in stderr for sign in NETWORK_SIGNS):
            print(f"pip-audit: NOT AUDITED: the advisory source ({args.service}) is not reachable: {last}")
            return 0
        print(f"pip-audit failed: {last}", file=sys.stderr)
        return 1
    code, text = verdict(report)
    print(text)
    return code


if __name__ == "__main__":
    sys.exit(main())
