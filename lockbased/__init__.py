"""lockbased package."""
