"""Peak memory of a hub under parallel password guessers (issue 21, item 8).

``python -m bench.login_guessers [--guessers 16] [--password-checks 2]``: an in-process hub on
SQLite, ``--guessers`` threads each posting wrong passwords to ``/login`` at once; prints the
answers by status and the process's peak RSS growth. Run it once per ``--password-checks`` (peak
RSS only grows, so each figure needs a process of its own)."""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.hub_helpers import hub_app, login_csrf  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--guessers", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--password-checks", type=int, default=2)
    args = parser.parse_args()
    from lz.hub.server.domain import login

    with tempfile.TemporaryDirectory() as tmp, hub_app(Path(tmp), password_checks=args.password_checks,
                                                       login_per_address=10_000, login_failures=10_000) as app:
        app.user("alice")
        app.hub.write(login.set_password, "alice", "correct horse")
        token = login_csrf(app.client.get("/login").text)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        answers: Counter[int] = Counter()
        start = threading.Barrier(args.guessers)

        def guess() -> None:
            start.wait()
            for _ in range(args.rounds):
                r = app.client.post("/login", data={"name": "alice", "password": "wrong", "csrf": token})
                answers[r.status_code] += 1

        threads = [threading.Thread(target=guess) for _ in range(args.guessers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(f"{args.guessers} guessers x {args.rounds}, password_checks={args.password_checks}: "
          f"answers {dict(sorted(answers.items()))}, peak RSS grew {grown:.0f} MiB")


if __name__ == "__main__":
    main()
