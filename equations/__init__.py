"""Pure mathematics: each module here defines and registers one equation. No Django."""
