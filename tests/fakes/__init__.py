"""Local fakes served over real HTTP on loopback: the Slack Web API and APS."""
