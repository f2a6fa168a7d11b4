#!/usr/bin/env python3
"""Report a long job's progress to Herald, using only the standard library.

In the classic status-line tutorial, a Flask route puts "starting data
query…" and then "idle" on a global queue. With Herald, the backend creates a
job, reports its stages as it works, and finishes it; every browser tab
watching the job (for example with <herald-progress job="…">) shows the
stage, percent and ETA, and a tab opened mid-job shows the current state.

Usage:
    HERALD_TOKEN=<publisher JWT> python3 progress.py [--hub URL] [--id ID] [--rows N] [--delay S]

Prints the job id first, then runs a pretend import in two stages, with the
Job of herald_progress.py (next to this file) called step by step.
"""

import argparse
import os
import sys
import time

from herald_progress import CancelRequested, HeraldError, Job


def main():
    parser = argparse.ArgumentParser(description="Report a job's progress to Herald.")
    parser.add_argument("--hub", default=os.environ.get("HERALD_HUB", "http://127.0.0.1:8080"))
    parser.add_argument("--id", dest="job_id")
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.02, help="seconds per row")
    args = parser.parse_args()
    if not os.environ.get("HERALD_TOKEN"):
        sys.exit("progress.py: set HERALD_TOKEN to a publisher token (herald token --publish 'jobs/{id}')")
    # herald_progress's Job, step by step (its context manager does the
    # same in a with block).
    job = Job(args.job_id, [("reading", 1), ("saving", 3)], args.hub, title="Import rows", total=args.rows)
    try:
        job.start()
        print(job.id, flush=True)
        try:
            for stage in ("reading", "saving"):
                job.stage(stage, total=args.rows)
                for row in range(1, args.rows + 1):
                    time.sleep(args.delay)  # the real work would go here
                    job.progress(row, message="row %d" % row)
        except CancelRequested:
            job.finish("cancelled")
            print("cancelled", flush=True)
            return
        job.finish(result={"rows": args.rows})
        print("succeeded", flush=True)
    except HeraldError as err:
        sys.exit("progress.py: %s" % err)


if __name__ == "__main__":
    main()
