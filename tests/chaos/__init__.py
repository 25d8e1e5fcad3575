"""The chaos suite (issue 9): the platform's processes killed and restarted under load."""
