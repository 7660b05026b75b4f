"""Reconciliation: the venue's open orders, fills and positions against the OMS; what differs
becomes a discrepancy that puts its scope in SAFE mode until the desk resolves it.

See docs/architecture.md, "Reconciliation".
"""
