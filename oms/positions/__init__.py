"""Positions: per (account, venue, symbol), from the applied executions and the open orders.

See docs/architecture.md, "Positions, open-order exposure and dirty gating".
"""
