"""Slack edge: the Bolt app factory, listeners by kind, Block Kit rendering."""
