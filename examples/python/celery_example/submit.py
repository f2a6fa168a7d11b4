"""Submit an import to the Celery worker of tasks.py and wait for it.

    PYTHONPATH=.. python3 submit.py --rows 200 [--task-id ID]

Prints the Herald job to watch, then the task's result.
"""

import argparse
import json
import sys
import uuid

from tasks import import_rows, job_id


def main():
    parser = argparse.ArgumentParser(description="Submit an import and wait for it.")
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.01)
    parser.add_argument("--task-id", default=str(uuid.uuid4()))
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    result = import_rows.apply_async(args=[args.rows, args.delay], task_id=args.task_id)
    print(job_id(result.id), flush=True)
    try:
        print(json.dumps(result.get(timeout=args.timeout)), flush=True)
    except Exception as err:  # the task's own error, or the timeout
        sys.exit("submit.py: task %s: %s: %s" % (result.id, type(err).__name__, err))


if __name__ == "__main__":
    main()
