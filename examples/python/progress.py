#!/usr/bin/env python3
"""Report a long job's progress to Herald, using only the standard library.

In the classic status-line tutorial, a Flask route puts "starting data
query…" and then "idle" on a global queue. With Herald, the backend creates a
job, reports its stages as it works, and finishes it; every browser tab
watching the job (for example with <herald-progress job="…">) shows the
stage, percent and ETA, and a tab opened mid-job shows the current state.

Usage:
    HERALD_TOKEN=<publisher JWT> python3 progress.py [--hub URL] [--id ID] [--rows N] [--delay S]

Prints the job id first, then runs a pretend import in two stages.
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request


class Herald:
    """A tiny client for Herald's jobs API."""

    def __init__(self, hub, token):
        self.hub = hub.rstrip("/")
        self.token = token

    def _post(self, path, body):
        request = urllib.request.Request(
            self.hub + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Authorization": "Bearer " + self.token, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            cancel = response.headers.get("Herald-Cancel-Requested") == "true"
            return json.load(response), cancel

    def create(self, title, stages, total=0, job_id=None):
        body = {"title": title, "stages": [{"name": n, "weight": w} for n, w in stages], "total": total}
        if job_id:
            body["id"] = job_id
        return self._post("/api/jobs", body)[0]["id"]

    def progress(self, job_id, stage, done, total, message=""):
        """Report progress; returns True if someone asked to cancel the job."""
        body = {"stage": stage, "done": done, "total": total, "message": message}
        return self._post("/api/jobs/%s/progress" % job_id, body)[1]

    def finish(self, job_id, state="succeeded", result=None, error=None):
        body = {"state": state}
        if result is not None:
            body["result"] = result
        if error:
            body["error"] = error
        return self._post("/api/jobs/%s/finish" % job_id, body)[0]


def main():
    parser = argparse.ArgumentParser(description="Report a job's progress to Herald.")
    parser.add_argument("--hub", default=os.environ.get("HERALD_HUB", "http://127.0.0.1:8080"))
    parser.add_argument("--id", dest="job_id")
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.02, help="seconds per row")
    args = parser.parse_args()
    token = os.environ.get("HERALD_TOKEN")
    if not token:
        sys.exit("progress.py: set HERALD_TOKEN to a publisher token (herald token --publish 'jobs/{id}')")
    herald = Herald(args.hub, token)
    try:
        job = herald.create("Import rows", [("reading", 1), ("saving", 3)], total=args.rows, job_id=args.job_id)
        print(job, flush=True)
        for stage in ("reading", "saving"):
            for row in range(1, args.rows + 1):
                time.sleep(args.delay)  # the real work would go here
                if herald.progress(job, stage, row, args.rows, "row %d" % row):
                    herald.finish(job, "cancelled")
                    print("cancelled", flush=True)
                    return
        herald.finish(job, result={"rows": args.rows})
        print("succeeded", flush=True)
    except urllib.error.HTTPError as err:
        sys.exit("progress.py: hub answered %d: %s" % (err.code, err.read().decode().strip()))
    except urllib.error.URLError as err:
        sys.exit("progress.py: cannot reach the hub at %s: %s" % (args.hub, err.reason))


if __name__ == "__main__":
    main()
