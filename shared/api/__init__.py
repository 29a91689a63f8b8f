"""What both FastAPI apps share: service errors and their HTTP mapping, auth helpers."""
