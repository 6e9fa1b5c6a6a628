"""Read benchmark: p50/p99 of every list endpoint and of the overviews, over N projects.

    .venv/bin/python -m bench.reads [--n 100000] [--requests 300] [--database sqlite|postgres]

Seeds fresh databases of approval-svc, supervision-svc and notify-svc (their Alembic migrations,
then rows written straight with SQLAlchemy Core executemany) with one consistent world: N
projects of the 12 sample enterprises (`services.samples.CREDIT_CODES`, ~1/12 each) over the
last two years, 120 regions, 40 industries, the departments and matters the sample profiles
route to (`services.samples.PROFILES` through the real catalogue and routing), statuses that
follow from each task's decision time (recent projects still in review, old ones approved,
rejected, withdrawn or filed), document numbers, the audit timeline; in supervision the
projection of the same projects and tasks, approval-overdue and construction alerts, reports,
credit records and states and the statistics counters; in notify subscriptions and their
deliveries. Then every list route (and the overview) is called through the real apps (ASGI,
in-process, no broker) `--requests` times each, after a short warm-up, one request at a time;
deep pages are reached by following `next_cursor` (pages of 500) from the first page.

`--database postgres` creates its own databases on postgresql://postgres@127.0.0.1:5432
(`bench_reads_<random>_<service>`, via the maintenance database `test`) and drops them at the
end, also on error or SIGTERM; the tables are ANALYZEd after seeding (what autovacuum does after
a bulk load). SQLite files go to a temporary folder (never ANALYZEd: the services do not either).

The last line is ``RESULT reads_max_p99_ms=<max> <endpoint>_p99_ms=<p99> ...``.
"""
