"""Compare the alerts of vigil and Flink for one query of `scripts/bench-flink.sh`.

    python compare_alerts.py VIGIL_INCIDENTS FLINK_TSV

VIGIL_INCIDENTS holds vigil's incidents (ECS JSON lines); FLINK_TSV the rows of a
MATCH_RECOGNIZE query of `windows_logons.py` (key, first event time, last event time). An alert
is (group key, time of its first event, time of the event that completed it) on both sides.
Prints `same N` when the two sets are equal; otherwise the counts and up to 10 alerts of each
side missing on the other, and exits with 1.
"""

import json
import sys
from datetime import datetime


def iso_ms(text: str) -> str:
    """A Flink TIMESTAMP(3) as printed by Python (`2024-01-15 08:00:00.274000`) in vigil's form."""
    t = datetime.fromisoformat(text)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def vigil_alerts(path: str) -> list:
    alerts = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            incident = json.loads(line)
            key = "|".join(str(v) for v in incident["vigil"]["group"].values())
            evidence = incident["vigil"]["evidence"]
            alerts.append((key, evidence[0]["@timestamp"], incident["@timestamp"]))
    return alerts


def flink_alerts(path: str) -> list:
    alerts = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            key, first, last = line.rstrip("\n").split("\t")
            alerts.append((key, iso_ms(first), iso_ms(last)))
    return alerts


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    vigil, flink = vigil_alerts(sys.argv[1]), flink_alerts(sys.argv[2])
    only_vigil = sorted(set(vigil) - set(flink))
    only_flink = sorted(set(flink) - set(vigil))
    if not only_vigil and not only_flink and len(vigil) == len(flink):
        print(f"same {len(vigil)}")
        return 0
    print(f"DIFFERENT: vigil {len(vigil)} alerts, flink {len(flink)}")
    for name, missing in (("only vigil", only_vigil), ("only flink", only_flink)):
        for alert in missing[:10]:
            print(f"  {name}: {alert}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
