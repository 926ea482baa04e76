"""Business rules; views call these, these call the models."""
