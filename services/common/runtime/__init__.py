"""The consumer runtime: poll → handle → produce → flush → commit, with retry, DLQ and pause.

``ports`` defines what the loop needs from a broker; ``kafka`` implements it on kafka-python and
``memory`` in process for unit tests. The same contract tests run against both.
"""
