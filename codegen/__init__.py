"""Lower cells to a small IR, CSE and print them, and render the templates into generated/."""
