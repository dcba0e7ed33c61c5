"""Flink SQL side of `scripts/bench-flink.sh`: the two correlations of
`scripts/flink/rules/` written as Flink SQL, run on Flink's local mini-cluster.

    python windows_logons.py QUERY EVENTS OUT

QUERY is `threshold` (network logon failures per source address in 5-minute tumbling windows,
TUMBLE), `sliding` (the same failures under vigil's sliding-window semantics, MATCH_RECOGNIZE) or
`sequence` (a logon failure followed by a logon success of the same account within
10 minutes, MATCH_RECOGNIZE). EVENTS is a file of Windows Security JSON lines (`vigil generate
--format windows`); every alert is written to OUT as one tab-separated line, and the count to
stdout. Parallelism 1, event time from `@timestamp` with the same 5 s of allowed lateness
that vigil's replay is given.
"""

import sys

from pyflink.table import EnvironmentSettings, TableEnvironment

SOURCE = """
CREATE TABLE logons (
    `@timestamp` STRING,
    `EventID` INT,
    `TargetUserName` STRING,
    `IpAddress` STRING,
    `Hostname` STRING,
    ts AS TO_TIMESTAMP(REPLACE(REPLACE(`@timestamp`, 'T', ' '), 'Z', ''), 'yyyy-MM-dd HH:mm:ss.SSS'),
    WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
    'connector' = 'filesystem',
    'path' = '{path}',
    'format' = 'json',
    'json.ignore-parse-errors' = 'true'
)
"""

# vigil's `event_count` with `gte: 5` over 5 minutes, in Flink's idiom: aligned windows.
THRESHOLD = """
SELECT IpAddress, window_start, window_end, COUNT(*) AS failures
FROM TABLE(TUMBLE(TABLE logons, DESCRIPTOR(ts), INTERVAL '5' MINUTES))
WHERE EventID = 4625 AND IpAddress NOT IN ('-', '127.0.0.1', '::1')
GROUP BY IpAddress, window_start, window_end
HAVING COUNT(*) >= 5
"""

# vigil's own semantics for the same rule (a sliding window since the key's last alert, see
# src/correlate/mod.rs), as a pattern: five failures of one address within 5 minutes (plus the
# millisecond that makes WITHIN inclusive), then a restart. Not timed: it checks that both
# engines find the same alerts, which the aligned windows above cannot.
SLIDING = """
SELECT address, first_at, last_at
FROM (SELECT * FROM logons WHERE EventID = 4625 AND IpAddress NOT IN ('-', '127.0.0.1', '::1'))
MATCH_RECOGNIZE (
    PARTITION BY IpAddress
    ORDER BY ts
    MEASURES IpAddress AS address, FIRST(F.ts) AS first_at, LAST(F.ts) AS last_at
    ONE ROW PER MATCH
    AFTER MATCH SKIP PAST LAST ROW
    PATTERN (F{5}) WITHIN INTERVAL '5:00.001' MINUTE TO SECOND
    DEFINE F AS TRUE
)
"""

# vigil's `temporal_ordered` over [failure, success] within 10 minutes. Only the two event ids
# enter the pattern, so strict contiguity (F S) is "the latest failure before this success",
# which is the chain vigil keeps; SKIP PAST LAST ROW is vigil's restart after an alert. Flink's
# WITHIN is exclusive and vigil's timespan inclusive, hence the extra millisecond.
SEQUENCE = """
SELECT user_name, failed_at, succeeded_at
FROM (SELECT * FROM logons WHERE EventID IN (4624, 4625) AND TargetUserName IS NOT NULL)
MATCH_RECOGNIZE (
    PARTITION BY TargetUserName
    ORDER BY ts
    MEASURES TargetUserName AS user_name, F.ts AS failed_at, S.ts AS succeeded_at
    ONE ROW PER MATCH
    AFTER MATCH SKIP PAST LAST ROW
    PATTERN (F S) WITHIN INTERVAL '10:00.001' MINUTE TO SECOND
    DEFINE F AS F.EventID = 4625, S AS S.EventID = 4624
)
"""

QUERIES = {"threshold": THRESHOLD, "sliding": SLIDING, "sequence": SEQUENCE}


def main() -> int:
    if len(sys.argv) != 4 or sys.argv[1] not in QUERIES:
        print(__doc__, file=sys.stderr)
        return 2
    query, events, out = sys.argv[1:]
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    env.get_config().set("parallelism.default", "1")
    env.get_config().set("pipeline.name", f"vigil-bench-{query}")
    env.execute_sql(SOURCE.format(path=events))
    result = env.execute_sql(QUERIES[query])
    count = 0
    with open(out, "w", encoding="utf-8") as sink, result.collect() as rows:
        for row in rows:
            sink.write("\t".join(str(v) for v in row) + "\n")
            count += 1
    print(count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
