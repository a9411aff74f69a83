"""Pure live-check core: walks the provisioning chain over an APS client interface. No Slack, no HTTP."""
