"""Pure checklist state machine: tick, untick, assign, complete. No Slack, no storage."""
