"""The exchange: signed, exactly-once messaging between independent province nodes.

``directory`` (the signed trust list of nodes and keys), ``keys`` (the key provider), ``domain`` (envelopes,
receipts, the type registry), ``tables``/``store``/``service`` (outbox, inbox, receipts, rejections),
``transport`` (embedded, JetStream, fault injection), ``jobs`` (relay and worker loops).
"""
