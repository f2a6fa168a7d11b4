"""A Celery task that reports its progress to Herald.

Each task run is a Herald job with the id "celery-<task id>", so whoever
submits the task knows the job to watch (a page with
<herald-progress job="celery-…">, or `herald job watch`) before it starts.
The worker reports through herald_progress (one directory up), with the hub
and publisher token from its environment (HERALD_HUB, HERALD_TOKEN): tokens
stay out of the broker's messages.

Run a worker (Debian: apt-get install python3-celery python3-redis):

    cd examples/python/celery_example
    HERALD_TOKEN=… PYTHONPATH=.. python3 -m celery -A tasks worker --pool solo

and submit a task with submit.py. The broker and the result backend are the
local Redis, database 11 (CELERY_BROKER overrides it); CELERY_QUEUE names
the queue (default "herald-example").
"""

import os
import time

from celery import Celery

from herald_progress import job

BROKER = os.environ.get("CELERY_BROKER", "redis://127.0.0.1:6379/11")
QUEUE = os.environ.get("CELERY_QUEUE", "herald-example")

app = Celery("herald_example", broker=BROKER, backend=BROKER)
app.conf.update(
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    result_expires=3600,
)


def job_id(task_id):
    """The Herald job of the Celery task with this id."""
    return "celery-" + task_id


@app.task(bind=True)
def import_rows(self, rows, delay=0.01):
    """Pretend to import rows: read them, then save them, reporting each."""
    with job(job_id(self.request.id), stages=[("reading", 1), ("saving", 3)], title="Import %d rows" % rows) as j:
        j.log("task %s started on %s" % (self.request.id, self.request.hostname))
        for stage in ("reading", "saving"):
            j.stage(stage, total=rows)
            for row in range(1, rows + 1):
                time.sleep(delay)  # the real work would go here
                j.progress(row, message="row %d" % row)
            j.log("%s: %d rows" % (stage, rows))
        j.result = {"rows": rows}
    if j.cancel_requested:
        return {"cancelled": True}
    return j.result
