"""Metering and settlement: signed meter readings, settlement of each interval
against them, and the KPIs of the microgrid (issue 4; DESIGN.md section 2)."""
