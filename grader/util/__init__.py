"""Small helpers every layer may use: safe text and file names, safe file listing."""
