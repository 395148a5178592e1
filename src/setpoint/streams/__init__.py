"""Wiring only: the Faust apps, the one topic table, thin agents, the codec, the broadcast reader,
the ledger sink.

Input: bytes on Kafka topics. Output: bytes on Kafka topics (and ledger rows, through the sink).
Invariants: every payload is validated by its topic's schema on the way in (a bad one is
dead-lettered with its reason, never dropped, never fatal); agents hold no decision logic - they
decode, call one function of their stage, send and record what it returns.
"""
