#!/usr/bin/env python3
"""Report a job's progress to Herald from Python, with the standard library only.

    from herald_progress import job

    with job("import-42", stages=[("reading", 1), ("saving", 3)]) as j:
        j.stage("reading", total=len(rows))
        for i, row in enumerate(rows, 1):
            read(row)
            j.progress(i)
        j.log("read %d rows" % len(rows))
        ...
        j.result = {"rows": len(rows)}

Entering the block creates the job; leaving it finishes the job: succeeded
(with j.result, if set), failed with the exception's message if one escapes
the block (the exception goes on), or cancelled if someone asked Herald to
cancel it: the next progress report then raises CancelRequested, which the
block ends on quietly. Every browser tab watching the job (for example with
<herald-progress job="import-42">) shows its stage, percent, ETA and log.

The hub and the publisher token come from the arguments or the HERALD_HUB
and HERALD_TOKEN environment variables (a token from
`herald token --publish 'jobs/{id}'`). Run as a script, it reports a
pretend import:

    HERALD_TOKEN=… python3 herald_progress.py --id import-42 --rows 200 [--fail]
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

__all__ = ["job", "Job", "CancelRequested", "HeraldError"]


class HeraldError(Exception):
    """The hub refused a request (status is its HTTP status) or could not be reached (status 0)."""

    def __init__(self, status, reason):
        super().__init__("hub answered %d: %s" % (status, reason) if status else reason)
        self.status = status
        self.reason = reason


class CancelRequested(Exception):
    """Someone asked Herald to cancel the job: stop working; the block finishes it as cancelled."""


class Job:
    """A job on a Herald hub; use it through job(), as a context manager."""

    def __init__(self, job_id=None, stages=(), hub=None, token=None, title=None, total=0, parent=None, timeout=10):
        self.id = job_id
        self.stages = [_stage(s) for s in stages]
        self.hub = (hub or os.environ.get("HERALD_HUB") or "http://127.0.0.1:8080").rstrip("/")
        self.token = token or os.environ.get("HERALD_TOKEN")
        if not self.token:
            raise ValueError("herald_progress: no token: pass token=… or set HERALD_TOKEN to a publisher token")
        self.title = title
        self.total = total
        self.parent = parent
        self.timeout = timeout
        self.result = None
        self.cancel_requested = False
        self.current = None  # the stage reported last

    def _post(self, path, body):
        request = urllib.request.Request(
            self.hub + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Authorization": "Bearer " + self.token, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                if response.headers.get("Herald-Cancel-Requested") == "true":
                    self.cancel_requested = True
                return json.load(response)
        except urllib.error.HTTPError as err:
            raise HeraldError(err.code, err.read().decode(errors="replace").strip()) from None
        except urllib.error.URLError as err:
            raise HeraldError(0, "cannot reach the hub at %s: %s" % (self.hub, err.reason)) from None

    def start(self):
        """Create the job on the hub (entering the block does it)."""
        spec = {"stages": self.stages, "total": self.total}
        for key, value in (("id", self.id), ("title", self.title), ("parent", self.parent)):
            if value:
                spec[key] = value
        self.id = self._post("/api/jobs", spec)["id"]
        return self

    def stage(self, name, total=0, message=""):
        """Move to stage name, with total units of work (0: unknown)."""
        self.current = name
        self.progress(0, total, message)

    def progress(self, done, total=0, message=""):
        """Report done units of the current stage's total (0 keeps the stage's total).

        Raises CancelRequested once someone asked to cancel the job.
        """
        body = {"done": done, "message": message}
        if self.current:
            body["stage"] = self.current
        if total:
            body["total"] = total
        self._post("/api/jobs/%s/progress" % self.id, body)
        if self.cancel_requested:
            raise CancelRequested(self.id)

    def log(self, *lines):
        """Append lines to the job's log; returns the numbers of the first and last."""
        answer = self._post("/api/jobs/%s/log" % self.id, {"lines": [str(line) for line in lines]})
        return answer["first"], answer["last"]

    def finish(self, state="succeeded", result=None, error=None):
        """Finish the job (leaving the block does it); returns its final snapshot."""
        body = {"state": state}
        if result is not None:
            body["result"] = result
        if error:
            body["error"] = error
        return self._post("/api/jobs/%s/finish" % self.id, body)

    def __enter__(self):
        return self.start()

    def __exit__(self, kind, exc, tb):
        if kind is None:
            self.finish(result=self.result)
            return False
        if issubclass(kind, CancelRequested):
            self.finish("cancelled")
            return True
        message = "%s: %s" % (kind.__name__, exc) if str(exc) else kind.__name__
        try:
            self.finish("failed", error=message[:1024])
        except HeraldError:
            pass  # the block's own exception matters more
        return False


def job(job_id=None, stages=(), hub=None, token=None, **spec):
    """A context manager for a job on the hub: created on entering, finished on leaving.

    stages are names or (name, weight) pairs; spec may hold title, total,
    parent (the id of the job this one is a sub-job of) and timeout (seconds
    per request).
    """
    return Job(job_id, stages, hub, token, **spec)


def _stage(s):
    if isinstance(s, str):
        return {"name": s, "weight": 1}
    if isinstance(s, dict):
        return s
    name, weight = s
    return {"name": name, "weight": weight}


def main():
    parser = argparse.ArgumentParser(description="Report a pretend import's progress to Herald.")
    parser.add_argument("--hub")
    parser.add_argument("--id", dest="job_id")
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.01, help="seconds per row")
    parser.add_argument("--fail", action="store_true", help="fail half-way through saving")
    args = parser.parse_args()
    try:
        with job(args.job_id, stages=[("reading", 1), ("saving", 3)], hub=args.hub, title="Import rows") as j:
            print(j.id, flush=True)
            for stage in ("reading", "saving"):
                j.stage(stage, total=args.rows)
                j.log("%s %d rows" % (stage, args.rows))
                for row in range(1, args.rows + 1):
                    time.sleep(args.delay)  # the real work would go here
                    if args.fail and stage == "saving" and row > args.rows // 2:
                        raise RuntimeError("row %d: disk full" % row)
                    j.progress(row, message="row %d" % row)
            j.result = {"rows": args.rows}
        print("cancelled" if j.cancel_requested else "succeeded", flush=True)
    except (HeraldError, ValueError, RuntimeError) as err:
        sys.exit("herald_progress.py: %s" % err)


if __name__ == "__main__":
    main()
