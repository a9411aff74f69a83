"""aps-bot: diagnoses Autodesk Platform Services access errors in Slack."""
