"""``payharness bench live``: the capacity of three endpoints on one live stack, and of the
components under them, measured in one run on this machine.

Endpoints (same Stripe mock, same Redis, same Postgres, same number of server processes):
``bare`` (only charges through the live Stripe adapter: ``loadtests.bare``), the ``seed``
flow and the ``hardened`` flow. For each, an open-loop generator offers a fixed rate of new
payments for a few seconds, stepping the rate up until the p99 latency (measured from each
request's *scheduled* send time, so queueing in the generator counts) leaves the SLO or the
endpoint stops keeping up, then bisecting between the highest rate that held and the lowest
that failed; the sustained figure is the highest rate that held. By default the endpoints'
ramps advance in lockstep (one level of each in turn, the first one rotating, the mock
restarted empty before every level), so a change in the shared machine's background load
falls on all of them alike; ``--order sequential`` runs one whole ramp after the other.

Per payment on each path it counts Redis commands (``INFO stats`` of a private Redis the bench
starts), Postgres transactions (``pg_stat_database`` of a private database the bench
creates; Postgres publishes a backend's counts up to seconds late, so with short interleaved
levels some land in a neighbour's window) and the round trips the servers' adapters made to
each (``GET /stats``, exact), next to the Redis operations and Postgres statements the core's
flow yields (the memory runtime counting effects). Component bounds in the same run: Redis
operations/s,
Postgres transactions/s doing a payment's writes, the mock's charges/s over raw HTTP, and
Stripe SDK calls/s from one process. Figures are printed and saved to ``bench.json`` and
``bench.md``; they are measurements of this machine, never asserted on.

Parts: ``options`` (the arguments), ``ramp`` (open-loop levels and the next rate), ``meters``
(counters and CPU per endpoint), ``components`` (the bounds), ``rig`` (the private database,
Redis, stack and bare servers), ``run`` (the steps), ``results`` (per payment, ``bench.json``);
``reports.bench`` renders ``bench.md``.
"""

from loadtests.bench.options import ENDPOINTS, add_arguments
from loadtests.bench.rig import BenchError
from loadtests.bench.run import BenchOutcome, run_bench

__all__ = ["ENDPOINTS", "BenchError", "BenchOutcome", "add_arguments", "run_bench"]
