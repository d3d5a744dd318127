"""Alert rules, alerts with their lifecycle, and the audit trail of every change."""
