"""Live calls: send a trace's prompts to real endpoints, grade the answers, record a trace.

Nothing here is imported by ``import simkit``; the ``openai`` client is imported only when a
recording starts. The parts:

==============================  ===========================================================
``simkit.live.stub``            loopback OpenAI-compatible server (tests, dry runs, benchmarks)
``simkit.live.answers``         answer keys (shipped GSM8K gold answers, or your own)
``simkit.live.text``            the messages <-> text convention used to send and count prompts
==============================  ===========================================================
"""
