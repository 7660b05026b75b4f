"""Recording a venue session and replaying it deterministically (see docs/architecture.md,
*Session recording and deterministic replay*).

    with recording("session.jsonl"):          # or OMS_VENUE_RECORD_DIR for the embedded server
        ...                                    # orders, venue answers, stream steps
    replay_session("session.jsonl", events_out="replayed.jsonl")   # manage.py replay_session

`recorder` writes the tape, `replayer` plays it back through `ReplayAdapter`, `sessionfile` reads
and checks a file, `runner` drives a replay and renders the session's events canonically.
"""
