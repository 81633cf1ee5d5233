"""Live calls: send a trace's prompts to real endpoints, grade the answers, record a trace.

Nothing here is imported by ``import simkit``, and importing these modules loads neither the
``openai`` client nor the stub's server stack: they are imported when a recording or a stub
starts. Install them with ``pip install 'simkit[live]'``.

==============================  ===========================================================
``simkit.live.endpoints``       the endpoints YAML: URLs, models, key *variable names*, prices
``simkit.live.record``          ``record()``: budget-capped, resumable streaming recorder
``simkit.live.budget``          the hard cap: worst-case reservations in integer nano-dollars
``simkit.live.graders``         exact letter, final number, MT-Bench-style LLM judge (1-10)
``simkit.live.answers``         answer keys (the shipped GSM8K gold answers, or your own)
``simkit.live.calibrate``       fit a fleet spec's latency distributions to a recording
``simkit.live.stub``            loopback OpenAI-compatible server (tests, dry runs, benchmarks)
``simkit.live.serving``         uvicorn in a background thread, the listening socket (the stub
                                and the gateway share them)
``simkit.live.text``            how prompts are sent, looked up and counted
==============================  ===========================================================

Command line: ``simkit live stub``, ``simkit live record``, ``simkit fleet calibrate``.
"""
